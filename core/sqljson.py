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
  `Children` (a connection of another table's rows, with the same sorts and filter conditions
  that the loaders use, taken from the services). A field that is not declared, an argument
  that changes the statement's text through a variable, a cursor or `last`: the plan has no
  SQL form and runs as before. The root needs a signed-in viewer; otherwise the plan runs.
- Page sizes are checked at every request by the same `page_args` as the resolvers; a refused
  one (or a variable that does not coerce) sends the request down the resolver path, whose
  errors graphql-core words as always.
- Non-null fields come from non-null columns or aggregates. Every row is scoped to the viewer:
  by `user_id = viewer`, as in the loaders' shapes, or for the children of a scoped row through
  their composite foreign key to it (`Children.owner_via_parent`). The differential tests
  (tests/test_sqljson.py) run generated documents through this path and through graphql-core
  and compare the answers.
- `node(id:)` and `nodes(ids:)` (`NodeLookup`) read the objects of every type declared with its
  table, scoped as its loader scopes it (`SqlType.readable`). The ids are decoded at each
  request into parameters (type keys and primary keys, arrays in the ids' order for `nodes`),
  so the statement is made once per document: per id, a CASE on its type key runs only that
  type's subquery, and an unknown type, another viewer's object or a missing one is null. What
  has to be the resolvers' (an invalid id, too many, an id of a type without a SQL form or
  whose selection here has none) is found per request and sent to them (`NodeIds.bind`);
  tests/test_sqljson_nodes.py compares both paths.

The JSON that Postgres writes differs from orjson's only in insignificant whitespace.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Callable, Mapping
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

from core.errors import ClientError
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
from core.pagination import Sort
from core.reads import VIEWER, Shape, viewer_param
from core.relay import InvalidGlobalId, from_global_id, page_args

logger = logging.getLogger("quintet.sqljson")

#: Postgres truncates longer names (NAMEDATALEN - 1).
MAX_IDENTIFIER_BYTES = 63

T = TypeVar("T")

Row = Any  # a FromClause whose `.c` holds the columns of the row being described
Conditions = Callable[[Mapping[str, Any]], list[sa.ColumnElement[bool]]]


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
class Computed:
    """An object-valued field built by `build(row, compiler, selection)` as a JSON expression."""

    build: Callable[[Row, SqlCompiler, SelectionPlan], sa.ColumnElement[Any]]


@dataclass(frozen=True)
class Children:
    """A connection (`nodes`, `totalCount`) of `table`'s rows whose `parent_column` is the
    parent's key (`parent_key(row)`; the viewer for top-level lists).

    `conditions(arguments)` gives the filter's conditions on `table` from the field's converted
    (strawberry) arguments, and `sorts` the orderings by the `orderBy` enum's value: both the
    loaders' own. Every row read is also scoped to the viewer (`user_id`), unless
    `owner_via_parent` says that the table's foreign key `(parent_column, user_id)` to its
    parent's `(id, user_id)` makes every child its parent's owner's: the parent's row is scoped
    already, and Postgres then pages the children by their parent's index alone (a condition on
    `user_id` as well led it to intersect a second index, half the dashboard's time).
    `tests/test_sqljson.py` checks that each such foreign key exists.
    """

    table: sa.Table
    parent_column: str
    parent_key: Callable[[Row], sa.ColumnElement[Any]]
    sorts: Mapping[str, Sort]
    conditions: Conditions | None = None
    owner_via_parent: bool = False


@dataclass(frozen=True)
class Parent:
    """A to-one field: the row of `table` whose id is the row's `key_column` (the viewer's own,
    like every row read). The key is a non-null foreign key, so the parent exists; with
    `nullable`, the key may be null or name a row the viewer can't read, and the field is null
    then (as its resolver answers), so its GraphQL type must be nullable too."""

    table: sa.Table
    key_column: str
    nullable: bool = False


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


Rule = Leaf | Computed | Children | Parent | NodeLookup


@dataclass(frozen=True)
class SqlType:
    fields: Mapping[str, Rule]
    #: The table of the type's rows, by `id`: with it, `node` and `nodes` read objects of the type.
    table: sa.Table | None = None
    #: The type key in the type's global ids; None: the GraphQL type's name.
    type_key: str | None = None
    #: Which of `table`'s rows the viewer reads (the loaders' scope), as a condition on a row;
    #: None: the rows whose `user_id` is the viewer.
    scope: Callable[[Row], sa.ColumnElement[bool]] | None = None

    def readable(self, row: Row) -> sa.ColumnElement[bool]:
        return self.scope(row) if self.scope is not None else row.c.user_id == viewer_param()


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


# ----------------------------------------------------------------------------- compiling


@dataclass
class FirstArgument:
    """The `first` of one connection: a literal, a variable, or absent (the default size)."""

    parameter: str
    literal: int | None = None
    variable: str | None = None


@dataclass
class SqlPlan:
    shape: Shape
    firsts: list[FirstArgument] = field(default_factory=list)
    operation: Any = None
    lookups: list[NodeIds] = field(default_factory=list)

    async def run(
        self,
        engine: AsyncEngine,
        schema: GraphQLSchema,
        viewer_id: Any,
        variables: dict[str, Any] | None,
        *,
        max_size: int,
        default_size: int,
    ) -> str | None:
        """The `data` object as JSON text, or None when the resolvers must answer."""
        params: dict[str, Any] = {VIEWER: viewer_id}
        if self.firsts:
            coerced: dict[str, Any] = {}
            if any(first.variable is not None for first in self.firsts):
                values = get_variable_values(schema, self.operation.variable_definitions or (), variables or {})
                if isinstance(values, list):
                    return None  # graphql-core reports variables that don't coerce
                coerced = values.coerced
            for first in self.firsts:
                size = coerced.get(first.variable) if first.variable is not None else first.literal
                try:
                    limit = page_args(
                        first=size, after=None, last=None, before=None, max_size=max_size, default_size=default_size
                    ).limit
                except ClientError:  # a refused size: the resolvers report it
                    return None
                params[first.parameter] = limit
        if self.lookups:
            declined = bind_node_ids(self.lookups, schema, self.operation, variables, params)
            if declined is not None:
                logger.debug("no SQL form: %s", declined)
                return None
        async with engine.connect() as conn:
            rows = await self.shape.fetch(conn, params)
        text: str = rows[0][0]
        return text


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


class SqlCompiler:
    def __init__(self, strawberry_schema: Any, types: Mapping[str, SqlType]) -> None:
        self.strawberry = strawberry_schema
        self.types = types
        self.firsts: list[FirstArgument] = []
        self.lookups: list[NodeIds] = []
        self._names = itertools.count()

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
                pairs.append((field_plan.key, sa.literal(field_plan.typename, sa.Text)))
                continue
            rule = declared.fields.get(field_plan.name)
            if rule is None:
                raise SqlUnsupported(f"field {plan.type.name}.{field_plan.name}")
            if isinstance(rule, Leaf):
                if field_plan.takes_arguments:
                    raise SqlUnsupported(f"arguments of {plan.type.name}.{field_plan.name}")
                pairs.append((field_plan.key, rule.value(row)))
            elif isinstance(rule, Computed):
                if field_plan.takes_arguments:
                    raise SqlUnsupported(f"arguments of {plan.type.name}.{field_plan.name}")
                pairs.append((field_plan.key, rule.build(row, self, _object_plan(field_plan.completer))))
            elif isinstance(rule, Parent):
                if field_plan.takes_arguments:
                    raise SqlUnsupported(f"arguments of {plan.type.name}.{field_plan.name}")
                pairs.append((field_plan.key, self.parent(rule, field_plan, row)))
            elif isinstance(rule, NodeLookup):
                pairs.append((field_plan.key, node_lookup(self, rule, field_plan)))
            else:
                pairs.append((field_plan.key, self.connection(rule, field_plan, row)))
        return pairs

    def parent(self, rule: Parent, field_plan: FieldPlan, row: Row) -> sa.ColumnElement[Any]:
        if rule.nullable and isinstance(field_plan.completer, NonNullCompleter):
            raise SqlUnsupported(f"a nullable parent for the non-null {field_plan.parent.name}.{field_plan.name}")
        parent = rule.table.alias(f"o{next(self._names)}")
        node = self.object(_object_plan(field_plan.completer), parent)
        found = sa.select(node).where(parent.c.id == row.c[rule.key_column], parent.c.user_id == viewer_param())
        return found.correlate(row).scalar_subquery()

    def leaves(self, plan: SelectionPlan, values: Mapping[str, sa.ColumnElement[Any]]) -> sa.ColumnElement[Any]:
        """An object whose fields are the given expressions (by field name)."""
        pairs: list[tuple[str, sa.ColumnElement[Any]]] = []
        for field_plan in plan.fields:
            if field_plan.typename is not None:
                pairs.append((field_plan.key, sa.literal(field_plan.typename, sa.Text)))
            elif field_plan.name in values and not field_plan.takes_arguments:
                pairs.append((field_plan.key, values[field_plan.name]))
            else:
                raise SqlUnsupported(f"field {plan.type.name}.{field_plan.name}")
        return json_object(pairs)

    def _arguments(self, field_plan: FieldPlan) -> tuple[dict[str, Any], FirstArgument]:
        """The field's arguments converted as strawberry converts them, and its `first`."""
        node = field_plan.nodes[0]
        parameter = f"first_{next(self._names)}"
        first = FirstArgument(parameter)
        for argument in node.arguments or ():
            if isinstance(argument.value, VariableNode) and argument.name.value == "first":
                first.variable = argument.value.name.value
            elif _has_variable(argument.value):
                # It would change the statement's text: the statement is made once per document.
                raise SqlUnsupported(f"a variable in `{argument.name.value}`")
        raw = get_argument_values(field_plan.definition, node, VariableValues({}, {}))
        strawberry_field = field_plan.definition.extensions.get("strawberry-definition")
        if strawberry_field is None:
            raise SqlUnsupported("not a strawberry field")
        converted = convert_arguments(
            raw,
            strawberry_field.arguments,
            scalar_registry=self.strawberry.schema_converter.scalar_registry,
            config=self.strawberry.config,
        )
        for name in ("after", "before", "last"):
            if converted.get(name) is not None:
                raise SqlUnsupported(f"`{name}`")
        if first.variable is None:
            first.literal = converted.get("first")
        return converted, first

    def connection(self, rule: Children, field_plan: FieldPlan, parent: Row) -> sa.ColumnElement[Any]:
        selection = _object_plan(field_plan.completer)
        arguments, first = self._arguments(field_plan)
        # Checked on every request, as the resolver checks it, even when no page is read.
        self.firsts.append(first)
        order_by = arguments.get("order_by")
        sort = rule.sorts.get(order_by.value if isinstance(order_by, Enum) else "")
        if sort is None:
            raise SqlUnsupported(f"the order {order_by!r}")
        conditions = rule.conditions(arguments) if rule.conditions is not None else []

        # Subqueries name the row they depend on: SQLAlchemy's automatic correlation only looks
        # at the enclosing SELECT's FROM list, which a row of lateral columns does not have.
        outer = [] if parent is None else [parent]

        def scoped(alias: Any) -> list[sa.ColumnElement[bool]]:
            adapter = ClauseAdapter(alias)
            return [
                alias.c[rule.parent_column] == rule.parent_key(parent),
                *([] if rule.owner_via_parent else [alias.c.user_id == viewer_param()]),
                *(adapter.traverse(condition) for condition in conditions),
            ]

        pairs: list[tuple[str, sa.ColumnElement[Any]]] = []
        for connection_field in selection.fields:
            key = connection_field.key
            if connection_field.typename is not None:
                pairs.append((key, sa.literal(connection_field.typename, sa.Text)))
            elif connection_field.name == "totalCount":
                counted = rule.table.alias(f"c{next(self._names)}")
                total = sa.select(sa.func.count()).select_from(counted).where(*scoped(counted)).correlate(*outer)
                pairs.append((key, total.scalar_subquery()))
            elif connection_field.name == "nodes":
                pairs.append((key, self._nodes(rule, connection_field, sort, scoped, first, parent)))
            else:
                raise SqlUnsupported(f"connection field {connection_field.name}")
        return json_object(pairs)

    def _nodes(
        self,
        rule: Children,
        nodes_field: FieldPlan,
        sort: Sort,
        scoped: Callable[[Any], list[sa.ColumnElement[bool]]],
        first: FirstArgument,
        parent: Row,
    ) -> sa.ColumnElement[Any]:
        rows = rule.table.alias(f"r{next(self._names)}")
        in_rows = ClauseAdapter(rows).traverse(sort.expression)
        direction: Callable[[Any], Any] = sa.desc if sort.descending else sa.asc
        page = (
            sa.select(rows)
            .where(*scoped(rows))
            .correlate(*([] if parent is None else [parent]))
            .order_by(direction(in_rows), direction(rows.c.id))
            .limit(sa.bindparam(first.parameter, type_=sa.Integer()))
            # LATERAL: the page refers to its parent's row in the enclosing query.
            .lateral(f"p{next(self._names)}")
        )
        in_page = ClauseAdapter(page).traverse(sort.expression)
        pairs = self.pairs(_object_plan(nodes_field.completer), page)
        source: Any = page
        node: Any
        if all(len(key.encode()) <= MAX_IDENTIFIER_BYTES for key, _ in pairs):
            # Each node as a row whose columns are named by the response keys: Postgres writes a
            # row as JSON for less than `json_build_object` costs it (a quarter less for six fields).
            fields = (
                sa.select(*(value.label(key) for key, value in pairs)).correlate(page).lateral(f"n{next(self._names)}")
            )
            source, node = page.join(fields, sa.true()), fields.table_valued()
        else:  # a key longer than Postgres keeps a column name
            node = json_object(pairs)
        ordered = aggregate_order_by(node, direction(in_page), direction(page.c.id))
        aggregated = sa.func.coalesce(sa.func.json_agg(ordered, type_=JSON), sa.cast(sa.literal("[]"), JSON))
        return sa.select(aggregated).select_from(source).scalar_subquery()


def compile_sql(plan: Plan, strawberry_schema: Any, types: Mapping[str, SqlType]) -> SqlPlan | None:
    """The plan as one statement, or None when some part of it has no SQL form."""
    compiler = SqlCompiler(strawberry_schema, types)
    try:
        data = compiler.object(plan.root, None)
    except SqlUnsupported as reason:
        logger.debug("no SQL form: %s", reason)
        return None
    statement = sa.select(sa.cast(data, sa.Text).label("data"))
    operation = get_operation_ast(plan.document, plan.operation_name)
    return SqlPlan(Shape(statement), compiler.firsts, operation, compiler.lookups)


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


def bind_node_ids(
    lookups: list[NodeIds],
    schema: GraphQLSchema,
    operation: Any,
    variables: dict[str, Any] | None,
    params: dict[str, Any],
) -> str | None:
    """The parameters of every `node`/`nodes` field into `params`, or why the resolvers answer."""
    values = VariableValues({}, {})
    if any(lookup.uses_variables for lookup in lookups):
        coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
        if isinstance(coerced, list):
            return "variables that don't coerce (graphql-core reports them)"
        values = coerced
    for lookup in lookups:
        declined = lookup.bind(values, params)
        if declined is not None:
            return declined
    return None


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
    number = next(compiler._names)
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

    whens: list[tuple[sa.ColumnElement[bool], sa.ColumnElement[Any]]] = []
    for type_name, plan in abstract.plans.items():
        declared = compiler.types.get(type_name)
        key = (declared.type_key or type_name) if declared is not None else type_name
        if declared is None or declared.table is None:
            lookup.declined[key] = f"an id of type {type_name} in `{field_plan.name}`: {type_name} has no SQL form"
            continue
        firsts, lookups = len(compiler.firsts), len(compiler.lookups)
        row = declared.table.alias(f"o{next(compiler._names)}")
        try:
            value = compiler.object(plan, row)
        except SqlUnsupported as reason:
            # Not this type, but the others: forget what its selection had registered.
            del compiler.firsts[firsts:], compiler.lookups[lookups:]
            lookup.declined[key] = f"an id of type {type_name} in `{field_plan.name}`: {reason}"
            continue
        found = sa.select(value).where(row.c.id == pk, declared.readable(row))
        if ids is not None:
            found = found.correlate(ids)
        whens.append((type_key == key, found.scalar_subquery()))
        lookup.compiled[key] = type_name
    compiler.lookups.append(lookup)

    null = sa.cast(sa.null(), JSON)
    one = sa.case(*whens, else_=null) if whens else null
    if ids is None:
        return one
    ordered = aggregate_order_by(one, ids.c.position)
    listed = sa.func.coalesce(sa.func.json_agg(ordered, type_=JSON), sa.cast(sa.literal("[]"), JSON))
    return sa.select(listed).select_from(ids).scalar_subquery()
