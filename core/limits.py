"""Limits checked before any of an operation runs.

Depth and alias limits don't bound breadth: four nested connections of 100 each could ask
for 100 million objects. Like GitHub's API, we multiply the page sizes (`first`/`last`, or
the default) down every path of connections and refuse an operation whose total is above
`max_nodes`, naming the limit and the total it asked for.

Nor do they bound the cost of validation itself: graphql-core's OverlappingFieldsCanBeMerged
compares every pair of selections of one response key at one place, so one field repeated a
few hundred times (18 KB) holds the event loop for seconds. `Validation` counts the document's
selections, and those pairs, in one cheap pass and refuses it before graphql-core sees it.
"""

from __future__ import annotations

import functools
import itertools
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import simdjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    validate,
)
from graphql.execution.values import VariableValues, get_variable_values
from graphql.utilities import get_operation_ast
from graphql.validation import ASTValidationRule
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from core.cost import MUTATION_WEIGHT, FieldCost, ListSize, field_cost, input_field_weight


@dataclass(frozen=True, slots=True)
class _Argument:
    """A slicing argument (`first`/`last`, `ids`) as the document gives it: a literal, or a variable."""

    literal: Any = None
    variable: str | None = None

    def value(self, values: Mapping[str, Any]) -> Any:
        return self.literal if self.variable is None else values.get(self.variable)


_ABSENT = _Argument()


def _argument(field: FieldNode, name: str) -> _Argument:
    for argument in field.arguments or ():
        if argument.name.value != name:
            continue
        value = argument.value
        if isinstance(value, VariableNode):
            return _Argument(variable=value.name.value)
        if isinstance(value, IntValueNode):
            return _Argument(int(value.value))
        if isinstance(value, ListValueNode):
            return _Argument(list(value.values))
        if isinstance(value, NullValueNode):
            return _ABSENT
        # Any other literal given to a list argument is a list of one (GraphQL's input coercion).
        return _Argument([value])
    return _ABSENT


def slicing_error(error: SlicingArgumentsError) -> GraphQLError:
    """The client's error for a field given none, or more than one, of its slicing arguments."""
    return GraphQLError(
        str(error),
        extensions={"code": "BAD_USER_INPUT", "field": error.field, "slicingArguments": list(error.arguments)},
    )


class SlicingArgumentsError(Exception):
    """A `@listSize(requireOneSlicingArgument: true)` field given none, or more than one, of them."""

    def __init__(self, field: str, arguments: tuple[str, ...]) -> None:
        super().__init__(f"`{field}` takes exactly one of its slicing arguments ({', '.join(arguments)})")
        self.field = field
        self.arguments = arguments


@dataclass(frozen=True, slots=True)
class _Size:
    """How long a list is for given variable values: its slicing arguments' value (a list argument
    counts its items; several given, the largest), else its assumed size (None: the default page size).
    The one rule for both the breadth limit and the cost."""

    field: str
    names: tuple[str, ...]
    arguments: tuple[_Argument, ...]
    assumed: int | None
    require_one: bool

    def value(self, values: Mapping[str, Any], default_page_size: int) -> int:
        given = []
        for argument in self.arguments:
            value = argument.value(values)
            if isinstance(value, bool):
                continue
            if isinstance(value, int) and value >= 0:
                given.append(value)
            elif isinstance(value, list):
                given.append(len(value))
            elif isinstance(value, str):
                given.append(1)  # a list argument given one item: GraphQL coerces it to a list of one
        if self.require_one and self.names and len(given) != 1:
            raise SlicingArgumentsError(self.field, self.names)
        if given:
            return max(given)
        return self.assumed if self.assumed is not None else default_page_size


def _size(selection: FieldNode, list_size: ListSize | None) -> _Size | None:
    if list_size is None:
        return None
    names = list_size.slicing
    return _Size(
        selection.name.value,
        names,
        tuple(_argument(selection, name) for name in names),
        list_size.assumed,
        list_size.require_one_slicing_argument is not False,
    )


@dataclass(frozen=True, slots=True)
class _Counted:
    """A connection or the root's `nodes` (`ids`), and the counted fields below it (`maxNodes`)."""

    connection: bool
    size: _Size
    below: tuple[_Counted, ...]


def _total(sites: tuple[_Counted, ...], values: Mapping[str, Any], default_page_size: int, multiplier: int) -> int:
    total = 0
    for site in sites:
        factor = site.size.value(values, default_page_size)
        scaled = multiplier * factor
        if site.connection or factor != 1:
            total += scaled
        if site.below:
            total += _total(site.below, values, default_page_size, scaled)
    return total


@dataclass(frozen=True, slots=True)
class _Listed:
    """A list in the response: found by `keys` from the object of its level, `size` long (None: a
    list without `@listSize`, counted as one item), each item weighing `weight` plus its `item` level."""

    keys: tuple[str, ...]
    size: _Size | None
    weight: int
    item: _Level


@dataclass(frozen=True, slots=True)
class _Level:
    """The fields of one object and of the single objects below it: their weights (`fixed`) and the
    lists among them, each multiplying what is below it."""

    fixed: int
    lists: tuple[_Listed, ...]


def _cost(level: _Level, values: Mapping[str, Any], default_page_size: int) -> int:
    total = level.fixed
    for listed in level.lists:
        size = 1 if listed.size is None else listed.size.value(values, default_page_size)
        total += size * (listed.weight + _cost(listed.item, values, default_page_size))
    return total


def _actual(level: _Level, data: Any) -> int:
    """The cost of what was returned: the same sum, each list counted at its real length."""
    total = level.fixed
    for listed in level.lists:
        value = data
        for key in listed.keys:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, list):
            continue
        item = listed.item
        if not item.lists:
            total += len(value) * (listed.weight + item.fixed)
        else:
            for entry in value:
                total += listed.weight + _actual(item, entry)
    return total


def _actual_lazy(level: _Level, data: Any) -> int:
    """`_actual` over simdjson's lazy proxies: only the lists' paths are read, nothing else is
    made into Python objects."""
    total = level.fixed
    for listed in level.lists:
        value = data
        for key in listed.keys:
            value = value.get(key) if isinstance(value, simdjson.Object) else None
        if not isinstance(value, simdjson.Array):
            continue
        item = listed.item
        if not item.lists:
            total += len(value) * (listed.weight + item.fixed)
        else:
            for entry in value:
                total += listed.weight + _actual_lazy(item, entry)
    return total


#: One document at a time (parsing the next invalidates the last): used without an await between.
_PARSER = simdjson.Parser()


class _LevelBuilder:
    __slots__ = ("fixed", "lists")

    def __init__(self) -> None:
        self.fixed = 0
        self.lists: list[_Listed] = []

    def build(self) -> _Level:
        return _Level(self.fixed, tuple(self.lists))


def _input_weight(type_: Any, value: Any, seen: frozenset[str] = frozenset()) -> int:
    """`@cost` weights of the input fields a literal gives (a variable: every weighted field of its
    type, the most it can give)."""
    named = get_named_type(type_)
    if not isinstance(named, GraphQLInputObjectType) or named.name in seen:
        return 0
    seen = seen | {named.name}
    total = 0
    if isinstance(value, ObjectValueNode):
        for given in value.fields:
            field = named.fields.get(given.name.value)
            if field is not None:
                total += input_field_weight(field) + _input_weight(field.type, given.value, seen)
    elif isinstance(value, VariableNode):
        for field in named.fields.values():
            total += input_field_weight(field) + _input_weight(field.type, value, seen)
    return total


def _given_weight(selection: FieldNode, definition: GraphQLField, cost: FieldCost) -> int:
    if not selection.arguments:
        return 0
    weights = dict(cost.argument_weights)
    total = 0
    for argument in selection.arguments:
        name = argument.name.value
        total += weights.get(name, 0)
        declared = definition.args.get(name)
        if declared is not None:
            total += _input_weight(declared.type, argument.value)
    return total


@dataclass(frozen=True, slots=True)
class _Sized:
    names: frozenset[str]
    size: _Size | None


class Demand:
    """What an operation asks for, as a formula of its variables: the most objects it could return
    through connections and `nodes` (`maxNodes`), and its static cost (GraphQL Cost Directives,
    core/cost.py). One walk makes both, with the same list sizes.

    Made once per document and operation (`node_count`): the walk over the selections, fragments
    and field types is done then, and what a request adds is the values of the few variables that
    are slicing arguments. An operation without such variables has one total of each, worked out once.
    """

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode) -> None:
        self.operation = operation
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        root = schema.get_root_type(operation.operation)

        def walk(
            selection_set: SelectionSetNode,
            parent: Any,
            counted: list[_Counted],
            level: _LevelBuilder,
            prefix: tuple[str, ...],
            sized: _Sized | None,
        ) -> None:
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    if not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
                        continue
                    name = selection.name.value
                    definition = parent.fields.get(name)
                    if definition is None:
                        continue
                    cost = field_cost(definition)
                    named = get_named_type(definition.type)
                    key = selection.alias.value if selection.alias is not None else name
                    weight = cost.weight + _given_weight(selection, definition, cost)
                    multiplied, size = False, None
                    if sized is not None and name in sized.names:
                        multiplied, size = True, sized.size
                    elif cost.is_list:
                        multiplied, size = True, _size(selection, cost.list_size)
                    below_sized = None
                    if cost.list_size is not None and cost.list_size.sized and not cost.is_list:
                        below_sized = _Sized(frozenset(cost.list_size.sized), _size(selection, cost.list_size))
                    site: _Size | None = None
                    if cost.connection and below_sized is not None:
                        site = below_sized.size
                    elif name == "nodes" and parent is root:
                        site = size
                    below = [] if site is not None else counted
                    if multiplied:
                        item = _LevelBuilder()
                        if selection.selection_set is not None:
                            walk(selection.selection_set, named, below, item, (), below_sized)
                        level.lists.append(_Listed((*prefix, key), size, weight, item.build()))
                    else:
                        level.fixed += weight
                        if selection.selection_set is not None:
                            walk(selection.selection_set, named, below, level, (*prefix, key), below_sized)
                    if site is not None:
                        counted.append(_Counted(cost.connection, site, tuple(below)))
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    target = schema.get_type(condition.name.value) if condition else parent
                    walk(selection.selection_set, target, counted, level, prefix, sized)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = fragments.get(selection.name.value)
                    if fragment is not None:
                        target = schema.get_type(fragment.type_condition.name.value)
                        walk(fragment.selection_set, target, counted, level, prefix, sized)

        sites: list[_Counted] = []
        level = _LevelBuilder()
        if operation.operation is OperationType.MUTATION:
            level.fixed += MUTATION_WEIGHT
        if root is not None:
            walk(operation.selection_set, root, sites, level, (), None)
        self.sites = tuple(sites)
        self.level = level.build()
        self.variables = frozenset(_variables_of(self.sites)) | frozenset(_level_variables(self.level))
        #: Whether the actual cost can differ from the requested one (the response has lists).
        self.has_lists = bool(self.level.lists)
        #: The totals when no variable takes part, by default page size.
        self._fixed: dict[int, int] = {}
        self._fixed_cost: dict[int, int] = {}

    def total(self, values: Mapping[str, Any], default_page_size: int) -> int:
        """The node count for these coerced variable values (graphql-core's, operation defaults applied)."""
        if self.variables:
            return _total(self.sites, values, default_page_size, 1)
        fixed = self._fixed.get(default_page_size)
        if fixed is None:
            fixed = self._fixed[default_page_size] = _total(self.sites, {}, default_page_size, 1)
        return fixed

    def cost(self, values: Mapping[str, Any], default_page_size: int) -> int:
        """The requested cost for these coerced variable values; raises `SlicingArgumentsError`."""
        if self.variables:
            return _cost(self.level, values, default_page_size)
        fixed = self._fixed_cost.get(default_page_size)
        if fixed is None:
            fixed = self._fixed_cost[default_page_size] = _cost(self.level, {}, default_page_size)
        return fixed

    def actual_cost(self, data: Any) -> int:
        """The cost of `data`, the response's `data` as returned."""
        return _actual(self.level, data)

    def actual_cost_of_text(self, text: str) -> int:
        """`actual_cost` of `data` as JSON text (the one-statement answer), read lazily with
        simdjson: parsing it into Python objects cost as much as the rest of the request."""
        return _actual_lazy(self.level, _PARSER.parse(text.encode()))


def _variables_of(sites: tuple[_Counted, ...]) -> Iterator[str]:
    for site in sites:
        for argument in site.size.arguments:
            if argument.variable is not None:
                yield argument.variable
        yield from _variables_of(site.below)


def _level_variables(level: _Level) -> Iterator[str]:
    for listed in level.lists:
        if listed.size is not None:
            for argument in listed.size.arguments:
                if argument.variable is not None:
                    yield argument.variable
        yield from _level_variables(listed.item)


#: Kept for the callers that only count nodes.
NodeCount = Demand


def node_count(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> Demand | None:
    """The operation's `Demand`, None when the document has no such operation. Keep it with
    the document (a compiled plan does, `demand_of` does for the others) rather than making it
    again for each request."""
    operation = get_operation_ast(document, operation_name)
    return Demand(schema, document, operation) if operation is not None else None


#: Demands by the id of their (live) document: a document's hash is a deep one over its whole tree.
_DEMANDS: dict[int, tuple[weakref.ref[DocumentNode], dict[tuple[int, str | None], Demand | None]]] = {}


def _forget(key: int, ref: weakref.ref[DocumentNode]) -> None:
    entry = _DEMANDS.get(key)
    if entry is not None and entry[0] is ref:
        del _DEMANDS[key]


def demand_of(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> Demand | None:
    """`node_count`, kept with the (parsed, cached) document for as long as it lives."""
    entry = _DEMANDS.get(id(document))
    if entry is None or entry[0]() is not document:
        at = id(document)
        entry = _DEMANDS[at] = (weakref.ref(document, functools.partial(_forget, at)), {})
    per_document = entry[1]
    key = (id(schema), operation_name)
    if key not in per_document:
        per_document[key] = node_count(schema, document, operation_name)
    return per_document[key]


def coerced_variables(
    schema: GraphQLSchema, operation: OperationDefinitionNode, variables: dict[str, Any] | None
) -> VariableValues | None:
    """The operation's variables as its resolvers will see them (coerced, defaults applied), or
    None when they don't coerce (graphql-core reports them). Stops at the first value that
    doesn't coerce: building an error for each of 60,000 bad list items would hold the event
    loop for seconds."""
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {}, max_errors=1)
    return None if isinstance(coerced, list) else coerced


def requested_nodes(
    schema: GraphQLSchema,
    document: Any,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    default_page_size: int,
) -> int:
    """The most objects the operation could return through connections and `nodes` (0 when its
    variables don't coerce: graphql-core refuses the operation before it runs)."""
    count = demand_of(schema, document, operation_name)
    if count is None:
        return 0
    if not count.operation.variable_definitions:
        return count.total({}, default_page_size)
    values = coerced_variables(schema, count.operation, variables)
    return 0 if values is None else count.total(values.coerced, default_page_size)


class MaxNodesLimiter(SchemaExtension):
    """Refuses operations that could return more than `max_nodes` objects.

    Runs after validation (so the document is known to be valid, and fragment cycles are
    already refused) and before execution: a refused operation runs no SQL.
    """

    def __init__(self, *, max_nodes: int, default_page_size: int) -> None:
        self.max_nodes = max_nodes
        self.default_page_size = default_page_size

    def on_validate(self) -> Iterator[None]:
        # Validation (listed before this extension) has validated the document by now;
        # strawberry runs execution only if `pre_execution_errors` is empty afterwards.
        context = self.execution_context
        if context.pre_execution_errors == []:
            error = self.check()
            if error is not None:
                context.pre_execution_errors = [error]  # a new list: never mutate the cached one
        yield

    def check(self) -> GraphQLError | None:
        context = self.execution_context
        if context.graphql_document is None:
            return None
        try:
            total = requested_nodes(
                context.schema._schema,
                context.graphql_document,
                context.operation_name,
                context.variables,
                self.default_page_size,
            )
        except SlicingArgumentsError as error:
            return slicing_error(error)
        if total <= self.max_nodes:
            return None
        return GraphQLError(
            f"This operation could return {total} objects, above the limit of {self.max_nodes}; "
            "ask for smaller pages (first/last) or fewer nested connections",
            extensions={"code": "TOO_MANY_NODES", "limit": "maxNodes", "value": self.max_nodes, "requested": total},
        )


class RequireOperationName(SchemaExtension):
    """A document with several operations must say which to run (GraphQL spec, 6.1).

    Without this, strawberry would pick the first one, and a client would silently run an
    operation it did not mean to.
    """

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # `operation_name` falls back to the first operation's name; we need what the client sent.
        provided = context._provided_operation_name
        if context.pre_execution_errors == [] and document is not None and not provided:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                context.pre_execution_errors = [
                    GraphQLError(
                        f"The document holds {len(operations)} operations: pass `operationName` to pick one",
                        extensions={"code": "OPERATION_NAME_REQUIRED"},
                    )
                ]
        yield


def cacheable(query: str | None, max_bytes: int) -> bool:
    """Whether a document's text is short enough for the per-document caches (UTF-8 bytes).

    Each of them (parser, validation, plans, the WebSocket's subscription check) holds up to
    1024 documents: without this, unique documents each the size of MAX_BODY_BYTES (a long
    string literal) would hold a quarter of a gigabyte of text in every one of them.
    """
    if query is None or len(query) > max_bytes:
        return False
    return query.isascii() or len(query.encode()) <= max_bytes


class StreamSafeParserCache(ParserCache):
    """ParserCache that leaves a document it cannot parse to strawberry's own parse step.

    ParserCache parses inside its `on_parse` hook, outside the error handling of the parse
    step: `Schema.execute` catches what escapes, but `Schema.stream` (WebSocket and SSE) does
    not, and a syntax error (or the token limit) would end the operation with no error at all.
    Strawberry then parses the query again and reports the error like any other.

    A document longer than `max_document_bytes` is left to that parse step too: parsed every
    time, never cached (see `cacheable`).
    """

    def __init__(self, maxsize: int, max_document_bytes: int) -> None:
        super().__init__(maxsize=maxsize)
        self.max_document_bytes = max_document_bytes

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None or not cacheable(context.query, self.max_document_bytes):
            # Parsed already (a trusted document, core/documents.py), or too long to cache.
            yield
            return
        try:
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        except GraphQLError:
            context.graphql_document = None
        yield


# ------------------------------------------------------------------ the cost of validation


@dataclass(frozen=True)
class SelectionLimits:
    #: Selections (fields, fragment spreads, inline fragments), a fragment's at each of its spreads.
    max_selections: int
    #: Pairs of selections of one response key (or two fragment spreads) at one place.
    max_overlaps: int


@dataclass
class SelectionCount:
    selections: int = 0
    overlaps: int = 0
    #: The response key repeated most at one place, and how often.
    repeated: str = ""
    repeats: int = 0


def count_selections(document: DocumentNode, limits: SelectionLimits) -> SelectionCount:
    """Selections and overlapping pairs of the document, counting stops past either limit.

    A place is one response path: the selections under every occurrence of `a` in `{ a { b } a { b } }`
    are one place, holding `b` twice, as graphql-core's overlap rule compares them. A fragment
    is counted at each spread (a fragment spread on the current path is a cycle, which validation
    refuses, and is not followed); fragments that no operation spreads are counted on their own.
    The work is linear in the count, which the limits bound, whatever the document's fragments.
    """
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    count = SelectionCount()
    seen: dict[tuple[int, str], int] = {}  # (place, response key) -> occurrences
    places: dict[tuple[int, str], int] = {}  # (place, response key) -> the place below it
    reached: set[str] = set()
    roots = [d.selection_set for d in document.definitions if isinstance(d, OperationDefinitionNode)]

    def over() -> bool:
        return count.selections > limits.max_selections or count.overlaps > limits.max_overlaps

    new_place = itertools.count().__next__

    def walk(root: SelectionSetNode) -> bool:
        stack: list[tuple[SelectionSetNode, int, frozenset[str]]] = [(root, new_place(), frozenset())]
        while stack:
            selection_set, place, chain = stack.pop()
            for selection in selection_set.selections:
                count.selections += 1
                if isinstance(selection, InlineFragmentNode):
                    stack.append((selection.selection_set, place, chain))
                    continue
                assert isinstance(selection, (FieldNode, FragmentSpreadNode))
                name = selection.name.value
                if isinstance(selection, FragmentSpreadNode):
                    key = (place, "...")
                else:
                    key = (place, selection.alias.value if selection.alias is not None else name)
                occurrences = seen.get(key, 0)
                seen[key] = occurrences + 1
                count.overlaps += occurrences
                if occurrences + 1 > count.repeats:
                    count.repeated, count.repeats = key[1], occurrences + 1
                if over():
                    return False
                if isinstance(selection, FieldNode):
                    if selection.selection_set is not None:
                        below = places.get(key)
                        if below is None:
                            below = places[key] = new_place()
                        stack.append((selection.selection_set, below, chain))
                    continue
                fragment = fragments.get(name)
                if fragment is not None and name not in chain:
                    reached.add(name)
                    stack.append((fragment.selection_set, place, chain | {name}))
        return True

    for root in roots:
        if not walk(root):
            return count
    for name, fragment in fragments.items():
        if name not in reached and not walk(fragment.selection_set):
            return count
    return count


def selection_limit_error(document: DocumentNode, limits: SelectionLimits) -> GraphQLError | None:
    count = count_selections(document, limits)
    if count.selections > limits.max_selections:
        return GraphQLError(
            f"This document makes more than {limits.max_selections} selections (a fragment's counted at each "
            "spread); ask for fewer fields or split the operation",
            extensions={"code": "TOO_MANY_SELECTIONS", "limit": "maxSelections", "value": limits.max_selections},
        )
    if count.overlaps > limits.max_overlaps:
        what = "spreads fragments" if count.repeated == "..." else f"selects `{count.repeated}`"
        return GraphQLError(
            f"This document {what} {count.repeats} times at one place; more than "
            f"{limits.max_overlaps} pairs of selections of one response key at one place would have to be "
            "compared: select each field once per selection set",
            extensions={
                "code": "TOO_MANY_SELECTIONS",
                "limit": "maxOverlappingSelections",
                "value": limits.max_overlaps,
            },
        )
    return None


#: Strawberry adds these to every validation (see `strawberry.schema.schema.validate_document`).
STRAWBERRY_RULES: tuple[type[ASTValidationRule], ...] = (MaybeNullValidationRule, OneOfInputValidationRule)


def check_document(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    limits: SelectionLimits,
    hide_suggestions: bool,
) -> list[GraphQLError]:
    """The document's validation errors (uncached: see `validate_document`)."""
    refused = selection_limit_error(document, limits)
    if refused is not None:
        return [refused]
    try:
        errors = validate(schema, document, (*rules, *STRAWBERRY_RULES), hide_suggestions=hide_suggestions)
    except RecursionError:  # graphql-core catches its own; this is for any rule that doesn't
        errors = [ValidationAbortedError("Validation aborted.")]
    # "Validation aborted." is graphql-core's word for a RecursionError in a rule.
    return [TOO_DEEP_TO_VALIDATE if error.message == "Validation aborted." else error for error in errors]


#: `check_document`, cached: the same list for the same arguments.
validate_document = lru_cache(maxsize=1024)(check_document)

TOO_DEEP_TO_VALIDATE = GraphQLError(
    "This document nests too deeply to be validated; flatten its fragments",
    extensions={"code": "GRAPHQL_VALIDATION_FAILED", "reason": "TOO_DEEP_TO_VALIDATE"},
)


class Validation(SchemaExtension):
    """graphql-core's validation, cached, after a cheap pass that refuses documents too costly to check.

    In place of strawberry's ValidationCache: that one validates whatever came before it, and
    passes no `hide_suggestions` (outside dev mode, "Did you mean …?" would reveal the schema).
    """

    def __init__(self, *, limits: SelectionLimits, hide_suggestions: bool, max_document_bytes: int) -> None:
        self.limits = limits
        self.hide_suggestions = hide_suggestions
        self.max_document_bytes = max_document_bytes

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and context.pre_execution_errors is None:
            # A long document is validated every time rather than held in the cache (see `cacheable`).
            check = validate_document if cacheable(context.query, self.max_document_bytes) else check_document
            context.pre_execution_errors = check(
                context.schema._schema,
                context.graphql_document,
                tuple(context.validation_rules),
                self.limits,
                self.hide_suggestions,
            )
        yield
