"""Background jobs as their owner sees them: enqueue, run, report progress, read.

A product declares the handler of each job `kind` it enqueues in its registration
(`Product.jobs`, installed here by the app and the worker with `register_handlers`; tests may use
`@handler("test.kind")`), and enqueues with `enqueue(session, ...)` inside its mutation's
transaction: the `background_jobs` row and procrastinate's queue entry commit together. A
worker runs `execute`, which moves the row through queued → running (with progress) →
succeeded / retrying / failed.

Every change of a job's state goes through `job_changed`, once it is committed: inside a
request through `after_commit`, in the worker right after its own commit. That is the one
place where live delivery (the event bus, a subscription) plugs in.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from procrastinate.jobs import Job as QueueJob
from procrastinate.retry import BaseRetryStrategy
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from core import metrics
from core.access import readable
from core.ai import AIProvider, AIProviderError
from core.context import Actor, after_commit, run_in_transaction
from core.events import process_bus, user_channel
from core.jobs import defer
from core.pagination import Sort
from core.settings import Settings
from models.jobs import ACTIVE_JOB_STATUSES, BackgroundJob, JobStatus
from services import owned

logger = logging.getLogger("quintet.jobs")

#: procrastinate's name for the one task that runs every background job
RUN_TASK = "quintet.run_background_job"


def table() -> sa.Table:
    return owned.table(BackgroundJob)


# ------------------------------------------------------------------------------- state


@dataclass(frozen=True)
class JobState:
    """A job as it is after a committed change: what `job_changed` receives."""

    id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    params: dict[str, Any]
    status: str
    progress: float
    progress_message: str | None
    result: dict[str, Any] | None
    error_code: str | None
    error_message: str | None
    attempts: int
    max_attempts: int
    provider: str | None
    model: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    next_attempt_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> JobState:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


JOBS_TOPIC = "jobs"


async def job_changed(state: JobState) -> None:
    """Called once per committed change of a job's state (queued, running and each progress
    step, retrying, succeeded, failed), never for a change that was rolled back: logs it and
    publishes it on the owner's channel of this process's event bus, where the
    `backgroundJobUpdates` subscription picks it up (and reads the job back for its viewer)."""
    logger.info(
        "job %s %s %s progress=%.2f attempts=%d/%d%s",
        state.id,
        state.kind,
        state.status,
        state.progress,
        state.attempts,
        state.max_attempts,
        f" error={state.error_code}" if state.error_code else "",
        extra={"job_state": state},
    )
    bus = process_bus()
    if bus is not None:
        event = {
            "topic": JOBS_TOPIC,
            "user": str(state.user_id),
            "id": str(state.id),
            "status": state.status,
            "at": state.updated_at.isoformat(),
        }
        await bus.publish(user_channel(state.user_id), event)


# ----------------------------------------------------------------------------- enqueue


async def enqueue(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    kind: str,
    params: dict[str, Any],
    max_retries: int,
) -> BackgroundJob:
    """Create the job and its queue entry in the session's transaction."""
    if kind not in HANDLERS:
        raise LookupError(f"no handler is registered for job kind {kind!r}")
    job = BackgroundJob(user_id=user_id, kind=kind, params=params, max_attempts=max_retries + 1)
    session.add(job)
    await session.flush()
    job.queue_job_id = await defer(session, task=RUN_TASK, args={"job_id": str(job.id)})
    await session.flush()
    state = JobState.of(job)

    async def committed() -> None:
        metrics.JOBS_ENQUEUED.labels(kind).inc()
        await job_changed(state)

    after_commit(session, committed)
    return job


async def active_job(session: AsyncSession, *, actor: Actor, kind: str) -> BackgroundJob | None:
    """The actor's queued, running or retrying job of this kind, if any."""
    statement = (
        sa.select(BackgroundJob)
        .where(
            readable(BackgroundJob, actor),
            BackgroundJob.kind == kind,  # type: ignore[arg-type]
            BackgroundJob.status.in_(ACTIVE_JOB_STATUSES),  # type: ignore[attr-defined]
        )
        .order_by(BackgroundJob.created_at.desc())  # type: ignore[attr-defined]
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


# ------------------------------------------------------------------------------- reads

JOB_SORTS: dict[str, Sort] = {
    "CREATED_AT_DESC": Sort("created_DESC", table().c.created_at, datetime, True),
    "CREATED_AT_ASC": Sort("created_ASC", table().c.created_at, datetime, False),
    "UPDATED_AT_DESC": Sort("updated_DESC", table().c.updated_at, datetime, True),
}


@dataclass(frozen=True)
class JobFilter:
    statuses: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()


def owned_jobs(actor: Actor) -> sa.Select[Any]:
    t = table()
    return sa.select(t).where(readable(t, actor))


def job_conditions(flt: JobFilter) -> list[sa.ColumnElement[bool]]:
    t = table()
    conditions: list[sa.ColumnElement[bool]] = []
    if flt.statuses:
        conditions.append(t.c.status.in_(flt.statuses))
    if flt.kinds:
        conditions.append(t.c.kind.in_(flt.kinds))
    return conditions


# ----------------------------------------------------------------------------- running


class JobFailed(Exception):
    """A handler's expected failure, with a code the owner can read."""

    def __init__(self, code: str, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


@dataclass
class JobRuntime:
    """What a worker gives the jobs it runs."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    ai: AIProvider
    retry: BaseRetryStrategy


@dataclass
class JobRun:
    """One attempt at a job, as its handler sees it."""

    runtime: JobRuntime
    job_id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    params: dict[str, Any]
    attempt: int
    provider: str | None = None
    model: str | None = None
    _last_progress: float = field(default=0.0, repr=False)

    async def progress(self, fraction: float, message: str) -> None:
        """Record how far the job got (0 to 1, never backwards) and tell its watchers."""
        fraction = max(self._last_progress, min(1.0, max(0.0, fraction)))
        self._last_progress = fraction
        await _update(
            self.runtime.sessions,
            self.job_id,
            {"progress": fraction, "progress_message": message[:200]},
            only_if_status=(JobStatus.RUNNING.value,),
        )

    def used(self, provider: str, model: str) -> None:
        """Name the AI provider and model that produced the result."""
        self.provider, self.model = provider, model


Handler = Callable[[JobRun], Awaitable[dict[str, Any]]]
#: Undoes in the session what a lost job left; what it publishes (`publish_after_commit`) goes
#: out once that commits.
Lost = Callable[[AsyncSession, "JobState"], Awaitable[None]]
#: This process's job kinds and their handlers; `enqueue` refuses a kind missing here.
HANDLERS: dict[str, Handler] = {}
#: What each kind undoes when its job is lost for good (`Product.jobs_lost`, `mark_interrupted`).
LOST: dict[str, Lost] = {}


def register_handlers(handlers: Mapping[str, Handler], lost: Mapping[str, Lost] | None = None) -> None:
    """Install the functions that run jobs of each kind (the registrations' `Product.jobs`) and
    those that undo what a lost job left (`Product.jobs_lost`). Installing the same again is
    harmless; another function for a known kind is refused."""
    for installed, functions in ((HANDLERS, handlers), (LOST, lost or {})):
        for kind, function in functions.items():
            known = installed.setdefault(kind, function)  # type: ignore[arg-type]
            if known is not function:
                raise LookupError(f"job kind {kind!r} already has a function ({known.__qualname__})")


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that runs jobs of `kind`; it returns the job's JSON result."""

    def register(function: Handler) -> Handler:
        register_handlers({kind: function})
        return function

    return register


def _now() -> datetime:
    return datetime.now(UTC)


async def _update(
    sessions: async_sessionmaker[AsyncSession],
    job_id: uuid.UUID,
    values: dict[str, Any],
    *,
    only_if_status: Sequence[str],
) -> JobState | None:
    """Change the job if it is in one of `only_if_status`, commit, then report the change."""
    t = table()
    statement = (
        sa.update(t)
        .where(t.c.id == job_id, t.c.status.in_(only_if_status))
        .values(**values, updated_at=_now())
        .returning(*t.c)
    )

    async def work(session: AsyncSession) -> JobState | None:
        row = (await session.execute(statement)).one_or_none()
        if row is None:
            return None
        state = JobState.of(row)

        async def changed() -> None:
            await job_changed(state)

        after_commit(session, changed)
        return state

    return await run_in_transaction(sessions, work)


def describe_error(error: BaseException, *, dev: bool) -> tuple[str, str]:
    """The code and message the job's owner sees for `error`."""
    if isinstance(error, AIProviderError | JobFailed):
        return error.code, error.message
    if isinstance(error, asyncio.CancelledError):
        return "WORKER_STOPPED", "The worker stopped during the job"
    error_id = uuid.uuid4().hex[:16]
    logger.error("job failed unexpectedly, error %s", error_id, exc_info=error)
    message = f"{type(error).__name__}: {error}" if dev else "Internal error"
    return "INTERNAL", f"{message} (error id {error_id})"[:2000]


async def execute(runtime: JobRuntime, *, job_id: uuid.UUID, queue_job: QueueJob) -> dict[str, Any] | None:
    """Run one attempt of a background job (called by the worker's procrastinate task).

    On failure the row says whether it will be retried (and when) or has given up, and the
    error is raised again so that procrastinate applies the same retry decision.
    """
    started = await _update(
        runtime.sessions,
        job_id,
        {
            "status": JobStatus.RUNNING.value,
            "attempts": table().c.attempts + 1,
            "started_at": sa.func.coalesce(table().c.started_at, sa.func.now()),
            "progress_message": "Started",
            "error_code": None,
            "error_message": None,
            "next_attempt_at": None,
        },
        # `running` too: an attempt whose worker died is started again after recovery.
        only_if_status=ACTIVE_JOB_STATUSES,
    )
    if started is None:
        logger.warning("background job %s is gone or already finished; nothing to do", job_id)
        return None
    run = JobRun(
        runtime=runtime,
        job_id=job_id,
        user_id=started.user_id,
        kind=started.kind,
        params=dict(started.params),
        attempt=started.attempts,
    )
    began = time.perf_counter()
    try:
        function = HANDLERS.get(started.kind)
        if function is None:
            raise JobFailed("UNKNOWN_KIND", f"No handler for jobs of kind {started.kind}", retryable=False)
        result = await function(run)
    except BaseException as error:
        decision = runtime.retry.get_retry_decision(exception=error, job=queue_job)
        code, message = describe_error(error, dev=runtime.settings.is_dev)
        values: dict[str, Any] = {"error_code": code, "error_message": message, "provider": run.provider}
        if run.model:
            values["model"] = run.model
        if decision is not None:
            values.update(status=JobStatus.RETRYING.value, next_attempt_at=decision.retry_at or _now())
        else:
            values.update(status=JobStatus.FAILED.value, finished_at=_now())
        _count_attempt(started.kind, values["status"], began)
        # Recorded even while the task is being cancelled (worker shutting down).
        await asyncio.shield(_update(runtime.sessions, job_id, values, only_if_status=(JobStatus.RUNNING.value,)))
        raise
    await _update(
        runtime.sessions,
        job_id,
        {
            "status": JobStatus.SUCCEEDED.value,
            "progress": 1.0,
            "progress_message": "Done",
            "result": result,
            "provider": run.provider,
            "model": run.model,
            "finished_at": _now(),
        },
        only_if_status=(JobStatus.RUNNING.value,),
    )
    _count_attempt(started.kind, JobStatus.SUCCEEDED.value, began)
    return result


def _count_attempt(kind: str, outcome: str, began: float) -> None:
    metrics.JOB_ATTEMPTS.labels(kind, outcome).inc()
    metrics.JOB_SECONDS.labels(kind).observe(time.perf_counter() - began)


def _active_by_kind() -> sa.Select[Any]:
    t = table()
    return (
        sa.select(t.c.kind, t.c.status, sa.func.count().label("jobs"))
        .where(t.c.status.in_(ACTIVE_JOB_STATUSES))
        .group_by(t.c.kind, t.c.status)
    )


async def job_families(conn: AsyncConnection) -> list[Metric]:
    """What /metrics reads of the jobs at each scrape: the unfinished ones by kind and status
    (the partial index on active statuses answers it). Every kind and active status is listed,
    with 0 where none is."""
    gauge = GaugeMetricFamily(
        "quintet_jobs", "Unfinished background jobs by kind and status (from the database)", labels=["kind", "status"]
    )
    counts = {(row.kind, row.status): int(row.jobs) for row in await conn.execute(_active_by_kind())}
    kinds = sorted({*HANDLERS, *(kind for kind, _ in counts)})
    for kind in kinds:
        for status in ACTIVE_JOB_STATUSES:
            gauge.add_metric([kind, status], counts.get((kind, status), 0))
    return [gauge]


async def mark_interrupted(
    sessions: async_sessionmaker[AsyncSession], *, queue_job_id: int, lost_attempt: int, requeued: bool
) -> JobState | None:
    """The job whose worker died during attempt `lost_attempt`: back to retrying, or failed if
    no retry is left.

    Only that attempt is marked: the job is already back in the queue, so another worker may
    have started the next attempt, which must not be reported as lost (its result would then
    be dropped, since a finished attempt only updates a running job).
    """
    t = table()
    values: dict[str, Any] = {
        "error_code": "WORKER_LOST",
        "error_message": "The worker running this job stopped responding",
        "updated_at": _now(),
    }
    if requeued:
        values.update(status=JobStatus.RETRYING.value, next_attempt_at=_now())
    else:
        values.update(status=JobStatus.FAILED.value, finished_at=_now())
    statement = (
        sa.update(t)
        .where(
            t.c.queue_job_id == queue_job_id,
            t.c.status == JobStatus.RUNNING.value,
            t.c.attempts == lost_attempt,
        )
        .values(**values)
        .returning(*t.c)
    )

    async def work(session: AsyncSession) -> JobState | None:
        row = (await session.execute(statement)).one_or_none()
        if row is None:
            return None
        state = JobState.of(row)

        async def changed() -> None:
            await job_changed(state)

        after_commit(session, changed)  # told first, then what the kind's undoing publishes
        undo = LOST.get(state.kind) if not requeued else None
        if undo is not None:  # what its handler would have settled on its last failure
            await undo(session, state)
        return state

    return await run_in_transaction(sessions, work)
