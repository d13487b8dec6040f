"""Live updates through Redis: one process, Redis going away and coming back, two processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey
from starlette.applications import Starlette

from app import WS_IMPLEMENTATION
from core.events import RedisBus
from core.runtime import Runtime
from tests.aurum.conftest import AurumFactory
from tests.conftest import UNLIMITED_SIGN_INS, make_settings
from tests.live.conftest import Feed, LiveServer, RedisProcess, running_app, serve, ws_session
from tests.support import GraphQLClient, free_port

ROOT = Path(__file__).resolve().parents[2]
#: Polls of a server process's /readyz, 50 ms apart (two minutes, as tests/test_cli_serve.py waits).
READY_POLLS = 2400

CHANGES = """
subscription { aurumHierarchyChanges {
  __typename
  ... on LiveUpdatesStatus { state refetch }
  ... on AurumHierarchyChange { change nodeId node { ... on Task { title } } }
} }
"""


def message(result: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = result["aurumHierarchyChanges"]
    return value


@asynccontextmanager
async def http_client(base: str) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        yield GraphQLClient(client)


async def test_events_travel_through_redis(redis_app: Starlette) -> None:
    runtime: Runtime = redis_app.state.runtime
    assert isinstance(runtime.bus, RedisBus)
    assert runtime.bus.live
    async with serve(redis_app) as server, http_client(server.http) as gql:
        user = await gql.sign_up()
        tree = await AurumFactory(gql).tree(user.token)
        async with ws_session(server.ws, user.token) as session:
            feed = Feed(session, CHANGES)
            assert message(await feed.next())["state"] == "STARTED"
            task = await AurumFactory(gql).task(user.token, tree.project, "Via Redis")
            assert message(await feed.next()) == {
                "__typename": "AurumHierarchyChange",
                "change": "CREATED",
                "nodeId": task,
                "node": {"title": "Via Redis"},
            }
            await feed.close()


async def test_redis_going_away_and_coming_back(redis_process: RedisProcess, database_url: str, data_dir: Path) -> None:
    settings = make_settings(database_url, data_dir, redis_url=redis_process.url)
    async with running_app(settings) as app, serve(app) as server, http_client(server.http) as gql:
        runtime: Runtime = app.state.runtime
        factory = AurumFactory(gql)
        user = await gql.sign_up()
        tree = await factory.tree(user.token)
        async with ws_session(server.ws, user.token) as session:
            feed = Feed(session, CHANGES)
            assert message(await feed.next())["state"] == "STARTED"

            # When Redis goes away, the subscriber is told
            redis_process.kill()
            interrupted = message(await feed.next(wait=20))
            assert (interrupted["state"], interrupted["refetch"]) == ("INTERRUPTED", False)
            assert not runtime.bus.live

            # And queries and mutations keep working (the change it made could not be delivered)
            lost = await factory.task(user.token, tree.project, "Made while Redis was down")
            tasks = await gql("{ viewer { tasks(first: 10) { nodes { id } } } }", token=user.token)
            assert lost in [t["id"] for t in tasks.data["viewer"]["tasks"]["nodes"]]

            # When Redis comes back, the server resubscribes by itself and says so, and says
            # that changes were missed (so the dashboard refetches)
            redis_process.start()
            resumed = message(await feed.next(wait=20))
            assert (resumed["state"], resumed["refetch"]) == ("RESUMED", True)
            missed = message(await feed.next(wait=20))
            assert (missed["state"], missed["refetch"]) == ("EVENTS_MISSED", True)
            assert runtime.bus.live

            # And new changes are delivered again
            task = await factory.task(user.token, tree.project, "After the outage")
            assert message(await feed.next())["nodeId"] == task
            await feed.close()


# ------------------------------------------------------------------ two processes


class ServerProcess:
    """`uvicorn app:create_app` in its own process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--ws",
                WS_IMPLEMENTATION,
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )

    @property
    def server(self) -> LiveServer:
        return LiveServer(self.port)

    async def ready(self) -> None:
        # A deadline for a start that never comes, not a measure: a loaded machine (other test
        # workers) took more than 30 s to import the app.
        async with httpx.AsyncClient() as client:
            for _ in range(READY_POLLS):
                if self.process.poll() is not None:
                    raise AssertionError(f"server exited: {self.log.read_text()}")
                try:
                    if (await client.get(f"{self.server.http}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"server not ready in {READY_POLLS * 0.05:.0f} s: {self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def two_servers(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_URL"}}
    env.update(
        MODE="dev",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DATA_DIR=str(tmp_path / "data"),
        AUTH_RATE_LIMIT_PER_ADDRESS=UNLIMITED_SIGN_INS,
        JWT_PRIVATE_KEY=ECKey.generate_key("P-256", private=True).as_pem(private=True).decode(),
    )
    servers = (ServerProcess(env, tmp_path / "a.log"), ServerProcess(env, tmp_path / "b.log"))
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


async def test_a_mutation_on_one_process_reaches_subscribers_on_the_other(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = two_servers
    await a.ready()
    await b.ready()
    async with http_client(a.server.http) as on_a, http_client(b.server.http) as on_b:
        user = await on_a.sign_up()
        tree = await AurumFactory(on_a).tree(user.token)
        async with ws_session(b.server.ws, user.token) as session:
            feed = Feed(session, CHANGES)
            assert message(await feed.next())["state"] == "STARTED"
            # A mutation on A reaches the WebSocket subscriber on B
            task = await AurumFactory(on_a).task(user.token, tree.project, "From A")
            assert message(await feed.next())["nodeId"] == task
            # And one on B reaches it too (B's own events also go through Redis)
            await on_b.mutate("completeTask", {"id": task}, "task { id }", token=user.token)
            assert message(await feed.next())["change"] == "UPDATED"
            # While another user's subscriber on A hears nothing of it
            other = await on_a.sign_up()
            async with ws_session(a.server.ws, other.token) as other_session:
                others = Feed(other_session, CHANGES)
                assert message(await others.next())["state"] == "STARTED"
                await AurumFactory(on_b).task(user.token, tree.project, "Still private")
                assert message(await feed.next())["node"] == {"title": "Still private"}
                await others.quiet()
                await others.close()
            await feed.close()
