"""Scheduled messages go out at their time (`send_due_messages`, the periodic task
`akashic.send_due_messages` on the cron `AKASHIC_SEND_SCHEDULE`, every minute by default).

Each email or SMS message whose `scheduledFor` has come is sent as `sendMessage` sends it
(`services.akashic.sending.send_message`), by the staff member who scheduled it, under their
permission as it stands now: their deliveries, their job, their name on the move to sent and in
the audit trail. One message per transaction, its row locked, so a message is sent once however
many workers run the task (a second finds it sent and leaves it).

A due message that can't go out is not retried every minute: it goes back to approved, by the
system, with the reason as the move's note (who scheduled it left the staff or lost
`messages.send`, the provider is not configured, nobody in its audience can receive it), where the
staff see it (`Message.transitions`, `campaignMessageChanges`). A speech, a press release or a
social post is not ours to send: it stays scheduled until someone marks it sent.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor, AuditScope, run_in_transaction
from core.errors import DomainError
from models.akashic import Message, MessageStatus, MessageTransition
from services.akashic import messages as workflow
from services.akashic.sending import PROVIDERS, send_message
from services.jobs import JobRuntime

logger = logging.getLogger(__name__)

SEND_DUE_TASK = "akashic.send_due_messages"
#: Scheduled messages one run sends at most (the next run takes the rest).
BATCH = 100

_messages = Message.__table__  # type: ignore[attr-defined]
_transitions = MessageTransition.__table__  # type: ignore[attr-defined]


def _due(at: datetime) -> sa.Select[Any]:
    """The due email and SMS messages, soonest first, with who scheduled each (their last move
    to scheduled: a message is scheduled again after changes)."""
    scheduler = (
        sa.select(_transitions.c.actor_id)
        .where(_transitions.c.message_id == _messages.c.id, _transitions.c.to_status == MessageStatus.SCHEDULED.value)
        .order_by(_transitions.c.at.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        sa.select(_messages.c.id, scheduler)
        .where(
            _messages.c.status == MessageStatus.SCHEDULED.value,
            _messages.c.scheduled_for <= at,
            _messages.c.channel.in_([channel.value for channel in PROVIDERS]),
        )
        .order_by(_messages.c.scheduled_for, _messages.c.id)
        .limit(BATCH)
    )


async def _send(runtime: JobRuntime, message_id: uuid.UUID, scheduler: Actor) -> None:
    async def work(session: AsyncSession) -> None:
        await send_message(session, actor=scheduler, settings=runtime.settings, message_id=message_id)

    await run_in_transaction(runtime.sessions, work, audit=AuditScope(scheduler, operation=SEND_DUE_TASK))


async def _back_to_approved(runtime: JobRuntime, message_id: uuid.UUID, reason: str) -> bool:
    system = Actor.system(SEND_DUE_TASK)

    async def work(session: AsyncSession) -> bool:
        message = await session.get(Message, message_id, with_for_update=True, populate_existing=True)
        if message is None or message.status != MessageStatus.SCHEDULED.value:
            return False  # sent or changed since
        note = f"Not sent at its scheduled time: {reason}"[:1000]
        workflow._move(
            session,
            message,
            system,
            (MessageStatus.SCHEDULED,),
            MessageStatus.APPROVED,
            doing="returned to approved",
            note=note,
        )
        await session.flush()
        return True

    return await run_in_transaction(runtime.sessions, work, audit=AuditScope(system, operation=SEND_DUE_TASK))


async def send_due_messages(runtime: JobRuntime, at: datetime) -> int:
    """Send the scheduled email and SMS messages whose time has come; returns how many went out."""
    async with runtime.sessions() as session:
        due = list((await session.execute(_due(at))).all())
    sent = 0
    for message_id, scheduler_id in due:
        if scheduler_id is None:  # the account that scheduled it is gone
            await _back_to_approved(runtime, message_id, "the account that scheduled it no longer exists")
            continue
        try:
            await _send(runtime, message_id, Actor(user_id=scheduler_id, role="user"))
        except workflow.InvalidTransition:
            continue  # sent, or moved, by someone else since it was read
        except DomainError as error:
            logger.info("scheduled message %s was not sent: %s", message_id, error.message)
            await _back_to_approved(runtime, message_id, error.message)
            continue
        sent += 1
    return sent
