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
- **One-statement writes** (`services/writes.py`, which run on asyncpg directly, where neither
  listener sees them): the event is written by the write's own statement, a data-modifying CTE
  built by `event_in_statement` whose JSON Postgres computes as `json_value` would (`json_sql`),
  so the mutation costs no statement more. `how_to_record` says when: with an audit scope and
  nothing pending; with changes pending, the write `record`s its change so that it merges and
  sorts with them. A row changed again after its statement wrote its event has an event of its
  own (the trail is append-only), where changes the flush or `record` see merge into one.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
import uuid6
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState, Mapper, ORMExecuteState, Session
from sqlmodel import SQLModel

from core import access
from core.context import AUDIT_SCOPE, Actor, ActorKind, AuditScope, before_commit
from core.pagination import Sort
from core.sqljson import iso_datetime
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


# ----------------------------------------------------------------------------- in the statement

#: The bind parameters of an event written by its change's own statement (`event_in_statement`).
EVENT_PARAMS = (
    "audit_id",
    "audit_actor_kind",
    "audit_actor_user_id",
    "audit_actor_organization_id",
    "audit_actor_label",
    "audit_operation",
    "audit_request_id",
)


class Audit(Enum):
    """How a write records its change (`how_to_record`)."""

    #: no scope: nothing is recorded
    NOTHING = "nothing"
    #: by its own statement, a data-modifying CTE beside the write (`event_in_statement`)
    IN_STATEMENT = "in_statement"
    #: with `record(...)`, from what the statement returns, written before COMMIT with the rest
    RECORD = "record"


def how_to_record(session: AsyncSession) -> Audit:
    """In the statement, unless the unit of work has changes pending: their events are written
    at its end, and an event written now would sort before them (events sort by id, made when
    written), so this one joins them instead."""
    if session.info.get(AUDIT_SCOPE) is None:
        return Audit.NOTHING
    return Audit.RECORD if session.info.get(PENDING) else Audit.IN_STATEMENT


def event_params(session: AsyncSession) -> dict[str, Any]:
    """The values of `EVENT_PARAMS` for a change of this unit of work (its scope's actor,
    operation and request id), with the event's id."""
    scope: AuditScope = session.info[AUDIT_SCOPE]
    actor = {
        "actor_kind": AuditActorKind.ANONYMOUS.value,
        "actor_user_id": None,
        "actor_organization_id": None,
        "actor_label": None,
        **_actor_columns(scope.actor),
    }
    return {
        "audit_id": uuid.UUID(int=uuid6.uuid7().int),
        **{f"audit_{name}": value for name, value in actor.items()},
        "audit_operation": scope.operation,
        "audit_request_id": scope.request_id,
    }


def _constant(text: str) -> sa.ColumnElement[Any]:
    """A text constant written into the statement (a column's or a table's name, never input)."""
    return sa.literal_column("'" + text.replace("'", "''") + "'", sa.Text())


_BEFORE = _constant("before")
_AFTER = _constant("after")
_EMPTY = sa.literal_column("'{}'::jsonb", postgresql.JSONB())


def _sql_type(type_: Any) -> Any:
    """The SQL type under a decorated one (SQLModel's `AutoString` is a `String`)."""
    return type_.impl_instance if isinstance(type_, sa.types.TypeDecorator) else type_


def json_sql(rows: sa.Table, column: str, value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`value` (of `rows`'s `column`) as the trail stores it, computed by Postgres: the same
    JSON as `json_value` writes for the value Python reads (times in UTC ISO 8601 as
    `datetime.isoformat`, uuids as text), "[redacted]" for a redacted column."""
    jsonb = postgresql.JSONB()
    if is_redacted(rows.name, column):
        return sa.case((value.is_(None), sa.null()), else_=sa.cast(sa.literal(f'"{REDACTED}"'), jsonb))
    type_ = _sql_type(rows.c[column].type)
    if isinstance(type_, sa.DateTime):
        return sa.func.to_jsonb(iso_datetime(value), type_=jsonb)
    if isinstance(type_, sa.ARRAY):
        type_ = _sql_type(type_.item_type)
    if isinstance(type_, sa.String | sa.Integer | sa.Boolean | sa.Uuid):
        return sa.func.to_jsonb(value, type_=jsonb)
    raise TypeError(f"{rows.name}.{column} ({type_}) has no JSON form in SQL for the audit trail")


def event_in_statement(
    model: type[SQLModel],
    operation: AuditOperation,
    *,
    new: sa.FromClause,
    old: sa.FromClause | None = None,
    columns: Sequence[str] | None = None,
) -> sa.CTE:
    """The INSERT of the event of a write, as a CTE to add to the write's statement.

    `new` holds the row as the write left it (its `RETURNING`, every column of the table); for
    an update, `old` the row before (joined on the primary key) and `columns` those the write
    sets: the event lists those whose value changed, and is not written when none did. Its
    per-run values are `EVENT_PARAMS` (`event_params`).
    """
    rows = table(model)
    pk = [c.name for c in rows.primary_key.columns]
    if operation is AuditOperation.CREATE:
        shown = [(c.name, sa.null(), json_sql(rows, c.name, new.c[c.name])) for c in rows.columns]
        parts: list[sa.ColumnElement[Any]] = [
            sa.func.jsonb_build_object(_constant(name), sa.func.jsonb_build_object(_BEFORE, before, _AFTER, after))
            for name, before, after in shown
        ]
    elif operation is AuditOperation.UPDATE:
        assert old is not None
        assert columns
        parts = [
            sa.case(
                (
                    old.c[name].is_distinct_from(new.c[name]),
                    sa.func.jsonb_build_object(
                        _constant(name),
                        sa.func.jsonb_build_object(
                            _BEFORE, json_sql(rows, name, old.c[name]), _AFTER, json_sql(rows, name, new.c[name])
                        ),
                    ),
                ),
                else_=_EMPTY,
            )
            for name in columns
        ]
    else:
        raise ValueError(f"no in-statement event for {operation}")
    changes: sa.ColumnElement[Any] = parts[0]
    for part in parts[1:]:
        changes = changes.op("||")(part)
    changes = sa.type_coerce(changes, postgresql.JSONB())
    users, organizations = _owner_columns(access.policy_of(rows))
    users += ["user_id"] if "user_id" in rows.c else []
    organizations += ["organization_id"] if "organization_id" in rows.c else []

    def owner(names: list[str]) -> sa.ColumnElement[Any]:
        found = [new.c[name] for name in dict.fromkeys(names)]
        if not found:
            return sa.cast(sa.null(), sa.Uuid())
        return found[0] if len(found) == 1 else sa.func.coalesce(*found)

    target: sa.ColumnElement[Any] = (
        sa.cast(new.c[pk[0]], sa.Text)
        if len(pk) == 1
        else sa.func.concat_ws(",", *(sa.cast(new.c[name], sa.Text) for name in pk))
    )
    text = sa.String()
    columns_of_event: tuple[sa.ColumnElement[Any], ...] = (
        sa.bindparam("audit_id", type_=sa.Uuid()),
        sa.bindparam("audit_actor_kind", type_=text),
        sa.bindparam("audit_actor_user_id", type_=sa.Uuid()),
        sa.bindparam("audit_actor_organization_id", type_=sa.Uuid()),
        sa.bindparam("audit_actor_label", type_=text),
        owner(users),
        owner(organizations),
        _constant(f"{model.__name__}.{operation.value}"),
        sa.bindparam("audit_operation", type_=text),
        _constant(rows.name),
        target,
    )
    source: sa.Select[Any]
    if old is None:
        source = sa.select(*columns_of_event, changes, sa.bindparam("audit_request_id", type_=text)).select_from(new)
    else:
        # An update that changed nothing (every value as it was) has no event.
        joined = new.join(old, sa.and_(*(new.c[name] == old.c[name] for name in pk)))
        event = (
            sa.select(*(c.label(f"c{i}") for i, c in enumerate(columns_of_event)), changes.label("changes"))
            .select_from(joined)
            .subquery("event")
        )
        source = sa.select(
            *(event.c[f"c{i}"] for i in range(len(columns_of_event))),
            event.c.changes,
            sa.bindparam("audit_request_id", type_=text),
        ).where(event.c.changes != _EMPTY)
    insert = sa.insert(AUDIT_EVENTS).from_select(
        [
            "id",
            "actor_kind",
            "actor_user_id",
            "actor_organization_id",
            "actor_label",
            "user_id",
            "organization_id",
            "action",
            "operation",
            "target_table",
            "target_id",
            "changes",
            "request_id",
        ],
        source,
    )
    return insert.cte(f"audit_{rows.name}")
