"""Users and their refresh-token families (shared by all five products)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.access import OWNED, READ_EMAIL, AnyOf, Members, Owned, Referenced, declare
from models.audit import redact
from models.base import created_at_field, id_field, one_of, timestamp_field
from models.organizations import Membership


class Role(StrEnum):
    USER = "user"
    CREATOR = "creator"
    ADMIN = "admin"


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        # Email is unique regardless of case; the column keeps what the user typed.
        sa.Index("uq_users_email_lower", sa.text("lower(email)"), unique=True),
        one_of("role", [r.value for r in Role], "role"),
    )

    id: uuid.UUID = id_field()
    email: str = Field(max_length=320, nullable=False)
    display_name: str = Field(max_length=120, nullable=False)
    purpose: str | None = Field(default=None, max_length=2000)
    offering: str | None = Field(default=None, max_length=2000)
    role: str = Field(default=Role.USER.value, max_length=16, nullable=False)
    password_hash: str = Field(nullable=False)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class RefreshToken(SQLModel, table=True):
    """One refresh token; tokens issued by rotation share the login's `family_id`."""

    __tablename__ = "refresh_tokens"

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    family_id: uuid.UUID = Field(nullable=False, index=True)
    token_hash: str = Field(max_length=64, nullable=False, unique=True)
    created_at: datetime = created_at_field()
    expires_at: datetime = timestamp_field(nullable=False)  # type: ignore[assignment]
    used_at: datetime | None = timestamp_field()
    revoked_at: datetime | None = timestamp_field()


_memberships = Membership.__table__  # type: ignore[attr-defined]
#: Whose rows show a user's account: their own, and their co-members' (a membership they read
#: names them): their id, display name, profile and when they joined.
_SELF = Owned("id")
_CO_MEMBERS = Referenced(_memberships, "user_id")
# Read policies (core.access): a user reads their own row and those of the members of the
# organizations they are in; a member's email is shown to themself and to the members whose role
# holds `members.read_email` in an organization they share, their global role to themself only.
declare(
    User,
    AnyOf(_SELF, _CO_MEMBERS),
    columns={
        "email": AnyOf(_SELF, Referenced(_memberships, "user_id", Members(_memberships, permission=READ_EMAIL))),
        "role": _SELF,
        "password_hash": _SELF,
    },
)
# and their own refresh tokens.
declare(RefreshToken, OWNED)
# The audit trail never shows a password's hash or a refresh token's.
redact(User, "password_hash")
redact(RefreshToken, "token_hash")
