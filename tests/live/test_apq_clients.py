"""Automatic persisted queries with the real npm clients against the running server: Apollo
Client's PersistedQueryLink (POST, and GET for hashed queries) and urql's persistedExchange,
unmodified (tests/clients/apq_*.mjs); across two server processes sharing Redis; urql's exchange
for subscriptions over the stock graphql-ws client; SSE and WebSocket messages by hand; the Redis
store while Redis goes away and comes back."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import orjson
import pytest

from core.persisted import MemoryStore, RedisStore, sha256_hex
from tests.live.conftest import LiveServer, RedisProcess
from tests.live.test_redis import ServerProcess, http_client, two_servers  # noqa: F401 - a fixture
from tests.node_clients import run_script
from tests.support import GraphQLClient

MISS = {"withText": False, "withHash": True, "status": 404, "codes": ["PERSISTED_QUERY_NOT_FOUND"]}
TEXT = {"withText": True, "withHash": True, "status": 200, "codes": []}
HIT = {"withText": False, "withHash": True, "status": 200, "codes": []}


def new_document() -> str:
    """A query no server has stored yet (the Redis at 127.0.0.1:6379 outlives every run)."""
    return f"query ApqClient {{ apq_{uuid.uuid4().hex}: __typename viewer {{ user {{ displayName }} }} }}"


def shape(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in request.items() if k != "method"} for request in requests]


def methods(requests: list[dict[str, Any]]) -> list[str]:
    return [request["method"] for request in requests]


async def test_apollo_clients_persisted_query_link_misses_sends_the_text_then_hits(
    live_server: LiveServer, gql: GraphQLClient
) -> None:
    user = await gql.sign_up(display_name="Apollo APQ")
    query = new_document()
    env = {"QUINTET_URL": f"{live_server.http}/graphql", "TOKEN": user.token, "QUERY": query, "USE_GET": "0"}
    result = await run_script("apq_apollo.mjs", env=env)
    first, again = result["first"], result["again"]
    assert first["error"] is None, result
    assert first["data"]["viewer"]["user"] == {"__typename": "User", "displayName": "Apollo APQ"}
    # The hash alone, unknown; then the text with it
    assert shape(first["requests"]) == [MISS, TEXT], result
    assert methods(first["requests"]) == ["POST", "POST"]
    # A fresh client: the hash alone is answered
    assert shape(again["requests"]) == [HIT], result
    assert again["data"] == first["data"]


async def test_apollo_clients_link_with_get_for_hashed_queries(live_server: LiveServer, gql: GraphQLClient) -> None:
    user = await gql.sign_up(display_name="Apollo GET")
    query = new_document()
    env = {"QUINTET_URL": f"{live_server.http}/graphql", "TOKEN": user.token, "QUERY": query, "USE_GET": "1"}
    result = await run_script("apq_apollo.mjs", env=env)
    first, again = result["first"], result["again"]
    assert first["error"] is None, result
    assert shape(first["requests"]) == [MISS, TEXT], result
    # The hash by GET; the link sends the full text by POST (its documented behaviour)
    assert methods(first["requests"]) == ["GET", "POST"]
    assert shape(again["requests"]) == [HIT], result
    assert methods(again["requests"]) == ["GET"]
    assert again["data"]["viewer"]["user"]["displayName"] == "Apollo GET"


async def test_urqls_persisted_exchange_misses_sends_the_text_then_hits(
    live_server: LiveServer, gql: GraphQLClient
) -> None:
    user = await gql.sign_up(display_name="urql APQ")
    query = new_document()
    result = await run_script(
        "apq_urql.mjs", env={"QUINTET_URL": f"{live_server.http}/graphql", "TOKEN": user.token, "QUERY": query}
    )
    first, again = result["first"], result["again"]
    assert first["error"] is None, result
    assert first["data"]["viewer"]["user"]["displayName"] == "urql APQ"
    assert shape(first["requests"]) == [MISS, TEXT], result
    # "within-url-limit": the hash by GET, and the short text by GET too
    assert methods(first["requests"]) == ["GET", "GET"]
    assert shape(again["requests"]) == [HIT], result
    assert again["data"] == first["data"]


async def test_a_hash_stored_through_one_process_is_a_hit_on_another_sharing_redis(
    two_servers: tuple[ServerProcess, ServerProcess],  # noqa: F811 - the fixture imported above
) -> None:
    a, b = two_servers
    await a.ready()
    await b.ready()
    async with http_client(a.server.http) as on_a:
        user = await on_a.sign_up(display_name="Two processes")
    query = new_document()
    env = {
        "QUINTET_URL": f"{a.server.http}/graphql",
        "QUINTET_URL_AGAIN": f"{b.server.http}/graphql",
        "TOKEN": user.token,
        "QUERY": query,
        "USE_GET": "0",
    }
    result = await run_script("apq_apollo.mjs", env=env)
    assert shape(result["first"]["requests"]) == [MISS, TEXT], result
    # B never saw the text: Redis told it
    assert shape(result["again"]["requests"]) == [HIT], result
    assert result["again"]["data"]["viewer"]["user"]["displayName"] == "Two processes"
    async with http_client(b.server.http) as on_b:
        # And B refuses a hash nobody stored, as ever
        other = new_document()
        response = await on_b.http.post(
            "/graphql",
            json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(other)}}},
        )
        assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def send(socket: Any, message: dict[str, Any]) -> None:
    await socket.send(orjson.dumps(message).decode())


def persisted(text: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(text)}}


# ----------------------------------------------------------------------------- SSE and WebSocket


async def test_a_stored_subscription_streams_by_hash_over_sse(gql: GraphQLClient, live_server: LiveServer) -> None:
    user = await gql.sign_up()
    text = f"subscription {{ apq_{uuid.uuid4().hex}: notificationChanges {{ __typename }} }}"
    async with httpx.AsyncClient(base_url=live_server.http, timeout=30) as client:
        headers = {"accept": "text/event-stream", "authorization": f"Bearer {user.token}"}
        # The text with its hash: streamed, and stored once it passed the checks
        async with client.stream(
            "POST", "/graphql", json={"query": text, "extensions": persisted(text)}, headers=headers
        ) as stream:
            assert stream.status_code == 200
            assert next(iter((await first_event(stream))["data"].values())) == {"__typename": "LiveUpdatesStatus"}
        async with client.stream("POST", "/graphql", json={"extensions": persisted(text)}, headers=headers) as stream:
            assert stream.status_code == 200
            event = await first_event(stream)
        assert next(iter(event["data"].values())) == {"__typename": "LiveUpdatesStatus"}


async def first_event(stream: httpx.Response) -> dict[str, Any]:
    async for line in stream.aiter_lines():
        if line.startswith("data: "):
            value: dict[str, Any] = orjson.loads(line[len("data: ") :])
            return value
    raise AssertionError("the stream ended without an event")


async def test_over_websocket_a_miss_is_the_operations_error_and_a_hit_runs(
    gql: GraphQLClient, live_server: LiveServer
) -> None:
    import websockets

    user = await gql.sign_up()
    text = f"subscription {{ apq_{uuid.uuid4().hex}: notificationChanges {{ __typename }} }}"
    async with websockets.connect(live_server.ws, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        await send(socket, {"type": "connection_init", "payload": {"token": user.token}})
        assert orjson.loads(await socket.recv())["type"] == "connection_ack"
        # The hash alone, unknown: an error for that operation, the connection stays
        await send(socket, {"id": "1", "type": "subscribe", "payload": {"extensions": persisted(text)}})
        miss = orjson.loads(await socket.recv())
        assert (miss["type"], miss["id"]) == ("error", "1")
        assert miss["payload"][0]["message"] == "PersistedQueryNotFound"
        assert miss["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        # A wrong hash: its own code
        wrong = {"query": text, "extensions": persisted(new_document())}
        await send(socket, {"id": "2", "type": "subscribe", "payload": wrong})
        assert orjson.loads(await socket.recv())["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
        # The text with its hash (urql's retry): it runs, and is stored
        await send(socket, {"id": "3", "type": "subscribe", "payload": {"query": text, "extensions": persisted(text)}})
        started = orjson.loads(await socket.recv())
        assert (started["type"], started["id"]) == ("next", "3")
        # Now the hash alone runs it
        await send(socket, {"id": "4", "type": "subscribe", "payload": {"extensions": persisted(text)}})
        hit = orjson.loads(await socket.recv())
        assert (hit["type"], hit["id"]) == ("next", "4"), hit
        assert next(iter(hit["payload"]["data"].values())) == {"__typename": "LiveUpdatesStatus"}


# ----------------------------------------------------------------------------- Redis going away


async def test_while_redis_is_down_documents_live_in_memory_and_are_shared_again_after(
    redis_process: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore(redis_process.url, ttl=60, memory=MemoryStore(1 << 20))
    store.DOWN_PAUSE = 0.0  # try Redis again at once (the pause only spares a dead Redis the load)
    elsewhere = RedisStore(redis_process.url, ttl=60, memory=MemoryStore(1 << 20))
    try:
        with caplog.at_level(logging.WARNING, logger="quintet.persisted"):
            await store.put("before", "query Before { __typename }")
            assert await elsewhere.get("before") == "query Before { __typename }"
            await elsewhere.put("theirs", "query Theirs { __typename }")
            redis_process.kill()
            # Redis gone: what this process knows it still answers; another's is a miss (the client
            # sends the text again), and nothing fails
            assert await store.get("before") == "query Before { __typename }"
            assert await store.get("theirs") is None
            await store.put("during", "query During { __typename }")
            assert await store.get("during") == "query During { __typename }"  # from this process's memory
            redis_process.start()  # an empty Redis again
            await store.put("after", "query After { __typename }")
            assert await elsewhere.get("after") == "query After { __typename }"  # shared again
            assert await store.get("during") == "query During { __typename }"  # memory still answers it
        messages = [record.getMessage() for record in caplog.records if record.name == "quintet.persisted"]
        assert len([m for m in messages if "Redis unreachable" in m]) == 1, messages
        assert len([m for m in messages if "Redis answers again" in m]) == 1, messages
    finally:
        await store.close()
        await elsewhere.close()


async def test_urqls_persisted_exchange_for_subscriptions_over_graphql_ws(
    live_server: LiveServer, gql: GraphQLClient
) -> None:
    user = await gql.sign_up()
    alias = f"apq_{uuid.uuid4().hex}"
    query = f"subscription ApqLive {{ {alias}: notificationChanges {{ __typename }} }}"
    result = await run_script(
        "apq_urql_ws.mjs", env={"QUINTET_WS": live_server.ws, "TOKEN": user.token, "QUERY": query}
    )
    first, again = result["first"], result["again"]
    assert first["error"] is None, result
    assert first["data"][alias] == {"__typename": "LiveUpdatesStatus"}, result
    # The hash alone (a miss: the operation's error, the socket stays), then the text with it
    assert first["sent"] == [{"withText": False, "withHash": True}, {"withText": True, "withHash": True}], result
    # A new connection: the hash alone starts it
    assert again["sent"] == [{"withText": False, "withHash": True}], result
    assert again["error"] is None, result
    assert again["data"][alias] == {"__typename": "LiveUpdatesStatus"}, result
