"""The SQL form of Aurum Life's types, for queries compiled to one statement (core/sqljson.py).

Each entry says how a GraphQL field is read in SQL, mirroring its resolver in types.py and
viewer.py: the same columns, global ids and enum names, the loaders' sorts and the services'
filter conditions and progress counts. A field missing here keeps the query on the resolvers.
Each type's table is the one its `*_by_id` loader reads (`services.aurum.owned_shape`: the
viewer's rows), for `node` and `nodes`.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from models.aurum import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from schema.aurum.enums import Priority, ProjectStatus, ResourceKind, TaskStatus
from schema.aurum.filters import project_filter, task_filter
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


def _task_conditions(arguments: Mapping[str, Any]) -> list[sa.ColumnElement[bool]]:
    flt = task_filter(arguments.get("filter"))
    return aurum.task_conditions(flt) if flt is not None else []


def _project_conditions(arguments: Mapping[str, Any]) -> list[sa.ColumnElement[bool]]:
    flt = project_filter(arguments.get("filter"))
    return aurum.project_conditions(flt) if flt is not None else []


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


def _times() -> dict[str, Leaf]:
    return {"createdAt": _time("created_at"), "updatedAt": _time("updated_at")}


def _common(type_name: str) -> dict[str, Leaf]:
    return {
        "id": _id(type_name),
        "position": _column("position"),
        **_times(),
        "description": _column("description"),
    }


PILLARS = Children(table(Pillar), "user_id", _children_of_viewer, aurum.PILLAR_SORTS)
VIEWER_PROJECTS = Children(table(Project), "user_id", _children_of_viewer, aurum.PROJECT_SORTS, _project_conditions)
VIEWER_TASKS = Children(table(Task), "user_id", _children_of_viewer, aurum.TASK_SORTS, _task_conditions)

SQL_TYPES: dict[str, SqlType] = {
    "Pillar": SqlType(
        {
            **_common("Pillar"),
            "name": _column("name"),
            "color": _column("color"),
            "icon": _column("icon"),
            "progress": _progress("pillar"),
            "areas": Children(table(Area), "pillar_id", _children_of_row, aurum.AREA_SORTS, owner_via_parent=True),
        },
        table=table(Pillar),
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
                _project_conditions,
                owner_via_parent=True,
            ),
        },
        table=table(Area),
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
                _task_conditions,
                owner_via_parent=True,
            ),
        },
        table=table(Project),
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
        },
        table=table(Task),
    ),
    "JournalTemplate": SqlType(
        {
            "id": _id("JournalTemplate"),
            "name": _column("name"),
            "description": _column("description"),
            "prompts": _column("prompts"),  # text[]: Postgres writes a JSON array of strings
            **_times(),
        },
        table=table(JournalTemplate),
    ),
    "JournalEntry": SqlType(
        {
            "id": _id("JournalEntry"),
            "title": _column("title"),
            "body": _column("body"),
            "mood": _column("mood"),
            "tags": _column("tags"),
            **_times(),
            # No composite key (it could not SET NULL): a template that is not the viewer's is null.
            "template": Parent(table(JournalTemplate), "template_id", nullable=True),
        },
        table=table(JournalEntry),
    ),
    "Resource": SqlType(
        {
            "id": _id("Resource"),
            "kind": _enum("kind", ResourceKind),
            "title": _column("title"),
            "url": _column("url"),
            "fileName": _column("file_name"),
            "contentType": _column("content_type"),
            "sizeBytes": _column("size_bytes"),  # bigint: a JSON number, as BigInt serializes it
            **_times(),
            "project": Parent(table(Project), "project_id", nullable=True),
            "task": Parent(table(Task), "task_id", nullable=True),
        },
        table=table(Resource),
    ),
}

#: The viewer's Aurum Life lists (schema/aurum/viewer.py), for the `Viewer` type.
VIEWER_FIELDS: dict[str, Children] = {
    "pillars": PILLARS,
    "areas": Children(table(Area), "user_id", _children_of_viewer, aurum.AREA_SORTS),
    "projects": VIEWER_PROJECTS,
    "tasks": VIEWER_TASKS,
}
