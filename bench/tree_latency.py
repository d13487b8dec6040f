"""Latency of the Aurum Life tree query, in process (ASGI, no network), production mode.

    uv run python -m bench.tree_latency [--tasks-per-project 10] [--requests 50]

Builds a fresh database with one user holding 5 pillars x 4 areas x 5 projects x N tasks,
then times the documented nested query (with progress rollups at three levels). Prints the
median and p95 latency and the SQL statements per request (measured in a dev-mode run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app import create_app
from bench.servers import register_user
from core.db import start_embedded_postgres, to_async_url
from core.migrations import upgrade
from core.security import load_or_create_dev_key
from core.settings import Mode, Settings
from tests.conftest import create_database, drop_database
from tests.factories import create_tree

ROOT = Path(__file__).resolve().parent.parent


TREE_QUERY = """
{ viewer { pillars(first: 20) { nodes { name progress { percent }
  areas { nodes { name progress { percent }
    projects { nodes { name progress { percent }
      tasks(first: 50) { totalCount nodes { id title status priority dueAt isOverdue } } } } } } } } } }
"""


async def _run(
    mode: Mode, fast_path: bool, url: str, data_dir: Path, tasks_per_project: int, requests: int
) -> dict[str, Any]:
    settings = Settings(
        _env_file=None,
        mode=mode,
        fast_path=fast_path,
        database_url=url,
        data_dir=data_dir,
        jwt_private_key=load_or_create_dev_key(data_dir / "bench-key.pem"),
        api_key_secret=secrets.token_urlsafe(48),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            headers, user_id = await register_user(client)
            engine = create_async_engine(url)
            async with async_sessionmaker(engine)() as db:
                await create_tree(
                    db,
                    user_id=user_id,
                    pillars=5,
                    areas_per_pillar=4,
                    projects_per_area=5,
                    tasks_per_project=tasks_per_project,
                )
                await db.commit()
            await engine.dispose()
            for _ in range(5):  # warm-up: caches, prepared statements, pool
                response = await client.post("/graphql", json={"query": TREE_QUERY}, headers=headers)
            assert "errors" not in response.json(), response.text
            timings = []
            cpu = []
            for _ in range(requests):
                started, started_cpu = time.perf_counter(), time.process_time()
                response = await client.post("/graphql", json={"query": TREE_QUERY}, headers=headers)
                timings.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
            timings.sort()
            return {
                "mode": mode.value,
                "fast_path": fast_path,
                "data": response.json()["data"],
                "bytes": len(response.content),
                "median_ms": round(statistics.median(timings) * 1000, 1),
                "p95_ms": round(timings[int(len(timings) * 0.95) - 1] * 1000, 1),
                # CPU time of this process (the server side plus the in-process client), less
                # sensitive than wall time to other work on the machine.
                "cpu_median_ms": round(statistics.median(cpu) * 1000, 1),
                "extensions": response.json().get("extensions"),
            }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks-per-project", type=int, default=10)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    server = to_async_url(os.environ["DATABASE_URL"]) if os.environ.get("DATABASE_URL") else None
    server = server or start_embedded_postgres(ROOT / ".data" / "bench-postgres")
    url = await create_database(server)
    try:
        upgrade(url)
        data_dir = ROOT / ".data"
        for mode in (Mode.DEV, Mode.PRODUCTION):
            results = [
                await _run(mode, fast, url, data_dir, args.tasks_per_project, args.requests) for fast in (False, True)
            ]
            for result in results:
                del result["data"]
                print(result)
    finally:
        await drop_database(server, url)


if __name__ == "__main__":
    asyncio.run(main())
