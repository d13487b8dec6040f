"""No job is lost when its worker dies: `app.py worker` killed with SIGKILL mid-job, then a new
worker finds the job through the dead worker's missing heartbeats and finishes it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.relay import from_global_id
from core.settings import Settings
from tests.aurum.test_insights import REQUEST, rule_gid, user_with_scenario
from tests.fake_openai import FakeOpenAI, Reply, Stall
from tests.jobs_support import job_row, queue_rows
from tests.support import GraphQLClient

ROOT = Path(__file__).resolve().parent.parent


def start_worker(settings: Settings, fake: FakeOpenAI, data_dir: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_URL"}}
    env.update(
        {
            "MODE": "dev",
            "DATA_DIR": str(data_dir),
            "DATABASE_URL": settings.database_url or "",
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": fake.base_url,
            "AI_MAX_RETRIES": "0",
            "AI_TIMEOUT_SECONDS": "120",
            "JOB_HEARTBEAT_SECONDS": "0.5",
            "JOB_STALLED_AFTER_SECONDS": "3",
            "JOB_POLL_SECONDS": "0.2",
            "JOB_RETRY_BASE_SECONDS": "0",
            # no periodic task (see tests/conftest.py make_settings)
            "INSIGHTS_SCHEDULE": "",
            "KNOWLEDGE_REEMBED_SCHEDULE": "",
            "AKASHIC_SEND_SCHEDULE": "",
        }
    )
    return subprocess.Popen(
        [sys.executable, "app.py", "worker", "--concurrency", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def wait_for_status(engine: AsyncEngine, job_id: uuid.UUID, status: str, within: float) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        row = await job_row(engine, job_id)
        if row.status == status:
            return row
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} not {status} within {within}s: {await job_row(engine, job_id)}")


async def test_a_job_survives_its_worker_being_killed(
    gql: GraphQLClient,
    session: AsyncSession,
    engine: AsyncEngine,
    settings: Settings,
    fake_openai: FakeOpenAI,
    tmp_path: Path,
) -> None:
    # Given an analysis requested, and an AI provider that holds the first request
    viewer, _ = await user_with_scenario(gql, session)
    fake_openai.chat(Stall(120))
    payload = await gql.mutate(
        "requestInsights", {"ruleIds": [rule_gid("overdue_in_important_area")]}, REQUEST, token=viewer.token
    )
    job_id = from_global_id(payload["job"]["id"])[1]
    # When a worker process takes the job and is killed with SIGKILL in the middle of it
    first = start_worker(settings, fake_openai, tmp_path)
    try:
        await asyncio.to_thread(fake_openai.wait_for, "/chat/completions", 1, 60)
        running = await job_row(engine, job_id)
        assert (running.status, running.attempts) == ("running", 1)
        assert running.progress == 0.4
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 30)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL
    # Then the job is still there, marked running by a worker that no longer exists
    assert (await job_row(engine, job_id)).status == "running"
    (queued,) = await queue_rows(engine, job_id)
    assert queued.status == "doing"
    # When a new worker starts (and the provider answers this time)
    fake_openai.chat(
        Reply({"insights": [{"ref": "0", "title": "Fitness needs you", "body": "Two tasks are late. Start small."}]})
    )
    second = start_worker(settings, fake_openai, tmp_path)
    try:
        # Then it finds the stalled job through the missing heartbeats and finishes it
        done = await wait_for_status(engine, job_id, "succeeded", within=90)
    finally:
        second.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(second.communicate, None, 60)
    assert second.returncode == 0, output
    assert "worker stopped" in output
    assert done.attempts == 2
    assert done.error_code is None
    assert done.result["created"] == 1
    (queued,) = await queue_rows(engine, job_id)
    assert (queued.status, queued.attempts) == ("succeeded", 2)  # procrastinate counts both runs
    assert len(fake_openai.received("/chat/completions")) == 2
    async with engine.connect() as conn:
        titles = (
            await conn.execute(sa.text("SELECT title, model FROM insights WHERE job_id = :id"), {"id": job_id})
        ).all()
    assert [tuple(t) for t in titles] == [("Fitness needs you", "fake-model-1")]
