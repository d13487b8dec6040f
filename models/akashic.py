"""Akashic's campaigns and their messages under version control.

A campaign is an organization of kind `campaign` (`services.akashic.CAMPAIGN`) plus its details,
in `campaigns`, keyed by the organization's id. Its messages keep every saved version (never
changed once written) and every workflow transition. Every row is read by the campaign's members
(one read policy per table, below; Postgres's row-level security is the second wall), and every
child row carries its campaign's id under a composite foreign key to its parent's `(id,
organization_id)`, so a version or a transition can't name a message of another campaign.

The versions of a message form one line: each new version's parent is the message's latest, so
`(message_id, number)` and `parent_version_id` are unique: two saves on the same base version
can't both be written, whatever the application does (the second wall under the row lock that
`services.akashic.messages` takes).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from core import access
from models.base import created_at_field, id_field, one_of, timestamp_field
from models.organizations import Membership
from services.akashic import MESSAGES_READ


class MessageChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    SOCIAL_POST = "social_post"
    SPEECH = "speech"
    PRESS_RELEASE = "press_release"


class MessageStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    SENT = "sent"


def _user_reference() -> uuid.UUID | None:
    """Who did it; a deleted account leaves NULL behind (the work stays the campaign's)."""
    return Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    )


def _campaign_reference() -> uuid.UUID:
    return Field(sa_column=sa.Column(sa.Uuid, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False))


class Campaign(SQLModel, table=True):
    """A campaign's details; its `id` is its organization's."""

    __tablename__ = "campaigns"
    __table_args__ = (
        sa.CheckConstraint("election_cycle BETWEEN 1788 AND 9999", name="election_cycle"),
        sa.CheckConstraint("length(trim(office)) > 0", name="office"),
        sa.CheckConstraint("fec_committee_id ~ '^C[0-9]{8}$'", name="fec_committee_id"),
    )

    id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    )
    office: str = Field(max_length=200, nullable=False)
    jurisdiction: str = Field(max_length=200, nullable=False)
    election_date: date = Field(sa_type=sa.Date, nullable=False)
    party: str | None = Field(default=None, max_length=120)
    election_cycle: int = Field(nullable=False)
    #: Its FEC committee id (`C` and 8 digits): the filer id of its FEC reports; None until set.
    fec_committee_id: str | None = Field(default=None, max_length=9)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Message(SQLModel, table=True):
    """A campaign's message; its text lives in its versions (`latest_version_id` names the newest,
    one of its own by the composite foreign key)."""

    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("id", "organization_id"),
        sa.Index("ix_messages_organization_created", "organization_id", "created_at"),
        one_of("channel", [c.value for c in MessageChannel], "channel"),
        one_of("status", [s.value for s in MessageStatus], "status"),
        sa.CheckConstraint("(status = 'scheduled') = (scheduled_for IS NOT NULL)", name="scheduled_for"),
        sa.ForeignKeyConstraint(
            ["latest_version_id", "id"],
            ["message_versions.id", "message_versions.message_id"],
            use_alter=True,
            name="fk_messages_latest_version_id_message_versions",
        ),
    )

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID = _campaign_reference()
    title: str = Field(max_length=200, nullable=False)
    channel: str = Field(max_length=16, nullable=False)
    audience_segments: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    paid: bool = Field(default=False, nullable=False)
    status: str = Field(default=MessageStatus.DRAFT.value, max_length=16, nullable=False)
    latest_version_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid, nullable=True))
    scheduled_for: datetime | None = timestamp_field()
    sent_at: datetime | None = timestamp_field()
    created_by: uuid.UUID | None = _user_reference()
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class MessageVersion(SQLModel, table=True):
    """One saved text of a message, never changed once written."""

    __tablename__ = "message_versions"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["message_id", "organization_id"], ["messages.id", "messages.organization_id"], ondelete="CASCADE"
        ),
        sa.UniqueConstraint("message_id", "number"),
        sa.UniqueConstraint("id", "message_id"),
        # One line of versions: no version has two children (two saves on one base).
        sa.UniqueConstraint("parent_version_id"),
        sa.CheckConstraint("number >= 1", name="number"),
        sa.CheckConstraint("(number = 1) = (parent_version_id IS NULL)", name="parent"),
    )

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    message_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    number: int = Field(nullable=False)
    parent_version_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("message_versions.id"), nullable=True)
    )
    restored_from_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("message_versions.id"), nullable=True)
    )
    body: str = Field(sa_type=sa.Text, nullable=False)
    summary: str = Field(max_length=500, nullable=False)
    author_id: uuid.UUID | None = _user_reference()
    created_at: datetime = created_at_field()


class MessageTransition(SQLModel, table=True):
    """A move of a message through the workflow: from, to, who and when."""

    __tablename__ = "message_transitions"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["message_id", "organization_id"], ["messages.id", "messages.organization_id"], ondelete="CASCADE"
        ),
        sa.Index("ix_message_transitions_message_at", "message_id", "at"),
        one_of("from_status", [s.value for s in MessageStatus], "from_status"),
        one_of("to_status", [s.value for s in MessageStatus], "to_status"),
    )

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    message_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    from_status: str = Field(max_length=16, nullable=False)
    to_status: str = Field(max_length=16, nullable=False)
    actor_id: uuid.UUID | None = _user_reference()
    note: str | None = Field(default=None, max_length=1000)
    scheduled_for: datetime | None = timestamp_field()
    at: datetime = created_at_field()


_memberships = Membership.__table__  # type: ignore[attr-defined]

# A campaign is read by its members (as its organization is); its messages, their versions and
# their history by the members whose role holds `messages.read` (every campaign role today).
access.declare(Campaign, access.Members(_memberships, column="id"))
access.declare(Message, access.Members(_memberships, permission=MESSAGES_READ))
access.declare(MessageVersion, access.Members(_memberships, permission=MESSAGES_READ))
access.declare(MessageTransition, access.Members(_memberships, permission=MESSAGES_READ))
