"""Aurum Life insight loaders: insights, rules (with the viewer's verdicts) and preferences."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from core.context import Actor
from core.pagination import Page
from loaders.base import PageKey, SharedLoader, pages_by_parent, rows_by_id
from services import insights


class InsightLoaders:
    def __init__(self, engine: AsyncEngine, actor: Actor) -> None:
        self.engine = engine
        self.actor = actor

    @cached_property
    def insight_by_id(self) -> DataLoader[uuid.UUID, Any]:
        """Any of the viewer's insights, dismissed or not."""
        return rows_by_id(self.engine, insights.insight_query(self.actor).select)

    @cached_property
    def insights_by_user(self) -> DataLoader[PageKey, Page]:
        """Pages of `viewer.insights`; the key's filter is whether to include dismissed ones."""
        query = insights.insight_query(self.actor)
        return pages_by_parent(
            self.engine,
            query.visible(),
            parent_column="user_id",
            sorts=query.sorts,
            conditions=insights.not_dismissed,
        )

    @cached_property
    def insight_rule_by_id(self) -> DataLoader[uuid.UUID, Any]:
        return rows_by_id(self.engine, insights.rule_rows(self.actor, enabled_only=False))

    @cached_property
    def insight_rules_by_user(self) -> DataLoader[uuid.UUID, list[Any]]:
        engine, actor = self.engine, self.actor

        async def load(user_ids: Sequence[uuid.UUID]) -> list[list[Any]]:
            async with engine.connect() as conn:
                rows = list((await conn.execute(insights.rule_rows(actor))).all())
            # Rules are shared; the verdicts in them are the actor's, the only user a viewer is.
            return [rows if pk == actor.user_id else [] for pk in user_ids]

        return SharedLoader(load_fn=load)

    @cached_property
    def insight_preferences_by_user(self) -> DataLoader[uuid.UUID, insights.Preferences]:
        engine, actor = self.engine, self.actor

        async def load(user_ids: Sequence[uuid.UUID]) -> list[insights.Preferences]:
            mine = [pk for pk in user_ids if pk == actor.user_id]
            async with engine.connect() as conn:
                found = await insights.preferences_by_user(conn, mine) if mine else {}
            return [found.get(pk, insights.DEFAULT_PREFERENCES) for pk in user_ids]

        return SharedLoader(load_fn=load)
