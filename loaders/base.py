"""Generic batch functions: rows by id and pages of children, scoped to the actor.

Each batch opens its own short-lived connection: strawberry runs batches concurrently and an
AsyncSession (or connection) must never be shared between concurrent tasks.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from core.db import any_of
from core.pagination import Page, Sort, fetch_pages
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
        return asyncio.shield(super().load(key))


@dataclass(frozen=True, slots=True)
class PageKey:
    """One parent's page request; loaders batch together keys that differ only by parent."""

    parent_id: uuid.UUID
    args: PageArgs
    sort: str
    filter: Hashable = None


def rows_by_id(engine: AsyncEngine, scoped: sa.Select[Any]) -> DataLoader[uuid.UUID, sa.Row[Any] | None]:
    """Rows of `scoped` (already limited to what the actor may see) by primary key."""
    id_column = scoped.selected_columns.id

    async def load(ids: Sequence[uuid.UUID]) -> list[sa.Row[Any] | None]:
        async with engine.connect() as conn:
            rows = (await conn.execute(scoped.where(any_of(id_column, ids)))).all()
        by_id = {row.id: row for row in rows}
        return [by_id.get(pk) for pk in ids]

    return SharedLoader(load_fn=load)


def pages_by_parent(
    engine: AsyncEngine,
    scoped: sa.Select[Any],
    *,
    parent_column: str,
    sorts: dict[str, Sort],
    conditions: Callable[[Any], list[sa.ColumnElement[bool]]] | None = None,
) -> DataLoader[PageKey, Page]:
    """Pages of `scoped` rows per parent, one statement per distinct (args, sort, filter)."""
    columns = scoped.selected_columns

    async def load(keys: Sequence[PageKey]) -> list[Page]:
        groups: dict[tuple[PageArgs, str, Hashable], list[uuid.UUID]] = defaultdict(list)
        for key in keys:
            groups[(key.args, key.sort, key.filter)].append(key.parent_id)
        results: dict[tuple[PageArgs, str, Hashable, uuid.UUID], Page] = {}
        async with engine.connect() as conn:
            for (args, sort, flt), parent_ids in groups.items():
                query = scoped
                if conditions is not None and flt is not None:
                    query = query.where(*conditions(flt))
                pages = await fetch_pages(
                    conn,
                    query,
                    id_column=columns.id,
                    parent_column=columns[parent_column],
                    parent_ids=list(dict.fromkeys(parent_ids)),
                    sort=sorts[sort],
                    args=args,
                )
                for parent_id in parent_ids:
                    results[(args, sort, flt, parent_id)] = pages.get(parent_id) or Page()
        return [results[(k.args, k.sort, k.filter, k.parent_id)] for k in keys]

    return SharedLoader(load_fn=load)
