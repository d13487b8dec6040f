"""Aurum Life loaders beyond the kit's (loaders/kit.py reads rows and pages of every declared
type): the progress of projects, areas and pillars.

Each loader is built on first use: a request pays only for the loaders it touches.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from core.access import access_params
from core.context import Actor
from loaders.base import SharedLoader
from services import aurum
from services.aurum import Progress


class AurumLoaders:
    def __init__(self, engine: AsyncEngine, actor: Actor) -> None:
        self.engine = engine
        self.actor = actor

    def _progress(self, level: str) -> DataLoader[uuid.UUID, Progress]:
        engine, shape, viewer = self.engine, aurum.progress_shape(level), access_params(self.actor)

        async def load(ids: Sequence[uuid.UUID]) -> list[Progress]:
            async with engine.connect() as conn:
                rows = await shape.fetch(conn, {**viewer, "ids": list(ids)})
            by_id = {row.key: Progress(total_tasks=row.total, completed_tasks=row.completed) for row in rows}
            return [by_id.get(pk, Progress()) for pk in ids]

        return SharedLoader(load_fn=load)

    @cached_property
    def progress_by_project(self) -> DataLoader[uuid.UUID, Progress]:
        return self._progress("project")

    @cached_property
    def progress_by_area(self) -> DataLoader[uuid.UUID, Progress]:
        return self._progress("area")

    @cached_property
    def progress_by_pillar(self) -> DataLoader[uuid.UUID, Progress]:
        return self._progress("pillar")
