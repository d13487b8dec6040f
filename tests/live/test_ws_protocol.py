"""The WebSocket transport's edges, with a plain `websockets` client: authentication and its close
codes, the connection_init timeout, keep-alive pings, the limits, the legacy protocol, and a slow
consumer. (`test_websocket.py` covers what a dashboard sees, with the `gql` client.)"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import websockets
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection

from core.relay import from_global_id
from core.runtime import Runtime
from core.security import TokenService
from tests.conftest import make_settings
from tests.live.conftest import TIGHT_QUEUE_SIZE, TRANSPORT_WS, Feed, LiveServer, heavy_task_changes, ws_session
from tests.support import GraphQLClient, Viewer

SUBSCRIBE = "subscription { aurumHierarchyChanges { __typename ... on LiveUpdatesStatus { state } } }"


async def connect(url: str, subprotocol: str = TRANSPORT_WS, **options: Any) -> ClientConnection:
    return await websockets.connect(url, subprotocols=[subprotocol], compression=None, **options)  # type: ignore[list-item]


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def receive(ws: ClientConnection, wait: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait))
    return message


async def closed_with(ws: ClientConnection, wait: float = 5.0) -> tuple[int | None, str | None]:
    """Read until the server closes; its close code and reason."""

    async def drain() -> None:
        while True:
            await asyncio.wait_for(ws.recv(), wait)

    with pytest.raises(websockets.ConnectionClosed):
        await drain()
    return ws.close_code, ws.close_reason


async def initialised(url: str, payload: dict[str, Any], subprotocol: str = TRANSPORT_WS) -> ClientConnection:
    ws = await connect(url, subprotocol)
    await send(ws, {"type": "connection_init", "payload": payload})
    return ws


def user_pk(user: Viewer) -> Any:
    return from_global_id(user.user_id)[1]


def tokens_of(app: Starlette) -> TokenService:
    runtime: Runtime = app.state.runtime
    return runtime.tokens


# ------------------------------------------------------------------ authentication


async def test_connection_init_without_a_token_closes_4401(live_server: LiveServer) -> None:
    ws = await initialised(live_server.ws, {})
    code, reason = await closed_with(ws)
    assert code == 4401
    assert (reason or "").startswith("UNAUTHENTICATED")


async def test_an_expired_token_closes_4403_with_the_reason(
    app: Starlette, live_server: LiveServer, gql: GraphQLClient
) -> None:
    user = await gql.sign_up()
    tokens = tokens_of(app)
    expired, _ = tokens.issue(user_id=user_pk(user), role="user", now=int(time.time()) - tokens.access_token_ttl - 60)
    ws = await initialised(live_server.ws, {"authorization": f"Bearer {expired}"})
    # 4403: graphql-ws's client retries it, asking `connectionParams` again for a fresh token
    assert await closed_with(ws) == (4403, "TOKEN_EXPIRED: Access token has expired")


async def test_a_forged_or_malformed_token_closes_4401_with_the_reason(
    live_server: LiveServer, gql: GraphQLClient, data_dir: Path, database_url: str
) -> None:
    user = await gql.sign_up()
    other_key = ECKey.generate_key("P-256", private=True).as_pem(private=True).decode()
    forger = TokenService(make_settings(database_url, data_dir, jwt_private_key=other_key))
    forged, _ = forger.issue(user_id=user_pk(user), role="user")
    ws = await initialised(live_server.ws, {"authorization": f"Bearer {forged}"})
    # 4401: graphql-ws's client never retries it (a forged token stays forged)
    assert await closed_with(ws) == (4401, "TOKEN_BAD_SIGNATURE: Access token signature is invalid")
    ws = await initialised(live_server.ws, {"token": "not-a-jwt"})
    assert await closed_with(ws) == (4401, "TOKEN_MALFORMED: Access token is malformed")
    ws = await initialised(live_server.ws, {"authorization": f"Basic {user.token}"})
    code, reason = await closed_with(ws)
    assert (code, (reason or "").split(":")[0]) == (4401, "AUTHORIZATION_MALFORMED")


async def test_a_token_field_is_accepted_and_the_ack_says_when_it_expires(
    live_server: LiveServer, gql: GraphQLClient
) -> None:
    user = await gql.sign_up()
    ws = await initialised(live_server.ws, {"token": user.token})
    ack = await receive(ws)
    assert ack["type"] == "connection_ack"
    assert ack["payload"]["expiresAt"] > time.time()
    await ws.close()


async def test_subscribing_before_connection_init_closes_4401(live_server: LiveServer) -> None:
    ws = await connect(live_server.ws)
    await send(ws, {"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIBE}})
    code, _ = await closed_with(ws)
    assert code == 4401


async def test_the_connection_closes_when_its_token_expires(
    live_tight_app: Starlette, live_tight: LiveServer, live_tight_gql: GraphQLClient
) -> None:
    # Given a token with one second left
    user = await live_tight_gql.sign_up()
    tokens = tokens_of(live_tight_app)
    short, expires_at = tokens.issue(
        user_id=user_pk(user), role="user", now=int(time.time()) - tokens.access_token_ttl + 1
    )
    ws = await initialised(live_tight.ws, {"authorization": f"Bearer {short}"})
    assert (await receive(ws))["type"] == "connection_ack"
    # Then the server closes the connection when it expires, saying why
    code, reason = await closed_with(ws, wait=5)
    assert (code, (reason or "").split(":")[0]) == (4403, "TOKEN_EXPIRED")
    assert time.time() >= expires_at


# ------------------------------------------------------------------------ origins
async def test_dev_mode_accepts_websockets_from_localhost_origins_only(live_server: LiveServer) -> None:
    for origin in ("http://localhost:5173", "http://127.0.0.1:3000"):
        async with websockets.connect(
            live_server.ws,
            subprotocols=[TRANSPORT_WS],  # type: ignore[list-item]
            origin=origin,  # type: ignore[arg-type]
        ) as ws:
            assert ws.subprotocol == TRANSPORT_WS
    for origin in ("http://evil.example", "http://localhost.evil.example:5173"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(live_server.ws, subprotocols=[TRANSPORT_WS], origin=origin)  # type: ignore[list-item,arg-type]
        assert refused.value.response.status_code == 403, origin


# ------------------------------------------------------------------------- limits


async def test_connection_init_must_come_in_time(live_tight: LiveServer) -> None:
    ws = await connect(live_tight.ws)
    assert await closed_with(ws) == (4408, "Connection initialisation timeout")


async def test_the_server_sends_keep_alive_pings(live_tight: LiveServer, live_tight_gql: GraphQLClient) -> None:
    user = await live_tight_gql.sign_up()
    ws = await initialised(live_tight.ws, {"authorization": f"Bearer {user.token}"})
    assert (await receive(ws))["type"] == "connection_ack"
    assert await receive(ws, wait=2) == {"type": "ping"}
    await send(ws, {"type": "pong"})
    assert await receive(ws, wait=2) == {"type": "ping"}
    await ws.close()


async def test_subscriptions_per_connection_are_limited_and_the_refusal_names_the_limit(
    live_tight: LiveServer, live_tight_gql: GraphQLClient
) -> None:
    user = await live_tight_gql.sign_up()
    ws = await initialised(live_tight.ws, {"authorization": f"Bearer {user.token}"})
    assert (await receive(ws))["type"] == "connection_ack"
    for operation in ("1", "2", "3"):
        await send(ws, {"type": "subscribe", "id": operation, "payload": {"query": SUBSCRIBE}})
    messages = [await receive(ws) for _ in range(3)]
    messages = [m for m in messages if m["type"] != "ping"]
    refusal = next(m for m in messages if m["type"] == "error")
    assert refusal["id"] == "3"
    assert refusal["payload"][0]["extensions"] == {
        "code": "TOO_MANY_SUBSCRIPTIONS",
        "limit": "maxSubscriptionsPerConnection",
        "value": 2,
    }
    # Completing one frees a place
    await send(ws, {"type": "complete", "id": "1"})
    await send(ws, {"type": "subscribe", "id": "4", "payload": {"query": SUBSCRIBE}})
    while (message := await receive(ws))["type"] == "ping":
        pass
    assert message["id"] == "4"
    assert message["payload"]["data"]["aurumHierarchyChanges"]["state"] == "STARTED"
    await ws.close()


async def test_a_message_above_the_body_limit_closes_the_connection(
    live_server: LiveServer, gql: GraphQLClient, settings: Any
) -> None:
    user = await gql.sign_up()
    ws = await initialised(live_server.ws, {"authorization": f"Bearer {user.token}"})
    assert (await receive(ws))["type"] == "connection_ack"
    padding = "#" * (settings.max_body_bytes + 1)
    await send(ws, {"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIBE + padding}})
    code, reason = await closed_with(ws)
    assert code == 1009
    assert reason == f"Message larger than the limit of {settings.max_body_bytes} bytes (maxBodyBytes)"


async def test_the_post_endpoints_protections_apply_to_subscriptions(
    live_server: LiveServer, gql: GraphQLClient, settings: Any
) -> None:
    user = await gql.sign_up()
    ws = await initialised(live_server.ws, {"authorization": f"Bearer {user.token}"})
    assert (await receive(ws))["type"] == "connection_ack"
    # Too deep: refused before anything runs
    chain = "project { area { pillar { areas { nodes { projects { nodes { tasks { nodes { " * 2
    deep = "subscription { aurumHierarchyChanges { ... on AurumHierarchyChange { node { ... on Task { " + chain
    deep += "id" + " }" * (5 + chain.count("{"))
    await send(ws, {"type": "subscribe", "id": "deep", "payload": {"query": deep}})
    refused = await receive(ws)
    assert refused["type"] == "error"
    assert refused["payload"][0]["extensions"] == {"code": "QUERY_TOO_DEEP", "limit": "maxDepth", "value": 16}
    # Not GraphQL at all
    await send(
        ws, {"type": "subscribe", "id": "syntax", "payload": {"query": "subscription { aurumHierarchyChanges {"}}
    )
    refused = await receive(ws)
    assert (refused["type"], refused["payload"][0]["extensions"]["code"]) == ("error", "GRAPHQL_PARSE_FAILED")
    # Too many tokens
    tokens = "subscription { aurumHierarchyChanges { " + "__typename " * settings.max_tokens + "} }"
    await send(ws, {"type": "subscribe", "id": "tokens", "payload": {"query": tokens}})
    refused = await receive(ws)
    assert refused["payload"][0]["extensions"] == {
        "code": "TOO_MANY_TOKENS",
        "limit": "maxTokens",
        "value": settings.max_tokens,
    }
    # Too many aliases
    aliases = " ".join(f"a{i}: aurumHierarchyChanges {{ __typename }}" for i in range(settings.max_aliases + 1))
    await send(ws, {"type": "subscribe", "id": "aliases", "payload": {"query": f"subscription {{ {aliases} }}"}})
    refused = await receive(ws)
    assert refused["payload"][0]["extensions"] == {"code": "TOO_MANY_ALIASES", "limit": "maxAliases", "value": 30}
    # One field repeated hundreds of times (seconds of graphql-core's overlap rule): refused before validation
    repeated = "subscription { aurumHierarchyChanges { " + "__typename " * 700 + "} }"
    await send(ws, {"type": "subscribe", "id": "repeated", "payload": {"query": repeated}})
    refused = await receive(ws)
    assert refused["payload"][0]["extensions"] == {
        "code": "TOO_MANY_SELECTIONS",
        "limit": "maxOverlappingSelections",
        "value": settings.max_overlapping_selections,
    }
    # NUL characters, which Postgres cannot store
    nul = {"query": "subscription($p: ID) { aurumHierarchyChanges(projectId: $p) { __typename } }"}
    await send(ws, {"type": "subscribe", "id": "nul", "payload": {**nul, "variables": {"p": "a\x00b"}}})
    refused = await receive(ws)
    assert (refused["type"], refused["payload"][0]["extensions"]["code"]) == ("error", "BAD_USER_INPUT")
    await ws.close()


# ------------------------------------------------------------------ legacy protocol


async def test_the_legacy_protocol_is_off_by_default(live_server: LiveServer) -> None:
    ws = await connect(live_server.ws, "graphql-ws")
    assert await closed_with(ws) == (4406, "Subprotocol not acceptable")


async def test_the_legacy_protocol_when_enabled_authenticates_the_same_way(
    live_tight_app: Starlette, live_tight: LiveServer, live_tight_gql: GraphQLClient
) -> None:
    user = await live_tight_gql.sign_up()
    ws = await initialised(live_tight.ws, {"authorization": f"Bearer {user.token}"}, "graphql-ws")
    assert (await receive(ws))["type"] == "connection_ack"
    await send(ws, {"type": "start", "id": "1", "payload": {"query": SUBSCRIBE}})
    while (message := await receive(ws))["type"] == "ka":
        pass
    assert message["type"] == "data"
    assert message["payload"]["data"]["aurumHierarchyChanges"]["state"] == "STARTED"
    await ws.close()

    ws = await initialised(live_tight.ws, {"token": "forged"}, "graphql-ws")
    refusal = await receive(ws)
    assert refusal == {
        "type": "connection_error",
        "payload": {"message": "TOKEN_MALFORMED: Access token is malformed", "code": 4401},
    }
    assert await closed_with(ws) == (4401, "TOKEN_MALFORMED: Access token is malformed")

    # with the same codes as graphql-transport-ws: an expired token is 4403 (a client may retry)
    tokens = tokens_of(live_tight_app)
    expired, _ = tokens.issue(user_id=user_pk(user), role="user", now=int(time.time()) - tokens.access_token_ttl - 60)
    ws = await initialised(live_tight.ws, {"authorization": f"Bearer {expired}"}, "graphql-ws")
    refusal = await receive(ws)
    assert refusal == {
        "type": "connection_error",
        "payload": {"message": "TOKEN_EXPIRED: Access token has expired", "code": 4403},
    }
    assert await closed_with(ws) == (4403, "TOKEN_EXPIRED: Access token has expired")


# -------------------------------------------------------------------- slow consumer


async def test_a_slow_consumer_is_ended_with_an_error_and_the_others_are_unaffected(
    live_tight: LiveServer, live_tight_gql: GraphQLClient
) -> None:
    # Given a project with 20 tasks of 8,000 characters: with 10 aliases, each event is ~1.6 MB
    user, tasks, heavy = await heavy_task_changes(live_tight_gql)

    # And a subscriber that stops reading, behind a 4 KB receive window
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", live_tight.port))
    slow = await connect(live_tight.ws, sock=sock, max_queue=1, max_size=None, ping_interval=None)
    await send(slow, {"type": "connection_init", "payload": {"authorization": f"Bearer {user.token}"}})
    assert (await receive(slow))["type"] == "connection_ack"
    await send(slow, {"type": "subscribe", "id": "slow", "payload": {"query": heavy}})
    while (first := await receive(slow))["type"] == "ping":
        pass
    assert first["payload"]["data"]["aurumHierarchyChanges"]["state"] == "STARTED"

    # And a subscriber that keeps up
    async with ws_session(live_tight.ws, user.token) as session:
        fast = Feed(session, "subscription { aurumHierarchyChanges(types: [TASK]) { __typename } }")
        assert (await fast.next())["aurumHierarchyChanges"]["__typename"] == "LiveUpdatesStatus"

        # When twelve changes are made, then the fast subscriber gets every one of them
        for i in range(12):
            await live_tight_gql.mutate(
                "updateTask", {"id": tasks[i], "title": f"Renamed {i}"}, "task { id }", token=user.token
            )
            assert (await fast.next())["aurumHierarchyChanges"]["__typename"] == "AurumHierarchyChange"
        await fast.close()

    # And the slow one, once it reads again, finds a few changes, then the error that ended it
    changes, error, completed = 0, None, False
    while not completed:
        message = await receive(slow, wait=30)
        if message["type"] == "next" and "errors" in message["payload"]:
            error = message["payload"]["errors"][0]
        elif message["type"] == "next":
            changes += 1
        completed = message["type"] == "complete"
    assert error is not None
    assert error["extensions"] == {
        "code": "SUBSCRIBER_TOO_SLOW",
        "limit": "subscriptionQueueSize",
        "value": TIGHT_QUEUE_SIZE,
    }
    assert changes < 12
    await slow.close()
