"""Write statements rendered once per shape and run in the unit of work's transaction.

The write counterpart of `core.reads.Shape`. A mutation on the hot path is one statement: an
`INSERT ... SELECT` or `UPDATE ... FROM` in a data-modifying CTE, its checks (the parent the
actor may read, the row's position) in the same statement, its audit event in another CTE,
`RETURNING` what the payload shows. SQLAlchemy Core writes it once per process; it is rendered
once (`core.reads.render`) and each run binds its values by name and calls asyncpg's `fetch`
on the session's own connection, inside the transaction the unit of work opened: no ORM flush,
no unit-of-work bookkeeping, no compilation or cache-key work per request, no greenlet hop.

What stays SQLAlchemy's: the transaction (BEGIN when the unit of work's first statement runs,
COMMIT or ROLLBACK by `run_unit_of_work`), and the errors: a statement Postgres refuses raises
the SQLAlchemy error the ORM would have raised (an `IntegrityError` whose cause is asyncpg's),
and a lost connection is discarded and raises `DatabaseUnavailable`, as for reads.

Shapes are compared by identity: build them once (module level, or `core.reads.ShapeCache`),
never per request.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import DatabaseUnavailable, current_sql_stats, discard_if_lost
from core.reads import Rendered, render


class NotInTransaction(RuntimeError):
    """A write shape was run outside a unit of work's transaction: a programming error."""


class WriteShape:
    """A data-modifying statement (or a SELECT over data-modifying CTEs) whose per-run values
    are named bind parameters, every one of which each run must give (see module)."""

    __slots__ = ("_rendered", "statement")

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement
        self._rendered: Rendered | None = None

    def rendered(self, dialect: Dialect) -> Rendered:
        """The rendered form, made on first use."""
        rendered = self._rendered
        if rendered is None:
            rendered = self._rendered = render(self.statement, dialect)
        return rendered

    async def fetch(self, session: AsyncSession, params: Mapping[str, Any]) -> list[Any]:
        """The rows the statement returns, run in `session`'s transaction (begun if it was not yet)."""
        if not session.in_transaction():
            raise NotInTransaction("a write shape runs in a unit of work's transaction (Context.unit_of_work)")
        # What the ORM holds unflushed goes first, so that the statement sees it (services flush
        # anyway; this is the safety net that keeps the order of the unit of work's writes).
        if session.new or session.dirty or session.deleted:
            await session.flush()
        conn = await session.connection()
        rendered = self.rendered(conn.dialect)
        missing = [
            name
            for name in rendered.names
            if name not in params and name not in rendered.constants and name not in rendered.callables
        ]
        if missing:
            raise KeyError(f"no value for the bind parameters {', '.join(missing)}")
        arguments = rendered.arguments(params)
        raw = await conn.get_raw_connection()
        adapted: Any = raw.dbapi_connection
        driver = raw.driver_connection
        assert adapted is not None
        assert driver is not None
        # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement it executes
        # itself; a unit of work whose first statement is this one begins it here, the same way
        # (the adapter's own call, so that its state and COMMIT/ROLLBACK stay consistent).
        if adapted._transaction is None:
            if adapted.isolation_level == "autocommit":
                raise NotInTransaction("a write shape never runs on an autocommit connection")
            await adapted._start_transaction()
        stats = current_sql_stats.get()
        started = time.perf_counter()
        try:
            return await driver.fetch(rendered.sql, *arguments, record_class=rendered.row)
        except Exception as error:
            if await discard_if_lost(conn, driver, error):
                raise DatabaseUnavailable("the connection to the database was lost") from error
            raise _as_sqlalchemy_error(adapted, rendered.sql, error) from error
        finally:
            if stats is not None:
                stats.statements += 1
                stats.seconds += time.perf_counter() - started


def _as_sqlalchemy_error(adapted: Any, sql: str, error: Exception) -> Exception:
    """The error SQLAlchemy would have raised for `error` (an `IntegrityError` for a violated
    constraint...), so that callers catch the same exceptions as on the ORM path."""
    try:
        adapted._handle_exception(error)
    except Exception as translated:  # noqa: BLE001 - it raises whatever it translated to
        if isinstance(translated, adapted.dbapi.Error):
            return sa.exc.DBAPIError.instance(sql, None, translated, adapted.dbapi.Error)
        return translated
    return error  # pragma: no cover - _handle_exception always raises
