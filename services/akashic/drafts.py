"""Live co-editing of a message's draft: one Yjs document per message (pycrdt), held by every
process where someone edits it, kept in step through the event bus, saved as versions.

**The document.** A room (`DraftRoom`) holds a `pycrdt.Doc` whose `Text` named `body` is the
draft. It opens from the message's latest version: from the Yjs state a co-edit saved with it
(`models.akashic_drafts.MessageDraftState`), which is the history of the rooms still open on other
processes, or, for a version saved otherwise, from its text inserted by a client id derived from
the version's id, so every process that opens a room on that version builds the same Yjs
history, byte for byte. Either way their documents merge without doubling the text.

**Updates.** `apply_draft_update` (a staff member whose role holds `messages.draft`, while the
message is a draft, in review or approved; an edit of one in review or approved sends it back to
draft, as saving a version does) checks the Yjs update on a copy of the document (a payload that
is not a Yjs update, or that would make the text too long, is refused and changes nothing), and
once its transaction has committed applies it to this process's room and publishes it on the
message's draft channel (`draft_channel`). Every room on every process applies what it hears
there, and every subscriber of `messageDraft` gets it. Yjs updates are idempotent and commute, so
an update heard twice (the sending process hears its own through the bus too) or out of order
changes nothing more: the documents converge.

**A room opened late** asks the others for what it lacks: it publishes its state vector (`sync`)
and every room that has more answers with the missing part as an ordinary update (Yjs's sync
step 2), which its subscribers get like any other. The same happens after the bus says events
were missed (RESUMED, EVENTS_MISSED).

**Saving.** A room saves its text as a new version through `save_message_version` (author: the
last editor; summary "Co-edited by A, B") `AKASHIC_DRAFT_SAVE_SECONDS` after the last change
(and at the latest ten times that after the first unsaved one), and when its last local editor
leaves; only when the text differs from the version it is based on. Every process that holds the
room may try: the version line's own guard makes one win; the others get the version conflict,
find the saved text equal to theirs and take the new version as their base. A save that finds
another text (someone saved a version outside the room, or this room has more edits) takes that
version as its base and saves its own text on it: what was saved outside stays in the history.

**What a restart keeps**: the saved versions and their Yjs states. A room opens again from the
latest version; the
edits of the last debounce window of a process that died (not stopped: a stopping server ends its
subscriptions, which saves) are lost.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pycrdt import Doc, Text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from core.access import requires
from core.context import Actor, AuditScope, after_commit, run_unit_of_work
from core.errors import DomainError, Forbidden, NotFound, ValidationFailed
from core.events import BusNotice, EventBus, NoticeKind, SubscriberTooSlow, publish_after_commit
from models.akashic import Message, MessageStatus, MessageVersion
from models.akashic_drafts import MessageDraftState
from models.identity import User
from services.akashic import MESSAGES_DRAFT
from services.akashic import messages as versions

logger = logging.getLogger("quintet.akashic.drafts")

#: The topic of draft events on a message's draft channel.
DRAFTS_TOPIC = "akashic.drafts"
#: The name of the Yjs `Text` that holds the draft (a browser's `doc.getText("body")`).
TEXT_NAME = "body"
#: A Yjs update is at most this many bytes (decoded).
MAX_UPDATE_BYTES = 256 * 1024
#: The most unsaved time, in debounce delays, while editors keep typing.
MAX_DEBOUNCES = 10
#: Events buffered for a room's own bus subscription.
ROOM_QUEUE = 1000


def draft_channel(message_id: uuid.UUID) -> str:
    """The channel of one message's draft updates: the rooms of every process that edits it and
    the subscribers of `messageDraft`, checked when they subscribe and for every event."""
    return f"akashic.draft:{message_id}"


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decode_update(value: str) -> bytes:
    """A client's base64 Yjs update as bytes; `ValidationFailed` (field `input.update`) otherwise."""
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("`update` is not base64", field=["input", "update"]) from None
    if not data:
        raise ValidationFailed("`update` is empty: send a Yjs update", field=["input", "update"])
    if len(data) > MAX_UPDATE_BYTES:
        raise ValidationFailed(f"An update is at most {MAX_UPDATE_BYTES} bytes", field=["input", "update"])
    return data


def _genesis_client(version_id: uuid.UUID) -> int:
    """The Yjs client id that writes a version's text into a new room: the same in every process."""
    return int.from_bytes(hashlib.sha256(version_id.bytes).digest()[:4], "big") & 0x7FFFFFFF


def draft_document(version_id: uuid.UUID, body: str, saved: bytes | None) -> Doc:
    """The room's document: the Yjs state a co-edit saved with this version, if any (whose text it
    is), else the version's text written by the version's own client id."""
    if saved is not None:
        restored: Doc = Doc()
        try:
            restored.apply_update(saved)
        except ValueError:
            logger.warning("the saved Yjs state of version %s does not decode; starting from its text", version_id)
        else:
            if str(restored.get(TEXT_NAME, type=Text)) == body:
                return restored
    doc: Doc = Doc(client_id=_genesis_client(version_id))
    text = doc.get(TEXT_NAME, type=Text)
    if body:
        with doc.transaction():
            text.insert(0, body)
    return doc


@dataclass(frozen=True)
class DraftUpdate:
    """An update as the rooms and subscribers hear it."""

    update: bytes
    sender: uuid.UUID | None


class DraftRoom:
    """This process's document of one message's draft; see the module docstring."""

    def __init__(self, desk: DraftDesk, message: Message, version: MessageVersion, saved: bytes | None) -> None:
        self.desk = desk
        self.message_id: uuid.UUID = message.id
        self.organization_id: uuid.UUID = message.organization_id
        self.base_version_id: uuid.UUID = version.id
        self.base_body: str = version.body
        self.doc = draft_document(version.id, version.body, saved)
        self.editors = 0
        #: Who sent updates since the last save, in the order of their last update.
        self.contributors: dict[uuid.UUID, None] = {}
        self._first_unsaved: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._saving: asyncio.Task[None] | None = None
        self._save_lock = asyncio.Lock()
        self._listening = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self.closed = False

    @property
    def text(self) -> str:
        return str(self.doc.get(TEXT_NAME, type=Text))

    @property
    def idle(self) -> bool:
        """No local editor and nothing waiting to be saved: the room may close."""
        return self.editors == 0 and self._timer is None and (self._saving is None or self._saving.done())

    def state(self) -> bytes:
        """The whole document as one Yjs update (`encodeStateAsUpdate`)."""
        return self.doc.get_update()

    def check(self, update: bytes) -> None:
        """Refuse an update that is not Yjs or would make the text too long, changing nothing."""
        trial: Doc = Doc()
        trial.apply_update(self.state())
        try:
            trial.apply_update(update)
        except ValueError:
            raise ValidationFailed(
                "`update` is not a Yjs update (Y.encodeStateAsUpdate or a doc's update event, base64)",
                field=["input", "update"],
            ) from None
        text = str(trial.get(TEXT_NAME, type=Text))
        if len(text) > versions.MAX_BODY:
            raise ValidationFailed(
                f"A message's text is at most {versions.MAX_BODY} characters", field=["input", "update"]
            )
        if "\x00" in text:
            raise ValidationFailed("A message's text can't hold NUL characters", field=["input", "update"])

    # ------------------------------------------------------------------ the bus

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name=f"draft room {self.message_id}")
        await self._listening.wait()
        await self.desk.bus.publish(draft_channel(self.message_id), self._sync_request())

    def _sync_request(self) -> dict[str, Any]:
        return {
            "topic": DRAFTS_TOPIC,
            "message": str(self.message_id),
            "kind": "sync",
            "state": encode(self.doc.get_state()),
            "origin": self.desk.origin,
        }

    async def _listen(self) -> None:
        channel = draft_channel(self.message_id)
        while not self.closed:
            try:
                async with self.desk.bus.subscribe(channel, max_queue=ROOM_QUEUE) as subscription:
                    async for delivery in subscription:
                        if isinstance(delivery, BusNotice):
                            # Started again after falling behind, or back after an outage: ask for
                            # what was missed (the first start's request is `start`'s).
                            behind = delivery.kind in (NoticeKind.RESUMED, NoticeKind.EVENTS_MISSED)
                            if behind or (delivery.kind is NoticeKind.STARTED and self._listening.is_set()):
                                await self.desk.bus.publish(channel, self._sync_request())
                            self._listening.set()
                            continue
                        await self._hear(delivery.event)
                    return
            except SubscriberTooSlow:
                logger.warning("draft room %s fell behind its channel; resubscribing", self.message_id)
                continue

    async def _hear(self, event: dict[str, Any]) -> None:
        if event.get("topic") != DRAFTS_TOPIC or event.get("message") != str(self.message_id):
            return
        try:
            if event.get("kind") == "update":
                sender = event.get("user")
                self.receive(
                    DraftUpdate(base64.b64decode(event["update"]), None if sender is None else uuid.UUID(sender))
                )
            elif event.get("kind") == "sync" and event.get("origin") != self.desk.origin:
                missing = self.doc.get_update(base64.b64decode(event["state"]))
                if missing != b"\x00\x00":  # Yjs's empty update: they have everything we have
                    await self.desk.bus.publish(
                        draft_channel(self.message_id), update_event(self.message_id, missing, None)
                    )
        except (ValueError, KeyError, binascii.Error):
            logger.warning("draft room %s ignored a malformed event", self.message_id)

    # ------------------------------------------------------------------ changes and saves

    def receive(self, update: DraftUpdate) -> None:
        """Apply an update (idempotent); a change of the text starts the debounce."""
        before = self.text
        self.doc.apply_update(update.update)
        if update.sender is not None:
            self.contributors.pop(update.sender, None)
            self.contributors[update.sender] = None
        if self.text != before:
            self._schedule()

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.desk.save_seconds
        now = loop.time()
        if self._first_unsaved is None:
            self._first_unsaved = now
        due = min(now + delay, self._first_unsaved + delay * MAX_DEBOUNCES)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(due, self._save_soon)

    def _save_soon(self) -> None:
        self._timer = None
        if self._saving is None or self._saving.done():
            self._saving = asyncio.create_task(self._save_then_maybe_close(), name=f"save draft {self.message_id}")
        else:  # a save is running: look again a delay later (not at once: the maximum may have passed)
            self._timer = asyncio.get_running_loop().call_later(self.desk.save_seconds, self._save_soon)

    async def _save_then_maybe_close(self) -> None:
        try:
            await self.save()
        except Exception:
            logger.exception("the co-edited draft of message %s was not saved", self.message_id)
        if self.editors == 0 and self._timer is None:
            await self.desk.release(self)

    async def save(self) -> MessageVersion | None:
        """Save the text as the next version when it differs from the base; the version saved."""
        async with self._save_lock:
            for _ in range(3):
                text, state = self.text, self.state()  # together: no await in between
                if text == self.base_body:
                    self._saved()
                    return None
                outcome = await self._save_as_contributor(text, state)
                if isinstance(outcome, versions.VersionConflict):
                    # Another process saved first (or someone outside the room): build on it.
                    self.base_version_id, self.base_body = outcome.current.id, outcome.current.body
                    continue
                if isinstance(outcome, DomainError):
                    logger.warning("draft of message %s not saved: %s", self.message_id, outcome.message)
                    return None
                self.base_version_id, self.base_body = outcome.id, outcome.body
                if self.text == self.base_body:
                    self._saved()
                return outcome
            return None

    def _saved(self) -> None:
        self.contributors.clear()
        self._first_unsaved = None

    async def _save_as_contributor(self, text: str, state: bytes) -> MessageVersion | DomainError:
        """Save as the last editor who still may; the error of the last one tried."""
        editors = list(reversed(self.contributors)) or []
        if not editors:
            return NotFound("Nobody to save the draft as")
        error: DomainError = NotFound("Nobody to save the draft as")
        summary = await self._summary(editors)
        for user_id in editors:
            actor = Actor(user_id=user_id, role="user")

            async def work(session: AsyncSession, actor: Actor = actor) -> MessageVersion:
                _, version = await versions.save_message_version(
                    session,
                    actor=actor,
                    message_id=self.message_id,
                    base_version_id=self.base_version_id,
                    body=text,
                    summary=summary,
                )
                session.add(
                    MessageDraftState(
                        version_id=version.id,
                        organization_id=version.organization_id,
                        message_id=version.message_id,
                        state=state,
                    )
                )
                await session.flush()
                return version

            outcome = await run_unit_of_work(
                self.desk.sessions, self.desk.bus, work, audit=AuditScope(actor, None, "messageDraft")
            )
            if outcome.value is not None:
                return outcome.value
            error = outcome.errors[0]
            if not isinstance(error, Forbidden | NotFound):
                return error
        return error

    async def _summary(self, editors: list[uuid.UUID]) -> str:
        async with self.desk.sessions() as session:
            statement = sa.select(col(User.id), col(User.display_name)).where(col(User.id).in_(editors))
            names: dict[uuid.UUID, str] = {row[0]: row[1] for row in await session.execute(statement)}
        ordered = [names.get(user_id, "a former member") for user_id in reversed(editors)]
        return ("Co-edited by " + ", ".join(ordered))[:500]

    async def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener


def update_event(message_id: uuid.UUID, update: bytes, sender: uuid.UUID | None) -> dict[str, Any]:
    return {
        "topic": DRAFTS_TOPIC,
        "message": str(message_id),
        "kind": "update",
        "update": encode(update),
        "user": None if sender is None else str(sender),
    }


class DraftDesk:
    """This process's draft rooms (one per message being edited here), for one event bus."""

    def __init__(self, bus: EventBus, sessions: async_sessionmaker[AsyncSession], save_seconds: float) -> None:
        self.bus = bus
        self.sessions = sessions
        self.save_seconds = save_seconds
        self.origin = uuid.uuid4().hex
        self.rooms: dict[uuid.UUID, DraftRoom] = {}
        self._opening: dict[uuid.UUID, asyncio.Future[DraftRoom]] = {}

    async def room(self, message: Message, version: MessageVersion) -> DraftRoom:
        """The message's room in this process, opened from `version` (its latest) if need be."""
        found = self.rooms.get(message.id)
        if found is not None:
            return found
        opening = self._opening.get(message.id)
        if opening is not None:
            return await asyncio.shield(opening)
        future: asyncio.Future[DraftRoom] = asyncio.get_running_loop().create_future()
        self._opening[message.id] = future
        try:
            room = DraftRoom(self, message, version, await self._saved_state(version.id))
            await room.start()
            self.rooms[message.id] = room
            future.set_result(room)
            return room
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self._opening[message.id]

    async def _saved_state(self, version_id: uuid.UUID) -> bytes | None:
        """The Yjs state saved with a version (read as the caller, whom its policy lets read it)."""
        async with self.sessions() as session:
            found = await session.get(MessageDraftState, version_id)
            return None if found is None else found.state

    async def join(self, message: Message, version: MessageVersion) -> DraftRoom:
        room = await self.room(message, version)
        room.editors += 1
        return room

    async def leave(self, room: DraftRoom) -> None:
        """An editor left; the last one saves (when the text changed) and closes the room."""
        room.editors -= 1
        if room.editors > 0:
            return
        try:
            await room.save()
        except Exception:
            logger.exception("the co-edited draft of message %s was not saved on leave", room.message_id)
        if room.editors == 0:
            await self.release(room)

    async def release(self, room: DraftRoom) -> None:
        if room.editors > 0 or room.closed:
            return
        if self.rooms.get(room.message_id) is room:
            del self.rooms[room.message_id]
        await room.close()

    async def close(self) -> None:
        for room in list(self.rooms.values()):
            await room.close()
        self.rooms.clear()


_desks: weakref.WeakKeyDictionary[Any, DraftDesk] = weakref.WeakKeyDictionary()


def desk_for(bus: EventBus, sessions: async_sessionmaker[AsyncSession], save_seconds: float) -> DraftDesk:
    """The draft rooms of the app whose bus is `bus` (one desk per app: tests run several)."""
    desk = _desks.get(bus)
    if desk is None:
        desk = _desks[bus] = DraftDesk(bus, sessions, save_seconds)
    return desk


# ----------------------------------------------------------------------------- the service


@requires(MESSAGES_DRAFT, organization="message_id", via=Message, field="messageId", noun="message")
async def apply_draft_update(
    session: AsyncSession, *, actor: Actor, desk: DraftDesk, message_id: uuid.UUID, update: str
) -> Message:
    """Apply a Yjs update to the message's draft (see the module docstring); the message."""
    data = decode_update(update)
    message = await session.get_one(Message, message_id)
    versions.editable(message, "messageId")
    if MessageStatus(message.status) in (MessageStatus.IN_REVIEW, MessageStatus.APPROVED):
        message = await versions.back_to_draft(session, actor, message_id)
    latest = await session.get_one(MessageVersion, message.latest_version_id)
    room = await desk.room(message, latest)
    try:
        room.check(data)
    except ValidationFailed:
        await desk.release(room)  # opened for this update alone
        raise

    async def apply() -> None:
        room.receive(DraftUpdate(data, actor.user_id))
        if room.idle:
            await desk.release(room)

    after_commit(session, apply)
    publish_after_commit(session, draft_channel(message_id), update_event(message_id, data, actor.user_id))
    return message
