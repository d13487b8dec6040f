"""A campaign's messages under version control: versions, diffs, conflicts and the workflow.

**Versions.** A message keeps every saved text as a version (author, time, parent, number and a
summary), never changed once written. `save_message_version` names the version it was edited
from (`base_version_id`): when that is still the message's latest, the new text becomes the next
version; when someone saved meanwhile, nothing is written and the save answers
`VersionConflict`, which carries the current version and a three-way merge proposal (base,
theirs: the current text, mine: the text sent), so nothing is lost and nothing is overwritten.
Saves of one message take its row's lock (`SELECT ... FOR UPDATE`), so two saves on the same base
happen one after the other and the second sees the first; the unique `(message_id, number)` and
`parent_version_id` (models/akashic.py) refuse a second child of a version even without it.
`restore_message_version` saves an old version's text as a new version (its `restored_from`).

**Workflow.** draft → in review (`submit`, `messages.draft`) → approved (`approve`,
`messages.approve`) → scheduled (`schedule` with a time to come, `messages.send`) → sent
(`mark_sent`, `messages.send`); `request_changes` (`messages.approve`) sends a message in review,
approved or scheduled back to draft. Every move is a transition row (from, to, who, when, a note).
Editing a message in review or approved (saving or restoring a version) sends it back to draft,
recorded as a transition with the note `EDITED_NOTE`: an approval is of a text, and a new text
needs a new one. A scheduled message can't be edited (request changes first), nor can a sent one
(`InvalidTransition`, code `INVALID_TRANSITION`, as for every move the workflow does not allow).

**Diffs and merges** use well-kept libraries, not hand-written algorithms: Google's
diff-match-patch in word mode (each word, with the whitespace after it, is one token; the
library's documented line-mode trick applied to words) for `word_diff`, and `merge3` (Breezy's
three-way merge) over the same tokens for `merge_proposal`.

Every committed change is published on the campaign's organization channel (topic
`MESSAGES_TOPIC`), with ids only; subscribers read them back with their own permissions.
Writes flush, never commit.
"""

from __future__ import annotations

import difflib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

import diff_match_patch
import merge3
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from core.access import requires
from core.context import Actor
from core.errors import Conflict, ErrorCode, NotFound, ValidationFailed
from core.events import organization_channel, publish_after_commit
from models.akashic import Campaign, Message, MessageChannel, MessageStatus, MessageTransition, MessageVersion
from services.akashic import MESSAGES_APPROVE, MESSAGES_DRAFT, MESSAGES_SEND
from services.inputs import as_utc, clean_text, required_text, utcnow

#: The topic of message events on a campaign's organization channel.
MESSAGES_TOPIC = "akashic.messages"

MAX_BODY = 100_000
MAX_SEGMENTS = 50
#: The note of the transition back to draft that editing a message in review or approved makes.
EDITED_NOTE = "Edited after it was submitted: back to draft for a new review"


class MessageChange(StrEnum):
    """What an event on a campaign's channel says happened to a message."""

    CREATED = "CREATED"
    VERSION_SAVED = "VERSION_SAVED"
    STATUS_CHANGED = "STATUS_CHANGED"
    DELIVERIES_UPDATED = "DELIVERIES_UPDATED"
    #: An analysis of one of its versions was queued, started, finished or failed (services.akashic.analysis).
    ANALYSIS_CHANGED = "ANALYSIS_CHANGED"


class InvalidTransition(Conflict):
    """The workflow does not allow this move (or this edit) from the message's status."""

    code = ErrorCode.INVALID_TRANSITION

    def __init__(self, message: str, *, status: MessageStatus, field: list[str] | None = None) -> None:
        super().__init__(message, field=field)
        self.status = status


@dataclass(frozen=True)
class ConflictHunk:
    """One place both sides changed differently: the base's text there, theirs and mine."""

    base: str
    theirs: str
    mine: str


@dataclass(frozen=True)
class MergeProposal:
    """A three-way merge of a save that lost the race: `merged` is the text with both sides'
    changes; where they clash it holds conflict markers (`clean` false, `conflicts` lists them)."""

    base: str
    theirs: str
    mine: str
    merged: str
    clean: bool
    conflicts: tuple[ConflictHunk, ...]


class VersionConflict(Conflict):
    """Someone saved a version since `base`: nothing was written. `current` is the latest version
    (a detached copy of its row) and `proposal` the three-way merge of base, theirs and mine."""

    code = ErrorCode.VERSION_CONFLICT

    def __init__(self, message: str, *, current: Any, base: Any, proposal: MergeProposal) -> None:
        super().__init__(message, field=["input", "baseVersionId"])
        self.current = current
        self.base = base
        self.proposal = proposal


# ----------------------------------------------------------------------------- text


_TOKEN = re.compile(r"\s+|\S+\s*")


def tokens(text: str) -> list[str]:
    """Words, each with the whitespace after it (leading whitespace is a token of its own)."""
    return _TOKEN.findall(text)


def word_diff(before: str, after: str) -> list[tuple[int, str]]:
    """The word-level difference from `before` to `after`, as diff-match-patch's
    `(operation, text)` pairs (-1 delete, 0 equal, 1 insert): each word is one character for
    the library (its line mode, applied to words), then mapped back to the words."""
    engine = diff_match_patch.diff_match_patch()
    engine.Diff_Timeout = 1.0
    words: list[str] = [""]  # the library's convention: index 0 stays unused
    index: dict[str, int] = {}

    def encode(text: str) -> str:
        encoded = []
        for token in tokens(text):
            if token not in index:
                index[token] = len(words)
                words.append(token)
            encoded.append(chr(index[token]))
        return "".join(encoded)

    first, second = encode(before), encode(after)
    diffs = engine.diff_main(first, second, False)
    engine.diff_cleanupSemantic(diffs)  # on the words, so that every boundary stays a word's
    engine.diff_charsToLines(diffs, words)
    return [(operation, text) for operation, text in diffs if text]


class _Matcher(difflib.SequenceMatcher[str]):
    """merge3's matcher without difflib's "popular item" heuristic, which on texts over 200
    words would treat common words ("the ") as junk and misalign the sides."""

    def __init__(self, isjunk: Any = None, a: Sequence[str] = "", b: Sequence[str] = "", autojunk: bool = True) -> None:
        super().__init__(isjunk, a, b, autojunk=False)


MARK_THEIRS, MARK_SPLIT, MARK_MINE = "<<<<<<< theirs (current version)\n", "=======\n", ">>>>>>> mine\n"


def merge_proposal(base: str, theirs: str, mine: str) -> MergeProposal:
    """Three-way merge, word by word (merge3 over `tokens`)."""
    # merge3 types its matcher with a Protocol that difflib's own class does not quite satisfy.
    merger = merge3.Merge3(tokens(base), tokens(theirs), tokens(mine), sequence_matcher=_Matcher)  # type: ignore[arg-type]
    merged: list[str] = []
    conflicts: list[ConflictHunk] = []
    for group in merger.merge_groups():
        if group[0] == "conflict":
            _, base_part, theirs_part, mine_part = group
            hunk = ConflictHunk("".join(base_part), "".join(theirs_part), "".join(mine_part))
            conflicts.append(hunk)
            merged += [_line_start(merged), MARK_THEIRS, _line(hunk.theirs), MARK_SPLIT, _line(hunk.mine), MARK_MINE]
        else:
            merged += list(group[1])
    return MergeProposal(base, theirs, mine, "".join(merged), not conflicts, tuple(conflicts))


def _line(text: str) -> str:
    return text if text.endswith("\n") or not text else text + "\n"


def _line_start(merged: Sequence[str]) -> str:
    return "\n" if merged and not merged[-1].endswith("\n") else ""


# ----------------------------------------------------------------------------- inputs


def _channel(value: str) -> MessageChannel:
    try:
        return MessageChannel(value)
    except ValueError:
        raise ValidationFailed("Unknown channel", field=["input", "channel"]) from None


def _segments(values: Sequence[str]) -> list[str]:
    cleaned: list[str] = []
    for value in values:
        segment = value.strip()
        if not segment or len(segment) > 80:
            raise ValidationFailed("An audience segment is 1 to 80 characters", field=["input", "audienceSegments"])
        if segment not in cleaned:
            cleaned.append(segment)
    if len(cleaned) > MAX_SEGMENTS:
        raise ValidationFailed(f"At most {MAX_SEGMENTS} audience segments", field=["input", "audienceSegments"])
    return cleaned


def _body(value: str) -> str:
    if len(value) > MAX_BODY:
        raise ValidationFailed(f"A message's text is at most {MAX_BODY} characters", field=["input", "body"])
    if "\x00" in value:
        raise ValidationFailed("A message's text can't hold NUL characters", field=["input", "body"])
    return value


def _summary(value: str | None, default: str) -> str:
    cleaned = clean_text(value, field="summary", max_length=500, required=False)
    return cleaned or default


def snapshot(row: Any) -> Any:
    """A copy of a row's columns that outlives its session (an error carries it past rollback)."""
    return SimpleNamespace(**{column.name: getattr(row, column.name) for column in row.__table__.c})


# ----------------------------------------------------------------------------- events


def _publish(session: AsyncSession, message: Message, change: MessageChange, *, version_id: uuid.UUID | None) -> None:
    publish_after_commit(
        session,
        organization_channel(message.organization_id),
        {
            "topic": MESSAGES_TOPIC,
            "organization": str(message.organization_id),
            "message": str(message.id),
            "version": None if version_id is None else str(version_id),
            "change": change.value,
            "status": message.status,
            "at": utcnow().isoformat(),
        },
    )


# ----------------------------------------------------------------------------- writes


async def _locked_message(session: AsyncSession, message_id: uuid.UUID) -> Message:
    """The message a guard found, its row locked until the transaction ends: the saves and moves
    of one message happen one after the other."""
    message = await session.get(Message, message_id, with_for_update=True, populate_existing=True)
    if message is None:  # deleted since the guard read it
        raise NotFound("No message with this `messageId`", field=["input", "messageId"])
    return message


def _transition(
    session: AsyncSession,
    message: Message,
    actor: Actor,
    to: MessageStatus,
    *,
    note: str | None = None,
    scheduled_for: datetime | None = None,
) -> MessageTransition:
    transition = MessageTransition(
        organization_id=message.organization_id,
        message_id=message.id,
        from_status=message.status,
        to_status=to.value,
        # who moved it: a person; none for the system (a scheduled send that could not go out)
        actor_id=actor.user_id if actor.is_user else None,
        note=note,
        scheduled_for=scheduled_for,
    )
    session.add(transition)
    message.status = to.value
    message.scheduled_for = scheduled_for if to is MessageStatus.SCHEDULED else None
    message.updated_at = utcnow()
    return transition


def _editable(message: Message, field: str) -> None:
    status = MessageStatus(message.status)
    if status is MessageStatus.SCHEDULED:
        raise InvalidTransition(
            "A scheduled message can't be edited: request changes to take it back to draft first",
            status=status,
            field=["input", field],
        )
    if status is MessageStatus.SENT:
        raise InvalidTransition("A sent message can't be edited", status=status, field=["input", field])


def editable(message: Message, field: str) -> None:
    """Refuse an edit of a scheduled or sent message (`InvalidTransition`)."""
    _editable(message, field)


async def back_to_draft(session: AsyncSession, actor: Actor, message_id: uuid.UUID) -> Message:
    """An edit of a message in review or approved (a co-edit) sends it back to draft, as saving a
    version does; the message, its row locked."""
    message = await _locked_message(session, message_id)
    _editable(message, "messageId")
    if MessageStatus(message.status) in (MessageStatus.IN_REVIEW, MessageStatus.APPROVED):
        _transition(session, message, actor, MessageStatus.DRAFT, note=EDITED_NOTE)
        _publish(session, message, MessageChange.STATUS_CHANGED, version_id=message.latest_version_id)
        await session.flush()
    return message


async def _add_version(
    session: AsyncSession,
    message: Message,
    actor: Actor,
    *,
    body: str,
    summary: str,
    parent: MessageVersion | None,
    restored_from: uuid.UUID | None = None,
) -> MessageVersion:
    version = MessageVersion(
        organization_id=message.organization_id,
        message_id=message.id,
        number=1 if parent is None else parent.number + 1,
        parent_version_id=None if parent is None else parent.id,
        restored_from_id=restored_from,
        body=body,
        summary=summary,
        author_id=actor.user_id,
    )
    session.add(version)
    await session.flush()
    message.latest_version_id = version.id
    if parent is not None and MessageStatus(message.status) in (MessageStatus.IN_REVIEW, MessageStatus.APPROVED):
        _transition(session, message, actor, MessageStatus.DRAFT, note=EDITED_NOTE)
    message.updated_at = utcnow()
    await session.flush()
    return version


@requires(MESSAGES_DRAFT, organization="campaign_id", field="campaignId", noun="campaign")
async def create_message(
    session: AsyncSession,
    *,
    actor: Actor,
    campaign_id: uuid.UUID,
    title: str,
    channel: str,
    audience_segments: Sequence[str],
    paid: bool,
    body: str,
    summary: str | None,
) -> tuple[Message, MessageVersion]:
    """A new draft message with its first version."""
    if await session.get(Campaign, campaign_id) is None:
        raise NotFound("No campaign with this `campaignId`", field=["input", "campaignId"])
    message = Message(
        organization_id=campaign_id,
        title=required_text(title, field="title", max_length=200),
        channel=_channel(channel).value,
        audience_segments=_segments(audience_segments),
        paid=paid,
        created_by=actor.user_id,
    )
    text = _body(body)
    session.add(message)
    await session.flush()
    version = await _add_version(
        session, message, actor, body=text, summary=_summary(summary, "First draft"), parent=None
    )
    _publish(session, message, MessageChange.CREATED, version_id=version.id)
    return message, version


async def _latest(session: AsyncSession, message: Message) -> MessageVersion:
    assert message.latest_version_id is not None  # written with its first version
    return await session.get_one(MessageVersion, message.latest_version_id)


@requires(MESSAGES_DRAFT, organization="message_id", via=Message, field="messageId", noun="message")
async def save_message_version(
    session: AsyncSession,
    *,
    actor: Actor,
    message_id: uuid.UUID,
    base_version_id: uuid.UUID,
    body: str,
    summary: str | None,
) -> tuple[Message, MessageVersion]:
    """Save `body` as the next version of a message edited from `base_version_id`; when that is
    no longer the latest, `VersionConflict` with the merge proposal (nothing written)."""
    text = _body(body)
    message = await _locked_message(session, message_id)
    base = await session.get(MessageVersion, base_version_id)
    if base is None or base.message_id != message.id:
        raise NotFound("No version of this message has this `baseVersionId`", field=["input", "baseVersionId"])
    _editable(message, "messageId")
    latest = await _latest(session, message)
    if latest.id != base.id:
        raise VersionConflict(
            f"Version {latest.number} was saved since version {base.number}, which this text was edited from: "
            "nothing was saved; merge and save again on the current version",
            current=snapshot(latest),
            base=snapshot(base),
            proposal=merge_proposal(base.body, latest.body, text),
        )
    version = await _add_version(
        session, message, actor, body=text, summary=_summary(summary, f"Version {latest.number + 1}"), parent=latest
    )
    _publish(session, message, MessageChange.VERSION_SAVED, version_id=version.id)
    return message, version


@requires(MESSAGES_DRAFT, organization="version_id", via=MessageVersion, field="versionId", noun="message version")
async def restore_message_version(
    session: AsyncSession, *, actor: Actor, version_id: uuid.UUID, summary: str | None
) -> tuple[Message, MessageVersion]:
    """Save an old version's text as the message's next version."""
    old = await session.get_one(MessageVersion, version_id)
    message = await _locked_message(session, old.message_id)
    _editable(message, "versionId")
    latest = await _latest(session, message)
    version = await _add_version(
        session,
        message,
        actor,
        body=old.body,
        summary=_summary(summary, f"Restored version {old.number}"),
        parent=latest,
        restored_from=old.id,
    )
    _publish(session, message, MessageChange.VERSION_SAVED, version_id=version.id)
    return message, version


def _move(
    session: AsyncSession,
    message: Message,
    actor: Actor,
    allowed_from: tuple[MessageStatus, ...],
    to: MessageStatus,
    *,
    doing: str,
    note: str | None = None,
    scheduled_for: datetime | None = None,
) -> MessageTransition:
    status = MessageStatus(message.status)
    if status not in allowed_from:
        froms = " or ".join(s.value.replace("_", " ") for s in allowed_from)
        raise InvalidTransition(
            f"Only a message {froms} can be {doing}; this one is {status.value.replace('_', ' ')}",
            status=status,
            field=["input", "messageId"],
        )
    transition = _transition(session, message, actor, to, note=note, scheduled_for=scheduled_for)
    if to is MessageStatus.SENT:
        message.sent_at = utcnow()
    _publish(session, message, MessageChange.STATUS_CHANGED, version_id=message.latest_version_id)
    return transition


def _note(note: str | None) -> str | None:
    return clean_text(note, field="note", max_length=1000, required=False)


@requires(MESSAGES_DRAFT, organization="message_id", via=Message, field="messageId", noun="message")
async def submit_message(
    session: AsyncSession, *, actor: Actor, message_id: uuid.UUID, note: str | None
) -> tuple[Message, MessageTransition]:
    """Draft → in review."""
    message = await _locked_message(session, message_id)
    moved = _move(
        session, message, actor, (MessageStatus.DRAFT,), MessageStatus.IN_REVIEW, doing="submitted", note=_note(note)
    )
    await session.flush()
    return message, moved


@requires(MESSAGES_APPROVE, organization="message_id", via=Message, field="messageId", noun="message")
async def approve_message(
    session: AsyncSession, *, actor: Actor, message_id: uuid.UUID, note: str | None
) -> tuple[Message, MessageTransition]:
    """In review → approved."""
    message = await _locked_message(session, message_id)
    moved = _move(
        session, message, actor, (MessageStatus.IN_REVIEW,), MessageStatus.APPROVED, doing="approved", note=_note(note)
    )
    await session.flush()
    return message, moved


@requires(MESSAGES_APPROVE, organization="message_id", via=Message, field="messageId", noun="message")
async def request_message_changes(
    session: AsyncSession, *, actor: Actor, message_id: uuid.UUID, note: str | None
) -> tuple[Message, MessageTransition]:
    """In review, approved or scheduled → draft."""
    message = await _locked_message(session, message_id)
    moved = _move(
        session,
        message,
        actor,
        (MessageStatus.IN_REVIEW, MessageStatus.APPROVED, MessageStatus.SCHEDULED),
        MessageStatus.DRAFT,
        doing="sent back to draft",
        note=_note(note),
    )
    await session.flush()
    return message, moved


@requires(MESSAGES_SEND, organization="message_id", via=Message, field="messageId", noun="message")
async def schedule_message(
    session: AsyncSession,
    *,
    actor: Actor,
    message_id: uuid.UUID,
    send_at: datetime,
    note: str | None,
) -> tuple[Message, MessageTransition]:
    """Approved → scheduled, to be sent at `send_at` (a time to come)."""
    at = as_utc(send_at)
    if at is None or at.tzinfo is None:
        raise ValidationFailed("Give the time with its offset, e.g. 2030-01-31T09:00:00Z", field=["input", "sendAt"])
    if at <= utcnow() + timedelta(seconds=1):
        raise ValidationFailed("A message is scheduled for a time to come", field=["input", "sendAt"])
    message = await _locked_message(session, message_id)
    moved = _move(
        session,
        message,
        actor,
        (MessageStatus.APPROVED,),
        MessageStatus.SCHEDULED,
        doing="scheduled",
        note=_note(note),
        scheduled_for=at,
    )
    await session.flush()
    return message, moved


@requires(MESSAGES_SEND, organization="message_id", via=Message, field="messageId", noun="message")
async def mark_message_sent(
    session: AsyncSession, *, actor: Actor, message_id: uuid.UUID, note: str | None
) -> tuple[Message, MessageTransition]:
    """Scheduled → sent (recorded: sending itself is not Akashic's yet)."""
    message = await _locked_message(session, message_id)
    moved = _move(
        session, message, actor, (MessageStatus.SCHEDULED,), MessageStatus.SENT, doing="marked sent", note=_note(note)
    )
    await session.flush()
    return message, moved


async def versions_of(session: AsyncSession, message_id: uuid.UUID) -> list[MessageVersion]:
    """A message's versions, oldest first (for the demo and the tests; reads go through loaders)."""
    statement = sa.select(MessageVersion).where(col(MessageVersion.message_id) == message_id)
    return list((await session.execute(statement.order_by(col(MessageVersion.number)))).scalars())
