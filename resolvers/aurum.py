"""Aurum Life mutations: thin wrappers that parse IDs, run one service call in one unit of
work, and map the result (or its typed errors) to the payload."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from core.context import Actor
from core.errors import ClientError
from core.relay import InvalidGlobalId, parse_global_id
from loaders import Loaders
from models.aurum import Priority as PriorityValue
from models.aurum import ProjectStatus as ProjectStatusValue
from models.aurum import ResourceKind as ResourceKindValue
from models.aurum import TaskStatus as TaskStatusValue
from resolvers.live import require_actor, viewer_events
from resolvers.support import input_id, input_ids, optional_input_id, output_id
from schema import kit
from schema.aurum.inputs import (
    AreaPayload,
    CompleteTaskInput,
    CreateAreaInput,
    CreateJournalEntryInput,
    CreateJournalTemplateInput,
    CreatePillarInput,
    CreateProjectInput,
    CreateResourceInput,
    CreateTaskInput,
    DeleteInput,
    JournalEntryPayload,
    JournalTemplatePayload,
    PillarPayload,
    ProjectPayload,
    ReorderAreasInput,
    ReorderAreasPayload,
    ReorderPillarsInput,
    ReorderPillarsPayload,
    ReorderProjectsInput,
    ReorderProjectsPayload,
    ReorderTasksInput,
    ReorderTasksPayload,
    ResourcePayload,
    TaskPayload,
    UpdateAreaInput,
    UpdateJournalEntryInput,
    UpdateJournalTemplateInput,
    UpdatePillarInput,
    UpdateProjectInput,
    UpdateResourceInput,
    UpdateTaskInput,
)
from schema.aurum.live import AurumHierarchyChange, AurumHierarchyEvent, AurumHierarchyType
from schema.aurum.types import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from schema.common import Ctx, DeletePayload, InputArg, MutationError, changes_of, mutation_errors, raw
from schema.live import LiveUpdatesStatus, NodeChangeKind
from services import aurum

Work = Callable[[AsyncSession, Actor], Awaitable[Any]]


async def _run(info: Ctx, work: Work) -> tuple[Any, list[MutationError]]:
    outcome = await info.context.actor_unit_of_work(work)
    return outcome.value, mutation_errors(outcome.errors)


async def _delete(
    info: Ctx, input: DeleteInput, node_type: type, delete: Callable[..., Awaitable[uuid.UUID]], key: str
) -> DeletePayload:
    async def work(session: AsyncSession, actor: Actor) -> uuid.UUID:
        return await delete(session, actor=actor, **{key: input_id(input.id, node_type, "id")})

    deleted, errors = await _run(info, work)
    return DeletePayload(deleted_id=strawberry.ID(output_id(node_type, deleted)) if deleted else None, errors=errors)


# ------------------------------------------------------------------------------ pillars


async def create_pillar(info: Ctx, input: Annotated[CreatePillarInput, InputArg]) -> PillarPayload:
    async def work(session: AsyncSession, actor: Actor) -> Pillar:
        row = await aurum.create_pillar(
            session, actor=actor, name=input.name, description=input.description, color=input.color, icon=input.icon
        )
        return Pillar.from_row(row)

    pillar, errors = await _run(info, work)
    return PillarPayload(pillar=pillar, errors=errors)


async def update_pillar(info: Ctx, input: Annotated[UpdatePillarInput, InputArg]) -> PillarPayload:
    async def work(session: AsyncSession, actor: Actor) -> Pillar:
        pk = input_id(input.id, Pillar, "id")
        return Pillar.from_row(await aurum.update_pillar(session, actor=actor, pillar_id=pk, changes=changes_of(input)))

    pillar, errors = await _run(info, work)
    return PillarPayload(pillar=pillar, errors=errors)


async def delete_pillar(info: Ctx, input: Annotated[DeleteInput, InputArg]) -> DeletePayload:
    return await _delete(info, input, Pillar, aurum.delete_pillar, "pillar_id")


async def reorder_pillars(info: Ctx, input: Annotated[ReorderPillarsInput, InputArg]) -> ReorderPillarsPayload:
    async def work(session: AsyncSession, actor: Actor) -> list[Pillar]:
        ids = input_ids(input.ids, Pillar, "ids")
        return [Pillar.from_row(r) for r in await aurum.reorder_pillars(session, actor=actor, ordered_ids=ids)]

    pillars, errors = await _run(info, work)
    return ReorderPillarsPayload(pillars=pillars or [], errors=errors)


# -------------------------------------------------------------------------------- areas


async def create_area(info: Ctx, input: Annotated[CreateAreaInput, InputArg]) -> AreaPayload:
    async def work(session: AsyncSession, actor: Actor) -> Area:
        row = await aurum.create_area(
            session,
            actor=actor,
            pillar_id=input_id(input.pillar_id, Pillar, "pillarId"),
            name=input.name,
            description=input.description,
            importance=input.importance,
        )
        return Area.from_row(row)

    area, errors = await _run(info, work)
    return AreaPayload(area=area, errors=errors)


async def update_area(info: Ctx, input: Annotated[UpdateAreaInput, InputArg]) -> AreaPayload:
    async def work(session: AsyncSession, actor: Actor) -> Area:
        changes = changes_of(input)
        if "pillar_id" in changes:
            changes["pillar_id"] = optional_input_id(changes["pillar_id"], Pillar, "pillarId")
        pk = input_id(input.id, Area, "id")
        return Area.from_row(await aurum.update_area(session, actor=actor, area_id=pk, changes=changes))

    area, errors = await _run(info, work)
    return AreaPayload(area=area, errors=errors)


async def delete_area(info: Ctx, input: Annotated[DeleteInput, InputArg]) -> DeletePayload:
    return await _delete(info, input, Area, aurum.delete_area, "area_id")


async def reorder_areas(info: Ctx, input: Annotated[ReorderAreasInput, InputArg]) -> ReorderAreasPayload:
    async def work(session: AsyncSession, actor: Actor) -> list[Area]:
        pillar_id = input_id(input.pillar_id, Pillar, "pillarId")
        ids = input_ids(input.ids, Area, "ids")
        rows = await aurum.reorder_areas(session, actor=actor, pillar_id=pillar_id, ordered_ids=ids)
        return [Area.from_row(r) for r in rows]

    areas, errors = await _run(info, work)
    return ReorderAreasPayload(areas=areas or [], errors=errors)


# ----------------------------------------------------------------------------- projects


async def create_project(info: Ctx, input: Annotated[CreateProjectInput, InputArg]) -> ProjectPayload:
    async def work(session: AsyncSession, actor: Actor) -> Project:
        row = await aurum.create_project(
            session,
            actor=actor,
            area_id=input_id(input.area_id, Area, "areaId"),
            name=input.name,
            description=input.description,
            status=ProjectStatusValue(raw(input.status)),
            priority=PriorityValue(raw(input.priority)),
            due_at=input.due_at,
        )
        return Project.from_row(row)

    project, errors = await _run(info, work)
    return ProjectPayload(project=project, errors=errors)


async def update_project(info: Ctx, input: Annotated[UpdateProjectInput, InputArg]) -> ProjectPayload:
    async def work(session: AsyncSession, actor: Actor) -> Project:
        changes = changes_of(input)
        if "area_id" in changes:
            changes["area_id"] = optional_input_id(changes["area_id"], Area, "areaId")
        pk = input_id(input.id, Project, "id")
        return Project.from_row(await aurum.update_project(session, actor=actor, project_id=pk, changes=changes))

    project, errors = await _run(info, work)
    return ProjectPayload(project=project, errors=errors)


async def delete_project(info: Ctx, input: Annotated[DeleteInput, InputArg]) -> DeletePayload:
    return await _delete(info, input, Project, aurum.delete_project, "project_id")


async def reorder_projects(info: Ctx, input: Annotated[ReorderProjectsInput, InputArg]) -> ReorderProjectsPayload:
    async def work(session: AsyncSession, actor: Actor) -> list[Project]:
        area_id = input_id(input.area_id, Area, "areaId")
        ids = input_ids(input.ids, Project, "ids")
        rows = await aurum.reorder_projects(session, actor=actor, area_id=area_id, ordered_ids=ids)
        return [Project.from_row(r) for r in rows]

    projects, errors = await _run(info, work)
    return ReorderProjectsPayload(projects=projects or [], errors=errors)


# -------------------------------------------------------------------------------- tasks


async def create_task(info: Ctx, input: Annotated[CreateTaskInput, InputArg]) -> TaskPayload:
    async def work(session: AsyncSession, actor: Actor) -> Task:
        row = await aurum.create_task(
            session,
            actor=actor,
            project_id=input_id(input.project_id, Project, "projectId"),
            title=input.title,
            description=input.description,
            status=TaskStatusValue(raw(input.status)),
            priority=PriorityValue(raw(input.priority)),
            due_at=input.due_at,
        )
        return Task.from_row(row)

    task, errors = await _run(info, work)
    return TaskPayload(task=task, errors=errors)


async def update_task(info: Ctx, input: Annotated[UpdateTaskInput, InputArg]) -> TaskPayload:
    async def work(session: AsyncSession, actor: Actor) -> Task:
        changes = changes_of(input)
        if "project_id" in changes:
            changes["project_id"] = optional_input_id(changes["project_id"], Project, "projectId")
        pk = input_id(input.id, Task, "id")
        return Task.from_row(await aurum.update_task(session, actor=actor, task_id=pk, changes=changes))

    task, errors = await _run(info, work)
    return TaskPayload(task=task, errors=errors)


async def complete_task(info: Ctx, input: Annotated[CompleteTaskInput, InputArg]) -> TaskPayload:
    async def work(session: AsyncSession, actor: Actor) -> Task:
        pk = input_id(input.id, Task, "id")
        row = await aurum.update_task(session, actor=actor, task_id=pk, changes={"status": TaskStatusValue.DONE})
        return Task.from_row(row)

    task, errors = await _run(info, work)
    return TaskPayload(task=task, errors=errors)


async def delete_task(info: Ctx, input: Annotated[DeleteInput, InputArg]) -> DeletePayload:
    return await _delete(info, input, Task, aurum.delete_task, "task_id")


async def reorder_tasks(info: Ctx, input: Annotated[ReorderTasksInput, InputArg]) -> ReorderTasksPayload:
    async def work(session: AsyncSession, actor: Actor) -> list[Task]:
        project_id = input_id(input.project_id, Project, "projectId")
        ids = input_ids(input.ids, Task, "ids")
        rows = await aurum.reorder_tasks(session, actor=actor, project_id=project_id, ordered_ids=ids)
        return [Task.from_row(r) for r in rows]

    tasks, errors = await _run(info, work)
    return ReorderTasksPayload(tasks=tasks or [], errors=errors)


# ------------------------------------------------------------------------------ journal


async def create_journal_entry(info: Ctx, input: Annotated[CreateJournalEntryInput, InputArg]) -> JournalEntryPayload:
    async def work(session: AsyncSession, actor: Actor) -> JournalEntry:
        row = await aurum.create_journal_entry(
            session,
            actor=actor,
            title=input.title,
            body=input.body,
            mood=input.mood,
            tags=input.tags,
            template_id=optional_input_id(input.template_id, JournalTemplate, "templateId"),
        )
        return JournalEntry.from_row(row)

    entry, errors = await _run(info, work)
    return JournalEntryPayload(journal_entry=entry, errors=errors)


async def update_journal_entry(info: Ctx, input: Annotated[UpdateJournalEntryInput, InputArg]) -> JournalEntryPayload:
    async def work(session: AsyncSession, actor: Actor) -> JournalEntry:
        pk = input_id(input.id, JournalEntry, "id")
        row = await aurum.update_journal_entry(session, actor=actor, entry_id=pk, changes=changes_of(input))
        return JournalEntry.from_row(row)

    entry, errors = await _run(info, work)
    return JournalEntryPayload(journal_entry=entry, errors=errors)


async def delete_journal_entry(info: Ctx, input: Annotated[DeleteInput, InputArg]) -> DeletePayload:
    return await _delete(info, input, JournalEntry, aurum.delete_journal_entry, "entry_id")


async def create_journal_template(
    info: Ctx, input: Annotated[CreateJournalTemplateInput, InputArg]
) -> JournalTemplatePayload:
    async def work(session: AsyncSession, actor: Actor) -> JournalTemplate:
        row = await aurum.create_journal_template(
            session, actor=actor, name=input.name, description=input.description, prompts=input.prompts
        )
        return JournalTemplate.from_row(row)

    template, errors = await _run(info, work)
    return JournalTemplatePayload(journal_template=template, errors=errors)


async def update_journal_template(
    info: Ctx, input: Annotated[UpdateJournalTemplateInput, InputArg]
) -> JournalTemplatePayload:
    async def work(session: AsyncSession, actor: Actor) -> JournalTemplate:
        pk = input_id(input.id, JournalTemplate, "id")
        row = await aurum.update_journal_template(session, actor=actor, template_id=pk, changes=changes_of(input))
        return JournalTemplate.from_row(row)

    template, errors = await _run(info, work)
    return JournalTemplatePayload(journal_template=template, errors=errors)


async def delete_journal_template(info: Ctx, input: Annotated[DeleteInput, InputArg]) -> DeletePayload:
    return await _delete(info, input, JournalTemplate, aurum.delete_journal_template, "template_id")


# ---------------------------------------------------------------------------- resources


async def create_resource(info: Ctx, input: Annotated[CreateResourceInput, InputArg]) -> ResourcePayload:
    async def work(session: AsyncSession, actor: Actor) -> Resource:
        fields = aurum.ResourceFields(
            kind=ResourceKindValue(raw(input.kind)),
            title=input.title,
            url=input.url,
            file_name=input.file_name,
            content_type=input.content_type,
            size_bytes=input.size_bytes,
            project_id=optional_input_id(input.project_id, Project, "projectId"),
            task_id=optional_input_id(input.task_id, Task, "taskId"),
        )
        return Resource.from_row(await aurum.create_resource(session, actor=actor, fields=fields))

    resource, errors = await _run(info, work)
    return ResourcePayload(resource=resource, errors=errors)


async def update_resource(info: Ctx, input: Annotated[UpdateResourceInput, InputArg]) -> ResourcePayload:
    async def work(session: AsyncSession, actor: Actor) -> Resource:
        pk = input_id(input.id, Resource, "id")
        return Resource.from_row(
            await aurum.update_resource(session, actor=actor, resource_id=pk, changes=changes_of(input))
        )

    resource, errors = await _run(info, work)
    return ResourcePayload(resource=resource, errors=errors)


async def delete_resource(info: Ctx, input: Annotated[DeleteInput, InputArg]) -> DeletePayload:
    return await _delete(info, input, Resource, aurum.delete_resource, "resource_id")


@strawberry.type(description="Aurum Life mutations.")
class AurumMutation:
    create_pillar: PillarPayload = strawberry.mutation(resolver=create_pillar, description="Create a pillar.")
    update_pillar: PillarPayload = strawberry.mutation(resolver=update_pillar, description="Change a pillar.")
    delete_pillar: DeletePayload = strawberry.mutation(
        resolver=delete_pillar, description="Delete a pillar with its areas, projects and tasks."
    )
    reorder_pillars: ReorderPillarsPayload = strawberry.mutation(
        resolver=reorder_pillars, description="Put the viewer's pillars in a new order."
    )
    create_area: AreaPayload = strawberry.mutation(resolver=create_area, description="Create an area in a pillar.")
    update_area: AreaPayload = strawberry.mutation(
        resolver=update_area, description="Change an area or move it to another pillar."
    )
    delete_area: DeletePayload = strawberry.mutation(
        resolver=delete_area, description="Delete an area with its projects and tasks."
    )
    reorder_areas: ReorderAreasPayload = strawberry.mutation(
        resolver=reorder_areas, description="Put a pillar's areas in a new order."
    )
    create_project: ProjectPayload = strawberry.mutation(
        resolver=create_project, description="Create a project in an area."
    )
    update_project: ProjectPayload = strawberry.mutation(
        resolver=update_project, description="Change a project or move it to another area."
    )
    delete_project: DeletePayload = strawberry.mutation(
        resolver=delete_project, description="Delete a project with its tasks."
    )
    reorder_projects: ReorderProjectsPayload = strawberry.mutation(
        resolver=reorder_projects, description="Put an area's projects in a new order."
    )
    create_task: TaskPayload = strawberry.mutation(resolver=create_task, description="Create a task in a project.")
    update_task: TaskPayload = strawberry.mutation(
        resolver=update_task, description="Change a task (status, priority, due time…) or move it."
    )
    complete_task: TaskPayload = strawberry.mutation(resolver=complete_task, description="Mark a task done.")
    delete_task: DeletePayload = strawberry.mutation(resolver=delete_task, description="Delete a task.")
    reorder_tasks: ReorderTasksPayload = strawberry.mutation(
        resolver=reorder_tasks, description="Put a project's tasks in a new order."
    )
    create_journal_entry: JournalEntryPayload = strawberry.mutation(
        resolver=create_journal_entry, description="Write a journal entry."
    )
    update_journal_entry: JournalEntryPayload = strawberry.mutation(
        resolver=update_journal_entry, description="Change a journal entry."
    )
    delete_journal_entry: DeletePayload = strawberry.mutation(
        resolver=delete_journal_entry, description="Delete a journal entry."
    )
    create_journal_template: JournalTemplatePayload = strawberry.mutation(
        resolver=create_journal_template, description="Create a journal template."
    )
    update_journal_template: JournalTemplatePayload = strawberry.mutation(
        resolver=update_journal_template, description="Change a journal template."
    )
    delete_journal_template: DeletePayload = strawberry.mutation(
        resolver=delete_journal_template, description="Delete a journal template; its entries stay."
    )
    create_resource: ResourcePayload = strawberry.mutation(
        resolver=create_resource, description="Add a link or an attachment record."
    )
    update_resource: ResourcePayload = strawberry.mutation(resolver=update_resource, description="Change a resource.")
    delete_resource: DeletePayload = strawberry.mutation(resolver=delete_resource, description="Delete a resource.")


# ------------------------------------------------------------------------- subscriptions


@dataclass(frozen=True)
class _Level:
    node_type: type[Pillar] | type[Area] | type[Project] | type[Task]
    parent: str | None  # the level above, by its name in events (services.aurum.HIERARCHY_PARENT)
    parent_column: str | None

    def loader(self, loaders: Loaders) -> DataLoader[uuid.UUID, Any]:
        return kit.rows_of(loaders, self.node_type)

    def to_node(self, row: Any) -> Any:
        return self.node_type.from_row(row)


_LEVELS: dict[str, _Level] = {
    "Pillar": _Level(Pillar, None, None),
    "Area": _Level(Area, "Pillar", "pillar_id"),
    "Project": _Level(Project, "Area", "area_id"),
    "Task": _Level(Task, "Project", "project_id"),
}


async def _ancestors(loaders: Loaders, node_type: str, parent_ids: list[uuid.UUID]) -> list[tuple[uuid.UUID, Any]]:
    """Each parent and the chain above it, read for the viewer; what is gone (or not theirs) stops a chain."""
    seen: set[uuid.UUID] = set()
    chain: list[tuple[uuid.UUID, Any]] = []
    for parent_id in parent_ids:
        level_name, pk = _LEVELS[node_type].parent, parent_id
        while level_name is not None and pk not in seen:
            level = _LEVELS[level_name]
            row = await level.loader(loaders).load(pk)
            if row is None:
                break
            seen.add(pk)
            chain.append((pk, level.to_node(row)))
            level_name = level.parent
            pk = getattr(row, level.parent_column) if level.parent_column else parent_id
    return chain


async def _read_change(loaders: Loaders, event: dict[str, Any]) -> tuple[AurumHierarchyChange, set[uuid.UUID]] | None:
    """The change as the viewer may see it (None when the node is gone or not theirs), with the
    ids of the node and its ancestors for filtering."""
    node_type = event["type"]
    level = _LEVELS[node_type]
    pk = uuid.UUID(event["id"])
    change = NodeChangeKind(event["change"])
    node = None
    if change is not NodeChangeKind.DELETED:
        row = await level.loader(loaders).load(pk)
        if row is None:
            return None
        node = level.to_node(row)
    ancestors = await _ancestors(loaders, node_type, [uuid.UUID(p) for p in event["parents"]])
    result = AurumHierarchyChange(
        change=change,
        node_type=AurumHierarchyType(node_type),
        node_id=strawberry.ID(output_id(level.node_type, pk)),
        node=node,
        ancestors=[n for _, n in ancestors],
        occurred_at=datetime.fromisoformat(event["at"]),
    )
    return result, {pk, *(ancestor_pk for ancestor_pk, _ in ancestors)}


async def _scope(info: Ctx, **ids: tuple[str | None, str]) -> set[uuid.UUID]:
    """The filter ids, parsed and checked: another user's ID answers like one that doesn't exist."""
    require_actor(info)
    scope: set[uuid.UUID] = set()
    for argument, (value, type_name) in ids.items():
        if value is None:
            continue
        level = _LEVELS[type_name]
        try:
            pk = parse_global_id(value, kit.spec_of(level.node_type).key or "")
        except InvalidGlobalId as exc:
            raise ClientError(f"`{argument}` is not the ID of a {type_name}", "INVALID_ID", argument=argument) from exc
        if await level.loader(info.context.loaders).load(pk) is None:
            raise ClientError(f"No {type_name.lower()} with this `{argument}`", "NOT_FOUND", argument=argument)
        scope.add(pk)
    return scope


async def aurum_hierarchy_changes(
    info: Ctx,
    pillar_id: str | None,
    area_id: str | None,
    project_id: str | None,
    types: list[AurumHierarchyType] | None,
) -> AsyncGenerator[AurumHierarchyEvent, None]:
    scope = await _scope(
        info, pillarId=(pillar_id, "Pillar"), areaId=(area_id, "Area"), projectId=(project_id, "Project")
    )
    levels = set(types or AurumHierarchyType)
    async for item in viewer_events(info, aurum.HIERARCHY_TOPIC):
        if isinstance(item, LiveUpdatesStatus):
            yield item
            continue
        read = await _read_change(info.context.loaders, item)
        if read is None:
            continue
        change, related = read
        if change.node_type in levels and scope <= related:
            yield change


@strawberry.type(description="Aurum Life live updates.")
class AurumSubscription:
    @strawberry.subscription(
        description="Changes to the viewer's pillars, areas, projects and tasks as they are committed, with the "
        "new state and the progress of the nodes above; the first message is a STARTED status. Filters only "
        "narrow the viewer's own changes."
    )
    async def aurum_hierarchy_changes(
        self,
        info: Ctx,
        pillar_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only changes in this pillar (or to it).")
        ] = None,
        area_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only changes in this area (or to it).")
        ] = None,
        project_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only changes in this project (or to it).")
        ] = None,
        types: Annotated[
            list[AurumHierarchyType] | None, strawberry.argument(description="Only changes to nodes of these levels.")
        ] = None,
    ) -> AsyncGenerator[AurumHierarchyEvent, None]:
        async for item in aurum_hierarchy_changes(info, pillar_id, area_id, project_id, types):
            yield item
