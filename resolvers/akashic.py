"""Akashic: campaigns and their messages. Thin resolvers: parse ids, run one (guarded) service
call in one unit of work, map the result or its typed errors; the viewer's campaigns; and the
live changes of a campaign's messages, checked when subscribing and again for every event."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor
from core.errors import ClientError, DomainError
from core.events import Event, organization_channel
from core.sqljson import Computed
from resolvers.akashic_ids import campaign_pk
from resolvers.live import channel_events, subscriber
from resolvers.support import described, input_id
from schema import kit
from schema.akashic.inputs import (
    CampaignMessageChange,
    CampaignMessageChangeKind,
    CampaignMessageEvent,
    CreateCampaignInput,
    CreateCampaignPayload,
    CreateMessageInput,
    MessageTransitionInput,
    MessageTransitionPayload,
    MessageVersionPayload,
    RestoreMessageVersionInput,
    SaveMessageVersionInput,
    ScheduleMessageInput,
    UpdateCampaignInput,
    UpdateCampaignPayload,
)
from schema.akashic.types import (
    Campaign,
    Message,
    MessageMergeProposal,
    MessageStatus,
    MessageTransition,
    MessageTransitionError,
    MessageVersion,
    MessageVersionConflictError,
    viewer_campaigns_sql,
)
from schema.common import Ctx, InputArg, MutationError, mutation_errors, raw
from schema.live import LiveUpdatesStatus
from schema.organizations import Membership, Organization
from schema.viewer_base import ViewerBase
from services.akashic import analysis, campaigns, drafts, messages, presence
from services.akashic.campaigns import CampaignDetails

Work = Callable[[AsyncSession, Actor], Awaitable[Any]]


def _errors(errors: list[DomainError]) -> list[MutationError]:
    """The payload's errors; a version conflict and a refused move carry what a client needs."""
    found: list[MutationError] = []
    for error in errors:
        if isinstance(error, messages.VersionConflict):
            found.append(
                MessageVersionConflictError(
                    code=error.code,
                    message=error.message,
                    field=error.field,
                    current_version=MessageVersion.from_row(error.current),
                    base_version=MessageVersion.from_row(error.base),
                    proposal=MessageMergeProposal.of(error.proposal),
                )
            )
        elif isinstance(error, messages.InvalidTransition):
            found.append(
                MessageTransitionError(
                    code=error.code, message=error.message, field=error.field, status=MessageStatus(error.status.value)
                )
            )
        else:
            found += mutation_errors([error])
    return found


async def _run(info: Ctx, work: Work, *, as_system: str | None = None) -> tuple[Any, list[MutationError]]:
    outcome = await info.context.actor_unit_of_work(work, as_system=as_system)
    return outcome.value, _errors(outcome.errors)


# ------------------------------------------------------------------------------ campaigns


async def create_campaign(info: Ctx, input: Annotated[CreateCampaignInput, InputArg]) -> CreateCampaignPayload:
    async def work(session: AsyncSession, actor: Actor) -> tuple[Campaign, Organization, Membership]:
        details = CampaignDetails(
            office=input.office,
            jurisdiction=input.jurisdiction,
            election_date=input.election_date,
            party=input.party,
            election_cycle=input.election_cycle,
            fec_committee_id=input.fec_committee_id,
        )
        organization, membership, campaign = await campaigns.create_campaign(
            session, actor=actor, name=input.name, slug=input.slug, details=details
        )
        return Campaign.from_row(campaign), Organization.from_row(organization), Membership.from_row(membership)

    # Its creator is no member yet: the database sees the system create it (as createOrganization).
    made, errors = await _run(info, work, as_system="createCampaign")
    campaign, organization, membership = made or (None, None, None)
    return CreateCampaignPayload(campaign=campaign, organization=organization, membership=membership, errors=errors)


def _given(value: Any) -> Any:
    return None if value is strawberry.UNSET else value


async def update_campaign(info: Ctx, input: Annotated[UpdateCampaignInput, InputArg]) -> UpdateCampaignPayload:
    async def work(session: AsyncSession, actor: Actor) -> Campaign:
        details = CampaignDetails(
            office=_given(input.office),
            jurisdiction=_given(input.jurisdiction),
            election_date=_given(input.election_date),
            party=_given(input.party),
            election_cycle=_given(input.election_cycle),
            clear_party=input.party is None,
            fec_committee_id=_given(input.fec_committee_id),
            clear_fec_committee_id=input.fec_committee_id is None,
        )
        pk = input_id(input.id, Campaign, "id")
        return Campaign.from_row(await campaigns.update_campaign(session, actor=actor, campaign_id=pk, details=details))

    campaign, errors = await _run(info, work)
    return UpdateCampaignPayload(campaign=campaign, errors=errors)


# ------------------------------------------------------------------------------- messages


def _saved(made: Any, errors: list[MutationError]) -> MessageVersionPayload:
    message, version = made or (None, None)
    return MessageVersionPayload(
        message=None if message is None else Message.from_row(message),
        version=None if version is None else MessageVersion.from_row(version),
        errors=errors,
    )


async def create_message(info: Ctx, input: Annotated[CreateMessageInput, InputArg]) -> MessageVersionPayload:
    async def work(session: AsyncSession, actor: Actor) -> Any:
        return await messages.create_message(
            session,
            actor=actor,
            campaign_id=input_id(input.campaign_id, Campaign, "campaignId"),
            title=input.title,
            channel=raw(input.channel),
            audience_segments=input.audience_segments,
            paid=input.paid,
            body=input.body,
            summary=input.summary,
        )

    return _saved(*await _run(info, work))


async def save_message_version(info: Ctx, input: Annotated[SaveMessageVersionInput, InputArg]) -> MessageVersionPayload:
    async def work(session: AsyncSession, actor: Actor) -> Any:
        return await messages.save_message_version(
            session,
            actor=actor,
            message_id=input_id(input.message_id, Message, "messageId"),
            base_version_id=input_id(input.base_version_id, MessageVersion, "baseVersionId"),
            body=input.body,
            summary=input.summary,
        )

    return _saved(*await _run(info, work))


async def restore_message_version(
    info: Ctx, input: Annotated[RestoreMessageVersionInput, InputArg]
) -> MessageVersionPayload:
    async def work(session: AsyncSession, actor: Actor) -> Any:
        pk = input_id(input.version_id, MessageVersion, "versionId")
        return await messages.restore_message_version(session, actor=actor, version_id=pk, summary=input.summary)

    return _saved(*await _run(info, work))


def _moved(made: Any, errors: list[MutationError]) -> MessageTransitionPayload:
    message, transition = made or (None, None)
    return MessageTransitionPayload(
        message=None if message is None else Message.from_row(message),
        transition=None if transition is None else MessageTransition.from_row(transition),
        errors=errors,
    )


def _transition(service: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[MessageTransitionPayload]]:
    async def resolve(info: Ctx, input: Annotated[MessageTransitionInput, InputArg]) -> MessageTransitionPayload:
        async def work(session: AsyncSession, actor: Actor) -> Any:
            pk = input_id(input.message_id, Message, "messageId")
            return await service(session, actor=actor, message_id=pk, note=input.note)

        return _moved(*await _run(info, work))

    return resolve


async def schedule_message(info: Ctx, input: Annotated[ScheduleMessageInput, InputArg]) -> MessageTransitionPayload:
    async def work(session: AsyncSession, actor: Actor) -> Any:
        pk = input_id(input.message_id, Message, "messageId")
        return await messages.schedule_message(
            session, actor=actor, message_id=pk, send_at=input.send_at, note=input.note
        )

    return _moved(*await _run(info, work))


#: Each mutation and the service it runs (the service declares its permission, `core.access.
#: requires`; the README's permission matrix and the schema's descriptions are made from these).
SERVICES: dict[str, Callable[..., Awaitable[Any]]] = {
    "createCampaign": campaigns.create_campaign,
    "updateCampaign": campaigns.update_campaign,
    "createMessage": messages.create_message,
    "saveMessageVersion": messages.save_message_version,
    "restoreMessageVersion": messages.restore_message_version,
    "submitMessage": messages.submit_message,
    "approveMessage": messages.approve_message,
    "requestMessageChanges": messages.request_message_changes,
    "scheduleMessage": messages.schedule_message,
    "markMessageSent": messages.mark_message_sent,
    # its mutation is resolvers/akashic_analysis.py's
    "requestMessageAnalysis": analysis.request_analysis,
    # co-editing and presence: resolvers/akashic_coediting.py
    "applyMessageDraftUpdate": drafts.apply_draft_update,
    "heartbeatMessagePresence": presence.heartbeat_presence,
    "leaveMessagePresence": presence.leave_presence,
}


def _described(name: str, description: str) -> str:
    return described(SERVICES[name], description, where="the campaign")


@strawberry.type(description="Akashic mutations: campaigns and their messages.")
class AkashicMutation:
    create_campaign: CreateCampaignPayload = strawberry.mutation(
        resolver=create_campaign,
        description=_described("createCampaign", "Create a campaign; the viewer becomes its campaign manager."),
    )
    update_campaign: UpdateCampaignPayload = strawberry.mutation(
        resolver=update_campaign, description=_described("updateCampaign", "Change a campaign's details.")
    )
    create_message: MessageVersionPayload = strawberry.mutation(
        resolver=create_message,
        description=_described("createMessage", "Create a draft message with its first version."),
    )
    save_message_version: MessageVersionPayload = strawberry.mutation(
        resolver=save_message_version,
        description=_described(
            "saveMessageVersion",
            "Save a new version of a message, edited from `baseVersionId`; if someone saved since, nothing is saved "
            "and the errors carry a `MessageVersionConflictError` (current version, merge proposal). Editing a "
            "message in review or approved sends it back to draft; a scheduled or sent one can't be edited.",
        ),
    )
    restore_message_version: MessageVersionPayload = strawberry.mutation(
        resolver=restore_message_version,
        description=_described(
            "restoreMessageVersion", "Save an old version's text as the message's next version (an edit)."
        ),
    )
    submit_message: MessageTransitionPayload = strawberry.mutation(
        resolver=_transition(messages.submit_message),
        description=_described("submitMessage", "Submit a draft for review."),
    )
    approve_message: MessageTransitionPayload = strawberry.mutation(
        resolver=_transition(messages.approve_message),
        description=_described("approveMessage", "Approve a message in review."),
    )
    request_message_changes: MessageTransitionPayload = strawberry.mutation(
        resolver=_transition(messages.request_message_changes),
        description=_described(
            "requestMessageChanges", "Send a message in review, approved or scheduled back to draft."
        ),
    )
    schedule_message: MessageTransitionPayload = strawberry.mutation(
        resolver=schedule_message,
        description=_described("scheduleMessage", "Schedule an approved message for a time to come."),
    )
    mark_message_sent: MessageTransitionPayload = strawberry.mutation(
        resolver=_transition(messages.mark_message_sent),
        description=_described("markMessageSent", "Record that a scheduled message was sent."),
    )


# --------------------------------------------------------------------------------- viewer


async def _viewer_campaigns(self: ViewerBase, info: Ctx) -> list[Campaign]:
    actor = info.context.actor
    if actor is None:
        return []
    return [Campaign.from_row(row) for row in await campaigns.viewer_campaigns(info.context.engine, actor)]


@kit.viewer_fields(description="The signed-in user's campaigns (Akashic).")
class AkashicViewerFields(ViewerBase):
    campaigns: list[Campaign] = kit.computed(
        _viewer_campaigns,
        Computed(viewer_campaigns_sql),
        description="The campaigns the viewer is on the staff of, soonest election first.",
    )


# -------------------------------------------------------------------------- subscriptions


def _gone() -> ClientError:
    return ClientError("No campaign with this `campaignId`", "NOT_FOUND", argument="campaignId")


async def _read_change(info: Ctx, campaign_id: uuid.UUID, event: Event) -> CampaignMessageChange:
    """The change as the viewer may see it now; a viewer who is no longer on the staff (or may no
    longer read messages) ends the stream, NOT_FOUND as at subscribe time."""
    loaders = info.context.loaders
    if await kit.rows_of(loaders, Campaign).load(campaign_id) is None:
        raise _gone()
    row = await kit.rows_of(loaders, Message).load(uuid.UUID(event["message"]))
    if row is None:
        raise _gone()
    version = None
    if event.get("version") is not None:
        found = await kit.rows_of(loaders, MessageVersion).load(uuid.UUID(event["version"]))
        version = None if found is None else MessageVersion.from_row(found)
    return CampaignMessageChange(
        change=CampaignMessageChangeKind(event["change"]),
        message=Message.from_row(row),
        version=version,
        status=MessageStatus(event["status"]),
        occurred_at=datetime.fromisoformat(event["at"]),
    )


async def campaign_message_changes(info: Ctx, campaign_id: str) -> AsyncGenerator[CampaignMessageEvent, None]:
    actor = await subscriber(info)
    pk = campaign_pk(campaign_id)
    if await kit.rows_of(info.context.loaders, Campaign).load(pk) is None:
        raise _gone()
    topic, organization = messages.MESSAGES_TOPIC, str(pk)

    def accept(event: Event) -> bool:
        return event.get("topic") == topic and event.get("organization") == organization

    async for item in channel_events(info, actor, organization_channel(pk), accept):
        if isinstance(item, LiveUpdatesStatus):
            yield item
            continue
        yield await _read_change(info, pk, item)


@strawberry.type(description="Akashic live updates.")
class AkashicSubscription:
    @strawberry.subscription(
        description="Changes of a campaign's messages as they are committed (created, a version saved, a move through "
        "the workflow); the first message is a STARTED status. Only its staff may subscribe, and one who leaves or is "
        "removed stops receiving them: the stream ends with NOT_FOUND."
    )
    async def campaign_message_changes(
        self,
        info: Ctx,
        campaign_id: Annotated[strawberry.ID, strawberry.argument(description="The campaign.")],
    ) -> AsyncGenerator[CampaignMessageEvent, None]:
        async for item in campaign_message_changes(info, campaign_id):
            yield item
