"""The audit trail in the graph: `AuditEvent` nodes and `viewer.auditTrail`, declared once with the
kit (schema/kit.py), so the loaders and the one-statement SQL form both read them.

No mutation writes or changes an event: they are written by the mutations whose changes they
record (services/audit.py), and the database refuses to change or delete them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
import strawberry
from strawberry.scalars import JSON

from core.errors import ClientError
from core.filters import Filter, FilterField, any_of, array_of
from core.relay import InvalidGlobalId, from_global_id, parse_global_id, to_global_id
from core.sqljson import Derived, Row, global_id
from models import audit as m
from schema import kit
from schema.common import Connection, Node, order_enum
from schema.viewer_base import ViewerBase
from services.audit import AUDIT_SORTS
from services.inputs import as_utc

TIME = sa.DateTime(timezone=True)


@strawberry.enum(description="Who made a change.")
class AuditActorKind(Enum):
    USER = strawberry.enum_value(m.AuditActorKind.USER.value, description="A signed-in user.")
    API_CLIENT = strawberry.enum_value(
        m.AuditActorKind.API_CLIENT.value, description="A partner's API client, for its organization."
    )
    WEBHOOK = strawberry.enum_value(m.AuditActorKind.WEBHOOK.value, description="A verified webhook sender.")
    SYSTEM = strawberry.enum_value(m.AuditActorKind.SYSTEM.value, description="The service itself (a job, cron).")
    ANONYMOUS = strawberry.enum_value(m.AuditActorKind.ANONYMOUS.value, description="Nobody signed in.")


AuditEventOrderBy = order_enum("AuditEventOrderBy", AUDIT_SORTS, "audit events")


# ----------------------------------------------------------------------------- ids


@functools.cache
def node_tables() -> Mapping[str, str]:
    """Table name -> node type key, for every registered node type read from a table."""
    from products import REGISTRY  # here: the registrations import this module

    return REGISTRY.node_tables


def _target_id_python(row: Any) -> str | None:
    key = node_tables().get(row.target_table)
    return None if key is None else to_global_id(key, row.target_id)


def _target_id_sql(row: Row) -> sa.ColumnElement[Any]:
    cases = [(row.c.target_table == name, global_id(key, row.c.target_id)) for name, key in node_tables().items()]
    return sa.case(*cases, else_=sa.null())


#: The changed object's global ID, when its table is a node type's.
TARGET_ID = Derived(python=_target_id_python, sql=_target_id_sql)
#: The acting user's global ID.
ACTOR_USER_ID = Derived(
    python=lambda row: None if row.actor_user_id is None else to_global_id("User", row.actor_user_id),
    sql=lambda row: global_id("User", row.c.actor_user_id),
)


# ----------------------------------------------------------------------------- filter


@strawberry.input(description="Conditions on audit events; all given ones must hold.")
class AuditEventFilterInput:
    actor_kind: list[AuditActorKind] | None = strawberry.field(default=None, description="Any of these actor kinds.")
    actor_user: strawberry.ID | None = strawberry.field(default=None, description="Made by this user (a `User` ID).")
    actor_label: str | None = strawberry.field(
        default=None, description="Made by the actor of this label (an API client's id, a job's name...)."
    )
    target: strawberry.ID | None = strawberry.field(default=None, description="Changes of this object (its ID).")
    action: list[str] | None = strawberry.field(default=None, description="Any of these actions, e.g. `Task.update`.")
    from_: datetime | None = strawberry.field(default=None, name="from", description="Made at or after this time.")
    to: datetime | None = strawberry.field(default=None, description="Made before this time.")


def _actor_user(value: str) -> Any:
    try:
        return parse_global_id(value, "User")
    except InvalidGlobalId as exc:
        raise ClientError("`filter.actorUser` is not the ID of a User", "INVALID_ID", argument="filter") from exc


def _is_target(c: Any, value: Any) -> sa.ColumnElement[bool]:
    # One bound value, "table:key" (a table's name holds no colon).
    key = sa.func.substr(value, sa.func.strpos(value, ":") + 1)
    return sa.and_(c.target_table == sa.func.split_part(value, ":", 1), c.target_id == key)


def _target(value: str) -> str:
    try:
        key, pk = from_global_id(value)
    except InvalidGlobalId as exc:
        raise ClientError("`filter.target` is not a global ID", "INVALID_ID", argument="filter") from exc
    tables = {key: name for name, key in node_tables().items()}
    if key not in tables:
        raise ClientError("`filter.target` is not the ID of an object", "INVALID_ID", argument="filter")
    return f"{tables[key]}:{pk}"


def _texts(values: list[str]) -> tuple[str, ...] | None:
    cleaned = tuple(sorted({value.strip() for value in values if value.strip()}))
    return cleaned or None


def _text(value: str) -> str | None:
    return value.strip() or None


AUDIT_FILTER = Filter(
    (
        FilterField("actor_kind", lambda c, v: c.actor_kind == sa.any_(v), array_of(sa.String()), any_of),
        FilterField("actor_user", lambda c, v: c.actor_user_id == v, sa.Uuid(), _actor_user),
        FilterField("actor_label", lambda c, v: c.actor_label == v, sa.Text(), _text),
        FilterField("target", _is_target, sa.Text(), _target),
        FilterField("action", lambda c, v: c.action == sa.any_(v), array_of(sa.String()), _texts),
        FilterField("from_", lambda c, v: c.at >= v, TIME, as_utc),
        FilterField("to", lambda c, v: c.at < v, TIME, as_utc),
    ),
    input=AuditEventFilterInput,
)


# ----------------------------------------------------------------------------- types


@kit.node(
    model=m.AuditEvent,
    key="AuditEvent",
    description="One change to one object: who made it, when, through which mutation, and the values before and "
    "after. Written by the change itself; never changed or deleted.",
)
class AuditEvent(Node, kit.FromRow):
    at: datetime = kit.column(description="When the change was made (the time of its transaction).")
    actor_kind: AuditActorKind = kit.column(description="Who made it.")
    actor_user_id: strawberry.ID | None = kit.expression(
        ACTOR_USER_ID, description="The user who made it (a `User` ID), when a user did."
    )
    actor_label: str | None = kit.column(
        description="What the actor is beyond an id: an API client's id, a job's name, or how the user proved who "
        "they are in this mutation (`password`, `refresh_token`)."
    )
    action: str = kit.column(description="The kind of object and what happened to it, e.g. `Task.update`.")
    operation: str | None = kit.column(description="The mutation that made the change, e.g. `updateTask`.")
    target_table: str = kit.column(description="Where the changed object is stored, e.g. `tasks`.")
    target_key: str = kit.column(name="target_id", description="The changed object's key in `targetTable`.")
    target_id: strawberry.ID | None = kit.expression(
        TARGET_ID, description="The changed object's ID, for `node(id:)`; null when it is not a node type."
    )
    changes: JSON = kit.column(
        description='Per changed field, `{"before": …, "after": …}` (all the fields of a created or deleted '
        'object, with `before` or `after` null); secrets read "[redacted]".'
    )
    request_id: str | None = kit.column(description="The id of the request that made the change (`X-Request-ID`).")


@kit.viewer_fields(description="The signed-in user's audit trail.")
class AuditViewerFields(ViewerBase):
    audit_trail: Connection[AuditEvent] = kit.children(
        "user_id",
        order=AuditEventOrderBy.TIME_DESC,
        filter=AUDIT_FILTER,
        description="Every change made to the viewer's data, newest first: who made it, when, and what changed.",
    )
