"""Aurum Life object types: pillars → areas → projects → tasks, journal, resources."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry

from core.relay import to_global_id
from loaders.base import PageKey
from models.aurum import TaskStatus as TaskStatusValue
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
from schema.aurum.filters import PROJECT_FILTER, TASK_FILTER, ProjectFilterInput, TaskFilterInput
from schema.common import (
    After,
    Before,
    BigInt,
    Connection,
    Ctx,
    First,
    Last,
    Node,
    by_value,
    connection,
    read_page_args,
)
from services.aurum import Progress as ProgressValue

OrderArg = strawberry.argument(description="Order of the items.")
FilterArg = strawberry.argument(description="Only items that match every given condition.")


_PROJECT_STATUS, _TASK_STATUS, _PRIORITY = by_value(ProjectStatus), by_value(TaskStatus), by_value(Priority)


@strawberry.type(description="Task completion beneath a pillar, area or project (cancelled tasks excluded).")
class Progress:
    total_tasks: int = strawberry.field(description="Tasks that count (all but cancelled).")
    completed_tasks: int = strawberry.field(description="Tasks done.")
    percent: float = strawberry.field(description="completedTasks / totalTasks * 100, one decimal; 0 when empty.")

    @classmethod
    def of(cls, value: ProgressValue) -> Progress:
        return cls(total_tasks=value.total_tasks, completed_tasks=value.completed_tasks, percent=value.percent)


@strawberry.type(description="A life pillar (e.g. Health, Career): the top of the hierarchy.")
class Pillar(Node):
    pk: strawberry.Private[uuid.UUID]
    name: str = strawberry.field(description="Name of the pillar.")
    description: str | None = strawberry.field(description="What this pillar means to the user.")
    color: str | None = strawberry.field(description="Display color, e.g. `#F4B400`.")
    icon: str | None = strawberry.field(description="Display icon name or emoji.")
    position: int = strawberry.field(description="Place among the user's pillars, from 0.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_row(cls, row: Any) -> Pillar:
        return cls(
            id=strawberry.ID(to_global_id("Pillar", row.id)),
            pk=row.id,
            name=row.name,
            description=row.description,
            color=row.color,
            icon=row.icon,
            position=row.position,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="Areas of this pillar.")
    async def areas(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        order_by: Annotated[AreaOrderBy, OrderArg] = AreaOrderBy.POSITION_ASC,
    ) -> Connection[Area]:
        args = read_page_args(info, first, after, last, before)
        page = await info.context.loaders.aurum.areas_by_pillar.load(PageKey(self.pk, args, order_by.value))
        return connection(page, Area.from_row)

    @strawberry.field(description="Completion of all tasks beneath this pillar.")
    async def progress(self, info: Ctx) -> Progress:
        return Progress.of(await info.context.loaders.aurum.progress_by_pillar.load(self.pk))


@strawberry.type(description="An area of responsibility within a pillar (e.g. Fitness within Health).")
class Area(Node):
    pk: strawberry.Private[uuid.UUID]
    pillar_pk: strawberry.Private[uuid.UUID]
    name: str = strawberry.field(description="Name of the area.")
    description: str | None = strawberry.field(description="What the area covers.")
    importance: int = strawberry.field(description="1 (low) to 5 (critical); used by insights.")
    position: int = strawberry.field(description="Place within its pillar, from 0.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_row(cls, row: Any) -> Area:
        return cls(
            id=strawberry.ID(to_global_id("Area", row.id)),
            pk=row.id,
            pillar_pk=row.pillar_id,
            name=row.name,
            description=row.description,
            importance=row.importance,
            position=row.position,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The pillar this area belongs to.")
    async def pillar(self, info: Ctx) -> Pillar:
        return Pillar.from_row(await info.context.loaders.aurum.pillar_by_id.load(self.pillar_pk))

    @strawberry.field(description="Projects in this area.")
    async def projects(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[ProjectFilterInput | None, FilterArg] = None,
        order_by: Annotated[ProjectOrderBy, OrderArg] = ProjectOrderBy.POSITION_ASC,
    ) -> Connection[Project]:
        args = read_page_args(info, first, after, last, before)
        key = PageKey(self.pk, args, order_by.value, PROJECT_FILTER.values(filter))
        return connection(await info.context.loaders.aurum.projects_by_area.load(key), Project.from_row)

    @strawberry.field(description="Completion of all tasks in this area's projects.")
    async def progress(self, info: Ctx) -> Progress:
        return Progress.of(await info.context.loaders.aurum.progress_by_area.load(self.pk))


@strawberry.type(description="A project within an area: a finite outcome made of tasks.")
class Project(Node):
    pk: strawberry.Private[uuid.UUID]
    area_pk: strawberry.Private[uuid.UUID]
    name: str = strawberry.field(description="Name of the project.")
    description: str | None = strawberry.field(description="What done looks like.")
    status: ProjectStatus = strawberry.field(description="Where the project stands.")
    priority: Priority = strawberry.field(description="How urgent it is.")
    due_at: datetime | None = strawberry.field(description="Deadline, if any.")
    position: int = strawberry.field(description="Place within its area, from 0.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_row(cls, row: Any) -> Project:
        return cls(
            id=strawberry.ID(to_global_id("Project", row.id)),
            pk=row.id,
            area_pk=row.area_id,
            name=row.name,
            description=row.description,
            status=_PROJECT_STATUS(row.status),
            priority=_PRIORITY(row.priority),
            due_at=row.due_at,
            position=row.position,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The area this project belongs to.")
    async def area(self, info: Ctx) -> Area:
        return Area.from_row(await info.context.loaders.aurum.area_by_id.load(self.area_pk))

    @strawberry.field(description="Tasks of this project.")
    async def tasks(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[TaskFilterInput | None, FilterArg] = None,
        order_by: Annotated[TaskOrderBy, OrderArg] = TaskOrderBy.POSITION_ASC,
    ) -> Connection[Task]:
        args = read_page_args(info, first, after, last, before)
        key = PageKey(self.pk, args, order_by.value, TASK_FILTER.values(filter))
        return connection(await info.context.loaders.aurum.tasks_by_project.load(key), Task.from_row)

    @strawberry.field(description="Completion of this project's tasks.")
    async def progress(self, info: Ctx) -> Progress:
        return Progress.of(await info.context.loaders.aurum.progress_by_project.load(self.pk))

    @strawberry.field(description="Links and attachments of this project.")
    async def resources(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        order_by: Annotated[ResourceOrderBy, OrderArg] = ResourceOrderBy.CREATED_AT_ASC,
    ) -> Connection[Resource]:
        args = read_page_args(info, first, after, last, before)
        page = await info.context.loaders.aurum.resources_by_project.load(PageKey(self.pk, args, order_by.value))
        return connection(page, Resource.from_row)


_OPEN = {TaskStatusValue.TODO.value, TaskStatusValue.IN_PROGRESS.value}


@strawberry.type(description="A task: the unit of work, within a project.")
class Task(Node):
    pk: strawberry.Private[uuid.UUID]
    project_pk: strawberry.Private[uuid.UUID]
    title: str = strawberry.field(description="What to do.")
    description: str | None = strawberry.field(description="Details.")
    status: TaskStatus = strawberry.field(description="Where the task stands.")
    priority: Priority = strawberry.field(description="How urgent it is.")
    due_at: datetime | None = strawberry.field(description="Deadline, if any.")
    completed_at: datetime | None = strawberry.field(description="When it was marked done.")
    position: int = strawberry.field(description="Place within its project, from 0.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_row(cls, row: Any) -> Task:
        return cls(
            id=strawberry.ID(to_global_id("Task", row.id)),
            pk=row.id,
            project_pk=row.project_id,
            title=row.title,
            description=row.description,
            status=_TASK_STATUS(row.status),
            priority=_PRIORITY(row.priority),
            due_at=row.due_at,
            completed_at=row.completed_at,
            position=row.position,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="Past its due time and still open (to do or in progress).")
    def is_overdue(self) -> bool:
        return self.due_at is not None and self.status.value in _OPEN and self.due_at < datetime.now(UTC)

    @strawberry.field(description="The project this task belongs to.")
    async def project(self, info: Ctx) -> Project:
        return Project.from_row(await info.context.loaders.aurum.project_by_id.load(self.project_pk))

    @strawberry.field(description="Links and attachments of this task.")
    async def resources(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        order_by: Annotated[ResourceOrderBy, OrderArg] = ResourceOrderBy.CREATED_AT_ASC,
    ) -> Connection[Resource]:
        args = read_page_args(info, first, after, last, before)
        page = await info.context.loaders.aurum.resources_by_task.load(PageKey(self.pk, args, order_by.value))
        return connection(page, Resource.from_row)


@strawberry.type(description="A reusable set of journaling prompts.")
class JournalTemplate(Node):
    pk: strawberry.Private[uuid.UUID]
    name: str = strawberry.field(description="Name of the template.")
    description: str | None = strawberry.field(description="When to use it.")
    prompts: list[str] = strawberry.field(description="Questions to answer, in order.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_row(cls, row: Any) -> JournalTemplate:
        return cls(
            id=strawberry.ID(to_global_id("JournalTemplate", row.id)),
            pk=row.id,
            name=row.name,
            description=row.description,
            prompts=list(row.prompts),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="A journal entry.")
class JournalEntry(Node):
    pk: strawberry.Private[uuid.UUID]
    template_pk: strawberry.Private[uuid.UUID | None]
    title: str = strawberry.field(description="Headline of the entry.")
    body: str = strawberry.field(description="The text.")
    mood: int | None = strawberry.field(description="Mood from 1 (low) to 10 (high).")
    tags: list[str] = strawberry.field(description="Lower-case tags.")
    created_at: datetime = strawberry.field(description="When it was written.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_row(cls, row: Any) -> JournalEntry:
        return cls(
            id=strawberry.ID(to_global_id("JournalEntry", row.id)),
            pk=row.id,
            template_pk=row.template_id,
            title=row.title,
            body=row.body,
            mood=row.mood,
            tags=list(row.tags),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The template it was written from, if it still exists.")
    async def template(self, info: Ctx) -> JournalTemplate | None:
        if self.template_pk is None:
            return None
        row = await info.context.loaders.aurum.journal_template_by_id.load(self.template_pk)
        return JournalTemplate.from_row(row) if row is not None else None


@strawberry.type(description="A link or an attachment's metadata, optionally on a project or task.")
class Resource(Node):
    pk: strawberry.Private[uuid.UUID]
    project_pk: strawberry.Private[uuid.UUID | None]
    task_pk: strawberry.Private[uuid.UUID | None]
    kind: ResourceKind = strawberry.field(description="Link or attachment.")
    title: str = strawberry.field(description="Display title.")
    url: str | None = strawberry.field(description="Web address of the link or of the stored file.")
    file_name: str | None = strawberry.field(description="Attachment's file name.")
    content_type: str | None = strawberry.field(description="Attachment's media type.")
    size_bytes: BigInt | None = strawberry.field(description="Attachment's size in bytes.")
    created_at: datetime = strawberry.field(description="When it was added.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_row(cls, row: Any) -> Resource:
        return cls(
            id=strawberry.ID(to_global_id("Resource", row.id)),
            pk=row.id,
            project_pk=row.project_id,
            task_pk=row.task_id,
            kind=ResourceKind(row.kind),
            title=row.title,
            url=row.url,
            file_name=row.file_name,
            content_type=row.content_type,
            size_bytes=row.size_bytes,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The project it is attached to, if any.")
    async def project(self, info: Ctx) -> Project | None:
        if self.project_pk is None:
            return None
        return Project.from_row(await info.context.loaders.aurum.project_by_id.load(self.project_pk))

    @strawberry.field(description="The task it is attached to, if any.")
    async def task(self, info: Ctx) -> Task | None:
        if self.task_pk is None:
            return None
        return Task.from_row(await info.context.loaders.aurum.task_by_id.load(self.task_pk))
