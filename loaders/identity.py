"""Identity and notification loaders."""

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
from models.identity import User
from services import identity, notifications


@dataclass
class IdentityLoaders:
    user_by_id: DataLoader[uuid.UUID, Any]
    notification_by_id: DataLoader[uuid.UUID, Any]
    notifications_by_user: DataLoader[PageKey, Page]
    unread_notifications_by_user: DataLoader[uuid.UUID, int]


def identity_loaders(engine: AsyncEngine, actor: Actor) -> IdentityLoaders:
    users = identity.readable_users(actor).with_only_columns(*User.__table__.c)  # type: ignore[attr-defined]

    async def unread(user_ids: Sequence[uuid.UUID]) -> list[int]:
        async with engine.connect() as conn:
            rows = (await conn.execute(notifications.unread_count_query(user_ids))).all()
        counts = {row.user_id: int(row.unread) for row in rows}
        return [counts.get(pk, 0) for pk in user_ids]

    def notification_filter(flt: tuple[bool, str | None]) -> list:
        unread_only, product = flt
        table = notifications.notifications
        conditions = []
        if unread_only:
            conditions.append(table.c.read_at.is_(None))
        if product is not None:
            conditions.append(table.c.product == product)
        return conditions

    return IdentityLoaders(
        user_by_id=rows_by_id(engine, users),
        notification_by_id=rows_by_id(engine, notifications.readable(actor)),
        notifications_by_user=pages_by_parent(
            engine,
            notifications.readable(actor),
            parent_column="user_id",
            sorts=notifications.NOTIFICATION_SORTS,
            conditions=notification_filter,
        ),
        unread_notifications_by_user=DataLoader(load_fn=unread),
    )
