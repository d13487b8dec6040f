"""Insights on the platform: AI rate limits (memory and Redis), an OpenAI-compatible server,
the worker inside `serve`, and the periodic sweep."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app import create_app
from core.ai import build_provider
from core.errors import RateLimited
from core.migrations import upgrade
from core.ratelimit import RateLimiter, storage_uri
from core.settings import Settings
from products.insights import SWEEP_TASK, sweep
from services import insights
from services.jobs import JobRuntime
from services.worker import retry_policy
from tests.aurum.insight_data import create_scenario
from tests.aurum.test_insights import REQUEST, analyse, listed, rule_gid, user_with_scenario
from tests.conftest import create_database, drop_database, make_settings
from tests.fake_openai import FAKE_MODEL, FakeOpenAI, Reply
from tests.jobs_support import drain, worker_settings
from tests.support import GraphQLClient

REDIS_URL = "redis://127.0.0.1:6379/0"


async def redis_or_skip() -> None:
    """Redis is under test here: skip with the reason if it is absent, except in CI where it must be there."""
    client = redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (redis.ConnectionError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis must answer at {REDIS_URL} in CI: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def storage(request: pytest.FixtureRequest) -> str | None:
    """The rate-limit storage: in-process memory, or the real Redis."""
    if request.param == "redis":
        await redis_or_skip()
        return REDIS_URL
    return None


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[GraphQLClient]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield GraphQLClient(client)


async def test_the_limiter_refuses_with_the_wait_and_counts_users_apart(storage: str | None) -> None:
    limiter = RateLimiter(limit="2/minute;5/day", storage=storage_uri(storage), namespace=f"test-{uuid.uuid4().hex}")
    alice, bob = uuid.uuid4(), uuid.uuid4()
    await limiter.hit(alice)
    await limiter.hit(alice)
    with pytest.raises(RateLimited) as refused:
        await limiter.hit(alice)
    assert refused.value.limit == "2 per 1 minute"
    assert 55 <= refused.value.retry_after_seconds <= 60
    # A refused request counted nothing: the day's limit still has 3 places
    assert await limiter.remaining(alice) == [0, 3]
    # Another user has their own allowance
    await limiter.hit(bob)
    await limiter.reset(alice)
    await limiter.hit(alice)


async def test_requesting_insights_too_often_is_rate_limited_with_when_to_retry(
    storage: str | None, database_url: str, data_dir: Path, session: AsyncSession
) -> None:
    settings = make_settings(database_url, data_dir, ai_rate_limit="1/minute", redis_url=storage, openai_api_key=None)
    async with running_app(settings) as gql:
        viewer, _ = await user_with_scenario(gql, session)
        # Given one analysis requested and finished
        await analyse(gql, viewer.token, worker_settings(settings))
        # When another is requested within the minute
        response = await gql(
            "mutation { requestInsights(input: {}) { job { id } errors { __typename code message"
            " ... on RateLimitedError { retryAfterSeconds limit } } } }",
            token=viewer.token,
        )
        # Then it is refused, saying when to retry, in the payload and in the response's extensions
        payload = response.data["requestInsights"]
        assert payload["job"] is None
        (error,) = payload["errors"]
        assert (error["__typename"], error["code"], error["limit"]) == (
            "RateLimitedError",
            "RATE_LIMITED",
            "1 per 1 minute",
        )
        assert 1 <= error["retryAfterSeconds"] <= 60
        assert f"try again in {error['retryAfterSeconds']} s" in error["message"]
        assert response.body["extensions"]["rateLimit"] == {
            "code": "RATE_LIMITED",
            "retryAfterSeconds": error["retryAfterSeconds"],
            "limit": "1 per 1 minute",
        }
        # And no job was created
        jobs = (await gql("{ viewer { jobs { totalCount } } }", token=viewer.token)).data["viewer"]["jobs"]
        assert jobs["totalCount"] == 1


async def test_insights_through_an_openai_compatible_server(
    gql: GraphQLClient, session: AsyncSession, settings: Settings, fake_openai: FakeOpenAI
) -> None:
    viewer, _ = await user_with_scenario(gql, session)
    await gql.mutate("updateInsightPreferences", {"tone": "NEUTRAL"}, "preferences { tone }", token=viewer.token)
    fake_openai.chat(
        Reply({"insights": [{"ref": "0", "title": "Fitness is slipping", "body": "Two tasks are late. Move one."}]})
    )
    online = worker_settings(
        settings, openai_api_key="sk-test", openai_base_url=fake_openai.base_url, ai_chat_model="served-model"
    )
    job = await analyse(gql, viewer.token, online, ruleIds=[rule_gid("overdue_in_important_area")])
    # The job and the insight name the server's provider and model
    assert job["status"] == "SUCCEEDED"
    provider = f"openai-compatible@{fake_openai.base_url.split('/')[2]}"
    assert (job["provider"], job["model"]) == (provider, FAKE_MODEL)
    (insight,) = await listed(gql, viewer.token)
    assert (insight["title"], insight["body"]) == ("Fitness is slipping", "Two tasks are late. Move one.")
    assert (insight["provider"], insight["model"]) == (provider, FAKE_MODEL)
    # And the model was asked in the viewer's tone, with the facts the rule found
    (request,) = fake_openai.received("/chat/completions")
    assert request.body["model"] == "served-model"
    assert "neutral and factual" in request.body["messages"][0]["content"]
    assert '"oldest_task": "Book a physio session"' in request.body["messages"][1]["content"]


async def test_a_provider_that_keeps_answering_garbage_fails_the_job_visibly(
    gql: GraphQLClient, session: AsyncSession, settings: Settings, fake_openai: FakeOpenAI
) -> None:
    viewer, _ = await user_with_scenario(gql, session)
    fake_openai.chat(Reply("not json"), Reply({"insights": []}), Reply({"wrong": True}))
    online = worker_settings(settings, openai_api_key="sk-test", openai_base_url=fake_openai.base_url, ai_max_retries=0)
    job = await analyse(gql, viewer.token, online, ruleIds=[rule_gid("quiet_pillar")])
    # Each answer was retried by the job (3 attempts), then it gave up with the provider's error
    assert (job["status"], job["attempts"]) == ("FAILED", 3)
    assert job["error"]["code"] == "AI_INVALID_OUTPUT"
    assert len(fake_openai.received("/chat/completions")) == 3
    assert await listed(gql, viewer.token) == []


async def test_serve_runs_the_worker_in_process(database_url: str, data_dir: Path, session: AsyncSession) -> None:
    settings = make_settings(database_url, data_dir, jobs_in_process=True, openai_api_key=None, job_poll_seconds=0.2)
    async with running_app(settings) as gql:
        viewer, _ = await user_with_scenario(gql, session)
        payload = await gql.mutate("requestInsights", {}, REQUEST, token=viewer.token)
        deadline = time.monotonic() + 30
        status = payload["job"]["status"]
        while status != "SUCCEEDED" and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            node = await gql(
                "query($id: ID!) { node(id: $id) { ... on BackgroundJob { status } } }",
                {"id": payload["job"]["id"]},
                token=viewer.token,
            )
            status = node.data["node"]["status"]
        assert status == "SUCCEEDED"
        assert len(await listed(gql, viewer.token)) == 4


async def test_the_periodic_sweep_enqueues_the_analyses_that_are_due(server_url: str, data_dir: Path) -> None:
    # A database of its own: the sweep looks at every user
    url = await create_database(server_url)
    engine = create_async_engine(url)
    try:
        upgrade(url)
        settings = worker_settings(make_settings(url, data_dir))
        now = datetime.now(UTC)
        users = {name: uuid.uuid4() for name in ("daily", "weekly_recent", "weekly_old", "never", "pending", "empty")}
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session:
            await session.execute(
                sa.text(
                    "INSERT INTO users (id, email, display_name, role, password_hash)"
                    " SELECT id, id || '@example.com', 'User', 'user', 'x' FROM unnest(CAST(:ids AS uuid[])) AS id"
                ),
                {"ids": list(users.values())},
            )
            for name, user_id in users.items():
                if name != "empty":
                    await create_scenario(session, user_id=user_id)
            prefs = [
                ("weekly_recent", "weekly", now - timedelta(days=2)),
                ("weekly_old", "weekly", now - timedelta(days=8)),
                ("never", "never", None),
            ]
            for name, frequency, evaluated in prefs:
                await session.execute(
                    sa.text(
                        "INSERT INTO hrm_user_preferences (user_id, frequency, last_evaluated_at)"
                        " VALUES (:user_id, :frequency, :evaluated)"
                    ),
                    {"user_id": users[name], "frequency": frequency, "evaluated": evaluated},
                )
            await insights.jobs.enqueue(
                session, user_id=users["pending"], kind=insights.ANALYSIS_KIND, params={}, max_retries=0
            )
            await session.commit()
        # When the sweep runs (the registered periodic task, as the worker runs it)
        runtime = JobRuntime(settings, sessions, build_provider(settings), retry_policy(settings))
        assert await sweep(runtime, now) == 2
        async with sessions() as session:
            scheduled = (
                await session.execute(
                    sa.text("SELECT user_id, params FROM background_jobs WHERE user_id <> :p"), {"p": users["pending"]}
                )
            ).all()
            recorded = (
                await session.execute(sa.text("SELECT user_id, action, actor_kind, actor_label FROM audit_events"))
            ).all()
        # Then it enqueued the analyses due: daily never evaluated, weekly evaluated 8 days ago
        assert {job.user_id for job in scheduled} == {users["daily"], users["weekly_old"]}
        assert {job.params["trigger"] for job in scheduled} == {"schedule"}
        # And each is in its user's audit trail, as the system's doing
        assert sorted(recorded) == sorted(
            (users[name], "BackgroundJob.create", "system", SWEEP_TASK) for name in ("daily", "weekly_old")
        )
        # When they ran, the next sweep finds nothing due
        await drain(settings)
        async with sessions() as session, session.begin():
            assert (
                await insights.schedule_due_analyses(session, now=now + timedelta(minutes=1), settings=settings) == []
            )
            posted = await session.execute(
                sa.text("SELECT user_id, count(*) FROM insights GROUP BY user_id"),
            )
            counts: dict[Any, int] = {row[0]: row[1] for row in posted}
        assert counts[users["daily"]] == 4
        assert counts[users["weekly_old"]] == 4
    finally:
        await engine.dispose()
        await drop_database(server_url, url)
