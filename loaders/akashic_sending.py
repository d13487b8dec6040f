"""Akashic's loaders beyond the kit's: the delivery counts of sent messages (`Message.deliveryStats`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from core.access import access_params
from core.context import Actor
from loaders.base import SharedLoader
from services.akashic import sending


class SendingLoaders:
    def __init__(self, engine: AsyncEngine, actor: Actor) -> None:
        self.engine = engine
        self.actor = actor

    @cached_property
    def delivery_stats(self) -> DataLoader[uuid.UUID, dict[str, int]]:
        """Per message id, its deliveries' counts by field name (zeros for one without any)."""
        engine, viewer = self.engine, access_params(self.actor)

        async def load(ids: Sequence[uuid.UUID]) -> list[dict[str, int]]:
            async with engine.connect() as conn:
                rows = await sending.stats_shape().fetch(conn, {**viewer, "ids": list(ids)})
            found = {row.key: {name: int(getattr(row, name)) for name in sending.STATS_FIELDS} for row in rows}
            empty = dict.fromkeys(sending.STATS_FIELDS, 0)
            return [found.get(pk, empty) for pk in ids]

        return SharedLoader(load_fn=load)
