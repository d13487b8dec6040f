"""Akashic's live co-editing of a message's draft (a Yjs document) and the presence of who views
or edits which message: inputs, payloads and the messages of their subscriptions."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.akashic.types import Message, MessageVersion
from schema.common import MutationError
from schema.identity import User
from schema.live import LiveUpdatesStatus
from services.akashic import presence as svc

ERRORS = "Why nothing changed, if so."


@strawberry.input(description="A Yjs update to a message's draft.")
class ApplyMessageDraftUpdateInput:
    message_id: strawberry.ID = strawberry.field(description="The message.")
    update: str = strawberry.field(
        description="A Yjs update, base64 (`Y.encodeStateAsUpdate(doc)`, or the bytes of a doc's `update` event), to "
        "the draft's `Text` named `body`; at most 256 KiB decoded."
    )


@strawberry.type(description="What `applyMessageDraftUpdate` did.")
class ApplyMessageDraftUpdatePayload:
    message: Message | None = strawberry.field(description="The message whose draft changed (its status now).")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="The draft as it is when the subscription starts: apply `update` to an empty Y.Doc.")
class MessageDraftState:
    message: Message = strawberry.field(description="The message.")
    update: str = strawberry.field(description="The whole document, base64 of `Y.encodeStateAsUpdate`.")
    text: str = strawberry.field(description="The draft's text now (the `body` Text).")
    base_version: MessageVersion | None = strawberry.field(
        description="The saved version the draft builds on (its next save will be the version after it)."
    )


@strawberry.type(description="An update of the draft made by an editor (or sent by a server catching up).")
class MessageDraftUpdate:
    update: str = strawberry.field(description="The Yjs update, base64: apply it (updates are idempotent).")
    sender: User | None = strawberry.field(
        description="Who made it (the viewer's own updates come back too); null for a server's catch-up."
    )


MessageDraftEvent = Annotated[
    MessageDraftState | MessageDraftUpdate | LiveUpdatesStatus,
    strawberry.union(
        "MessageDraftEvent",
        description="A message of `messageDraft`: the state first, then updates, or the status of the stream.",
    ),
]


# ------------------------------------------------------------------------------ presence


@strawberry.enum(description="What someone is doing with a message.")
class MessagePresenceState(Enum):
    VIEWING = strawberry.enum_value(svc.PresenceState.VIEWING.value, description="Reading it.")
    EDITING = strawberry.enum_value(svc.PresenceState.EDITING.value, description="Editing its draft.")


@strawberry.enum(description="What happened to someone's presence.")
class MessagePresenceChangeKind(Enum):
    JOINED = strawberry.enum_value(svc.PresenceChange.JOINED.value, description="They arrived on the message.")
    UPDATED = strawberry.enum_value(
        svc.PresenceChange.UPDATED.value, description="They switched between viewing and editing."
    )
    LEFT = strawberry.enum_value(svc.PresenceChange.LEFT.value, description="They said they left.")
    EXPIRED = strawberry.enum_value(
        svc.PresenceChange.EXPIRED.value, description="No heartbeat came within the presence TTL."
    )


@strawberry.input(description="I am on this message: a heartbeat, to repeat within the presence TTL.")
class HeartbeatMessagePresenceInput:
    message_id: strawberry.ID = strawberry.field(description="The message.")
    state: MessagePresenceState = strawberry.field(description="Viewing or editing (editing needs `messages.draft`).")


@strawberry.input(description="I left this message.")
class LeaveMessagePresenceInput:
    message_id: strawberry.ID = strawberry.field(description="The message.")


@strawberry.type(description="Someone's presence on a message.")
class MessagePresence:
    message: Message = strawberry.field(description="The message.")
    user: User | None = strawberry.field(description="Who (null once no longer a co-member).")
    state: MessagePresenceState = strawberry.field(description="Viewing or editing.")
    expires_at: datetime = strawberry.field(description="When it expires without another heartbeat.")


@strawberry.type(description="What a heartbeat did.")
class HeartbeatMessagePresencePayload:
    presence: MessagePresence | None = strawberry.field(description="The viewer's presence now.")
    ttl_seconds: float = strawberry.field(description="Send the next heartbeat before this many seconds pass.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="What leaving did.")
class LeaveMessagePresencePayload:
    message: Message | None = strawberry.field(description="The message left.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Who is on a campaign's messages now: the first message of `messagePresence`.")
class MessagePresenceList:
    present: list[MessagePresence] = strawberry.field(description="Everyone viewing or editing, by message.")


@strawberry.type(description="Someone arrived, switched, left or expired.")
class MessagePresenceChange:
    change: MessagePresenceChangeKind = strawberry.field(description="What happened.")
    presence: MessagePresence = strawberry.field(
        description="The presence concerned (as it was, for LEFT and EXPIRED)."
    )


MessagePresenceEvent = Annotated[
    MessagePresenceList | MessagePresenceChange | LiveUpdatesStatus,
    strawberry.union(
        "MessagePresenceEvent",
        description="A message of `messagePresence`: the current list first, then changes, or the stream's status.",
    ),
]
