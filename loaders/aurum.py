"""Aurum Life loaders: nodes by id, children pages by parent, progress by node.

Each loader is built on first use: a request pays only for the loaders it touches.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cached_property
from types import ModuleType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from core.context import Actor
from core.pagination import Page
from core.reads import Shape
from loaders.base import PageKey, SharedLoader, pages_by_parent, rows_by_id
from models.aurum import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from services import aurum
from services.aurum import Progress

RowLoader = DataLoader[uuid.UUID, Any]
PageLoader = DataLoader[PageKey, Page]


def _filters() -> ModuleType:
    """The filters, declared next to their input types: imported on first use, since importing
    the schema at module level would import the schema package, which imports these loaders."""
    from schema.aurum import filters

    return filters


class AurumLoaders:
    def __init__(self, engine: AsyncEngine, actor: Actor) -> None:
        self.engine = engine
        self.actor = actor
        self.params = aurum.viewer_params(actor)

    def _owned(self, model: type) -> Shape:
        return aurum.owned_shape(model)

    def _progress(self, level: str) -> DataLoader[uuid.UUID, Progress]:
        engine, shape, viewer = self.engine, aurum.progress_shape(level), self.actor.user_id

        async def load(ids: Sequence[uuid.UUID]) -> list[Progress]:
            async with engine.connect() as conn:
                rows = await shape.fetch(conn, {aurum.VIEWER: viewer, "ids": list(ids)})
            by_id = {row.key: Progress(total_tasks=row.total, completed_tasks=row.completed) for row in rows}
            return [by_id.get(pk, Progress()) for pk in ids]

        return SharedLoader(load_fn=load)

    @cached_property
    def pillar_by_id(self) -> RowLoader:
        return rows_by_id(self.engine, self._owned(Pillar), self.params)

    @cached_property
    def area_by_id(self) -> RowLoader:
        return rows_by_id(self.engine, self._owned(Area), self.params)

    @cached_property
    def project_by_id(self) -> RowLoader:
        return rows_by_id(self.engine, self._owned(Project), self.params)

    @cached_property
    def task_by_id(self) -> RowLoader:
        return rows_by_id(self.engine, self._owned(Task), self.params)

    @cached_property
    def journal_entry_by_id(self) -> RowLoader:
        return rows_by_id(self.engine, self._owned(JournalEntry), self.params)

    @cached_property
    def journal_template_by_id(self) -> RowLoader:
        return rows_by_id(self.engine, self._owned(JournalTemplate), self.params)

    @cached_property
    def resource_by_id(self) -> RowLoader:
        return rows_by_id(self.engine, self._owned(Resource), self.params)

    @cached_property
    def pillars_by_user(self) -> PageLoader:
        return pages_by_parent(
            self.engine, self._owned(Pillar), parent_column="user_id", sorts=aurum.PILLAR_SORTS, params=self.params
        )

    @cached_property
    def areas_by_pillar(self) -> PageLoader:
        return pages_by_parent(
            self.engine, self._owned(Area), parent_column="pillar_id", sorts=aurum.AREA_SORTS, params=self.params
        )

    @cached_property
    def areas_by_user(self) -> PageLoader:
        return pages_by_parent(
            self.engine, self._owned(Area), parent_column="user_id", sorts=aurum.AREA_SORTS, params=self.params
        )

    @cached_property
    def projects_by_area(self) -> PageLoader:
        return pages_by_parent(
            self.engine,
            self._owned(Project),
            parent_column="area_id",
            sorts=aurum.PROJECT_SORTS,
            filter=_filters().PROJECT_FILTER,
            params=self.params,
        )

    @cached_property
    def projects_by_user(self) -> PageLoader:
        return pages_by_parent(
            self.engine,
            self._owned(Project),
            parent_column="user_id",
            sorts=aurum.PROJECT_SORTS,
            filter=_filters().PROJECT_FILTER,
            params=self.params,
        )

    @cached_property
    def tasks_by_project(self) -> PageLoader:
        return pages_by_parent(
            self.engine,
            self._owned(Task),
            parent_column="project_id",
            sorts=aurum.TASK_SORTS,
            filter=_filters().TASK_FILTER,
            params=self.params,
        )

    @cached_property
    def tasks_by_user(self) -> PageLoader:
        return pages_by_parent(
            self.engine,
            self._owned(Task),
            parent_column="user_id",
            sorts=aurum.TASK_SORTS,
            filter=_filters().TASK_FILTER,
            params=self.params,
        )

    @cached_property
    def journal_entries_by_user(self) -> PageLoader:
        return pages_by_parent(
            self.engine,
            self._owned(JournalEntry),
            parent_column="user_id",
            sorts=aurum.JOURNAL_SORTS,
            params=self.params,
        )

    @cached_property
    def journal_templates_by_user(self) -> PageLoader:
        return pages_by_parent(
            self.engine,
            self._owned(JournalTemplate),
            parent_column="user_id",
            sorts=aurum.TEMPLATE_SORTS,
            params=self.params,
        )

    @cached_property
    def resources_by_user(self) -> PageLoader:
        return pages_by_parent(
            self.engine, self._owned(Resource), parent_column="user_id", sorts=aurum.RESOURCE_SORTS, params=self.params
        )

    @cached_property
    def resources_by_project(self) -> PageLoader:
        return pages_by_parent(
            self.engine,
            self._owned(Resource),
            parent_column="project_id",
            sorts=aurum.RESOURCE_SORTS,
            params=self.params,
        )

    @cached_property
    def resources_by_task(self) -> PageLoader:
        return pages_by_parent(
            self.engine, self._owned(Resource), parent_column="task_id", sorts=aurum.RESOURCE_SORTS, params=self.params
        )

    @cached_property
    def progress_by_project(self) -> DataLoader[uuid.UUID, Progress]:
        return self._progress("project")

    @cached_property
    def progress_by_area(self) -> DataLoader[uuid.UUID, Progress]:
        return self._progress("area")

    @cached_property
    def progress_by_pillar(self) -> DataLoader[uuid.UUID, Progress]:
        return self._progress("pillar")
