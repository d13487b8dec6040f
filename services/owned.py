"""Rows that belong to one user (a `user_id` column), read and written the same way by every product.

Reads go through the tables' read policies (`core.access.readable`: the kit's loaders and the SQL
form apply it); writes look their target up with `get_owned`, which applies the same condition.
Another user's row is indistinguishable from a missing one: `NotFound`, never `Forbidden`. A
product's services keep their business rules and call these for the rest.

Writes flush and never commit: the resolver's transaction does (see "One unit of work per
mutation" in the house style). Children of a parent carry a `position` among their siblings:
new ones go last (`next_position`), a move puts them last under the new parent
(`moved_to_parent`), and `reorder_children` renumbers them all. The hot create and update
mutations skip the ORM: `services.writes` does what `get_owned`, `next_position` and a flush do
here, in one statement.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from core.access import readable
from core.context import Actor
from core.errors import NotFound, ValidationFailed
from core.pagination import NULL_DATE_LAST, Sort
from services.inputs import utcnow

M = TypeVar("M", bound=SQLModel)


def table(model: type[SQLModel]) -> sa.Table:
    """The Core table of a SQLModel table class (typed, unlike `model.__table__`)."""
    return model.__table__  # type: ignore[attr-defined]


# -------------------------------------------------------------------------------- reads


@functools.cache
def standard_sorts(
    model: type[SQLModel], *, title_column: str, due: bool = False, priority: bool = False, position: bool = True
) -> dict[str, Sort]:
    """The orderings of a list of `model`'s rows, by GraphQL enum name, each ascending and
    descending (`_ASC`, `_DESC`): `POSITION` (with `position`), `CREATED_AT`, `UPDATED_AT`, the
    title column case-insensitively (`NAME` for `name`), `DUE_AT` with undated rows last (with
    `due`) and `PRIORITY` (with `priority`)."""
    t = table(model)
    sorts: dict[str, Sort] = {}
    for descending in (False, True):
        suffix = "_DESC" if descending else "_ASC"
        if position:
            sorts["POSITION" + suffix] = Sort("position" + suffix, t.c.position, int, descending)
        sorts["CREATED_AT" + suffix] = Sort("created" + suffix, t.c.created_at, datetime, descending)
        sorts["UPDATED_AT" + suffix] = Sort("updated" + suffix, t.c.updated_at, datetime, descending)
        label = title_column.upper()
        sorts[label + suffix] = Sort(title_column + suffix, sa.func.lower(t.c[title_column]), str, descending)
        if due:
            # Undated rows sort after every dated one (before them, descending).
            due_expr = sa.func.coalesce(t.c.due_at, sa.literal(NULL_DATE_LAST))
            sorts["DUE_AT" + suffix] = Sort("due" + suffix, due_expr, datetime, descending)
        if priority:
            sorts["PRIORITY" + suffix] = Sort("priority" + suffix, t.c.priority, int, descending)
    return sorts


# ------------------------------------------------------------------------------- writes


async def get_owned(
    session: AsyncSession,
    model: type[M],
    actor: Actor,
    pk: uuid.UUID,
    *,
    field: str = "id",
    lock: bool = False,
    noun: str | None = None,
) -> M:
    """The actor's `model` row with id `pk` (locked `FOR UPDATE` with `lock`).

    Missing or another user's: `NotFound` on the input `field`, "No <noun> with this id", the
    noun being the model's class name in lower case unless given.
    """
    statement = sa.select(model).where(
        model.id == pk,  # type: ignore[attr-defined]
        readable(model, actor),
    )
    if lock:
        statement = statement.with_for_update()
    found = (await session.execute(statement)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"No {noun or model.__name__.lower()} with this id", field=["input", field])
    return found


async def next_position(session: AsyncSession, model: type[SQLModel], parent: str, parent_id: uuid.UUID) -> int:
    """The position after the last of the children of `parent_id` (by the column `parent`); 0 for the first."""
    t = table(model)
    statement = sa.select(sa.func.coalesce(sa.func.max(t.c.position) + 1, 0)).where(t.c[parent] == parent_id)
    return int((await session.execute(statement)).scalar_one())


def apply_changes(obj: SQLModel, values: dict[str, Any]) -> None:
    """Set the attributes of `values` on `obj` and stamp its `updated_at` (the flush writes them)."""
    for name, value in values.items():
        setattr(obj, name, value)
    obj.updated_at = utcnow()


async def moved_to_parent(
    session: AsyncSession,
    obj: SQLModel,
    actor: Actor,
    changes: dict[str, Any],
    *,
    parent_model: type[SQLModel],
    parent_column: str,
    field: str,
) -> dict[str, Any]:
    """The values that move `obj` under the parent that `changes` names in `parent_column` (the
    input `field`): the parent's id and the position after its children. Nothing when `changes`
    names none or `obj`'s own; `null` is refused, since a child always has a parent, and so is a
    parent that is not the actor's."""
    parent = new_parent(changes, parent_column, field=field)
    if parent is None or parent == getattr(obj, parent_column):
        return {}
    await get_owned(session, parent_model, actor, parent, field=field)
    return {parent_column: parent, "position": await next_position(session, type(obj), parent_column, parent)}


def new_parent(changes: dict[str, Any], parent_column: str, *, field: str) -> uuid.UUID | None:
    """The parent that `changes` moves a child to (in `parent_column`, the input `field`), or
    None; `null` is refused, since a child always has a parent."""
    if parent_column in changes and changes[parent_column] is None:
        raise ValidationFailed(f"{field} can't be null: pass the new parent's ID", field=["input", field])
    parent: uuid.UUID | None = changes.get(parent_column)
    return parent


async def reorder_children(
    session: AsyncSession,
    model: type[M],
    actor: Actor,
    *,
    parent: str,
    parent_id: uuid.UUID,
    ordered_ids: Sequence[uuid.UUID],
    on_moved: Callable[[M], None] | None = None,
) -> list[M]:
    """Give the actor's children of `parent_id` (by the column `parent`) the positions of
    `ordered_ids`, which must list each of them exactly once (input field `ids`); returns them in
    that order. `on_moved` is called with each child whose position changed, in that order,
    before the flush (to publish the change after commit, say)."""
    t = table(model)
    current = (
        (await session.execute(sa.select(model).where(t.c[parent] == parent_id, readable(t, actor)).with_for_update()))
        .scalars()
        .all()
    )
    by_id = {row.id: row for row in current}  # type: ignore[attr-defined]
    if len(set(ordered_ids)) != len(ordered_ids):
        raise ValidationFailed("An id appears more than once", field=["input", "ids"])
    if set(ordered_ids) != set(by_id):
        raise ValidationFailed(
            "List every one of the parent's children exactly once, in the new order",
            field=["input", "ids"],
        )
    now = utcnow()
    for position, pk in enumerate(ordered_ids):
        row = by_id[pk]
        if row.position != position:  # type: ignore[attr-defined]
            row.position = position
            row.updated_at = now
            if on_moved is not None:
                on_moved(row)
    await session.flush()
    return [by_id[pk] for pk in ordered_ids]


async def delete_owned(session: AsyncSession, model: type[M], actor: Actor, pk: uuid.UUID) -> M:
    """Delete the actor's `model` row `pk` (`NotFound` as `get_owned`); returns the deleted object."""
    obj = await get_owned(session, model, actor, pk)
    await session.delete(obj)
    await session.flush()
    return obj
