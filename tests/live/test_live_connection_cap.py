"""At most WS_MAX_CONNECTIONS_PER_USER live connections per user, WebSockets and SSE streams together,
per process and across processes through Redis; every way a connection ends frees its slot."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
import redis.asyncio
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection

from core.live_slots import LiveSlots
from core.relay import from_global_id
from core.runtime import Runtime
from core.settings import Settings
from tests.conftest import make_settings
from tests.live.conftest import LiveServer, running_app, serve
from tests.live.test_ws_malformed import closed_with
from tests.live.test_ws_protocol import SUBSCRIBE, initialised, receive
from tests.support import GraphQLClient, Viewer

LIMIT = 2
REFUSAL = f"TOO_MANY_CONNECTIONS: at most {LIMIT} live connections per user (maxConnectionsPerUser)"
ROOT = Path(__file__).resolve().parents[2]


def cap_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    return make_settings(
        database_url,
        data_dir,
        ws_max_connections_per_user=LIMIT,
        ws_keepalive_seconds=0.3,
        sse_keepalive_seconds=0.3,
        ws_legacy_protocol=True,
        **overrides,
    )


@pytest.fixture(scope="module")
async def cap_app(database_url: str, data_dir: Path) -> AsyncIterator[Starlette]:
    async with running_app(cap_settings(database_url, data_dir)) as application:
        yield application


@pytest.fixture(scope="module")
async def cap_server(cap_app: Starlette) -> AsyncIterator[LiveServer]:
    async with serve(cap_app) as server:
        yield server


@pytest.fixture
async def cap_gql(cap_server: LiveServer) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(base_url=cap_server.http, timeout=30) as client:
        yield GraphQLClient(client)


def pk(user: Viewer) -> uuid.UUID:
    return from_global_id(user.user_id)[1]


def slots_of(app: Starlette) -> LiveSlots:
    runtime: Runtime = app.state.runtime
    return runtime.live_slots


async def eventually(check: Callable[[], bool], wait: float = 10.0) -> None:
    """Wait (up to `wait` seconds, for the server to notice a closed connection) until `check()`."""
    async with asyncio.timeout(wait):
        while not check():  # noqa: ASYNC110 - the server's state, changed by its own tasks
            await asyncio.sleep(0.02)


async def accepted(server: LiveServer, token: str, subprotocol: str = "graphql-transport-ws") -> ClientConnection:
    ws = await initialised(server.ws, {"authorization": f"Bearer {token}"}, subprotocol)
    while (message := await receive(ws))["type"] in ("ping", "ka"):
        pass
    assert message["type"] == "connection_ack"
    return ws


async def refused(server: LiveServer, token: str) -> None:
    ws = await initialised(server.ws, {"authorization": f"Bearer {token}"})
    assert await closed_with(ws) == (4430, REFUSAL)


@asynccontextmanager
async def sse(server: LiveServer, token: str) -> AsyncIterator[httpx.Response]:
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=server.http, timeout=30) as client,
        client.stream("POST", "/graphql", json={"query": SUBSCRIBE}, headers=headers) as response,
    ):
        yield response


async def sse_status(server: LiveServer, token: str) -> tuple[int, dict[str, object]]:
    async with sse(server, token) as response:
        body = json.loads(await response.aread()) if response.status_code != 200 else {}
        return response.status_code, body


# ------------------------------------------------------------------ one process


async def test_websockets_beyond_the_limit_are_refused_and_a_closed_one_frees_its_slot(
    cap_app: Starlette, cap_server: LiveServer, cap_gql: GraphQLClient
) -> None:
    user, other = await cap_gql.sign_up(), await cap_gql.sign_up()
    first = await accepted(cap_server, user.token)
    second = await accepted(cap_server, user.token)
    await refused(cap_server, user.token)
    # Another user is not affected
    third = await accepted(cap_server, other.token)
    # When one closes, its slot is free again
    await first.close()
    await eventually(lambda: slots_of(cap_app).held(pk(user)) == 1)
    again = await accepted(cap_server, user.token)
    await refused(cap_server, user.token)
    for ws in (second, third, again):
        await ws.close()
    await eventually(lambda: slots_of(cap_app).held(pk(user)) == 0)


async def test_every_way_a_connection_ends_frees_its_slot(
    cap_app: Starlette, cap_server: LiveServer, cap_gql: GraphQLClient
) -> None:
    user = await cap_gql.sign_up()
    held = slots_of(cap_app)

    def free() -> bool:
        return held.held(pk(user)) == 0

    # closed by the server: an invalid message, a message too large
    ws = await accepted(cap_server, user.token)
    await ws.send("[]")
    assert (await closed_with(ws))[0] == 4400
    await eventually(free)
    ws = await accepted(cap_server, user.token)
    await ws.send(json.dumps({"type": "ping", "payload": {"x": "#" * 300_000}}))
    assert (await closed_with(ws))[0] == 1009
    await eventually(free)
    # the client's TCP connection dropped without a close handshake, with a subscription running
    ws = await accepted(cap_server, user.token)
    await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIBE}}))
    while (await receive(ws))["type"] == "ping":
        pass
    ws.transport.abort()
    await eventually(free)
    # the token expired while connected
    runtime: Runtime = cap_app.state.runtime
    ttl = runtime.tokens.access_token_ttl
    short, _ = runtime.tokens.issue(user_id=pk(user), role="user", now=int(time.time()) - ttl + 1)
    ws = await accepted(cap_server, short)
    code, reason = await closed_with(ws)
    assert (code, (reason or "").split(":")[0]) == (4403, "TOKEN_EXPIRED")
    await eventually(free)
    # an SSE stream the client abandoned
    async with sse(cap_server, user.token) as response:
        assert response.status_code == 200
        assert held.held(pk(user)) == 1
    await eventually(free)
    # And the user may hold the limit again
    sockets = [await accepted(cap_server, user.token) for _ in range(LIMIT)]
    await refused(cap_server, user.token)
    for ws in sockets:
        await ws.close()


async def test_sse_streams_count_with_websockets_and_beyond_the_limit_are_a_429(
    cap_app: Starlette, cap_server: LiveServer, cap_gql: GraphQLClient
) -> None:
    user = await cap_gql.sign_up()
    async with AsyncExitStack() as streams:
        for _ in range(LIMIT):
            response = await streams.enter_async_context(sse(cap_server, user.token))
            assert response.status_code == 200
        status, body = await sse_status(cap_server, user.token)
        assert status == 429
        assert body["errors"] == [
            {
                "message": f"Too many live connections: at most {LIMIT} live connections per user "
                "(maxConnectionsPerUser)",
                "extensions": {"code": "TOO_MANY_CONNECTIONS", "limit": "maxConnectionsPerUser", "value": LIMIT},
            }
        ]
        await refused(cap_server, user.token)
    await eventually(lambda: slots_of(cap_app).held(pk(user)) == 0)
    ws = await accepted(cap_server, user.token)
    async with sse(cap_server, user.token) as response:
        assert response.status_code == 200
        assert (await sse_status(cap_server, user.token))[0] == 429
    await ws.close()


async def test_the_legacy_protocol_is_limited_the_same_way(
    cap_app: Starlette, cap_server: LiveServer, cap_gql: GraphQLClient
) -> None:
    user = await cap_gql.sign_up()
    sockets = [await accepted(cap_server, user.token, "graphql-ws") for _ in range(LIMIT)]
    ws = await initialised(cap_server.ws, {"authorization": f"Bearer {user.token}"}, "graphql-ws")
    assert await receive(ws) == {"type": "connection_error", "payload": {"message": REFUSAL, "code": 4430}}
    assert await closed_with(ws) == (4430, REFUSAL)
    # a second connection_init on one connection does not take a second slot
    await sockets[0].send(json.dumps({"type": "connection_init", "payload": {"token": user.token}}))
    while (await receive(sockets[0]))["type"] != "connection_ack":
        pass
    assert slots_of(cap_app).held(pk(user)) == LIMIT
    await sockets[1].close()
    await eventually(lambda: slots_of(cap_app).held(pk(user)) == 1)
    sockets[1] = await accepted(cap_server, user.token, "graphql-ws")
    for ws in sockets:
        await ws.close()


# ------------------------------------------------------------------ several processes (Redis)


async def test_the_limit_holds_across_processes_through_redis(
    database_url: str, data_dir: Path, redis_url: str
) -> None:
    settings = cap_settings(database_url, data_dir, redis_url=redis_url)
    async with (
        running_app(settings) as one,
        running_app(settings) as two,
        serve(one) as first,
        serve(two) as second,
        httpx.AsyncClient(base_url=first.http, timeout=30) as client,
    ):
        user = await GraphQLClient(client).sign_up()
        on_first = await accepted(first, user.token)
        on_second = await accepted(second, user.token)
        await refused(first, user.token)
        await refused(second, user.token)
        assert (await sse_status(second, user.token))[0] == 429
        # A slot freed in one process is free for the other
        await on_first.close()
        await eventually(lambda: slots_of(one).held(pk(user)) == 0)
        async with sse(second, user.token) as response:
            assert response.status_code == 200
            await refused(first, user.token)
        await eventually(lambda: slots_of(two).held(pk(user)) == 1)
        again = await accepted(first, user.token)
        await on_second.close()
        await again.close()


HOLDER = """
import asyncio, sys, uuid
from core.live_slots import LiveSlots

async def main() -> None:
    slots = LiveSlots(int(sys.argv[2]), sys.argv[1], ttl=int(sys.argv[4]))
    await slots.start()
    for _ in range(int(sys.argv[5])):
        assert await slots.acquire(uuid.UUID(sys.argv[3])) is not None
    print("held", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


#: The TTL of the slots in the test below. A live process renews its slots every TTL/3 and Redis
#: counts whole seconds, so a process that is not scheduled for about 2/3 TTL loses them: with 1 s,
#: a machine loaded by other test workers expired the living processes' slots too.
DYING_TTL = 5


async def test_the_slots_of_a_process_that_died_expire(redis_url: str) -> None:
    # Given a live process (this one) holding one of a user's slots and another holding the rest,
    # both with a TTL of DYING_TTL seconds; the other is killed
    user = uuid.uuid4()
    slots = LiveSlots(LIMIT, redis_url, ttl=DYING_TTL)
    await slots.start()
    holder: asyncio.subprocess.Process | None = None
    try:
        assert await slots.acquire(user) is not None
        holder = await asyncio.create_subprocess_exec(
            *(sys.executable, "-c", HOLDER, redis_url, str(LIMIT), str(user), str(DYING_TTL), str(LIMIT - 1)),
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 60) == b"held\n"
        assert await slots.acquire(user) is None
        holder.kill()
        await holder.wait()
        # Then its slots expire (Redis's clock, whole seconds: within DYING_TTL + 1 s), while ours,
        # renewed, keep the user's set alive: the dead process's entries expire one by one
        async with asyncio.timeout(DYING_TTL + 30):
            while (slot := await slots.acquire(user)) is None:
                await slots.renew()
                await asyncio.sleep(0.1)
        assert slot.shared
        assert await slots.acquire(user) is None
    finally:
        if holder is not None and holder.returncode is None:
            holder.kill()
            await holder.wait()
        await slots.close()


async def test_renewing_pushes_the_expiry_ahead_and_release_removes_the_entry(redis_url: str) -> None:
    user = uuid.uuid4()
    slots = LiveSlots(LIMIT, redis_url, ttl=100)
    await slots.start()
    client = redis.asyncio.Redis.from_url(redis_url)
    key = f"quintet:live:{user}"
    try:
        slot = await slots.acquire(user)
        assert slot is not None
        assert slot.shared
        await client.zadd(key, {slot.id: 0}, xx=True)  # as if its expiry were long past
        await slots.renew()
        now, _ = await client.time()
        score = await client.zscore(key, slot.id)
        assert score is not None
        assert now + 98 <= score <= now + 100
        await slots.release(slot)
        assert await client.zscore(key, slot.id) is None
        await slots.renew()  # a released slot is not brought back
        assert await client.exists(key) == 0
    finally:
        await slots.close()
        await client.aclose()


async def test_without_redis_the_limit_still_holds_per_process(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
        slots = LiveSlots(LIMIT, url)
        await slots.start()
        user = uuid.uuid4()
        held = [await slots.acquire(user) for _ in range(LIMIT)]
        assert all(slot is not None and not slot.shared for slot in held)
        assert await slots.acquire(user) is None
        await slots.close()
    warnings = [r for r in caplog.records if r.name == "quintet.live"]
    assert [r.levelname for r in warnings] == ["WARNING"]
    assert warnings[0].exc_info is None
    assert slots.held(user) == 0
