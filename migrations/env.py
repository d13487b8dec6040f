"""Alembic environment: async engine, SQLModel metadata as the target."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import models
from core.db import resolve_database_url, to_async_url
from core.migrations import MIGRATION_LOCK_KEY, is_library_table
from core.settings import get_settings

config = context.config
target_metadata = models.metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate compares our models only, not the tables of procrastinate's schema."""
    return not (type_ == "table" and name is not None and is_library_table(name))


def database_url() -> str:
    url = config.attributes.get("database_url")
    return to_async_url(url) if url else resolve_database_url(get_settings())


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    # Replicas that start together on a fresh database would each create alembic_version (one
    # fails on a duplicate pg_type key) and run the same migrations: they take turns, and the later
    # ones find the schema at head. A session lock outlives the commit that leaves alembic a
    # connection outside any transaction; on an error, closing the connection releases it.
    connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    connection.commit()
    context.configure(
        connection=connection, target_metadata=target_metadata, compare_type=True, include_name=include_name
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
    connection.commit()


async def run_migrations_online() -> None:
    engine = create_async_engine(database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()  # closes the connection, and so releases the lock after an error


def _run_online() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run_migrations_online())
        return
    # Called from inside a running loop (e.g. an async test): run on a fresh loop in a thread.
    import threading

    error: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(run_migrations_online())
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]


if context.is_offline_mode():
    run_migrations_offline()
else:
    _run_online()
