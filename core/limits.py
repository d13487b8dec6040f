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
from collections.abc import Iterator
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
from graphql.execution.values import get_variable_values
from graphql.utilities import get_operation_ast
from graphql.validation import ASTValidationRule
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

CONNECTION_SUFFIX = "Connection"


def _argument(field: FieldNode, name: str, variables: dict[str, Any]) -> Any:
    for argument in field.arguments or ():
        if argument.name.value != name:
            continue
        value = argument.value
        if isinstance(value, VariableNode):
            return variables.get(value.name.value)
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, ListValueNode):
            return list(value.values)
        return None
    return None


def requested_nodes(
    schema: GraphQLSchema,
    document: Any,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    default_page_size: int,
) -> int:
    """The most objects the operation could return through connections and `nodes`."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    # Page sizes as the resolvers will see them: coerced, operation defaults applied. Stop at the
    # first value that doesn't coerce (graphql-core reports them): building an error for each of
    # 60,000 bad list items would hold the event loop for seconds.
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {}, max_errors=1)
    if isinstance(coerced, list):
        return 0  # variables that don't coerce: graphql-core refuses the operation before it runs
    values = coerced.coerced
    root = schema.get_root_type(operation.operation)
    total = 0

    def walk(selection_set: SelectionSetNode, parent: Any, multiplier: int) -> None:
        nonlocal total
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
                    continue
                definition = parent.fields.get(selection.name.value)
                if definition is None:
                    continue
                named = get_named_type(definition.type)
                factor = 1
                if named.name.endswith(CONNECTION_SUFFIX):
                    size = _argument(selection, "first", values)
                    if size is None:
                        size = _argument(selection, "last", values)
                    factor = size if isinstance(size, int) and size >= 0 else default_page_size
                elif selection.name.value == "nodes" and parent is root:
                    ids = _argument(selection, "ids", values)
                    factor = len(ids) if isinstance(ids, list) else 1
                scaled = multiplier * factor
                if factor != 1 or named.name.endswith(CONNECTION_SUFFIX):
                    total += scaled
                if selection.selection_set is not None:
                    walk(selection.selection_set, named, scaled)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = schema.get_type(condition.name.value) if condition else parent
                walk(selection.selection_set, target, multiplier)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    walk(fragment.selection_set, schema.get_type(fragment.type_condition.name.value), multiplier)

    if root is not None:
        walk(operation.selection_set, root, 1)
    return total


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
        if not cacheable(context.query, self.max_document_bytes):
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
