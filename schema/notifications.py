"""Notifications: one type for every product's messages to a user."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from core.relay import to_global_id
from core.sqljson import python_only_type
from schema.common import Ctx, MutationError, Node, order_enum
from schema.live import LiveUpdatesStatus
from services.notifications import NOTIFICATION_SORTS

NotificationOrderBy = order_enum("NotificationOrderBy", NOTIFICATION_SORTS, "notifications")


@python_only_type(why="Read through `services.notifications.readable`; `data` is jsonb, written by Python.")
@strawberry.type(description="A message to the viewer from one of the products.")
class Notification(Node):
    pk: strawberry.Private[uuid.UUID]
    product: str = strawberry.field(description="Product that sent it: aurum, aletheia, akashic, waqup, floyo.")
    kind: str = strawberry.field(description="Product-specific kind, e.g. `task_due`.")
    title: str = strawberry.field(description="Short headline.")
    body: str | None = strawberry.field(description="Longer text.")
    data: JSON = strawberry.field(description="Product-specific details (e.g. IDs to link to).")
    read_at: datetime | None = strawberry.field(description="When the viewer marked it read.")
    created_at: datetime = strawberry.field(description="When it was sent.")

    @strawberry.field(description="Whether the viewer has read it.")
    def is_read(self) -> bool:
        return self.read_at is not None

    @classmethod
    def from_row(cls, row: Any) -> Notification:
        return cls(
            id=strawberry.ID(to_global_id("Notification", row.id)),
            pk=row.id,
            product=row.product,
            kind=row.kind,
            title=row.title,
            body=row.body,
            data=row.data,
            read_at=row.read_at,
            created_at=row.created_at,
        )


@strawberry.input(description="Notifications to mark read.")
class MarkNotificationsReadInput:
    ids: list[strawberry.ID] = strawberry.field(description="Global IDs of notifications (at most 100).")


@strawberry.input(description="Mark every unread notification read.")
class MarkAllNotificationsReadInput:
    product: str | None = strawberry.field(default=None, description="Only this product's notifications.")


@strawberry.type(description="Result of marking notifications read.")
class MarkNotificationsReadPayload:
    notifications: list[Notification] = strawberry.field(description="The notifications now read.")
    marked_count: int = strawberry.field(description="How many were unread before.")
    unread_count: int = strawberry.field(description="The viewer's unread notifications after the change.")
    errors: list[MutationError] = strawberry.field(description="Why nothing changed, if so.")


@strawberry.enum(description="How the viewer's notifications changed.")
class NotificationChangeKind(Enum):
    CREATED = strawberry.enum_value("CREATED", description="A new notification arrived.")
    READ = strawberry.enum_value("READ", description="Notifications were marked read.")
    ALL_READ = strawberry.enum_value(
        "ALL_READ", description="Every unread notification (of `product`, when set) was marked read."
    )


@strawberry.type(description="The viewer's notifications changed.")
class NotificationChange:
    user_pk: strawberry.Private[uuid.UUID]
    change: NotificationChangeKind = strawberry.field(description="What happened.")
    notifications: list[Notification] = strawberry.field(
        description="The notifications concerned, as they are now (empty for ALL_READ: refetch)."
    )
    product: str | None = strawberry.field(
        description="For ALL_READ, the product whose notifications were marked read (null: every product)."
    )
    occurred_at: datetime = strawberry.field(description="When the change was made.")

    @strawberry.field(description="How many of the viewer's notifications are unread now.")
    async def unread_count(self, info: Ctx) -> int:
        return await info.context.loaders.identity.unread_notifications_by_user.load(self.user_pk)


NotificationEvent = Annotated[
    NotificationChange | LiveUpdatesStatus,
    strawberry.union(
        "NotificationEvent", description="A message of `notificationChanges`: a change, or the status of the stream."
    ),
]
