"""What every live subscription shares: the change kinds and the stream's status messages."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from core.events import BusNotice, NoticeKind


@strawberry.enum(description="How a node changed.")
class NodeChangeKind(Enum):
    CREATED = strawberry.enum_value("CREATED", description="It was created.")
    UPDATED = strawberry.enum_value("UPDATED", description="One or more of its fields changed (or it moved).")
    DELETED = strawberry.enum_value("DELETED", description="It was deleted, with everything beneath it.")


@strawberry.enum(description="What a `LiveUpdatesStatus` message says about the stream.")
class LiveUpdatesState(Enum):
    STARTED = strawberry.enum_value(
        NoticeKind.STARTED.value,
        description="The first message: the subscription is live and every change from now on will be "
        "delivered. Fetch the current state after this message.",
    )
    INTERRUPTED = strawberry.enum_value(
        NoticeKind.INTERRUPTED.value,
        description="The server lost its event bus: changes are not delivered until RESUMED arrives. "
        "Queries and mutations still work.",
    )
    RESUMED = strawberry.enum_value(
        NoticeKind.RESUMED.value,
        description="Live again after INTERRUPTED. Changes made in between were not delivered: refetch.",
    )
    EVENTS_MISSED = strawberry.enum_value(
        NoticeKind.EVENTS_MISSED.value,
        description="A server could not deliver some changes (it could not reach the event bus): refetch.",
    )


@strawberry.type(
    description="A message about the stream itself rather than a change: sent first (STARTED), and when "
    "delivery is interrupted or may have missed changes."
)
class LiveUpdatesStatus:
    state: LiveUpdatesState = strawberry.field(description="What happened to the stream.")
    message: str = strawberry.field(description="A sentence for a person to read.")
    refetch: bool = strawberry.field(
        description="Fetch what you show now: true for STARTED, RESUMED and EVENTS_MISSED, false for INTERRUPTED."
    )
    at: datetime = strawberry.field(description="When the server noticed.")

    @classmethod
    def of(cls, notice: BusNotice) -> LiveUpdatesStatus:
        state = LiveUpdatesState(notice.kind.value)
        return cls(state=state, message=notice.detail, refetch=state is not LiveUpdatesState.INTERRUPTED, at=notice.at)
