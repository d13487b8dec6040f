"""Notification mutations (queries live on `Viewer`)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor
from resolvers.support import input_ids
from schema.common import Ctx, InputArg, mutation_errors
from schema.notifications import (
    MarkAllNotificationsReadInput,
    MarkNotificationsReadInput,
    MarkNotificationsReadPayload,
    Notification,
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
