"""Test fixtures: a real Postgres (embedded by default), a migrated database, the app over HTTP.

`TEST_DATABASE_URL` (or `DATABASE_URL`) points the suite at another Postgres server; the run's
databases (a migrated template, and a copy of it per test process) are created in it and dropped
afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
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


def _database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def create_database(server_url: str, *, template: str | None = None, prefix: str = "quintet_test") -> str:
    """A new database on the server (a copy of `template` when given); its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    await _admin(server_url, f'CREATE DATABASE "{name}"{copy}')
    return _database_url(server_url, name)


async def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: A login role that is a member of the app role (core.rls.APP_ROLE): what DATABASE_APP_URL logs in
#: as where the startup setting `role` can't be sent (behind PgBouncer). Roles are the server's.
APP_LOGIN = "quintet_test_app_login"


async def create_app_login(server_url: str) -> str:
    """Make `APP_LOGIN` on the server (once; several test processes may race to); its name."""
    await _admin(
        server_url,
        f"DO $$ BEGIN CREATE ROLE {APP_LOGIN} LOGIN INHERIT IN ROLE quintet_app; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
    )
    return APP_LOGIN


# ------------------------------------------------------------------ one migrated template per run
#
# The run migrates one database, the template, and each process that runs tests (the only one,
# or each pytest-xdist worker) works in its own copy of it (`CREATE DATABASE … TEMPLATE`): its
# own tables, job queue (procrastinate's tables, LISTEN/NOTIFY channels and advisory locks are
# per database) and app. Under xdist the controller starts the embedded Postgres and migrates the
# template before any worker starts (`pytest_configure_node`), hands both to the workers and drops
# the template at the end; the workers never start a server themselves.


@dataclass(frozen=True)
class RunDatabases:
    """The run's Postgres server and its migrated template database."""

    url: str
    template: str


SERVER_KEY = pytest.StashKey[RunDatabases]()


async def create_template(server_url: str) -> RunDatabases:
    url = await create_database(server_url, prefix="quintet_template")
    try:
        upgrade(url)
    except BaseException:
        await drop_database(server_url, url)
        raise
    name = make_url(url).database
    assert name is not None
    return RunDatabases(server_url, name)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, in the controller, before each worker starts: hand it the server and the template."""
    config: pytest.Config = node.config
    if SERVER_KEY not in config.stash:
        config.stash[SERVER_KEY] = asyncio.run(create_template(_server_url()))
    server = config.stash[SERVER_KEY]
    node.workerinput["quintet_server_url"] = server.url
    node.workerinput["quintet_template"] = server.template


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(SERVER_KEY, None)
    if server is not None:
        asyncio.run(drop_database(server.url, _database_url(server.url, server.template)))


@pytest.fixture(scope="session")
async def run_databases(pytestconfig: pytest.Config) -> RunDatabases:
    """The controller's server and template in an xdist worker; else made here, for this run."""
    workerinput = getattr(pytestconfig, "workerinput", None)
    if workerinput is not None:
        return RunDatabases(workerinput["quintet_server_url"], workerinput["quintet_template"])
    if SERVER_KEY not in pytestconfig.stash:
        pytestconfig.stash[SERVER_KEY] = await create_template(_server_url())
    return pytestconfig.stash[SERVER_KEY]


@pytest.fixture(scope="session")
def server_url(run_databases: RunDatabases) -> str:
    return run_databases.url


@pytest.fixture(scope="session")
async def database_url(run_databases: RunDatabases) -> AsyncIterator[str]:
    """This process's database: a migrated copy of the run's template (named after the xdist worker)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    url = await create_database(run_databases.url, template=run_databases.template, prefix=f"quintet_test_{worker}")
    yield url
    await drop_database(run_databases.url, url)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


#: The suite registers hundreds of accounts a minute from one client address; the tests of the
#: sign-in limits set their own.
UNLIMITED_SIGN_INS = "1000000/minute"


#: The API keys' secret of the tests' apps (production mode requires one; dev mode would make one).
TEST_API_KEY_SECRET = "test-api-key-secret-" + "x" * 32


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
        "knowledge_reembed_schedule": "",
        "akashic_send_schedule": "",
        "api_key_secret": TEST_API_KEY_SECRET,
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
