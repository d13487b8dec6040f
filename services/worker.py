"""The worker: procrastinate's app with every product's tasks, and the loop that runs them.

`uv run app.py worker` runs `run_worker`; `serve` runs the same in-process when jobs are
in-process (the default with the embedded database). Tasks:

* `quintet.run_background_job`: runs one attempt of a `background_jobs` row (any kind), with the
  handler its product registered (`Product.jobs`);
* each registration's periodic tasks (`Product.periodic`), e.g. `aurum.sweep_insights` on the
  cron `INSIGHTS_SCHEDULE`, which enqueues the analyses due.

Beside procrastinate's own loop, the worker requeues the jobs of dead workers every
`JOB_STALLED_AFTER_SECONDS / 2` seconds (and once at start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from procrastinate import App, JobContext

from core.ai import build_provider
from core.context import Actor
from core.db import check_app_database, create_engine, resolve_app_database_url, session_factory
from core.events import create_bus, process_bus, register_process_bus, unregister_process_bus
from core.jobs import BackoffRetry, build_connector, recover_stalled_jobs
from core.products import PeriodicTask, Product, Registry
from core.rls import acting
from core.settings import ConfigurationError, Settings
from products import PRODUCTS
from services import jobs

logger = logging.getLogger("quintet.worker")

SHUTDOWN_GRACE_SECONDS = 30.0


def retry_policy(settings: Settings) -> BackoffRetry:
    return BackoffRetry(max_retries=settings.job_max_retries, base_seconds=settings.job_retry_base_seconds)


async def run_background_job(context: JobContext, job_id: str) -> None:
    runtime: jobs.JobRuntime = context.additional_context["runtime"]
    await jobs.execute(runtime, job_id=uuid.UUID(job_id), queue_job=context.job)


def _periodic(task: PeriodicTask) -> Callable[[JobContext, int], Awaitable[int]]:
    async def run(context: JobContext, timestamp: int) -> int:
        runtime: jobs.JobRuntime = context.additional_context["runtime"]
        at = datetime.fromtimestamp(timestamp, UTC)
        count = await task.run(runtime, at)
        logger.info("periodic task %s at %s: %d", task.name, at.isoformat(), count)
        return count

    return run


def build_queue_app(settings: Settings, database_url: str, products: Sequence[Product] = PRODUCTS) -> App:
    registry = Registry(products)
    jobs.register_handlers(registry.job_handlers, registry.jobs_lost)
    app_url = resolve_app_database_url(settings, database_url)
    app = App(
        connector=build_connector(
            app_url,
            pool_size=settings.job_concurrency + 3,
            as_app_role=settings.row_security and not settings.database_app_url,
        )
    )
    app.task(name=jobs.RUN_TASK, pass_context=True, retry=retry_policy(settings))(run_background_job)
    for periodic in registry.periodic:
        task = app.task(name=periodic.name, pass_context=True, queueing_lock=periodic.name)(_periodic(periodic))
        cron = periodic.schedule(settings)
        if cron:
            app.periodic(cron=cron)(task)
    return app


async def _recover_stalled(app: App, runtime: jobs.JobRuntime) -> None:
    settings = runtime.settings
    try:
        for stalled in await recover_stalled_jobs(
            app, stalled_after=settings.job_stalled_after_seconds, max_retries=settings.job_max_retries
        ):
            await jobs.mark_interrupted(
                runtime.sessions,
                queue_job_id=stalled.queue_job_id,
                lost_attempt=stalled.attempts + 1,
                requeued=stalled.requeued,
            )
    except Exception:  # a database hiccup must not stop the worker: try again next round
        logger.exception("recovering stalled jobs failed")
    _honour_cancellation()


async def _recover_forever(app: App, runtime: jobs.JobRuntime) -> None:
    while True:
        await asyncio.sleep(runtime.settings.job_stalled_after_seconds / 2)
        await _recover_stalled(app, runtime)


def _honour_cancellation() -> None:
    """Raise the cancellation a library swallowed. In Python 3.11, `asyncio.wait_for` loses a
    cancellation that arrives as the awaited thing completes, which psycopg's pool does when it
    opens: a worker stopped as it starts (a server that fails to start) would then run on, and the
    shutdown that waits for it would never end."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def run_worker(
    settings: Settings,
    database_url: str,
    *,
    wait: bool = True,
    install_signal_handlers: bool = True,
    name: str = "worker",
    products: Sequence[Product] = PRODUCTS,
) -> None:
    """Run jobs until stopped (SIGINT/SIGTERM, or cancellation), or with `wait=False` until
    the queue is empty. Running jobs get `SHUTDOWN_GRACE_SECONDS` to finish on stop; the
    rest are retried by the next worker.

    Its database work is the system's (core/rls.py): the jobs of every user, the periodic tasks,
    the queue itself. `database_url` is the owner's; the engines connect as the app role."""
    with acting(Actor.system(name)):
        await _run_worker(
            settings,
            database_url,
            wait=wait,
            install_signal_handlers=install_signal_handlers,
            name=name,
            products=products,
        )


async def _run_worker(
    settings: Settings,
    database_url: str,
    *,
    wait: bool,
    install_signal_handlers: bool,
    name: str,
    products: Sequence[Product],
) -> None:
    app_url = resolve_app_database_url(settings, database_url)
    await check_app_database(app_url, settings)
    engine = create_engine(app_url, settings)
    # A worker of its own process publishes job changes through Redis (an in-process bus would
    # reach no subscriber); inside `serve` it uses the app's bus.
    own_bus = create_bus(settings) if process_bus() is None and settings.redis_url else None
    if own_bus is not None:
        await own_bus.start()
        register_process_bus(own_bus)
    runtime = jobs.JobRuntime(
        settings=settings,
        sessions=session_factory(engine),
        ai=build_provider(settings),
        retry=retry_policy(settings),
    )
    app = build_queue_app(settings, database_url, products)
    recovery: asyncio.Task[Any] | None = None
    try:
        # Opened and closed by hand, not `async with`: a stop while the pool opens must close it too.
        try:
            await app.open_async()
            _honour_cancellation()
            if not await app.check_connection_async():
                raise ConfigurationError("the job queue's tables are missing: run `uv run app.py migrate` first")
            _honour_cancellation()
            # The first round before procrastinate starts, not beside it: a pool connection in use
            # while it registers the worker would make it wait for another, where a stop gets lost.
            await _recover_stalled(app, runtime)
            recovery = asyncio.create_task(_recover_forever(app, runtime), name="recover stalled jobs")
            await app.run_worker_async(
                name=name,
                concurrency=settings.job_concurrency,
                wait=wait,
                install_signal_handlers=install_signal_handlers,
                additional_context={"runtime": runtime},
                # New jobs arrive at once (LISTEN/NOTIFY); retries and scheduled jobs by polling.
                fetch_job_polling_interval=settings.job_poll_seconds,
                update_heartbeat_interval=settings.job_heartbeat_seconds,
                stalled_worker_timeout=settings.job_stalled_after_seconds,
                shutdown_graceful_timeout=SHUTDOWN_GRACE_SECONDS,
            )
        finally:
            if recovery is not None:
                recovery.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await recovery
            await app.close_async()
    finally:
        await runtime.ai.close()
        await engine.dispose()
        if own_bus is not None:
            unregister_process_bus(own_bus)
            await own_bus.close()
