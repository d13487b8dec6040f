"""Trusted documents: the GraphQL documents an API client (or our own first-party apps) may run by
id, registered from a manifest (GraphQL Code Generator's `persisted-documents.json`, Relay's
persisted queries), with the schema they were validated against and their usage.

A client's documents belong to its organization (the read policy: the roles holding
`api_clients.manage`); first-party documents (no client, no organization) are read by the system
only: the server itself, the `documents` commands.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from core import access
from models.base import created_at_field, id_field, timestamp_field
from models.organizations import Membership

#: The longest document id kept (`sha256:` and 64 hex digits is 71; Relay's md5 ids are 32).
MAX_DOCUMENT_ID = 200


class SchemaVersion(SQLModel, table=True):
    """An SDL the server had when a document was registered, by its SHA-256 (hex): what
    `documents check` compares the current schema with."""

    __tablename__ = "schema_versions"

    sdl_hash: str = Field(primary_key=True, max_length=64)
    sdl: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = created_at_field()


class TrustedDocument(SQLModel, table=True):
    __tablename__ = "trusted_documents"
    __table_args__ = (
        sa.UniqueConstraint("api_client_id", "document_id"),
        # First-party documents (no client) are unique by their id among themselves.
        sa.Index(
            "uq_trusted_documents_first_party_document_id",
            "document_id",
            unique=True,
            postgresql_where=sa.text("api_client_id IS NULL"),
        ),
        sa.CheckConstraint("(api_client_id IS NULL) = (organization_id IS NULL)", name="client_organization"),
        sa.CheckConstraint("length(document_id) > 0", name="document_id"),
    )

    id: uuid.UUID = id_field()
    #: The client whose document it is; NULL: first-party (our own apps, for users' requests).
    api_client_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("api_clients.id", ondelete="CASCADE"), nullable=True),
    )
    #: The client's organization (its read policy); NULL with the client.
    organization_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True),
    )
    #: The id the manifest gives it (`sha256:<hex>`, a Relay id), as requests name it.
    document_id: str = Field(max_length=MAX_DOCUMENT_ID, nullable=False)
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    #: Its operations' names (an anonymous one as the empty string).
    operation_names: list[str] = Field(
        default_factory=list, sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False, server_default="{}")
    )
    #: The schema it was validated against at registration.
    sdl_hash: str = Field(sa_column=sa.Column(sa.String(64), sa.ForeignKey("schema_versions.sdl_hash"), nullable=False))
    created_at: datetime = created_at_field()
    #: Usage, flushed from each process's memory (services/trusted_documents.py).
    use_count: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    last_used_at: datetime | None = timestamp_field()
    #: Requests per latency bucket (`core.documents.LATENCY_BOUNDS_MS`), for the p95.
    latency_buckets: list[int] = Field(
        default_factory=list, sa_column=sa.Column(postgresql.ARRAY(sa.BigInteger), nullable=False, server_default="{}")
    )


_memberships = Membership.__table__  # type: ignore[attr-defined]

access.declare(TrustedDocument, access.Members(_memberships, permission=access.MANAGE_CLIENTS))
