"""A limit on how many objects one operation may ask for, before any of it runs.

Depth and alias limits don't bound breadth: four nested connections of 100 each could ask
for 100 million objects. Like GitHub's API, we multiply the page sizes (`first`/`last`, or
the default) down every path of connections and refuse an operation whose total is above
`max_nodes`, naming the limit and the total it asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
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
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import ParserCache, SchemaExtension

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
    values = variables or {}
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
        # ValidationCache (listed before this extension) has validated the document by now;
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


class StreamSafeParserCache(ParserCache):
    """ParserCache that leaves a document it cannot parse to strawberry's own parse step.

    ParserCache parses inside its `on_parse` hook, outside the error handling of the parse
    step: `Schema.execute` catches what escapes, but `Schema.stream` (WebSocket and SSE) does
    not, and a syntax error (or the token limit) would end the operation with no error at all.
    Strawberry then parses the query again and reports the error like any other.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        except GraphQLError:
            context.graphql_document = None
        yield
