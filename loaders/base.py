"""Generic batch functions: rows by id and pages of children, scoped to the actor.

Each batch opens its own short-lived connection: strawberry runs batches concurrently and an
AsyncSession (or connection) must never be shared between concurrent tasks.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from strawberry.dataloader import DataLoader

from core.fastpath import running_plan
from core.filters import Filter, FilterValues
from core.pagination import Page, PageShape, Sort, assemble_pages, page_params, page_statement
from core.reads import Shape, ShapeCache
from core.relay import PageArgs

K = TypeVar("K")
V = TypeVar("V")


class SharedLoader(DataLoader[K, V]):
    """A DataLoader whose loads survive the cancellation of one of their awaiters.

    Loads of the same key share one cached future. graphql-core cancels the sibling fields of
    a field that failed; without the shield, cancelling one awaiter cancelled the shared
    future, and another field awaiting the same key (in another branch of the query) got a
    CancelledError that escaped the request as a 500.
    """

    def load(self, key: K) -> Awaitable[V]:
        future = super().load(key)
        # A compiled plan cancels no field (it abandons, and graphql-core reruns with fresh
        # loaders): no shield there, which saves a future and two callbacks per load.
        return future if running_plan.get() else asyncio.shield(future)


@dataclass(frozen=True, slots=True)
class PageKey:
    """One parent's page request; loaders batch together keys that differ only by parent."""

    parent_id: uuid.UUID
    args: PageArgs
    sort: str
    filter: Hashable = None


Source = sa.Select[Any] | Shape

#: The prefix of a declared filter's bind parameters in a page statement.
FILTER_PREFIX = "filter_"

#: Statements derived from shapes (by id, a page per sort and filter), shared by all requests.
DERIVED: ShapeCache[Shape] = ShapeCache()


def _statement(source: Source) -> sa.Select[Any]:
    return source.statement if isinstance(source, Shape) else source


async def _derived_rows(
    conn: AsyncConnection,
    source: Source,
    key: Hashable,
    build: Callable[[], sa.Select[Any]],
    params: Mapping[str, Any],
) -> list[Any]:
    """The rows of a statement derived from `source`: kept per `key` for a shape (rendered once
    and run on asyncpg), built and run through SQLAlchemy for a statement with values in it."""
    if isinstance(source, Shape):
        return await DERIVED.get((source, key), build).fetch(conn, params)
    return list((await conn.execute(build(), dict(params))).all())


def rows_by_id(
    engine: AsyncEngine, scoped: Source, params: Mapping[str, Any] | None = None, *, column: str = "id"
) -> DataLoader[Any, Any]:
    """Rows of `scoped` (already limited to what the actor may see) by primary key, or by another
    unique `column` (an organization's slug).

    `scoped` is a statement with the actor's values in it, or a `Shape` (built once) with
    `params` giving them: then the statement is rendered once per process and run on asyncpg.
    """
    values = dict(params or {})

    def by_key() -> sa.Select[Any]:
        statement = _statement(scoped)
        selected = statement.selected_columns[column]
        keys = sa.bindparam("keys", type_=ARRAY(selected.type))
        return statement.where(selected == sa.any_(keys))

    async def load(keys: Sequence[Any]) -> list[Any]:
        async with engine.connect() as conn:
            rows = await _derived_rows(conn, scoped, f"by_{column}", by_key, {**values, "keys": list(keys)})
        by_key_value = {getattr(row, column): row for row in rows}
        return [by_key_value.get(key) for key in keys]

    return SharedLoader(load_fn=load)


def pages_by_parent(
    engine: AsyncEngine,
    scoped: Source,
    *,
    parent_column: str,
    sorts: dict[str, Sort],
    conditions: Callable[[Any], list[sa.ColumnElement[bool]]] | None = None,
    filter: Filter | None = None,
    params: Mapping[str, Any] | None = None,
) -> DataLoader[PageKey, Page]:
    """Pages of `scoped` rows per parent, one statement per distinct (args, sort, filter).

    A declared `filter` (core/filters.py): the keys' filters are its `FilterValues`, bound as
    parameters, and the page statement is kept per (sort, given fields, cursors given).
    Otherwise `conditions(filter)` gives the conditions of a key's filter; with a `Shape` they
    must depend on the filter alone (a time is a bind parameter with `callable_`), and the page
    statement is kept per (sort, filter, cursors given).
    """
    values = dict(params or {})

    def statement_for(sort: Sort, flt: Hashable, shape: PageShape) -> sa.Select[Any]:
        query = _statement(scoped)
        if filter is not None and flt is not None:
            assert isinstance(flt, tuple)
            query = query.where(*filter.conditions(query.selected_columns, flt, FILTER_PREFIX))
        elif conditions is not None and flt is not None:
            query = query.where(*conditions(flt))
        return page_statement(query, parent_column=parent_column, sort=sort, shape=shape)

    def statement_key(flt: Hashable) -> tuple[Hashable, dict[str, Any]]:
        """What of a key's filter shapes the statement, and the values it binds."""
        if filter is None or flt is None:
            return flt, {}
        assert isinstance(flt, FilterValues), flt
        return flt.shape, filter.params(flt, FILTER_PREFIX)

    async def load(keys: Sequence[PageKey]) -> list[Page]:
        groups: dict[tuple[PageArgs, str, Hashable], list[uuid.UUID]] = defaultdict(list)
        for key in keys:
            groups[(key.args, key.sort, key.filter)].append(key.parent_id)
        results: dict[tuple[PageArgs, str, Hashable, uuid.UUID], Page] = {}
        async with engine.connect() as conn:
            for (args, sort_name, flt), parent_ids in groups.items():
                sort, shape = sorts[sort_name], PageShape.of(args)
                filter_shape, filter_params = statement_key(flt)
                run_params = {**values, **filter_params, **page_params(args, sort, list(dict.fromkeys(parent_ids)))}
                rows = await _derived_rows(
                    conn,
                    scoped,
                    (parent_column, sort_name, filter_shape, shape),
                    partial(statement_for, sort, filter_shape, shape),
                    run_params,
                )
                pages = assemble_pages(rows, sort=sort, args=args)
                for parent_id in parent_ids:
                    results[(args, sort_name, flt, parent_id)] = pages.get(parent_id) or Page()
        return [results[(k.args, k.sort, k.filter, k.parent_id)] for k in keys]

    return SharedLoader(load_fn=load)
