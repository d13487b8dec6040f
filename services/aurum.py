"""Aurum Life: the pillar → area → project → task hierarchy, journal and resources.

Every read starts from `owned_shape(model)` (the loaders run it with the viewer's id), and every
write looks its target up with `get_owned`, which applies the same `user_id` condition: scoping to
the caller lives here and only here. Another user's object is indistinguishable from a missing
one (NotFound), never Forbidden.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from core.context import Actor
from core.errors import NotFound, ValidationFailed
from core.events import publish_after_commit, user_channel
from core.pagination import NULL_DATE_LAST, Sort
from core.reads import VIEWER, Owned, Shape, viewer_param
from core.sqljson import Derived
from models.aurum import (
    Area,
    JournalEntry,
    JournalTemplate,
    Pillar,
    Priority,
    Project,
    ProjectStatus,
    Resource,
    ResourceKind,
    Task,
    TaskStatus,
)

M = TypeVar("M", bound=SQLModel)

OPEN_TASK_STATUSES = (TaskStatus.TODO.value, TaskStatus.IN_PROGRESS.value)


def _overdue_now(task: Any) -> bool:
    due_at = task.due_at
    return due_at is not None and task.status in OPEN_TASK_STATUSES and due_at < datetime.now(UTC)


def _overdue_sql(task: Any) -> sa.ColumnElement[bool]:
    return sa.and_(
        task.c.due_at.isnot(None),
        task.c.status.in_(OPEN_TASK_STATUSES),
        task.c.due_at < sa.func.statement_timestamp(),
    )


#: A task is overdue when it is due, still open, and past due now (on the resolver path "now" is
#: the moment the row is mapped, in SQL the statement's start).
IS_OVERDUE = Derived(python=_overdue_now, sql=_overdue_sql)


def table(model: type[SQLModel]) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined]


def owned_shape(model: type[SQLModel]) -> Shape:
    """Every column of `model`'s rows that belong to the viewer (the read policy `Owned`, as the
    kit's loaders read them): the viewer is the `viewer_id` parameter of each run (`viewer_params`)."""
    return Owned().shape(table(model))


def viewer_params(actor: Actor) -> dict[str, Any]:
    return {VIEWER: actor.user_id}


def _utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------- orderings


def _sorts(
    model: type[SQLModel], *, due: bool, priority: bool, title_column: str, position: bool = True
) -> dict[str, Sort]:
    t = table(model)
    sorts: dict[str, Sort] = {}
    for descending in (False, True):
        suffix = "_DESC" if descending else "_ASC"
        if position:
            sorts["POSITION" + suffix] = Sort("position" + suffix, t.c.position, int, descending)
        sorts["CREATED_AT" + suffix] = Sort("created" + suffix, t.c.created_at, datetime, descending)
        sorts["UPDATED_AT" + suffix] = Sort("updated" + suffix, t.c.updated_at, datetime, descending)
        label = title_column.upper()
        sorts[label + suffix] = Sort(title_column + suffix, sa.func.lower(t.c[title_column]), str, descending)
        if due:
            # Undated rows sort after every dated one (before them, descending).
            due_expr = sa.func.coalesce(t.c.due_at, sa.literal(NULL_DATE_LAST))
            sorts["DUE_AT" + suffix] = Sort("due" + suffix, due_expr, datetime, descending)
        if priority:
            sorts["PRIORITY" + suffix] = Sort("priority" + suffix, t.c.priority, int, descending)
    return sorts


PILLAR_SORTS = _sorts(Pillar, due=False, priority=False, title_column="name")
AREA_SORTS = _sorts(Area, due=False, priority=False, title_column="name")
PROJECT_SORTS = _sorts(Project, due=True, priority=True, title_column="name")
TASK_SORTS = _sorts(Task, due=True, priority=True, title_column="title")
JOURNAL_SORTS = _sorts(JournalEntry, due=False, priority=False, position=False, title_column="title")
TEMPLATE_SORTS = _sorts(JournalTemplate, due=False, priority=False, position=False, title_column="name")
RESOURCE_SORTS = _sorts(Resource, due=False, priority=False, position=False, title_column="title")


# ----------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class TaskFilter:
    """Hashable, so that loaders batch requests that share it."""

    statuses: tuple[str, ...] = ()
    priorities: tuple[int, ...] = ()
    due_after: datetime | None = None
    due_before: datetime | None = None
    overdue: bool | None = None
    search: str | None = None


@dataclass(frozen=True)
class ProjectFilter:
    statuses: tuple[str, ...] = ()
    due_after: datetime | None = None
    due_before: datetime | None = None


def task_conditions(flt: TaskFilter, *, now: datetime | None = None) -> list[sa.ColumnElement[bool]]:
    t = table(Task)
    conditions: list[sa.ColumnElement[bool]] = []
    if flt.statuses:
        conditions.append(t.c.status.in_(flt.statuses))
    if flt.priorities:
        conditions.append(t.c.priority.in_(flt.priorities))
    if flt.due_after is not None:
        conditions.append(t.c.due_at >= flt.due_after)
    if flt.due_before is not None:
        conditions.append(t.c.due_at < flt.due_before)
    if flt.overdue is not None:
        # Without a given time, "now" is taken when the statement runs (it may be kept and reused).
        moment: Any = now or sa.bindparam(
            "overdue_now", callable_=_utcnow, type_=sa.DateTime(timezone=True), unique=True
        )
        is_overdue = sa.and_(t.c.due_at < moment, t.c.status.in_(OPEN_TASK_STATUSES))
        conditions.append(is_overdue if flt.overdue else sa.not_(sa.func.coalesce(is_overdue, False)))
    if flt.search:
        pattern = "%" + flt.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(t.c.title.ilike(pattern, escape="\\"))
    return conditions


def project_conditions(flt: ProjectFilter) -> list[sa.ColumnElement[bool]]:
    t = table(Project)
    conditions: list[sa.ColumnElement[bool]] = []
    if flt.statuses:
        conditions.append(t.c.status.in_(flt.statuses))
    if flt.due_after is not None:
        conditions.append(t.c.due_at >= flt.due_after)
    if flt.due_before is not None:
        conditions.append(t.c.due_at < flt.due_before)
    return conditions


# ------------------------------------------------------------------------ progress rollups


@dataclass(frozen=True)
class Progress:
    """Task completion beneath a node; cancelled tasks count for neither side."""

    total_tasks: int = 0
    completed_tasks: int = 0

    @property
    def percent(self) -> float:
        """100 * completed / total, rounded half to even to one decimal, computed exactly in
        integers (the compiled SQL path, `core.sqljson.one_decimal`, computes the same)."""
        if self.total_tasks == 0:
            return 0.0
        tenths, remainder = divmod(1000 * self.completed_tasks, self.total_tasks)
        if remainder * 2 > self.total_tasks or (remainder * 2 == self.total_tasks and tenths % 2 == 1):
            tenths += 1
        return tenths / 10


@functools.cache
def progress_shape(level: str) -> Shape:
    """One grouped statement for the progress of many projects, areas or pillars (`ids`) of
    the viewer (`viewer_id`)."""
    source, key, tasks, total, completed = progress_source(level)
    return Shape(
        sa.select(key.label("key"), total.label("total"), completed.label("completed"))
        .select_from(source)
        .where(
            tasks.c.user_id == viewer_param(),
            key == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.Uuid()))),
        )
        .group_by(key)
    )


def progress_source(
    level: str, *, aliased: bool = False
) -> tuple[Any, sa.ColumnElement[Any], Any, sa.ColumnElement[int], sa.ColumnElement[int]]:
    """What progress at `level` counts: (FROM clause, the node's key column, the tasks table,
    total and completed counts). `aliased` gives fresh aliases, for use inside another query."""
    tasks: Any
    projects: Any
    areas: Any
    tasks, projects, areas = table(Task), table(Project), table(Area)
    if aliased:
        tasks, projects, areas = tasks.alias(), projects.alias(), areas.alias()
    total = sa.func.count().filter(tasks.c.status != TaskStatus.CANCELLED.value)
    completed = sa.func.count().filter(tasks.c.status == TaskStatus.DONE.value)
    source: Any = tasks
    if level == "project":
        key = tasks.c.project_id
    elif level == "area":
        source = tasks.join(projects, projects.c.id == tasks.c.project_id)
        key = projects.c.area_id
    elif level == "pillar":
        source = tasks.join(projects, projects.c.id == tasks.c.project_id).join(areas, areas.c.id == projects.c.area_id)
        key = areas.c.pillar_id
    else:
        raise ValueError(f"no progress for {level!r}")
    return source, key, tasks, total, completed


# --------------------------------------------------------------------------- live events

HIERARCHY_TOPIC = "aurum.hierarchy"

#: The hierarchy's levels (by model name, which is also the GraphQL type name) and the column
#: that points at each one's parent.
HIERARCHY_PARENT: dict[str, str | None] = {
    "Pillar": None,
    "Area": "pillar_id",
    "Project": "area_id",
    "Task": "project_id",
}


def publish_hierarchy_change(
    session: AsyncSession,
    actor: Actor,
    obj: SQLModel,
    change: str,
    *,
    previous_parent: uuid.UUID | None = None,
) -> None:
    """After commit, tell the owner's subscriptions that a pillar, area, project or task changed.

    The event carries ids only: the node, its parent (whose chain up to the pillar is what the
    change moves the progress of) and, after a move, the parent it left.
    """
    node_type = type(obj).__name__
    if node_type not in HIERARCHY_PARENT:
        return
    parent_column = HIERARCHY_PARENT[node_type]
    parents = [getattr(obj, parent_column), previous_parent] if parent_column else []
    publish_after_commit(
        session,
        user_channel(actor.user_id),
        {
            "topic": HIERARCHY_TOPIC,
            "user": str(actor.user_id),
            "type": node_type,
            "id": str(obj.id),  # type: ignore[attr-defined]
            "change": change,
            "parents": [str(p) for p in dict.fromkeys(parents) if p is not None],
            "at": _now().isoformat(),
        },
    )


# ------------------------------------------------------------------------ write helpers


def as_utc(value: datetime | None) -> datetime | None:
    """Times without an offset are taken as UTC (and documented so in the schema)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _stored(value: Any) -> Any:
    """The stored value of an enum member (model or GraphQL enum alike)."""
    return getattr(value, "value", value)


def _now() -> datetime:
    return datetime.now(UTC)


def clean_text(value: str | None, *, field: str, max_length: int, required: bool) -> str | None:
    if value is None:
        if required:
            raise ValidationFailed(f"{field} is required", field=["input", field])
        return None
    value = value.strip()
    if required and not value:
        raise ValidationFailed(f"{field} must not be blank", field=["input", field])
    if len(value) > max_length:
        raise ValidationFailed(f"{field} must be at most {max_length} characters", field=["input", field])
    return value or None


def text_changes(changes: dict[str, Any], limits: dict[str, tuple[int, bool]]) -> dict[str, Any]:
    """Validated values of the text fields an update carries: field → (max length, required)."""
    return {
        name: clean_text(changes[name], field=name, max_length=max_length, required=required)
        for name, (max_length, required) in limits.items()
        if name in changes
    }


def kept_values(changes: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Stored values of enum fields that can be changed but never cleared."""
    values = {}
    for name in names:
        if name in changes:
            if changes[name] is None:
                raise ValidationFailed(f"{name} can't be cleared", field=["input", name])
            values[name] = _stored(changes[name])
    return values


def required_text(value: str | None, *, field: str, max_length: int) -> str:
    cleaned = clean_text(value, field=field, max_length=max_length, required=True)
    assert cleaned is not None  # clean_text raised otherwise
    return cleaned


async def get_owned(
    session: AsyncSession, model: type[M], actor: Actor, pk: uuid.UUID, *, field: str = "id", lock: bool = False
) -> M:
    statement = sa.select(model).where(
        model.id == pk,  # type: ignore[attr-defined]
        model.user_id == actor.user_id,  # type: ignore[attr-defined]
    )
    if lock:
        statement = statement.with_for_update()
    found = (await session.execute(statement)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"No {model.__name__.lower()} with this id", field=["input", field])
    return found


async def _next_position(session: AsyncSession, model: type[SQLModel], parent: str, parent_id: uuid.UUID) -> int:
    t = table(model)
    statement = sa.select(sa.func.coalesce(sa.func.max(t.c.position) + 1, 0)).where(t.c[parent] == parent_id)
    return int((await session.execute(statement)).scalar_one())


def _apply(obj: SQLModel, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(obj, name, value)
    obj.updated_at = _now()


async def _reorder(
    session: AsyncSession,
    model: type[M],
    actor: Actor,
    *,
    parent: str,
    parent_id: uuid.UUID,
    ordered_ids: Sequence[uuid.UUID],
) -> list[M]:
    """Give the parent's children the positions of `ordered_ids`, which must list them all."""
    t = table(model)
    current = (
        (
            await session.execute(
                sa.select(model).where(t.c[parent] == parent_id, t.c.user_id == actor.user_id).with_for_update()
            )
        )
        .scalars()
        .all()
    )
    by_id = {row.id: row for row in current}  # type: ignore[attr-defined]
    if len(set(ordered_ids)) != len(ordered_ids):
        raise ValidationFailed("An id appears more than once", field=["input", "ids"])
    if set(ordered_ids) != set(by_id):
        raise ValidationFailed(
            "List every one of the parent's children exactly once, in the new order",
            field=["input", "ids"],
        )
    now = _now()
    for position, pk in enumerate(ordered_ids):
        row = by_id[pk]
        if row.position != position:  # type: ignore[attr-defined]
            row.position = position
            row.updated_at = now
            publish_hierarchy_change(session, actor, row, "UPDATED")
    await session.flush()
    return [by_id[pk] for pk in ordered_ids]


async def _delete(session: AsyncSession, model: type[SQLModel], actor: Actor, pk: uuid.UUID) -> uuid.UUID:
    obj = await get_owned(session, model, actor, pk)
    await session.delete(obj)
    await session.flush()
    publish_hierarchy_change(session, actor, obj, "DELETED")
    return pk


# ------------------------------------------------------------------------------ pillars


async def create_pillar(
    session: AsyncSession, *, actor: Actor, name: str, description: str | None, color: str | None, icon: str | None
) -> Pillar:
    pillar = Pillar(
        user_id=actor.user_id,
        name=required_text(name, field="name", max_length=120),
        description=clean_text(description, field="description", max_length=4000, required=False),
        color=clean_text(color, field="color", max_length=16, required=False),
        icon=clean_text(icon, field="icon", max_length=64, required=False),
        position=await _next_position(session, Pillar, "user_id", actor.user_id),
    )
    session.add(pillar)
    await session.flush()
    publish_hierarchy_change(session, actor, pillar, "CREATED")
    return pillar


async def update_pillar(
    session: AsyncSession, *, actor: Actor, pillar_id: uuid.UUID, changes: dict[str, Any]
) -> Pillar:
    pillar = await get_owned(session, Pillar, actor, pillar_id)
    values = text_changes(
        changes, {"name": (120, True), "description": (4000, False), "color": (16, False), "icon": (64, False)}
    )
    _apply(pillar, values)
    await session.flush()
    publish_hierarchy_change(session, actor, pillar, "UPDATED")
    return pillar


async def delete_pillar(session: AsyncSession, *, actor: Actor, pillar_id: uuid.UUID) -> uuid.UUID:
    """Deletes the pillar with its areas, projects and tasks."""
    return await _delete(session, Pillar, actor, pillar_id)


async def reorder_pillars(session: AsyncSession, *, actor: Actor, ordered_ids: Sequence[uuid.UUID]) -> list[Pillar]:
    return await _reorder(session, Pillar, actor, parent="user_id", parent_id=actor.user_id, ordered_ids=ordered_ids)


# -------------------------------------------------------------------------------- areas


def _importance(value: int) -> int:
    if not 1 <= value <= 5:
        raise ValidationFailed("importance must be between 1 and 5", field=["input", "importance"])
    return value


async def create_area(
    session: AsyncSession,
    *,
    actor: Actor,
    pillar_id: uuid.UUID,
    name: str,
    description: str | None,
    importance: int,
) -> Area:
    await get_owned(session, Pillar, actor, pillar_id, field="pillarId")
    area = Area(
        user_id=actor.user_id,
        pillar_id=pillar_id,
        name=required_text(name, field="name", max_length=120),
        description=clean_text(description, field="description", max_length=4000, required=False),
        importance=_importance(importance),
        position=await _next_position(session, Area, "pillar_id", pillar_id),
    )
    session.add(area)
    await session.flush()
    publish_hierarchy_change(session, actor, area, "CREATED")
    return area


async def update_area(session: AsyncSession, *, actor: Actor, area_id: uuid.UUID, changes: dict[str, Any]) -> Area:
    area = await get_owned(session, Area, actor, area_id)
    previous_pillar = area.pillar_id
    values = text_changes(changes, {"name": (120, True), "description": (4000, False)})
    if "importance" in changes:
        if changes["importance"] is None:
            raise ValidationFailed("importance can't be cleared", field=["input", "importance"])
        values["importance"] = _importance(changes["importance"])
    if "pillar_id" in changes and changes["pillar_id"] is None:
        raise ValidationFailed("pillarId can't be null: pass the new parent's ID", field=["input", "pillarId"])
    if changes.get("pillar_id") is not None and changes["pillar_id"] != area.pillar_id:
        await get_owned(session, Pillar, actor, changes["pillar_id"], field="pillarId")
        values["pillar_id"] = changes["pillar_id"]
        values["position"] = await _next_position(session, Area, "pillar_id", changes["pillar_id"])
    _apply(area, values)
    await session.flush()
    publish_hierarchy_change(session, actor, area, "UPDATED", previous_parent=previous_pillar)
    return area


async def delete_area(session: AsyncSession, *, actor: Actor, area_id: uuid.UUID) -> uuid.UUID:
    return await _delete(session, Area, actor, area_id)


async def reorder_areas(
    session: AsyncSession, *, actor: Actor, pillar_id: uuid.UUID, ordered_ids: Sequence[uuid.UUID]
) -> list[Area]:
    await get_owned(session, Pillar, actor, pillar_id, field="pillarId")
    return await _reorder(session, Area, actor, parent="pillar_id", parent_id=pillar_id, ordered_ids=ordered_ids)


# ----------------------------------------------------------------------------- projects


async def create_project(
    session: AsyncSession,
    *,
    actor: Actor,
    area_id: uuid.UUID,
    name: str,
    description: str | None,
    status: ProjectStatus,
    priority: Priority,
    due_at: datetime | None,
) -> Project:
    await get_owned(session, Area, actor, area_id, field="areaId")
    project = Project(
        user_id=actor.user_id,
        area_id=area_id,
        name=required_text(name, field="name", max_length=200),
        description=clean_text(description, field="description", max_length=8000, required=False),
        status=status.value,
        priority=int(priority),
        due_at=as_utc(due_at),
        position=await _next_position(session, Project, "area_id", area_id),
    )
    session.add(project)
    await session.flush()
    publish_hierarchy_change(session, actor, project, "CREATED")
    return project


async def update_project(
    session: AsyncSession, *, actor: Actor, project_id: uuid.UUID, changes: dict[str, Any]
) -> Project:
    project = await get_owned(session, Project, actor, project_id)
    previous_area = project.area_id
    values = text_changes(changes, {"name": (200, True), "description": (8000, False)})
    values.update(kept_values(changes, ("status", "priority")))
    if "due_at" in changes:
        values["due_at"] = as_utc(changes["due_at"])
    if "area_id" in changes and changes["area_id"] is None:
        raise ValidationFailed("areaId can't be null: pass the new parent's ID", field=["input", "areaId"])
    if changes.get("area_id") is not None and changes["area_id"] != project.area_id:
        await get_owned(session, Area, actor, changes["area_id"], field="areaId")
        values["area_id"] = changes["area_id"]
        values["position"] = await _next_position(session, Project, "area_id", changes["area_id"])
    _apply(project, values)
    await session.flush()
    publish_hierarchy_change(session, actor, project, "UPDATED", previous_parent=previous_area)
    return project


async def delete_project(session: AsyncSession, *, actor: Actor, project_id: uuid.UUID) -> uuid.UUID:
    return await _delete(session, Project, actor, project_id)


async def reorder_projects(
    session: AsyncSession, *, actor: Actor, area_id: uuid.UUID, ordered_ids: Sequence[uuid.UUID]
) -> list[Project]:
    await get_owned(session, Area, actor, area_id, field="areaId")
    return await _reorder(session, Project, actor, parent="area_id", parent_id=area_id, ordered_ids=ordered_ids)


# -------------------------------------------------------------------------------- tasks


def _completion(status: str, previous: datetime | None) -> datetime | None:
    if status == TaskStatus.DONE.value:
        return previous or _now()
    return None


async def create_task(
    session: AsyncSession,
    *,
    actor: Actor,
    project_id: uuid.UUID,
    title: str,
    description: str | None,
    status: TaskStatus,
    priority: Priority,
    due_at: datetime | None,
) -> Task:
    await get_owned(session, Project, actor, project_id, field="projectId")
    task = Task(
        user_id=actor.user_id,
        project_id=project_id,
        title=required_text(title, field="title", max_length=300),
        description=clean_text(description, field="description", max_length=8000, required=False),
        status=status.value,
        priority=int(priority),
        due_at=as_utc(due_at),
        completed_at=_completion(status.value, None),
        position=await _next_position(session, Task, "project_id", project_id),
    )
    session.add(task)
    await session.flush()
    publish_hierarchy_change(session, actor, task, "CREATED")
    return task


async def update_task(session: AsyncSession, *, actor: Actor, task_id: uuid.UUID, changes: dict[str, Any]) -> Task:
    task = await get_owned(session, Task, actor, task_id)
    previous_project = task.project_id
    values = text_changes(changes, {"title": (300, True), "description": (8000, False)})
    values.update(kept_values(changes, ("status", "priority")))
    if "status" in values:
        values["completed_at"] = _completion(values["status"], task.completed_at)
    if "due_at" in changes:
        values["due_at"] = as_utc(changes["due_at"])
    if "project_id" in changes and changes["project_id"] is None:
        raise ValidationFailed("projectId can't be null: pass the new parent's ID", field=["input", "projectId"])
    if changes.get("project_id") is not None and changes["project_id"] != task.project_id:
        await get_owned(session, Project, actor, changes["project_id"], field="projectId")
        values["project_id"] = changes["project_id"]
        values["position"] = await _next_position(session, Task, "project_id", changes["project_id"])
    _apply(task, values)
    await session.flush()
    publish_hierarchy_change(session, actor, task, "UPDATED", previous_parent=previous_project)
    return task


async def delete_task(session: AsyncSession, *, actor: Actor, task_id: uuid.UUID) -> uuid.UUID:
    return await _delete(session, Task, actor, task_id)


async def reorder_tasks(
    session: AsyncSession, *, actor: Actor, project_id: uuid.UUID, ordered_ids: Sequence[uuid.UUID]
) -> list[Task]:
    await get_owned(session, Project, actor, project_id, field="projectId")
    return await _reorder(session, Task, actor, parent="project_id", parent_id=project_id, ordered_ids=ordered_ids)


# ----------------------------------------------------------------------------- journal


def _tags(tags: Sequence[str] | None) -> list[str]:
    cleaned: list[str] = []
    for tag in tags or []:
        value = tag.strip().lower()
        if not value:
            continue
        if len(value) > 40:
            raise ValidationFailed("A tag is at most 40 characters", field=["input", "tags"])
        if value not in cleaned:
            cleaned.append(value)
    if len(cleaned) > 20:
        raise ValidationFailed("At most 20 tags", field=["input", "tags"])
    return cleaned


def _mood(mood: int | None) -> int | None:
    if mood is not None and not 1 <= mood <= 10:
        raise ValidationFailed("mood must be between 1 and 10", field=["input", "mood"])
    return mood


def _prompts(prompts: Sequence[str] | None) -> list[str]:
    cleaned = [p.strip() for p in prompts or [] if p.strip()]
    if len(cleaned) > 30 or any(len(p) > 500 for p in cleaned):
        raise ValidationFailed("At most 30 prompts of at most 500 characters", field=["input", "prompts"])
    return cleaned


async def create_journal_entry(
    session: AsyncSession,
    *,
    actor: Actor,
    title: str,
    body: str,
    mood: int | None,
    tags: Sequence[str] | None,
    template_id: uuid.UUID | None,
) -> JournalEntry:
    if template_id is not None:
        await get_owned(session, JournalTemplate, actor, template_id, field="templateId")
    entry = JournalEntry(
        user_id=actor.user_id,
        template_id=template_id,
        title=required_text(title, field="title", max_length=200),
        body=required_text(body, field="body", max_length=50000),
        mood=_mood(mood),
        tags=_tags(tags),
    )
    session.add(entry)
    await session.flush()
    return entry


async def update_journal_entry(
    session: AsyncSession, *, actor: Actor, entry_id: uuid.UUID, changes: dict[str, Any]
) -> JournalEntry:
    entry = await get_owned(session, JournalEntry, actor, entry_id)
    values = text_changes(changes, {"title": (200, True), "body": (50000, True)})
    if "mood" in changes:
        values["mood"] = _mood(changes["mood"])
    if "tags" in changes:
        values["tags"] = _tags(changes["tags"])
    _apply(entry, values)
    await session.flush()
    return entry


async def delete_journal_entry(session: AsyncSession, *, actor: Actor, entry_id: uuid.UUID) -> uuid.UUID:
    return await _delete(session, JournalEntry, actor, entry_id)


async def create_journal_template(
    session: AsyncSession, *, actor: Actor, name: str, description: str | None, prompts: Sequence[str] | None
) -> JournalTemplate:
    template = JournalTemplate(
        user_id=actor.user_id,
        name=required_text(name, field="name", max_length=120),
        description=clean_text(description, field="description", max_length=2000, required=False),
        prompts=_prompts(prompts),
    )
    session.add(template)
    await session.flush()
    return template


async def update_journal_template(
    session: AsyncSession, *, actor: Actor, template_id: uuid.UUID, changes: dict[str, Any]
) -> JournalTemplate:
    template = await get_owned(session, JournalTemplate, actor, template_id)
    values = text_changes(changes, {"name": (120, True), "description": (2000, False)})
    if "prompts" in changes:
        values["prompts"] = _prompts(changes["prompts"])
    _apply(template, values)
    await session.flush()
    return template


async def delete_journal_template(session: AsyncSession, *, actor: Actor, template_id: uuid.UUID) -> uuid.UUID:
    return await _delete(session, JournalTemplate, actor, template_id)


# ---------------------------------------------------------------------------- resources


@dataclass
class ResourceFields:
    kind: ResourceKind
    title: str
    url: str | None = None
    file_name: str | None = None
    content_type: str | None = None
    size_bytes: int | None = None
    project_id: uuid.UUID | None = None
    task_id: uuid.UUID | None = None
    provided: set[str] = field(default_factory=set)


def _check_url(url: str | None) -> str | None:
    url = clean_text(url, field="url", max_length=2048, required=False)
    if url is not None and not url.lower().startswith(("https://", "http://")):
        raise ValidationFailed("url must start with http:// or https://", field=["input", "url"])
    return url


async def create_resource(session: AsyncSession, *, actor: Actor, fields: ResourceFields) -> Resource:
    if fields.project_id is not None and fields.task_id is not None:
        raise ValidationFailed("Attach a resource to a project or a task, not both", field=["input", "taskId"])
    if fields.project_id is not None:
        await get_owned(session, Project, actor, fields.project_id, field="projectId")
    if fields.task_id is not None:
        await get_owned(session, Task, actor, fields.task_id, field="taskId")
    url = _check_url(fields.url)
    if fields.kind is ResourceKind.LINK and url is None:
        raise ValidationFailed("A link needs a url", field=["input", "url"])
    file_name = clean_text(fields.file_name, field="fileName", max_length=255, required=False)
    if fields.kind is ResourceKind.ATTACHMENT and file_name is None:
        raise ValidationFailed("An attachment needs a fileName", field=["input", "fileName"])
    if fields.size_bytes is not None and fields.size_bytes < 0:
        raise ValidationFailed("sizeBytes must not be negative", field=["input", "sizeBytes"])
    resource = Resource(
        user_id=actor.user_id,
        project_id=fields.project_id,
        task_id=fields.task_id,
        kind=fields.kind.value,
        title=required_text(fields.title, field="title", max_length=200),
        url=url,
        file_name=file_name,
        content_type=clean_text(fields.content_type, field="contentType", max_length=255, required=False),
        size_bytes=fields.size_bytes,
    )
    session.add(resource)
    await session.flush()
    return resource


async def update_resource(
    session: AsyncSession, *, actor: Actor, resource_id: uuid.UUID, changes: dict[str, Any]
) -> Resource:
    resource = await get_owned(session, Resource, actor, resource_id)
    values = text_changes(changes, {"title": (200, True)})
    if "url" in changes:
        values["url"] = _check_url(changes["url"])
        if resource.kind == ResourceKind.LINK.value and values["url"] is None:
            raise ValidationFailed("A link needs a url", field=["input", "url"])
    _apply(resource, values)
    await session.flush()
    return resource


async def delete_resource(session: AsyncSession, *, actor: Actor, resource_id: uuid.UUID) -> uuid.UUID:
    return await _delete(session, Resource, actor, resource_id)
