"""The one schema: root types assembled by inheritance from each domain's parts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from core.errors import ErrorPolicy
from core.fastpath import PlanCache, plan_recorder
from core.limits import MaxNodesLimiter, RequireOperationName, SelectionLimits, StreamSafeParserCache, Validation
from core.settings import Settings
from resolvers.aurum import AurumMutation, AurumSubscription
from resolvers.identity import IdentityMutation, IdentityQuery
from resolvers.insights import InsightMutation
from resolvers.jobs import JobSubscription
from resolvers.node import NodeQuery
from resolvers.notifications import NotificationMutation, NotificationSubscription
from schema.aurum.types import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from schema.common import ERROR_TYPES, SCALARS
from schema.identity import User
from schema.insights import Insight, InsightRule
from schema.jobs import BackgroundJob
from schema.notifications import Notification


@strawberry.type(description="Everything a client can read.")
class Query(IdentityQuery, NodeQuery):
    pass


@strawberry.type(description="Everything a client can change; each mutation is one transaction.")
class Mutation(IdentityMutation, AurumMutation, InsightMutation, NotificationMutation):
    pass


@strawberry.type(
    description="Live updates of the viewer's own data, over graphql-transport-ws (WebSocket) or Server-Sent "
    "Events; each subscription starts with a STARTED status message."
)
class Subscription(AurumSubscription, NotificationSubscription, JobSubscription):
    pass


CONFIG = StrawberryConfig(scalar_map=SCALARS)

# Types reachable only through the Node and MutationError interfaces.
EXTRA_TYPES = [
    User,
    Notification,
    Pillar,
    Area,
    Project,
    Task,
    JournalEntry,
    JournalTemplate,
    Resource,
    BackgroundJob,
    Insight,
    InsightRule,
    *ERROR_TYPES,
]


class QuintetSchema(strawberry.Schema):
    # Compiled query plans (core/fastpath.py); None when the fast path is off.
    plans: PlanCache | None = None

    # Outside dev mode, no "Did you mean …?" in execution errors (variables, arguments, enum values).
    hide_suggestions: bool = False

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """ErrorPolicy logs unexpected errors (with their id); expected ones are not server faults."""

    def _get_custom_context_kwargs(
        self, operation_extensions: dict[str, Any] | None = None, *, sync: bool = False
    ) -> dict[str, Any]:
        kwargs = super()._get_custom_context_kwargs(operation_extensions, sync=sync)
        return {**kwargs, "hide_suggestions": self.hide_suggestions}


def build_schema(settings: Settings) -> QuintetSchema:
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
        RequireOperationName,
    ]
    if not settings.introspection_enabled:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    plans = PlanCache(max_document_bytes=settings.max_cached_document_bytes) if settings.fast_path else None
    if plans is not None:
        # Last: it compiles only documents that every check above has let through.
        extensions.append(plan_recorder(plans))
        if settings.compiled_sql:
            from schema.compiled import SQL_TYPES

            plans.sql_types = SQL_TYPES
    schema = QuintetSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=EXTRA_TYPES,
        extensions=extensions,
        config=CONFIG,
    )
    schema.plans = plans
    schema.hide_suggestions = mask
    return schema


def printable_schema() -> str:
    """The SDL committed as `schema.graphql` (independent of settings)."""
    schema = strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Subscription, types=EXTRA_TYPES, config=CONFIG
    )
    return schema.as_str() + "\n"
