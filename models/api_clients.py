"""API clients: a partner's application, which belongs to an organization and acts for it (the
actor kind `api_client`), with the scopes it may use and its policy on documents.

Its keys (`ApiClientKey`) authenticate it: several during a rotation's grace period, each
revocable; the trusted documents it may run are kept beside it (issue "Partners").
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from core import access
from models.audit import redact
from models.base import created_at_field, id_field, one_of, timestamp_field
from models.organizations import Membership

#: Trusted documents only (the default), or any document.
DOCUMENT_POLICIES = ("trusted", "any")
#: A scope: a product's name and what it may do there (`aurum:read`, `organizations:write`).
SCOPE_PATTERN = r"^[a-z][a-z0-9_]*:(read|write)$"


class ApiClient(SQLModel, table=True):
    __tablename__ = "api_clients"
    __table_args__ = (
        sa.UniqueConstraint("organization_id", "name"),
        # The target of its keys' composite foreign key: a key belongs to its client's organization.
        sa.UniqueConstraint("id", "organization_id"),
        one_of("document_policy", DOCUMENT_POLICIES, "document_policy"),
        sa.CheckConstraint("length(btrim(name)) > 0", name="name"),
    )

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    )
    name: str = Field(max_length=100, nullable=False)
    scopes: list[str] = Field(
        default_factory=list, sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False, server_default="{}")
    )
    document_policy: str = Field(default="trusted", max_length=16, nullable=False)
    created_by: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    )
    created_at: datetime = created_at_field()
    last_used_at: datetime | None = timestamp_field()
    revoked_at: datetime | None = timestamp_field()


class ApiClientKey(SQLModel, table=True):
    """One secret key of a client: shown once when made, stored as its keyed hash (HMAC-SHA256
    with API_KEY_SECRET, `core.api_keys`). A client has several while a rotation's grace lasts."""

    __tablename__ = "api_client_keys"
    __table_args__ = (
        # The key's organization is its client's (the read policy and row-level security read it).
        sa.ForeignKeyConstraint(
            ["client_id", "organization_id"],
            ["api_clients.id", "api_clients.organization_id"],
            ondelete="CASCADE",
            name="fk_api_client_keys_client_id_organization_id_api_clients",
        ),
        sa.Index("ix_api_client_keys_client_id", "client_id"),
    )

    id: uuid.UUID = id_field()
    client_id: uuid.UUID = Field(nullable=False)
    organization_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    )
    #: The key's first characters (`qnt_` and 8 more), to tell keys apart; never enough to use one.
    prefix: str = Field(max_length=16, nullable=False)
    #: HMAC-SHA256 of the whole key under API_KEY_SECRET (unique: the look-up's index).
    key_hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False, unique=True))
    created_by: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    )
    created_at: datetime = created_at_field()
    #: After this the key is refused (a rotated key's grace period ends); None: no end.
    expires_at: datetime | None = timestamp_field()
    revoked_at: datetime | None = timestamp_field()
    #: Updated at most once a minute per key and process (`services.api_clients.touch`).
    last_used_at: datetime | None = timestamp_field()


_memberships = Membership.__table__  # type: ignore[attr-defined]

access.declare(ApiClient, access.Members(_memberships, permission=access.MANAGE_CLIENTS))
access.declare(ApiClientKey, access.Members(_memberships, permission=access.MANAGE_CLIENTS))
# The audit trail never shows a key's hash (its name says so too).
redact(ApiClientKey, "key_hash")
