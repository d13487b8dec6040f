"""Automatic persisted queries (core/persisted.py) over HTTP: misses, hits,
hash checks, what is stored (only documents that passed every check), and the stores themselves
(the process's LRU memory, and the real Redis at 127.0.0.1:6379). SSE, WebSocket and the real
npm clients: tests/live/test_apq_clients.py."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from core.persisted import MemoryStore, PersistedQueries, RedisStore, sha256_hex
from core.ratelimit import Counters, RateLimiter
from core.runtime import Runtime
from tests.metrics_support import scrape
from tests.support import GraphQLClient, free_port
from tests.test_logs import captured, lines, requests

GRAPHQL_RESPONSE = "application/graphql-response+json"
REDIS_URL = "redis://127.0.0.1:6379/0"


def unique_query(selection: str = "viewer { id }") -> str:
    """A query no other test (nor an earlier run) has stored: its hash is new."""
    return f"query Apq {{ apq_{uuid.uuid4().hex}: __typename {selection} }}"


def persisted(text: str, version: Any = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256_hex(text)}}


async def post(
    http: httpx.AsyncClient,
    body: dict[str, Any],
    *,
    accept: str = GRAPHQL_RESPONSE,
    token: str | None = None,
) -> httpx.Response:
    headers = {"accept": accept}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return await http.post("/graphql", json=body, headers=headers)


async def get(http: httpx.AsyncClient, params: dict[str, Any], *, token: str | None = None) -> httpx.Response:
    encoded = {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in params.items()}
    headers = {"accept": GRAPHQL_RESPONSE}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return await http.get("/graphql", params=encoded, headers=headers)


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


# ----------------------------------------------------------------------------- the protocol


async def test_an_unknown_hash_is_persisted_query_not_found_as_apollo_clients_expect(http: httpx.AsyncClient) -> None:
    text = unique_query()
    response = await post(http, {"extensions": persisted(text)})
    # Under application/graphql-response+json a request error is a 4xx: not found, 404
    assert response.status_code == 404
    assert response.json() == {
        "errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]
    }
    # Under application/json (legacy clients, Apollo Server's answer) it is a 200 with the error
    legacy = await post(http, {"extensions": persisted(text)}, accept="application/json")
    assert legacy.status_code == 200
    assert codes(legacy) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_hash_sent_with_its_text_is_stored_and_answers_alone_next_time(
    gql: GraphQLClient, app: Starlette
) -> None:
    http = gql.http
    user = await gql.sign_up(display_name="Apq")
    text = unique_query("viewer { user { displayName } }")
    first = await post(http, {"query": text, "extensions": persisted(text)}, token=user.token)
    assert first.status_code == 200, first.text
    assert first.json()["data"]["viewer"]["user"] == {"displayName": "Apq"}
    # The hash alone now names the document: same answer, with no text sent
    again = await post(http, {"extensions": persisted(text)}, token=user.token)
    assert again.status_code == 200, again.text
    assert again.json()["data"] == first.json()["data"]
    # And it is stored under its hash in the process's store
    runtime: Runtime = app.state.runtime
    assert await runtime.persisted.store.get(sha256_hex(text)) == text


async def test_variables_and_operation_name_travel_with_the_hash(gql: GraphQLClient) -> None:
    http = gql.http
    user = await gql.sign_up()
    text = (
        f"query Other {{ __typename }} query Pillars($n: Int!) {{ apq_{uuid.uuid4().hex}: __typename "
        "viewer { pillars(first: $n) { totalCount } } }"
    )
    body = {"query": text, "extensions": persisted(text), "variables": {"n": 3}, "operationName": "Pillars"}
    assert (await post(http, body, token=user.token)).status_code == 200
    body.pop("query")
    response = await post(http, body, token=user.token)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["viewer"]["pillars"] == {"totalCount": 0}


async def test_a_hash_that_is_not_the_texts_is_refused_and_nothing_is_stored(http: httpx.AsyncClient) -> None:
    text, other = unique_query(), unique_query()
    response = await post(http, {"query": text, "extensions": persisted(other)}, accept="application/json")
    assert response.status_code == 400
    assert codes(response) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    # Neither the text's hash nor the claimed one names a document now
    for hashed in (text, other):
        assert codes(await post(http, {"extensions": persisted(hashed)})) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.parametrize(
    ("extension", "code"),
    [
        ({"version": 2, "sha256Hash": "0" * 64}, "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"),
        ({"version": "1", "sha256Hash": "0" * 64}, "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"),
        ({"sha256Hash": "0" * 64}, "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"),
        ({"version": 1, "sha256Hash": "abc"}, "BAD_REQUEST"),
        ({"version": 1, "sha256Hash": 12}, "BAD_REQUEST"),
        ({"version": 1}, "BAD_REQUEST"),
        ("sha256:abc", "BAD_REQUEST"),
        ([], "BAD_REQUEST"),
    ],
)
async def test_a_malformed_persisted_query_extension_is_a_400_with_its_code(
    http: httpx.AsyncClient, extension: Any, code: str
) -> None:
    for accept in (GRAPHQL_RESPONSE, "application/json"):
        response = await post(http, {"extensions": {"persistedQuery": extension}}, accept=accept)
        assert response.status_code == 400, response.text
        assert codes(response) == [code]
    version = await post(http, {"extensions": {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}}})
    assert version.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)
PERSISTED_QUERIES = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries(
        {},
        optional={
            "version": st.sampled_from([1, 2, 0, -1, "1", True, None, 1.0]),
            "sha256Hash": st.one_of(st.text(alphabet="0123456789abcdefABCDEF", min_size=60, max_size=66), JSON_VALUES),
            "miss": st.booleans(),
        },
    ),
)


@settings(deadline=None, derandomize=True, database=None, max_examples=150)
@given(
    persisted_query=PERSISTED_QUERIES,
    query=st.sampled_from([None, "", "{ __typename }", "query {", 5]),
    method=st.sampled_from(["POST", "GET"]),
)
async def test_any_persisted_query_extension_is_answered_with_a_code_never_a_5xx(
    http: httpx.AsyncClient, persisted_query: Any, query: Any, method: str
) -> None:
    body: dict[str, Any] = {"extensions": {"persistedQuery": persisted_query}}
    if query is not None:
        body["query"] = query
    if method == "POST":
        response = await post(http, body)
    else:
        response = await get(http, {k: v for k, v in body.items() if not (k == "query" and not isinstance(v, str))})
    assert response.status_code < 500, response.text
    for error in response.json().get("errors", []):
        assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", response.text


async def test_without_query_or_persisted_query_the_request_is_still_a_bad_request(http: httpx.AsyncClient) -> None:
    bodies: list[dict[str, Any]] = [{}, {"extensions": {}}, {"extensions": {"persistedQuery": None}}, {"query": ""}]
    for body in bodies:
        response = await post(http, body)
        assert response.status_code == 400
        assert codes(response) == ["BAD_REQUEST"]


async def test_a_document_that_does_not_validate_is_never_stored(http: httpx.AsyncClient) -> None:
    for text in (
        f"query {{ apq_{uuid.uuid4().hex}: noSuchField }}",  # validation
        f"query {{ apq_{uuid.uuid4().hex}: __typename ",  # syntax
        "query Deep { " + "viewer { " * 40 + "id" + " }" * 40 + f" apq_{uuid.uuid4().hex}: __typename }}",  # depth
    ):
        refused = await post(http, {"query": text, "extensions": persisted(text)})
        assert refused.status_code == 400, refused.text
        assert codes(refused) != ["PERSISTED_QUERY_NOT_FOUND"]
        assert codes(await post(http, {"extensions": persisted(text)})) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_document_longer_than_the_cache_limit_runs_but_is_not_stored(
    http: httpx.AsyncClient, app: Starlette
) -> None:
    limit = app.state.runtime.settings.max_cached_document_bytes
    padding = "#" + "x" * limit + "\n"  # a comment: the document is valid, and longer than the limit
    text = padding + unique_query("")
    response = await post(http, {"query": text, "extensions": persisted(text)})
    assert response.status_code == 200, response.text
    assert codes(await post(http, {"extensions": persisted(text)})) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_document_with_a_compiled_plan_is_stored_without_going_through_validation_again(
    gql: GraphQLClient, app: Starlette
) -> None:
    http = gql.http
    user = await gql.sign_up()
    text = unique_query("viewer { pillars(first: 5) { nodes { id } } }")
    for _ in range(2):  # by text: the second request runs its compiled plan
        assert (await post(http, {"query": text}, token=user.token)).status_code == 200
    plans = app.state.runtime.plans
    assert plans is not None
    assert plans.known(text, None)
    # With its hash now, the compiled path answers (strawberry's checks don't run), and it is stored
    with_hash = await post(http, {"query": text, "extensions": persisted(text)}, token=user.token)
    assert with_hash.status_code == 200
    assert with_hash.json()["extensions"]["sql"]["statements"] <= 1
    alone = await post(http, {"extensions": persisted(text)}, token=user.token)
    assert alone.status_code == 200, alone.text
    assert alone.json()["data"] == with_hash.json()["data"]


async def test_a_mutation_runs_by_hash_over_post(gql: GraphQLClient) -> None:
    http = gql.http
    user = await gql.sign_up()
    text = (
        f"mutation Create($input: CreatePillarInput!) {{ apq_{uuid.uuid4().hex}: __typename "
        "createPillar(input: $input) { pillar { name } errors { code } } }"
    )
    body = {"query": text, "extensions": persisted(text), "variables": {"input": {"name": "One"}}}
    assert (await post(http, body, token=user.token)).json()["data"]["createPillar"]["pillar"] == {"name": "One"}
    body.pop("query")
    body["variables"] = {"input": {"name": "Two"}}
    second = await post(http, body, token=user.token)
    assert second.json()["data"]["createPillar"]["pillar"] == {"name": "Two"}, second.text


# ----------------------------------------------------------------------------- GET


async def test_get_with_the_hash_answers_a_stored_query(gql: GraphQLClient) -> None:
    http = gql.http
    user = await gql.sign_up(display_name="Getter")
    text = unique_query("viewer { user { displayName } }")
    # A miss by GET, then the text by GET (Apollo retries by POST, urql by GET when the URL is short)
    miss = await get(http, {"extensions": persisted(text)}, token=user.token)
    assert (miss.status_code, codes(miss)) == (404, ["PERSISTED_QUERY_NOT_FOUND"])
    stored = await get(http, {"query": text, "extensions": persisted(text)}, token=user.token)
    assert stored.status_code == 200, stored.text
    hit = await get(http, {"extensions": persisted(text), "variables": {}}, token=user.token)
    assert hit.status_code == 200, hit.text
    assert hit.json()["data"]["viewer"]["user"] == {"displayName": "Getter"}
    assert "cache-control" not in hit.headers  # no cache headers here: GET by document id decides them


async def test_a_stored_mutation_is_still_refused_by_get(gql: GraphQLClient) -> None:
    http = gql.http
    user = await gql.sign_up()
    text = (
        f"mutation {{ apq_{uuid.uuid4().hex}: __typename "
        'createPillar(input: {name: "By GET"}) { pillar { id } errors { code } } }'
    )
    assert (await post(http, {"query": text, "extensions": persisted(text)}, token=user.token)).status_code == 200
    refused = await get(http, {"extensions": persisted(text)}, token=user.token)
    assert refused.status_code == 405
    assert codes(refused) == ["METHOD_NOT_ALLOWED"]
    pillars = await gql("query { viewer { pillars(first: 10) { totalCount } } }", token=user.token)
    assert pillars.data["viewer"]["pillars"]["totalCount"] == 1  # the POST's only


async def test_the_request_log_line_and_the_metrics_say_what_a_persisted_query_did(http: httpx.AsyncClient) -> None:
    text = unique_query("")
    before = await scrape(http)
    with captured() as output:
        await post(http, {"extensions": persisted(text)})  # miss
        await post(http, {"query": text, "extensions": persisted(text)})  # sent, stored
        await post(http, {"extensions": persisted(text)})  # hit
    answered = requests(lines(output()))[-3:]
    assert [line.get("persisted_query") for line in answered] == ["miss", "sent", "hit"]
    assert [line.get("operation") for line in answered] == [None, "Apq", "Apq"]  # a hit names its operation
    assert answered[0]["refusal"] == "PERSISTED_QUERY_NOT_FOUND"
    after = await scrape(http)
    for outcome in ("miss", "stored", "hit"):
        counted = after.get("quintet_persisted_queries_total", outcome=outcome)
        assert counted - before.get("quintet_persisted_queries_total", outcome=outcome) == 1, outcome


# ----------------------------------------------------------------------------- switched off


@contextmanager
def apq_switched_off(app: Starlette) -> Iterator[None]:
    runtime: Runtime = app.state.runtime
    saved = runtime.persisted
    runtime.persisted = PersistedQueries(MemoryStore(1024), enabled=False)
    try:
        yield
    finally:
        runtime.persisted = saved


async def test_with_apq_off_a_persisted_query_is_not_supported(http: httpx.AsyncClient, app: Starlette) -> None:
    text = unique_query("")
    with apq_switched_off(app):
        response = await post(http, {"extensions": persisted(text)})
        assert response.status_code == 400
        assert response.json()["errors"][0] == {
            "message": "PersistedQueryNotSupported",
            "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"},
        }
        # A plain query is unaffected
        assert (await post(http, {"query": text})).status_code == 200


async def test_documents_stored_per_client_address_are_limited(app: Starlette) -> None:
    runtime: Runtime = app.state.runtime
    saved = runtime.persisted
    limiter = RateLimiter(limit="2/minute", storage=Counters("async+memory://"), namespace=f"apq-{uuid.uuid4().hex}")
    runtime.persisted = PersistedQueries(MemoryStore(1 << 20), plans=runtime.plans, limiter=limiter)

    @asynccontextmanager
    async def client_at(address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=(address, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client

    try:
        async with client_at("10.20.30.40") as one, client_at("10.20.30.41") as other:
            texts = [unique_query("") for _ in range(3)]
            for text in texts:  # all three run
                assert (await post(one, {"query": text, "extensions": persisted(text)})).status_code == 200
            # The first two were stored; the third, over the address's limit, was not
            found = [codes(await post(one, {"extensions": persisted(text)})) for text in texts]
            assert found == [[], [], ["PERSISTED_QUERY_NOT_FOUND"]]
            # Another address stores it
            assert (await post(other, {"query": texts[2], "extensions": persisted(texts[2])})).status_code == 200
            assert codes(await post(one, {"extensions": persisted(texts[2])})) == []
    finally:
        runtime.persisted = saved


# ----------------------------------------------------------------------------- the stores


async def test_the_memory_store_keeps_the_most_recently_used_within_its_bytes() -> None:
    store = MemoryStore(100)
    for name in "abc":
        await store.put(name, name * 40)
    # 120 bytes asked for 100: the least recently used ("a") left
    assert await store.get("a") is None
    assert await store.get("b") == "b" * 40  # "b" is now the most recently used
    await store.put("d", "d" * 40)
    assert (await store.get("c"), await store.get("b"), await store.get("d")) == (None, "b" * 40, "d" * 40)
    await store.put("big", "x" * 101)  # larger than the whole store: never kept
    assert await store.get("big") is None
    assert await store.get("b") == "b" * 40
    await store.put("é", "é" * 40)  # counted in UTF-8 bytes: 80
    assert len(store) == 1


@pytest.fixture
def redis_available() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is needed for this test: {exc}")
    return REDIS_URL


async def test_the_redis_store_shares_documents_with_a_ttl_renewed_by_use(redis_available: str) -> None:
    prefix = f"quintet-test:apq:{uuid.uuid4().hex}:"

    def process() -> RedisStore:  # each with its own memory, as a process has
        return RedisStore(redis_available, ttl=300, memory=MemoryStore(1024), prefix=prefix)

    one, other, third = process(), process(), process()
    from redis.asyncio import Redis

    raw = Redis.from_url(redis_available)
    try:
        await one.put("h", "query { __typename }")
        assert await raw.get(prefix + "h") == b"query { __typename }"
        assert 0 < await raw.ttl(prefix + "h") <= 300
        assert await other.get("h") == "query { __typename }"  # another process's store knows it
        await raw.expire(prefix + "h", 5)
        assert await third.get("h") == "query { __typename }"
        assert await raw.ttl(prefix + "h") > 5  # a read from Redis renews the expiry
        # What a process has read, it answers from memory: Redis is not asked again
        await raw.delete(prefix + "h")
        assert await other.get("h") == "query { __typename }"
        assert await third.get("missing") is None
    finally:
        await raw.delete(prefix + "h")
        await raw.aclose()
        for store in (one, other, third):
            await store.close()


async def test_while_redis_is_unreachable_the_process_keeps_documents_in_memory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", ttl=60, memory=MemoryStore(1024))
    try:
        with caplog.at_level(logging.WARNING, logger="quintet.persisted"):
            await store.put("h", "query { __typename }")
            assert await store.get("h") == "query { __typename }"
            assert await store.get("other") is None
        warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
        assert len(warnings) == 1  # logged once, not per request
    finally:
        await store.close()
