"""Live updates over Server-Sent Events (graphql-sse, distinct connections mode), with httpx-sse."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets
from httpx_sse import ServerSentEvent, aconnect_sse
from starlette.applications import Starlette

from core.relay import from_global_id
from core.runtime import Runtime
from tests.aurum.conftest import AurumFactory
from tests.live.conftest import TIGHT_QUEUE_SIZE, TRANSPORT_WS, LiveServer, heavy_task_changes
from tests.support import GraphQLClient, Viewer

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
        [(kind, payload), end] = await collect(source)
    # One result (with its cost, as a JSON response has it), then the end
    assert (kind, payload["data"]) == ("next", {"viewer": {"user": {"displayName": "Streamer"}}})
    assert payload["extensions"]["cost"]["requestedQueryCost"] == 2
    assert end == ("complete", None)


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
    assert b"\r" not in response.content
    [next_event, complete, rest] = response.content.split(b"\n\n")
    assert next_event.startswith(b'event: next\ndata: {"data":{"viewer":{"user":{"displayName":"Lines"}}},"extensions"')
    assert next_event.count(b"\n") == 1  # one line of data: the JSON holds no newline
    assert (complete, rest) == (b"event: complete\ndata: ", b"")


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


# ------------------------------------------------------------------ shared streams


def shared_streams_of(app: Starlette, user: Viewer) -> list[Any]:
    """The user's shared streams (one per document and variables), WebSocket and SSE members alike."""
    user_pk = from_global_id(user.user_id)[1]
    shared = app.state.graphql_websocket.shared
    return [stream for key, stream in shared.streams.items() if key.actor.user_id == user_pk]


async def ws_message(websocket: Any) -> dict[str, Any]:
    """The next graphql-transport-ws message other than a keep-alive ping."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(websocket.recv(), 10))
        if message["type"] != "ping":
            return message


def change(data: Any) -> dict[str, Any]:
    result: dict[str, Any] = data["data"]["aurumHierarchyChanges"]
    return result


async def test_identical_sse_subscriptions_of_one_user_share_one_execution_with_websockets(
    app: Starlette, live_server: LiveServer, gql: GraphQLClient, live_aurum: AurumFactory
) -> None:
    # Given Alice's dashboard open on two SSE streams and one WebSocket, and Bob's on an SSE stream
    alice, bob = await gql.sign_up(), await gql.sign_up()
    alices_tree, bobs_tree = await live_aurum.tree(alice.token), await live_aurum.tree(bob.token)
    async with (
        event_stream(live_server.http, CHANGES, token=alice.token) as (_, first),
        event_stream(live_server.http, CHANGES, token=alice.token) as (_, second),
        websockets.connect(live_server.ws, subprotocols=[TRANSPORT_WS]) as websocket,  # type: ignore[list-item]
        event_stream(live_server.http, CHANGES, token=bob.token) as (_, bobs),
    ):
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {alice.token}"}}
        await websocket.send(json.dumps(init))
        assert json.loads(await websocket.recv())["type"] == "connection_ack"
        # (the same text and variables as the SSE streams': gql would print the document anew)
        await websocket.send(json.dumps({"type": "subscribe", "id": "ws", "payload": {"query": CHANGES}}))
        for source in (first, second, bobs):
            [(kind, data)] = await collect(source, 1)
            assert (kind, change(data)) == ("next", {"__typename": "LiveUpdatesStatus", "state": "STARTED"})
        assert change((await ws_message(websocket))["payload"])["state"] == "STARTED"
        # Then Alice's three subscribers are members of one execution, Bob's is alone in his own
        [alices_stream] = shared_streams_of(app, alice)
        assert len(alices_stream.members) == 3
        [bobs_stream] = shared_streams_of(app, bob)
        assert len(bobs_stream.members) == 1

        # When Alice creates a task, each of her subscribers gets it once
        task = await live_aurum.task(alice.token, alices_tree.project, "Seen everywhere")
        for source in (first, second):
            [(kind, data)] = await collect(source, 1)
            assert (kind, change(data)["nodeId"], change(data)["node"]) == ("next", task, {"title": "Seen everywhere"})
        message = await ws_message(websocket)
        assert (message["id"], change(message["payload"])["nodeId"]) == ("ws", task)
        # And Bob's next event is his own change: Alice's never reached him
        own = await live_aurum.task(bob.token, bobs_tree.project, "Bob's own")
        [(kind, data)] = await collect(bobs, 1)
        assert change(data)["nodeId"] == own

    # And once every subscriber is gone, so are the executions
    for _ in range(100):
        if not shared_streams_of(app, alice) and not shared_streams_of(app, bob):
            break
        await asyncio.sleep(0.1)
    assert shared_streams_of(app, alice) == []
    assert shared_streams_of(app, bob) == []


async def test_an_sse_subscriber_leaving_does_not_end_the_stream_for_the_others(
    app: Starlette, live_server: LiveServer, gql: GraphQLClient, live_aurum: AurumFactory
) -> None:
    # Given two SSE streams of one user's subscription
    alice = await gql.sign_up()
    tree = await live_aurum.tree(alice.token)
    async with event_stream(live_server.http, CHANGES, token=alice.token) as (_, staying):
        await collect(staying, 1)
        async with event_stream(live_server.http, CHANGES, token=alice.token) as (_, leaving):
            # (the joiner gets the running stream's latest status first)
            [(kind, data)] = await collect(leaving, 1)
            assert (kind, change(data)["state"]) == ("next", "STARTED")
            assert len(shared_streams_of(app, alice)[0].members) == 2
        # When one of them closes its connection
        for _ in range(100):
            if len(shared_streams_of(app, alice)[0].members) == 1:
                break
            await asyncio.sleep(0.1)
        assert len(shared_streams_of(app, alice)[0].members) == 1
        # Then the other still gets the changes
        task = await live_aurum.task(alice.token, tree.project, "Still here")
        [(_, data)] = await collect(staying, 1)
        assert change(data)["nodeId"] == task


async def test_a_slow_sse_consumer_is_ended_with_an_error_and_the_others_are_unaffected(
    live_tight: LiveServer, live_tight_gql: GraphQLClient
) -> None:
    # Given a project with 20 tasks of 8,000 characters: with 10 aliases, each event is ~1.6 MB
    user, tasks, heavy = await heavy_task_changes(live_tight_gql)

    # And an SSE subscriber of it that stops reading, behind a 4 KB receive window
    loop = asyncio.get_running_loop()
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.setblocking(False)
    await loop.sock_connect(slow, ("127.0.0.1", live_tight.port))
    body = json.dumps({"query": heavy}).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {user.token}\r\n"
        f"Accept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    await loop.sock_sendall(slow, head.encode() + body)

    async def read_until(received: bytes, end: bytes) -> bytes:
        async with asyncio.timeout(60):
            while end not in received:
                chunk = await loop.sock_recv(slow, 1 << 16)
                assert chunk, received[-200:]
                received += chunk
        return received

    started = await read_until(b"", b'"state":"STARTED"}}}\n\n')
    assert started.startswith(b"HTTP/1.1 200 ")
    assert b"transfer-encoding: chunked" in started

    # And an SSE subscriber that keeps up
    async with event_stream(
        live_tight.http, "subscription { aurumHierarchyChanges(types: [TASK]) { __typename } }", token=user.token
    ) as (_, fast):
        await collect(fast, 1)
        # When twelve changes are made, then the fast subscriber gets every one of them
        for i in range(12):
            await live_tight_gql.mutate(
                "updateTask", {"id": tasks[i], "title": f"Renamed {i}"}, "task { id }", token=user.token
            )
            [(_, data)] = await collect(fast, 1)
            assert change(data)["__typename"] == "AurumHierarchyChange"

    # And the slow one, once it reads again, finds a few changes, then the error that ended it,
    # then the end of its event stream and of its response's body
    rest = await read_until(b"", b"\r\n0\r\n\r\n")
    events = [json.loads(line[6:]) for line in rest.split(b"\n") if line.startswith(b"data: {")]
    *changes, ended = events
    assert 0 < len(changes) < 12
    assert ended["errors"][0]["extensions"] == {
        "code": "SUBSCRIBER_TOO_SLOW",
        "limit": "subscriptionQueueSize",
        "value": TIGHT_QUEUE_SIZE,
    }
    assert rest.endswith(b"event: complete\ndata: \n\n\r\n0\r\n\r\n")
    slow.close()


async def test_a_method_the_route_does_not_allow_still_reaches_the_router(live_server: LiveServer) -> None:
    # An event-stream request skips the router only for the GraphQL route's own methods
    # (core/sse.py EventStreamShortcut); any other is the router's 405, as before.
    async with httpx.AsyncClient(base_url=live_server.http) as client:
        response = await client.request("OPTIONS", "/graphql", headers={"Accept": "text/event-stream"})
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"}
