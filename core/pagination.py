"""Keyset pagination of many parents' children in one SQL statement.

For each parent, rows are numbered in the requested order (`page_pos`) and counted (`page_total`)
before the cursor filter applies, so one statement answers `edges`, `totalCount` and both
`hasPreviousPage` and `hasNextPage` for every parent at once. Each parent's first row is
returned even when it is not on the page, so that `totalCount` is right for empty pages too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from core.errors import ClientError
from core.relay import PageArgs, decode_cursor, encode_cursor


@dataclass(frozen=True)
class Sort:
    """One ordering: a non-null expression, then the primary key, both in one direction."""

    key: str
    expression: sa.ColumnElement[Any]
    value_type: type
    descending: bool = False


@dataclass
class Page:
    rows: list[sa.Row[Any]] = field(default_factory=list)
    total_count: int = 0
    window_count: int = 0
    has_previous_page: bool = False
    has_next_page: bool = False
    sort_key: str = ""
    #: (sort value, id) of each row, from which cursors are made only when a client asks for them
    keys: list[tuple[Any, uuid.UUID]] = field(default_factory=list)

    @cached_property
    def cursors(self) -> list[str]:
        return [encode_cursor(self.sort_key, value, pk) for value, pk in self.keys]


NULL_DATE_LAST = datetime(9999, 12, 31, tzinfo=UTC)


#: Names of the bind parameters of a page statement (see `page_statement`).
PARENT_IDS, PAGE_LIMIT = "page_parent_ids", "page_limit"
AFTER_VALUE, AFTER_ID, BEFORE_VALUE, BEFORE_ID = (
    "page_after_value",
    "page_after_id",
    "page_before_value",
    "page_before_id",
)


@dataclass(frozen=True, slots=True)
class PageShape:
    """What changes the text of a page statement: which cursors are given, and the direction."""

    after: bool
    before: bool
    backward: bool

    @classmethod
    def of(cls, args: PageArgs) -> PageShape:
        return cls(args.after is not None, args.before is not None, args.backward)


def page_statement(query: sa.Select[Any], *, parent_column: str, sort: Sort, shape: PageShape) -> sa.Select[Any]:
    """One statement that pages through `query`'s rows (already scoped) for many parents.

    Its per-run values are bind parameters, given by `page_params`: the parents' ids, the page
    size and the cursors' keys; the statement depends only on the query, the sort and `shape`.
    """
    columns = query.selected_columns
    id_column, parent = columns.id, columns[parent_column]
    order = (sort.expression.desc(), id_column.desc()) if sort.descending else (sort.expression.asc(), id_column.asc())
    ranked = (
        query.add_columns(
            parent.label("page_parent"),
            sort.expression.label("page_sort"),
            sa.func.count().over(partition_by=parent).label("page_total"),
            sa.func.row_number().over(partition_by=parent, order_by=order).label("page_pos"),
        )
        .where(parent == sa.any_(sa.bindparam(PARENT_IDS, type_=ARRAY(sa.Uuid()))))
        .subquery("ranked")
    )
    conditions: list[sa.ColumnElement[bool]] = []
    key = sa.tuple_(ranked.c.page_sort, ranked.c.id)
    sort_type = sort.expression.type
    if shape.after:
        bound = sa.tuple_(sa.bindparam(AFTER_VALUE, type_=sort_type), sa.bindparam(AFTER_ID, type_=sa.Uuid()))
        conditions.append(key < bound if sort.descending else key > bound)
    if shape.before:
        bound = sa.tuple_(sa.bindparam(BEFORE_VALUE, type_=sort_type), sa.bindparam(BEFORE_ID, type_=sa.Uuid()))
        conditions.append(key > bound if sort.descending else key < bound)
    in_window: sa.ColumnElement[bool] = sa.and_(*conditions) if conditions else sa.true()
    window_order = ranked.c.page_pos.desc() if shape.backward else ranked.c.page_pos.asc()
    windowed = sa.select(
        ranked,
        in_window.label("page_in_window"),
        sa.func.row_number()
        .over(partition_by=(ranked.c.page_parent, in_window), order_by=window_order)
        .label("page_rank"),
        sa.func.count().filter(in_window).over(partition_by=ranked.c.page_parent).label("page_in_window_count"),
    ).subquery("windowed")
    on_page = sa.and_(windowed.c.page_in_window, windowed.c.page_rank <= sa.bindparam(PAGE_LIMIT, type_=sa.Integer()))
    return (
        sa.select(windowed, on_page.label("page_on_page"))
        .where(sa.or_(on_page, windowed.c.page_pos == 1))
        .order_by(windowed.c.page_parent, windowed.c.page_pos)
    )


#: The integers each integer type of a sort can hold (a cursor's value is bound as that type).
_INTEGER_BOUNDS = ((sa.SmallInteger, 2**15), (sa.BigInteger, 2**63), (sa.Integer, 2**31))


def cursor_key(cursor: str, sort: Sort, argument: str) -> tuple[Any, uuid.UUID]:
    """The (sort value, id) of a cursor of `sort`: `decode_cursor`, and a value that the sort's
    column could not hold (made up, not one we gave out) is the client's error too, not the
    driver's."""
    value, pk = decode_cursor(cursor, sort.key, sort.value_type, argument)
    fits = True
    if isinstance(value, int):
        for integer_type, bound in _INTEGER_BOUNDS:
            if isinstance(sort.expression.type, integer_type):
                fits = -bound <= value < bound
                break
    elif isinstance(value, datetime) and value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            fits = False
    if not fits:
        raise ClientError(
            f"`{argument}` is not a cursor of this connection in this order", "INVALID_CURSOR", argument=argument
        )
    return value, pk


def page_params(args: PageArgs, sort: Sort, parent_ids: Sequence[uuid.UUID]) -> dict[str, Any]:
    """The values of a page statement's bind parameters; an invalid cursor is the client's error."""
    params: dict[str, Any] = {PARENT_IDS: list(parent_ids), PAGE_LIMIT: args.limit}
    if args.after is not None:
        params[AFTER_VALUE], params[AFTER_ID] = cursor_key(args.after, sort, "after")
    if args.before is not None:
        params[BEFORE_VALUE], params[BEFORE_ID] = cursor_key(args.before, sort, "before")
    return params


def assemble_pages(rows: Sequence[Any], *, sort: Sort, args: PageArgs) -> dict[uuid.UUID, Page]:
    """Each parent's page from the rows of a page statement.

    The one-statement form computes the same page info in SQL (`core.sqljson.ConnectionSql.
    has_page`); tests/test_sqljson.py compares the two at every edge of a list."""
    pages: dict[uuid.UUID, Page] = {}
    for row in rows:
        page = pages.get(row.page_parent)
        if page is None:
            page = pages[row.page_parent] = Page(
                total_count=row.page_total, window_count=row.page_in_window_count, sort_key=sort.key
            )
        if row.page_on_page:
            page.rows.append(row)
            page.keys.append((row.page_sort, row.id))
    for page in pages.values():
        if page.rows:
            page.has_previous_page = page.rows[0].page_pos > 1
            page.has_next_page = page.rows[-1].page_pos < page.total_count
        else:
            # An empty page: items can still lie beyond it (a page of size 0, or a cursor at the end).
            skipped = args.limit == 0 and page.window_count > 0
            page.has_previous_page = (args.backward and skipped) or (args.after is not None and page.total_count > 0)
            page.has_next_page = (not args.backward and skipped) or (args.before is not None and page.total_count > 0)
    return pages
