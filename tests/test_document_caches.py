"""The per-document caches hold only documents up to MAX_CACHED_DOCUMENT_BYTES.

Found by the audit against a production-mode server: unique anonymous documents of 250 KB each
(one long string literal, under MAX_BODY_BYTES) grew one process from 144 MB to 1.1 GB, held by
the parser, validation and plan caches (1024 entries each, no bound on their size). A longer
document is parsed, validated and run every time, through graphql-core, and enters none of them.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.applications import Starlette
from strawberry.extensions.parser_cache import _get_parse_cache

from core.fastpath import PlanCache
from core.limits import validate_document
from core.settings import Settings
from core.ws import _cached_is_subscription, subscription_fields
from tests.support import GraphQLClient

parser_cache: Any = _get_parse_cache(1024)  # the one StreamSafeParserCache(maxsize=1024) uses


def padded(query: str, size: int) -> str:
    """`query`, unique, with a comment making it `size` bytes long."""
    head = f"{query}\n# {uuid.uuid4().hex} "
    return head + "x" * (size - len(head))


def plans_of(app: Starlette) -> PlanCache:
    plans = app.state.runtime.plans
    assert plans is not None
    return plans


def sizes(app: Starlette) -> tuple[Any, Any, int]:
    """Each cache's hits, misses and size: a document that enters none leaves all of them alone
    (its hits and misses too, so this holds even when a cache is already full)."""
    return parser_cache.cache_info(), validate_document.cache_info(), len(plans_of(app)._plans)


VIEWER = "query { viewer { user { id displayName } } }"


async def test_a_document_above_the_threshold_is_answered_every_time_and_cached_nowhere(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    # Given a signed-in viewer and a (unique) query longer than the threshold
    me = await gql.sign_up(display_name="Long")
    document = padded(VIEWER, settings.max_cached_document_bytes + 1000)
    before = sizes(app)
    executed = plans_of(app).executed
    # When it is sent twice
    for _ in range(2):
        result = await gql(document, token=me.token)
        # Then it is answered right each time
        assert result.data == {"viewer": {"user": {"id": me.user_id, "displayName": "Long"}}}
    # And no cache holds it: no parsed document, no validation result, no plan
    assert sizes(app) == before
    assert not plans_of(app).known(document, None)
    assert plans_of(app).executed == executed  # graphql-core answered both


async def test_the_audits_anonymous_document_is_cached_nowhere(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    # Given the audit's document: anonymous, one long string literal, unique
    literal = uuid.uuid4().hex + "a" * (settings.max_cached_document_bytes * 4)
    document = f'query {{ node(id: "{literal}") {{ id }} }}'
    assert len(document) < settings.max_body_bytes
    before = sizes(app)
    answers: list[dict[str, Any]] = []
    for _ in range(2):
        answers.append((await gql(document)).body)
    # Then it is answered the same way both times, and leaves every cache as it was
    assert answers[0] == answers[1]
    assert answers[0].get("data") == {"node": None}
    assert sizes(app) == before


async def test_a_long_document_is_still_fully_validated_and_limited(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    # Given a long document that asks for a field that doesn't exist, and one too deep
    me = await gql.sign_up()
    unknown = padded("query { viewer { user { id noSuchField } } }", settings.max_cached_document_bytes + 1)
    deep = padded(
        "query { "
        + "viewer { user { " * (settings.max_query_depth + 1)
        + "id"
        + " } }" * (settings.max_query_depth + 1)
        + " }",
        settings.max_cached_document_bytes + 1,
    )
    before = sizes(app)
    for _ in range(2):
        # Then each is refused, every time
        assert (await gql(unknown, token=me.token)).error_codes == ["GRAPHQL_VALIDATION_FAILED"]
        assert (await gql(deep, token=me.token)).errors
    assert sizes(app) == before


async def test_a_document_below_the_threshold_is_still_cached(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    # Given a unique query just under the threshold
    me = await gql.sign_up(display_name="Short")
    document = padded(VIEWER, settings.max_cached_document_bytes)
    parsed, validated, _ = sizes(app)
    executed = plans_of(app).executed
    # When it is sent twice
    for _ in range(2):
        result = await gql(document, token=me.token)
        assert result.data == {"viewer": {"user": {"id": me.user_id, "displayName": "Short"}}}
    # Then it was parsed and validated once (the second request ran its plan, past both caches),
    # and compiled
    assert parser_cache.cache_info().misses == parsed.misses + 1
    assert parser_cache.cache_info().currsize == min(parsed.currsize + 1, 1024)
    assert validate_document.cache_info().misses == validated.misses + 1
    assert validate_document.cache_info().currsize == min(validated.currsize + 1, 1024)
    assert plans_of(app).known(document, None)
    assert plans_of(app).executed == executed + 1


def test_the_websocket_subscription_check_caches_only_short_documents(settings: Settings) -> None:
    subscription = "subscription { notificationAdded { id } }"
    long = padded(subscription, settings.max_cached_document_bytes + 1)
    short = padded(subscription, 200)
    before = _cached_is_subscription.cache_info().currsize
    assert subscription_fields(long, None, settings)
    assert subscription_fields(long, None, settings)
    assert not subscription_fields(padded(VIEWER, settings.max_cached_document_bytes + 1), None, settings)
    assert _cached_is_subscription.cache_info().currsize == before
    assert subscription_fields(short, None, settings)
    assert _cached_is_subscription.cache_info().currsize == min(before + 1, 1024)
