"""Akashic's live co-editing and presence: thin resolvers over `services.akashic.drafts` and
`services.akashic.presence`, and their subscriptions, checked when subscribing and again for
every event (a viewer who may no longer read the message gets NOT_FOUND and the stream ends)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor
from core.errors import ClientError
from core.events import Event, organization_channel
from core.relay import InvalidGlobalId, parse_global_id
from loaders import Loaders
from resolvers.akashic import SERVICES, _run
from resolvers.akashic_ids import campaign_pk
from resolvers.live import channel_events, subscriber
from resolvers.support import described, input_id
from schema import kit
from schema.akashic.coediting import (
    ApplyMessageDraftUpdateInput,
    ApplyMessageDraftUpdatePayload,
    HeartbeatMessagePresenceInput,
    HeartbeatMessagePresencePayload,
    LeaveMessagePresenceInput,
    LeaveMessagePresencePayload,
    MessageDraftEvent,
    MessageDraftState,
    MessageDraftUpdate,
    MessagePresence,
    MessagePresenceChange,
    MessagePresenceChangeKind,
    MessagePresenceEvent,
    MessagePresenceList,
    MessagePresenceState,
)
from schema.akashic.types import Campaign, Message, MessageVersion
from schema.common import Ctx, InputArg, raw
from schema.identity import User
from schema.live import LiveUpdatesState, LiveUpdatesStatus
from services.akashic import drafts, presence
from services.akashic.presence import Presence, PresenceChange, PresenceState


def _desk(info: Ctx) -> drafts.DraftDesk:
    context = info.context
    return drafts.desk_for(context.bus, context.sessions, context.settings.akashic_draft_save_seconds)


def _store(info: Ctx) -> presence.PresenceStore:
    return presence.store_for(info.context.bus, info.context.settings.redis_url)


# ------------------------------------------------------------------------------ mutations


async def apply_message_draft_update(
    info: Ctx, input: Annotated[ApplyMessageDraftUpdateInput, InputArg]
) -> ApplyMessageDraftUpdatePayload:
    desk = _desk(info)

    async def work(session: AsyncSession, actor: Actor) -> Message:
        pk = input_id(input.message_id, Message, "messageId")
        row = await drafts.apply_draft_update(session, actor=actor, desk=desk, message_id=pk, update=input.update)
        return Message.from_row(row)

    message, errors = await _run(info, work)
    return ApplyMessageDraftUpdatePayload(message=message, errors=errors)


def _presence(row: Any, entry: Presence, user: Any) -> MessagePresence:
    return MessagePresence(
        message=Message.from_row(row),
        user=None if user is None else User.from_row(user),
        state=MessagePresenceState(entry.state.value),
        expires_at=datetime.fromtimestamp(entry.expires_at, UTC),
    )


async def heartbeat_message_presence(
    info: Ctx, input: Annotated[HeartbeatMessagePresenceInput, InputArg]
) -> HeartbeatMessagePresencePayload:
    store, ttl = _store(info), info.context.settings.akashic_presence_ttl_seconds

    async def work(session: AsyncSession, actor: Actor) -> tuple[Any, Presence]:
        pk = input_id(input.message_id, Message, "messageId")
        state = PresenceState(raw(input.state))
        return await presence.heartbeat_presence(session, actor=actor, store=store, ttl=ttl, message_id=pk, state=state)

    made, errors = await _run(info, work)
    if made is None:
        return HeartbeatMessagePresencePayload(presence=None, ttl_seconds=ttl, errors=errors)
    row, entry = made
    user = await kit.rows_of(info.context.loaders, User).load(entry.user_id)
    return HeartbeatMessagePresencePayload(presence=_presence(row, entry, user), ttl_seconds=ttl, errors=errors)


async def leave_message_presence(
    info: Ctx, input: Annotated[LeaveMessagePresenceInput, InputArg]
) -> LeaveMessagePresencePayload:
    store = _store(info)

    async def work(session: AsyncSession, actor: Actor) -> Message:
        pk = input_id(input.message_id, Message, "messageId")
        return Message.from_row(await presence.leave_presence(session, actor=actor, store=store, message_id=pk))

    message, errors = await _run(info, work)
    return LeaveMessagePresencePayload(message=message, errors=errors)


def _described(name: str, description: str) -> str:
    return described(SERVICES[name], description, where="the campaign")


@strawberry.type(description="Akashic mutations: co-editing a message's draft, presence on messages.")
class CoeditingMutation:
    apply_message_draft_update: ApplyMessageDraftUpdatePayload = strawberry.mutation(
        resolver=apply_message_draft_update,
        description=_described(
            "applyMessageDraftUpdate",
            "Apply a Yjs update to a message's live draft and send it to everyone editing it; the draft is saved as "
            "a version a few seconds after the last change and when the last editor leaves. Only while the message "
            "is a draft, in review or approved; an edit of one in review or approved sends it back to draft.",
        ),
    )
    heartbeat_message_presence: HeartbeatMessagePresencePayload = strawberry.mutation(
        resolver=heartbeat_message_presence,
        description=_described(
            "heartbeatMessagePresence",
            "Say the viewer is viewing or editing a message (EDITING needs `messages.draft`); repeat within "
            "`ttlSeconds`, or the presence expires.",
        ),
    )
    leave_message_presence: LeaveMessagePresencePayload = strawberry.mutation(
        resolver=leave_message_presence,
        description=_described("leaveMessagePresence", "Say the viewer left a message (its presence ends now)."),
    )


# -------------------------------------------------------------------------- subscriptions


def _message_gone() -> ClientError:
    return ClientError("No message with this `messageId`", "NOT_FOUND", argument="messageId")


def _message_pk(value: str) -> uuid.UUID:
    try:
        return parse_global_id(value, "Message")
    except InvalidGlobalId:
        raise ClientError("`messageId` is not the ID of a Message", "INVALID_ID", argument="messageId") from None


async def message_draft(info: Ctx, message_id: str) -> AsyncGenerator[MessageDraftEvent, None]:
    actor = await subscriber(info)
    pk = _message_pk(message_id)
    loaders: Loaders = info.context.loaders
    row = await kit.rows_of(loaders, Message).load(pk)
    if row is None:
        raise _message_gone()
    version = await kit.rows_of(loaders, MessageVersion).load(row.latest_version_id)
    desk = _desk(info)
    room = await desk.join(row, version)
    key = str(pk)

    def accept(event: Event) -> bool:
        return (
            event.get("topic") == drafts.DRAFTS_TOPIC and event.get("message") == key and event.get("kind") == "update"
        )

    try:
        started = False
        async for item in channel_events(info, actor, drafts.draft_channel(pk), accept):
            if isinstance(item, LiveUpdatesStatus):
                if not started and item.state is LiveUpdatesState.STARTED:
                    started = True
                    base = await kit.rows_of(info.context.loaders, MessageVersion).load(room.base_version_id)
                    yield MessageDraftState(
                        message=Message.from_row(row),
                        update=drafts.encode(room.state()),
                        text=room.text,
                        base_version=None if base is None else MessageVersion.from_row(base),
                    )
                else:
                    yield item
                continue
            if await kit.rows_of(info.context.loaders, Message).load(pk) is None:
                raise _message_gone()
            sender = None
            if item.get("user") is not None:
                found = await kit.rows_of(info.context.loaders, User).load(uuid.UUID(item["user"]))
                sender = None if found is None else User.from_row(found)
            yield MessageDraftUpdate(update=item["update"], sender=sender)
    finally:
        # Shielded: a closing WebSocket cancels this generator, and leaving may save the draft.
        await asyncio.shield(desk.leave(room))


def _campaign_gone() -> ClientError:
    return ClientError("No campaign with this `campaignId`", "NOT_FOUND", argument="campaignId")


async def _read_presence(loaders: Loaders, entry: Presence) -> MessagePresence | None:
    row = await kit.rows_of(loaders, Message).load(entry.message_id)
    if row is None:
        return None
    return _presence(row, entry, await kit.rows_of(loaders, User).load(entry.user_id))


async def message_presence(info: Ctx, campaign_id: str) -> AsyncGenerator[MessagePresenceEvent, None]:
    actor = await subscriber(info)
    pk = campaign_pk(campaign_id)
    if await kit.rows_of(info.context.loaders, Campaign).load(pk) is None:
        raise _campaign_gone()
    store, organization = _store(info), str(pk)

    def accept(event: Event) -> bool:
        return event.get("topic") == presence.PRESENCE_TOPIC and event.get("organization") == organization

    # The bus's stream runs in a task of its own, so that waiting for it can time out when the next
    # presence is due to expire without cancelling the stream itself.
    queue: asyncio.Queue[tuple[Any, Loaders] | BaseException | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in channel_events(info, actor, organization_channel(pk), accept):
                await queue.put((item, info.context.loaders))
        except Exception as exc:  # noqa: BLE001 - handed to the subscription below
            await queue.put(exc)
        else:
            await queue.put(None)

    known: dict[tuple[uuid.UUID, uuid.UUID], Presence] = {}
    task = asyncio.create_task(pump(), name=f"presence of campaign {pk}")
    try:
        while True:
            due = min((p.expires_at for p in known.values()), default=None)
            try:
                async with asyncio.timeout(None if due is None else max(0.0, due - time.time())):
                    got = await queue.get()
            except TimeoutError:
                now = time.time()
                loaders = info.context.new_loaders(actor)
                for entry in [p for p in known.values() if not p.alive(now)]:
                    del known[entry.key]
                    read = await _read_presence(loaders, entry)
                    if read is not None:
                        yield MessagePresenceChange(change=MessagePresenceChangeKind.EXPIRED, presence=read)
                continue
            if got is None:
                return
            if isinstance(got, BaseException):
                raise got
            item, loaders = got
            if await kit.rows_of(loaders, Campaign).load(pk) is None:
                raise _campaign_gone()
            if isinstance(item, LiveUpdatesStatus):
                if item.state is LiveUpdatesState.INTERRUPTED:
                    yield item
                    continue
                # STARTED, RESUMED, EVENTS_MISSED: the list as it is now
                known = {p.key: p for p in await store.present(pk)}
                listed = [await _read_presence(loaders, p) for p in known.values()]
                yield MessagePresenceList(present=[p for p in listed if p is not None])
                continue
            entry = Presence.load(item)
            change = PresenceChange(item["change"])
            if change is PresenceChange.LEFT:
                known.pop(entry.key, None)
            else:
                known[entry.key] = entry
            if change is PresenceChange.REFRESHED:
                continue
            read = await _read_presence(loaders, entry)
            if read is not None:
                yield MessagePresenceChange(change=MessagePresenceChangeKind(change.value), presence=read)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@strawberry.type(description="Akashic live co-editing and presence.")
class CoeditingSubscription:
    @strawberry.subscription(
        description="Co-edit a message's draft: first its whole Yjs state (and the version it builds on), then every "
        "update anyone sends with `applyMessageDraftUpdate`, on any server. Its campaign's staff who may read "
        "messages may watch (`messages.read`); one who may no longer read it gets NOT_FOUND and the stream ends."
    )
    async def message_draft(
        self,
        info: Ctx,
        message_id: Annotated[strawberry.ID, strawberry.argument(description="The message.")],
    ) -> AsyncGenerator[MessageDraftEvent, None]:
        async for item in message_draft(info, message_id):
            yield item

    @strawberry.subscription(
        description="Who is viewing or editing which of a campaign's messages: first the current list (again after "
        "an interruption), then who joins, switches, leaves or expires (no heartbeat within the presence TTL). Only "
        "its staff may subscribe."
    )
    async def message_presence(
        self,
        info: Ctx,
        campaign_id: Annotated[strawberry.ID, strawberry.argument(description="The campaign.")],
    ) -> AsyncGenerator[MessagePresenceEvent, None]:
        async for item in message_presence(info, campaign_id):
            yield item
