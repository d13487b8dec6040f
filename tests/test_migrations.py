"""Migrations match the models, run down and up again on a fresh database; the CLI works."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import models
from core.migrations import alembic_config, downgrade, is_library_table, upgrade
from schema import printable_schema
from tests.conftest import create_database, drop_database
from tests.migrate_alongside import migrate_alongside

ROOT = Path(__file__).resolve().parent.parent


def _differences(connection: Connection) -> list[Any]:
    # procrastinate's tables come from its own schema: they are not in our models.
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "include_name": lambda name, type_, _: not (type_ == "table" and is_library_table(name)),
        },
    )
    return list(compare_metadata(context, models.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names(schema="public"))


QUEUE_TABLES = {"procrastinate_jobs", "procrastinate_events", "procrastinate_periodic_defers", "procrastinate_workers"}


async def inspect_database(url: str) -> tuple[list[Any], set[str]]:
    """The autogenerate differences between the models and the database, and its tables."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
            tables = await connection.run_sync(_tables)
    finally:
        await engine.dispose()
    return differences, tables


@pytest.fixture
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    url = await create_database(server_url)
    yield url
    await drop_database(server_url, url)


async def test_migrations_match_models_and_round_trip(fresh_database: str) -> None:
    model_tables = set(models.metadata.tables)
    assert model_tables, "the models define tables"
    # Given a fresh, empty database
    _, tables = await inspect_database(fresh_database)
    assert tables == set()
    # When it is migrated to head
    upgrade(fresh_database)
    # Then autogenerate finds nothing to change: the migrations create exactly the models
    differences, tables = await inspect_database(fresh_database)
    assert differences == [], "models and migrations differ; generate a migration for: " + repr(differences)
    assert tables == model_tables | QUEUE_TABLES | {"alembic_version"}
    # When it is downgraded to base
    downgrade(fresh_database, "base")
    # Then no application table is left
    _, tables = await inspect_database(fresh_database)
    assert tables <= {"alembic_version"}
    # When it is upgraded again, then it works and still matches the models
    upgrade(fresh_database)
    differences, tables = await inspect_database(fresh_database)
    assert differences == []
    assert tables == model_tables | QUEUE_TABLES | {"alembic_version"}


async def test_replicas_migrating_a_fresh_database_at_once_take_turns(fresh_database: str) -> None:
    # Given two processes that start on the same fresh database and would create alembic_version together
    spawn = multiprocessing.get_context("spawn")
    arrived = spawn.Array("b", 2)
    processes = [spawn.Process(target=migrate_alongside, args=(fresh_database, arrived, i)) for i in range(2)]
    # When both upgrade it
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join(timeout=180)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    # Then both succeed, one after the other: only one of them had a version table to create
    assert [process.exitcode for process in processes] == [0, 0]
    assert sorted(arrived[:]) == [0, 1]
    # And the database is at head, once, matching the models
    head = ScriptDirectory.from_config(alembic_config(fresh_database)).get_current_head()
    engine = create_async_engine(fresh_database)
    try:
        async with engine.connect() as connection:
            versions = (await connection.execute(sa.text("SELECT version_num FROM alembic_version"))).scalars().all()
    finally:
        await engine.dispose()
    assert versions == [head]
    differences, _ = await inspect_database(fresh_database)
    assert differences == []


async def test_the_shared_test_database_is_at_head(database_url: str) -> None:
    # Given the database the suite runs against (migrated by conftest)
    # When it is compared with the models, then nothing differs
    differences, tables = await inspect_database(database_url)
    assert differences == []
    assert set(models.metadata.tables) <= tables


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_exports_the_schema_to_stdout() -> None:
    # When `app.py export-schema -` runs
    result = run_cli("export-schema", "-")
    # Then it prints exactly the SDL
    assert result.returncode == 0, result.stderr
    assert result.stdout == printable_schema()
    assert "type Query" in result.stdout


def test_cli_help_lists_the_commands() -> None:
    # When `app.py --help` runs
    result = run_cli("--help")
    # Then it lists the commands
    assert result.returncode == 0, result.stderr
    for command in ("serve", "migrate", "export-schema"):
        assert command in result.stdout
