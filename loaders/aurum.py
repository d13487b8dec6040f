"""Aurum Life loaders: nodes by id, children pages by parent, progress by node."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from core.context import Actor
from core.pagination import Page
from loaders.base import PageKey, pages_by_parent, rows_by_id
from models.aurum import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from services import aurum
from services.aurum import Progress


def _progress(engine: AsyncEngine, actor: Actor, level: str) -> DataLoader[uuid.UUID, Progress]:
    async def load(ids: Sequence[uuid.UUID]) -> list[Progress]:
        async with engine.connect() as conn:
            rows = (await conn.execute(aurum.progress_query(level, actor, ids))).all()
        by_id = {row.key: Progress(total_tasks=row.total, completed_tasks=row.completed) for row in rows}
        return [by_id.get(pk, Progress()) for pk in ids]

    return DataLoader(load_fn=load)


@dataclass
class AurumLoaders:
    pillar_by_id: DataLoader[uuid.UUID, Any]
    area_by_id: DataLoader[uuid.UUID, Any]
    project_by_id: DataLoader[uuid.UUID, Any]
    task_by_id: DataLoader[uuid.UUID, Any]
    journal_entry_by_id: DataLoader[uuid.UUID, Any]
    journal_template_by_id: DataLoader[uuid.UUID, Any]
    resource_by_id: DataLoader[uuid.UUID, Any]
    pillars_by_user: DataLoader[PageKey, Page]
    areas_by_pillar: DataLoader[PageKey, Page]
    areas_by_user: DataLoader[PageKey, Page]
    projects_by_area: DataLoader[PageKey, Page]
    projects_by_user: DataLoader[PageKey, Page]
    tasks_by_project: DataLoader[PageKey, Page]
    tasks_by_user: DataLoader[PageKey, Page]
    journal_entries_by_user: DataLoader[PageKey, Page]
    journal_templates_by_user: DataLoader[PageKey, Page]
    resources_by_user: DataLoader[PageKey, Page]
    resources_by_project: DataLoader[PageKey, Page]
    resources_by_task: DataLoader[PageKey, Page]
    progress_by_project: DataLoader[uuid.UUID, Progress]
    progress_by_area: DataLoader[uuid.UUID, Progress]
    progress_by_pillar: DataLoader[uuid.UUID, Progress]


def aurum_loaders(engine: AsyncEngine, actor: Actor) -> AurumLoaders:
    pillars, areas, projects = aurum.owned(Pillar, actor), aurum.owned(Area, actor), aurum.owned(Project, actor)
    tasks, resources = aurum.owned(Task, actor), aurum.owned(Resource, actor)
    entries, templates = aurum.owned(JournalEntry, actor), aurum.owned(JournalTemplate, actor)
    return AurumLoaders(
        pillar_by_id=rows_by_id(engine, pillars),
        area_by_id=rows_by_id(engine, areas),
        project_by_id=rows_by_id(engine, projects),
        task_by_id=rows_by_id(engine, tasks),
        journal_entry_by_id=rows_by_id(engine, entries),
        journal_template_by_id=rows_by_id(engine, templates),
        resource_by_id=rows_by_id(engine, resources),
        pillars_by_user=pages_by_parent(engine, pillars, parent_column="user_id", sorts=aurum.PILLAR_SORTS),
        areas_by_pillar=pages_by_parent(engine, areas, parent_column="pillar_id", sorts=aurum.AREA_SORTS),
        areas_by_user=pages_by_parent(engine, areas, parent_column="user_id", sorts=aurum.AREA_SORTS),
        projects_by_area=pages_by_parent(
            engine, projects, parent_column="area_id", sorts=aurum.PROJECT_SORTS, conditions=aurum.project_conditions
        ),
        projects_by_user=pages_by_parent(
            engine, projects, parent_column="user_id", sorts=aurum.PROJECT_SORTS, conditions=aurum.project_conditions
        ),
        tasks_by_project=pages_by_parent(
            engine, tasks, parent_column="project_id", sorts=aurum.TASK_SORTS, conditions=aurum.task_conditions
        ),
        tasks_by_user=pages_by_parent(
            engine, tasks, parent_column="user_id", sorts=aurum.TASK_SORTS, conditions=aurum.task_conditions
        ),
        journal_entries_by_user=pages_by_parent(engine, entries, parent_column="user_id", sorts=aurum.JOURNAL_SORTS),
        journal_templates_by_user=pages_by_parent(
            engine, templates, parent_column="user_id", sorts=aurum.TEMPLATE_SORTS
        ),
        resources_by_user=pages_by_parent(engine, resources, parent_column="user_id", sorts=aurum.RESOURCE_SORTS),
        resources_by_project=pages_by_parent(engine, resources, parent_column="project_id", sorts=aurum.RESOURCE_SORTS),
        resources_by_task=pages_by_parent(engine, resources, parent_column="task_id", sorts=aurum.RESOURCE_SORTS),
        progress_by_project=_progress(engine, actor, "project"),
        progress_by_area=_progress(engine, actor, "area"),
        progress_by_pillar=_progress(engine, actor, "pillar"),
    )
