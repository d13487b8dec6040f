"""API clients: a partner's application, which belongs to an organization and acts for it (the
actor kind `api_client`), with the scopes it may use and its policy on documents.

The keys that authenticate a client, their rotation and revocation, and the trusted documents it
may run are kept beside it (issue "Partners").
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from core import access
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


_memberships = Membership.__table__  # type: ignore[attr-defined]

access.declare(ApiClient, access.Members(_memberships, permission=access.MANAGE_CLIENTS))
