"""Notifications, shared by every product: list, mark read, unread count."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from core import access
from core.context import Actor
from core.db import any_of
from core.errors import NotFound, ValidationFailed
from core.events import publish_after_commit, user_channel
from core.pagination import Sort
from models.audit import AuditOperation
from models.notifications import Notification
from services import audit
from services.owned import table

notifications = table(Notification)

NOTIFICATION_SORTS = {
    "CREATED_AT_DESC": Sort("created_DESC", notifications.c.created_at, datetime, descending=True),
    "CREATED_AT_ASC": Sort("created_ASC", notifications.c.created_at, datetime, descending=False),
}

MAX_MARK_READ = 100

TOPIC = "notifications"


def _publish(
    session: AsyncSession, user_id: uuid.UUID, change: str, ids: Sequence[uuid.UUID], product: str | None = None
) -> None:
    """After commit, tell the user's subscriptions (ids only; they re-read what they show)."""
    publish_after_commit(
        session,
        user_channel(user_id),
        {
            "topic": TOPIC,
            "user": str(user_id),
            "change": change,
            "ids": [str(pk) for pk in ids],
            "product": product,
            "at": datetime.now(UTC).isoformat(),
        },
    )


def readable(actor: Actor, *, unread_only: bool = False, product: str | None = None) -> sa.Select[Any]:
    statement = sa.select(notifications).where(access.readable(notifications, actor))
    if unread_only:
        statement = statement.where(notifications.c.read_at.is_(None))
    if product is not None:
        statement = statement.where(notifications.c.product == product)
    return statement


def unread_count_query(user_ids: Sequence[uuid.UUID]) -> sa.Select[Any]:
    return (
        sa.select(notifications.c.user_id, sa.func.count().label("unread"))
        .where(any_of(notifications.c.user_id, user_ids), notifications.c.read_at.is_(None))
        .group_by(notifications.c.user_id)
    )


async def notify(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    product: str,
    kind: str,
    title: str,
    body: str | None = None,
    data: dict[str, Any] | None = None,
) -> Notification:
    """Create a notification for a user; any product's service may call this."""
    notification = Notification(user_id=user_id, product=product, kind=kind, title=title, body=body, data=data or {})
    session.add(notification)
    await session.flush()
    _publish(session, user_id, "CREATED", [notification.id], product)
    return notification


async def mark_read(session: AsyncSession, *, actor: Actor, ids: Sequence[uuid.UUID]) -> list[Notification]:
    if not ids:
        raise ValidationFailed("Pass at least one notification id", field=["input", "ids"])
    if len(ids) > MAX_MARK_READ:
        raise ValidationFailed(f"At most {MAX_MARK_READ} ids at once", field=["input", "ids"])
    found = (
        (
            await session.execute(
                sa.select(Notification).where(
                    col(Notification.id).in_(ids),
                    access.readable(Notification, actor),
                )
            )
        )
        .scalars()
        .all()
    )
    by_id = {n.id: n for n in found}
    missing = [pk for pk in ids if pk not in by_id]
    if missing:
        raise NotFound("No notification with this id", field=["input", "ids"])
    now = datetime.now(UTC)
    newly_read = [n.id for n in found if n.read_at is None]
    for notification in found:
        if notification.read_at is None:
            notification.read_at = now
    await session.flush()
    if newly_read:
        _publish(session, actor.user_id, "READ", newly_read)
    return [by_id[pk] for pk in dict.fromkeys(ids)]


async def mark_all_read(session: AsyncSession, *, actor: Actor, product: str | None) -> int:
    statement = (
        sa.update(Notification)
        .where(access.readable(Notification, actor), col(Notification.read_at).is_(None))
        .values(read_at=sa.func.now())
        .returning(col(Notification.id), col(Notification.user_id), col(Notification.read_at))
        .execution_options(**audit.RECORDED)
    )
    if product is not None:
        statement = statement.where(col(Notification.product) == product)
    rows = (await session.execute(statement)).mappings().all()
    for row in rows:
        audit.record(
            session,
            Notification,
            AuditOperation.UPDATE,
            row=row,
            before={"read_at": None},
            after={"read_at": row["read_at"]},
        )
    marked = len(rows)
    if marked:
        _publish(session, actor.user_id, "ALL_READ", [], product)
    return marked


async def unread_count(session: AsyncSession, *, actor: Actor) -> int:
    rows = (await session.execute(unread_count_query([actor.user_id]))).all()
    return int(rows[0].unread) if rows else 0
