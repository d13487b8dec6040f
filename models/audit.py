"""The audit trail: one row per row a mutation created, changed or deleted (services/audit.py).

A row is written once, in the transaction of the change it records, and never changed: a
trigger refuses UPDATE, DELETE and TRUNCATE on the table (the migration creates it), and the API
has no mutation for it. Nothing here is a foreign key: an event outlives the user it concerns
and the user who acted, and the row it names (a deleted task's `delete` event stays).

What the values of a change may never show is declared per model, next to it, with `redact`;
as a safety net, any column whose name holds password, secret, token or hash is redacted too.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from core.access import AUDIT_READ, OWNED, AnyOf, Members, declare, table_of
from core.context import ActorKind
from models.base import one_of
from models.organizations import Membership

MEMBERSHIPS_TABLE: sa.Table = Membership.__table__  # type: ignore[attr-defined]


class AuditActorKind(StrEnum):
    """`core.context.ActorKind`, and nobody (a change made before anyone signed in)."""

    USER = ActorKind.USER.value
    API_CLIENT = ActorKind.API_CLIENT.value
    WEBHOOK = ActorKind.WEBHOOK.value
    SYSTEM = ActorKind.SYSTEM.value
    ANONYMOUS = "anonymous"


class AuditOperation(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (
        # A user's trail and an organization's, newest first (keyset on (at, id)).
        sa.Index("ix_audit_events_user_at", "user_id", "at", "id"),
        sa.Index(
            "ix_audit_events_organization_at",
            "organization_id",
            "at",
            "id",
            postgresql_where=sa.text("organization_id IS NOT NULL"),
        ),
        sa.Index("ix_audit_events_target", "target_table", "target_id"),
        one_of("actor_kind", [k.value for k in AuditActorKind], "actor_kind"),
    )

    #: Time-ordered (UUIDv7): the events of one transaction share `at`, and sort in their order.
    id: uuid.UUID = Field(primary_key=True)
    #: When the change was made: its transaction's time.
    at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))
    actor_kind: str = Field(max_length=16, nullable=False)
    #: The acting user (kind `user`).
    actor_user_id: uuid.UUID | None = Field(default=None)
    #: An API client's organization (kind `api_client`).
    actor_organization_id: uuid.UUID | None = Field(default=None)
    #: What the actor is beyond an id: an API client's id, a webhook's provider, a job's name,
    #: or how a user proved who they are in this mutation (`password`, `refresh_token`).
    actor_label: str | None = Field(default=None, max_length=200)
    #: The user the changed row belongs to (the row's `user_id`, or the user's own id for `users`).
    user_id: uuid.UUID | None = Field(default=None)
    #: The organization the changed row belongs to, when it has one.
    organization_id: uuid.UUID | None = Field(default=None)
    #: The model and the operation: `Task.update`.
    action: str = Field(max_length=100, nullable=False)
    #: The GraphQL mutation field that made the change (`updateTask`), if one did.
    operation: str | None = Field(default=None, max_length=100)
    target_table: str = Field(max_length=63, nullable=False)
    #: The changed row's primary key, as text.
    target_id: str = Field(max_length=200, nullable=False)
    #: Column -> {"before": value, "after": value}, JSON values (uuids, times, enums as strings);
    #: the columns of a created row with `before` null, of a deleted one with `after` null.
    changes: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default="{}")
    )
    #: The request's id (`X-Request-ID`), to find the request in the logs.
    request_id: str | None = Field(default=None, max_length=200)


# Read policy (core.access): a user reads the events about their own rows. Organization admins
# will read their organization's too: AnyOf(Owned(), Members(memberships, roles=...)).
# A user reads the events about their own data; an organization's members whose role holds
# `audit.read` read the events about the organization's.
declare(AuditEvent, AnyOf(OWNED, Members(MEMBERSHIPS_TABLE, permission=AUDIT_READ)))


# ----------------------------------------------------------------------------- redaction

#: What a redacted value reads as in `changes`.
REDACTED = "[redacted]"
#: The safety net: a column whose name holds one of these is always redacted.
SECRET_NAME = re.compile(r"password|secret|token|hash", re.IGNORECASE)

_REDACTED_COLUMNS: dict[str, frozenset[str]] = {}


def redact(model: Any, *columns: str) -> None:
    """Declare that the audit trail never shows the values of these columns of `model`."""
    table = table_of(model)
    unknown = sorted(set(columns) - set(table.c.keys()))
    if unknown:
        raise ValueError(f"{table.name} has no column {', '.join(unknown)} to redact")
    _REDACTED_COLUMNS[table.name] = _REDACTED_COLUMNS.get(table.name, frozenset()) | frozenset(columns)


def is_redacted(table_name: str, column: str) -> bool:
    """Whether the audit trail hides this column's values (declared, or named like a secret)."""
    return column in _REDACTED_COLUMNS.get(table_name, frozenset()) or SECRET_NAME.search(column) is not None
