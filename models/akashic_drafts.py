"""The Yjs state of each version a co-edited draft saved (`services/akashic/drafts.py`).

A room that opens on such a version starts from this state rather than from the version's text
alone, so that it shares the Yjs history of the rooms still open on other processes and their
updates merge into it without doubling the text. Written once, with its version, in the same
transaction; read as the messages are.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core import access
from models.base import created_at_field
from models.organizations import Membership
from services.akashic import MESSAGES_READ


class MessageDraftState(SQLModel, table=True):
    """The whole Yjs document (`encodeStateAsUpdate`) whose text a co-edited version saved."""

    __tablename__ = "message_draft_states"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["message_id", "organization_id"], ["messages.id", "messages.organization_id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id", "message_id"], ["message_versions.id", "message_versions.message_id"], ondelete="CASCADE"
        ),
    )

    version_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    organization_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    message_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    state: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    created_at: datetime = created_at_field()


_memberships = Membership.__table__  # type: ignore[attr-defined]

# Read as the messages are: by the members whose role holds `messages.read`.
access.declare(MessageDraftState, access.Members(_memberships, permission=MESSAGES_READ))
