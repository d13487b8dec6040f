"""Background jobs: enqueued with their data, run by a real procrastinate worker on Postgres,
retried with backoff, visible to their owner (and nobody else) as `BackgroundJob` nodes."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from procrastinate.jobs import Job
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from starlette.applications import Starlette

from app import create_app
from core.ai import AIFailure, AIProviderError
from core.context import run_in_transaction
from core.jobs import UNSERVED_WARNING_INTERVAL_SECONDS, BackoffRetry, QueueHealth, QueueWatch, defer, libpq_url
from core.migrations import upgrade
from core.relay import from_global_id, to_global_id
from core.settings import Settings
from products.insights import SWEEP_TASK
from services import jobs
from services.worker import build_queue_app
from tests.conftest import create_database, drop_database, make_settings
from tests.jobs_support import capture_job_changes, drain, job_changes, job_row, queue_rows, worker_settings
from tests.support import GraphQLClient

# Handlers of test-only kinds, registered in this process (the in-process worker runs them).
ATTEMPTS: dict[uuid.UUID, int] = {}


@jobs.handler("test.steps")
async def steps(run: jobs.JobRun) -> dict[str, Any]:
    await run.progress(0.25, "a quarter")
    await run.progress(0.75, "three quarters")
    run.used("offline", "templates-v1")
    return {"echo": run.params["value"], "attempt": run.attempt}


@jobs.handler("test.always_fails")
async def always_fails(run: jobs.JobRun) -> dict[str, Any]:
    raise RuntimeError(f"boom on attempt {run.attempt}")


@jobs.handler("test.flaky_provider")
async def flaky_provider(run: jobs.JobRun) -> dict[str, Any]:
    ATTEMPTS[run.job_id] = ATTEMPTS.get(run.job_id, 0) + 1
    if ATTEMPTS[run.job_id] == 1:
        raise AIProviderError(AIFailure.TIMEOUT, "slow provider", provider="openai", model="m")
    return {"ok": True}


@jobs.handler("test.rejected")
async def rejected(run: jobs.JobRun) -> dict[str, Any]:
    raise AIProviderError(AIFailure.REJECTED, "bad key", provider="openai", model="m")


async def enqueue(
    engine: AsyncEngine, user_id: uuid.UUID, kind: str, params: dict[str, Any] | None = None
) -> uuid.UUID:
    """Enqueue in one transaction, whose after-commit callbacks then run (as a mutation's do)."""

    async def work(session: AsyncSession) -> uuid.UUID:
        job = await jobs.enqueue(session, user_id=user_id, kind=kind, params=params or {}, max_retries=2)
        return job.id

    return await run_in_transaction(async_sessionmaker(engine, expire_on_commit=False), work)


async def new_user(gql: GraphQLClient) -> tuple[str, uuid.UUID]:
    viewer = await gql.sign_up()
    return viewer.token, from_global_id(viewer.user_id)[1]


async def test_a_rolled_back_transaction_leaves_no_job_and_a_committed_one_leaves_both(
    gql: GraphQLClient, engine: AsyncEngine, settings: Settings
) -> None:
    _, user_id = await new_user(gql)
    enqueued: list[uuid.UUID] = []

    async def enqueue_then_fail(session: AsyncSession) -> None:
        job = await jobs.enqueue(session, user_id=user_id, kind="test.steps", params={"value": 1}, max_retries=0)
        enqueued.append(job.id)
        raise RuntimeError("after enqueueing")

    # Given a transaction that enqueues a job and then fails
    with pytest.raises(RuntimeError, match="after enqueueing"):
        await run_in_transaction(async_sessionmaker(engine, expire_on_commit=False), enqueue_then_fail)
    # Then neither the job's row nor its queue entry exists
    (doomed,) = enqueued
    async with engine.connect() as conn:
        found = await conn.execute(sa.text("SELECT count(*) FROM background_jobs WHERE id = :id"), {"id": doomed})
        assert found.scalar_one() == 0
    assert await queue_rows(engine, doomed) == []
    # When the same is committed, then both exist, and the queue entry points at the row
    job_id = await enqueue(engine, user_id, "test.steps", {"value": 1})
    row = await job_row(engine, job_id)
    (queued,) = await queue_rows(engine, job_id)
    assert row.status == "queued"
    assert row.queue_job_id == queued.id
    assert (queued.status, queued.task_name) == ("todo", jobs.RUN_TASK)
    await drain(worker_settings(settings))


async def test_a_job_runs_reports_progress_and_succeeds(
    gql: GraphQLClient, engine: AsyncEngine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    capture_job_changes(caplog)
    token, user_id = await new_user(gql)
    # Given a queued job
    job_id = await enqueue(engine, user_id, "test.steps", {"value": "hello"})
    # When a worker runs
    await drain(worker_settings(settings))
    # Then the job succeeded with its result, and its queue entry too
    row = await job_row(engine, job_id)
    assert (row.status, row.progress, row.attempts) == ("succeeded", 1.0, 1)
    assert row.result == {"echo": "hello", "attempt": 1}
    assert (row.provider, row.model) == ("offline", "templates-v1")
    assert row.started_at is not None
    assert row.finished_at is not None
    assert [q.status for q in await queue_rows(engine, job_id)] == ["succeeded"]
    # And every committed change went through job_changed, in order
    assert [(c.status, c.progress) for c in job_changes(caplog, job_id)] == [
        ("queued", 0.0),
        ("running", 0.0),
        ("running", 0.25),
        ("running", 0.75),
        ("succeeded", 1.0),
    ]
    # And its owner reads it as a node
    data = (
        await gql(
            "query($id: ID!) { node(id: $id) { ... on BackgroundJob { kind status progress progressMessage result"
            " attempts maxAttempts provider model isFinished error { code } } } }",
            {"id": to_global_id("BackgroundJob", job_id)},
            token=token,
        )
    ).data
    assert data["node"] == {
        "kind": "test.steps",
        "status": "SUCCEEDED",
        "progress": 1.0,
        "progressMessage": "Done",
        "result": {"echo": "hello", "attempt": 1},
        "attempts": 1,
        "maxAttempts": 3,
        "provider": "offline",
        "model": "templates-v1",
        "isFinished": True,
        "error": None,
    }


async def test_a_failing_job_is_retried_then_gives_up_visibly(
    gql: GraphQLClient, engine: AsyncEngine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    capture_job_changes(caplog)
    token, user_id = await new_user(gql)
    # Given a job that always fails, with 2 retries allowed
    job_id = await enqueue(engine, user_id, "test.always_fails")
    # When a worker runs (retries are due at once in this test)
    await drain(worker_settings(settings))
    # Then it ran three times, said it was retrying twice, and gave up with its error
    row = await job_row(engine, job_id)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.error_code == "INTERNAL"
    assert "RuntimeError: boom on attempt 3" in row.error_message
    assert [(c.status, c.attempts) for c in job_changes(caplog, job_id) if c.status != "running"] == [
        ("queued", 0),
        ("retrying", 1),
        ("retrying", 2),
        ("failed", 3),
    ]
    assert [q.status for q in await queue_rows(engine, job_id)] == ["failed"]
    # And its owner sees why
    failed = (
        await gql(
            "{ viewer { jobs(status: [FAILED], first: 5) { nodes { id status error { code message } } } } }",
            token=token,
        )
    ).data["viewer"]["jobs"]["nodes"]
    assert [(j["id"], j["status"], j["error"]["code"]) for j in failed] == [
        (to_global_id("BackgroundJob", job_id), "FAILED", "INTERNAL")
    ]


async def test_a_transient_failure_is_retried_and_a_rejection_is_not(
    gql: GraphQLClient, engine: AsyncEngine, settings: Settings
) -> None:
    _, user_id = await new_user(gql)
    flaky = await enqueue(engine, user_id, "test.flaky_provider")
    hopeless = await enqueue(engine, user_id, "test.rejected")
    await drain(worker_settings(settings))
    flaky_row, hopeless_row = await job_row(engine, flaky), await job_row(engine, hopeless)
    # The provider timeout was retried and the second attempt succeeded
    assert (flaky_row.status, flaky_row.attempts, flaky_row.error_code) == ("succeeded", 2, None)
    # A rejected request (bad key) can't succeed later: it failed at once
    assert (hopeless_row.status, hopeless_row.attempts) == ("failed", 1)
    assert (hopeless_row.error_code, hopeless_row.error_message) == ("AI_REJECTED", "bad key")


async def test_a_retry_waits_with_exponential_backoff(
    gql: GraphQLClient, engine: AsyncEngine, settings: Settings
) -> None:
    _, user_id = await new_user(gql)
    # Given retries 60 s apart at first
    job_id = await enqueue(engine, user_id, "test.always_fails")
    await drain(worker_settings(settings, job_retry_base_seconds=60))
    # Then after the first failure the job waits: retrying, due in about a minute, not run again
    row = await job_row(engine, job_id)
    assert (row.status, row.attempts) == ("retrying", 1)
    delay = (row.next_attempt_at - row.updated_at).total_seconds()
    assert 55 < delay < 65
    (queued,) = await queue_rows(engine, job_id)
    assert queued.status == "todo"
    # (the two decisions are taken milliseconds apart)
    assert abs((queued.scheduled_at - row.next_attempt_at).total_seconds()) < 1
    # Clean up: run it now, so that later workers find an empty queue
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE id = :id"), {"id": queued.id}
        )
    await drain(worker_settings(settings))
    assert (await job_row(engine, job_id)).status == "failed"


def test_backoff_doubles_and_stops_at_the_limit() -> None:
    policy = BackoffRetry(max_retries=3, base_seconds=5)

    def delay(attempts: int, error: BaseException) -> float | None:
        job = Job(id=1, queue="q", lock=None, queueing_lock=None, task_name="t", attempts=attempts)
        decision = policy.get_retry_decision(exception=error, job=job)
        if decision is None:
            return None
        assert decision.retry_at is not None
        return round((decision.retry_at - datetime.now(UTC)).total_seconds())

    assert [delay(n, RuntimeError()) for n in range(4)] == [5, 10, 20, None]
    assert delay(0, AIProviderError(AIFailure.REJECTED, "no", provider="p", model="m")) is None
    assert delay(0, AIProviderError(AIFailure.SERVER_ERROR, "5xx", provider="p", model="m")) == 5


async def test_a_lost_attempt_is_marked_but_not_the_next_one_already_running(
    gql: GraphQLClient, engine: AsyncEngine, settings: Settings
) -> None:
    # The recovery puts a dead worker's job back in the queue, then marks the lost attempt.
    # Between the two another worker may already have started the next attempt: marking that
    # one "retrying" would drop its result (a finished attempt only updates a running job).
    _, user_id = await new_user(gql)
    job_id = await enqueue(engine, user_id, "test.steps", {"value": 3})
    queue_job_id = (await job_row(engine, job_id)).queue_job_id
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    # Given the job running its second attempt
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE background_jobs SET status = 'running', attempts = 2 WHERE id = :id"), {"id": job_id}
        )
    # When the loss of the first attempt is reported late, then the running attempt is untouched
    assert await jobs.mark_interrupted(sessions, queue_job_id=queue_job_id, lost_attempt=1, requeued=True) is None
    assert ((await job_row(engine, job_id)).status, (await job_row(engine, job_id)).error_code) == ("running", None)
    # When the second attempt itself is lost, then it is marked, and will be retried
    lost = await jobs.mark_interrupted(sessions, queue_job_id=queue_job_id, lost_attempt=2, requeued=True)
    assert lost is not None
    row = await job_row(engine, job_id)
    assert (row.status, row.error_code, row.attempts) == ("retrying", "WORKER_LOST", 2)
    # And the retry runs it to the end
    await drain(worker_settings(settings))
    row = await job_row(engine, job_id)
    assert (row.status, row.attempts, row.result) == ("succeeded", 3, {"echo": 3, "attempt": 3})


async def test_jobs_are_their_owners_only(gql: GraphQLClient, engine: AsyncEngine, settings: Settings) -> None:
    alice_token, alice = await new_user(gql)
    bob_token, _ = await new_user(gql)
    job_id = await enqueue(engine, alice, "test.steps", {"value": 2})
    await drain(worker_settings(settings))
    global_id = to_global_id("BackgroundJob", job_id)
    query = "query($id: ID!) { node(id: $id) { id } viewer { jobs { totalCount nodes { id } } } }"
    mine = (await gql(query, {"id": global_id}, token=alice_token)).data
    theirs = (await gql(query, {"id": global_id}, token=bob_token)).data
    missing = (await gql(query, {"id": to_global_id("BackgroundJob", uuid.uuid4())}, token=bob_token)).data
    assert mine["node"] == {"id": global_id}
    assert global_id in [j["id"] for j in mine["viewer"]["jobs"]["nodes"]]
    # Another user's job answers exactly like one that does not exist
    assert theirs["node"] is None
    assert theirs == missing
    assert theirs["viewer"]["jobs"] == {"totalCount": 0, "nodes": []}


def test_the_queue_app_knows_the_tasks_and_the_periodic_sweep(settings: Settings) -> None:
    app = build_queue_app(worker_settings(settings, insights_schedule="*/5 * * * *"), settings.database_url or "")
    assert {jobs.RUN_TASK, SWEEP_TASK} <= set(app.tasks)
    (periodic,) = [p for p in app.periodic_registry.periodic_tasks.values() if p.task.name == SWEEP_TASK]
    assert periodic.cron == "*/5 * * * *"
    assert app.tasks[SWEEP_TASK].queueing_lock == SWEEP_TASK


def test_an_empty_schedule_registers_no_sweep_and_the_suites_workers_have_none(settings: Settings) -> None:
    # A worker started within ten minutes after the cron time defers the sweep at once, and the
    # sweep enqueues an analysis for every user of the database: in the suite's shared database
    # the worker of whichever test ran then ran them all, with that test's (scripted) provider.
    for queue_settings in (worker_settings(settings, insights_schedule=""), worker_settings(settings)):
        app = build_queue_app(queue_settings, settings.database_url or "")
        assert SWEEP_TASK in app.tasks  # still runnable when deferred by hand
        assert [p for p in app.periodic_registry.periodic_tasks.values() if p.task.name == SWEEP_TASK] == []


def test_libpq_url_keeps_host_credentials_and_socket_options() -> None:
    # As libpq (psycopg) reads them
    tcp = conninfo_to_dict(libpq_url("postgresql+asyncpg://u:p%40ss@db.example:5433/app"))
    assert tcp == {"user": "u", "password": "p@ss", "host": "db.example", "port": "5433", "dbname": "app"}
    socket = conninfo_to_dict(libpq_url("postgresql+asyncpg://postgres:@/postgres?host=/tmp/pg"))
    assert socket == {"user": "postgres", "host": "/tmp/pg", "dbname": "postgres"}


def test_procrastinate_schema_is_the_level_the_migration_installed() -> None:
    # The queue's schema comes from the installed procrastinate (migration 7c1e0f3a9b24). If an
    # upgrade of the library ships newer migrations, this fails: add a revision that applies them.
    from procrastinate.schema import SchemaManager

    migrations = sorted(p.name for p in Path(SchemaManager.get_migrations_path()).glob("*.sql"))
    assert migrations[-1] == "03.04.00_50_post_add_retry_failed_job_procedure.sql"


async def test_readiness_reports_jobs_that_no_worker_runs(
    server_url: str, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an API process without a worker, on a database of its own (no other test's worker)
    url = await create_database(server_url)
    try:
        upgrade(url)
        application = create_app(make_settings(url, data_dir, jobs_in_process=False))
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                # When nothing is queued, then it is ready and says there is no worker
                idle = (await http.get("/readyz")).json()
                assert idle == {
                    "status": "ready",
                    "database": "ok",
                    "jobs": {"workers": 0, "queued": 0, "oldestQueuedSeconds": None},
                }
                # When two jobs are queued and no worker runs them
                engine = create_async_engine(url)
                try:
                    async with async_sessionmaker(engine)() as session:
                        for _ in range(2):
                            await defer(session, task=jobs.RUN_TASK, args={"job_id": str(uuid.uuid4())})
                        await session.commit()
                    caplog.set_level(logging.WARNING, logger="quintet.jobs")
                    first, second = (await http.get("/readyz")), (await http.get("/readyz"))
                    # Then readiness says so (still 200: the API itself serves), and the log once a minute
                    assert first.status_code == second.status_code == 200
                    body = first.json()
                    assert body["status"] == "degraded"
                    assert body["jobs"]["workers"] == 0
                    assert body["jobs"]["queued"] == 2
                    assert body["jobs"]["oldestQueuedSeconds"] >= 0
                    warnings = [r.getMessage() for r in caplog.records if r.name == "quintet.jobs"]
                    assert len(warnings) == 1
                    assert "2 job(s) queued" in warnings[0]
                    assert "no worker is alive" in warnings[0]
                    # When a worker sends heartbeats, then it is ready again
                    async with engine.begin() as conn:
                        await conn.execute(sa.text("INSERT INTO procrastinate_workers DEFAULT VALUES"))
                    served = (await http.get("/readyz")).json()
                    assert served["status"] == "ready"
                    assert served["jobs"]["workers"] == 1
                    assert served["jobs"]["queued"] == 2
                finally:
                    await engine.dispose()
    finally:
        await drop_database(server_url, url)


def test_the_unserved_queue_warning_repeats_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    # Given a watch on a queue where jobs wait without a worker, and a clock the test moves
    now = [1000.0]
    watch = QueueWatch(clock=lambda: now[0])
    unserved = QueueHealth(workers=0, queued=3, oldest_queued_seconds=42.0)
    caplog.set_level(logging.WARNING, logger="quintet.jobs")

    def warnings() -> int:
        return sum(1 for r in caplog.records if r.name == "quintet.jobs")

    # When it is checked twice within the minute, then it warns once
    watch.check(unserved)
    now[0] += UNSERVED_WARNING_INTERVAL_SECONDS - 1
    watch.check(unserved)
    assert warnings() == 1
    # When the minute has passed, then it warns again
    now[0] += 1
    watch.check(unserved)
    assert warnings() == 2
    # When a worker runs them, then it is quiet; and it warns at once when they are unserved again
    watch.check(QueueHealth(workers=1, queued=3, oldest_queued_seconds=1.0))
    watch.check(unserved)
    assert warnings() == 3


async def test_an_app_stopped_while_its_worker_starts_stops(server_url: str, data_dir: Path) -> None:
    # Given an app with the in-process worker (as `serve` on the embedded database), on its own database
    url = await create_database(server_url)
    try:
        upgrade(url)
        settings = make_settings(url, data_dir, jobs_in_process=True)
        # When it is shut down at every moment of the worker's start (as when uvicorn can't bind its
        # port right after startup), from at once to after the worker is running
        for ticks in range(40):
            application = create_app(settings)

            async def start_and_stop(ticks: int = ticks, application: Starlette = application) -> None:
                async with application.router.lifespan_context(application):
                    for _ in range(ticks):
                        await asyncio.sleep(0.002)

            cycle = asyncio.create_task(start_and_stop())
            done, _ = await asyncio.wait({cycle}, timeout=30)
            # Then the shutdown ends: a stop that arrives as a connection pool opens is not lost
            assert done, f"the shutdown after {ticks} ticks is still waiting for the worker"
            cycle.result()
    finally:
        await drop_database(server_url, url)
