"""Aurum Life's hierarchy, pillar → area → project → task: creating, changing, moving,
reordering and deleting its nodes.

Each node belongs to its user (`services.owned`) and is positioned among its siblings: a new one
goes last, a move puts it last under its new parent, and reordering lists every sibling. Every
committed change is published to the owner's subscriptions (`events.publish_hierarchy_change`),
a move with the parent it left, since progress changes on both sides.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from core.context import Actor
from core.errors import ValidationFailed
from models.aurum import Area, Pillar, Priority, Project, ProjectStatus, Task, TaskStatus
from services.aurum.events import publish_hierarchy_change
from services.inputs import as_utc, clean_text, kept_values, required_text, text_changes, utcnow
from services.owned import (
    apply_changes,
    delete_owned,
    get_owned,
    new_parent,
    next_position,
    reorder_children,
)
from services.writes import Child, Computed, checked_first, insert_child, raise_not_found, update_owned

N = TypeVar("N", Pillar, Area, Project, Task)


async def _delete(session: AsyncSession, model: type[SQLModel], actor: Actor, pk: uuid.UUID) -> uuid.UUID:
    obj = await delete_owned(session, model, actor, pk)
    publish_hierarchy_change(session, actor, obj, "DELETED")
    return pk


async def _reorder(
    session: AsyncSession,
    model: type[N],
    actor: Actor,
    *,
    parent: str,
    parent_id: uuid.UUID,
    ordered_ids: Sequence[uuid.UUID],
) -> list[N]:
    return await reorder_children(
        session,
        model,
        actor,
        parent=parent,
        parent_id=parent_id,
        ordered_ids=ordered_ids,
        on_moved=lambda row: publish_hierarchy_change(session, actor, row, "UPDATED"),
    )


#: Where each level hangs: its parent and the column naming it (`services.writes.Child`).
AREAS = Child(Area, Pillar, "pillar_id")
PROJECTS = Child(Project, Area, "area_id")
TASKS = Child(Task, Project, "project_id")

_TIME = sa.DateTime(timezone=True)


async def _update(
    session: AsyncSession,
    actor: Actor,
    level: Child,
    pk: uuid.UUID,
    values: dict[str, Any],
    *,
    parent_id: uuid.UUID | None,
    parent_field: str,
    computed: dict[str, Computed] | None,
) -> Any:
    """Update an area, project or task in one statement (moved under `parent_id` if given),
    then publish the change, with the parent it left."""
    move_to = (level, parent_id) if parent_id is not None else None
    row = await update_owned(session, level.model, actor, pk, values=values, computed=computed, move_to=move_to)
    if row is None:
        lookups = [(level.model, pk, "id")]
        if parent_id is not None:
            lookups.append((level.parent, parent_id, parent_field))
        await raise_not_found(session, actor, *lookups)
    previous = getattr(row, f"old_{level.column}", None)
    publish_hierarchy_change(session, actor, row, "UPDATED", previous_parent=previous, model=level.model)
    return row


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
        position=await next_position(session, Pillar, "user_id", actor.user_id),
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
    apply_changes(pillar, values)
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
) -> Any:
    values = await checked_first(
        lambda: get_owned(session, Pillar, actor, pillar_id, field="pillarId"),
        lambda: {
            "name": required_text(name, field="name", max_length=120),
            "description": clean_text(description, field="description", max_length=4000, required=False),
            "importance": _importance(importance),
        },
    )
    area = await insert_child(session, AREAS, actor, parent_id=pillar_id, values=values)
    if area is None:
        await raise_not_found(session, actor, (Pillar, pillar_id, "pillarId"))
    publish_hierarchy_change(session, actor, area, "CREATED", model=Area)
    return area


async def update_area(session: AsyncSession, *, actor: Actor, area_id: uuid.UUID, changes: dict[str, Any]) -> Any:
    def clean() -> tuple[dict[str, Any], uuid.UUID | None]:
        values = text_changes(changes, {"name": (120, True), "description": (4000, False)})
        if "importance" in changes:
            if changes["importance"] is None:
                raise ValidationFailed("importance can't be cleared", field=["input", "importance"])
            values["importance"] = _importance(changes["importance"])
        return values, new_parent(changes, "pillar_id", field="pillarId")

    values, pillar_id = await checked_first(lambda: get_owned(session, Area, actor, area_id), clean)
    return await _update(
        session, actor, AREAS, area_id, values, parent_id=pillar_id, parent_field="pillarId", computed=None
    )


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
) -> Any:
    values = await checked_first(
        lambda: get_owned(session, Area, actor, area_id, field="areaId"),
        lambda: {
            "name": required_text(name, field="name", max_length=200),
            "description": clean_text(description, field="description", max_length=8000, required=False),
            "status": status.value,
            "priority": int(priority),
            "due_at": as_utc(due_at),
        },
    )
    project = await insert_child(session, PROJECTS, actor, parent_id=area_id, values=values)
    if project is None:
        await raise_not_found(session, actor, (Area, area_id, "areaId"))
    publish_hierarchy_change(session, actor, project, "CREATED", model=Project)
    return project


async def update_project(session: AsyncSession, *, actor: Actor, project_id: uuid.UUID, changes: dict[str, Any]) -> Any:
    def clean() -> tuple[dict[str, Any], uuid.UUID | None]:
        values = text_changes(changes, {"name": (200, True), "description": (8000, False)})
        values.update(kept_values(changes, ("status", "priority")))
        if "due_at" in changes:
            values["due_at"] = as_utc(changes["due_at"])
        return values, new_parent(changes, "area_id", field="areaId")

    values, area_id = await checked_first(lambda: get_owned(session, Project, actor, project_id), clean)
    return await _update(
        session, actor, PROJECTS, project_id, values, parent_id=area_id, parent_field="areaId", computed=None
    )


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
        return previous or utcnow()
    return None


def _completion_sql(old: sa.FromClause) -> sa.ColumnElement[Any]:
    """`_completion` of an update that sets the status, computed by the statement from the task
    before it: kept if it was done already, stamped with the update's time if it is done now."""
    done = sa.bindparam("status", type_=sa.String()) == TaskStatus.DONE.value
    return sa.case((done, sa.func.coalesce(old.c.completed_at, sa.bindparam("updated_at", type_=_TIME))), else_=None)


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
) -> Any:
    values = await checked_first(
        lambda: get_owned(session, Project, actor, project_id, field="projectId"),
        lambda: {
            "title": required_text(title, field="title", max_length=300),
            "description": clean_text(description, field="description", max_length=8000, required=False),
            "status": status.value,
            "priority": int(priority),
            "due_at": as_utc(due_at),
            "completed_at": _completion(status.value, None),
        },
    )
    task = await insert_child(session, TASKS, actor, parent_id=project_id, values=values)
    if task is None:
        await raise_not_found(session, actor, (Project, project_id, "projectId"))
    publish_hierarchy_change(session, actor, task, "CREATED", model=Task)
    return task


async def update_task(session: AsyncSession, *, actor: Actor, task_id: uuid.UUID, changes: dict[str, Any]) -> Any:
    def clean() -> tuple[dict[str, Any], uuid.UUID | None]:
        values = text_changes(changes, {"title": (300, True), "description": (8000, False)})
        values.update(kept_values(changes, ("status", "priority")))
        if "due_at" in changes:
            values["due_at"] = as_utc(changes["due_at"])
        return values, new_parent(changes, "project_id", field="projectId")

    values, project_id = await checked_first(lambda: get_owned(session, Task, actor, task_id), clean)
    computed: dict[str, Computed] | None = {"completed_at": _completion_sql} if "status" in values else None
    return await _update(
        session, actor, TASKS, task_id, values, parent_id=project_id, parent_field="projectId", computed=computed
    )


async def delete_task(session: AsyncSession, *, actor: Actor, task_id: uuid.UUID) -> uuid.UUID:
    return await _delete(session, Task, actor, task_id)


async def reorder_tasks(
    session: AsyncSession, *, actor: Actor, project_id: uuid.UUID, ordered_ids: Sequence[uuid.UUID]
) -> list[Task]:
    await get_owned(session, Project, actor, project_id, field="projectId")
    return await _reorder(session, Task, actor, parent="project_id", parent_id=project_id, ordered_ids=ordered_ids)
