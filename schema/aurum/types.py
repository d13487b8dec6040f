"""Aurum Life object types: pillars → areas → projects → tasks, journal, resources.

Each field is declared once (schema/kit.py): its resolver, its row mapping, its loader and its
SQL form all derive from the declaration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import strawberry

from core.access import readable
from core.fastpath import SelectionPlan
from core.sqljson import Computed, Row, SqlCompiler, one_decimal
from models import aurum as m
from schema import kit
from schema.aurum.enums import (
    AreaOrderBy,
    Priority,
    ProjectOrderBy,
    ProjectStatus,
    ResourceKind,
    ResourceOrderBy,
    TaskOrderBy,
    TaskStatus,
)
from schema.aurum.filters import PROJECT_FILTER, TASK_FILTER
from schema.common import BigInt, Connection, Ctx, Node
from services import aurum
from services.aurum import IS_OVERDUE
from services.aurum import Progress as ProgressValue


@strawberry.type(description="Task completion beneath a pillar, area or project (cancelled tasks excluded).")
class Progress:
    total_tasks: int = strawberry.field(description="Tasks that count (all but cancelled).")
    completed_tasks: int = strawberry.field(description="Tasks done.")
    percent: float = strawberry.field(description="completedTasks / totalTasks * 100, one decimal; 0 when empty.")

    @classmethod
    def of(cls, value: ProgressValue) -> Progress:
        return cls(total_tasks=value.total_tasks, completed_tasks=value.completed_tasks, percent=value.percent)


def _progress_sql(level: str) -> Computed:
    """`progress { totalTasks completedTasks percent }` of the row's node in SQL, counted as
    `services.aurum.progress_shape` counts it for the resolvers."""

    def build(row: Row, compiler: SqlCompiler, selection: SelectionPlan) -> sa.ColumnElement[Any]:
        source, key, tasks, total, completed = aurum.progress_source(level, aliased=True)
        # One row of counts whatever the selection (`{ __typename }` alone included).
        counts = (
            sa.select(total.label("total"), completed.label("completed"))
            .select_from(source)
            .where(key == row.c.id, readable(tasks, table=m.Task))
            .correlate(row)
            .lateral()
        )
        total_, completed_ = counts.c.total, counts.c.completed
        values = {"totalTasks": total_, "completedTasks": completed_, "percent": one_decimal(completed_, total_)}
        return sa.select(compiler.leaves(selection, values)).select_from(counts).scalar_subquery()

    return Computed(build)


def _progress(level: str, description: str) -> Any:
    async def progress(self: Any, info: Ctx) -> Progress:
        loader = getattr(info.context.loaders.aurum, f"progress_by_{level}")
        return Progress.of(await loader.load(self.pk))

    return kit.computed(progress, _progress_sql(level), description=description)


@kit.node(model=m.Pillar, key="Pillar", description="A life pillar (e.g. Health, Career): the top of the hierarchy.")
class Pillar(Node, kit.FromRow):
    name: str = kit.column(description="Name of the pillar.")
    description: str | None = kit.column(description="What this pillar means to the user.")
    color: str | None = kit.column(description="Display color, e.g. `#F4B400`.")
    icon: str | None = kit.column(description="Display icon name or emoji.")
    position: int = kit.column(description="Place among the user's pillars, from 0.")
    created_at: datetime = kit.column(description="When it was created.")
    updated_at: datetime = kit.column(description="When it last changed.")
    areas: Connection[Area] = kit.children(
        "pillar_id", order=AreaOrderBy.POSITION_ASC, via_parent=True, description="Areas of this pillar."
    )
    progress: Progress = _progress("pillar", "Completion of all tasks beneath this pillar.")


@kit.node(
    model=m.Area, key="Area", description="An area of responsibility within a pillar (e.g. Fitness within Health)."
)
class Area(Node, kit.FromRow):
    name: str = kit.column(description="Name of the area.")
    description: str | None = kit.column(description="What the area covers.")
    importance: int = kit.column(description="1 (low) to 5 (critical); used by insights.")
    position: int = kit.column(description="Place within its pillar, from 0.")
    created_at: datetime = kit.column(description="When it was created.")
    updated_at: datetime = kit.column(description="When it last changed.")
    pillar: Pillar = kit.parent("pillar_id", description="The pillar this area belongs to.")
    projects: Connection[Project] = kit.children(
        "area_id",
        order=ProjectOrderBy.POSITION_ASC,
        filter=PROJECT_FILTER,
        via_parent=True,
        description="Projects in this area.",
    )
    progress: Progress = _progress("area", "Completion of all tasks in this area's projects.")


@kit.node(model=m.Project, key="Project", description="A project within an area: a finite outcome made of tasks.")
class Project(Node, kit.FromRow):
    name: str = kit.column(description="Name of the project.")
    description: str | None = kit.column(description="What done looks like.")
    status: ProjectStatus = kit.column(description="Where the project stands.")
    priority: Priority = kit.column(description="How urgent it is.")
    due_at: datetime | None = kit.column(description="Deadline, if any.")
    position: int = kit.column(description="Place within its area, from 0.")
    created_at: datetime = kit.column(description="When it was created.")
    updated_at: datetime = kit.column(description="When it last changed.")
    area: Area = kit.parent("area_id", description="The area this project belongs to.")
    tasks: Connection[Task] = kit.children(
        "project_id",
        order=TaskOrderBy.POSITION_ASC,
        filter=TASK_FILTER,
        via_parent=True,
        description="Tasks of this project.",
    )
    progress: Progress = _progress("project", "Completion of this project's tasks.")
    resources: Connection[Resource] = kit.children(
        "project_id", order=ResourceOrderBy.CREATED_AT_ASC, description="Links and attachments of this project."
    )


@kit.node(model=m.Task, key="Task", description="A task: the unit of work, within a project.")
class Task(Node, kit.FromRow):
    title: str = kit.column(description="What to do.")
    description: str | None = kit.column(description="Details.")
    status: TaskStatus = kit.column(description="Where the task stands.")
    priority: Priority = kit.column(description="How urgent it is.")
    due_at: datetime | None = kit.column(description="Deadline, if any.")
    completed_at: datetime | None = kit.column(description="When it was marked done.")
    position: int = kit.column(description="Place within its project, from 0.")
    created_at: datetime = kit.column(description="When it was created.")
    updated_at: datetime = kit.column(description="When it last changed.")
    is_overdue: bool = kit.expression(
        IS_OVERDUE, description="Past its due time and still open (to do or in progress)."
    )
    project: Project = kit.parent("project_id", description="The project this task belongs to.")
    resources: Connection[Resource] = kit.children(
        "task_id", order=ResourceOrderBy.CREATED_AT_ASC, description="Links and attachments of this task."
    )


@kit.node(model=m.JournalTemplate, key="JournalTemplate", description="A reusable set of journaling prompts.")
class JournalTemplate(Node, kit.FromRow):
    name: str = kit.column(description="Name of the template.")
    description: str | None = kit.column(description="When to use it.")
    prompts: list[str] = kit.column(description="Questions to answer, in order.")
    created_at: datetime = kit.column(description="When it was created.")
    updated_at: datetime = kit.column(description="When it last changed.")


@kit.node(model=m.JournalEntry, key="JournalEntry", description="A journal entry.")
class JournalEntry(Node, kit.FromRow):
    title: str = kit.column(description="Headline of the entry.")
    body: str = kit.column(description="The text.")
    mood: int | None = kit.column(description="Mood from 1 (low) to 10 (high).")
    tags: list[str] = kit.column(description="Lower-case tags.")
    created_at: datetime = kit.column(description="When it was written.")
    updated_at: datetime = kit.column(description="When it last changed.")
    template: JournalTemplate | None = kit.parent(
        "template_id", description="The template it was written from, if it still exists."
    )


@kit.node(
    model=m.Resource, key="Resource", description="A link or an attachment's metadata, optionally on a project or task."
)
class Resource(Node, kit.FromRow):
    kind: ResourceKind = kit.column(description="Link or attachment.")
    title: str = kit.column(description="Display title.")
    url: str | None = kit.column(description="Web address of the link or of the stored file.")
    file_name: str | None = kit.column(description="Attachment's file name.")
    content_type: str | None = kit.column(description="Attachment's media type.")
    size_bytes: BigInt | None = kit.column(description="Attachment's size in bytes.")
    created_at: datetime = kit.column(description="When it was added.")
    updated_at: datetime = kit.column(description="When it last changed.")
    project: Project | None = kit.parent("project_id", description="The project it is attached to, if any.")
    task: Task | None = kit.parent("task_id", description="The task it is attached to, if any.")
