"""The audit trail: every change a mutation makes to someone's rows, written in its transaction.

Which rows: those of the tables that declare a read policy (`core.access.declare`), the audit
trail's own excepted. Whose change: the unit of work's `core.context.AuditScope` (the request's
actor, its request id and the GraphQL mutation field), which `run_unit_of_work` puts in
`session.info`; a unit of work without one (the job worker's own bookkeeping, tests' factories)
records nothing.

How the changes are seen:

- **ORM writes** (what services `add`, change and `delete`, then flush): a `before_flush`
  listener reads each new, changed and deleted object of an audited table, with the values
  before and after from its attribute history (an update records only the columns that changed).
- **Core writes** (an `UPDATE ... RETURNING` over many rows, an upsert, an insert `ON CONFLICT`):
  the service records them itself with `record(...)` next to the statement, from what the
  statement returns, and marks the statement `execution_options(**RECORDED)`. The session's
  `do_orm_execute` event sees such statements too, but not which rows they change nor their
  values before, so it only guards: an INSERT, UPDATE or DELETE on an audited table in an
  audited unit of work that is not so marked is refused with `UnauditedWrite`, and no change
  can silently miss the trail.

The changes of one row within one unit of work merge into one event (created then changed is
one `create` with the final values; created then deleted is nothing). The events are inserted in
one statement at the end of the unit of work (a `core.context.before_commit` callback, after the
last flush and before COMMIT), so a mutation costs one more statement and a rolled-back one leaves
no event. Values are JSON: uuids, times (UTC, ISO 8601) and enums as strings; a redacted column
(`models.audit.redact`, or named like a secret) reads "[redacted]".
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
import uuid6
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState, Mapper, ORMExecuteState, Session
from sqlmodel import SQLModel

from core import access
from core.context import AUDIT_SCOPE, Actor, ActorKind, AuditScope, before_commit
from core.pagination import Sort
from models.audit import REDACTED, AuditActorKind, AuditEvent, AuditOperation, is_redacted
from services.owned import table

AUDIT_EVENTS = table(AuditEvent)

#: Mark a Core write whose change the service records itself: `.execution_options(**RECORDED)`.
RECORDED = {"audit_recorded": True}

#: The `session.info` key of the unit of work's changes not yet written.
PENDING = "audit_pending"

#: The before value of a column that was changed without being loaded first.
NOT_LOADED = "[not loaded]"
#: The after value of a column set to a SQL expression (the database computes it).
COMPUTED = "[set by the database]"

AUDIT_SORTS: dict[str, Sort] = {
    "TIME_DESC": Sort("time_DESC", AUDIT_EVENTS.c.at, datetime, descending=True),
    "TIME_ASC": Sort("time_ASC", AUDIT_EVENTS.c.at, datetime, descending=False),
}


class UnauditedWrite(RuntimeError):
    """A Core write on an audited table that nobody records: a programming error."""


# ----------------------------------------------------------------------------- values


def json_value(value: Any) -> Any:
    """A column's value as the trail stores it (JSON)."""
    if isinstance(value, Enum):
        return json_value(value.value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo is not None else value).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, bytes | bytearray | memoryview):
        return "[binary]"
    if isinstance(value, sa.ClauseElement):
        return COMPUTED
    return str(value)


def _shown(table_name: str, column: str, value: Any) -> Any:
    if value is not None and is_redacted(table_name, column):
        return REDACTED
    return json_value(value)


# ----------------------------------------------------------------------------- changes


@dataclass
class Change:
    """What one unit of work did to one row, merged over its flushes."""

    model: str
    table: sa.Table
    operation: AuditOperation
    target_id: str
    user_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    scope: AuditScope
    #: the columns' values before (the changed ones for an update, all for a delete)
    before: dict[str, Any] = field(default_factory=dict)
    #: and after (the changed ones for an update, all for a create)
    after: dict[str, Any] = field(default_factory=dict)

    def changes(self) -> dict[str, dict[str, Any]]:
        name = self.table.name
        if self.operation is AuditOperation.CREATE:
            return {c: {"before": None, "after": _shown(name, c, v)} for c, v in self.after.items()}
        if self.operation is AuditOperation.DELETE:
            return {c: {"before": _shown(name, c, v), "after": None} for c, v in self.before.items()}
        shown = {}
        for column, after in self.after.items():
            before = self.before.get(column)
            if json_value(before) != json_value(after):
                shown[column] = {"before": _shown(name, column, before), "after": _shown(name, column, after)}
        return shown


def _merged(earlier: Change, later: Change) -> Change | None:
    """One change for two of the same row in one unit of work (None: nothing happened to it)."""
    create, update, delete = AuditOperation.CREATE, AuditOperation.UPDATE, AuditOperation.DELETE
    first_before = {**later.before, **earlier.before}
    if earlier.operation is create and later.operation is update:
        return dataclasses.replace(earlier, after={**earlier.after, **later.after})
    if earlier.operation is create and later.operation is delete:
        return None
    if earlier.operation is update and later.operation is update:
        return dataclasses.replace(earlier, before=first_before, after={**earlier.after, **later.after})
    if earlier.operation is update and later.operation is delete:
        return dataclasses.replace(later, before=first_before)
    if earlier.operation is delete and later.operation is create:
        return dataclasses.replace(later, operation=update, before=earlier.before)
    return later


def _owner_columns(policy: Any) -> tuple[list[str], list[str]]:
    """The columns that name a row's user and organization, by its table's read policy."""
    if isinstance(policy, access.Owned):
        return [policy.column], []
    if isinstance(policy, access.Members):
        return [], [policy.column]
    if isinstance(policy, access.Published):
        return _owner_columns(policy.otherwise)
    if isinstance(policy, access.AnyOf):
        users: list[str] = []
        organizations: list[str] = []
        for inner in policy.policies:
            found = _owner_columns(inner)
            users += found[0]
            organizations += found[1]
        return users, organizations
    return [], []


def _owner(rows: sa.Table, values: Mapping[str, Any]) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    users, organizations = _owner_columns(access.policy_of(rows))
    users += ["user_id"] if "user_id" in rows.c else []
    organizations += ["organization_id"] if "organization_id" in rows.c else []
    user = next((values[c] for c in users if values.get(c) is not None), None)
    organization = next((values[c] for c in organizations if values.get(c) is not None), None)
    return user, organization


def _audited_tables() -> set[sa.Table]:
    return {t for t in access.declared() if t is not AUDIT_EVENTS}


def _add(session: Session | AsyncSession, change: Change) -> None:
    pending: dict[tuple[str, str], Change | None] | None = session.info.get(PENDING)
    if pending is None:
        pending = session.info[PENDING] = {}
        before_commit(session, write)  # type: ignore[arg-type]
    key = (change.table.name, change.target_id)
    known = pending.get(key)
    pending[key] = change if key not in pending else (change if known is None else _merged(known, change))


def _key_text(values: Any) -> str:
    return ",".join(str(value) for value in values)


def record(
    session: AsyncSession,
    model: type[SQLModel],
    operation: AuditOperation,
    *,
    row: Mapping[Any, Any],
    before: Mapping[Any, Any] | None = None,
    after: Mapping[Any, Any] | None = None,
) -> None:
    """Record a change that a Core statement made (one the flush does not see).

    `row` holds the row's values as the statement left them (at least its primary key and
    owner columns: what `RETURNING` gives); `before` and `after` the changed columns' values (by
    default: nothing before a create, the whole row after it; the whole row before a delete).
    """
    scope: AuditScope | None = session.info.get(AUDIT_SCOPE)
    if scope is None:
        return
    rows = table(model)
    if operation is AuditOperation.CREATE and after is None:
        after = {c: v for c, v in row.items() if c in rows.c}
    if operation is AuditOperation.DELETE and before is None:
        before = {c: v for c, v in row.items() if c in rows.c}
    user, organization = _owner(rows, row)
    target = _key_text(row[column.name] for column in rows.primary_key.columns)
    _add(
        session,
        Change(
            model.__name__, rows, operation, target, user, organization, scope, dict(before or {}), dict(after or {})
        ),
    )


def act_as(session: AsyncSession, actor: Actor) -> None:
    """From now on, record this unit of work's changes as `actor`'s: the user that signing in
    (or registering, or a refresh) has just proved to be who they are."""
    scope: AuditScope | None = session.info.get(AUDIT_SCOPE)
    if scope is not None:
        session.info[AUDIT_SCOPE] = dataclasses.replace(scope, actor=actor)


def signed_in(user_id: uuid.UUID, role: str, how: str) -> Actor:
    """The actor of a user who proved who they are in this mutation (`how`: password, refresh_token)."""
    return Actor(user_id=user_id, role=role, label=how)


# ----------------------------------------------------------------------------- the flush


def _columns(mapper: Mapper[Any]) -> list[tuple[str, str]]:
    """(attribute key, column name) of the mapper's columns."""
    return [(prop.key, prop.columns[0].name) for prop in mapper.column_attrs]


def _change(state: InstanceState[Any], operation: AuditOperation, scope: AuditScope) -> Change | None:
    mapper = state.mapper
    rows = mapper.local_table
    assert isinstance(rows, sa.Table)
    columns = _columns(mapper)
    current = {name: state.dict.get(key) for key, name in columns}
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if operation is AuditOperation.CREATE:
        after = current
    elif operation is AuditOperation.DELETE:
        before = current
    else:
        for key, name in columns:
            history = state.attrs[key].history
            if not history.has_changes():
                continue
            before[name] = history.deleted[0] if history.deleted else NOT_LOADED
            after[name] = history.added[0] if history.added else None
        if not after:
            return None
    pk = mapper.primary_key_from_instance(state.obj())
    user, organization = _owner(rows, current)
    model = mapper.class_.__name__
    return Change(model, rows, operation, _key_text(pk), user, organization, scope, before, after)


def _before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    scope: AuditScope | None = session.info.get(AUDIT_SCOPE)
    if scope is None:
        return
    audited = _audited_tables()
    for objects, operation in (
        (session.new, AuditOperation.CREATE),
        (session.dirty, AuditOperation.UPDATE),
        (session.deleted, AuditOperation.DELETE),
    ):
        for obj in list(objects):
            state: InstanceState[Any] = sa.inspect(obj)
            if state.mapper.local_table not in audited:
                continue
            change = _change(state, operation, scope)
            if change is not None:
                _add(session, change)


def _refuse_unaudited(state: ORMExecuteState) -> None:
    if AUDIT_SCOPE not in state.session.info:
        return
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    if state.execution_options.get("audit_recorded"):
        return
    target = getattr(state.statement, "table", None)
    if any(target is not None and t.name == getattr(target, "name", None) for t in _audited_tables()):
        raise UnauditedWrite(
            f"a {type(state.statement).__name__.upper()} on {target.name} in an audited unit of work that nothing "  # type: ignore[union-attr]
            "records: record it with services.audit.record(...) and mark the statement "
            "execution_options(**services.audit.RECORDED)"
        )


event.listen(Session, "before_flush", _before_flush)
event.listen(Session, "do_orm_execute", _refuse_unaudited)


# ----------------------------------------------------------------------------- writing


def _actor_columns(actor: Actor | None) -> dict[str, Any]:
    if actor is None:
        return {"actor_kind": AuditActorKind.ANONYMOUS.value}
    columns: dict[str, Any] = {"actor_kind": actor.kind.value, "actor_label": actor.label}
    if actor.kind is ActorKind.USER:
        columns["actor_user_id"] = actor.user_id
    if actor.kind is ActorKind.API_CLIENT:
        columns["actor_organization_id"] = actor.organization_id
    return columns


def _event_row(change: Change) -> dict[str, Any]:
    scope = change.scope
    return {
        "id": uuid.UUID(int=uuid6.uuid7().int),
        "actor_kind": AuditActorKind.ANONYMOUS.value,
        "actor_user_id": None,
        "actor_organization_id": None,
        "actor_label": None,
        **_actor_columns(scope.actor),
        "user_id": change.user_id,
        "organization_id": change.organization_id,
        "action": f"{change.model}.{change.operation.value}",
        "operation": scope.operation,
        "target_table": change.table.name,
        "target_id": change.target_id,
        "changes": change.changes(),
        "request_id": scope.request_id,
    }


async def write(session: AsyncSession) -> None:
    """Insert the unit of work's events, in one statement (run before its COMMIT)."""
    pending: dict[tuple[str, str], Change | None] = session.info.pop(PENDING, {})
    rows = [
        _event_row(change)
        for change in pending.values()
        if change is not None and (change.operation is not AuditOperation.UPDATE or change.changes())
    ]
    if rows:
        await session.execute(sa.insert(AUDIT_EVENTS), rows)
