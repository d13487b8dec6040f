"""Lost database connections: terminated backends, a connection killed under a statement, the
database gone for good. Every answer is GraphQL JSON; a query recovers, a mutation is applied at
most once.

Faults are injected at the boundary: `pg_terminate_backend` from an admin connection, a table
lock held by that connection so that the app's statement is in flight when its backend is killed
(no timing: the test waits until Postgres shows the backend waiting), and a TCP (or Unix socket)
relay in front of Postgres that is cut to make the database unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import sqlalchemy as sa
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from sqlalchemy import event
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from app import create_app
from core.db import read_pool
from core.http import last_resort
from core.relay import from_global_id
from core.runtime import Runtime
from core.settings import Mode
from tests.conftest import make_settings
from tests.live.conftest import serve as serve_live
from tests.live.conftest import ws_session
from tests.support import GraphQLClient, Viewer
from tests.test_http import closed_port_url
from tests.test_protections import signing_key

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: Answered by the SQL form (one statement) once its plan exists.
SQL_FORM = "query Pillars { viewer { pillars(first: 5) { totalCount nodes { id name } } } }"
#: A list without a SQL form (the viewer's jobs) keeps it on the resolvers: a compiled plan whose
#: loaders run rendered shapes on asyncpg.
RESOLVERS = (
    "query Edges { viewer { pillars(first: 5) { edges { cursor node { id name } } } jobs(first: 1) { totalCount } } }"
)
#: Notifications are read through SQLAlchemy (a statement with the viewer in it, not a shape).
NOTIFICATIONS = "query Notes { viewer { notifications(first: 5) { totalCount nodes { id } } } }"
CREATE = "mutation Create($name: String!) { createPillar(input: {name: $name}) { pillar { id } errors { code } } }"

APP_BACKENDS = "application_name = 'quintet' AND datname = current_database()"
#: Commit-time hold (see `held_at_commit`): rows with this name wait for an advisory lock at COMMIT.
HELD_NAME = "held at commit"
HOLD_KEY = 4_210_042


def admin_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def admin(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own (not the app's: its application_name is not 'quintet')."""
    conn = await asyncpg.connect(admin_dsn(database_url))
    try:
        yield conn
    finally:
        await conn.close()


async def terminate_app_backends(conn: asyncpg.Connection, where: str = "true") -> int:
    """Terminate the app's backends (waiting until each has exited); how many there were."""
    terminated = await conn.fetchval(
        f"SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_stat_activity"
        f" WHERE {APP_BACKENDS} AND ({where})"
    )
    return int(terminated)


async def killed_mid_statement(
    database_url: str, table: str, request: Coroutine[Any, Any, httpx.Response]
) -> httpx.Response:
    """`request`'s answer when the app's backend is terminated while its statement waits on a lock
    of `table` that the admin connection holds (a condition, not a timeout, says when)."""
    async with admin(database_url) as conn:
        lock = conn.transaction()
        await lock.start()
        await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        answer = asyncio.create_task(request)
        blocked = await waiting_backend(conn)
        assert await terminate_app_backends(conn, f"pid = {blocked['pid']}") == 1
        await lock.rollback()
    return await answer


async def waiting_backend(conn: asyncpg.Connection) -> asyncpg.Record:
    """The app's backend blocked on a lock the admin connection holds (the app's statement is in
    flight), once Postgres shows it."""
    async with asyncio.timeout(60):
        while True:
            row = await conn.fetchrow(
                f"SELECT pid, query FROM pg_stat_activity WHERE {APP_BACKENDS} AND wait_event_type = 'Lock'"
            )
            if row is not None:
                return row
            await asyncio.sleep(0.01)


@dataclass
class App:
    app: Starlette
    http: httpx.AsyncClient
    viewer: Viewer
    #: the exceptions of the pool's invalidations (a connection discarded), in order
    invalidated: list[BaseException | None] = field(default_factory=list)

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.viewer.token}"}
        response = await self.http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
        assert response.headers["content-type"] == "application/json", (response.status_code, response.text)
        return response

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = await self.post(query, variables)
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body
        return body["data"]

    async def fill_pool(self, connections: int) -> None:
        """Open `connections` pooled connections at once, then give them back: all are idle in the pool."""
        async with AsyncExitStack() as stack:
            for _ in range(connections):
                conn = await stack.enter_async_context(self.runtime.engine.connect())
                await conn.execute(sa.text("SELECT 1"))

    async def warm(self) -> None:
        """Every path used once (each query twice: the second runs its compiled plan)."""
        await self.fill_pool(4)
        for query in (SQL_FORM, RESOLVERS, NOTIFICATIONS):
            for _ in range(2):
                await self.data(query)
        await self.data(CREATE, {"name": "warm-up"})
        assert self.runtime.plans is not None
        assert self.runtime.plans.sql_executed >= 1


@asynccontextmanager
async def running(database_url: str, data_dir: Path) -> AsyncIterator[App]:
    app = create_app(make_settings(database_url, data_dir))
    async with app.router.lifespan_context(app):
        # A crash is answered (as Starlette's text/plain 500), not raised into the test: the
        # tests assert on what a client receives.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            viewer = await GraphQLClient(http).sign_up()
            quintet = App(app, http, viewer)
            runtime: Runtime = app.state.runtime

            @event.listens_for(runtime.engine.sync_engine, "invalidate")
            def _invalidated(dbapi_connection: Any, record: Any, exception: BaseException | None) -> None:
                quintet.invalidated.append(exception)

            yield quintet


@pytest.fixture
async def quintet(database_url: str, data_dir: Path) -> AsyncIterator[App]:
    """An app of its own (its own pool), every path warmed up."""
    async with running(database_url, data_dir) as quintet:
        await quintet.warm()
        yield quintet


async def pillar_count(database_url: str, viewer: Viewer, name: str) -> int:
    async with admin(database_url) as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM pillars WHERE user_id = $1 AND name = $2", from_global_id(viewer.user_id)[1], name
        )
    return int(count)


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


# ----------------------------------------------------------------------------- terminated backends


async def test_after_every_backend_is_terminated_queries_and_mutations_answer(quintet: App, database_url: str) -> None:
    plans = quintet.runtime.plans
    assert plans is not None
    sql_before, failed_before = plans.sql_executed, plans.sql_failed
    async with admin(database_url) as conn:
        assert await terminate_app_backends(conn) >= 4

    # More requests than the pool held connections: none is answered on a dead one.
    for _ in range(3):
        for query in (SQL_FORM, RESOLVERS, NOTIFICATIONS):
            data = await quintet.data(query)
            assert data["viewer"] is not None
    created = await quintet.data(CREATE, {"name": "after the restart"})
    assert created["createPillar"]["errors"] == []
    assert await pillar_count(database_url, quintet.viewer, "after the restart") == 1
    assert plans.sql_executed == sql_before + 3  # the SQL form answered, on live connections
    assert plans.sql_failed == failed_before  # a lost connection is not a refused declaration


# ----------------------------------------------------------------------------- killed under a statement


@dataclass(frozen=True)
class ReadPath:
    name: str
    query: str
    table: str
    #: sent before (so that its plan exists), or never (graphql-core answers it)
    compiled: bool
    #: the lost statement ran on asyncpg directly (else SQLAlchemy saw the error itself)
    raw: bool


PATHS = [
    ReadPath("sql-form", SQL_FORM, "pillars", compiled=True, raw=True),
    ReadPath("plan", RESOLVERS, "pillars", compiled=True, raw=True),
    # A document never sent before: graphql-core runs it (and compiles its plan on the way).
    ReadPath("graphql-core", RESOLVERS.replace("Edges", "FirstEdges"), "pillars", compiled=False, raw=True),
    ReadPath(
        "graphql-core-sqlalchemy",
        NOTIFICATIONS.replace("Notes", "FirstNotes"),
        "notifications",
        compiled=False,
        raw=False,
    ),
]


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
async def test_a_query_whose_connection_dies_under_it_is_answered_on_a_fresh_one(
    quintet: App, database_url: str, path: ReadPath
) -> None:
    plans = quintet.runtime.plans
    assert plans is not None
    if path.compiled:
        await quintet.data(path.query)
        expected = await quintet.data(path.query)
    else:  # the same operation in another text: the request below is the first of its own text
        expected = await quintet.data(path.query + "\n")
    sql_before, failed_before, abandoned_before = plans.sql_executed, plans.sql_failed, plans.abandoned
    discarded = len(quintet.invalidated)
    reads = read_pool(quintet.runtime.engine)
    assert reads is not None
    reads_discarded = reads.discarded

    response = await killed_mid_statement(database_url, path.table, quintet.post(path.query))

    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    assert body["data"] == expected
    # The dead connection was discarded when its error was seen, not given back to the pool: the
    # one statement's raw read connection by the read pool, the others' by SQLAlchemy's pool.
    if path.name == "sql-form":
        assert reads.discarded == reads_discarded + 1
        lost = [reads.last_loss]
    else:
        lost = quintet.invalidated[discarded:]
    assert lost
    assert lost[0] is not None
    if path.raw:
        assert isinstance(lost[0], asyncpg.PostgresError | asyncpg.InterfaceError), lost
    if path.name == "sql-form":
        assert plans.sql_executed == sql_before + 1  # run again as one statement, not by the resolvers
    assert plans.sql_failed == failed_before
    assert plans.abandoned == abandoned_before  # nor a plan's failure: the query ran again, compiled
    # Every connection left in the pool works.
    for _ in range(6):
        await quintet.data(SQL_FORM)
        await quintet.data(RESOLVERS)


async def test_a_mutation_whose_connection_dies_before_commit_changes_nothing_and_says_so(
    quintet: App, database_url: str
) -> None:
    response = await killed_mid_statement(database_url, "pillars", quintet.post(CREATE, {"name": "interrupted"}))

    body = response.json()
    assert response.status_code == 503, body
    assert error_codes(body) == ["DATABASE_UNAVAILABLE"]
    assert body["errors"][0]["extensions"]["errorId"]
    assert body["errors"][0]["path"] == ["createPillar"]
    # Run once, never again behind the client's back: nothing was applied.
    assert await pillar_count(database_url, quintet.viewer, "interrupted") == 0
    # The client's retry is applied, once.
    retried = await quintet.data(CREATE, {"name": "interrupted"})
    assert retried["createPillar"]["errors"] == []
    assert await pillar_count(database_url, quintet.viewer, "interrupted") == 1


@pytest.fixture
async def held_at_commit(database_url: str) -> AsyncIterator[None]:
    """A deferred trigger that makes the COMMIT of a pillar named HELD_NAME wait for an advisory
    lock: with the lock held, the app's backend waits inside its COMMIT."""
    async with admin(database_url) as conn:
        await conn.execute(
            f"""
            CREATE FUNCTION test_hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_advisory_xact_lock_shared({HOLD_KEY}); RETURN NULL; END $$;
            CREATE CONSTRAINT TRIGGER test_hold_commit AFTER INSERT ON pillars
              DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.name = '{HELD_NAME}')
              EXECUTE FUNCTION test_hold_commit();
            """
        )
    try:
        yield
    finally:
        async with admin(database_url) as conn:
            await conn.execute("DROP TRIGGER test_hold_commit ON pillars; DROP FUNCTION test_hold_commit()")


async def test_a_mutation_whose_connection_dies_during_commit_reports_an_unknown_outcome(
    quintet: App, database_url: str, held_at_commit: None
) -> None:
    async with admin(database_url) as conn:
        await conn.execute(f"SELECT pg_advisory_lock({HOLD_KEY})")
        answer = asyncio.create_task(quintet.post(CREATE, {"name": HELD_NAME}))
        blocked = await waiting_backend(conn)
        assert blocked["query"].rstrip(";") == "COMMIT"
        assert await terminate_app_backends(conn, f"pid = {blocked['pid']}") == 1
        await conn.execute(f"SELECT pg_advisory_unlock({HOLD_KEY})")
    response = await answer

    body = response.json()
    # Not a 503: retrying blindly could apply the change twice.
    assert response.status_code == 200, body
    assert error_codes(body) == ["COMMIT_OUTCOME_UNKNOWN"]
    assert "may or may not have been applied" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["errorId"]
    # Not run a second time: at most the one attempt (which Postgres rolled back) was applied.
    assert await pillar_count(database_url, quintet.viewer, HELD_NAME) == 0


# ----------------------------------------------------------------------------- the database gone


class Relay:
    """A relay in front of Postgres (TCP, or a Unix socket for the embedded server). `cut()` is
    the database going away for good: open connections are reset, new ones refused."""

    def __init__(self, database_url: str, directory: Path) -> None:
        url = make_url(database_url)
        socket_dir = url.query.get("host")
        port = url.port or 5432
        self.unix = isinstance(socket_dir, str) and socket_dir.startswith("/")
        if self.unix:
            self.target = f"{socket_dir}/.s.PGSQL.{port}"
            self.path = str(directory / f".s.PGSQL.{port}")
            self.url = url.set(query={**url.query, "host": str(directory)}).render_as_string(hide_password=False)
        else:
            self.host, self.port = url.host or "127.0.0.1", port
            self.url = ""
        self.database_url = url
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    async def start(self) -> str:
        if self.unix:
            self.server = await asyncio.start_unix_server(self._link, path=self.path)
        else:
            self.server = await asyncio.start_server(self._link, "127.0.0.1", 0)
            port = self.server.sockets[0].getsockname()[1]
            self.url = self.database_url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        return self.url

    async def _link(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        if self.unix:
            server_in, server_out = await asyncio.open_unix_connection(self.target)
        else:
            server_in, server_out = await asyncio.open_connection(self.host, self.port)
        self.links.update((client_out, server_out))
        await asyncio.gather(self._pipe(client_in, server_out), self._pipe(server_in, client_out))

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with suppress(OSError):
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()
        sink.close()

    def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.links:
            writer.transport.abort()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path (a Unix socket's path is limited to ~100 bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="qdb-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


SUBSCRIPTION = """subscription Changes($pillarId: ID) { aurumHierarchyChanges(pillarId: $pillarId) {
  __typename ... on LiveUpdatesStatus { state } } }"""


async def test_with_the_database_gone_every_answer_is_graphql_json(
    database_url: str, data_dir: Path, short_dir: Path
) -> None:
    relay = Relay(database_url, short_dir)
    async with running(await relay.start(), data_dir) as quintet:
        await quintet.warm()
        pillar = (await quintet.data(CREATE, {"name": "watched"}))["createPillar"]["pillar"]["id"]
        relay.cut()

        for query in (SQL_FORM, RESOLVERS, RESOLVERS.replace("edges", "again: edges"), NOTIFICATIONS):
            response = await quintet.post(query)
            body = response.json()
            assert response.status_code == 503, body
            assert set(error_codes(body)) == {"DATABASE_UNAVAILABLE"}, body
            assert all(error["extensions"]["errorId"] for error in body["errors"])
        response = await quintet.post(CREATE, {"name": "while down"})
        assert response.status_code == 503
        assert error_codes(response.json()) == ["DATABASE_UNAVAILABLE"]

        async with serve_live(quintet.app) as live:
            # Server-Sent Events: the stream opens (the token is checked without the database),
            # and the subscription's start, which reads the pillar, ends it with the error.
            async with httpx.AsyncClient(base_url=live.http, timeout=30) as client:
                streamed = await client.post(
                    "/graphql",
                    json={"query": SUBSCRIPTION, "variables": {"pillarId": pillar}},
                    headers={"Authorization": f"Bearer {quintet.viewer.token}", "Accept": "text/event-stream"},
                )
            events = [
                block for block in streamed.text.replace("\r\n", "\n").split("\n\n") if block.startswith("event:")
            ]
            assert [block.split("\n", 1)[0] for block in events] == ["event: next", "event: complete"], streamed.text
            payload = orjson.loads(events[0].split("data: ", 1)[1])
            assert error_codes(payload) == ["DATABASE_UNAVAILABLE"], payload

            # WebSocket (graphql-transport-ws): the operation ends with the error, as JSON.
            async with ws_session(live.ws, quintet.viewer.token) as session:
                with pytest.raises(TransportQueryError) as refused:
                    async for _ in session.subscribe(
                        GraphQLRequest(SUBSCRIPTION, variable_values={"pillarId": pillar})
                    ):
                        pass
            assert refused.value.errors is not None
            assert [e["extensions"]["code"] for e in refused.value.errors] == ["DATABASE_UNAVAILABLE"]


async def test_a_database_that_refuses_connections_is_unavailable_not_an_internal_error(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A production app whose database refuses every connection (masks unexpected errors).
    settings = make_settings(closed_port_url(), data_dir, mode=Mode.PRODUCTION, jwt_private_key=signing_key())
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        token, _ = app.state.runtime.tokens.issue(user_id=uuid.uuid4(), role="user")
        headers = {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            with caplog.at_level(logging.WARNING, logger="quintet.errors"):
                responses = [
                    await http.post("/graphql", json={"query": SQL_FORM}, headers=headers),
                    await http.get("/graphql", params={"query": RESOLVERS}, headers=headers),
                    await http.post("/graphql", json={"query": CREATE, "variables": {"name": "x"}}, headers=headers),
                ]
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/json"
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
        assert error["message"] == "The database is unavailable: nothing was changed; try again later"
        assert "127.0.0.1" not in response.text
        # The log has the id with the cause.
        logged = [r.getMessage() for r in caplog.records if error["extensions"]["errorId"] in r.getMessage()]
        assert len(logged) == 1
        assert "Connect call failed" in logged[0]


@pytest.mark.parametrize("mask", [True, False], ids=["production", "dev"])
async def test_an_exception_that_escapes_the_endpoint_is_answered_as_graphql_json(
    mask: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="quintet.errors"):
        response = last_resort(RuntimeError("a bug in a place nobody thought of"), mask=mask)
    assert response.status_code == 500
    assert response.media_type == "application/json"
    [error] = orjson.loads(bytes(response.body))["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    error_id = error["extensions"]["errorId"]
    assert error["message"] == ("Internal server error" if mask else "a bug in a place nobody thought of")
    [logged] = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged.exc_info is not None
    assert isinstance(logged.exc_info[1], RuntimeError)
