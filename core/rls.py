"""Row-level security, the application's side: who the database sees acting.

Postgres refuses a tenant's rows to another even where the application forgets its read policy
(migrations/rls.py creates the policies). They read three per-transaction settings, which this
module sets, never as statements of their own:

* in a transaction, with its BEGIN: `RlsConnection` (every connection of an engine made by
  `core.db.create_engine`) sends `BEGIN; SELECT set_config('quintet.actor_kind', ..., true), ...`
  as one simple query, the round trip the BEGIN costs anyway;
* in a single autocommit statement (the loaders' reads, `core.db.reader`): `wrapped(sql)` makes
  the statement set them itself, first, from three extra bind parameters (`settings_arguments`);
  the wrap is rendered once per statement text.

The actor comes from a context variable (`current_actor`), set for a block by `acting(actor)`
and, for a request, where its `Context` is built (`core.runtime.Runtime.context`); database work
outside any request (jobs, cron, the job worker) acts as the system (`Actor.system`). With no
actor set, the settings are empty and the policies match no row.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from core.context import Actor

#: The role the application runs as (migrations/rls.py creates it).
APP_ROLE = "quintet_app"

#: The settings the policies read (migrations/rls.py), in `settings_arguments` order.
ACTOR_KIND = "quintet.actor_kind"
USER_ID = "quintet.user_id"
ORGANIZATION_ID = "quintet.organization_id"

_KINDS = frozenset({"user", "api_client", "webhook", "system"})
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class DatabaseActor:
    """The actor as the database's settings: its kind and, for a user, their id; for an API
    client, its organization's. Every value is validated here: the BEGIN carries them as text."""

    kind: str = ""
    user_id: str = ""
    organization_id: str = ""

    def __post_init__(self) -> None:
        if self.kind and self.kind not in _KINDS:
            raise ValueError(f"unknown actor kind {self.kind!r}")
        # The policies read a user id only of a user, an organization only of an API client.
        if (self.user_id and self.kind != "user") or (self.organization_id and self.kind != "api_client"):
            raise ValueError(f"a {self.kind or 'missing'} actor carries no user id or client organization")
        for value in (self.user_id, self.organization_id):
            if value and not _CANONICAL_UUID.fullmatch(value):
                raise ValueError(f"not a canonical uuid: {value!r}")

    @classmethod
    def of(cls, actor: Actor | None) -> DatabaseActor:
        if actor is None:
            return NOBODY
        kind = actor.kind.value
        return _database_actor(
            kind,
            actor.user_id if kind == "user" else None,
            actor.organization_id if kind == "api_client" else None,
        )

    def arguments(self) -> tuple[str, str, str]:
        return (self.kind, self.user_id, self.organization_id)


@functools.lru_cache(maxsize=4096)
def _database_actor(kind: str, user_id: uuid.UUID | None, organization_id: uuid.UUID | None) -> DatabaseActor:
    """One request's actor as settings, kept per actor (the text and its checks cost a request
    more than the read's other settings together): a `DatabaseActor` is immutable."""
    return DatabaseActor(kind, str(user_id) if user_id else "", str(organization_id) if organization_id else "")


#: No actor: every setting empty, no row readable.
NOBODY = DatabaseActor()
SYSTEM = DatabaseActor("system")

current_actor: contextvars.ContextVar[DatabaseActor] = contextvars.ContextVar("quintet_db_actor", default=NOBODY)


def act_as(actor: Actor | None) -> contextvars.Token[DatabaseActor]:
    """Make `actor` the database's actor from here on in this task (and the tasks it starts)."""
    return current_actor.set(DatabaseActor.of(actor))


@contextlib.contextmanager
def acting(actor: Actor | None) -> Iterator[None]:
    """Run a block's database work as `actor` (a transaction begun inside, a single read)."""
    token = act_as(actor)
    try:
        yield
    finally:
        current_actor.reset(token)


@contextlib.contextmanager
def acting_as_system() -> Iterator[None]:
    token = current_actor.set(SYSTEM)
    try:
        yield
    finally:
        current_actor.reset(token)


def settings_sql(actor: DatabaseActor) -> str:
    """`SELECT set_config(...)` for the three settings, as a literal statement (the values are
    validated: an actor kind's name and canonical uuids)."""
    kind, user, organization = actor.arguments()
    return (
        f"SELECT set_config('{ACTOR_KIND}', '{kind}', true), set_config('{USER_ID}', '{user}', true), "
        f"set_config('{ORGANIZATION_ID}', '{organization}', true)"
    )


_BEGIN = re.compile(r"\s*BEGIN\b", re.IGNORECASE)


class RlsConnection(asyncpg.Connection):
    """An asyncpg connection whose every transaction starts with the current actor's settings,
    in the BEGIN's own round trip (asyncpg sends BEGIN through `execute`, as a simple query)."""

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:  # noqa: ASYNC109 - asyncpg's
        if not args and _BEGIN.match(query):
            query = f"{query.rstrip().rstrip(';')}; {settings_sql(current_actor.get())}"
        result: str = await super().execute(query, *args, timeout=timeout)
        return result


_PARAMETER = re.compile(r"\$(\d+)")
_WRAPS: dict[str, str] = {}
_MAX_WRAPS = 4096


def wrapped(sql: str) -> str:
    """`sql`, a single SELECT, as one statement that first sets the actor's settings from three
    more bind parameters ($n+1.. $n+3: `settings_arguments()`), then returns `sql`'s rows as they
    are, in their order.

    The settings are set by a scalar sub-SELECT in a condition that refers to no row: Postgres
    makes it an InitPlan that a gating Result evaluates once, before it runs anything beneath it
    (EXPLAIN: `One-Time Filter: ($0 IS NOT NULL)` above the scans; tests/test_rls.py checks the
    plan, and every read there would find nothing were it otherwise). Cheaper to plan than a
    lateral join on the settings' row (which each planning pays: most reads are custom plans).
    Rendered once per statement text."""
    known = _WRAPS.get(sql)
    if known is not None:
        return known
    numbers = [int(n) for n in _PARAMETER.findall(sql)]
    first = max(numbers, default=0) + 1
    kind, user, organization = (f"${first + i}" for i in range(3))
    text = (
        f"SELECT * FROM ({sql}) AS quintet_read WHERE (SELECT set_config('{ACTOR_KIND}', {kind}, true) "
        f"|| set_config('{USER_ID}', {user}, true) || set_config('{ORGANIZATION_ID}', {organization}, true)) "
        "IS NOT NULL"
    )
    if len(_WRAPS) >= _MAX_WRAPS:
        _WRAPS.clear()
    _WRAPS[sql] = text
    return text


def settings_arguments() -> tuple[str, str, str]:
    """The values of `wrapped`'s three extra parameters, for the current actor."""
    return current_actor.get().arguments()


def wraps(sql: str) -> bool:
    """Whether a statement is a read that `wrapped` can take (a SELECT, or WITH ... SELECT)."""
    head = sql.lstrip()[:6].upper()
    return head == "SELECT" or (head[:4] == "WITH" and not _WRITES.search(sql))


_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


_APP_ROLE_CHECK = """
SELECT current_user AS role, r.rolsuper AS superuser, r.rolbypassrls AS bypassrls,
       EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = current_schema() AND t.tableowner = current_user)
           AS owner
FROM pg_roles r WHERE r.rolname = current_user
"""


async def app_role_problem(conn: asyncpg.Connection) -> str | None:
    """Why the connection's effective role would get past row-level security, if it would."""
    row = await conn.fetchrow(_APP_ROLE_CHECK)
    if row is None:
        return "its role is unknown"
    if row["superuser"]:
        return f"its role {row['role']} is a superuser"
    if row["bypassrls"]:
        return f"its role {row['role']} has BYPASSRLS"
    if row["owner"]:
        return f"its role {row['role']} owns the tables"
    return None
