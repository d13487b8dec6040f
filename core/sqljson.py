"""Whole read queries as one SQL statement whose result is the response's `data`, as JSON.

The compiled plans of core/fastpath.py still turn every row into Python objects and back into
JSON: for a large result that is most of the request's CPU (decoding rows, building objects,
completing leaves, encoding). When every field of a compiled plan is declared here with the
SQL that produces it, the whole plan is also compiled, once, into one statement built with
SQLAlchemy Core: each object a `json_build_object`, each connection a `json_agg` over a
correlated, ordered and limited subquery, each row scoped to the viewer. Postgres returns the
`data` object as text and the endpoint sends it as it is.

What the declarations say, and what keeps this exact:

- A domain declares, per GraphQL type, how each field is read (`SqlType`): a `Leaf` (a SQL
  expression of the row giving the JSON value: a column, a global id, an enum's name, a time in
  Python's ISO format), a `Computed` object (an aggregate subquery, such as progress) or
  `Children` (a connection of another table's rows, with the loaders' sorts and the filter
  declared with its input type, core/filters.py). A field that is not declared keeps the
  document on the resolvers. The root needs a signed-in viewer; otherwise the plan runs.
- Connections answer in full: `totalCount`, `nodes`, `edges { cursor node }` and `pageInfo`,
  with `first`/`after` and `last`/`before`: the same rows, cursors (`core.relay.cursor_sql`, the
  twin of `encode_cursor`) and `hasPreviousPage`/`hasNextPage` as `core.pagination` gives the
  resolvers. Cursors and page info are computed only where selected.
- Every argument of a connection, literal or variable, is bound as a parameter: the text of
  the statement depends only on the document and the *shape* of its arguments (the order,
  which cursors and filter fields are given, the direction), and is made once per shape and
  kept with the document (`SqlPlan.statements`). Page sizes and cursors are checked at every
  request by the resolvers' own `page_args` and `cursor_key`; a refused one, a variable that
  does not coerce, `first` with `last`: the request goes down the resolver path, whose errors
  graphql-core words as always (`Fallback` says why, and the endpoint counts and logs it).
- Non-null fields come from non-null columns or aggregates. Every row is scoped to the viewer:
  by `user_id = viewer`, as in the loaders' shapes, or for the children of a scoped row through
  their composite foreign key to it (`Children.owner_via_parent`). The differential tests
  (tests/test_sqljson.py) run generated documents through this path and through graphql-core
  and compare the answers.
- `node(id:)` and `nodes(ids:)` (`NodeLookup`) read the objects of every type declared with its
  table, scoped as its loader scopes it (`SqlType.readable`), and the viewer by its own id only
  (`SqlType.identifies`). The ids are decoded at each
  request into parameters (type keys and primary keys, arrays in the ids' order for `nodes`):
  per id, a CASE on its type key runs only that type's subquery, and an unknown type, another
  viewer's object or a missing one is null. The statement is made once per document and type of
  the ids (`NodeIds.arm`): its CASE holds the arm of that type only (ids of several types: every
  type's), for Postgres opens, locks and starts every arm's tables at each execution. What
  has to be the resolvers' (an invalid id, too many, an id of a type without a SQL form or
  whose selection here has none) is found per request and sent to them (`NodeIds.bind`);
  tests/test_sqljson_nodes.py compares both paths.
- A root field that reads one row by a unique column (`RowLookup`: `organization(slug:)`) binds
  its argument per request (`ArgumentValue`), normalized in Python as its resolver normalizes it;
  the row is read through its table's policy, so a row the viewer may not read is null. A
  `Computed` field's declared arguments (`Argument`) are bound the same way, each a parameter of
  its `build`; a value its `check` refuses sends the request to the resolvers (their error).

The JSON that Postgres writes differs from orjson's only in insignificant whitespace.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

import sqlalchemy as sa
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    ListValueNode,
    ObjectValueNode,
    ValueNode,
    VariableNode,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.utilities import get_operation_ast
from sqlalchemy.dialects.postgresql import ARRAY, JSON, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.util import ClauseAdapter
from strawberry.types.arguments import convert_arguments

from core.access import access_params, readable
from core.context import Actor
from core.db import read_pool, reader
from core.errors import ClientError, DomainError
from core.fastpath import (
    AbstractCompleter,
    Completer,
    FieldPlan,
    ListCompleter,
    NonNullCompleter,
    ObjectCompleter,
    Plan,
    SelectionPlan,
)
from core.filters import Filter
from core.pagination import Sort, cursor_key
from core.reads import Shape
from core.relay import InvalidGlobalId, cursor_sql, from_global_id, page_args

logger = logging.getLogger("quintet.sqljson")

#: Postgres truncates longer names (NAMEDATALEN - 1).
MAX_IDENTIFIER_BYTES = 63

T = TypeVar("T")

Row = Any  # a FromClause whose `.c` holds the columns of the row being described


#: Attribute of a type whose every field is resolved in Python only, with why.
PYTHON_ONLY = "__kit_python_only__"


def python_only_type(*, why: str) -> Callable[[type[T]], type[T]]:
    """Mark a (strawberry) type whose fields have no SQL form: a query that reaches it is answered
    by the resolvers. Put it above `@strawberry.type`."""

    def mark(cls: type[T]) -> type[T]:
        setattr(cls, PYTHON_ONLY, why)
        return cls

    return mark


class SqlUnsupported(Exception):
    """The plan uses something without a SQL form: it runs through the resolvers."""


# ----------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Leaf:
    """A leaf field: `value(row)` is the SQL expression of its JSON value."""

    value: Callable[[Row], sa.ColumnElement[Any]]


@dataclass(frozen=True)
class Argument:
    """An argument of a `Computed` field, bound per request (`ArgumentValue`) as a parameter of
    SQL type `type`; `check` (in Python, as the resolver checks it) raises a `ClientError` or a
    `DomainError` for a value the resolver refuses: the resolvers answer, with their error."""

    type: Any  # a SQLAlchemy type (instance or class)
    check: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Computed:
    """An object-valued field built by `build(row, compiler, selection)` as a JSON expression.

    A field with arguments declares each of them (by GraphQL name) in `arguments`: `build` is
    then called with one more keyword per argument, its bind parameter (its value, null when
    absent, is bound at each request), so the statement is made once for every value."""

    build: Callable[..., sa.ColumnElement[Any]]
    arguments: Mapping[str, Argument] = field(default_factory=dict)


@dataclass(frozen=True)
class Children:
    """A connection (`totalCount`, `nodes`, `edges`, `pageInfo`) of `table`'s rows whose
    `parent_column` is the parent's key (`parent_key(row)`; the viewer for top-level lists).

    `sorts` are the orderings by the `orderBy` enum's value and `filter` the declaration of the
    `filter` argument's conditions: both the loaders' own. Every row read is also scoped to the
    viewer (`user_id`), unless `owner_via_parent` says that the table's foreign key
    `(parent_column, user_id)` to its parent's `(id, user_id)` makes every child its parent's
    owner's: the parent's row is scoped already, and Postgres then pages the children by their
    parent's index alone (a condition on `user_id` as well led it to intersect a second index,
    half the dashboard's time). `tests/test_sqljson.py` checks that each such foreign key exists.
    """

    table: sa.Table
    parent_column: str
    parent_key: Callable[[Row], sa.ColumnElement[Any]]
    sorts: Mapping[str, Sort]
    filter: Filter | None = None
    owner_via_parent: bool = False


@dataclass(frozen=True)
class Parent:
    """A to-one field: the row of `table` whose id is the row's `key_column` (the viewer's own,
    like every row read). The key is a non-null foreign key, so the parent exists; with
    `nullable`, the key may be null or name a row the viewer can't read, and the field is null
    then (as its resolver answers), so its GraphQL type must be nullable too.

    `target_column` other than `id` reads the other way (the kit's `child`): the row of `table`
    whose unique `target_column` is the row's `key_column` (its id), null when there is none."""

    table: sa.Table
    key_column: str
    nullable: bool = False
    target_column: str = "id"


@dataclass(frozen=True)
class Derived:
    """A value computed on both sides, declared in one place: `python(row)` on the resolver path
    (a row, or a model instance) and `sql(row)` in the one-statement form. The differential tests
    compare them value by value."""

    python: Callable[[Any], Any]
    sql: Callable[[Row], sa.ColumnElement[Any]]


@dataclass(frozen=True)
class NodeLookup:
    """`node(id:)`, or with `many` `nodes(ids:)`: objects of any type by global id (its argument
    `argument`), each read like its type's loader reads it (`SqlType.table` and `readable`).

    The ids are decoded per request into the statement's parameters (see `NodeIds`). An id
    that is not a global id, more than `max_ids` of them, or one of a type without a SQL form
    here: the resolvers answer (and word the errors). An id of a type the field cannot return
    is null, as is another viewer's object, exactly like one that never existed."""

    argument: str
    many: bool = False
    max_ids: int = 100


@dataclass(frozen=True)
class RowLookup:
    """A root field: the row of `table` whose unique `column` is the string argument `argument`
    (after `normalize`, in Python, as the resolver does), read through the table's policy; null
    when there is none the actor may read. The value is bound per request (`ArgumentValue`)."""

    table: sa.Table
    column: str
    argument: str
    normalize: Callable[[str], str] | None = None


Rule = Leaf | Computed | Children | Parent | NodeLookup | RowLookup


@dataclass(frozen=True)
class SqlType:
    fields: Mapping[str, Rule]
    #: The table of the type's rows, by `id`: with it, `node` and `nodes` read objects of the type.
    table: sa.Table | None = None
    #: The type key in the type's global ids; None: the GraphQL type's name.
    type_key: str | None = None
    #: For a type without a table whose one object is the viewer's own (`Viewer`): whether an id's
    #: primary key (a SQL expression) names it; with it, `node` and `nodes` read it too.
    identifies: Callable[[sa.ColumnElement[Any]], sa.ColumnElement[bool]] | None = None

    def readable(self, row: Row) -> sa.ColumnElement[bool]:
        """Which of `table`'s rows the actor reads: the table's read policy (`core.access`)."""
        return readable(row, table=self.table)


# ----------------------------------------------------------------------------- JSON values


def global_id(type_name: str, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`core.relay.to_global_id` in SQL: URL-safe base64 of "Type:uuid", without padding.

    Every id of a type has the same length, so the padding is cut by length; `replace` is used
    over `translate`, which costs Postgres twice as much per row."""
    raw_length = len(type_name.encode()) + 1 + 36
    encoded = sa.func.encode(
        sa.func.convert_to(sa.literal(f"{type_name}:") + sa.cast(column, sa.Text), "UTF8"), "base64"
    )
    if 4 * -(-raw_length // 3) > 76:  # Postgres breaks base64 lines at 76 characters
        encoded = sa.func.replace(encoded, "\n", "")
    urlsafe = sa.func.replace(sa.func.replace(encoded, "+", "-"), "/", "_")
    return sa.func.left(urlsafe, -(-raw_length * 4 // 3))


def iso_datetime(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A `timestamptz` as Python's `datetime.isoformat()` writes it in UTC (what the DateTime
    scalar serializes): seconds, microseconds only when there are any, then `+00:00`."""
    written = sa.func.to_char(sa.func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
    # Only the fraction can read ".000000": the date and time hold no dot.
    finite = sa.func.replace(written, ".000000", "")
    # asyncpg stores datetime.min and .max as -infinity and infinity, and reads them back so.
    return sa.case(
        (sa.func.isfinite(column), finite),
        (column > sa.func.now(), sa.literal(datetime.max.replace(tzinfo=UTC).isoformat())),
        (column < sa.func.now(), sa.literal(datetime.min.replace(tzinfo=UTC).isoformat())),
    )


def enum_name(column: sa.ColumnElement[Any], enum: type[Enum]) -> sa.ColumnElement[Any]:
    """The GraphQL name of the stored value of a strawberry enum's member."""
    return sa.case(*((column == member.value, sa.literal(member.name)) for member in enum))


def float_json(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A `double precision` as a JSON number written as the endpoint (orjson) writes the float:
    Postgres writes the shortest text that reads back exactly, as orjson does, but `1` where
    orjson writes `1.0`, so a whole value gets its `.0` back. The texts are the same for 0 and
    1e-4 <= |x| < 1e16; outside, both write the same number, Postgres with another exponent."""
    whole = sa.cast(sa.cast(sa.cast(column, sa.Numeric), sa.Text) + ".0", JSON)
    return sa.case((column == sa.func.trunc(column), whole), else_=sa.func.to_json(column, type_=JSON))


def one_decimal(numerator: sa.ColumnElement[Any], denominator: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """100 * numerator / denominator rounded half to even to one decimal, as a JSON number
    written as Python writes such a float (`12.5`, `100.0`); `0.0` when the denominator is 0.
    Integer arithmetic, so it is exact: `services.aurum.Progress.percent` computes the same."""
    scaled = sa.cast(numerator, sa.BigInteger) * 1000
    quotient = scaled // denominator  # integer division (counts are never negative)
    remainder = scaled % denominator
    up = sa.or_(remainder * 2 > denominator, sa.and_(remainder * 2 == denominator, quotient % 2 == 1))
    tenths = quotient + sa.case((up, 1), else_=0)
    text = sa.cast(tenths // 10, sa.Text) + "." + sa.cast(tenths % 10, sa.Text)
    return sa.cast(sa.case((denominator == 0, sa.literal("0.0")), else_=text), JSON)


def json_object(pairs: list[tuple[str, sa.ColumnElement[Any]]]) -> sa.ColumnElement[Any]:
    if len(pairs) > 50:  # Postgres functions take at most 100 arguments
        raise SqlUnsupported("more than 50 fields in one object")
    arguments: list[Any] = []
    for key, value in pairs:
        arguments += [sa.literal(key, sa.Text), value]
    return sa.func.json_build_object(*arguments, type_=JSON)


# ----------------------------------------------------------------------------- fallbacks


class Fallback(Exception):
    """This request leaves the one-statement form (the resolvers answer it); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: Why a request left the one-statement form, besides a document without one (`SqlUnsupported`).
NO_VIEWER = "no viewer"
VARIABLES = "variables that do not coerce"
PAGE_ARGUMENTS = "page arguments refused"
INVALID_CURSOR = "invalid cursor"
FILTER_REFUSED = "filter value refused"
REFUSED = "statement refused by Postgres"

#: Statements kept per document, one per shape of its arguments (most recently used).
MAX_STATEMENTS_PER_DOCUMENT = 16
#: Per lookup of a statement, the type keys of its `node`/`nodes` CASE's arms (None: all).
Arms = tuple[frozenset[str] | None, ...]

#: The arguments a connection may take; any other one keeps the document on the resolvers.
CONNECTION_ARGUMENTS = frozenset({"first", "after", "last", "before", "orderBy", "filter"})

#: Names of a connection's bind parameters, after its prefix (`Site.prefix`).
LIMIT, AFTER, BEFORE, FILTER = "limit", "after", "before", "f_"

NO_VARIABLES = VariableValues({}, {})


# ----------------------------------------------------------------------------- shapes


@dataclass(frozen=True, slots=True)
class ConnectionShape:
    """What of one connection's arguments changes the statement's text: the order, which
    cursors are given, the direction and which filter fields are given. Values are bound."""

    sort: str
    after: bool = False
    before: bool = False
    backward: bool = False
    filter: tuple[str, ...] = ()


Bound = tuple[ConnectionShape, dict[str, Any]]


@dataclass(eq=False)
class Site:
    """One connection field of the document, in the order the compiler meets them."""

    index: int
    field_plan: FieldPlan
    rule: Children
    strawberry_field: Any
    #: Whether its arguments hold no variable: then they bind the same values every time.
    literal: bool
    static: Bound | Fallback | None = None
    #: With variables: what the arguments' values bound, by those values (they repeat: a few
    #: statuses, page sizes, cursors), so that strawberry's conversion runs once per value.
    bound: OrderedDict[Hashable, Bound] = field(default_factory=OrderedDict)

    @property
    def prefix(self) -> str:
        return f"c{self.index}_"


#: Distinct argument values whose binding a connection keeps (the least recently used go).
MAX_BOUND_PER_SITE = 64


def _frozen(value: Any) -> Hashable | None:
    """A hashable image of coerced argument values (None if some part is not hashable)."""
    if isinstance(value, dict):
        items = []
        for name, item in value.items():
            frozen = _frozen(item)
            if frozen is None and item is not None:
                return None
            items.append((name, type(item).__name__, frozen))
        return ("dict", tuple(sorted(items, key=lambda entry: entry[0])))
    if isinstance(value, list | tuple):
        parts = []
        for item in value:
            frozen = _frozen(item)
            if frozen is None and item is not None:
                return None
            parts.append((type(item).__name__, frozen))
        return ("list", tuple(parts))
    try:
        hash(value)
    except TypeError:
        return None
    return (type(value).__name__, value)


@dataclass(eq=False)
class SqlPlan:
    """A document's one-statement form: its connections, its `node`/`nodes` fields, and a
    statement per shape of their arguments, made on first use and kept (bounded)."""

    plan: Plan
    strawberry: Any
    types: Mapping[str, SqlType]
    sites: list[Site]
    operation: Any
    lookups: list[NodeIds | ArgumentValue] = field(default_factory=list)
    statements: OrderedDict[tuple[tuple[ConnectionShape, ...], Arms], Shape] = field(default_factory=OrderedDict)

    async def run(
        self,
        engine: AsyncEngine,
        schema: GraphQLSchema,
        actor: Actor,
        variables: dict[str, Any] | None,
        *,
        max_size: int,
        default_size: int,
        coerced: VariableValues | None = None,
    ) -> str:
        """The `data` object as JSON text; raises `Fallback` when the resolvers must answer.
        `engine` is the one the request reads from (the primary or the replica); the statement runs
        on its raw read connections (`core.db.ReadPool`), or on its SQLAlchemy pool for an engine
        without them. `coerced` are the variables already coerced for this operation, if the
        caller has them."""
        variable_values = NO_VARIABLES
        if self.operation.variable_definitions:
            values = (
                coerced
                if coerced is not None
                else get_variable_values(schema, self.operation.variable_definitions, variables or {})
            )
            if isinstance(values, list):
                raise Fallback(VARIABLES)  # graphql-core reports them
            variable_values = values
        params: dict[str, Any] = access_params(actor)
        shapes: list[ConnectionShape] = []
        for site in self.sites:
            # Checked on every request, as the resolver checks them, even when no page is read.
            if site.literal:
                if site.static is None:
                    try:
                        site.static = self.bind(site, NO_VARIABLES, max_size, default_size)
                    except Fallback as fallback:
                        site.static = fallback
                if isinstance(site.static, Fallback):
                    raise Fallback(site.static.reason)
                bound = site.static
            else:
                bound = self.bind(site, variable_values, max_size, default_size)
            shapes.append(bound[0])
            params.update(bound[1])
        for lookup in self.lookups:
            declined = lookup.bind(variable_values, params)
            if declined is not None:
                raise Fallback(f"no SQL form: {declined}")
        arms = tuple(lookup.arm(params) if isinstance(lookup, NodeIds) else None for lookup in self.lookups)
        statement = self.statement(tuple(shapes), arms)
        pool = read_pool(engine)
        if pool is not None and statement.renderable(pool.dialect):
            rows = await statement.fetch_direct(pool, params)
        else:
            async with reader(engine).connect() as conn:
                rows = await statement.fetch(conn, params)
        text: str = rows[0][0]
        return text

    def bind(self, site: Site, variable_values: VariableValues, max_size: int, default_size: int) -> Bound:
        """The shape of one connection's arguments and the values they bind, or `Fallback` for
        arguments the resolvers refuse (they word the error); kept per distinct argument values."""
        field_plan = site.field_plan
        try:
            raw = get_argument_values(field_plan.definition, field_plan.nodes[0], variable_values)
        except GraphQLError as error:
            raise Fallback(VARIABLES) from error
        key = _frozen(raw)
        if key is None:
            return self._bind(site, raw, max_size, default_size)
        bound = site.bound.get(key)
        if bound is None:
            bound = site.bound[key] = self._bind(site, raw, max_size, default_size)
            if len(site.bound) > MAX_BOUND_PER_SITE:
                site.bound.popitem(last=False)
        return bound

    def _bind(self, site: Site, raw: dict[str, Any], max_size: int, default_size: int) -> Bound:
        converted = convert_arguments(
            raw,
            site.strawberry_field.arguments,
            scalar_registry=self.strawberry.schema_converter.scalar_registry,
            config=self.strawberry.config,
        )
        try:
            args = page_args(
                first=converted.get("first"),
                after=converted.get("after"),
                last=converted.get("last"),
                before=converted.get("before"),
                max_size=max_size,
                default_size=default_size,
            )
        except ClientError as error:
            raise Fallback(PAGE_ARGUMENTS) from error
        order_by = converted.get("order_by")
        sort_name = order_by.value if isinstance(order_by, Enum) else ""
        sort = site.rule.sorts.get(sort_name)
        if sort is None:
            raise Fallback(f"no SQL form: the order {sort_name!r}")
        prefix = site.prefix
        params: dict[str, Any] = {prefix + LIMIT: args.limit}
        for name, cursor in ((AFTER, args.after), (BEFORE, args.before)):
            if cursor is None:
                continue
            try:
                value, pk = cursor_key(cursor, sort, name)
            except ClientError as error:
                raise Fallback(INVALID_CURSOR) from error
            params[f"{prefix}{name}_value"], params[f"{prefix}{name}_id"] = value, pk
        try:
            given = site.rule.filter.values(converted.get("filter")) if site.rule.filter is not None else None
        except ClientError as error:  # a value the filter refuses (an invalid ID): the resolvers word it
            raise Fallback(FILTER_REFUSED) from error
        if given is not None and site.rule.filter is not None:
            params.update(site.rule.filter.params(given, prefix + FILTER))
        shape = ConnectionShape(
            sort_name, args.after is not None, args.before is not None, args.backward, given.shape if given else ()
        )
        return shape, params

    def statement(self, shapes: tuple[ConnectionShape, ...], arms: Arms = ()) -> Shape:
        key = (shapes, arms)
        statement = self.statements.get(key)
        if statement is not None:
            self.statements.move_to_end(key)
            return statement
        compiler = SqlCompiler(self.strawberry, self.types, shapes, arms)
        try:
            data = compiler.object(self.plan.root, None)
        except SqlUnsupported as reason:
            raise Fallback(f"no SQL form: {reason}") from reason
        statement = self.statements[key] = Shape(sa.select(sa.cast(data, sa.Text).label("data")))
        while len(self.statements) > MAX_STATEMENTS_PER_DOCUMENT:
            self.statements.popitem(last=False)
        return statement


# ----------------------------------------------------------------------------- compiling


def _has_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_has_variable(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_has_variable(item.value) for item in value.fields)
    return False


def _object_plan(completer: Completer) -> SelectionPlan:
    while isinstance(completer, NonNullCompleter | ListCompleter):
        completer = completer.inner
    if not isinstance(completer, ObjectCompleter):
        raise SqlUnsupported("an abstract or unknown completer")
    return completer.plan


def _typename(field_plan: FieldPlan) -> tuple[str, sa.ColumnElement[Any]]:
    return field_plan.key, sa.literal(field_plan.typename, sa.Text)


class SqlCompiler:
    """Builds the statement of a plan for given connection shapes; without them (`shapes` None)
    it walks the plan once to find its connections (`sites`) and what has no SQL form."""

    def __init__(
        self,
        strawberry_schema: Any,
        types: Mapping[str, SqlType],
        shapes: tuple[ConnectionShape, ...] | None = None,
        arms: Arms = (),
    ) -> None:
        self.strawberry = strawberry_schema
        self.types = types
        self.shapes = shapes
        #: Per lookup (in `lookups` order), the type keys whose subqueries its CASE needs, or None: all.
        self.arms = arms
        self.sites: list[Site] = []
        self._connections = 0
        self.lookups: list[NodeIds | ArgumentValue] = []
        self._lookups_made = 0
        self._names = itertools.count()

    def name(self, letter: str) -> str:
        return f"{letter}{next(self._names)}"

    def object(self, plan: SelectionPlan, row: Row) -> sa.ColumnElement[Any]:
        return json_object(self.pairs(plan, row))

    def pairs(self, plan: SelectionPlan, row: Row) -> list[tuple[str, sa.ColumnElement[Any]]]:
        """Each response key of the selection with the SQL expression of its JSON value."""
        declared = self.types.get(plan.type.name)
        if declared is None:
            raise SqlUnsupported(f"type {plan.type.name}")
        pairs: list[tuple[str, sa.ColumnElement[Any]]] = []
        for field_plan in plan.fields:
            if field_plan.typename is not None:
                pairs.append(_typename(field_plan))
                continue
            rule = declared.fields.get(field_plan.name)
            if rule is None:
                raise SqlUnsupported(f"field {plan.type.name}.{field_plan.name}")
            if isinstance(rule, Children):
                pairs.append((field_plan.key, self.connection(rule, field_plan, row)))
                continue
            if isinstance(rule, NodeLookup):
                pairs.append((field_plan.key, node_lookup(self, rule, field_plan)))
                continue
            if isinstance(rule, RowLookup):
                pairs.append((field_plan.key, row_lookup(self, rule, field_plan)))
                continue
            if isinstance(rule, Computed) and rule.arguments:
                pairs.append((field_plan.key, computed_with_arguments(self, rule, field_plan, row)))
                continue
            if field_plan.takes_arguments:
                raise SqlUnsupported(f"arguments of {plan.type.name}.{field_plan.name}")
            if isinstance(rule, Leaf):
                pairs.append((field_plan.key, rule.value(row)))
            elif isinstance(rule, Computed):
                pairs.append((field_plan.key, rule.build(row, self, _object_plan(field_plan.completer))))
            else:
                pairs.append((field_plan.key, self.parent(rule, field_plan, row)))
        return pairs

    def parent(self, rule: Parent, field_plan: FieldPlan, row: Row) -> sa.ColumnElement[Any]:
        if rule.nullable and isinstance(field_plan.completer, NonNullCompleter):
            raise SqlUnsupported(f"a nullable parent for the non-null {field_plan.parent.name}.{field_plan.name}")
        parent = rule.table.alias(self.name("o"))
        node = self.object(_object_plan(field_plan.completer), parent)
        found = sa.select(node).where(
            parent.c[rule.target_column] == row.c[rule.key_column], readable(parent, table=rule.table)
        )
        return found.correlate(row).scalar_subquery()

    def leaves(self, plan: SelectionPlan, values: Mapping[str, sa.ColumnElement[Any]]) -> sa.ColumnElement[Any]:
        """An object whose fields are the given expressions (by field name)."""
        pairs: list[tuple[str, sa.ColumnElement[Any]]] = []
        for field_plan in plan.fields:
            if field_plan.typename is not None:
                pairs.append(_typename(field_plan))
            elif field_plan.name in values and not field_plan.takes_arguments:
                pairs.append((field_plan.key, values[field_plan.name]))
            else:
                raise SqlUnsupported(f"field {plan.type.name}.{field_plan.name}")
        return json_object(pairs)

    def _site(self, index: int, rule: Children, field_plan: FieldPlan) -> Site:
        node = field_plan.nodes[0]
        for argument in node.arguments or ():
            name = argument.name.value
            if name not in CONNECTION_ARGUMENTS or (name == "filter" and rule.filter is None):
                raise SqlUnsupported(f"the argument `{name}`")
        strawberry_field = field_plan.definition.extensions.get("strawberry-definition")
        if strawberry_field is None:
            raise SqlUnsupported("not a strawberry field")
        literal = not any(_has_variable(argument.value) for argument in node.arguments or ())
        return Site(index, field_plan, rule, strawberry_field, literal)

    def connection(self, rule: Children, field_plan: FieldPlan, parent: Row) -> sa.ColumnElement[Any]:
        index = self._connections
        self._connections += 1
        if self.shapes is None:
            self.sites.append(self._site(index, rule, field_plan))
            # Finding what has no SQL form: every part that a shape can have.
            given = tuple(declared.attribute for declared in rule.filter.fields) if rule.filter is not None else ()
            shape = ConnectionShape(next(iter(rule.sorts)), after=True, before=True, filter=given)
        else:
            shape = self.shapes[index]
        sort = rule.sorts.get(shape.sort)
        if sort is None:
            raise SqlUnsupported(f"the order {shape.sort!r}")
        built = ConnectionSql(self, rule, sort, shape, f"c{index}_", parent)
        pairs: list[tuple[str, sa.ColumnElement[Any]]] = []
        for connection_field in _object_plan(field_plan.completer).fields:
            key, name = connection_field.key, connection_field.name
            if connection_field.typename is not None:
                pairs.append(_typename(connection_field))
            elif name == "totalCount":
                pairs.append((key, built.total_count()))
            elif name == "nodes":
                pairs.append((key, built.nodes(connection_field)))
            elif name == "edges":
                pairs.append((key, built.edges(connection_field)))
            elif name == "pageInfo":
                pairs.append((key, built.page_info(connection_field)))
            else:
                raise SqlUnsupported(f"connection field {name}")
        return json_object(pairs)


class ConnectionSql:
    """The SQL of one connection's fields for one shape: the same rows, order and page as
    `core.pagination.page_statement` and `assemble_pages` give the resolvers.

    The rows are the parent's (`parent_column`), scoped to the viewer and filtered; the window
    is the rows after `after` and before `before`, and the page its first `limit` rows (its
    last ones, backward), in the connection's order either way.
    """

    def __init__(
        self, compiler: SqlCompiler, rule: Children, sort: Sort, shape: ConnectionShape, prefix: str, parent: Row
    ) -> None:
        self.compiler = compiler
        self.rule = rule
        self.sort = sort
        self.shape = shape
        self.prefix = prefix
        self.parent = parent
        # Subqueries name the row they depend on: SQLAlchemy's automatic correlation only looks
        # at the enclosing SELECT's FROM list, which a row of lateral columns does not have.
        self.outer = [] if parent is None else [parent]
        self.limit = sa.bindparam(prefix + LIMIT, type_=sa.Integer())

    def alias(self, letter: str) -> Any:
        return self.rule.table.alias(self.compiler.name(letter))

    def scoped(self, alias: Any) -> list[sa.ColumnElement[bool]]:
        rule = self.rule
        filtered = rule.filter.conditions(alias.c, self.shape.filter, self.prefix + FILTER) if rule.filter else []
        return [
            alias.c[rule.parent_column] == rule.parent_key(self.parent),
            *([] if rule.owner_via_parent else [readable(alias, table=rule.table)]),
            *filtered,
        ]

    def _key(self, alias: Any) -> Any:
        return sa.tuple_(ClauseAdapter(alias).traverse(self.sort.expression), alias.c.id)

    def _cursor(self, name: str) -> Any:
        return sa.tuple_(
            sa.bindparam(f"{self.prefix}{name}_value", type_=self.sort.expression.type),
            sa.bindparam(f"{self.prefix}{name}_id", type_=sa.Uuid()),
        )

    def _after(self, alias: Any) -> sa.ColumnElement[bool]:
        """Rows after the `after` cursor, in the connection's order."""
        key, cursor = self._key(alias), self._cursor(AFTER)
        return key < cursor if self.sort.descending else key > cursor

    def _before(self, alias: Any) -> sa.ColumnElement[bool]:
        key, cursor = self._key(alias), self._cursor(BEFORE)
        return key > cursor if self.sort.descending else key < cursor

    def window(self, alias: Any) -> list[sa.ColumnElement[bool]]:
        conditions = self.scoped(alias)
        if self.shape.after:
            conditions.append(self._after(alias))
        if self.shape.before:
            conditions.append(self._before(alias))
        return conditions

    def order(self, alias: Any, *, reverse: bool = False) -> list[Any]:
        descending = self.sort.descending != reverse
        direction: Callable[[Any], Any] = sa.desc if descending else sa.asc
        return [direction(ClauseAdapter(alias).traverse(self.sort.expression)), direction(alias.c.id)]

    def page(self) -> Any:
        """The page's rows, as a LATERAL subquery: it refers to its parent's row."""
        rows = self.alias("r")
        return (
            sa.select(rows)
            .where(*self.window(rows))
            .correlate(*self.outer)
            .order_by(*self.order(rows, reverse=self.shape.backward))
            .limit(self.limit)
            .lateral(self.compiler.name("p"))
        )

    def _aggregated(self, page: Any, node: Any, source: Any) -> sa.ColumnElement[Any]:
        ordered = aggregate_order_by(node, *self.order(page))
        aggregated = sa.func.coalesce(sa.func.json_agg(ordered, type_=JSON), sa.cast(sa.literal("[]"), JSON))
        return sa.select(aggregated).select_from(source).scalar_subquery()

    def total_count(self) -> sa.ColumnElement[Any]:
        counted = self.alias("c")
        total = sa.select(sa.func.count()).select_from(counted).where(*self.scoped(counted)).correlate(*self.outer)
        return total.scalar_subquery()

    def nodes(self, nodes_field: FieldPlan) -> sa.ColumnElement[Any]:
        page = self.page()
        pairs = self.compiler.pairs(_object_plan(nodes_field.completer), page)
        source: Any = page
        node: Any
        if all(len(key.encode()) <= MAX_IDENTIFIER_BYTES for key, _ in pairs):
            # Each node as a row whose columns are named by the response keys: Postgres writes a
            # row as JSON for less than `json_build_object` costs it (a quarter less for six fields).
            fields = (
                sa.select(*(value.label(key) for key, value in pairs)).correlate(page).lateral(self.compiler.name("n"))
            )
            source, node = page.join(fields, sa.true()), fields.table_valued()
        else:  # a key longer than Postgres keeps a column name
            node = json_object(pairs)
        return self._aggregated(page, node, source)

    def cursor(self, page: Any) -> sa.ColumnElement[Any]:
        sort = self.sort
        return cursor_sql(sort.key, sort.value_type, ClauseAdapter(page).traverse(sort.expression), page.c.id)

    def edges(self, edges_field: FieldPlan) -> sa.ColumnElement[Any]:
        page = self.page()
        pairs: list[tuple[str, sa.ColumnElement[Any]]] = []
        edge = _object_plan(edges_field.completer)
        for edge_field in edge.fields:
            if edge_field.typename is not None:
                pairs.append(_typename(edge_field))
            elif edge_field.name == "cursor":
                pairs.append((edge_field.key, self.cursor(page)))
            elif edge_field.name == "node":
                pairs.append((edge_field.key, self.compiler.object(_object_plan(edge_field.completer), page)))
            else:
                raise SqlUnsupported(f"edge field {edge_field.name}")
        return self._aggregated(page, json_object(pairs), page)

    def end_cursor(self, *, start: bool) -> sa.ColumnElement[Any]:
        """The cursor of the page's first row (`start`) or last one; null for an empty page."""
        page = self.page()
        found = sa.select(self.cursor(page)).select_from(page).order_by(*self.order(page, reverse=not start)).limit(1)
        return found.scalar_subquery()

    def _exists(self, conditions: Callable[[Any], list[sa.ColumnElement[bool]]], *, beyond_page: bool = False) -> Any:
        rows = self.alias("e")
        found: sa.Select[Any] = (
            sa.select(sa.literal_column("1")).select_from(rows).where(*conditions(rows)).correlate(*self.outer)
        )
        if beyond_page:  # a row of the window past the page: the window holds more than `limit`
            found = found.order_by(*self.order(rows, reverse=self.shape.backward)).offset(self.limit).limit(1)
        return found.exists()

    def _outside(self, side: str) -> sa.ColumnElement[bool]:
        """Whether rows lie outside the window on the side of the `after` or `before` cursor, as
        `assemble_pages` says it: for a page with rows, whether any row is at or beyond the
        cursor (`page_pos` of its rows against `page_total`); for an empty page, whether the
        connection has any row at all."""
        descending = self.sort.descending
        if side == AFTER:

            def beyond(rows: Any) -> list[sa.ColumnElement[bool]]:
                key, cursor = self._key(rows), self._cursor(AFTER)
                return [*self.scoped(rows), key >= cursor if descending else key <= cursor]

        else:

            def beyond(rows: Any) -> list[sa.ColumnElement[bool]]:
                key, cursor = self._key(rows), self._cursor(BEFORE)
                return [*self.scoped(rows), key <= cursor if descending else key >= cursor]

        empty = sa.or_(self.limit == 0, sa.not_(self._exists(self.window)))
        return sa.case((empty, self._exists(self.scoped)), else_=self._exists(beyond))

    def has_page(self, *, following: bool) -> sa.ColumnElement[Any]:
        """`hasNextPage` (`following`) or `hasPreviousPage`. On the side the page is taken from
        (the end, backward), rows lie beyond it when the window holds more than `limit`."""
        shape = self.shape
        side, given = (BEFORE, shape.before) if following else (AFTER, shape.after)
        parts: list[sa.ColumnElement[bool]] = []
        if following != shape.backward:
            parts.append(self._exists(self.window, beyond_page=True))
        if given:
            parts.append(self._outside(side))
        if not parts:
            return sa.false()
        return parts[0] if len(parts) == 1 else sa.or_(*parts)

    def page_info(self, info_field: FieldPlan) -> sa.ColumnElement[Any]:
        pairs: list[tuple[str, sa.ColumnElement[Any]]] = []
        for page_field in _object_plan(info_field.completer).fields:
            key, name = page_field.key, page_field.name
            if page_field.typename is not None:
                pairs.append(_typename(page_field))
            elif name == "hasNextPage":
                pairs.append((key, self.has_page(following=True)))
            elif name == "hasPreviousPage":
                pairs.append((key, self.has_page(following=False)))
            elif name == "startCursor":
                pairs.append((key, self.end_cursor(start=True)))
            elif name == "endCursor":
                pairs.append((key, self.end_cursor(start=False)))
            else:
                raise SqlUnsupported(f"page info field {name}")
        return json_object(pairs)


def compile_sql(plan: Plan, strawberry_schema: Any, types: Mapping[str, SqlType]) -> SqlPlan:
    """The plan's one-statement form; raises `SqlUnsupported` when some part has none."""
    compiler = SqlCompiler(strawberry_schema, types)
    compiler.object(plan.root, None)
    operation = get_operation_ast(plan.document, plan.operation_name)
    return SqlPlan(plan, strawberry_schema, types, compiler.sites, operation, compiler.lookups)


# ----------------------------------------------------------------------------- node and nodes


@dataclass(eq=False)
class NodeIds:
    """The ids of one `node`/`nodes` field of a statement, decoded at each request into its
    parameters: the type keys (`types`) and primary keys (`pks`) of the ids, one of each for
    `node`, two arrays in the ids' order for `nodes`. The statement reads an object per id
    whose type it `compiled`, and answers null for an id of any other type key (no such
    type, or one the field cannot return); an id of a `declined` type needs the resolvers."""

    rule: NodeLookup
    definition: GraphQLField
    node: FieldNode
    types: str
    pks: str
    uses_variables: bool
    #: type key -> GraphQL name of each type whose objects the statement reads
    compiled: dict[str, str] = field(default_factory=dict)
    #: type key -> why an id of that type needs the resolvers
    declined: dict[str, str] = field(default_factory=dict)

    def bind(self, variables: VariableValues, params: dict[str, Any]) -> str | None:
        """Put the ids' parameters in `params`; or say why the resolvers must answer."""
        argument = self.rule.argument
        try:
            value = get_argument_values(self.definition, self.node, variables).get(argument)
        except GraphQLError:
            return f"`{argument}` does not coerce (the resolvers report it)"
        values = value if self.rule.many else [value]
        if not isinstance(values, list):
            return f"`{argument}` is not a list"
        if len(values) > self.rule.max_ids:
            return f"more than {self.rule.max_ids} ids in `{argument}` (the resolvers report it)"
        types: list[str | None] = []
        pks: list[uuid.UUID | None] = []
        for one in values:
            try:
                type_key, pk = from_global_id(one)
            except (InvalidGlobalId, TypeError):
                return f"`{argument}` holds a value that is not a global id (the resolvers report it)"
            if type_key in self.declined:
                return self.declined[type_key]
            known = type_key in self.compiled
            types.append(type_key if known else None)
            pks.append(pk if known else None)
        if self.rule.many:
            params[self.types], params[self.pks] = types, pks
        else:
            params[self.types], params[self.pks] = types[0], pks[0]
        return None

    def arm(self, params: Mapping[str, Any]) -> frozenset[str] | None:
        """The type keys of the bound ids (`bind`) whose subqueries the statement needs: the one
        type of `node`'s id, or of `nodes`' ids when they are all of one type (none for an unknown
        type); None, every compiled type's, for ids of several types. A statement is made per
        value (`SqlPlan.statements`): Postgres plans, locks and starts only the subqueries that can
        run, where a CASE over every type made it open every type's tables and indexes at each
        execution. Ids of several types share one statement, so that their combinations make no
        more statements than one."""
        bound = params[self.types]
        keys = {key for key in (bound if self.rule.many else (bound,)) if key is not None}
        return frozenset(keys) if len(keys) <= 1 else None


def _abstract(completer: Completer, many: bool, field_name: str) -> AbstractCompleter:
    """The completer of the objects of a `node` field (nullable), or of `nodes`' items (nullable)."""
    if many:
        if isinstance(completer, NonNullCompleter):
            completer = completer.inner
        if not isinstance(completer, ListCompleter):
            raise SqlUnsupported(f"`{field_name}` is not a list")
        completer = completer.inner
    if not isinstance(completer, AbstractCompleter):
        # A non-null object could need the resolvers' error, where the statement has a null.
        raise SqlUnsupported(f"`{field_name}` is not a nullable interface or union")
    return completer


def node_lookup(compiler: SqlCompiler, rule: NodeLookup, field_plan: FieldPlan) -> sa.ColumnElement[Any]:
    """The JSON of a `node` field (an object or null), or of a `nodes` field (a list of them).

    Per id, a CASE on its type key picks the subquery of that type's selection, which reads
    the row with that primary key among the viewer's (`SqlType.readable`). A possible type
    without a SQL form, or whose selection here has none, is left out: its ids need the
    resolvers (`NodeIds.declined`), and the other types' ids still run as one statement."""
    abstract = _abstract(field_plan.completer, rule.many, field_plan.name)
    node = field_plan.nodes[0]
    given = next((a.value for a in node.arguments or () if a.name.value == rule.argument), None)
    # Numbered in the order met, so that every statement of the document names them alike.
    number = compiler._lookups_made
    compiler._lookups_made += 1
    lookup = NodeIds(
        rule,
        field_plan.definition,
        node,
        types=f"node_types_{number}",
        pks=f"node_pks_{number}",
        uses_variables=given is not None and _has_variable(given),
    )
    ids: Any = None
    type_key: sa.ColumnElement[Any]
    pk: sa.ColumnElement[Any]
    if rule.many:
        ids = (
            sa.func.unnest(
                sa.bindparam(lookup.types, type_=ARRAY(sa.Text())), sa.bindparam(lookup.pks, type_=ARRAY(sa.Uuid()))
            )
            .table_valued(sa.column("type_key", sa.Text()), sa.column("pk", sa.Uuid()), with_ordinality="position")
            .render_derived(name=f"ids{number}")
        )
        type_key, pk = ids.c.type_key, ids.c.pk
    else:
        type_key, pk = sa.bindparam(lookup.types, type_=sa.Text()), sa.bindparam(lookup.pks, type_=sa.Uuid())

    null = sa.cast(sa.null(), JSON)
    whens: list[tuple[sa.ColumnElement[bool], sa.ColumnElement[Any]]] = []
    keys: list[str] = []  # each arm's type key
    for type_name, plan in abstract.plans.items():
        declared = compiler.types.get(type_name)
        key = (declared.type_key or type_name) if declared is not None else type_name
        if declared is None or (declared.table is None and declared.identifies is None):
            lookup.declined[key] = f"an id of type {type_name} in `{field_plan.name}`: {type_name} has no SQL form"
            continue
        sites, connections, lookups = len(compiler.sites), compiler._connections, len(compiler.lookups)
        row = declared.table.alias(compiler.name("o")) if declared.table is not None else None
        try:
            value = compiler.object(plan, row)
        except SqlUnsupported as reason:
            # Not this type, but the others: forget what its selection had registered.
            del compiler.sites[sites:], compiler.lookups[lookups:]
            compiler._connections = connections
            lookup.declined[key] = f"an id of type {type_name} in `{field_plan.name}`: {reason}"
            continue
        if row is None:
            assert declared.identifies is not None
            whens.append((sa.and_(type_key == key, declared.identifies(pk)), value))
            keys.append(key)
            lookup.compiled[key] = type_name
            continue
        found = sa.select(value).where(row.c.id == pk, declared.readable(row))
        if ids is not None:
            found = found.correlate(ids)
        whens.append((type_key == key, found.scalar_subquery()))
        keys.append(key)
        lookup.compiled[key] = type_name
    # Every type's selection is compiled (its connections and lookups numbered alike in every
    # statement of the document); the CASE keeps only the arms this statement's ids can take.
    arms = compiler.arms[len(compiler.lookups)] if len(compiler.lookups) < len(compiler.arms) else None
    if arms is not None:
        whens = [when for when, key in zip(whens, keys, strict=True) if key in arms]
    compiler.lookups.append(lookup)

    one = sa.case(*whens, else_=null) if whens else null
    if ids is None:
        return one
    ordered = aggregate_order_by(one, ids.c.position)
    listed = sa.func.coalesce(sa.func.json_agg(ordered, type_=JSON), sa.cast(sa.literal("[]"), JSON))
    return sa.select(listed).select_from(ids).scalar_subquery()


# ----------------------------------------------------------------------------- lookups by a column


@dataclass(eq=False)
class ArgumentValue:
    """One argument of a field, bound at each request as `param`: the string argument of a
    `RowLookup` field (`rule`), or an argument of a `Computed` field (`rule` is its `Argument`)."""

    rule: RowLookup | Argument
    definition: GraphQLField
    node: FieldNode
    param: str
    argument: str

    def bind(self, variables: VariableValues, params: dict[str, Any]) -> str | None:
        """Put the argument's value in `params`; or say why the resolvers must answer."""
        try:
            value = get_argument_values(self.definition, self.node, variables).get(self.argument)
        except GraphQLError:
            return f"`{self.argument}` does not coerce (the resolvers report it)"
        rule = self.rule
        if isinstance(rule, Argument):
            if value is not None and rule.check is not None:
                try:
                    rule.check(value)
                except (ClientError, DomainError):
                    return f"`{self.argument}` refused (the resolvers report it)"
            params[self.param] = value
            return None
        if not isinstance(value, str):
            return f"`{self.argument}` is not a string"
        params[self.param] = rule.normalize(value) if rule.normalize is not None else value
        return None


def computed_with_arguments(
    compiler: SqlCompiler, rule: Computed, field_plan: FieldPlan, row: Row
) -> sa.ColumnElement[Any]:
    """The JSON of a `Computed` field that declares its arguments: `build` with a bind parameter
    per argument, each bound at each request (`ArgumentValue`)."""
    undeclared = set(field_plan.definition.args) - set(rule.arguments)
    if undeclared:
        raise SqlUnsupported(f"the argument `{min(undeclared)}` of {field_plan.parent.name}.{field_plan.name}")
    node = field_plan.nodes[0]
    bound: dict[str, Any] = {}
    for name, argument in rule.arguments.items():
        # Numbered in the order met, as `node_lookup`'s, so that every statement names them alike.
        param = f"lookup_{compiler._lookups_made}"
        compiler._lookups_made += 1
        compiler.lookups.append(ArgumentValue(argument, field_plan.definition, node, param, name))
        bound[name] = sa.bindparam(param, type_=argument.type)
    return rule.build(row, compiler, _object_plan(field_plan.completer), **bound)


def row_lookup(compiler: SqlCompiler, rule: RowLookup, field_plan: FieldPlan) -> sa.ColumnElement[Any]:
    """The JSON of a `RowLookup` field: the object of the readable row whose column is the
    argument's value, or null."""
    if isinstance(field_plan.completer, NonNullCompleter):
        raise SqlUnsupported(f"a lookup for the non-null {field_plan.parent.name}.{field_plan.name}")
    node = field_plan.nodes[0]
    if any(argument.name.value != rule.argument for argument in node.arguments or ()):
        raise SqlUnsupported(f"arguments of {field_plan.parent.name}.{field_plan.name}")
    # Numbered in the order met, as `node_lookup`'s, so that every statement names them alike.
    param = f"lookup_{compiler._lookups_made}"
    compiler._lookups_made += 1
    compiler.lookups.append(ArgumentValue(rule, field_plan.definition, node, param, rule.argument))
    row = rule.table.alias(compiler.name("o"))
    value = compiler.object(_object_plan(field_plan.completer), row)
    column = row.c[rule.column]
    found = sa.select(value).where(column == sa.bindparam(param, type_=column.type), readable(row, table=rule.table))
    return found.scalar_subquery()
