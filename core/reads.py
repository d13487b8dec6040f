"""Loader reads rendered once per statement shape and run on asyncpg directly.

SQLAlchemy Core stays the way statements are written; what this module removes is its per
execution cost on the read path, which profiles of large results showed to be more than half
of the database layer's CPU: building the statement objects again for every batch, the
compiled-cache lookup, the greenlet hop and a `Row` per record.

A `Shape` is a SELECT whose only per-request values are *named* bind parameters (the actor's
`core.access.access_params`, the ids of a batch...). It is rendered to SQL once per process; each run binds
the values by name and calls asyncpg's `fetch` on the loader's pooled connection (asyncpg
prepares each text once per connection); a connection that turns out to be dead is discarded
(`core.db.discard_if_lost`), as SQLAlchemy would. Records come back as `Row`s, which also read as
attributes (`row.title`), like SQLAlchemy rows.

Values that are constants of the shape (a filter's statuses, a sort's sentinel date) are
rendered with it. A bind parameter made with `callable_` (e.g. "now") is evaluated on every
run, as SQLAlchemy does. A statement that needs SQLAlchemy's processing of results (JSON
columns, for one) is refused when rendered: it is run by SQLAlchemy instead.

Shapes are compared by identity: build them once (module level, or memoized), never per
request, so that a rendered text can never carry one request's values into another's.
"""

from __future__ import annotations

import operator
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import visitors

from core.db import DatabaseUnavailable, ReadPool, current_sql_stats, discard_if_lost
from core.rls import RlsConnection, settings_arguments, wrapped

#: The kind of shape a `ShapeCache` holds.
S = TypeVar("S")


class Row(asyncpg.Record):
    """An asyncpg record that also reads its columns as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def row_class(columns: Sequence[str]) -> type[Row]:
    """A `Row` whose columns are properties read by position (C-level getters): a rendered
    statement's rows pay no failed attribute lookup per read."""
    namespace: dict[str, Any] = {"__slots__": ()}
    for position, column in enumerate(columns):
        if column.isidentifier() and not hasattr(Row, column) and column not in namespace:
            namespace[column] = property(operator.itemgetter(position), doc=f"column {column}")
    return type("Row", (Row,), namespace)


class NotRenderable(Exception):
    """The statement needs SQLAlchemy at execution time; run it through SQLAlchemy."""


@dataclass(frozen=True, slots=True)
class Rendered:
    sql: str
    #: the bind parameters' names in positional order ($1, $2...)
    names: tuple[str, ...]
    #: values fixed by the statement itself (constants of the shape)
    constants: Mapping[str, Any]
    #: bind parameters evaluated on each run (`bindparam(callable_=...)`)
    callables: Mapping[str, Callable[[], Any]]
    #: SQLAlchemy's conversion of a bound value for the driver, where the type has one
    processors: Mapping[str, Callable[[Any], Any]]
    #: the class of its rows
    row: type[Row]
    #: the arguments with the constants in place (converted), and the positions filled per run:
    #: (position, name, conversion, callable); a shape such as `nodes(ids:)` has 60 parameters
    #: of which 4 change between requests
    template: tuple[Any, ...] = ()
    per_run: tuple[tuple[int, str, Callable[[Any], Any] | None, Callable[[], Any] | None], ...] = ()
    #: `sql` as one statement that first tells Postgres the actor (`core.rls.wrapped`), for a
    #: run outside a transaction; its three last parameters are `core.rls.settings_arguments()`
    acting_sql: str = ""

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        # A value given for a constant's name takes its place, as in `_arguments`.
        if len(self.template) == len(self.names) and params.keys().isdisjoint(self.constants):
            values = list(self.template)
            for position, name, processor, make in self.per_run:
                if name in params:
                    value = params[name]
                elif make is not None:
                    value = make()
                else:
                    raise KeyError(f"no value for the bind parameter {name!r}")
                values[position] = value if processor is None else processor(value)
            return values
        return self._arguments(params)

    def _arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values: list[Any] = []
        for name in self.names:
            if name in params:
                value = params[name]
            elif name in self.callables:
                value = self.callables[name]()
            elif name in self.constants:
                value = self.constants[name]
            else:
                raise KeyError(f"no value for the bind parameter {name!r}")
            processor = self.processors.get(name)
            values.append(value if processor is None else processor(value))
        return values


#: Postgres's type oid of `double precision`: what a `Float` column reads as.
FLOAT8_OID = 701


def _processed(type_: Any, dialect: Dialect) -> bool:
    """Whether SQLAlchemy processes the column's values after the driver read them. A numeric
    type's processor depends on the column's type in the result (asyncpg's refuses to say
    without it): a `Float` is a `double precision`, which the driver reads as a float already."""
    coltype = FLOAT8_OID if isinstance(type_, sa.Float) else None
    try:
        return type_._cached_result_processor(dialect, coltype) is not None
    except (TypeError, sa.exc.InvalidRequestError):  # a numeric type of no known column type
        return True


def render(statement: sa.Select[Any], dialect: Dialect) -> Rendered:
    """The SQL text and binding plan of `statement` for `dialect` (asyncpg's numeric style)."""
    # The per-run parameters are the named ones without a value; give them a placeholder so
    # that lists expanded at render time (IN) can be rendered into the text.
    required = {
        element.key
        for element in visitors.iterate(statement)
        if isinstance(element, sa.BindParameter) and element.required
    }
    placeheld = statement.params(dict.fromkeys(required))
    compiled = placeheld.compile(dialect=dialect)
    if compiled.post_compile_params:
        # Lists expanded at execution (IN): render them into the text, with their values.
        compiled = placeheld.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    if not compiled.positional or compiled.positiontup is None:
        raise NotRenderable(f"the dialect {dialect.name} does not use positional parameters")
    if compiled.escaped_bind_names:
        raise NotRenderable("bind parameter names that need escaping")
    for _key, name, _objects, type_ in compiled._result_columns:
        if _processed(type_, dialect):
            raise NotRenderable(f"the column {name!r} needs SQLAlchemy's result processing")
    names = tuple(compiled.positiontup)
    callables = {name: bind.callable for bind, name in compiled.bind_names.items() if bind.callable is not None}
    expanded = compiled._post_compile_expanded_state
    held: Mapping[str, Any]
    bind_processors: Mapping[str, Any]
    if expanded is not None:
        held, bind_processors = dict(expanded.parameters), expanded.processors
    else:
        held, bind_processors = compiled.construct_params(escape_names=False), compiled._bind_processors
    constants = {name: held[name] for name in names if name not in required and name not in callables}
    processors = {name: fn for name, fn in bind_processors.items() if name in names and callable(fn)}
    columns = [keyname for keyname, _name, _objects, _type in compiled._result_columns]
    template: list[Any] = []
    per_run = []
    for position, name in enumerate(names):
        processor = processors.get(name)
        if name in constants:
            template.append(constants[name] if processor is None else processor(constants[name]))
        else:
            template.append(None)
            per_run.append((position, name, processor, callables.get(name)))
    sql = compiled.string
    return Rendered(
        sql,
        names,
        constants,
        callables,
        processors,
        row_class(columns),
        tuple(template),
        tuple(per_run),
        wrapped(sql),
    )


class Shape:
    """A read statement with named bind parameters for its per-request values (see module)."""

    __slots__ = ("_refusal", "_rendered", "_tried", "statement")

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement
        self._tried = False
        self._rendered: Rendered | None = None
        self._refusal = ""

    def _render_once(self, dialect: Dialect) -> Rendered | None:
        """The rendered form, made on first use; None if the statement must run through SQLAlchemy."""
        if not self._tried:
            try:
                self._rendered = render(self.statement, dialect)
            except NotRenderable as refusal:
                self._refusal = str(refusal)
            self._tried = True
        return self._rendered

    def renderable(self, dialect: Dialect) -> bool:
        """Whether the statement runs without SQLAlchemy (rendered once, on first ask)."""
        return self._render_once(dialect) is not None

    def rendered(self, dialect: Dialect) -> Rendered:
        """The rendered form; raises `NotRenderable`, saying why, if the statement can't be."""
        rendered = self._render_once(dialect)
        if rendered is None:
            raise NotRenderable(self._refusal)
        return rendered

    async def fetch(self, conn: AsyncConnection, params: Mapping[str, Any]) -> list[Any]:
        """The rows of one run on `conn` (a loader's own connection)."""
        rendered = self._render_once(conn.dialect)
        if rendered is None:
            return list((await conn.execute(self.statement, dict(params))).all())
        arguments = rendered.arguments(params)
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        stats = current_sql_stats.get()
        started = time.perf_counter()
        try:
            if driver.is_in_transaction() or not isinstance(driver, RlsConnection):  # BEGIN told the actor
                return await driver.fetch(rendered.sql, *arguments, record_class=rendered.row)
            return await driver.fetch(rendered.acting_sql, *arguments, *settings_arguments(), record_class=rendered.row)
        except Exception as error:
            # SQLAlchemy never sees this error: a dead connection must be discarded here.
            if await discard_if_lost(conn, driver, error):
                raise DatabaseUnavailable("the connection to the database was lost") from error
            raise
        finally:
            if stats is not None:
                stats.statements += 1
                stats.seconds += time.perf_counter() - started

    async def fetch_direct(self, pool: ReadPool, params: Mapping[str, Any]) -> list[Any]:
        """The rows of one run on a raw read connection (`core.db.ReadPool`): outside any
        transaction, so under row-level security the statement tells the actor itself."""
        rendered = self._render_once(pool.dialect)
        if rendered is None:
            raise NotRenderable(self._refusal)
        arguments = rendered.arguments(params)
        if pool.acts:
            arguments.extend(settings_arguments())
            sql = rendered.acting_sql
        else:
            sql = rendered.sql
        stats = current_sql_stats.get()
        started = time.perf_counter()
        try:
            return await pool.fetch(sql, arguments, rendered.row)
        finally:
            if stats is not None:
                stats.statements += 1
                stats.seconds += time.perf_counter() - started


class ShapeCache(Generic[S]):
    """Shapes derived from other shapes (a page statement per sort and filter...), built once
    per key and kept for the `size` most recently used keys. `kind` makes each shape from its
    statement: a read `Shape` by default, or a `core.writes.WriteShape`."""

    def __init__(self, size: int = 512, kind: Callable[[Any], S] = Shape) -> None:  # type: ignore[assignment]  # S is Shape when kind is not given
        self.size = size
        self.kind = kind
        self._shapes: OrderedDict[Hashable, S] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], Any]) -> S:
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shapes[key] = self.kind(build())
            if len(self._shapes) > self.size:
                self._shapes.popitem(last=False)
        else:
            self._shapes.move_to_end(key)
        return shape

    def __len__(self) -> int:
        return len(self._shapes)
