"""What DATABASE_REPLICA_URL's routing costs a request, in process (ASGI, no network), dev mode.

    uv run python -m bench.read_routing [--requests 400] [--rounds 2] [--redis redis://127.0.0.1:6379/0]

Starts a primary and a hot standby of its own (tests/replication.py: the embedded wheel's
binaries, Unix sockets in a temporary directory, stopped at the end), migrates the primary, and
times one small query (`viewer { user { displayName } }`, one statement) sequentially:

- `primary only`: no replica configured;
- `replica, reader`: a user with no recent write (marks in the process, or in Redis with --redis);
- `replica, recent writer`: the same user's query while its mark is past the replica (replay
  paused): the mark is read, the replica asked its position, and the query runs on the primary;
- `mutation`: `updateProfile` with and without a replica (with: one more `SELECT` on the primary
  for the commit's position, and the mark written).

Prints the median and p95 per request in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app import create_app
from core.migrations import upgrade
from tests.conftest import make_settings
from tests.replication import StreamingPair
from tests.support import GraphQLClient

QUERY = "{ viewer { user { displayName } } }"


async def _timed(requests: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    for _ in range(20):
        await call()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


async def _measure(
    pair: StreamingPair, data_dir: Path, requests: int, redis: str | None, rounds: int
) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {}
    configurations: tuple[tuple[bool, dict[str, Any]], ...] = (
        (False, {}),
        (True, {"database_replica_url": pair.replica.url("quintet"), "redis_url": redis}),
    )
    # Alternated, so that both feel the same machine.
    for with_replica, overrides in [configuration for _ in range(rounds) for configuration in configurations]:
        settings = make_settings(pair.primary.url("quintet"), data_dir, **overrides)
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                measured = await _one_configuration(pair, GraphQLClient(client), requests, with_replica=with_replica)
        for name, figures in measured.items():
            results.setdefault(name, []).append(figures)
    return results


async def _one_configuration(
    pair: StreamingPair, gql: GraphQLClient, requests: int, *, with_replica: bool
) -> dict[str, tuple[float, float]]:
    viewer = await gql.sign_up(display_name="Bench")
    await asyncio.sleep(1.0)  # the replica replays the sign-up: the reader has no pending write

    async def query() -> None:
        assert "errors" not in (await gql(QUERY, token=viewer.token)).body

    async def mutate() -> None:
        await gql.mutate("updateProfile", {"displayName": "Bench"}, "user { id }", token=viewer.token)

    if not with_replica:
        return {
            "query, primary only": await _timed(requests, query),
            "mutation, primary only": await _timed(requests // 4, mutate),
        }
    measured = {"query, replica, reader": await _timed(requests, query)}
    conn = await asyncpg.connect(pair.replica.libpq("quintet"))
    try:
        await conn.execute("SELECT pg_wal_replay_pause()")
        measured["mutation, replica"] = await _timed(requests // 4, mutate)
        measured["query, replica, recent writer"] = await _timed(requests, query)
    finally:
        await conn.execute("SELECT pg_wal_replay_resume()")
        await conn.close()
    return measured


async def _main(requests: int, redis: str | None, rounds: int) -> None:
    pair = StreamingPair()
    try:
        pair.start_primary()
        conn = await asyncpg.connect(pair.primary.libpq())
        await conn.execute("CREATE DATABASE quintet")
        await conn.close()
        await asyncio.to_thread(upgrade, pair.primary.url("quintet"))
        pair.start_replica()
        with tempfile.TemporaryDirectory() as data_dir:
            results = await _measure(pair, Path(data_dir), requests, redis, rounds)
    finally:
        pair.stop()
    print(
        f"marks: {'Redis ' + redis if redis else 'in process'}; {requests} queries, {requests // 4} mutations "
        f"per measurement; {rounds} rounds, the two configurations alternated (each round's figures)"
    )
    print(f"{'request':34} {'median ms':>24}  {'p95 ms':>24}")
    for name, figures in results.items():
        medians = " / ".join(f"{median:.2f}" for median, _ in figures)
        p95s = " / ".join(f"{p95:.2f}" for _, p95 in figures)
        print(f"{name:34} {medians:>24}  {p95s:>24}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--redis", default=None, help="keep the marks in this Redis (as with REDIS_URL)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(_main(args.requests, args.redis, args.rounds))


if __name__ == "__main__":
    main()
