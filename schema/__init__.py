"""The one schema: root types assembled by inheritance from the registered products' parts.

`build_schema` and `printable_schema` take the registrations (`products.PRODUCTS` unless given):
`Query` is the platform's `viewer`, the products' query parts, then `node`/`nodes`; `Mutation`,
`Subscription` and `Viewer` are the products' parts in list order; the extra types are the
products' types reachable only through an interface, then the mutation errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule, specified_rules
from strawberry.extensions import (
    AddValidationRules,
    FieldExtension,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, Info

from core.budgets import CostLimiter
from core.cost import declare_connection_sizes
from core.documents import DocumentRules, PreparedDocuments
from core.errors import ErrorPolicy
from core.fastpath import PlanCache, plan_recorder
from core.limits import MaxNodesLimiter, RequireOperationName, SelectionLimits, StreamSafeParserCache, Validation
from core.persisted import StoreValidatedDocuments
from core.products import Product, Registry
from core.settings import Settings
from core.tracing import GraphQLSpans
from resolvers.node import node_query
from schema.common import ERROR_TYPES, SCALARS
from schema.viewer import VIEWER_KEY, viewer_of, viewer_root

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

# @defer and @stream: graphql-core 3.3 runs them, core/incremental.py delivers the payloads.
CONFIG = StrawberryConfig(scalar_map=SCALARS, enable_experimental_incremental_execution=True)

#: The order of the `Viewer`'s fields in the committed SDL, older than the registrations (whose
#: list order the other root types follow): products named here come first, in this order.
VIEWER_ORDER = ("insights", "jobs", "aurum", "identity")


def _root(name: str, description: str, parts: Sequence[type]) -> type | None:
    if not parts:
        return None
    return strawberry.type(type(name, tuple(parts), {}), description=description)


class MutationField(FieldExtension):
    """Names the root mutation field being resolved in the request's context
    (`Context.mutation_field`), which the audit trail records with the changes it makes.
    Root mutation fields run one after the other, so the name is set and restored around each.

    With a read replica, the request reads from the primary from here on, and once the field is
    done its actor's next reads wait for the replica to have replayed it (core/replicas.py)."""

    async def resolve_async(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        context = info.context
        context.read_primary()
        previous, context.mutation_field = context.mutation_field, info.field_name
        try:
            return await next_(source, info, **kwargs)
        finally:
            context.mutation_field = previous
            await context.record_writes()


def _named_mutations(root: type | None) -> type | None:
    """`root` with `MutationField` on each of its fields (once, however often it is assembled)."""
    if root is not None:
        for field in root.__strawberry_definition__.fields:  # type: ignore[attr-defined]
            if not any(isinstance(extension, MutationField) for extension in field.extensions):
                field.extensions.append(MutationField())
    return root


def schema_parts(products: Sequence[Product] | None = None) -> dict[str, Any]:
    """The keyword arguments of `strawberry.Schema` for these registrations (the roots and types)."""
    if products is None:
        from products import PRODUCTS  # here, not above: the registrations import the schema's modules

        products = PRODUCTS
    registry = Registry(products)
    viewer_part, viewer_type = viewer_root(registry.parts("viewer", VIEWER_ORDER))

    def viewer_node(pk: uuid.UUID, user_pk: uuid.UUID) -> Any:
        """`node(id:)` of a viewer id: the signed-in user's own viewer; anyone else's is null."""
        return viewer_of(viewer_type, pk) if pk == user_pk else None

    nodes = node_query(registry.node_types, {VIEWER_KEY: viewer_node})
    query = [viewer_part, *registry.parts("query"), nodes]
    return {
        "query": _root("Query", "Everything a client can read.", query),
        "mutation": _named_mutations(
            _root(
                "Mutation",
                "Everything a client can change; each mutation is one transaction.",
                registry.parts("mutation"),
            )
        ),
        "subscription": _root(
            "Subscription",
            "Live updates of the viewer's own data, over graphql-transport-ws (WebSocket) or Server-Sent "
            "Events; each subscription starts with a STARTED status message.",
            registry.parts("subscription"),
        ),
        # Types reachable only through the Node and MutationError interfaces.
        "types": [*registry.types, *ERROR_TYPES],
        "config": CONFIG,
    }


class QuintetSchema(PreparedDocuments, strawberry.Schema):
    # Compiled query plans (core/fastpath.py); None when the fast path is off.
    plans: PlanCache | None = None

    # Outside dev mode, no "Did you mean …?" in execution errors (variables, arguments, enum values).
    hide_suggestions: bool = False

    #: How a request's document is checked, as one call (trusted documents, core/documents.py).
    document_rules: DocumentRules | None = None

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """ErrorPolicy logs unexpected errors (with their id); expected ones are not server faults."""

    def _get_custom_context_kwargs(
        self, operation_extensions: dict[str, Any] | None = None, *, sync: bool = False
    ) -> dict[str, Any]:
        kwargs = super()._get_custom_context_kwargs(operation_extensions, sync=sync)
        return {**kwargs, "hide_suggestions": self.hide_suggestions}


def build_schema(
    settings: Settings, products: Sequence[Product] | None = None, *, tracer: Tracer | None = None
) -> QuintetSchema:
    """The schema of `products`; with `tracer`, strawberry's steps are traced (core/tracing.py)."""
    # Factories, not instances: each operation gets its own extension objects, so that
    # concurrent requests never share an execution context.
    mask = not settings.is_dev
    # The depth and alias limits are validation rules, and strawberry's extensions make a new
    # rule class each time one is constructed: a factory building them per request gave every
    # request a different set of rules, which the validation cache keys on, so nothing that goes
    # through strawberry (mutations, subscriptions, a query's first request) was ever served
    # from the cache. The rule classes are made once here and added to every operation.
    limit_rules = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    selection_limits = SelectionLimits(
        max_selections=settings.max_selections, max_overlaps=settings.max_overlapping_selections
    )
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: ErrorPolicy(mask=mask),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        # Documents longer than MAX_CACHED_DOCUMENT_BYTES enter none of the caches (parser,
        # validation, plans): unique long documents would otherwise grow the process.
        lambda: StreamSafeParserCache(maxsize=1024, max_document_bytes=settings.max_cached_document_bytes),
        lambda: AddValidationRules(limit_rules),
        # Validation itself, cached; refuses first what would be too costly to validate.
        lambda: Validation(
            limits=selection_limits, hide_suggestions=mask, max_document_bytes=settings.max_cached_document_bytes
        ),
        # After Validation: it needs the validation result (see core/limits.py).
        lambda: MaxNodesLimiter(max_nodes=settings.max_nodes, default_page_size=settings.default_page_size),
        # After both: a refused operation spends nothing from its budget; charged before it runs.
        lambda: CostLimiter(default_page_size=settings.default_page_size),
        RequireOperationName,
        # Stores a persisted query's text once its operation passed every check (core/persisted.py).
        StoreValidatedDocuments,
    ]
    if tracer is not None:
        extensions.insert(0, lambda: GraphQLSpans(tracer=tracer))
    if not settings.introspection_enabled:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    plans = PlanCache(max_document_bytes=settings.max_cached_document_bytes) if settings.fast_path else None
    if plans is not None:
        # Last: it compiles only documents that every check above has let through.
        extensions.append(plan_recorder(plans))
        if settings.compiled_sql:
            from schema.compiled import SQL_TYPES, sql_types

            plans.sql_types = SQL_TYPES if products is None else sql_types(products)
    schema = QuintetSchema(**schema_parts(products), extensions=extensions)
    declare_connection_sizes(schema._schema)
    schema.plans = plans
    schema.hide_suggestions = mask
    # The rules every request's document is validated with (graphql-core's, then those the
    # extensions above add), for documents checked outside a request (trusted documents).
    added = [*limit_rules, *([] if settings.introspection_enabled else [NoSchemaIntrospectionCustomRule])]
    schema.document_rules = DocumentRules(
        schema=schema._schema,
        rules=(*specified_rules, *added),
        limits=selection_limits,
        max_tokens=settings.max_tokens,
        hide_suggestions=mask,
    )
    return schema


def printable_schema(products: Sequence[Product] | None = None) -> str:
    """The SDL committed as `schema.graphql` (independent of settings)."""
    schema = strawberry.Schema(**schema_parts(products))
    declare_connection_sizes(schema._schema)
    return schema.as_str() + "\n"
