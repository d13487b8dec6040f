"""Helpers for tests of background jobs: run a worker until the queue is empty, read rows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core.settings import Settings
from services.jobs import JobState
from services.worker import run_worker


def worker_settings(settings: Settings, **overrides: Any) -> Settings:
    """The suite's settings for a worker: offline AI, immediate retries (unless overridden)."""
    values: dict[str, Any] = {
        "openai_api_key": None,
        "job_retry_base_seconds": 0.0,
        "job_max_retries": 2,
        "job_poll_seconds": 0.1,
    }
    values.update(overrides)
    # Validated again (not model_copy), so that e.g. a key given as text becomes a secret.
    return Settings(_env_file=None, **{**settings.model_dump(), **values})


IDLE = sa.text(
    "SELECT count(*) FROM procrastinate_jobs"
    " WHERE status = 'doing' OR (status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now()))"
)


async def drain(settings: Settings, *, within: float = 60.0) -> None:
    """Run a worker in this process until no job is running or due (retries included), then stop it."""
    assert settings.database_url is not None
    worker = asyncio.create_task(
        run_worker(settings, settings.database_url, install_signal_handlers=False, name="test-worker")
    )
    engine = create_async_engine(settings.database_url)
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            if worker.done():
                worker.result()  # raise what stopped it
                raise AssertionError("the worker stopped by itself")
            async with engine.connect() as conn:
                if (await conn.execute(IDLE)).scalar_one() == 0:
                    return
        raise AssertionError(f"jobs still running or due after {within}s")
    finally:
        await engine.dispose()
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


async def job_row(engine: AsyncEngine, job_id: uuid.UUID) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(sa.text("SELECT * FROM background_jobs WHERE id = :id"), {"id": job_id})).one()


async def queue_rows(engine: AsyncEngine, job_id: uuid.UUID) -> list[Any]:
    """procrastinate's entries for a background job."""
    async with engine.connect() as conn:
        result = await conn.execute(
            sa.text("SELECT * FROM procrastinate_jobs WHERE args->>'job_id' = :id"), {"id": str(job_id)}
        )
        return list(result.all())


@dataclass(frozen=True)
class Change:
    status: str
    progress: float
    attempts: int
    error: str | None


def job_changes(caplog: pytest.LogCaptureFixture, job_id: uuid.UUID) -> list[Change]:
    """The changes `services.jobs.job_changed` reported for a job, in order."""
    states = [getattr(record, "job_state", None) for record in caplog.records]
    mine = [s for s in states if isinstance(s, JobState) and s.id == job_id]
    return [Change(s.status, s.progress, s.attempts, s.error_code) for s in mine]


def capture_job_changes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="quintet.jobs")
