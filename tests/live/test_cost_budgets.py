"""Cost budgets shared by two server processes through the real Redis (core/budgets.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from gql import GraphQLRequest
from gql import gql as gql_document
from gql.transport.exceptions import TransportQueryError
from joserfc.jwk import ECKey

from core.budgets import Bucket, Budgets
from core.relay import to_global_id
from tests.conftest import UNLIMITED_SIGN_INS, make_settings
from tests.live.conftest import LiveServer, running_app, serve, ws_session
from tests.live.test_redis import ServerProcess, http_client

NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id } }"


@pytest.fixture
def two_tight_servers(
    database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two processes on one Redis; a user's bucket holds 100 points, restored at 1 a second."""
    env = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_URL"}}
    env.update(
        MODE="dev",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DATA_DIR=str(tmp_path / "data"),
        AUTH_RATE_LIMIT_PER_ADDRESS=UNLIMITED_SIGN_INS,
        JWT_PRIVATE_KEY=ECKey.generate_key("P-256", private=True).as_pem(private=True).decode(),
        COST_USER_MAXIMUM="100",
        COST_USER_RESTORE_RATE="1",
    )
    servers = (ServerProcess(env, tmp_path / "a.log"), ServerProcess(env, tmp_path / "b.log"))
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def ids(count: int) -> list[str]:
    return [to_global_id("Task", uuid.uuid4()) for _ in range(count)]


async def test_one_bucket_per_user_across_processes(two_tight_servers: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = two_tight_servers
    await a.ready()
    await b.ready()
    async with http_client(a.server.http) as on_a, http_client(b.server.http) as on_b:
        me = await on_a.sign_up()
        # Given a user who spends 90 of their 100 points on process A
        spent = await on_a(NODES, {"ids": ids(90)}, token=me.token)
        assert spent.body["extensions"]["cost"]["actualQueryCost"] == 90
        # When they ask process B for 60 more
        async with httpx.AsyncClient(base_url=b.server.http, timeout=30) as raw:
            response = await raw.post(
                "/graphql",
                json={"query": NODES, "variables": {"ids": ids(60)}},
                headers={"Authorization": f"Bearer {me.token}"},
            )
        # Then B knows what A took: refused before any SQL, with what remains (10, plus the
        # points restored since, at 1 a second) and when to retry
        assert response.status_code == 429
        body = response.json()
        [error] = body["errors"]
        assert error["extensions"]["code"] == "THROTTLED"
        assert 10 <= error["extensions"]["available"] < 60
        assert int(response.headers["retry-after"]) == error["extensions"]["retryAfter"] > 0
        assert body["extensions"]["sql"]["statements"] == 0
        # And another user still has their whole bucket on B
        other = await on_b.sign_up()
        fresh = await on_b(NODES, {"ids": ids(60)}, token=other.token)
        assert fresh.body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] >= 40


async def test_the_redis_bucket_restores_on_the_clock_it_is_given(redis_url: str) -> None:
    # Given a bucket of 100 restored at 10 a second, in Redis, on a clock of the test's
    now = [5_000.0]
    budgets = Budgets({"user": Bucket(100, 10)}, redis_url, clock=lambda: now[0])
    key = f"quintet:cost:test:{uuid.uuid4()}"
    bucket = Bucket(100, 10)
    try:
        # When 70 are taken, then 40 more cannot be
        assert (await budgets.take(key, bucket, 70)).available == 30
        refused = await budgets.take(key, bucket, 40)
        assert not refused.taken
        assert refused.retry_after == 1
        # And 1.5 s later 15 more are there
        now[0] += 1.5
        taken = await budgets.take(key, bucket, 40)
        assert taken.taken
        assert taken.available == 5
        # And what is given back never exceeds the maximum
        assert await budgets.give_back(key, bucket, 500) == 100
        # All of it in Redis, not in this process's memory
        assert budgets.retry_at is None
        assert budgets.memory.state == {}
    finally:
        await budgets.close()


@pytest.fixture
async def tight_server(database_url: str, data_dir: Path) -> AsyncIterator[LiveServer]:
    """A served app whose users' buckets hold 100 points, restored at 1 a second."""
    settings = make_settings(database_url, data_dir, cost_user_maximum=100, cost_user_restore_rate=1)
    async with running_app(settings) as application, serve(application) as server:
        yield server


async def test_a_query_over_a_websocket_reports_its_cost_in_its_result(tight_server: LiveServer) -> None:
    async with http_client(tight_server.http) as gql:
        me = await gql.sign_up()
    async with ws_session(tight_server.ws, me.token) as session:
        # When a user runs a query and a mutation over graphql-transport-ws (each a single result)
        query = await session.execute(
            GraphQLRequest(NODES, variable_values={"ids": ids(30)}), get_execution_result=True
        )
        # Then each `next` carries extensions.cost as a JSON response does (30 asked, 30 used:
        # a list of 30 nulls, the ids being unknown)
        assert query.extensions is not None
        assert query.extensions["cost"] == {
            "requestedQueryCost": 30,
            "actualQueryCost": 30,
            "throttleStatus": {"maximumAvailable": 100, "currentlyAvailable": 70, "restoreRate": 1},
        }
        mutation = await session.execute(
            gql_document('mutation { createPillar(input: {name: "Health"}) { pillar { id } } }'),
            get_execution_result=True,
        )
        assert mutation.extensions is not None
        # (charged on its own: operations on one connection don't share a charge)
        assert mutation.extensions["cost"]["requestedQueryCost"] == 12  # 10 for a mutation, payload, pillar
        assert mutation.extensions["cost"]["throttleStatus"]["currentlyAvailable"] == 70 - 12
        again = await session.execute(
            GraphQLRequest(NODES, variable_values={"ids": ids(30)}), get_execution_result=True
        )
        assert again.extensions is not None
        assert again.extensions["cost"]["throttleStatus"]["currentlyAvailable"] == 70 - 12 - 30
        # And a refusal says what the bucket holds
        with pytest.raises(TransportQueryError) as refused:
            await session.execute(
                gql_document("{ viewer { pillars(first: 3) { nodes { areas(first: 40) { nodes { id } } } } } }")
            )
        assert refused.value.errors is not None
        assert refused.value.errors[0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
