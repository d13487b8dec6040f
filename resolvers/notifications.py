"""Notification mutations (queries live on `Viewer`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor
from resolvers.live import require_actor, viewer_events
from resolvers.support import input_ids
from schema.common import Ctx, InputArg, mutation_errors
from schema.live import LiveUpdatesStatus
from schema.notifications import (
    MarkAllNotificationsReadInput,
    MarkNotificationsReadInput,
    MarkNotificationsReadPayload,
    Notification,
    NotificationChange,
    NotificationChangeKind,
    NotificationEvent,
)
from services import notifications


async def mark_notifications_read(
    info: Ctx, input: Annotated[MarkNotificationsReadInput, InputArg]
) -> MarkNotificationsReadPayload:
    async def work(session: AsyncSession, actor: Actor) -> tuple[list[Notification], int, int]:
        ids = input_ids(input.ids, "Notification", "ids")
        unread_before = await notifications.unread_count(session, actor=actor)
        rows = await notifications.mark_read(session, actor=actor, ids=ids)
        unread_after = await notifications.unread_count(session, actor=actor)
        return [Notification.from_row(r) for r in rows], unread_before - unread_after, unread_after

    outcome = await info.context.actor_unit_of_work(work)
    items, marked, unread = outcome.value or ([], 0, 0)
    return MarkNotificationsReadPayload(
        notifications=items, marked_count=marked, unread_count=unread, errors=mutation_errors(outcome.errors)
    )


async def mark_all_notifications_read(
    info: Ctx, input: Annotated[MarkAllNotificationsReadInput, InputArg]
) -> MarkNotificationsReadPayload:
    async def work(session: AsyncSession, actor: Actor) -> tuple[int, int]:
        marked = await notifications.mark_all_read(session, actor=actor, product=input.product)
        return marked, await notifications.unread_count(session, actor=actor)

    outcome = await info.context.actor_unit_of_work(work)
    marked, unread = outcome.value or (0, 0)
    return MarkNotificationsReadPayload(
        notifications=[], marked_count=marked, unread_count=unread, errors=mutation_errors(outcome.errors)
    )


@strawberry.type(description="Notification mutations.")
class NotificationMutation:
    mark_notifications_read: MarkNotificationsReadPayload = strawberry.mutation(
        resolver=mark_notifications_read, description="Mark some of the viewer's notifications read."
    )
    mark_all_notifications_read: MarkNotificationsReadPayload = strawberry.mutation(
        resolver=mark_all_notifications_read, description="Mark all the viewer's notifications read."
    )


async def notification_changes(
    info: Ctx,
    product: str | None,
) -> AsyncGenerator[NotificationEvent, None]:
    actor = require_actor(info)
    async for item in viewer_events(info, notifications.TOPIC):
        if isinstance(item, LiveUpdatesStatus):
            yield item
            continue
        change = NotificationChangeKind(item["change"])
        concerned: list[Notification] = []
        if change is NotificationChangeKind.ALL_READ:
            if product is not None and item["product"] not in (None, product):
                continue
        else:
            rows = await info.context.loaders.identity.notification_by_id.load_many([uuid.UUID(i) for i in item["ids"]])
            concerned = [
                Notification.from_row(row)
                for row in rows
                if row is not None and (product is None or row.product == product)
            ]
            if not concerned:
                continue
        yield NotificationChange(
            user_pk=actor.user_id,
            change=change,
            notifications=concerned,
            product=item["product"],
            occurred_at=datetime.fromisoformat(item["at"]),
        )


@strawberry.type(description="Notification live updates.")
class NotificationSubscription:
    @strawberry.subscription(
        description="The viewer's notifications as they arrive or are read, with the unread count; the first "
        "message is a STARTED status."
    )
    async def notification_changes(
        self,
        info: Ctx,
        product: Annotated[
            str | None, strawberry.argument(description="Only this product's notifications (e.g. `aurum`).")
        ] = None,
    ) -> AsyncGenerator[NotificationEvent, None]:
        async for item in notification_changes(info, product):
            yield item
