"""Run Alembic from code: `app.py migrate`, `serve` and the tests all come through here."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent


#: Tables that belong to a library (procrastinate's queue), created by a migration from the
#: library's own schema and left out of autogenerate's comparison with our models.
LIBRARY_TABLE_PREFIXES = ("procrastinate_",)

#: The Postgres advisory lock (session level) that migrations hold, so that processes starting
#: together (replicas, `serve` and `worker`) migrate one after the other.
MIGRATION_LOCK_KEY = 0x5155494E  # "QUIN"


def is_library_table(name: str) -> bool:
    return name.startswith(LIBRARY_TABLE_PREFIXES)


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
