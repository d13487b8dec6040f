"""A migration that waits for another at the step where concurrent ones collide (run in a child
process: spawned processes import only this module and what it needs)."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.jobs import libpq_url
from core.migrations import upgrade


def migrate_alongside(url: str, arrived: Any, index: int) -> None:
    """Upgrade `url`, holding back the creation of alembic_version until every process has come
    that far, or until another waits on the migration lock (with the lock, only one ever gets there)."""
    conninfo = libpq_url(url)

    def another_waits_for_the_lock() -> bool:
        with psycopg.connect(conninfo) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()
            return row is not None and row[0] > 0

    def before_execute(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "CREATE TABLE alembic_version" not in statement:
            return
        arrived[index] = 1
        deadline = time.monotonic() + 120
        while not all(arrived) and not another_waits_for_the_lock():
            assert time.monotonic() < deadline, "the other process neither came this far nor waited for the lock"
            time.sleep(0.05)

    sa.event.listen(Engine, "before_cursor_execute", before_execute)
    upgrade(url)
