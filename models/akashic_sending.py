"""Akashic's sending: a campaign's contacts and each message's deliveries to them.

- `akashic_contacts`: the people a campaign writes to: a name, an email (stored in lower case)
  and/or a phone number (E.164), the audience segments they belong to (matched against a
  message's `audience_segments`) and, per channel, when they opted out (never sent to since).
  One contact per email and one per phone number in a campaign.
- `message_deliveries`: one row per recipient of a sent message: the address it went to (the
  contact's at the time), the channel and provider, the provider's message id (unique per
  provider: the webhooks find the row by it), the status and when each step happened. The status
  only moves forward: queued → sent → delivered → opened → clicked, or bounced / failed; or
  skipped, never sent (the contact had opted out of the channel).

Contacts are read by the members whose role holds `contacts.read`; deliveries by every member
who reads the campaign's messages (their statuses make the message's stats), but the address a
delivery went to and the provider's error (which may quote it) only by those who read contacts.
Composite foreign keys keep a delivery's message and contact in its campaign.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from core import access
from models.base import created_at_field, id_field, one_of, timestamp_field
from models.organizations import Membership
from services.akashic import CONTACTS_READ, MESSAGES_READ


class DeliveryChannel(StrEnum):
    """The channels Akashic delivers itself (a message's `email` and `sms`)."""

    EMAIL = "email"
    SMS = "sms"


class DeliveryProvider(StrEnum):
    SENDGRID = "sendgrid"
    TWILIO = "twilio"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    BOUNCED = "bounced"
    FAILED = "failed"
    #: Not sent: the contact had opted out of the channel (when it was sent, or before its turn).
    SKIPPED = "skipped"


class Contact(SQLModel, table=True):
    """A person a campaign writes to, with their segments and opt-outs."""

    __tablename__ = "akashic_contacts"
    __table_args__ = (
        sa.UniqueConstraint("id", "organization_id"),
        sa.UniqueConstraint("organization_id", "email"),
        sa.UniqueConstraint("organization_id", "phone"),
        sa.CheckConstraint("email IS NOT NULL OR phone IS NOT NULL", name="reachable"),
        sa.CheckConstraint("email = lower(email)", name="email_lower"),
        sa.CheckConstraint("phone ~ '^\\+[1-9][0-9]{6,14}$'", name="phone_e164"),
    )

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False)
    )
    name: str = Field(max_length=200, nullable=False)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=16)
    segments: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    email_opted_out_at: datetime | None = timestamp_field()
    sms_opted_out_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class MessageDelivery(SQLModel, table=True):
    """One recipient of a sent message: where it went, through whom, and how far it got."""

    __tablename__ = "message_deliveries"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["message_id", "organization_id"], ["messages.id", "messages.organization_id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id", "organization_id"],
            ["akashic_contacts.id", "akashic_contacts.organization_id"],
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("message_id", "contact_id"),
        sa.UniqueConstraint("provider", "provider_message_id"),
        one_of("channel", [c.value for c in DeliveryChannel], "channel"),
        one_of("provider", [p.value for p in DeliveryProvider], "provider"),
        one_of("status", [s.value for s in DeliveryStatus], "status"),
        # What a provider accepted has its id; a queued row has none yet (a failed one may not).
        sa.CheckConstraint(
            "(status IN ('queued', 'skipped') AND provider_message_id IS NULL) OR status = 'failed' "
            "OR (status NOT IN ('queued', 'skipped') AND provider_message_id IS NOT NULL)",
            name="provider_message_id",
        ),
    )

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    message_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    contact_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    channel: str = Field(max_length=8, nullable=False)
    provider: str = Field(max_length=16, nullable=False)
    #: The email address or phone number it was sent to (the contact's when it was queued).
    recipient: str = Field(max_length=320, nullable=False)
    provider_message_id: str | None = Field(default=None, max_length=200)
    status: str = Field(default=DeliveryStatus.QUEUED.value, max_length=16, nullable=False)
    error: str | None = Field(default=None, max_length=1000)
    #: When a sending job claimed it (set just before the provider is called, cleared if the call
    #: failed in a way that may be retried): a claimed row without a provider id after a crash was
    #: perhaps sent, and is never sent again.
    attempted_at: datetime | None = timestamp_field()
    sent_at: datetime | None = timestamp_field()
    delivered_at: datetime | None = timestamp_field()
    opened_at: datetime | None = timestamp_field()
    clicked_at: datetime | None = timestamp_field()
    failed_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


_memberships = Membership.__table__  # type: ignore[attr-defined]
_CONTACT_READERS = access.Members(_memberships, permission=CONTACTS_READ)

access.declare(Contact, _CONTACT_READERS)
access.declare(
    MessageDelivery,
    access.Members(_memberships, permission=MESSAGES_READ),
    columns={"recipient": _CONTACT_READERS, "error": _CONTACT_READERS},
)
