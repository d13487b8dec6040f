"""Malformed messages on the WebSocket (both protocols) and malformed bodies on the SSE endpoint:
each is refused the way the protocol says (close code 4400, HTTP 400), and nothing logs an error."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.live.conftest import LiveServer
from tests.live.test_ws_protocol import SUBSCRIBE, connect, initialised, receive
from tests.support import GraphQLClient

LEGACY = "graphql-ws"
NOT_OBJECTS = ["[]", '[{"type": "connection_init"}]', '"connection_init"', "0", "1.5", "true", "false", "null"]
DEEP = "[" * 100_000 + "]" * 100_000  # valid JSON that Python's json module cannot decode
HUGE_NUMBER = "1" * 5000  # beyond Python's limit on the digits of an int


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server_errors() -> Iterator[list[logging.LogRecord]]:
    """Warnings and errors logged anywhere, uvicorn's own logger included (it does not propagate)."""
    records = Records()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(records)
    try:
        yield records.records
    finally:
        for logger in loggers:
            logger.removeHandler(records)


def no_tracebacks(records: list[logging.LogRecord]) -> None:
    assert [(r.name, r.getMessage(), r.exc_info) for r in records if r.levelno >= logging.ERROR or r.exc_info] == []


async def acknowledged(server: LiveServer, token: str, subprotocol: str = "graphql-transport-ws") -> ClientConnection:
    ws = await initialised(server.ws, {"authorization": f"Bearer {token}"}, subprotocol)
    assert (await receive(ws))["type"] == "connection_ack"
    return ws


async def closed_with(ws: ClientConnection, wait: float = 10.0) -> tuple[int | None, str | None]:
    """Read (keep-alives included) until the server closes, for `wait` seconds at most."""

    async def drain() -> None:
        async with asyncio.timeout(wait):
            while True:
                await ws.recv()

    with pytest.raises(websockets.ConnectionClosed):
        await drain()
    return ws.close_code, ws.close_reason


async def refused_with_4400(ws: ClientConnection, frame: str) -> str:
    await ws.send(frame)
    code, reason = await closed_with(ws)
    assert code == 4400, (frame[:80], code, reason)
    return reason or ""


# ------------------------------------------------------------------ graphql-transport-ws


@pytest.mark.parametrize("frame", NOT_OBJECTS)
async def test_a_message_that_is_not_an_object_closes_4400_before_connection_init(
    live_server: LiveServer, server_errors: list[logging.LogRecord], frame: str
) -> None:
    ws = await connect(live_server.ws)
    reason = await refused_with_4400(ws, frame)
    assert reason == "Invalid message received: a message must be a JSON object"
    no_tracebacks(server_errors)


@pytest.mark.parametrize("frame", [*NOT_OBJECTS, DEEP, HUGE_NUMBER])
async def test_a_message_that_is_not_an_object_closes_4400_when_connected(
    live_server: LiveServer, gql: GraphQLClient, server_errors: list[logging.LogRecord], frame: str
) -> None:
    user = await gql.sign_up()
    ws = await acknowledged(live_server, user.token)
    await refused_with_4400(ws, frame)
    no_tracebacks(server_errors)


BAD_BEFORE_INIT: list[dict[str, Any]] = [
    {},
    {"type": None},
    {"type": 1},
    {"type": ["connection_init"]},
    {"type": {"connection_init": True}},
    {"type": "connection_init", "payload": []},
    {"type": "connection_init", "payload": "Bearer x"},
    {"type": "connection_init", "payload": 1},
    {"type": "ping", "payload": []},
    {"type": "pong", "payload": "x"},
    {"type": "connection_ack"},
    {"type": "next", "id": "1", "payload": {}},
    {"type": "unknown"},
]


@pytest.mark.parametrize("message", BAD_BEFORE_INIT, ids=lambda m: json.dumps(m))
async def test_an_invalid_message_closes_4400(
    live_server: LiveServer, server_errors: list[logging.LogRecord], message: dict[str, Any]
) -> None:
    ws = await connect(live_server.ws)
    await refused_with_4400(ws, json.dumps(message))
    no_tracebacks(server_errors)


BAD_OPERATIONS: list[dict[str, Any]] = [
    {"type": "subscribe", "payload": {"query": SUBSCRIBE}},
    {"type": "subscribe", "id": None, "payload": {"query": SUBSCRIBE}},
    {"type": "subscribe", "id": 1, "payload": {"query": SUBSCRIBE}},
    {"type": "subscribe", "id": ["1"], "payload": {"query": SUBSCRIBE}},
    {"type": "subscribe", "id": "", "payload": {"query": SUBSCRIBE}},
    {"type": "subscribe", "id": "1"},
    {"type": "subscribe", "id": "1", "payload": None},
    {"type": "subscribe", "id": "1", "payload": [SUBSCRIBE]},
    {"type": "subscribe", "id": "1", "payload": SUBSCRIBE},
    {"type": "subscribe", "id": "1", "payload": {}},
    {"type": "subscribe", "id": "1", "payload": {"query": None}},
    {"type": "subscribe", "id": "1", "payload": {"query": ["subscription"]}},
    {"type": "subscribe", "id": "1", "payload": {"query": 1}},
    {"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIBE, "variables": []}},
    {"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIBE, "variables": "{}"}},
    {"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIBE, "extensions": []}},
    {"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIBE, "extensions": 1}},
    {"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIBE, "operationName": 1}},
    {"type": "complete"},
    {"type": "complete", "id": None},
    {"type": "complete", "id": ["1"]},
    {"type": "complete", "id": {"1": 1}},
    {"type": "connection_init", "payload": []},
]


@pytest.mark.parametrize("message", BAD_OPERATIONS, ids=lambda m: json.dumps(m))
async def test_an_invalid_operation_message_closes_4400_when_connected(
    live_server: LiveServer, gql: GraphQLClient, server_errors: list[logging.LogRecord], message: dict[str, Any]
) -> None:
    user = await gql.sign_up()
    ws = await acknowledged(live_server, user.token)
    reason = await refused_with_4400(ws, json.dumps(message))
    assert reason.startswith("Invalid message received")
    no_tracebacks(server_errors)


async def test_the_connection_stays_usable_with_a_null_payload_and_optional_fields_null(
    live_server: LiveServer, gql: GraphQLClient, server_errors: list[logging.LogRecord]
) -> None:
    # `payload: null` is what the protocol allows for connection_init and ping (no token: 4401)
    ws = await connect(live_server.ws)
    await ws.send(json.dumps({"type": "connection_init", "payload": None}))
    assert (await closed_with(ws))[0] == 4401
    user = await gql.sign_up()
    ws = await acknowledged(live_server, user.token)
    await ws.send(json.dumps({"type": "ping", "payload": None}))
    assert await receive(ws) == {"type": "pong"}
    optional = {"query": SUBSCRIBE, "variables": None, "operationName": None, "extensions": None}
    await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": optional}))
    first = await receive(ws)
    assert (first["id"], first["payload"]["data"]["aurumHierarchyChanges"]["state"]) == ("1", "STARTED")
    await ws.close()
    no_tracebacks(server_errors)


async def test_a_duplicate_operation_id_closes_4409(
    live_server: LiveServer, gql: GraphQLClient, server_errors: list[logging.LogRecord]
) -> None:
    user = await gql.sign_up()
    ws = await acknowledged(live_server, user.token)
    await ws.send(json.dumps({"type": "subscribe", "id": "same", "payload": {"query": SUBSCRIBE}}))
    assert (await receive(ws))["id"] == "same"
    await ws.send(json.dumps({"type": "subscribe", "id": "same", "payload": {"query": SUBSCRIBE}}))
    assert await closed_with(ws) == (4409, "Subscriber for same already exists")
    no_tracebacks(server_errors)


# ------------------------------------------------------------------ legacy protocol


@pytest.mark.parametrize("frame", NOT_OBJECTS)
async def test_legacy_a_message_that_is_not_an_object_closes_4400(
    live_tight: LiveServer, live_tight_gql: GraphQLClient, server_errors: list[logging.LogRecord], frame: str
) -> None:
    ws = await connect(live_tight.ws, LEGACY)
    await refused_with_4400(ws, frame)
    user = await live_tight_gql.sign_up()
    ws = await acknowledged(live_tight, user.token, LEGACY)
    await refused_with_4400(ws, frame)
    no_tracebacks(server_errors)


async def test_legacy_a_message_python_cannot_decode_is_ignored_as_the_protocol_does(
    live_tight: LiveServer, live_tight_gql: GraphQLClient, server_errors: list[logging.LogRecord]
) -> None:
    user = await live_tight_gql.sign_up()
    ws = await acknowledged(live_tight, user.token, LEGACY)
    for frame in (DEEP, HUGE_NUMBER, "not json"):
        await ws.send(frame)
    await ws.send(json.dumps({"type": "start", "id": "1", "payload": {"query": SUBSCRIBE}}))
    while (message := await receive(ws))["type"] == "ka":
        pass
    assert message["payload"]["data"]["aurumHierarchyChanges"]["state"] == "STARTED"
    await ws.close()
    no_tracebacks(server_errors)


LEGACY_BAD: list[dict[str, Any]] = [
    {},
    {"type": None},
    {"type": 1},
    {"type": ["start"]},
    {"type": "connection_init", "payload": []},
    {"type": "connection_init", "payload": "x"},
    {"type": "start", "payload": {"query": SUBSCRIBE}},
    {"type": "start", "id": 1, "payload": {"query": SUBSCRIBE}},
    {"type": "start", "id": ["1"], "payload": {"query": SUBSCRIBE}},
    {"type": "start", "id": "1"},
    {"type": "start", "id": "1", "payload": [SUBSCRIBE]},
    {"type": "start", "id": "1", "payload": {"query": None}},
    {"type": "start", "id": "1", "payload": {"query": SUBSCRIBE, "variables": []}},
    {"type": "start", "id": "1", "payload": {"query": SUBSCRIBE, "operationName": 1}},
    {"type": "stop"},
    {"type": "stop", "id": ["1"]},
]


@pytest.mark.parametrize("message", LEGACY_BAD, ids=lambda m: json.dumps(m))
async def test_legacy_an_invalid_message_closes_4400(
    live_tight: LiveServer,
    live_tight_gql: GraphQLClient,
    server_errors: list[logging.LogRecord],
    message: dict[str, Any],
) -> None:
    user = await live_tight_gql.sign_up()
    ws = await acknowledged(live_tight, user.token, LEGACY)
    reason = await refused_with_4400(ws, json.dumps(message))
    assert reason.startswith("Invalid message received")
    no_tracebacks(server_errors)


# ------------------------------------------------------------------ SSE


@pytest.mark.parametrize(
    "body",
    [
        *NOT_OBJECTS,
        DEEP,
        HUGE_NUMBER,
        '{"query": 1}',
        '{"query": ["subscription { aurumHierarchyChanges { __typename } }"]}',
        '{"query": "subscription { aurumHierarchyChanges { __typename } }", "variables": []}',
        '{"query": "subscription { aurumHierarchyChanges { __typename } }", "variables": "{}"}',
        '{"query": "subscription { aurumHierarchyChanges { __typename } }", "operationName": 1}',
    ],
    ids=lambda b: b[:40],
)
async def test_sse_a_body_that_is_not_an_operation_is_a_400(
    live_server: LiveServer, gql: GraphQLClient, server_errors: list[logging.LogRecord], body: str
) -> None:
    user = await gql.sign_up()
    headers = {
        "Accept": "text/event-stream",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {user.token}",
    }
    async with httpx.AsyncClient(base_url=live_server.http, timeout=30) as client:
        response = await client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    no_tracebacks(server_errors)
