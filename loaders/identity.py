"""Notification loaders, each built on first use (users are a kit type: `loaders/kit.py`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from core.context import Actor
from core.pagination import Page
from loaders.base import PageKey, SharedLoader, pages_by_parent, rows_by_id
from services import notifications


def _notification_conditions(flt: tuple[bool, str | None]) -> list[sa.ColumnElement[bool]]:
    unread_only, product = flt
    table = notifications.notifications
    conditions: list[sa.ColumnElement[bool]] = []
    if unread_only:
        conditions.append(table.c.read_at.is_(None))
    if product is not None:
        conditions.append(table.c.product == product)
    return conditions


class IdentityLoaders:
    def __init__(self, engine: AsyncEngine, actor: Actor) -> None:
        self.engine = engine
        self.actor = actor

    @cached_property
    def notification_by_id(self) -> DataLoader[uuid.UUID, Any]:
        return rows_by_id(self.engine, notifications.readable(self.actor))

    @cached_property
    def notifications_by_user(self) -> DataLoader[PageKey, Page]:
        return pages_by_parent(
            self.engine,
            notifications.readable(self.actor),
            parent_column="user_id",
            sorts=notifications.NOTIFICATION_SORTS,
            conditions=_notification_conditions,
        )

    @cached_property
    def unread_notifications_by_user(self) -> DataLoader[uuid.UUID, int]:
        engine = self.engine

        async def unread(user_ids: Sequence[uuid.UUID]) -> list[int]:
            async with engine.connect() as conn:
                rows = (await conn.execute(notifications.unread_count_query(user_ids))).all()
            counts = {row.user_id: int(row.unread) for row in rows}
            return [counts.get(pk, 0) for pk in user_ids]

        return SharedLoader(load_fn=unread)
