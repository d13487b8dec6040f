"""The job queue: procrastinate on the application's own Postgres.

* `defer` enqueues through procrastinate's SQL function on the caller's SQLAlchemy session,
  so a job row is committed with the data that asked for it, or rolled back with it: a
  mutation that fails leaves no job behind, and a committed one never loses its job.
* `BackoffRetry` retries a failed job after `base * 2**attempt` seconds, up to a number of
  retries, unless the error says that trying again can't help (`retryable = False`).
* `recover_stalled_jobs` puts back in the queue the jobs of workers that stopped sending
  heartbeats (killed, out of memory, machine lost): no job is lost with its worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from procrastinate import App, PsycopgConnector
from procrastinate.exceptions import ConnectorException
from procrastinate.jobs import Job, Status
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger("quintet.jobs")

DEFAULT_QUEUE = "default"

_DEFER = sa.text(
    """
    SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(
        CAST(:queue AS varchar), CAST(:task AS varchar), CAST(:priority AS integer), CAST(:lock AS text),
        CAST(:queueing_lock AS text), :args, :scheduled_at
    )]::procrastinate_job_to_defer_v1[])) AS id
    """
).bindparams(
    sa.bindparam("args", type_=postgresql.JSONB),
    sa.bindparam("scheduled_at", type_=sa.DateTime(timezone=True)),
)


def libpq_url(database_url: str) -> str:
    """The libpq form (for psycopg) of a SQLAlchemy database URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def build_connector(database_url: str, *, pool_size: int) -> PsycopgConnector:
    return PsycopgConnector(
        conninfo=libpq_url(database_url),
        min_size=1,
        max_size=pool_size,
        kwargs={"application_name": "quintet-worker"},
    )


async def defer(
    session: AsyncSession,
    *,
    task: str,
    args: dict[str, Any],
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
    lock: str | None = None,
    queueing_lock: str | None = None,
    scheduled_at: datetime | None = None,
) -> int:
    """Enqueue `task(**args)` in the session's transaction; returns procrastinate's job id."""
    result = await session.execute(
        _DEFER,
        {
            "queue": queue,
            "task": task,
            "priority": priority,
            "lock": lock,
            "queueing_lock": queueing_lock,
            "args": args,
            "scheduled_at": scheduled_at,
        },
    )
    return int(result.scalar_one())


def is_retryable(error: BaseException) -> bool:
    """Errors say whether trying again may help through a `retryable` attribute; by default it may."""
    return bool(getattr(error, "retryable", True))


class BackoffRetry(BaseRetryStrategy):
    """Retry up to `max_retries` times, `base_seconds * 2**attempt` apart (5 s, 10 s, 20 s...)."""

    def __init__(self, *, max_retries: int, base_seconds: float) -> None:
        self.max_retries = max_retries
        self.base_seconds = base_seconds

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if job.attempts >= self.max_retries or not is_retryable(exception):
            return None
        return RetryDecision(retry_in={"seconds": self.base_seconds * 2**job.attempts})


@dataclass(frozen=True)
class StalledJob:
    queue_job_id: int
    task_name: str
    #: the runs the queue had counted before the lost one (procrastinate's `attempts`)
    attempts: int
    #: put back in the queue (True), or failed for good because its retries were spent
    requeued: bool


async def recover_stalled_jobs(app: App, *, stalled_after: float, max_retries: int) -> list[StalledJob]:
    """Requeue the running jobs of workers silent for `stalled_after` seconds.

    A job that has already used its retries fails instead: a job that kills its worker
    every time must not loop forever.
    """
    recovered: list[StalledJob] = []
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        assert job.id is not None
        try:
            if job.attempts >= max_retries:
                await app.job_manager.finish_job(job=job, status=Status.FAILED, delete_job=False)
            else:
                await app.job_manager.retry_job(job)
        except ConnectorException:
            # Another worker recovered it first, or it finished meanwhile.
            logger.info("stalled job %s changed meanwhile; left as it is", job.id)
            continue
        requeued = job.attempts < max_retries
        logger.warning(
            "job %s (%s) was running on a worker that stopped; %s",
            job.id,
            job.task_name,
            "requeued" if requeued else "failed: no retries left",
        )
        recovered.append(
            StalledJob(queue_job_id=job.id, task_name=job.task_name, attempts=job.attempts, requeued=requeued)
        )
    return recovered
