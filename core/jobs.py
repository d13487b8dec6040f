"""The job queue: procrastinate on the application's own Postgres.

* `defer` enqueues through procrastinate's SQL function on the caller's SQLAlchemy session,
  so a job row is committed with the data that asked for it, or rolled back with it: a
  mutation that fails leaves no job behind, and a committed one never loses its job.
* `BackoffRetry` retries a failed job after `base * 2**attempt` seconds, up to a number of
  retries, unless the error says that trying again can't help (`retryable = False`).
* `recover_stalled_jobs` puts back in the queue the jobs of workers that stopped sending
  heartbeats (killed, out of memory, machine lost): no job is lost with its worker.
* `queue_health` counts the live workers and the jobs waiting for one; `QueueWatch` says so in
  the log when jobs wait and no worker is alive (`/readyz` reports the same).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from procrastinate import App, PsycopgConnector
from procrastinate.exceptions import ConnectorException
from procrastinate.jobs import Job, Status
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from core.rls import APP_ROLE, acting_as_system

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


def build_connector(database_url: str, *, pool_size: int, as_app_role: bool = True) -> PsycopgConnector:
    """procrastinate's own connections (psycopg), as the app role (`core.rls.APP_ROLE`) like the
    application's: `database_url`'s login becomes it at connection start, unless `as_app_role`
    is false (the URL logs in as it already). The queue's tables have no row policies."""
    kwargs: dict[str, Any] = {"application_name": "quintet-worker"}
    if as_app_role:
        kwargs["options"] = f"-c role={APP_ROLE}"
    return PsycopgConnector(conninfo=libpq_url(database_url), min_size=1, max_size=pool_size, kwargs=kwargs)


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


# Waiting jobs are due `todo` rows. A job waits since it was scheduled (a retry, a job deferred
# for later), or else since its last event (deferred, or requeued); ids grow with deferral, so the
# unscheduled job with the lowest id is the one waiting longest.
_QUEUE_HEALTH = sa.text(
    """
    WITH due AS (
        SELECT id, scheduled_at FROM procrastinate_jobs
        WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())
    )
    SELECT
        (SELECT count(*) FROM procrastinate_workers
         WHERE last_heartbeat > now() - make_interval(secs => CAST(:stalled_after AS double precision))) AS workers,
        (SELECT count(*) FROM due) AS queued,
        EXTRACT(EPOCH FROM now() - LEAST(
            (SELECT min(scheduled_at) FROM due),
            (SELECT max(at) FROM procrastinate_events
             WHERE job_id = (SELECT min(id) FROM due WHERE scheduled_at IS NULL))
        ))::float AS oldest
    """
)


@dataclass(frozen=True)
class QueueHealth:
    #: workers whose last heartbeat is more recent than JOB_STALLED_AFTER_SECONDS
    workers: int
    #: jobs due and waiting for a worker
    queued: int
    oldest_queued_seconds: float | None

    @property
    def unserved(self) -> bool:
        """Jobs wait and no worker is alive to run them."""
        return self.queued > 0 and self.workers == 0

    def as_json(self) -> dict[str, Any]:
        oldest = None if self.oldest_queued_seconds is None else round(max(self.oldest_queued_seconds, 0.0), 1)
        return {"workers": self.workers, "queued": self.queued, "oldestQueuedSeconds": oldest}


async def queue_health(conn: AsyncConnection, *, stalled_after: float) -> QueueHealth:
    row = (await conn.execute(_QUEUE_HEALTH, {"stalled_after": stalled_after})).one()
    return QueueHealth(workers=int(row.workers), queued=int(row.queued), oldest_queued_seconds=row.oldest)


#: how often (at most) one process repeats that jobs wait without a worker
UNSERVED_WARNING_INTERVAL_SECONDS = 60.0


class QueueWatch:
    """Warns, at most once a minute, that jobs are queued and no worker is alive."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._warned_at: float | None = None

    def check(self, health: QueueHealth) -> None:
        if not health.unserved:
            self._warned_at = None
            return
        now = self.clock()
        if self._warned_at is not None and now - self._warned_at < UNSERVED_WARNING_INTERVAL_SECONDS:
            return
        self._warned_at = now
        logger.warning(
            "%d job(s) queued (the oldest for %.0fs) and no worker is alive: run `app.py worker`, "
            "or JOBS_IN_PROCESS=true for a worker inside `serve`",
            health.queued,
            health.oldest_queued_seconds or 0.0,
        )


async def watch_queue(engine: AsyncEngine, watch: QueueWatch, *, stalled_after: float) -> None:
    """Check the queue's health every minute (the first time a minute after start, when an
    in-process worker has long registered) until cancelled."""
    while True:
        await asyncio.sleep(UNSERVED_WARNING_INTERVAL_SECONDS)
        try:
            with acting_as_system():
                async with engine.connect() as conn:
                    watch.check(await queue_health(conn, stalled_after=stalled_after))
        except Exception as exc:  # noqa: BLE001 - the next round tries again; /readyz reports the database
            logger.warning("checking the job queue failed: %s", exc)


def queue_families(stalled_after: float) -> Callable[[AsyncConnection], Awaitable[list[Metric]]]:
    """What /metrics reads of the queue at each scrape (the same as /readyz)."""

    async def families(conn: AsyncConnection) -> list[Metric]:
        health = await queue_health(conn, stalled_after=stalled_after)
        oldest = max(health.oldest_queued_seconds or 0.0, 0.0)
        return [
            GaugeMetricFamily("quintet_job_workers_alive", "Job workers whose heartbeat is recent", health.workers),
            GaugeMetricFamily("quintet_jobs_waiting", "Jobs due and waiting for a worker", health.queued),
            GaugeMetricFamily(
                "quintet_job_oldest_waiting_seconds", "How long the job waiting longest has waited (0: none)", oldest
            ),
        ]

    return families
