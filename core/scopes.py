"""Scopes: what an API client may ask for, per product, checked before anything runs.

A scope is a registered product's name and `read` or `write` (`aurum:read`, `organizations:write`).
Each root field belongs to the product whose registration gives it (`core.products.Registry`
parts): a query's and a subscription's fields need the product's `:read`, a mutation's fields its
`:write` (a mutation's payload is read under it). `viewer`'s fields belong to the products of the
viewer parts; `node`/`nodes` to the product that registers the node type their IDs name (literal
or variable). A request of an API client whose scopes lack one is refused before execution with
`INSUFFICIENT_SCOPE`, naming the scope (HTTP 403; over WebSocket an `error` message). Then the read
policies decide the rows (an API client reads its organization's, never a user's).

Only API clients carry scopes (`Actor.scopes`); users, the system and webhooks are not limited
by them. The fields a document selects are found once per document text (cached like the other
per-document work, `core.limits.cacheable`); a request then only reads the IDs of `node`/`nodes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    ListValueNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    get_operation_ast,
    parse,
)

from core.context import Actor
from core.limits import cacheable
from core.products import Registry
from core.relay import InvalidGlobalId, from_global_id
from core.settings import Settings

READ = "read"
WRITE = "write"
CODE = "INSUFFICIENT_SCOPE"


@dataclass(frozen=True, eq=False)  # hashed by identity: the per-document cache keys on it
class ScopeRules:
    """Which product each root field (and `viewer` field, and node type) belongs to."""

    query: Mapping[str, str]
    mutation: Mapping[str, str]
    subscription: Mapping[str, str]
    viewer: Mapping[str, str]
    #: node type key (in a global ID) -> product
    node_types: Mapping[str, str]
    #: The root fields that fetch nodes by ID, with the argument holding the ID (or IDs).
    node_fields: Mapping[str, str] = field(default_factory=lambda: {"node": "id", "nodes": "ids"})
    viewer_field: str = "viewer"
    max_tokens: int | None = None
    max_cached_document_bytes: int = 16 * 1024

    @property
    def products(self) -> frozenset[str]:
        """The products a scope may name: those with a root field, a viewer field or a node type."""
        owners: set[str] = set()
        for part in (self.query, self.mutation, self.subscription, self.viewer, self.node_types):
            owners.update(part.values())
        return frozenset(owners)

    def valid_scopes(self) -> list[str]:
        return sorted(f"{product}:{verb}" for product in self.products for verb in (READ, WRITE))


def field_names(part: type, graphql_name: Any) -> list[str]:
    """The GraphQL names of a strawberry type's fields (`graphql_name(field)`: the schema's
    name converter)."""
    definition = getattr(part, "__strawberry_definition__", None)
    if definition is None:
        return []
    return [graphql_name(f) for f in definition.fields]


def rules_of(
    parts: Mapping[str, Sequence[tuple[str, type]]],
    node_types: Iterable[tuple[str, str]],
    graphql_name: Any,
    **options: Any,
) -> ScopeRules:
    """The rules from the registrations: per root (`query`, `mutation`, `subscription`, `viewer`)
    each (product, part) pair, and each (node type key, product)."""

    def owners(root: str) -> dict[str, str]:
        return {name: product for product, part in parts.get(root, ()) for name in field_names(part, graphql_name)}

    return ScopeRules(
        query=owners("query"),
        mutation=owners("mutation"),
        subscription=owners("subscription"),
        viewer=owners("viewer"),
        node_types=dict(node_types),
        **options,
    )


def rules_for(registry: Registry, graphql_name: Any, settings: Settings) -> ScopeRules:
    """The rules of the registered products (`graphql_name`: the schema's name converter)."""
    roots = ("query", "mutation", "subscription", "viewer")
    parts = {
        root: [(p.name, part) for p in registry.products if (part := getattr(p, root)) is not None] for root in roots
    }
    return rules_of(
        parts,
        [(key, p.name) for p in registry.products for key in p.node_types],
        graphql_name,
        max_tokens=settings.max_tokens,
        max_cached_document_bytes=settings.max_cached_document_bytes,
    )


class InsufficientScope(Exception):
    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        first = missing[0]
        product = first.split(":", 1)[0]
        needs = "read" if first.endswith(":read") else "change"
        self.message = f"This API client lacks the scope {first}, needed to {needs} {product}" + (
            f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""
        )
        super().__init__(self.message)

    @property
    def details(self) -> dict[str, Any]:
        return {"scope": self.missing[0], "missingScopes": self.missing}


@dataclass(frozen=True)
class _Needs:
    """What a document's operation needs: its fixed scopes, and where node IDs come from."""

    scopes: frozenset[str]
    verb: str
    #: (literal ID values, variable names) of `node`/`nodes` arguments
    literal_ids: tuple[str, ...] = ()
    id_variables: tuple[str, ...] = ()


def _selections(
    selection_set: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode], seen: set[str]
) -> Iterable[FieldNode]:
    """The fields of a selection set, through fragment spreads and inline fragments."""
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _selections(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                seen.add(name)
                yield from _selections(fragment.selection_set, fragments, seen)


def _ids_of(value: ValueNode, literal: list[str], variables: list[str]) -> None:
    if isinstance(value, StringValueNode):
        literal.append(value.value)
    elif isinstance(value, VariableNode):
        variables.append(value.name.value)
    elif isinstance(value, ListValueNode):
        for item in value.values:
            _ids_of(item, literal, variables)


def _needs(rules: ScopeRules, document: DocumentNode, operation_name: str | None) -> _Needs | None:
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    if operation.operation is OperationType.MUTATION:
        verb, roots = WRITE, rules.mutation
    elif operation.operation is OperationType.SUBSCRIPTION:
        verb, roots = READ, rules.subscription
    else:
        verb, roots = READ, rules.query
    scopes: set[str] = set()
    literal: list[str] = []
    variables: list[str] = []
    for root in _selections(operation.selection_set, fragments, set()):
        name = root.name.value
        if name in roots:
            scopes.add(f"{roots[name]}:{verb}")
        elif verb == READ and name == rules.viewer_field and operation.operation is OperationType.QUERY:
            for inner in _selections(root.selection_set, fragments, set()):
                product = rules.viewer.get(inner.name.value)
                if product is not None:
                    scopes.add(f"{product}:{READ}")
        elif name in rules.node_fields and operation.operation is OperationType.QUERY:
            argument = rules.node_fields[name]
            for given in root.arguments or ():
                if given.name.value == argument:
                    _ids_of(given.value, literal, variables)
    return _Needs(frozenset(scopes), verb, tuple(literal), tuple(variables))


def _parse_and_find(rules: ScopeRules, query: str, operation_name: str | None) -> _Needs | None:
    try:
        document = parse(query, max_tokens=rules.max_tokens)
    except GraphQLError:
        return None  # the endpoint answers the syntax error
    return _needs(rules, document, operation_name)


@lru_cache(maxsize=1024)
def _cached(rules: ScopeRules, query: str, operation_name: str | None) -> _Needs | None:
    return _parse_and_find(rules, query, operation_name)


def _node_scopes(rules: ScopeRules, needs: _Needs, variables: Mapping[str, Any] | None) -> set[str]:
    ids = list(needs.literal_ids)
    for name in needs.id_variables:
        value = (variables or {}).get(name)
        if isinstance(value, str):
            ids.append(value)
        elif isinstance(value, list):
            ids.extend(v for v in value if isinstance(v, str))
    scopes = set()
    for value in ids:
        try:
            type_key, _ = from_global_id(value)
        except InvalidGlobalId:
            continue  # `node` answers an invalid ID with its own error
        product = rules.node_types.get(type_key)
        if product is not None:
            scopes.add(f"{product}:{READ}")
    return scopes


def check_scopes(
    rules: ScopeRules | None,
    actor: Actor | None,
    query: str,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> None:
    """Refuse (`InsufficientScope`) an API client's operation that needs a scope it lacks."""
    if rules is None or actor is None or actor.scopes is None:
        return
    if cacheable(query, rules.max_cached_document_bytes):
        needs = _cached(rules, query, operation_name)
    else:
        needs = _parse_and_find(rules, query, operation_name)
    if needs is None:
        return
    wanted = set(needs.scopes)
    if needs.literal_ids or needs.id_variables:
        wanted |= _node_scopes(rules, needs, variables)
    missing = sorted(wanted - actor.scopes)
    if missing:
        raise InsufficientScope(missing)
