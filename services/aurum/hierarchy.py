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
    moved_to_parent,
    next_position,
    reorder_children,
)

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
) -> Area:
    await get_owned(session, Pillar, actor, pillar_id, field="pillarId")
    area = Area(
        user_id=actor.user_id,
        pillar_id=pillar_id,
        name=required_text(name, field="name", max_length=120),
        description=clean_text(description, field="description", max_length=4000, required=False),
        importance=_importance(importance),
        position=await next_position(session, Area, "pillar_id", pillar_id),
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
    values.update(
        await moved_to_parent(
            session, area, actor, changes, parent_model=Pillar, parent_column="pillar_id", field="pillarId"
        )
    )
    apply_changes(area, values)
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
        position=await next_position(session, Project, "area_id", area_id),
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
    values.update(
        await moved_to_parent(
            session, project, actor, changes, parent_model=Area, parent_column="area_id", field="areaId"
        )
    )
    apply_changes(project, values)
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
        return previous or utcnow()
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
        position=await next_position(session, Task, "project_id", project_id),
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
    values.update(
        await moved_to_parent(
            session, task, actor, changes, parent_model=Project, parent_column="project_id", field="projectId"
        )
    )
    apply_changes(task, values)
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
