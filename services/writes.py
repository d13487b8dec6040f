"""One-statement writes of rows that belong to a user: the hot path of create and update mutations.

A create is one `INSERT ... SELECT` from the parent row the actor may read (its read policy,
`core.access.readable`), last among the parent's children (the position computed in the same
statement), `RETURNING` the row; an update is one `UPDATE ... FROM` the row the actor may read,
locked, moved last under a new parent when it names one the actor may read. Each statement
also writes the change's audit event, in a data-modifying CTE (`services.audit.event_in_statement`),
so a mutation is BEGIN, one statement, COMMIT. The statements are built with SQLAlchemy Core once
per shape (the model, which columns an update sets, whether it moves) and rendered once
(`core.writes.WriteShape`).

A missing parent or row, or one the actor may not read, makes the statement write nothing and
return no row: the caller answers NotFound, exactly as `services.owned.get_owned` does (the
probes that say which one run on that error path only). Input is cleaned by the caller before
(`services.inputs`); `checked_first` keeps the order of today's errors (a row that is not there
is NotFound before its input is validated).

What the ORM would fill in is filled in the same way: a created row's columns take their
model's defaults (its id, created and updated times), so the row and its audit event are the
ones `session.add` + flush would have written; an update stamps `updated_at`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic_core import PydanticUndefined
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from core.access import access_params, readable
from core.context import Actor, ActorKind
from core.errors import ValidationFailed
from core.reads import ShapeCache
from core.writes import WriteShape
from models.audit import AuditOperation
from services import audit
from services.inputs import utcnow
from services.owned import get_owned, table

T = TypeVar("T")

#: An update's value computed by the database from the row before it (`old`), e.g. a
#: completion time kept when the task was already done. Module-level functions only: they
#: key the statement's shape.
Computed = Callable[[sa.FromClause], sa.ColumnElement[Any]]


@dataclass(frozen=True)
class Child:
    """How `model`'s rows hang under their parent: `parent`'s row named by `column`, with the
    same owner (`user_id`, through the composite foreign key `(column, user_id)`), placed by
    `position` among their siblings."""

    model: type[SQLModel]
    parent: type[SQLModel]
    column: str
    position: str = "position"
    owner: str = "user_id"


#: Per model: one insert; an update per set of columns it sets, moving or not, audited or not.
_SHAPES: ShapeCache[WriteShape] = ShapeCache(size=2048, kind=WriteShape)


_SYSTEM = Actor.system("services.writes")


def _readable(rows: sa.FromClause, system: bool, model: type[SQLModel]) -> sa.ColumnElement[bool]:
    """The read policy's condition: for the system (every row) as a constant, for everyone else
    by the bind parameters of `access_params`."""
    return readable(rows, _SYSTEM if system else None, table=table(model))


def _system(actor: Actor) -> bool:
    return actor.kind is ActorKind.SYSTEM


def _next_position(child: Child, parent_id: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    rows = table(child.model).alias("siblings")
    last = sa.select(sa.func.max(rows.c[child.position]) + 1).where(rows.c[child.column] == parent_id)
    return sa.func.coalesce(last.scalar_subquery(), 0)


def _defaults(model: type[SQLModel]) -> dict[str, Any]:
    """The values the ORM would give a new row's columns left unset: its model's defaults."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name not in table(model).c:
            continue
        if field.default_factory is not None:
            values[name] = field.default_factory()  # type: ignore[call-arg]
        elif field.default is not PydanticUndefined:
            values[name] = field.default
    return values


def _known_columns(model: type[SQLModel], values: Mapping[str, Any]) -> None:
    unknown = set(values) - set(table(model).c.keys())
    if unknown:
        raise ValueError(f"{table(model).name} has no column {', '.join(sorted(unknown))}")


def _insert_statement(child: Child, audited: bool, system: bool) -> sa.Select[Any]:
    rows = table(child.model)
    parents = table(child.parent)
    parent = (
        sa.select(parents.c.id, parents.c[child.owner])
        .where(parents.c.id == sa.bindparam("parent_id", type_=sa.Uuid()), _readable(parents, system, child.parent))
        .cte("parent")
    )
    given = [c.name for c in rows.columns if c.name not in (child.column, child.owner, child.position)]
    source = sa.select(
        parent.c.id,
        parent.c[child.owner],
        _next_position(child, parent.c.id),
        *(sa.bindparam(name, type_=rows.c[name].type) for name in given),
    ).select_from(parent)
    inserted = (
        sa.insert(rows)
        .from_select([child.column, child.owner, child.position, *given], source)
        .returning(*rows.columns)
        .cte("written")
    )
    statement = sa.select(*(inserted.c[c.name] for c in rows.columns))
    if audited:
        statement = statement.add_cte(audit.event_in_statement(child.model, AuditOperation.CREATE, new=inserted))
    return statement


async def insert_child(
    session: AsyncSession, child: Child, actor: Actor, *, parent_id: uuid.UUID, values: Mapping[str, Any]
) -> Any | None:
    """Insert a row of `child.model` under the parent `parent_id` if the actor may read it, last
    among its children, with `values` (cleaned; the model's defaults for the rest); the row as
    written, or None when the parent is missing or not the actor's (nothing written)."""
    _known_columns(child.model, values)
    how = audit.how_to_record(session)
    shape = _SHAPES.get(
        ("insert", child, how is audit.Audit.IN_STATEMENT, _system(actor)),
        lambda: _insert_statement(child, how is audit.Audit.IN_STATEMENT, _system(actor)),
    )
    params: dict[str, Any] = {**_defaults(child.model), **values, "parent_id": parent_id, **access_params(actor)}
    if how is audit.Audit.IN_STATEMENT:
        params.update(audit.event_params(session))
    rows = await shape.fetch(session, params)
    if not rows:
        return None
    row = rows[0]
    if how is audit.Audit.RECORD:
        audit.record(session, child.model, AuditOperation.CREATE, row=dict(row.items()))
    return row


def _update_statement(
    model: type[SQLModel],
    columns: tuple[str, ...],
    computed: tuple[tuple[str, Computed], ...],
    move: Child | None,
    audited: bool,
    system: bool,
) -> sa.Select[Any]:
    rows = table(model)
    old = (
        sa.select(rows)
        .where(rows.c.id == sa.bindparam("id", type_=sa.Uuid()), _readable(rows, system, model))
        .with_for_update()
        .cte("old")
    )
    assignments: dict[str, Any] = {name: sa.bindparam(name, type_=rows.c[name].type) for name in columns}
    for name, expression in computed:
        assignments[name] = expression(old)
    sources: list[sa.FromClause] = [old]
    if move is not None:
        parents = table(move.parent)
        parent = (
            sa.select(parents.c.id)
            .where(parents.c.id == sa.bindparam("parent_id", type_=sa.Uuid()), _readable(parents, system, move.parent))
            .cte("parent")
        )
        sources.append(parent)
        stays = old.c[move.column] == parent.c.id
        assignments[move.column] = parent.c.id
        assignments[move.position] = sa.case((stays, old.c[move.position]), else_=_next_position(move, parent.c.id))
    changed = tuple(assignments)
    # UPDATE ... FROM old [, parent]: nothing is written when either is empty.
    where = [rows.c.id == old.c.id, *(source.c.id.is_not(None) for source in sources[1:])]
    updated = sa.update(rows).values(assignments).where(*where).returning(*rows.columns).cte("written")
    before = [old.c[name].label(f"old_{name}") for name in changed]
    if move is not None and move.column not in changed:
        before.append(old.c[move.column].label(f"old_{move.column}"))
    statement = sa.select(*(updated.c[c.name] for c in rows.columns), *before).select_from(
        updated.join(old, updated.c.id == old.c.id)
    )
    if audited:
        statement = statement.add_cte(
            audit.event_in_statement(model, AuditOperation.UPDATE, new=updated, old=old, columns=changed)
        )
    return statement


async def update_owned(
    session: AsyncSession,
    model: type[SQLModel],
    actor: Actor,
    pk: uuid.UUID,
    *,
    values: Mapping[str, Any],
    computed: Mapping[str, Computed] | None = None,
    move_to: tuple[Child, uuid.UUID] | None = None,
) -> Any | None:
    """Update the actor's `model` row `pk` (locked) with `values` (cleaned), the `computed` ones
    and `updated_at` stamped; with `move_to`, under that parent if the actor may read it, last
    among its children (unless it is the row's own parent already). The row as written, with
    its values before as `old_<column>` (of the columns set, and the parent's), or None when
    the row or the new parent is missing or not the actor's (nothing written)."""
    _known_columns(model, values)
    values = {**values, "updated_at": utcnow()}
    columns = tuple(sorted(values))
    computing = tuple(sorted((computed or {}).items()))
    move = move_to[0] if move_to is not None else None
    how = audit.how_to_record(session)
    inline = how is audit.Audit.IN_STATEMENT
    system = _system(actor)
    shape = _SHAPES.get(
        ("update", model, columns, computing, move, inline, system),
        lambda: _update_statement(model, columns, computing, move, inline, system),
    )
    params: dict[str, Any] = {**values, "id": pk, **access_params(actor)}
    if move_to is not None:
        params["parent_id"] = move_to[1]
    if inline:
        params.update(audit.event_params(session))
    rows = await shape.fetch(session, params)
    if not rows:
        return None
    row = rows[0]
    _forget_loaded(session, model, pk)
    if how is audit.Audit.RECORD:
        changed = [name[len("old_") :] for name in row.keys() if name.startswith("old_")]  # noqa: SIM118 - a record iterates values
        audit.record(
            session,
            model,
            AuditOperation.UPDATE,
            row=dict(row.items()),
            before={name: row[f"old_{name}"] for name in changed},
            after={name: row[name] for name in changed},
        )
    return row


def _forget_loaded(session: AsyncSession, model: type[SQLModel], pk: uuid.UUID) -> None:
    """An object of the row that the session loaded before is stale now: expire it, so that a
    later read in the same unit of work sees what the statement wrote."""
    key = session.sync_session.identity_key(model, pk)
    loaded = session.sync_session.identity_map.get(key)
    if loaded is not None:
        session.expire(loaded)


async def checked_first(check: Callable[[], Awaitable[Any]], clean: Callable[[], T]) -> T:
    """`clean()` (the input's validation); when it refuses the input, `check()` first (the
    lookup of the row or parent, raising NotFound), so that a missing row is reported before
    its input's faults, as when the lookup ran first. `check` runs on this error path only."""
    try:
        return clean()
    except ValidationFailed:
        await check()
        raise


async def raise_not_found(session: AsyncSession, actor: Actor, *lookups: tuple[type[SQLModel], uuid.UUID, str]) -> None:
    """Why a write statement wrote nothing: the first of `lookups` (model, id, input field) that
    is not the actor's raises NotFound, as `get_owned` words it (a probe each, on this error
    path only)."""
    for model, pk, field in lookups:
        await get_owned(session, model, actor, pk, field=field)
    raise RuntimeError("the write statement wrote nothing, yet its row and parent are the actor's")
