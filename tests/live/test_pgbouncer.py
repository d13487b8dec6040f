"""DATABASE_POOLER=pgbouncer: the app behind Debian's PgBouncer (1.18, no protocol-level prepared
statements) in transaction pooling, in front of the suite's Postgres.

PgBouncer here has two server connections for the app's twenty, so transactions and single
statements of different app connections share backends all the time. First the hazard itself:
asyncpg's named statements collide there (`__asyncpg_stmt_1__` of one client on a backend where
another client made its own). Then the driver options that `DATABASE_POOLER=pgbouncer` sets: many
clients running different unnamed statements at once each get their own statement's answer (the
Parse travels with its Bind and Execute, core/db.py), and the app's real flows (register, login,
mutations, the compiled queries, a subscription's reads) under concurrency, with no error.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from core.db import TRANSACTION_POOLING, resolve_direct_url, to_async_url
from core.runtime import Runtime
from core.settings import describe_invalid
from tests.aurum.conftest import AurumFactory
from tests.conftest import APP_LOGIN, RunDatabases, create_app_login, create_database, drop_database, make_settings
from tests.live.conftest import Feed, running_app, serve, ws_session
from tests.live.test_websocket import CHANGES, event, started
from tests.replication import system_user
from tests.support import PASSWORD, GraphQLClient, free_port

#: Server connections PgBouncer keeps to Postgres: far fewer than the app's clients.
SERVER_CONNECTIONS = 2

TREE = """
{ viewer { pillars(first: 20) { nodes { id name progress { percent }
    areas { nodes { id progress { percent }
      projects { nodes { id name
        tasks(first: 50) { totalCount nodes { id title status } }
} } } } } } } }
"""


def _pgbouncer() -> str:
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    if found is None:
        pytest.fail("pgbouncer is not installed (apt-get install pgbouncer; .ci/run installs it)")
    return found


class PgBouncer:
    """A pgbouncer process of this test's own, on a free loopback port, pointed at one database."""

    def __init__(self, database_url: str, app_login: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="qbouncer"))
        self.user = system_user()  # PgBouncer refuses to run as root
        if self.user is not None:
            shutil.chown(self.root, self.user, self.user)
        self.port = free_port()
        target = make_url(database_url)
        self.direct = target.set(drivername="postgresql").render_as_string(hide_password=False)
        host = target.query.get("host") or target.host or "127.0.0.1"
        self.ini = self.root / "pgbouncer.ini"
        self.ini.write_text(
            f"""[databases]
quintet = host={host} port={target.port or 5432} dbname={target.database} user={target.username or "postgres"}
quintet_app = host={host} port={target.port or 5432} dbname={target.database} user={app_login}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = {SERVER_CONNECTIONS}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 500
max_db_connections = {SERVER_CONNECTIONS}
; round robin, not the last used server first: consecutive statements of one client change backends
server_round_robin = 1
logfile = {self.root / "pgbouncer.log"}
pidfile = {self.root / "pgbouncer.pid"}
admin_users = postgres
"""
        )
        self.process: asyncio.subprocess.Process | None = None

    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/quintet"

    def app_url(self) -> str:
        """The app role's own login through PgBouncer (DATABASE_APP_URL)."""
        return f"postgresql+asyncpg://{APP_LOGIN}@127.0.0.1:{self.port}/quintet_app"

    def libpq(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/quintet"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            _pgbouncer(),
            str(self.ini),
            user=self.user,
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # it writes its log file
        )
        for _ in range(200):
            try:
                conn = await asyncpg.connect(self.libpq(), statement_cache_size=0)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            await conn.close()
            return
        raise AssertionError(f"pgbouncer did not start: {self.log()}")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 10)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "pgbouncer.log"
        return path.read_text()[-3000:] if path.exists() else ""

    async def server_connections(self, user: str = "postgres") -> int:
        """How many connections PgBouncer holds to its database as `user` (asked of Postgres directly)."""
        conn = await asyncpg.connect(self.direct)
        try:
            count = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND usename = $1"
                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                user,
            )
        finally:
            await conn.close()
        return int(count)


@pytest.fixture(scope="module")
async def bouncer(run_databases: RunDatabases) -> AsyncIterator[PgBouncer]:
    """PgBouncer in front of a database of its own (a copy of the migrated template), which
    nothing else connects to."""
    url = await create_database(run_databases.url, template=run_databases.template, prefix="quintet_bouncer")
    running = PgBouncer(url, await create_app_login(run_databases.url))
    try:
        await running.start()
        yield running
    finally:
        await running.stop()
        await drop_database(run_databases.url, url)


async def _clients(bouncer: PgBouncer, count: int, **options: Any) -> list[asyncpg.Connection]:
    return [await asyncpg.connect(bouncer.libpq(), **options) for _ in range(count)]


async def _different_statements(conn: asyncpg.Connection, client: int, rounds: int) -> None:
    """Statements of one client that differ from every other client's (text, parameters, types)."""
    for round_ in range(rounds):
        await conn.fetchval("SELECT pg_sleep($1::float8)", 0.001 * (client % 3))  # both servers kept busy
        number = await conn.fetchval(f"SELECT $1::int * {client + 2}", round_)
        assert number == round_ * (client + 2)
        text = await conn.fetchval("SELECT $1::text || '/' || $2::text", f"c{client}", str(round_))
        assert text == f"c{client}/{round_}"
        rows = await conn.fetch(f"SELECT g, $1::bigint FROM generate_series(1, {client + 1}) AS g", round_)
        assert [tuple(row) for row in rows] == [(g, round_) for g in range(1, client + 2)]


async def _run_together(clients: list[asyncpg.Connection], rounds: int) -> list[BaseException | None]:
    outcomes = await asyncio.gather(
        *(_different_statements(conn, client, rounds) for client, conn in enumerate(clients)), return_exceptions=True
    )
    for conn in clients:
        await conn.close()
    return list(outcomes)


async def test_named_statements_collide_behind_transaction_pooling(bouncer: PgBouncer) -> None:
    # asyncpg's defaults: a statement cache, statements named per client connection.
    outcomes = await _run_together(await _clients(bouncer, 8), rounds=20)
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert errors, f"the named statements of different clients never met on a shared backend: {outcomes}"
    assert all(isinstance(error, asyncpg.PostgresError | asyncpg.InterfaceError) for error in errors), errors


async def test_unnamed_statements_never_cross_backends(bouncer: PgBouncer) -> None:
    options = {"statement_cache_size": TRANSACTION_POOLING["statement_cache_size"]}
    outcomes = await _run_together(await _clients(bouncer, 8, **options), rounds=40)
    assert outcomes == [None] * 8
    assert await bouncer.server_connections() == SERVER_CONNECTIONS  # both servers were used


@pytest.fixture(scope="module")
async def pooled_app(bouncer: PgBouncer, data_dir: Path) -> AsyncIterator[Starlette]:
    settings = make_settings(
        bouncer.url(),
        data_dir,
        database_pooler="pgbouncer",
        database_direct_url=bouncer.direct,
        database_app_url=bouncer.app_url(),
        db_pool_size=10,
        db_max_overflow=10,
    )
    async with running_app(settings) as application:
        yield application


async def test_the_app_runs_its_flows_behind_pgbouncer(pooled_app: Starlette, bouncer: PgBouncer) -> None:
    transport = httpx.ASGITransport(app=pooled_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        gql = GraphQLClient(client)
        aurum = AurumFactory(gql)
        viewers = await asyncio.gather(*(gql.sign_up(display_name=f"Pooled {i}") for i in range(12)))

        async def login_and_build(index: int) -> tuple[str, str]:
            viewer = viewers[index]
            session = await gql.mutate(
                "login", {"email": viewer.email, "password": PASSWORD}, "session { accessToken }", token=None
            )
            token = str(session["session"]["accessToken"])
            tree = await aurum.tree(token)
            await aurum.tasks(token, tree.project, [{"title": f"task {n}"} for n in range(5)])
            return token, tree.project

        built = await asyncio.gather(*(login_and_build(i) for i in range(len(viewers))))

        async def read(token: str) -> None:
            data = (await gql(TREE, token=token)).data
            projects = data["viewer"]["pillars"]["nodes"][0]["areas"]["nodes"][0]["projects"]["nodes"]
            assert projects[0]["tasks"]["totalCount"] == 5

        # Many requests at once: more than the app's pool, far more than PgBouncer's servers.
        await asyncio.gather(*(read(token) for token, _ in built for _ in range(4)))
        runtime: Runtime = pooled_app.state.runtime
        assert runtime.engine.pool.checkedin() + runtime.engine.pool.checkedout() > SERVER_CONNECTIONS  # type: ignore[attr-defined]
        assert await bouncer.server_connections(APP_LOGIN) <= SERVER_CONNECTIONS

        # A subscription's reads (the changed task and its ancestors' progress) through PgBouncer too.
        token, project = built[0]
        async with serve(pooled_app) as server, ws_session(server.ws, token) as session:
            feed = Feed(session, CHANGES)
            try:
                await started(feed)
                writes = asyncio.gather(*(read(other) for other, _ in built[1:]))
                task = await aurum.task(token, project, "Seen live")
                created = event(await feed.next())
                await writes
            finally:
                await feed.close()
        assert created["nodeId"] == task
        assert created["node"]["title"] == "Seen live"
        assert created["ancestors"][0]["progress"]["totalTasks"] == 6


def test_pgbouncer_needs_a_direct_url_and_the_app_roles_own_login(data_dir: Path) -> None:
    with pytest.raises(ValidationError) as refused:
        make_settings("postgresql://app@pgbouncer:6432/app", data_dir, database_pooler="pgbouncer")
    assert describe_invalid(refused.value).startswith("settings: DATABASE_POOLER=pgbouncer needs DATABASE_DIRECT_URL")
    direct = "postgresql://app@db:5432/app"
    with pytest.raises(ValidationError) as refused:
        make_settings(
            "postgresql://app@pgbouncer:6432/app", data_dir, database_pooler="pgbouncer", database_direct_url=direct
        )
    assert describe_invalid(refused.value).startswith("settings: DATABASE_POOLER=pgbouncer needs DATABASE_APP_URL")
    settings = make_settings(
        "postgresql://app@pgbouncer:6432/app",
        data_dir,
        database_pooler="pgbouncer",
        database_direct_url=direct,
        database_app_url="postgresql://quintet_app_login@pgbouncer:6432/app",
    )
    assert resolve_direct_url(settings, "postgresql+asyncpg://app@pgbouncer:6432/app") == to_async_url(direct)
