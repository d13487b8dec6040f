"""Test fixtures: a real Postgres (embedded by default), a migrated database, the app over HTTP.

`TEST_DATABASE_URL` (or `DATABASE_URL`) points the suite at another Postgres server; a fresh
database is created in it for the run and dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from starlette.applications import Starlette

from app import create_app
from core.db import start_embedded_postgres, to_async_url
from core.migrations import upgrade
from core.settings import Mode, Settings
from tests.fake_openai import FakeOpenAI, FakeOpenAIServer
from tests.support import GraphQLClient

ROOT = Path(__file__).resolve().parent.parent


def _server_url() -> str:
    configured = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        return to_async_url(configured)
    return start_embedded_postgres(ROOT / ".data" / "test-postgres")


async def _admin(url: str, statement: str) -> None:
    parsed = make_url(url).set(drivername="postgresql")
    conn = await asyncpg.connect(parsed.render_as_string(hide_password=False))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def create_database(server_url: str) -> str:
    name = f"quintet_test_{uuid.uuid4().hex[:12]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def server_url() -> str:
    return _server_url()


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    url = await create_database(server_url)
    upgrade(url)
    yield url
    await drop_database(server_url, url)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


#: The suite registers hundreds of accounts a minute from one client address; the tests of the
#: sign-in limits set their own.
UNLIMITED_SIGN_INS = "1000000/minute"


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    # No periodic insight sweep: every worker a test starts would defer it when started within
    # ten minutes after its cron time (procrastinate catches up), and it enqueues an analysis for
    # every user of the shared database, which that test's worker then runs with its own provider.
    values: dict[str, Any] = {
        "mode": Mode.DEV,
        "database_url": database_url,
        "data_dir": data_dir,
        "auth_rate_limit_per_address": UNLIMITED_SIGN_INS,
        "insights_schedule": "",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path) -> Settings:
    return make_settings(database_url, data_dir)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database_url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session for factories; commit what the test should see over HTTP."""
    async with async_sessionmaker(engine, expire_on_commit=False)() as s:
        yield s


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAIServer) -> Iterator[FakeOpenAI]:
    """The fake OpenAI-compatible server, with an empty script and no recorded requests."""
    fake_openai_server.fake.reset()
    yield fake_openai_server.fake
    fake_openai_server.fake.release()
