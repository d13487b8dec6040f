"""Static cost, per the IBM GraphQL Cost Directive specification (the one Apollo Router's demand
control, Hive Gateway and Grafbase follow): the `@cost` and `@listSize` directives of the schema,
and what they say about one field.

- `@cost(weight:)` on a field, an object type, an argument or an input field: what it weighs each
  time it appears. Without one a field weighs what its type weighs: an object, interface or union
  1, a scalar or an enum 0. A mutation operation weighs `MUTATION_WEIGHT` more.
- `@listSize(assumedSize:, slicingArguments:, sizedFields:, requireOneSlicingArgument:)` on a field:
  how long the list it returns is (the value of its slicing argument, else `assumedSize`), or, with
  `sizedFields`, how long the lists of those fields of the object it returns are (a connection's
  `edges` and `nodes`).

Declared once: every connection (a field whose type is a `…Connection` with `first`/`last`, the kit's
`kit.children` and the platform's alike) gets its `@listSize` from that convention when the schema
is built (`declare_connection_sizes`), with the default page size as `assumedSize`. A field that
costs more than its type (an AI call, a text search) carries `@cost` where it is declared.

The weights are read from the strawberry declarations behind graphql-core's schema once per
field (`FieldCost`); `core.limits.Demand` walks a document with them, together with the breadth
limit (`maxNodes`), in one walk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInputField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)
from strawberry.schema_directive import Location

#: The extra weight of a mutation operation (the specification's default).
MUTATION_WEIGHT = 10
#: The `assumedSize` printed in the SDL for connections: DEFAULT_PAGE_SIZE's default. A server with
#: another DEFAULT_PAGE_SIZE counts with its own (the size its connections then return).
SDL_DEFAULT_PAGE_SIZE = 20
CONNECTION_SUFFIX = "Connection"
SLICING_ARGUMENTS = ("first", "last")
SIZED_FIELDS = ("edges", "nodes")
BACKREF = "strawberry-definition"


@strawberry.schema_directive(
    locations=[
        Location.ARGUMENT_DEFINITION,
        Location.ENUM,
        Location.FIELD_DEFINITION,
        Location.INPUT_FIELD_DEFINITION,
        Location.OBJECT,
        Location.SCALAR,
    ],
    name="cost",
    description="What the field, type, argument or input field weighs each time it appears in an operation "
    "(GraphQL Cost Directives specification).",
)
class Cost:
    weight: int


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="listSize",
    description="How long the list a field returns is, or the lists of its `sizedFields` "
    "(GraphQL Cost Directives specification).",
)
class ListSize:
    # UNSET (not None) where not given, so that the SDL prints no `= null` default for them.
    assumed_size: int | None = strawberry.UNSET
    slicing_arguments: list[str] | None = strawberry.UNSET
    sized_fields: list[str] | None = strawberry.UNSET
    require_one_slicing_argument: bool | None = True

    @property
    def assumed(self) -> int | None:
        return self.assumed_size if isinstance(self.assumed_size, int) else None

    @property
    def slicing(self) -> tuple[str, ...]:
        return tuple(self.slicing_arguments) if isinstance(self.slicing_arguments, list) else ()

    @property
    def sized(self) -> tuple[str, ...]:
        return tuple(self.sized_fields) if isinstance(self.sized_fields, list) else ()


def connection_list_size() -> ListSize:
    return ListSize(
        assumed_size=SDL_DEFAULT_PAGE_SIZE,
        slicing_arguments=list(SLICING_ARGUMENTS),
        sized_fields=list(SIZED_FIELDS),
        require_one_slicing_argument=False,
    )


def _directives(definition: Any) -> tuple[Any, ...]:
    extensions = getattr(definition, "extensions", None) or {}
    declared = extensions.get(BACKREF)
    return tuple(getattr(declared, "directives", None) or ())


def _weight_of(directives: tuple[Any, ...]) -> int | None:
    for directive in directives:
        if isinstance(directive, Cost):
            return directive.weight
    return None


def is_connection(field: GraphQLField) -> bool:
    return get_named_type(field.type).name.endswith(CONNECTION_SUFFIX) and all(
        name in field.args for name in SLICING_ARGUMENTS
    )


def declare_connection_sizes(schema: GraphQLSchema) -> None:
    """Give every connection field without a `@listSize` of its own the connections' one (on its
    strawberry declaration, which the SDL is printed from). Idempotent."""
    for named in schema.type_map.values():
        if not isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)) or named.name.startswith("__"):
            continue
        for field in named.fields.values():
            declared = (field.extensions or {}).get(BACKREF)
            if declared is None or not is_connection(field):
                continue
            if not any(isinstance(directive, ListSize) for directive in declared.directives):
                declared.directives.append(connection_list_size())


@dataclass(frozen=True, slots=True)
class FieldCost:
    """What one field of the schema weighs and how its lists are sized."""

    #: The field's weight when it appears once (its own `@cost`, else its type's, else 1 or 0).
    weight: int
    #: Whether the field returns a list (multiplied by its size).
    is_list: bool
    list_size: ListSize | None
    #: `@cost` weights of its arguments, by name (added when the argument is given).
    argument_weights: tuple[tuple[str, int], ...]
    #: Whether it is a connection (sized by `first`/`last`, counted by `maxNodes`).
    connection: bool


def _type_weight(named: GraphQLNamedType) -> int:
    declared = _weight_of(_directives(named))
    if declared is not None:
        return declared
    return 1 if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)) else 0


def _returns_list(field: GraphQLField) -> bool:
    of = field.type
    if isinstance(of, GraphQLNonNull):
        of = of.of_type
    return isinstance(of, GraphQLList)


def _argument_weight(argument: GraphQLArgument) -> int:
    return _weight_of(_directives(argument)) or 0


def input_field_weight(field: GraphQLInputField) -> int:
    return _weight_of(_directives(field)) or 0


_FIELDS: dict[int, tuple[GraphQLField, FieldCost]] = {}


def field_cost(field: GraphQLField) -> FieldCost:
    """The field's `FieldCost`, read from its declarations once per process."""
    known = _FIELDS.get(id(field))
    if known is not None and known[0] is field:
        return known[1]
    directives = _directives(field)
    weight = _weight_of(directives)
    list_size = next((d for d in directives if isinstance(d, ListSize)), None)
    connection = is_connection(field)
    if connection and (list_size is None or list_size == connection_list_size()):
        # The connections' own: sized by this server's DEFAULT_PAGE_SIZE where first/last are not given.
        list_size = ListSize(
            slicing_arguments=list(SLICING_ARGUMENTS),
            sized_fields=list(SIZED_FIELDS),
            require_one_slicing_argument=False,
        )
    cost = FieldCost(
        weight=weight if weight is not None else _type_weight(get_named_type(field.type)),
        is_list=_returns_list(field),
        list_size=list_size,
        argument_weights=tuple(
            (name, weight) for name, argument in field.args.items() if (weight := _argument_weight(argument))
        ),
        connection=connection,
    )
    _FIELDS[id(field)] = (field, cost)
    return cost
