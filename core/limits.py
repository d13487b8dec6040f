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

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
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

CONNECTION_SUFFIX = "Connection"


@dataclass(frozen=True, slots=True)
class _Argument:
    """A page size (`first`/`last`) or `ids` as the document gives it: a literal, or a variable."""

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
        return _ABSENT
    return _ABSENT


@dataclass(frozen=True, slots=True)
class _Counted:
    """A connection (`first`, `last`) or the root's `nodes` (`ids`), and the counted fields below it."""

    connection: bool
    arguments: tuple[_Argument, ...]
    below: tuple[_Counted, ...]

    def factor(self, values: Mapping[str, Any], default_page_size: int) -> int:
        if self.connection:
            size = self.arguments[0].value(values)
            if size is None:
                size = self.arguments[1].value(values)
            return size if isinstance(size, int) and size >= 0 else default_page_size
        ids = self.arguments[0].value(values)
        return len(ids) if isinstance(ids, list) else 1


def _total(sites: tuple[_Counted, ...], values: Mapping[str, Any], default_page_size: int, multiplier: int) -> int:
    total = 0
    for site in sites:
        factor = site.factor(values, default_page_size)
        scaled = multiplier * factor
        if site.connection or factor != 1:
            total += scaled
        if site.below:
            total += _total(site.below, values, default_page_size, scaled)
    return total


class NodeCount:
    """The most objects an operation could return, as a formula of its variables.

    Made once per document and operation (`node_count`): the walk over the selections, fragments
    and field types is done then, and what a request adds is the values of the few variables that
    are page sizes or `ids`. An operation without such variables has one total, worked out once.
    """

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode) -> None:
        self.operation = operation
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        root = schema.get_root_type(operation.operation)

        def walk(selection_set: SelectionSetNode, parent: Any, into: list[_Counted]) -> None:
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    if not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
                        continue
                    definition = parent.fields.get(selection.name.value)
                    if definition is None:
                        continue
                    named = get_named_type(definition.type)
                    arguments: tuple[_Argument, ...]
                    if named.name.endswith(CONNECTION_SUFFIX):
                        connection, arguments = True, (_argument(selection, "first"), _argument(selection, "last"))
                    elif selection.name.value == "nodes" and parent is root:
                        connection, arguments = False, (_argument(selection, "ids"),)
                    else:  # a factor of 1, not counted: what is below counts at this level
                        if selection.selection_set is not None:
                            walk(selection.selection_set, named, into)
                        continue
                    below: list[_Counted] = []
                    if selection.selection_set is not None:
                        walk(selection.selection_set, named, below)
                    into.append(_Counted(connection, arguments, tuple(below)))
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    target = schema.get_type(condition.name.value) if condition else parent
                    walk(selection.selection_set, target, into)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = fragments.get(selection.name.value)
                    if fragment is not None:
                        walk(fragment.selection_set, schema.get_type(fragment.type_condition.name.value), into)

        sites: list[_Counted] = []
        if root is not None:
            walk(operation.selection_set, root, sites)
        self.sites = tuple(sites)
        self.variables = frozenset(_variables_of(self.sites))
        #: The total when no variable takes part, by default page size.
        self._fixed: dict[int, int] = {}

    def total(self, values: Mapping[str, Any], default_page_size: int) -> int:
        """The total for these coerced variable values (graphql-core's, operation defaults applied)."""
        if self.variables:
            return _total(self.sites, values, default_page_size, 1)
        fixed = self._fixed.get(default_page_size)
        if fixed is None:
            fixed = self._fixed[default_page_size] = _total(self.sites, {}, default_page_size, 1)
        return fixed


def _variables_of(sites: tuple[_Counted, ...]) -> Iterator[str]:
    for site in sites:
        for argument in site.arguments:
            if argument.variable is not None:
                yield argument.variable
        yield from _variables_of(site.below)


def node_count(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> NodeCount | None:
    """The operation's `NodeCount`, None when the document has no such operation. Keep it with
    the document (a compiled plan does) rather than making it again for each request."""
    operation = get_operation_ast(document, operation_name)
    return NodeCount(schema, document, operation) if operation is not None else None


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
    count = node_count(schema, document, operation_name)
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
        total = requested_nodes(
            context.schema._schema,
            context.graphql_document,
            context.operation_name,
            context.variables,
            self.default_page_size,
        )
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
