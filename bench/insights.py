"""Analysis time of Aurum Life insights with the offline provider, for a user with 1,000 tasks.

    uv run python -m bench.insights [--tasks-per-project 10] [--runs 10]

Builds a fresh database (embedded Postgres, or the server in DATABASE_URL) with one user holding
5 pillars x 4 areas x 5 projects x N tasks (tests.factories.create_tree: overdue tasks in areas
of every importance, a fifth of the tasks high priority or urgent, a quarter done today), then
measures two things, each over `--runs` runs after one warm-up, with the blackboard emptied
before each run so that every run evaluates, writes and posts everything:

* end to end: `requestInsights` over GraphQL (in process, ASGI) until `node(id:)` shows the job
  SUCCEEDED, with the worker running inside the app as `serve` runs it (polled every 10 ms);
* the analysis alone: `services.insights.analyse` (rules in SQL, offline text, posting).

The seed's target is an analysis under 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app import create_app
from bench.servers import register_user
from core.ai import OfflineProvider
from core.db import start_embedded_postgres, to_async_url
from core.migrations import upgrade
from core.security import load_or_create_dev_key
from core.settings import Mode, Settings
from services import insights
from tests.conftest import create_database, drop_database
from tests.factories import create_tree

ROOT = Path(__file__).resolve().parent.parent

REQUEST = "mutation { requestInsights(input: {}) { job { id status } errors { code message } } }"
JOB = "query($id: ID!) { node(id: $id) { ... on BackgroundJob { status result error { code message } } } }"


def summary(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def jobs_in_process_settings(url: str, data_dir: Path) -> Settings:
    """Production settings for an app run in the bench's process with its worker inside (the
    offline AI provider, a rate limit no bench meets): how the job benches time a job."""
    return Settings(
        _env_file=None,
        mode=Mode.PRODUCTION,
        database_url=url,
        data_dir=data_dir,
        jwt_private_key=load_or_create_dev_key(data_dir / "bench-key.pem"),
        api_key_secret=secrets.token_urlsafe(48),
        openai_api_key=None,
        jobs_in_process=True,
        ai_rate_limit="1000/minute",
    )


async def _run(url: str, data_dir: Path, tasks_per_project: int, runs: int) -> dict[str, Any]:
    settings = jobs_in_process_settings(url, data_dir)
    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                headers, user_id = await register_user(client, display_name="B")
                async with sessions() as db:
                    tree = await create_tree(
                        db,
                        user_id=user_id,
                        pillars=5,
                        areas_per_pillar=4,
                        projects_per_area=5,
                        tasks_per_project=tasks_per_project,
                    )
                    await db.commit()

                async def clear() -> None:
                    async with engine.begin() as conn:
                        await conn.execute(sa.text("DELETE FROM insights WHERE user_id = :u"), {"u": user_id})

                async def end_to_end() -> tuple[float, dict[str, Any]]:
                    await clear()
                    started = time.perf_counter()
                    response = (await client.post("/graphql", json={"query": REQUEST}, headers=headers)).json()
                    job_id = response["data"]["requestInsights"]["job"]["id"]
                    while True:
                        body = (
                            await client.post(
                                "/graphql", json={"query": JOB, "variables": {"id": job_id}}, headers=headers
                            )
                        ).json()
                        job = body["data"]["node"]
                        if job["status"] in {"SUCCEEDED", "FAILED"}:
                            break
                        await asyncio.sleep(0.01)
                    elapsed = time.perf_counter() - started
                    assert job["status"] == "SUCCEEDED", job
                    return elapsed, job["result"]

                async def analysis_alone() -> tuple[float, insights.AnalysisResult]:
                    await clear()
                    started = time.perf_counter()
                    result = await insights.analyse(
                        sessions=sessions, provider=OfflineProvider(), user_id=user_id, now=datetime.now(UTC)
                    )
                    return time.perf_counter() - started, result

                _, result = await end_to_end()  # warm-up
                await analysis_alone()
                e2e = [(await end_to_end())[0] for _ in range(runs)]
                alone = [(await analysis_alone())[0] for _ in range(runs)]
                return {
                    "tasks": len(tree.tasks),
                    "findings": result["findings"],
                    "insights_posted": result["created"],
                    "end_to_end": summary(e2e),
                    "analysis_alone": summary(alone),
                }
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks-per-project", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    server = to_async_url(os.environ["DATABASE_URL"]) if os.environ.get("DATABASE_URL") else None
    server = server or start_embedded_postgres(ROOT / ".data" / "bench-postgres")
    url = await create_database(server)
    try:
        upgrade(url)
        print(await _run(url, ROOT / ".data", args.tasks_per_project, args.runs))
    finally:
        await drop_database(server, url)


if __name__ == "__main__":
    asyncio.run(main())
