"""Live-update fixtures: the app served by a real uvicorn on loopback, real clients, real Redis.

Only fixtures named `live_*` or `redis_*` live here (the modules of this directory share them).
Redis tests skip with a reason when no Redis answers on a developer's machine, and fail in CI
(where the `CI` environment variable is set and `.ci/run` makes sure Redis runs).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.websockets import WebsocketsTransport
from starlette.applications import Starlette

from app import WS_IMPLEMENTATION, create_app
from core.settings import Settings
from tests.aurum.conftest import AurumFactory
from tests.conftest import make_settings
from tests.support import GraphQLClient, Viewer, free_port

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TRANSPORT_WS = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL  # "graphql-transport-ws"
TIGHT_QUEUE_SIZE = 3


def unavailable(reason: str) -> None:
    """Skip on a developer's machine; in CI a missing Redis is a failure, never a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: Redis tests must run; .ci/run starts Redis)")
    pytest.skip(reason)


@dataclass
class LiveServer:
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


@asynccontextmanager
async def serve(app: Starlette, *, ws: str = WS_IMPLEMENTATION) -> AsyncIterator[LiveServer]:
    """Serve an app (whose lifespan already ran) with uvicorn on a free loopback port (bound here
    and handed to uvicorn, so no other process can take it in between); `ws` is uvicorn's
    WebSocket implementation (`serve`'s unless given)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ws=ws,
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield LiveServer(port)
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def live_server(app: Starlette) -> AsyncIterator[LiveServer]:
    """The test app (in-process event bus) on a real socket, for WebSocket and SSE clients."""
    async with serve(app) as server:
        yield server


@asynccontextmanager
async def ws_session(
    url: str, token: str | None = None, *, init_payload: dict[str, Any] | None = None
) -> AsyncIterator[AsyncClientSession]:
    """A gql session over graphql-transport-ws, authenticated in connection_init."""
    payload = init_payload if init_payload is not None else {"authorization": f"Bearer {token}"}
    transport = WebsocketsTransport(url=url, init_payload=payload, subprotocols=[TRANSPORT_WS])
    async with Client(transport=transport) as session:
        yield session


DONE = object()


class Feed:
    """A subscription running in the background; `next()` returns its results in order."""

    def __init__(self, session: AsyncClientSession, document: str, variables: dict[str, Any] | None = None) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        request = GraphQLRequest(document, variable_values=variables)
        self.task = asyncio.create_task(self._run(session, request))

    async def _run(self, session: AsyncClientSession, request: GraphQLRequest) -> None:
        try:
            async for result in session.subscribe(request):
                await self.queue.put(result)
        except Exception as exc:  # noqa: BLE001 - handed to the test through next()
            await self.queue.put(exc)
        else:
            await self.queue.put(DONE)

    async def next(self, wait: float = 10.0) -> dict[str, Any]:
        item = await asyncio.wait_for(self.queue.get(), wait)
        if isinstance(item, Exception):
            raise item
        assert item is not DONE, "the subscription completed"
        result: dict[str, Any] = item
        return result

    async def end(self, wait: float = 10.0) -> Exception | None:
        """Wait for the subscription to end; its error, or None when it completed."""
        while True:
            item = await asyncio.wait_for(self.queue.get(), wait)
            if item is DONE:
                return None
            if isinstance(item, Exception):
                return item

    async def quiet(self, seconds: float = 0.5) -> None:
        await asyncio.sleep(seconds)
        assert self.queue.empty(), f"unexpected message: {self.queue.get_nowait()}"

    async def close(self) -> None:
        self.task.cancel()
        with suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The machine's Redis (127.0.0.1:6379 unless TEST_REDIS_URL says otherwise)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        unavailable(f"no Redis answers at {REDIS_URL} ({exc})")
    return REDIS_URL


@pytest.fixture
async def redis_app(database_url: str, data_dir: Path, redis_url: str) -> AsyncIterator[Starlette]:
    async with running_app(make_settings(database_url, data_dir, redis_url=redis_url)) as application:
        yield application


class RedisProcess:
    """A redis-server of our own on a free port, to kill and restart (never the machine's)."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    assert binary is not None
    process = RedisProcess(binary, tmp_path)
    process.start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
def live_aurum(gql: GraphQLClient) -> AurumFactory:
    """Aurum Life objects created through the public mutations (see tests/aurum/conftest.py)."""
    return AurumFactory(gql)


@pytest.fixture(scope="module")
async def live_tight_app(database_url: str, data_dir: Path) -> AsyncIterator[Starlette]:
    """An app with small limits and short timers, and the legacy protocol on."""
    settings = make_settings(
        database_url,
        data_dir,
        # Short, but long enough that a client starved by a loaded machine (other test workers)
        # between opening the socket and sending connection_init is not closed (4408) for it.
        ws_connection_init_timeout_seconds=2,
        ws_keepalive_seconds=0.3,
        ws_max_subscriptions=2,
        subscription_queue_size=TIGHT_QUEUE_SIZE,
        sse_keepalive_seconds=0.3,
        ws_legacy_protocol=True,
    )
    async with running_app(settings) as application:
        yield application


@pytest.fixture(scope="module")
async def live_tight(live_tight_app: Starlette) -> AsyncIterator[LiveServer]:
    async with serve(live_tight_app) as server:
        yield server


@pytest.fixture
async def live_tight_gql(live_tight: LiveServer) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(base_url=live_tight.http, timeout=30) as client:
        yield GraphQLClient(client)


async def heavy_task_changes(gql: GraphQLClient) -> tuple[Viewer, list[str], str]:
    """A user with a project of 20 tasks of 8,000 characters, its tasks' ids, and a subscription to
    their changes whose every event (10 aliases of the project's tasks) is about 1.6 MB: what
    fills a slow consumer's socket and then its queue."""
    user = await gql.sign_up()
    factory = AurumFactory(gql)
    tree = await factory.tree(user.token)
    tasks = await factory.tasks(
        user.token, tree.project, [{"title": f"T{i}", "description": "x" * 8000} for i in range(20)]
    )
    heavy_fields = " ".join(
        f"a{i}: ancestors {{ ... on Project {{ tasks(first: 20) {{ nodes {{ description }} }} }} }}" for i in range(10)
    )
    heavy = "subscription { aurumHierarchyChanges(types: [TASK]) { __typename ... on LiveUpdatesStatus { state } "
    heavy += f"... on AurumHierarchyChange {{ nodeId {heavy_fields} }} }} }}"
    return user, tasks, heavy
