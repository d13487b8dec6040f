"""Akashic's mutation inputs and payloads, and the live changes of a campaign's messages."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.akashic.types import Campaign, Message, MessageChannel, MessageStatus, MessageTransition, MessageVersion
from schema.common import MutationError
from schema.live import LiveUpdatesStatus
from schema.organizations import Membership, Organization
from services.akashic import messages as svc

ERRORS = "Why nothing changed, if so."


@strawberry.input(description="A new campaign: its organization and its race; the viewer becomes its campaign manager.")
class CreateCampaignInput:
    name: str = strawberry.field(description="The campaign's display name, 1 to 120 characters.")
    slug: str = strawberry.field(description="Unique short name: 2 to 40 lower-case letters, digits and hyphens.")
    office: str = strawberry.field(description="The office sought, 1 to 200 characters.")
    jurisdiction: str = strawberry.field(description="Where the race is, 1 to 200 characters.")
    election_date: date = strawberry.field(description="Election day.")
    election_cycle: int = strawberry.field(description="The cycle: the election's year, or the year after it.")
    party: str | None = strawberry.field(default=None, description="The candidate's party, up to 120 characters.")
    fec_committee_id: str | None = strawberry.field(
        default=None,
        description="Its FEC committee id: `C` and 8 digits (e.g. `C00123456`), the Schedule A's filer id.",
    )


@strawberry.input(description="A campaign's details to change; omitted ones stay as they are.")
class UpdateCampaignInput:
    id: strawberry.ID = strawberry.field(description="The campaign.")
    office: str | None = strawberry.field(default=strawberry.UNSET, description="The office sought.")
    jurisdiction: str | None = strawberry.field(default=strawberry.UNSET, description="Where the race is.")
    election_date: date | None = strawberry.field(default=strawberry.UNSET, description="Election day.")
    election_cycle: int | None = strawberry.field(default=strawberry.UNSET, description="The cycle (a year).")
    party: str | None = strawberry.field(default=strawberry.UNSET, description="The party; null removes it.")
    fec_committee_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="Its FEC committee id (`C` and 8 digits); null removes it."
    )


@strawberry.input(description="A new message, as a draft with its first version.")
class CreateMessageInput:
    campaign_id: strawberry.ID = strawberry.field(description="The campaign.")
    title: str = strawberry.field(description="Its title, 1 to 200 characters.")
    channel: MessageChannel = strawberry.field(description="Where it goes out.")
    body: str = strawberry.field(description="The first version's text (at most 100,000 characters).")
    audience_segments: list[str] = strawberry.field(
        default_factory=list, description="Audience segments, each 1 to 80 characters (at most 50)."
    )
    paid: bool = strawberry.field(default=False, description="Whether it is paid communication.")
    summary: str | None = strawberry.field(default=None, description="A note on the first version.")


@strawberry.input(description="A new version of a message, edited from `baseVersionId`.")
class SaveMessageVersionInput:
    message_id: strawberry.ID = strawberry.field(description="The message.")
    base_version_id: strawberry.ID = strawberry.field(
        description="The version this text was edited from: when it is no longer the newest, nothing is saved and the "
        "payload's `MessageVersionConflictError` carries the current version and a merge proposal."
    )
    body: str = strawberry.field(description="The new text (at most 100,000 characters).")
    summary: str | None = strawberry.field(default=None, description="What changed (up to 500 characters).")


@strawberry.input(description="An old version whose text becomes the message's next version.")
class RestoreMessageVersionInput:
    version_id: strawberry.ID = strawberry.field(description="The version to restore.")
    summary: str | None = strawberry.field(default=None, description="Why (default: `Restored version N`).")


@strawberry.input(description="A move of a message through its workflow.")
class MessageTransitionInput:
    message_id: strawberry.ID = strawberry.field(description="The message.")
    note: str | None = strawberry.field(default=None, description="Why, for the history (up to 1,000 characters).")


@strawberry.input(description="Schedule an approved message.")
class ScheduleMessageInput:
    message_id: strawberry.ID = strawberry.field(description="The message.")
    send_at: datetime = strawberry.field(description="When to send it: a time to come, with its offset.")
    note: str | None = strawberry.field(default=None, description="Why, for the history (up to 1,000 characters).")


@strawberry.type(description="Result of `createCampaign`.")
class CreateCampaignPayload:
    campaign: Campaign | None = strawberry.field(description="The new campaign.")
    organization: Organization | None = strawberry.field(description="Its organization.")
    membership: Membership | None = strawberry.field(description="The viewer's membership, as campaign manager.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of `updateCampaign`.")
class UpdateCampaignPayload:
    campaign: Campaign | None = strawberry.field(description="The campaign as it is now.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of a mutation that saves a message's version.")
class MessageVersionPayload:
    message: Message | None = strawberry.field(description="The message as it is now.")
    version: MessageVersion | None = strawberry.field(description="The version saved.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of a move of a message through its workflow.")
class MessageTransitionPayload:
    message: Message | None = strawberry.field(description="The message as it is now.")
    transition: MessageTransition | None = strawberry.field(description="The move, as recorded.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


# ---------------------------------------------------------------------------------- live


@strawberry.enum(description="What happened to a campaign's message.")
class CampaignMessageChangeKind(Enum):
    CREATED = strawberry.enum_value(svc.MessageChange.CREATED.value, description="A message was created.")
    VERSION_SAVED = strawberry.enum_value(
        svc.MessageChange.VERSION_SAVED.value, description="A version was saved (or restored)."
    )
    STATUS_CHANGED = strawberry.enum_value(
        svc.MessageChange.STATUS_CHANGED.value, description="It moved through its workflow."
    )
    DELIVERIES_UPDATED = strawberry.enum_value(
        svc.MessageChange.DELIVERIES_UPDATED.value,
        description="Its deliveries moved on (sent, delivered, opened, clicked, failed): read its `deliveryStats`.",
    )
    ANALYSIS_CHANGED = strawberry.enum_value(
        svc.MessageChange.ANALYSIS_CHANGED.value,
        description="The analysis of a version (`version.analysis`) was queued, started, finished or failed.",
    )


@strawberry.type(description="A change of a campaign's message, read for the viewer.")
class CampaignMessageChange:
    change: CampaignMessageChangeKind = strawberry.field(description="What happened.")
    message: Message = strawberry.field(description="The message as it is now.")
    version: MessageVersion | None = strawberry.field(
        description="The version concerned (the saved one, or the current)."
    )
    status: MessageStatus = strawberry.field(description="The message's status just after the change.")
    occurred_at: datetime = strawberry.field(description="When it happened.")


CampaignMessageEvent = Annotated[
    CampaignMessageChange | LiveUpdatesStatus,
    strawberry.union(
        "CampaignMessageEvent",
        description="A message of `campaignMessageChanges`: a change, or the status of the stream.",
    ),
]
