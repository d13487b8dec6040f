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
from sqlalchemy.engine import make_url

from bench import campaign_dataset
from core.db import start_embedded_postgres, to_async_url
from core.migrations import upgrade
from core.security import password_hasher

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
#: Bump when the generator changes: a dataset with another version is rebuilt.
DATASET_VERSION = 2  # 2: Akashic campaigns (bench.campaign_dataset)
SEED = 20261125
PASSWORD = "benchmark-password"
EMAIL_DOMAIN = "bench.quintet.dev"
COMPUTED_COLUMNS_SQL = ROOT / "bench" / "peers" / "postgraphile" / "computed_columns.sql"
LOGIN_SQL = ROOT / "bench" / "peers" / "postgraphile" / "login.sql"
#: pgcrypto's bcrypt cost for PostGraphile's `authenticate` is chosen in each run, by measurement
#: (`matched_bcrypt_cost`): the highest cost whose check takes no more CPU than one argon2 verify
#: with Quintet's parameters, so that `login` compares the servers, not the hash functions, and
#: never gives the peer more hashing work than Quintet does. (A fixed cost 12 once matched
#: argon2-cffi's defaults, ~165 ms; at OWASP's argon2id setting, ~16-35 ms, it was ten times ours.)
BCRYPT_COSTS = range(4, 16)
#: The cost whose check is timed to find the others' (each step doubles the work).
BCRYPT_PROBE_COST = 8
#: The server settings that decide what a write costs (and what a read finds in memory).
PG_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "shared_buffers")
NODES_PER_USER = 50

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
    #: 50 task ids of each user spread over the tree, in id order, for `nodes50`
    node_sets: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    #: each user's sign-in email (the password is PASSWORD), for `login`
    emails: dict[uuid.UUID, str] = field(default_factory=dict)
    #: one project of each user that the write mix adds tasks to
    write_projects: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    #: PG_SETTINGS as the server reports them
    pg_settings: dict[str, str] = field(default_factory=dict)
    #: Akashic campaigns (bench.campaign_dataset) -> their staff by role, for `campaign_dashboard`
    campaigns: dict[uuid.UUID, dict[str, uuid.UUID]] = field(default_factory=dict)
    #: why PostGraphile has no `authenticate` on this server (None: it has, with pgcrypto)
    no_pgcrypto: str | None = None
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
        await _refresh_password_hashes(url, log)
    await _install_computed_columns(url)
    no_pgcrypto = await _install_login(url)
    dataset = await _describe(url, scale, server_kind)
    dataset.built, dataset.load_seconds, dataset.no_pgcrypto = built, seconds, no_pgcrypto
    return dataset


async def _refresh_password_hashes(url: str, log: Any) -> None:
    """Give a reused dataset's users a hash with Quintet's current argon2 parameters: else every
    user's first sign-in would rehash it (`core.security.password_needs_rehash`), in the runs."""
    conn = await asyncpg.connect(url)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE email LIKE $1 LIMIT 1", f"%@{EMAIL_DOMAIN}")
        if stored is not None and password_hasher().check_needs_rehash(stored):
            log("the users' password hashes have older argon2 parameters: hashing them again")
            fresh = password_hasher().hash(PASSWORD)
            await conn.execute("UPDATE users SET password_hash = $1 WHERE email LIKE $2", fresh, f"%@{EMAIL_DOMAIN}")
    finally:
        await conn.close()


async def _install_computed_columns(url: str) -> None:
    """PostGraphile's computed columns (progress, isOverdue), idempotent, run every time; then
    a check that their percent rounds as Quintet's does (bench.checks.percent)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(COMPUTED_COLUMNS_SQL.read_text())
        await check_progress_rounding(conn)
    finally:
        await conn.close()


#: (total, done) pairs of the rounding check: every pair up to 24 tasks, and the halves that
#: numeric round() would round up where half to even does not (1/80 is 1.25 %: 1.2; 3/80: 3.8).
ROUNDING_PAIRS = [(total, done) for total in range(25) for done in range(total + 1)] + [
    (total, done) for total in (40, 48, 80, 112, 144, 160) for done in range(1, total, 2)
]


async def check_progress_rounding(conn: asyncpg.Connection) -> None:
    """`projects_progress` gives bench.checks.percent for every pair of ROUNDING_PAIRS, on
    projects made for the check inside a transaction that is rolled back."""
    from bench.checks import CorrectnessError, percent  # bench.checks imports this module

    transaction = conn.transaction()
    await transaction.start()
    try:
        user, pillar, area = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            "INSERT INTO users (id, email, display_name, role, password_hash) VALUES ($1, $2, 'check', 'user', 'x')",
            user,
            f"rounding-check-{user}@check.invalid",
        )
        await conn.execute(
            "INSERT INTO pillars (id, user_id, name, position) VALUES ($1, $2, 'check', 0)", pillar, user
        )
        await conn.execute(
            "INSERT INTO areas (id, user_id, pillar_id, name, importance, position) VALUES ($1, $2, $3, 'check', 3, 0)",
            area,
            user,
            pillar,
        )
        projects = [uuid.uuid4() for _ in ROUNDING_PAIRS]
        await conn.execute(
            """
            INSERT INTO projects (id, user_id, area_id, name, status, priority, position)
            SELECT p, $2, $3, 'check', 'in_progress', 2, 0 FROM unnest($1::uuid[]) p
            """,
            projects,
            user,
            area,
        )
        # Each project: `done` tasks done, `total - done` to do, and one cancelled (counted by neither).
        await conn.execute(
            """
            INSERT INTO tasks (id, user_id, project_id, title, status, priority, position)
            SELECT gen_random_uuid(), $2, c.project,  'check',
                   CASE WHEN n <= c.done THEN 'done' WHEN n <= c.total THEN 'todo' ELSE 'cancelled' END, 2, n
            FROM unnest($1::uuid[], $3::int[], $4::int[]) AS c(project, total, done),
                 generate_series(1, c.total + 1) AS n
            """,
            projects,
            user,
            [total for total, _ in ROUNDING_PAIRS],
            [done for _, done in ROUNDING_PAIRS],
        )
        rows = await conn.fetch(
            "SELECT p.id, pp.* FROM projects p, projects_progress(p) pp WHERE p.id = ANY($1::uuid[])", projects
        )
        got = {row["id"]: (row["total_tasks"], row["completed_tasks"], row["percent"]) for row in rows}
        for project, (total, done) in zip(projects, ROUNDING_PAIRS, strict=True):
            if got.get(project) != (total, done, percent(done, total)):
                raise CorrectnessError(
                    f"projects_progress rounds otherwise than Quintet: {done} of {total} gave "
                    f"{got.get(project)}, expected {(total, done, percent(done, total))} "
                    f"(bench/peers/postgraphile/computed_columns.sql)"
                )
    finally:
        await transaction.rollback()


async def _install_login(url: str) -> str | None:
    """PostGraphile's `authenticate` and the users' bcrypt hashes (LOGIN_SQL), when the server
    has pgcrypto; else why not (the `login` workload then skips the PostGraphile peers)."""
    conn = await asyncpg.connect(url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto'"):
            return (
                "this Postgres has no pgcrypto (the embedded Postgres wheel ships no contrib modules), "
                "so PostGraphile has no bcrypt to verify a password with"
            )
        await conn.execute("CREATE SCHEMA IF NOT EXISTS bench_pg")
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA bench_pg")
        schema = await conn.fetchval(
            "SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'pgcrypto'"
        )
        await conn.execute(LOGIN_SQL.read_text().replace("@pgcrypto@", schema))
        cost = await matched_bcrypt_cost(conn, schema, argon2_verify_ms()["cpu"])
        prefix = f"$2a${cost:02d}$"
        stale = await conn.fetchval(
            "SELECT count(*) FROM users u LEFT JOIN bench_pg.credentials c ON c.user_id = u.id"
            " WHERE c.password_hash IS NULL OR left(c.password_hash, 7) <> $1",
            prefix,
        )
        if stale:
            # One hash for every user, as Quintet's argon2 hashes are: hashing is not what is measured.
            hashed = await conn.fetchval(f"SELECT {schema}.crypt($1, {schema}.gen_salt('bf', $2))", PASSWORD, cost)
            await conn.execute(
                """
                INSERT INTO bench_pg.credentials (user_id, password_hash) SELECT id, $1 FROM users
                ON CONFLICT (user_id) DO UPDATE SET password_hash = EXCLUDED.password_hash
                """,
                hashed,
            )
        return None
    finally:
        await conn.close()


def _process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a process on this machine, from /proc; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def argon2_verify_ms(rounds: int = 3) -> dict[str, float]:
    """One argon2 verify with Quintet's parameters, in this process: wall and CPU milliseconds."""
    hasher = password_hasher()
    argon2_hash = hasher.hash(PASSWORD)
    hasher.verify(argon2_hash, PASSWORD)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        hasher.verify(argon2_hash, PASSWORD)
    return {
        "wall": (time.perf_counter() - wall) / rounds * 1000,
        "cpu": (time.process_time() - cpu) / rounds * 1000,
    }


async def _bcrypt_check_ms(
    conn: asyncpg.Connection, schema: str, stored: str, rounds: int
) -> tuple[float, float | None]:
    """One pgcrypto check of `stored` in `conn`'s backend: wall ms, and CPU ms when the server
    runs on this machine (its backend's CPU time from /proc)."""
    await conn.fetchval(f"SELECT {schema}.crypt($1, $2)", PASSWORD, stored)
    backend = await conn.fetchval("SELECT pg_backend_pid()")
    wall, backend_cpu = time.perf_counter(), _process_cpu(backend)
    for _ in range(rounds):
        await conn.fetchval(f"SELECT {schema}.crypt($1, $2)", PASSWORD, stored)
    wall_ms = (time.perf_counter() - wall) / rounds * 1000
    after = _process_cpu(backend)
    cpu_ms = (after - backend_cpu) / rounds * 1000 if backend_cpu is not None and after is not None else None
    return wall_ms, cpu_ms


async def matched_bcrypt_cost(conn: asyncpg.Connection, schema: str, argon2_ms: float) -> int:
    """The highest bcrypt cost whose check takes no more time than `argon2_ms` (the lowest cost
    when even that takes longer): one check at `BCRYPT_PROBE_COST` is timed, each step doubles."""
    probe = await conn.fetchval(f"SELECT {schema}.crypt($1, {schema}.gen_salt('bf', $2))", PASSWORD, BCRYPT_PROBE_COST)
    wall_ms, cpu_ms = await _bcrypt_check_ms(conn, schema, probe, rounds=5)
    per_unit = (cpu_ms if cpu_ms else wall_ms) / 2**BCRYPT_PROBE_COST
    fitting = [cost for cost in BCRYPT_COSTS if per_unit * 2**cost <= argon2_ms]
    return max(fitting) if fitting else BCRYPT_COSTS[0]


async def password_costs(url: str, *, rounds: int = 3) -> dict[str, float]:
    """What one password check costs each side: Quintet's argon2 verify (wall and CPU time, in
    this process, with Quintet's parameters) and pgcrypto's bcrypt at the cost the dataset's
    hashes have (`matched_bcrypt_cost`; in one Postgres backend: its CPU time read from /proc
    when the server runs on this machine)."""
    argon2 = argon2_verify_ms(rounds)
    costs = {"argon2_verify_wall_ms": round(argon2["wall"], 1), "argon2_verify_cpu_ms": round(argon2["cpu"], 1)}
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT to_regclass('bench_pg.credentials') IS NOT NULL"):
            stored = await conn.fetchval("SELECT password_hash FROM bench_pg.credentials LIMIT 1")
            schema = await conn.fetchval(
                "SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
                " WHERE e.extname = 'pgcrypto'"
            )
            if stored and schema:
                wall_ms, cpu_ms = await _bcrypt_check_ms(conn, schema, stored, rounds)
                costs["bcrypt_verify_wall_ms"] = round(wall_ms, 1)
                if cpu_ms is not None:  # the server runs on this machine
                    costs["bcrypt_verify_cpu_ms"] = round(cpu_ms, 1)
                costs["bcrypt_cost"] = int(stored.split("$")[2])  # $2a$<cost>$...
    finally:
        await conn.close()
    return costs


async def _describe(url: str, scale: Scale, server_kind: str) -> Dataset:
    conn = await asyncpg.connect(url)
    try:
        version = str(await conn.fetchval("SHOW server_version"))
        settings = {name: str(await conn.fetchval("SELECT current_setting($1)", name)) for name in PG_SETTINGS}
        accounts = await conn.fetch(
            "SELECT id, email FROM users WHERE email LIKE $1 ORDER BY email", f"%@{EMAIL_DOMAIN}"
        )
        users = [row["id"] for row in accounts]
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
        # NODES_PER_USER tasks of each user in a fixed pseudo-random choice over the whole tree.
        node_rows = await conn.fetch(
            """
            SELECT user_id, id FROM (
              SELECT user_id, id, row_number() OVER (PARTITION BY user_id ORDER BY md5(id::text)) AS n FROM tasks
            ) numbered
            WHERE n <= $1
            ORDER BY user_id, id
            """,
            NODES_PER_USER,
        )
        # The write mix adds tasks to each user's first project (by position in its first area).
        project_rows = await conn.fetch(
            """
            SELECT DISTINCT ON (pr.user_id) pr.user_id, pr.id
            FROM projects pr JOIN areas a ON a.id = pr.area_id JOIN pillars p ON p.id = a.pillar_id
            ORDER BY pr.user_id, p.position, a.position, pr.position, pr.id
            """
        )
        campaigns = await campaign_dataset.staff_of(conn)
    finally:
        await conn.close()
    tasks: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in rows:
        tasks.setdefault(row["user_id"], []).append(row["id"])
    node_sets: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in node_rows:
        node_sets.setdefault(row["user_id"], []).append(row["id"])
    return Dataset(
        scale=scale,
        url=url,
        server_kind=server_kind,
        server_version=version,
        users=users,
        tasks_by_user=tasks,
        node_sets=node_sets,
        emails={row["id"]: row["email"] for row in accounts},
        write_projects={row["user_id"]: row["id"] for row in project_rows},
        pg_settings=settings,
        campaigns=campaigns,
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
            (user_id, f"bench-{number:05d}@{EMAIL_DOMAIN}", f"Bench User {number}", "user", pw_hash, joined, joined)
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
    pw_hash = password_hasher().hash(PASSWORD)  # one hash for every user: hashing is not what is measured
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            users: list[uuid.UUID] = []
            for first, count in _batches(scale.users, 100):
                rows = _generate(rng, scale, first, count, now, pw_hash)
                for table in ("users", "pillars", "areas", "projects", "tasks"):
                    await conn.copy_records_to_table(table, records=getattr(rows, table), columns=COLUMNS[table])
                users += [row[0] for row in rows.users]
                if scale.users > 100:
                    log(f"  loaded {first + count}/{scale.users} users")
            campaigns = await campaign_dataset.load(conn, random.Random(SEED + 1), users, now)
            log(f"  loaded {len(campaigns.staff)} campaign(s) of {campaign_dataset.MESSAGES} messages each")
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
