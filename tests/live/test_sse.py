"""Live updates over Server-Sent Events (graphql-sse, distinct connections mode), with httpx-sse."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse
from starlette.applications import Starlette

from core.relay import from_global_id
from core.runtime import Runtime
from tests.aurum.conftest import AurumFactory
from tests.live.conftest import LiveServer
from tests.support import GraphQLClient

CHANGES = """
subscription { aurumHierarchyChanges {
  __typename
  ... on LiveUpdatesStatus { state }
  ... on AurumHierarchyChange { change nodeId node { ... on Task { title } } ancestors { ... on Project { id } } }
} }
"""


@asynccontextmanager
async def event_stream(
    base: str, query: str, *, token: str | None = None, variables: dict[str, Any] | None = None
) -> AsyncIterator[tuple[httpx.Response, AsyncIterator[ServerSentEvent]]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as client,
        aconnect_sse(
            client, "POST", "/graphql", json={"query": query, "variables": variables}, headers=headers
        ) as source,
    ):
        yield source.response, source.aiter_sse()


async def collect(
    events: AsyncIterator[ServerSentEvent], count: int | None = None, wait: float = 10.0
) -> list[tuple[str, Any]]:
    """`(event, data)` pairs until `complete` (or `count` of them)."""
    seen: list[tuple[str, Any]] = []
    async with asyncio.timeout(wait):
        while not seen or (seen[-1][0] != "complete" and len(seen) != count):
            sse = await anext(events)
            seen.append((sse.event, json.loads(sse.data) if sse.data else None))
    return seen


async def test_a_dashboard_follows_changes_over_sse(
    live_server: LiveServer, gql: GraphQLClient, live_aurum: AurumFactory
) -> None:
    user = await gql.sign_up()
    tree = await live_aurum.tree(user.token)
    async with event_stream(live_server.http, CHANGES, token=user.token) as (response, source):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache, no-transform"
        [(kind, data)] = await collect(source, 1)
        assert (kind, data) == (
            "next",
            {"data": {"aurumHierarchyChanges": {"__typename": "LiveUpdatesStatus", "state": "STARTED"}}},
        )
        task = await live_aurum.task(user.token, tree.project, "Stretch")
        [(kind, data)] = await collect(source, 1)
        assert kind == "next"
        assert data["data"]["aurumHierarchyChanges"] == {
            "__typename": "AurumHierarchyChange",
            "change": "CREATED",
            "nodeId": task,
            "node": {"title": "Stretch"},
            "ancestors": [{"id": tree.project}, {}, {}],
        }


async def test_queries_and_mutations_answer_once_then_complete(live_server: LiveServer, gql: GraphQLClient) -> None:
    user = await gql.sign_up(display_name="Streamer")
    async with event_stream(live_server.http, "{ viewer { user { displayName } } }", token=user.token) as (_, source):
        assert await collect(source) == [
            ("next", {"data": {"viewer": {"user": {"displayName": "Streamer"}}}}),
            ("complete", None),
        ]


async def test_a_bad_token_is_refused_before_the_stream_opens(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.http) as client:
        response = await client.post(
            "/graphql",
            json={"query": CHANGES},
            headers={"Accept": "text/event-stream", "Authorization": "Bearer not-a-token"},
        )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "TOKEN_MALFORMED"}


async def test_without_a_token_the_subscription_ends_with_an_error(live_server: LiveServer) -> None:
    async with event_stream(live_server.http, CHANGES) as (_, source):
        [(kind, data), end] = await collect(source)
    assert kind == "next"
    assert data["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert end == ("complete", None)


async def test_the_post_endpoints_protections_apply(live_server: LiveServer, gql: GraphQLClient, settings: Any) -> None:
    user = await gql.sign_up()
    stream = {"Accept": "text/event-stream", "Authorization": f"Bearer {user.token}"}
    async with httpx.AsyncClient(base_url=live_server.http) as client:
        form = await client.post("/graphql", data={"query": CHANGES}, headers=stream)
        assert (form.status_code, form.json()["errors"][0]["extensions"]["code"]) == (415, "UNSUPPORTED_CONTENT_TYPE")
        big = await client.post("/graphql", json={"query": CHANGES + " " * settings.max_body_bytes}, headers=stream)
        assert (big.status_code, big.json()["errors"][0]["extensions"]["limit"]) == (413, "maxBodyBytes")
        get = await client.get("/graphql", params={"query": "mutation { __typename }"}, headers=stream)
        assert (get.status_code, get.headers["allow"]) == (405, "POST")
        assert get.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    aliases = " ".join(f"a{i}: aurumHierarchyChanges {{ __typename }}" for i in range(settings.max_aliases + 1))
    async with event_stream(live_server.http, f"subscription {{ {aliases} }}", token=user.token) as (_, source):
        [(kind, data), end] = await collect(source)
    assert kind == "next"
    assert data["errors"][0]["extensions"] == {"code": "TOO_MANY_ALIASES", "limit": "maxAliases", "value": 30}
    assert end == ("complete", None)
    repeated = "subscription { aurumHierarchyChanges { " + "__typename " * 700 + "} }"
    async with event_stream(live_server.http, repeated, token=user.token) as (_, source):
        [(kind, data), end] = await collect(source)
    assert data["errors"][0]["extensions"] == {
        "code": "TOO_MANY_SELECTIONS",
        "limit": "maxOverlappingSelections",
        "value": settings.max_overlapping_selections,
    }
    assert end == ("complete", None)


async def test_keep_alive_comments_flow_while_nothing_happens(
    live_tight: LiveServer, live_tight_gql: GraphQLClient
) -> None:
    user = await live_tight_gql.sign_up()
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {user.token}"}
    async with (
        httpx.AsyncClient(base_url=live_tight.http, timeout=10) as client,
        client.stream("POST", "/graphql", json={"query": CHANGES}, headers=headers) as response,
    ):
        lines: list[str] = []
        async with asyncio.timeout(5):
            async for line in response.aiter_lines():
                lines.append(line)
                if lines.count(": ping") >= 2:
                    break
    assert lines[0] == "event: next"
    assert lines.count(": ping") == 2


async def test_the_stream_ends_when_the_token_expires(
    live_tight_app: Starlette, live_tight: LiveServer, live_tight_gql: GraphQLClient
) -> None:
    user = await live_tight_gql.sign_up()
    runtime: Runtime = live_tight_app.state.runtime
    ttl = runtime.tokens.access_token_ttl
    short, expires_at = runtime.tokens.issue(
        user_id=from_global_id(user.user_id)[1], role="user", now=int(time.time()) - ttl + 1
    )
    async with event_stream(live_tight.http, CHANGES, token=short) as (_, source):
        seen = await collect(source)
    assert time.time() >= expires_at
    assert seen[0][1]["data"]["aurumHierarchyChanges"]["state"] == "STARTED"
    assert seen[1][1]["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "TOKEN_EXPIRED"}
    assert seen[2] == ("complete", None)


async def test_events_end_their_lines_with_a_newline_only(live_server: LiveServer, gql: GraphQLClient) -> None:
    # urql splits events on "\n\n": a "\r\n" line ending would leave its events unsplit.
    user = await gql.sign_up(display_name="Lines")
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {user.token}"}
    async with httpx.AsyncClient(base_url=live_server.http, timeout=10) as client:
        response = await client.post("/graphql", json={"query": "{ viewer { user { displayName } } }"}, headers=headers)
    assert response.status_code == 200
    assert response.content == (
        b'event: next\ndata: {"data":{"viewer":{"user":{"displayName":"Lines"}}}}\n\nevent: complete\ndata: \n\n'
    )


async def test_a_subscription_streams_over_get(live_server: LiveServer, gql: GraphQLClient) -> None:
    user = await gql.sign_up()
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {user.token}"}
    async with (
        httpx.AsyncClient(base_url=live_server.http, timeout=10) as client,
        aconnect_sse(client, "GET", "/graphql", params={"query": CHANGES}, headers=headers) as source,
    ):
        assert source.response.status_code == 200
        [(kind, data)] = await collect(source.aiter_sse(), 1)
    assert (kind, data) == (
        "next",
        {"data": {"aurumHierarchyChanges": {"__typename": "LiveUpdatesStatus", "state": "STARTED"}}},
    )
