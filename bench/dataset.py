"""The side-by-side dataset: one Postgres database per scale, bulk-loaded with COPY, reused when present.

The database is `quintet_bench_<scale>` on the chosen server. Quintet's migrations make the
tables; the rows go in with asyncpg's `copy_records_to_table` (no ORM). A marker row in
`bench_pg.dataset` records what was loaded, so a later run at the same scale reuses the data.

The generator is deterministic (a seeded RNG makes every id, name and date offset); dates are
relative to the moment of loading, so some tasks are overdue and some are not.
"""

from __future__ import annotations

import os
import random
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url

from core.db import start_embedded_postgres, to_async_url
from core.migrations import upgrade

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
#: Bump when the generator changes: a dataset with another version is rebuilt.
DATASET_VERSION = 1
SEED = 20261125
PASSWORD = "benchmark-password"
COMPUTED_COLUMNS_SQL = ROOT / "bench" / "peers" / "postgraphile" / "computed_columns.sql"

TASK_STATUSES = (("todo", 40), ("in_progress", 20), ("done", 30), ("cancelled", 10))
PROJECT_STATUSES = (("not_started", 25), ("in_progress", 45), ("on_hold", 10), ("completed", 15), ("cancelled", 5))
PRIORITIES = ((1, 20), (2, 45), (3, 25), (4, 10))
OPEN_TASK_STATUSES = ("todo", "in_progress")
ACTIVE_PROJECT_STATUSES = ("not_started", "in_progress")
PILLAR_NAMES = ("Health", "Career", "Relationships", "Finance", "Growth", "Home", "Play", "Community")
VERBS = ("Draft", "Review", "Plan", "Call", "Book", "Fix", "Write", "Read", "Clean", "Buy", "Prepare", "Send")
NOUNS = ("budget", "report", "workout", "meeting", "trip", "notes", "garden", "invoice", "slides", "letter")


@dataclass(frozen=True)
class Scale:
    """How much data: `users` users, each with the same tree."""

    name: str
    users: int
    pillars: int
    areas_per_pillar: int
    projects_per_area: int
    tasks_per_project: int

    @property
    def projects_per_user(self) -> int:
        return self.pillars * self.areas_per_pillar * self.projects_per_area

    @property
    def tasks_per_user(self) -> int:
        return self.projects_per_user * self.tasks_per_project


# 10x is ten times the users, each with the same tree as at 1x: every response has the same size
# at both scales, so throughput and statements per request compare directly, and what grows is
# the tables the statements search (2,000,000 tasks instead of 200,000).
SCALES = {
    "smoke": Scale("smoke", users=3, pillars=2, areas_per_pillar=2, projects_per_area=3, tasks_per_project=5),
    "1x": Scale("1x", users=200, pillars=5, areas_per_pillar=4, projects_per_area=5, tasks_per_project=10),
    "10x": Scale("10x", users=2000, pillars=5, areas_per_pillar=4, projects_per_area=5, tasks_per_project=10),
}


@dataclass
class Dataset:
    scale: Scale
    #: libpq URL of the bench database (asyncpg and node-postgres read it as it is)
    url: str
    server_kind: str
    server_version: str
    users: list[uuid.UUID]
    #: a few task ids of each user, for the `node` and `mutation` operations
    tasks_by_user: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    built: bool = False
    load_seconds: float = 0.0

    @property
    def sqlalchemy_url(self) -> str:
        return to_async_url(self.url)


def plain_url(url: str) -> str:
    """A libpq URL (`postgresql://…`) from any form SQLAlchemy accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def resolve_server(explicit: str | None = None) -> tuple[str, str]:
    """(server URL, kind): `explicit`, BENCH_DATABASE_URL, the system Postgres, or the embedded one."""
    if explicit:
        return plain_url(explicit), "given"
    if os.environ.get("BENCH_DATABASE_URL"):
        return plain_url(os.environ["BENCH_DATABASE_URL"]), "BENCH_DATABASE_URL"
    if _reachable("127.0.0.1", 5432):
        return SYSTEM_POSTGRES, "system Postgres at 127.0.0.1:5432"
    return plain_url(start_embedded_postgres(ROOT / ".data" / "bench-postgres")), "embedded Postgres"


def _with_database(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _database_exists(server_url: str, name: str) -> bool:
    conn = await asyncpg.connect(server_url)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def _admin(server_url: str, statement: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def drop_database(server_url: str, name: str) -> None:
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _marker(url: str) -> dict[str, Any] | None:
    conn = await asyncpg.connect(url)
    try:
        exists = await conn.fetchval("SELECT to_regclass('bench_pg.dataset') IS NOT NULL")
        if not exists:
            return None
        row = await conn.fetchrow("SELECT scale, version, users, tasks_per_user FROM bench_pg.dataset")
        return dict(row) if row else None
    finally:
        await conn.close()


async def prepare_dataset(
    scale: Scale, *, server_url: str, server_kind: str, database: str | None = None, log: Any = print
) -> Dataset:
    """The bench database at `scale`, built (or rebuilt) only when its marker does not match."""
    name = database or f"quintet_bench_{scale.name}"
    url = _with_database(server_url, name)
    wanted = {
        "scale": scale.name,
        "version": DATASET_VERSION,
        "users": scale.users,
        "tasks_per_user": scale.tasks_per_user,
    }
    built = False
    seconds = 0.0
    exists = await _database_exists(server_url, name)
    if not exists or await _marker(url) != wanted:
        if exists:
            log(f"database {name} holds another dataset: rebuilding it")
            await drop_database(server_url, name)
        await _admin(server_url, f'CREATE DATABASE "{name}"')
        upgrade(to_async_url(url))
        started = time.perf_counter()
        await _load(url, scale, log=log)
        seconds = time.perf_counter() - started
        built = True
    else:
        upgrade(to_async_url(url))  # a reused dataset follows migrations added since it was built
    await _install_computed_columns(url)
    dataset = await _describe(url, scale, server_kind)
    dataset.built, dataset.load_seconds = built, seconds
    return dataset


async def _install_computed_columns(url: str) -> None:
    """PostGraphile's computed columns (progress, isOverdue); idempotent, run every time."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(COMPUTED_COLUMNS_SQL.read_text())
    finally:
        await conn.close()


async def _describe(url: str, scale: Scale, server_kind: str) -> Dataset:
    conn = await asyncpg.connect(url)
    try:
        version = str(await conn.fetchval("SHOW server_version"))
        users = [row["id"] for row in await conn.fetch("SELECT id FROM users ORDER BY email")]
        # Five tasks per user, spread over the tree (every other project's first task).
        rows = await conn.fetch(
            """
            SELECT user_id, id FROM (
              SELECT user_id, id, row_number() OVER (PARTITION BY user_id ORDER BY project_id, position) AS n
              FROM tasks
            ) numbered
            WHERE n % $1 = 1 AND n <= $1 * 5
            ORDER BY user_id, n
            """,
            max(1, scale.tasks_per_project * 2),
        )
    finally:
        await conn.close()
    tasks: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in rows:
        tasks.setdefault(row["user_id"], []).append(row["id"])
    return Dataset(
        scale=scale,
        url=url,
        server_kind=server_kind,
        server_version=version,
        users=users,
        tasks_by_user=tasks,
    )


# ----------------------------------------------------------------------------- generator


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([value for value, _ in choices], weights=[weight for _, weight in choices])[0]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _due(rng: random.Random, now: datetime, *, dated: float, past_days: int, future_days: int) -> datetime | None:
    if rng.random() >= dated:
        return None
    return now + timedelta(minutes=rng.randint(-past_days * 1440, future_days * 1440))


@dataclass
class _Rows:
    users: list[tuple[Any, ...]] = field(default_factory=list)
    pillars: list[tuple[Any, ...]] = field(default_factory=list)
    areas: list[tuple[Any, ...]] = field(default_factory=list)
    projects: list[tuple[Any, ...]] = field(default_factory=list)
    tasks: list[tuple[Any, ...]] = field(default_factory=list)


COLUMNS = {
    "users": ("id", "email", "display_name", "role", "password_hash", "created_at", "updated_at"),
    "pillars": ("id", "user_id", "name", "description", "color", "icon", "position", "created_at", "updated_at"),
    "areas": (
        "id",
        "user_id",
        "pillar_id",
        "name",
        "description",
        "importance",
        "position",
        "created_at",
        "updated_at",
    ),
    "projects": (
        "id",
        "user_id",
        "area_id",
        "name",
        "description",
        "status",
        "priority",
        "due_at",
        "position",
        "created_at",
        "updated_at",
    ),
    "tasks": (
        "id",
        "user_id",
        "project_id",
        "title",
        "description",
        "status",
        "priority",
        "due_at",
        "completed_at",
        "position",
        "created_at",
        "updated_at",
    ),
}


def _generate(rng: random.Random, scale: Scale, first: int, count: int, now: datetime, pw_hash: str) -> _Rows:
    """Rows of users `first` .. `first + count - 1`, parents before children."""
    rows = _Rows()
    for number in range(first, first + count):
        user_id = _uuid(rng)
        joined = now - timedelta(days=rng.randint(30, 720))
        rows.users.append(
            (user_id, f"bench-{number:05d}@bench.quintet.dev", f"Bench User {number}", "user", pw_hash, joined, joined)
        )
        for p in range(scale.pillars):
            pillar_id = _uuid(rng)
            name = PILLAR_NAMES[p % len(PILLAR_NAMES)]
            description = f"What {name.lower()} means to me" if rng.random() < 0.5 else None
            color = f"#{rng.randrange(0x1000000):06X}"
            rows.pillars.append((pillar_id, user_id, name, description, color, None, p, joined, joined))
            for a in range(scale.areas_per_pillar):
                area_id = _uuid(rng)
                rows.areas.append(
                    (area_id, user_id, pillar_id, f"{name} area {a + 1}", None, rng.randint(1, 5), a, joined, joined)
                )
                for j in range(scale.projects_per_area):
                    project_id = _uuid(rng)
                    created = joined + timedelta(days=rng.randint(0, 25))
                    rows.projects.append(
                        (
                            project_id,
                            user_id,
                            area_id,
                            f"{name} project {a + 1}.{j + 1}",
                            "Outcome described in a sentence or two." if rng.random() < 0.3 else None,
                            _weighted(rng, PROJECT_STATUSES),
                            _weighted(rng, PRIORITIES),
                            _due(rng, now, dated=0.8, past_days=30, future_days=120),
                            j,
                            created,
                            created,
                        )
                    )
                    for t in range(scale.tasks_per_project):
                        status = _weighted(rng, TASK_STATUSES)
                        due_at = _due(rng, now, dated=0.7, past_days=45, future_days=90)
                        touched = created + timedelta(hours=rng.randint(1, 500))
                        completed_at = touched if status == "done" else None
                        rows.tasks.append(
                            (
                                _uuid(rng),
                                user_id,
                                project_id,
                                f"{rng.choice(VERBS)} the {rng.choice(NOUNS)} #{t + 1}",
                                "A few words of detail." if rng.random() < 0.25 else None,
                                status,
                                _weighted(rng, PRIORITIES),
                                due_at,
                                completed_at,
                                t,
                                created,
                                touched,
                            )
                        )
    return rows


def _batches(total: int, size: int) -> Iterator[tuple[int, int]]:
    for first in range(0, total, size):
        yield first, min(size, total - first)


async def _load(url: str, scale: Scale, *, log: Any) -> None:
    rng = random.Random(SEED)
    now = datetime.now(UTC).replace(microsecond=0)
    pw_hash = PasswordHasher().hash(PASSWORD)  # one hash for every user: hashing is not what is measured
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for first, count in _batches(scale.users, 100):
                rows = _generate(rng, scale, first, count, now, pw_hash)
                for table in ("users", "pillars", "areas", "projects", "tasks"):
                    await conn.copy_records_to_table(table, records=getattr(rows, table), columns=COLUMNS[table])
                if scale.users > 100:
                    log(f"  loaded {first + count}/{scale.users} users")
            await conn.execute("CREATE SCHEMA IF NOT EXISTS bench_pg")
            await conn.execute(
                """
                CREATE TABLE bench_pg.dataset (
                  scale text NOT NULL, version int NOT NULL, users int NOT NULL, tasks_per_user int NOT NULL,
                  loaded_at timestamptz NOT NULL DEFAULT now()
                )
                """
            )
            await conn.execute(
                "INSERT INTO bench_pg.dataset (scale, version, users, tasks_per_user) VALUES ($1, $2, $3, $4)",
                scale.name,
                DATASET_VERSION,
                scale.users,
                scale.tasks_per_user,
            )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
