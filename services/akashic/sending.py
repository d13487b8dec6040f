"""Sending a campaign's approved messages, and what the providers then tell us of each delivery.

**Sending** (`send_message`, `messages.send`): an approved email or SMS message (or a scheduled
one whose time has come) gets one `message_deliveries` row per recipient, moves to sent, and a
background job (`SEND_KIND`, the sender's) is enqueued, all in the mutation's one transaction.
The recipients are the campaign's contacts in the message's audience (a contact any of whose
segments is one of the message's `audience_segments`; a message without segments speaks to every
contact) who have the channel's address and have not opted out of it; those who have get a
`skipped` delivery (never sent; `deliveryStats.optedOut` counts them). A speech, a press release or
a social post is not ours to send (`UNSUPPORTED_CHANNEL`); a channel whose provider is not
configured is refused (`NOT_CONFIGURED`, naming the settings); no recipient at all is a
`VALIDATION` error. Nothing is written in any of these cases.

**The job** sends each queued delivery once, through the provider's official client
(`services.akashic.providers`), in batches. Each delivery is *claimed* first (`attempted_at`,
committed), then sent, then its provider id is recorded with the status `sent` (committed): a
retried job skips what was sent. A transient error (connection, timeout, 408, 429, 5xx) releases
the claim and, once the batch is done, fails the attempt so the platform retries it with backoff
(`JOB_MAX_RETRIES`); on the last attempt the deliveries still queued are failed. A permanent error
(another 4xx) fails that delivery with the provider's error. A delivery that was claimed but
never resolved (the worker died during the call) may have been sent: it is failed as
`OUTCOME_UNKNOWN`, never sent twice. Before each batch, the queued deliveries whose contact has
opted out of the channel since are skipped. Every email carries its recipient's unsubscribe link
(`services.akashic.unsubscribe`: in its text and its RFC 8058 `List-Unsubscribe` headers).

**Statuses** come from the providers' signed webhooks (`handle_sendgrid_events`,
`handle_twilio_status`) and only move forward: queued → sent → failed/bounced → delivered →
opened → clicked (a later, stronger word wins: delivered after opened keeps opened, and each
step's time is kept: an open implies delivery, a click an open). SendGrid's unsubscribe and spam
reports opt the contact out of email; a text of STOP (or another opt-out keyword) to the sender
number opts its contacts out of SMS, START back in (`handle_twilio_inbound`).

Every committed change of a message's deliveries is published on its campaign's channel
(`DELIVERIES_UPDATED`), once per batch or webhook delivery.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.access import readable, requires
from core.context import Actor, run_in_transaction
from core.errors import Conflict, ErrorCode, ValidationFailed
from core.events import organization_channel, publish_after_commit
from core.reads import Shape
from core.settings import Settings
from core.webhooks import VerifiedDelivery, callback_url
from models.akashic import Message, MessageChannel, MessageStatus, MessageTransition, MessageVersion
from models.akashic_sending import Contact, DeliveryProvider, DeliveryStatus, MessageDelivery
from models.audit import AuditOperation
from models.jobs import BackgroundJob
from services import audit, jobs
from services.akashic import MESSAGES_SEND
from services.akashic import messages as workflow
from services.akashic.contacts import opt_out_email, sms_keyword
from services.akashic.providers import (
    DELIVERY_ARG,
    EmailSender,
    SendOutcome,
    SmsSender,
    missing_email_settings,
    missing_sms_settings,
)
from services.akashic.unsubscribe import unsubscribe_url
from services.inputs import utcnow

logger = logging.getLogger("quintet.akashic.sending")

SEND_KIND = "akashic.send_message"
SENDGRID_WEBHOOK = "akashic/sendgrid"
TWILIO_WEBHOOK = "akashic/twilio"
TWILIO_INBOUND_WEBHOOK = "akashic/twilio/inbound"
BATCH = 50

_deliveries = MessageDelivery.__table__  # type: ignore[attr-defined]
_contacts = Contact.__table__  # type: ignore[attr-defined]

PROVIDERS = {MessageChannel.EMAIL: DeliveryProvider.SENDGRID, MessageChannel.SMS: DeliveryProvider.TWILIO}

#: How far each status is along: a webhook's status applies only if it is further.
RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.FAILED: 2,
    DeliveryStatus.BOUNCED: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.OPENED: 4,
    DeliveryStatus.CLICKED: 5,
    # Never sent: no provider's word applies to it.
    DeliveryStatus.SKIPPED: 6,
}


class SendingNotConfigured(Conflict):
    code = ErrorCode.NOT_CONFIGURED


class ChannelNotSendable(Conflict):
    code = ErrorCode.UNSUPPORTED_CHANNEL


def missing_settings(settings: Settings, channel: MessageChannel) -> list[str]:
    return missing_email_settings(settings) if channel is MessageChannel.EMAIL else missing_sms_settings(settings)


# ------------------------------------------------------------------------------- sending


#: Why a delivery was skipped (its status `skipped`): the contact opted out of the channel.
OPTED_OUT = "OPTED_OUT: the contact opted out of this channel; not sent"


def _opted_out_at(channel: MessageChannel | str, contacts: Any = _contacts) -> Any:
    return contacts.c.email_opted_out_at if channel == MessageChannel.EMAIL else contacts.c.sms_opted_out_at


def _recipients(message: Message, channel: MessageChannel) -> sa.Select[Any]:
    """The contacts in a message's audience with the channel's address, as the deliveries'
    columns: queued, or skipped for those who opted out of the channel (counted in its stats)."""
    c = _contacts
    address = c.c.email if channel is MessageChannel.EMAIL else c.c.phone
    opted_out = _opted_out_at(channel).is_not(None)
    conditions: list[sa.ColumnElement[bool]] = [c.c.organization_id == message.organization_id, address.is_not(None)]
    if message.audience_segments:
        conditions.append(c.c.segments.op("&&")(sa.cast(list(message.audience_segments), ARRAY(sa.Text))))
    return sa.select(
        sa.func.gen_random_uuid(),
        sa.literal(message.organization_id, sa.Uuid()),
        sa.literal(message.id, sa.Uuid()),
        c.c.id,
        sa.literal(channel.value),
        sa.literal(PROVIDERS[channel].value),
        address,
        sa.case((opted_out, DeliveryStatus.SKIPPED.value), else_=DeliveryStatus.QUEUED.value),
        sa.case((opted_out, OPTED_OUT), else_=sa.null()),
    ).where(*conditions)


@requires(MESSAGES_SEND, organization="message_id", via=Message, field="messageId", noun="message")
async def send_message(
    session: AsyncSession, *, actor: Actor, settings: Settings, message_id: uuid.UUID
) -> tuple[Message, MessageTransition, BackgroundJob, int]:
    """Approved (or scheduled and due) → sent: its deliveries queued and the sending job enqueued."""
    message = await workflow._locked_message(session, message_id)
    channel = MessageChannel(message.channel)
    if channel not in PROVIDERS:
        raise ChannelNotSendable(
            f"A {channel.value.replace('_', ' ')} is not sent by Akashic: only email and SMS messages are; "
            "record it with scheduleMessage and markMessageSent",
            field=["input", "messageId"],
        )
    status = MessageStatus(message.status)
    if status is MessageStatus.SCHEDULED and message.scheduled_for is not None and message.scheduled_for > utcnow():
        raise workflow.InvalidTransition(
            f"This message is scheduled for {message.scheduled_for.isoformat()}: it is sent from then on "
            "(or request changes and approve it again to send it now)",
            status=status,
            field=["input", "messageId"],
        )
    missing = missing_settings(settings, channel)
    transition = workflow._move(
        session, message, actor, (MessageStatus.APPROVED, MessageStatus.SCHEDULED), MessageStatus.SENT, doing="sent"
    )
    if missing:
        raise SendingNotConfigured(
            f"Sending {channel.value} is not configured on this server: set {', '.join(missing)}",
            field=["input", "messageId"],
        )
    await session.flush()
    columns = [
        "id",
        "organization_id",
        "message_id",
        "contact_id",
        "channel",
        "provider",
        "recipient",
        "status",
        "error",
    ]
    inserted = await session.execute(
        sa.insert(_deliveries)
        .from_select(columns, _recipients(message, channel))
        .returning(*_deliveries.c)
        .execution_options(**audit.RECORDED)
    )
    rows = inserted.mappings().all()
    queued = sum(1 for row in rows if row["status"] == DeliveryStatus.QUEUED.value)
    if not queued:
        skipped = len(rows)
        raise ValidationFailed(
            "No contact in this message's audience can receive it (segments, addresses, opt-outs"
            + (f": {skipped} opted out" if skipped else "")
            + "): nothing was sent",
            field=["input", "messageId"],
        )
    for row in rows:
        audit.record(session, MessageDelivery, AuditOperation.CREATE, row=row)
    job = await jobs.enqueue(
        session,
        user_id=actor.user_id,
        kind=SEND_KIND,
        params={"message_id": str(message.id)},
        max_retries=settings.job_max_retries,
    )
    return message, transition, job, queued


# ----------------------------------------------------------------------------------- job


def _event(organization_id: uuid.UUID, message_id: uuid.UUID) -> dict[str, Any]:
    # Only a sent message has deliveries, and a sent message never moves again.
    return {
        "topic": workflow.MESSAGES_TOPIC,
        "organization": str(organization_id),
        "message": str(message_id),
        "version": None,
        "change": workflow.MessageChange.DELIVERIES_UPDATED.value,
        "status": MessageStatus.SENT.value,
        "at": utcnow().isoformat(),
    }


def _announce(session: AsyncSession, message: Message) -> None:
    """Tell the campaign's subscribers once the session's transaction commits."""
    publish_after_commit(
        session, organization_channel(message.organization_id), _event(message.organization_id, message.id)
    )


async def _update(
    sessions: async_sessionmaker[AsyncSession], *statements: Any, announce: Message | None = None
) -> list[Any]:
    """Run `statements` in one transaction (the rows of the last); with `announce`, that
    message's deliveries changed: told once it commits."""

    async def work(session: AsyncSession) -> list[Any]:
        rows: list[Any] = []
        for statement in statements:
            result = cast("CursorResult[Any]", await session.execute(statement))
            rows = list(result.all()) if result.returns_rows else []
        if announce is not None:
            _announce(session, announce)
        return rows

    return await run_in_transaction(sessions, work)


def _queued(message_id: uuid.UUID) -> sa.ColumnElement[bool]:
    d = _deliveries
    return sa.and_(d.c.message_id == message_id, d.c.status == DeliveryStatus.QUEUED.value)


#: Why a queued delivery was failed without being sent again: claimed by a worker that died in the
#: provider's call (it may have gone out), or given up on.
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN: the worker stopped while sending it; it is not sent again (it may have gone out)"
GAVE_UP = "GAVE_UP: the provider kept failing; no more attempts"
WORKER_LOST = "WORKER_LOST: the job sending it was lost; it was not sent"


def _fail_queued(message_id: uuid.UUID, error: str, *, claimed: bool | None) -> Any:
    """Fail the message's queued deliveries: the claimed ones (`claimed`), the unclaimed ones
    (`not claimed`) or all of them (None); returns their ids."""
    d = _deliveries
    now = utcnow()
    condition = _queued(message_id)
    if claimed is not None:
        condition = sa.and_(condition, d.c.attempted_at.is_not(None) if claimed else d.c.attempted_at.is_(None))
    return (
        sa.update(d)
        .where(condition)
        .values(status=DeliveryStatus.FAILED.value, error=error, failed_at=now, updated_at=now)
        .returning(d.c.id)
    )


async def _fail_unresolved(
    sessions: async_sessionmaker[AsyncSession], message_id: uuid.UUID, *, claimed: bool, announce: Message | None = None
) -> int:
    """Fail the queued deliveries that were claimed and never resolved (`claimed`), or all of them."""
    if claimed:
        statement = _fail_queued(message_id, OUTCOME_UNKNOWN, claimed=True)
    else:
        statement = _fail_queued(message_id, GAVE_UP, claimed=None)
    return len(await _update(sessions, statement, announce=announce))


def _skip_opted_out(message_id: uuid.UUID, channel: MessageChannel) -> Any:
    """Skip the message's unclaimed queued deliveries whose contact opted out of the channel since
    it was sent (an unsubscribe link, SendGrid's unsubscribe or spam report, an SMS STOP)."""
    d, c = _deliveries, _contacts
    now = utcnow()
    return (
        sa.update(d)
        .where(
            _queued(message_id),
            d.c.attempted_at.is_(None),
            c.c.id == d.c.contact_id,
            c.c.organization_id == d.c.organization_id,
            _opted_out_at(channel).is_not(None),
        )
        .values(status=DeliveryStatus.SKIPPED.value, error=OPTED_OUT, updated_at=now)
    )


async def _claim(
    sessions: async_sessionmaker[AsyncSession], message_id: uuid.UUID, channel: MessageChannel
) -> list[Any]:
    """The next batch of the message's queued deliveries, claimed; those whose contact opted out
    since are skipped first, in the same transaction."""
    d = _deliveries
    batch = (
        sa.select(d.c.id)
        .where(_queued(message_id), d.c.attempted_at.is_(None))
        .order_by(d.c.created_at, d.c.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    return await _update(
        sessions,
        _skip_opted_out(message_id, channel),
        sa.update(d)
        .where(d.c.id.in_(batch.scalar_subquery()))
        .values(attempted_at=utcnow())
        .returning(d.c.id, d.c.recipient, d.c.channel, d.c.contact_id),
    )


def _resolved(delivery_id: uuid.UUID, outcome: SendOutcome) -> Any:
    """The statement that records one send's outcome."""
    d = _deliveries
    now = utcnow()
    statement = sa.update(d).where(d.c.id == delivery_id, d.c.status == DeliveryStatus.QUEUED.value)
    if outcome.provider_message_id is not None:
        # A status callback may have arrived first (it names the delivery): keep what it moved.
        return (
            sa.update(d)
            .where(
                d.c.id == delivery_id,
                sa.or_(d.c.provider_message_id.is_(None), d.c.provider_message_id == outcome.provider_message_id),
            )
            .values(
                provider_message_id=outcome.provider_message_id,
                status=sa.case(
                    (d.c.status == DeliveryStatus.QUEUED.value, DeliveryStatus.SENT.value), else_=d.c.status
                ),
                sent_at=sa.func.coalesce(d.c.sent_at, now),
                error=None,
                updated_at=now,
            )
        )
    if outcome.transient:
        return statement.values(attempted_at=None, error=outcome.error, updated_at=now)
    return statement.values(status=DeliveryStatus.FAILED.value, error=outcome.error, failed_at=now, updated_at=now)


async def send_lost(session: AsyncSession, job: jobs.JobState) -> None:
    """A send job lost for good (its worker died on the last attempt): its deliveries still queued
    are failed in the job's own transaction, never left queued: the claimed ones as
    OUTCOME_UNKNOWN (they may have gone out), the others as never sent."""
    message_id = uuid.UUID(job.params["message_id"])
    changed = 0
    for claimed, error in ((True, OUTCOME_UNKNOWN), (False, WORKER_LOST)):
        changed += len((await session.execute(_fail_queued(message_id, error, claimed=claimed))).all())
    message = await session.get(Message, message_id)
    if changed and message is not None:
        _announce(session, message)


async def run_send(run: jobs.JobRun) -> dict[str, Any]:
    """Run a SEND_KIND job: send the message's queued deliveries (see the module)."""
    sessions, settings = run.runtime.sessions, run.runtime.settings
    message_id = uuid.UUID(run.params["message_id"])
    async with sessions() as session:
        message = await session.get(Message, message_id)
        version = None if message is None else await session.get(MessageVersion, message.latest_version_id)
    if message is None or version is None:
        raise jobs.JobFailed("MESSAGE_GONE", "The message was deleted before it was sent", retryable=False)
    channel = MessageChannel(message.channel)
    unknown = await _fail_unresolved(sessions, message_id, claimed=True)
    missing = missing_settings(settings, channel)
    if missing:
        raise jobs.JobFailed("NOT_CONFIGURED", f"Set {', '.join(missing)} to send", retryable=False)
    email = EmailSender(settings) if channel is MessageChannel.EMAIL else None
    sms = SmsSender(settings) if channel is MessageChannel.SMS else None
    sent = failed = retry = 0
    last_error: str | None = None
    try:
        while True:
            claimed = await _claim(sessions, message_id, channel)
            if not claimed:
                break
            statements = []
            for row in claimed:
                if email is not None:
                    link = unsubscribe_url(settings, contact_id=row.contact_id, campaign_id=message.organization_id)
                    assert link is not None  # PUBLIC_BASE_URL is one of the email settings
                    outcome = await email.send(
                        delivery_id=row.id,
                        to=row.recipient,
                        subject=message.title,
                        text=version.body,
                        unsubscribe_url=link,
                    )
                else:
                    assert sms is not None
                    callback = callback_url(settings, TWILIO_WEBHOOK, delivery=str(row.id))
                    outcome = await sms.send(to=row.recipient, text=version.body, status_callback=callback)
                if outcome.provider_message_id is not None:
                    sent += 1
                elif outcome.transient:
                    retry += 1
                    last_error = outcome.error
                else:
                    failed += 1
                statements.append(_resolved(row.id, outcome))
            await _update(sessions, *statements, announce=message)
            if retry:
                break  # a provider in trouble: the job's retry comes back later for the rest
    finally:
        for sender in (email, sms):
            if sender is not None:
                await sender.close()
    if retry:
        if run.attempt >= settings.job_max_retries + 1:
            failed += await _fail_unresolved(sessions, message_id, claimed=False, announce=message)
            return {"sent": sent, "failed": failed + unknown, "gaveUp": True}
        await run.progress(0.5, f"{sent} sent; the provider failed for {retry}: retrying")
        raise jobs.JobFailed("PROVIDER_UNAVAILABLE", last_error or "The provider failed", retryable=True)
    return {"sent": sent, "failed": failed + unknown}


# ------------------------------------------------------------------------------ statuses


def _at(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return utcnow()


def advance(delivery: MessageDelivery, status: DeliveryStatus, at: datetime, *, error: str | None = None) -> bool:
    """Apply a provider's word on a delivery (see the module); True if anything changed."""
    before = (delivery.status, delivery.sent_at, delivery.delivered_at, delivery.opened_at, delivery.clicked_at)
    current = DeliveryStatus(delivery.status)
    if current is DeliveryStatus.SKIPPED:
        return False
    if status is not DeliveryStatus.QUEUED:
        delivery.sent_at = delivery.sent_at or at
    if status in (DeliveryStatus.DELIVERED, DeliveryStatus.OPENED, DeliveryStatus.CLICKED):
        delivery.delivered_at = delivery.delivered_at or at
    if status in (DeliveryStatus.OPENED, DeliveryStatus.CLICKED):
        delivery.opened_at = delivery.opened_at or at
    if status is DeliveryStatus.CLICKED:
        delivery.clicked_at = delivery.clicked_at or at
    if RANK[status] > RANK[current]:
        delivery.status = status.value
        if status in (DeliveryStatus.FAILED, DeliveryStatus.BOUNCED):
            delivery.failed_at = delivery.failed_at or at
            delivery.error = (error or status.value)[:1000]
    after = (delivery.status, delivery.sent_at, delivery.delivered_at, delivery.opened_at, delivery.clicked_at)
    if before != after:
        delivery.updated_at = utcnow()
        return True
    return False


async def _delivery(
    session: AsyncSession, provider: DeliveryProvider, *, delivery_id: Any, provider_message_id: str | None
) -> MessageDelivery | None:
    """The delivery an event names: by our id (which the provider echoes), else by the provider's id."""
    condition: sa.ColumnElement[bool] | None = None
    try:
        if delivery_id:
            condition = MessageDelivery.id == uuid.UUID(str(delivery_id))  # type: ignore[assignment]
    except ValueError:
        condition = None
    if condition is None:
        if not provider_message_id:
            return None
        condition = MessageDelivery.provider_message_id == provider_message_id  # type: ignore[assignment]
    statement = (
        sa.select(MessageDelivery)
        .where(condition, MessageDelivery.provider == provider.value)  # type: ignore[arg-type]
        .with_for_update()
    )
    found = (await session.execute(statement)).scalar_one_or_none()
    if found is None:
        return None
    if provider_message_id and found.provider_message_id not in (None, provider_message_id):
        return None  # our id with another message's: not this delivery's event
    if provider_message_id and found.provider_message_id is None:
        if len(provider_message_id) > 200:
            return None
        found.provider_message_id = provider_message_id  # its callback came before the job recorded it
    return found


def _publish_changed(session: AsyncSession, changed: Iterable[MessageDelivery]) -> None:
    for organization_id, message_id in {(d.organization_id, d.message_id) for d in changed}:
        publish_after_commit(session, organization_channel(organization_id), _event(organization_id, message_id))


SENDGRID_STATUSES = {
    "delivered": DeliveryStatus.DELIVERED,
    "open": DeliveryStatus.OPENED,
    "click": DeliveryStatus.CLICKED,
    "bounce": DeliveryStatus.BOUNCED,
    "dropped": DeliveryStatus.FAILED,
}
SENDGRID_OPT_OUTS = {"unsubscribe", "group_unsubscribe", "spamreport"}


async def handle_sendgrid_events(session: AsyncSession, delivery: VerifiedDelivery) -> None:
    """The handler of `POST /webhooks/akashic/sendgrid` (a signed batch of events). Events of
    other messages of the account (no delivery of ours) and other kinds (processed, deferred)
    are acknowledged and ignored."""
    changed: list[MessageDelivery] = []
    for event in delivery.payload["events"]:
        kind = event.get("event")
        status = SENDGRID_STATUSES.get(kind) if isinstance(kind, str) else None
        if status is None and kind not in SENDGRID_OPT_OUTS:
            continue
        sg_message_id = event.get("sg_message_id")
        provider_id = sg_message_id.split(".", 1)[0] if isinstance(sg_message_id, str) and sg_message_id else None
        found = await _delivery(
            session, DeliveryProvider.SENDGRID, delivery_id=event.get(DELIVERY_ARG), provider_message_id=provider_id
        )
        if found is None:
            continue
        at = _at(event.get("timestamp"))
        if status is None:
            email = event.get("email")
            await opt_out_email(session, campaign_id=found.organization_id, email=str(email or found.recipient), at=at)
            continue
        reason = event.get("reason") or event.get("response")
        if advance(found, status, at, error=None if reason is None else f"SendGrid {kind}: {reason}"):
            changed.append(found)
    await session.flush()
    _publish_changed(session, changed)


TWILIO_STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.OPENED,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}


async def handle_twilio_status(session: AsyncSession, delivery: VerifiedDelivery) -> None:
    """The handler of `POST /webhooks/akashic/twilio?delivery=<id>` (a message's status callback;
    the URL, signed with the form, names our delivery). Interim statuses (queued, sending) and
    callbacks of no delivery of ours are acknowledged and ignored."""
    form: Mapping[str, str] = delivery.payload["form"]
    query: Mapping[str, str] = delivery.payload["query"]
    status = TWILIO_STATUSES.get(form.get("MessageStatus", ""))
    sid = form.get("MessageSid") or form.get("SmsSid")
    if status is None or not sid:
        return
    found = await _delivery(
        session, DeliveryProvider.TWILIO, delivery_id=query.get("delivery"), provider_message_id=sid
    )
    if found is None:
        return
    code = form.get("ErrorCode")
    error = f"Twilio {form.get('MessageStatus')}" + (f" (error {code})" if code else "")
    if advance(found, status, utcnow(), error=error):
        await session.flush()
        _publish_changed(session, [found])


async def handle_twilio_inbound(session: AsyncSession, delivery: VerifiedDelivery) -> None:
    """The handler of `POST /webhooks/akashic/twilio/inbound` (Twilio's incoming-message webhook
    of the sender number): STOP, STOPALL, UNSUBSCRIBE, CANCEL, END or QUIT opts the number's
    contacts out of SMS, START or UNSTOP back in (`contacts.sms_keyword`); any other text is
    acknowledged and ignored."""
    form: Mapping[str, str] = delivery.payload["form"]
    sender, body = form.get("From"), form.get("Body")
    if not sender or body is None:
        return
    changed = await sms_keyword(session, phone=sender, body=body, at=utcnow())
    if changed is not None:
        logger.info("an SMS %s keyword from a contact's number", "opt-out" if changed else "opt-in")


# --------------------------------------------------------------------------------- stats


def stats_values(deliveries: Any) -> dict[str, sa.ColumnElement[Any]]:
    """A message's delivery counts over `deliveries` (its rows), by field (`MessageDeliveryStats`'
    attribute; the GraphQL name is its camel case)."""
    d = deliveries.c
    count = sa.func.count
    return {
        "recipients": count().filter(d.status != DeliveryStatus.SKIPPED.value),
        "queued": count().filter(d.status == DeliveryStatus.QUEUED.value),
        "sent": count().filter(d.sent_at.is_not(None)),
        "delivered": count().filter(d.delivered_at.is_not(None)),
        "opened": count().filter(d.opened_at.is_not(None)),
        "clicked": count().filter(d.clicked_at.is_not(None)),
        "failed": count().filter(d.status.in_((DeliveryStatus.FAILED.value, DeliveryStatus.BOUNCED.value))),
        "opted_out": count().filter(d.status == DeliveryStatus.SKIPPED.value),
    }


STATS_FIELDS = tuple(stats_values(_deliveries))


@functools.cache
def stats_shape() -> Shape:
    """One grouped statement for the delivery counts of many messages (`ids`), each delivery read
    through its table's policy (built on first use: the policy's roles are known once every kind
    of organization is registered)."""
    values = stats_values(_deliveries)
    return Shape(
        sa.select(_deliveries.c.message_id.label("key"), *(value.label(name) for name, value in values.items()))
        .where(
            readable(_deliveries, table=MessageDelivery),
            _deliveries.c.message_id == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.Uuid()))),
        )
        .group_by(_deliveries.c.message_id)
    )
