"""The SQL form of Aurum Life's types, for queries compiled to one statement (core/sqljson.py).

Each entry says how a GraphQL field is read in SQL, mirroring its resolver in types.py and
viewer.py: the same columns, global ids and enum names, the loaders' sorts and filters and the
services' progress counts. A field missing here keeps the query on the resolvers.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core.fastpath import SelectionPlan
from core.reads import viewer_param
from core.sqljson import (
    Children,
    Computed,
    Leaf,
    Parent,
    Row,
    SqlCompiler,
    SqlType,
    enum_name,
    global_id,
    iso_datetime,
    one_decimal,
)
from models.aurum import Area, Pillar, Project, Task
from schema.aurum.enums import Priority, ProjectStatus, TaskStatus
from schema.aurum.filters import PROJECT_FILTER, TASK_FILTER
from services import aurum
from services.aurum import OPEN_TASK_STATUSES, table


def _column(name: str) -> Leaf:
    return Leaf(lambda row: row.c[name])


def _time(name: str) -> Leaf:
    return Leaf(lambda row: iso_datetime(row.c[name]))


def _id(type_name: str) -> Leaf:
    return Leaf(lambda row: global_id(type_name, row.c.id))


def _enum(name: str, enum: Any) -> Leaf:
    return Leaf(lambda row: enum_name(row.c[name], enum))


def _progress(level: str) -> Computed:
    """`progress { totalTasks completedTasks percent }` of the row's node, counted as
    `services.aurum.progress_shape` counts it."""

    def build(row: Row, compiler: SqlCompiler, selection: SelectionPlan) -> sa.ColumnElement[Any]:
        source, key, tasks, total, completed = aurum.progress_source(level, aliased=True)
        # One row of counts whatever the selection (`{ __typename }` alone included).
        counts = (
            sa.select(total.label("total"), completed.label("completed"))
            .select_from(source)
            .where(key == row.c.id, tasks.c.user_id == viewer_param())
            .correlate(row)
            .lateral()
        )
        total_, completed_ = counts.c.total, counts.c.completed
        values = {"totalTasks": total_, "completedTasks": completed_, "percent": one_decimal(completed_, total_)}
        return sa.select(compiler.leaves(selection, values)).select_from(counts).scalar_subquery()

    return Computed(build)


def _children_of_row(row: Row) -> sa.ColumnElement[Any]:
    return row.c.id


def _children_of_viewer(row: Row) -> sa.ColumnElement[Any]:
    return viewer_param()


def _is_overdue(row: Row) -> sa.ColumnElement[Any]:
    # Task.is_overdue: due, still open, and past due now.
    return sa.and_(
        row.c.due_at.isnot(None),
        row.c.status.in_(OPEN_TASK_STATUSES),
        row.c.due_at < sa.func.statement_timestamp(),
    )


def _common(type_name: str) -> dict[str, Leaf]:
    return {
        "id": _id(type_name),
        "position": _column("position"),
        "createdAt": _time("created_at"),
        "updatedAt": _time("updated_at"),
        "description": _column("description"),
    }


PILLARS = Children(table(Pillar), "user_id", _children_of_viewer, aurum.PILLAR_SORTS)
VIEWER_PROJECTS = Children(table(Project), "user_id", _children_of_viewer, aurum.PROJECT_SORTS, PROJECT_FILTER)
VIEWER_TASKS = Children(table(Task), "user_id", _children_of_viewer, aurum.TASK_SORTS, TASK_FILTER)

SQL_TYPES: dict[str, SqlType] = {
    "Pillar": SqlType(
        {
            **_common("Pillar"),
            "name": _column("name"),
            "color": _column("color"),
            "icon": _column("icon"),
            "progress": _progress("pillar"),
            "areas": Children(table(Area), "pillar_id", _children_of_row, aurum.AREA_SORTS, owner_via_parent=True),
        }
    ),
    "Area": SqlType(
        {
            **_common("Area"),
            "name": _column("name"),
            "importance": _column("importance"),
            "progress": _progress("area"),
            "pillar": Parent(table(Pillar), "pillar_id"),
            "projects": Children(
                table(Project),
                "area_id",
                _children_of_row,
                aurum.PROJECT_SORTS,
                PROJECT_FILTER,
                owner_via_parent=True,
            ),
        }
    ),
    "Project": SqlType(
        {
            **_common("Project"),
            "name": _column("name"),
            "status": _enum("status", ProjectStatus),
            "priority": _enum("priority", Priority),
            "dueAt": _time("due_at"),
            "progress": _progress("project"),
            "area": Parent(table(Area), "area_id"),
            "tasks": Children(
                table(Task),
                "project_id",
                _children_of_row,
                aurum.TASK_SORTS,
                TASK_FILTER,
                owner_via_parent=True,
            ),
        }
    ),
    "Task": SqlType(
        {
            **_common("Task"),
            "title": _column("title"),
            "status": _enum("status", TaskStatus),
            "priority": _enum("priority", Priority),
            "dueAt": _time("due_at"),
            "completedAt": _time("completed_at"),
            "isOverdue": Leaf(_is_overdue),
            "project": Parent(table(Project), "project_id"),
        }
    ),
}

#: The viewer's Aurum Life lists (schema/aurum/viewer.py), for the `Viewer` type.
VIEWER_FIELDS: dict[str, Children] = {
    "pillars": PILLARS,
    "areas": Children(table(Area), "user_id", _children_of_viewer, aurum.AREA_SORTS),
    "projects": VIEWER_PROJECTS,
    "tasks": VIEWER_TASKS,
}
