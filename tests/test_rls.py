"""Row-level security, the second wall: Postgres refuses another tenant's rows even when a query
skips the read policy (`core.access.readable`).

Two users, A and B, each have rows in every table that declares a read policy (Aurum's, its
insights', the platform's), and each owns an organization the other is not in. Every read below
is a raw SELECT of the whole table through the application's own connection paths (a unit of
work's transaction, the loaders' autocommit reader, a `Shape` run on asyncpg directly), with no
policy in it. The oracle for what Postgres may return is the application's own policy, applied
by the owner (who is not subject to RLS).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.applications import Starlette

import models
from core import access
from core.context import Actor
from core.db import (
    check_app_database,
    create_engine,
    read_pool,
    reader,
    resolve_app_database_url,
    session_factory,
    to_async_url,
)
from core.reads import Shape
from core.rls import APP_ROLE, DatabaseActor, acting, app_role_problem, wrapped
from core.settings import ConfigurationError, Mode, Settings
from migrations.rls import ROWS_POLICY, condition_for, rows_condition
from models.aurum import Task
from models.identity import User
from services.identity import find_user_by_email
from tests.akashic.factories import create_akashic_campaign
from tests.conftest import make_settings
from tests.factories import (
    create_audit_events,
    create_donations,
    create_journal,
    create_notifications,
    create_organizations,
    create_resources,
    create_tree,
    create_users,
    insert_rows,
)
from tests.test_protections import signing_key

pytestmark = pytest.mark.asyncio(loop_scope="session")

AURUM_TABLES = ("pillars", "areas", "projects", "tasks", "journal_templates", "journal_entries", "resources")
#: The application's tables with a declared policy (other tests declare tables of their own).
DECLARED = {table.name: table for table in access.declared() if models.metadata.tables.get(table.name) is table}


def actor(user_id: uuid.UUID) -> Actor:
    return Actor(user_id=user_id, role="user")


@dataclass(frozen=True)
class World:
    a: uuid.UUID
    b: uuid.UUID


async def _rows_of_user(session: AsyncSession, user_id: uuid.UUID, rule_id: uuid.UUID) -> None:
    tree = await create_tree(
        session, user_id=user_id, pillars=1, areas_per_pillar=1, projects_per_area=1, tasks_per_project=2
    )
    await create_journal(session, user_id=user_id, templates=1, entries=2)
    await create_resources(session, user_id=user_id, project_ids=tree.projects, task_ids=tree.tasks[:1])
    await create_notifications(session, user_id=user_id, count=2)
    await create_audit_events(session, user_id=user_id, count=2)
    organizations = await create_organizations(session, user_id=user_id, count=1)
    await create_akashic_campaign(session, user_id=user_id)
    await create_donations(session, organization_id=organizations.organizations[0], count=2)
    # A campaign (Akashic) of the user's, with a knowledge document and its chunk.
    campaign_id = uuid.uuid4()
    await insert_rows(
        session,
        models.Organization,
        [{"id": campaign_id, "name": "Campaign", "slug": f"campaign-{campaign_id.hex[:16]}", "kind": "campaign"}],
    )
    await insert_rows(
        session,
        models.Membership,
        [{"id": uuid.uuid4(), "organization_id": campaign_id, "user_id": user_id, "role": "campaign_manager"}],
    )
    document_id = uuid.uuid4()
    await insert_rows(
        session,
        models.KnowledgeDocument,
        [
            {
                "id": document_id,
                "organization_id": campaign_id,
                "title": "Notes",
                "source": "rls",
                "content_hash": "0" * 64,
                "characters": 5,
                "chunk_count": 1,
            }
        ],
    )
    await insert_rows(
        session,
        models.KnowledgeChunk,
        [
            {
                "id": uuid.uuid4(),
                "document_id": document_id,
                "position": 0,
                "text": "Notes",
                "embedding": [1.0, 0.0],
                "embedding_model": "rls",
                "embedding_dimensions": 2,
            }
        ],
    )
    now = datetime.now(UTC)
    await insert_rows(
        session,
        models.RefreshToken,
        [
            {
                "user_id": user_id,
                "family_id": uuid.uuid4(),
                "token_hash": uuid.uuid4().hex,
                "expires_at": now + timedelta(days=1),
            }
        ],
    )
    job_id = uuid.uuid4()
    await insert_rows(session, models.BackgroundJob, [{"id": job_id, "user_id": user_id, "kind": "rls"}])
    insight_id = uuid.uuid4()
    await insert_rows(
        session,
        models.Insight,
        [
            {
                "id": insight_id,
                "user_id": user_id,
                "rule_id": rule_id,
                "job_id": job_id,
                "subject_type": "user",
                "fingerprint": f"rls {user_id}",
                "title": "Insight",
                "body": "Body",
                "severity": "info",
                "score": 1.0,
                "provider": "test",
                "model": "test",
            }
        ],
    )
    await insert_rows(session, models.HrmUserPreferences, [{"user_id": user_id}])
    await insert_rows(
        session,
        models.HrmFeedback,
        [{"user_id": user_id, "insight_id": insight_id, "rule_id": rule_id, "kind": "helpful"}],
    )


@pytest.fixture(scope="module")
async def world(engine: AsyncEngine) -> World:
    """Written by the owner (the test's engine), whom RLS does not filter."""
    async with session_factory(engine)() as session, session.begin():
        a, b = await create_users(session, 2, name="Tenant")
        rule_id = (await session.execute(sa.text("SELECT id FROM hrm_rules LIMIT 1"))).scalar_one()
        for user_id in (a, b):
            await _rows_of_user(session, user_id, rule_id)
    return World(a, b)


@pytest.fixture(scope="module")
async def app_engine(database_url: str, settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The application's engine, as serve and the worker make it (the app role, RLS on)."""
    made = create_engine(database_url, settings)
    yield made
    await made.dispose()


def _key(table: sa.Table) -> list[sa.Column[Any]]:
    return list(table.primary_key.columns)


def _tenant_level(policy: access.Policy) -> access.Policy:
    """The policy as the database holds it: membership of the organization, whatever the role."""
    if isinstance(policy, access.Members):
        return dataclasses.replace(policy, roles=None, permission=None)
    if isinstance(policy, access.AnyOf):
        return access.AnyOf(*(_tenant_level(p) for p in policy.policies))
    if isinstance(policy, access.Published):
        return dataclasses.replace(policy, otherwise=_tenant_level(policy.otherwise))
    return policy


def _writable(policy: access.Policy) -> access.Policy:
    """The part of a policy that also bounds writes: rows readable through another table's rows
    (`Referenced`: the co-members' accounts) and published rows (Akashic's shared corpus) are the
    database's read-only policy (`quintet_read_also`)."""
    if isinstance(policy, access.Published):
        return policy.otherwise
    if isinstance(policy, access.AnyOf):
        kept = [part for part in policy.policies if not isinstance(part, access.Referenced)]
        return kept[0] if len(kept) == 1 else access.AnyOf(*kept)
    return policy


def _oracle(table: sa.Table, viewer: Actor | None) -> sa.Select[Any]:
    """The rows the application's policy gives `viewer` (at the database's granularity; None:
    anyone, signed in or not, which is the published rows)."""
    who = access.Who(sa.literal(viewer and viewer.user_id, sa.Uuid()), sa.literal(None, sa.Uuid()))
    return sa.select(*_key(table)).where(_tenant_level(access.policy_of(table)).condition(table, who))


async def _keys(conn_or_session: Any, statement: sa.Select[Any]) -> set[tuple[Any, ...]]:
    return {tuple(row) for row in (await conn_or_session.execute(statement)).all()}


@pytest.fixture(scope="module")
async def expected(engine: AsyncEngine, world: World) -> dict[str, dict[str, set[tuple[Any, ...]]]]:
    """Per table: every row (`all`) and the rows of A's and of B's (`a`, `b`), read by the owner."""
    found: dict[str, dict[str, set[tuple[Any, ...]]]] = {}
    async with engine.connect() as conn:
        for name, table in DECLARED.items():
            found[name] = {
                "all": await _keys(conn, sa.select(*_key(table))),
                "a": await _keys(conn, _oracle(table, actor(world.a))),
                "b": await _keys(conn, _oracle(table, actor(world.b))),
                "anyone": await _keys(conn, _oracle(table, None)),
            }
    return found


async def test_every_aurum_table_and_every_user_or_tenant_table_is_covered() -> None:
    assert set(AURUM_TABLES) <= set(DECLARED)
    assert {"users", "organizations", "memberships", "invitations", "audit_events", "notifications"} <= set(DECLARED)
    assert access.undeclared(models.metadata.tables.values()) == []


async def _read_in_transaction(app_engine: AsyncEngine, table: sa.Table) -> set[tuple[Any, ...]]:
    async with session_factory(app_engine)() as session, session.begin():
        return await _keys(session, sa.select(*_key(table)))


async def _read_autocommit(app_engine: AsyncEngine, table: sa.Table) -> set[tuple[Any, ...]]:
    async with reader(app_engine).connect() as conn:
        return await _keys(conn, sa.select(*_key(table)))


_SHAPES: dict[str, Shape] = {}


async def _read_shape(app_engine: AsyncEngine, table: sa.Table) -> set[tuple[Any, ...]]:
    shape = _SHAPES.setdefault(table.name, Shape(sa.select(*_key(table))))
    async with reader(app_engine).connect() as conn:
        return {tuple(row) for row in await shape.fetch(conn, {})}


READS = {"transaction": _read_in_transaction, "autocommit": _read_autocommit, "shape": _read_shape}


@pytest.mark.parametrize("path", sorted(READS))
@pytest.mark.parametrize("name", sorted(DECLARED))
async def test_a_read_that_skips_the_policy_returns_only_the_actors_rows(
    app_engine: AsyncEngine, world: World, expected: dict[str, dict[str, set[tuple[Any, ...]]]], name: str, path: str
) -> None:
    table, read, rows = DECLARED[name], READS[path], expected[name]
    assert rows["a"], f"A has no {name} to read"
    assert rows["b"] - rows["a"], f"B has no {name} that A may not read"
    with acting(actor(world.a)):
        assert await read(app_engine, table) == rows["a"]
    with acting(actor(world.b)):
        assert await read(app_engine, table) == rows["b"]


@pytest.mark.parametrize("path", sorted(READS))
@pytest.mark.parametrize("name", sorted(DECLARED))
async def test_without_an_actor_nothing_is_readable_and_the_system_reads_everything(
    app_engine: AsyncEngine, world: World, expected: dict[str, dict[str, set[tuple[Any, ...]]]], name: str, path: str
) -> None:
    table, read = DECLARED[name], READS[path]
    # Published rows (the shared corpus) are everyone's to read; nothing else.
    with acting(None):
        assert await read(app_engine, table) == expected[name]["anyone"]
    with acting(Actor.webhook("stripe")):
        assert await read(app_engine, table) == expected[name]["anyone"]
    with acting(Actor.system("test")):
        # The module's rows, and maybe other tests' (the database is shared within the process).
        assert expected[name]["all"] <= await read(app_engine, table)


def _scope_change(table: sa.Table, world: World) -> tuple[str, Any]:
    """A change that would move a row of A's out of A's reach: to B, or to an organization A is
    not a member of."""
    policy = _writable(access.policy_of(table))
    if isinstance(policy, access.Owned):
        return policy.column, world.b
    if isinstance(policy, access.Members):
        return policy.column, uuid.uuid4()
    if isinstance(policy, access.Inherited):  # to a parent A can't read
        return policy.key, uuid.uuid4()
    raise AssertionError(f"no scope change for {policy!r}")


WRITABLE = sorted(name for name in DECLARED if name != "audit_events")


def _refused(error: BaseException) -> bool:
    cause = error.orig.__cause__ if isinstance(error, DBAPIError) and error.orig is not None else error
    return isinstance(cause, asyncpg.InsufficientPrivilegeError)


@pytest.mark.parametrize("name", WRITABLE)
async def test_another_tenants_rows_cant_be_written_and_no_row_can_be_given_away(
    engine: AsyncEngine,
    app_engine: AsyncEngine,
    world: World,
    expected: dict[str, dict[str, set[tuple[Any, ...]]]],
    name: str,
) -> None:
    table, rows = DECLARED[name], expected[name]
    key = _key(table)
    column, value = _scope_change(table, world)
    others = sorted(rows["b"] - rows["a"])
    if name == "users":  # A reads the co-members' rows too (their names), and writes only their own
        others += sorted(rows["a"] - {(world.a,)})
        mine: tuple[Any, ...] = (world.a,)
    else:  # a row of A's own, not a published one (which nobody but the owner writes)
        mine = sorted(rows["a"] - rows["anyone"])[0]

    def by_keys(found: list[tuple[Any, ...]]) -> sa.ColumnElement[bool]:
        return sa.tuple_(*key).in_(found)

    with acting(actor(world.a)):
        async with session_factory(app_engine)() as session, session.begin():
            touched = await session.execute(
                sa.update(table).where(by_keys(others)).values({column: table.c[column]}).returning(*key)
            )
            assert touched.all() == []
            deleted = await session.execute(sa.delete(table).where(by_keys(others)).returning(*key))
            assert deleted.all() == []
        with pytest.raises(DBAPIError) as refused:
            async with session_factory(app_engine)() as session, session.begin():
                await session.execute(sa.update(table).where(by_keys([mine])).values({column: value}))
        assert _refused(refused.value), refused.value
    async with engine.connect() as conn:  # as the owner: nothing changed
        assert await _keys(conn, sa.select(*key).where(by_keys(others))) == set(others)
        assert await _keys(conn, sa.select(*key).where(by_keys([mine]), table.c[column] != value)) == {mine}


async def test_the_audit_trail_is_appended_to_for_oneself_only_and_never_changed(
    app_engine: AsyncEngine, world: World, expected: dict[str, dict[str, set[tuple[Any, ...]]]]
) -> None:
    events = DECLARED["audit_events"]
    event = {
        "actor_kind": "user",
        "actor_user_id": world.a,
        "action": "Task.update",
        "target_table": "tasks",
        "target_id": str(uuid.uuid4()),
    }
    with acting(actor(world.a)):
        async with session_factory(app_engine)() as session, session.begin():
            await session.execute(sa.insert(events).values(id=uuid.uuid4(), user_id=world.a, **event))
            # The record of A's own action on an organization A can no longer read (just deleted).
            gone = {**event, "action": "Organization.delete", "target_table": "organizations"}
            await session.execute(sa.insert(events).values(id=uuid.uuid4(), organization_id=uuid.uuid4(), **gone))
        for change in (
            sa.insert(events).values(id=uuid.uuid4(), user_id=world.b, **event),  # about B's data
            sa.insert(events).values(id=uuid.uuid4(), **{**event, "actor_user_id": world.b}),  # as B
            sa.update(events).values(action="Task.delete"),
            sa.delete(events),
        ):
            with pytest.raises(DBAPIError) as refused:
                async with session_factory(app_engine)() as session, session.begin():
                    await session.execute(change)
            assert _refused(refused.value), refused.value


async def test_the_app_role_is_no_superuser_bypasses_nothing_and_owns_nothing(
    app_engine: AsyncEngine, app: Starlette
) -> None:
    # The test suite's engine and the app's (the embedded server's default path is the same
    # `create_engine`: its owner login becomes the app role at connection start).
    for made in (app_engine, app.state.runtime.engine):
        async with reader(made).connect() as conn:
            assert (await conn.execute(sa.text("SELECT current_user"))).scalar_one() == APP_ROLE
            raw = await conn.get_raw_connection()
            assert await app_role_problem(raw.driver_connection) is None
        async with made.connect() as conn:
            assert (await conn.execute(sa.text("SELECT current_user"))).scalar_one() == APP_ROLE


async def test_the_owner_would_be_refused_as_the_apps_connection(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert await app_role_problem(raw.driver_connection) is not None


@pytest.mark.parametrize("name", sorted(DECLARED))
async def test_each_declared_table_has_the_database_policy_its_declaration_gives(
    engine: AsyncEngine, name: str
) -> None:
    """The database's policy is `migrations.rls.condition_for(the declared policy)`: compared as
    Postgres deparses both (the expected one created on a scratch copy of the table)."""
    declared = access.policy_of(DECLARED[name])
    # Written for the probe table below (an `Inherited` policy names its own table's columns).
    condition = condition_for(_tenant_level(_writable(declared)), "rls_probe")
    async with engine.connect() as conn:
        enabled = await conn.execute(
            sa.text("SELECT relrowsecurity FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": name}
        )
        assert enabled.scalar_one() is True
        actual = (
            await conn.execute(
                sa.text("SELECT qual, with_check FROM pg_policies WHERE tablename = :t AND policyname = :p"),
                {"t": name, "p": ROWS_POLICY},
            )
        ).one()
        await conn.execute(sa.text(f"CREATE TEMP TABLE rls_probe (LIKE {name})"))
        expression = rows_condition(condition)
        await conn.execute(sa.text(f"CREATE POLICY probe ON rls_probe USING ({expression}) WITH CHECK ({expression})"))
        probe = (
            await conn.execute(sa.text("SELECT qual, with_check FROM pg_policies WHERE tablename = 'rls_probe'"))
        ).one()
        read_only = (
            (
                await conn.execute(
                    sa.text("SELECT cmd FROM pg_policies WHERE tablename = :t AND policyname = 'quintet_read_also'"),
                    {"t": name},
                )
            )
            .scalars()
            .all()
        )
        await conn.rollback()
    assert tuple(actual) == tuple(None if text is None else text.replace("rls_probe.", f"{name}.") for text in probe)
    # Rows readable through another table's (a co-member's account) have a read-only policy of their own.
    assert read_only == (["SELECT"] if _writable(declared) != declared else [])


def _nodes(plan: Any) -> Iterator[Any]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


async def test_a_wrapped_read_sets_the_actor_before_it_reads(
    app_engine: AsyncEngine, world: World, expected: dict[str, dict[str, set[tuple[Any, ...]]]]
) -> None:
    """The settings are an InitPlan of a gating Result (a one-time filter) above every scan:
    Postgres sets them before it reads a row (were it not so, the read would see no settings
    and return nothing, and the reads above would fail)."""
    tasks = DECLARED[Task.__tablename__]
    statement = sa.select(tasks.c.id).order_by(tasks.c.position).limit(sa.bindparam("n", 5))
    sql = str(statement.compile(app_engine.sync_engine))
    async with reader(app_engine).connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        explained = await driver.fetchval(f"EXPLAIN (FORMAT JSON) {wrapped(sql)}", 5, "user", str(world.a), "")
        plan = json.loads(explained)[0]["Plan"] if isinstance(explained, str) else explained[0]["Plan"]
        with acting(actor(world.a)):
            ids = {row[0] for row in (await conn.execute(statement, {"n": 5})).all()}
    assert plan["Node Type"] == "Result"
    assert plan["One-Time Filter"].endswith("IS NOT NULL)")
    initplans = [node for node in plan["Plans"] if node.get("Parent Relationship") == "InitPlan"]
    assert len(initplans) == 1
    assert "Relation Name" not in str(initplans[0])
    assert any(node.get("Relation Name") == "tasks" for node in _nodes(plan))
    assert {(pk,) for pk in ids} == expected["tasks"]["a"]  # all of A's (fewer than the limit)


async def test_signing_in_works_as_the_app_role(app_engine: AsyncEngine, world: World) -> None:
    """Nobody is signed in while signing in: the account is found as the system (a user sees
    no other user's row, so as anyone else it would not be)."""
    users = DECLARED[User.__tablename__]
    with acting(actor(world.b)):
        async with reader(app_engine).connect() as conn:
            assert world.a not in {row[0] for row in (await conn.execute(sa.select(users.c.id))).all()}
    with acting(Actor.system("login")):
        async with session_factory(app_engine)() as session, session.begin():
            email = (await session.execute(sa.select(users.c.email).where(users.c.id == world.a))).scalar_one()
            found = await find_user_by_email(session, f"  {email.upper()} ")
            # Under RLS, lower(email) can't use its index: the lookup goes by the id instead.
            await session.execute(sa.text("SET LOCAL enable_seqscan = off"))
            plan = (
                await session.execute(
                    sa.text("EXPLAIN SELECT id FROM users WHERE id = (SELECT quintet_account_id(:email))"),
                    {"email": email},
                )
            ).all()
    assert found is not None
    assert found.id == world.a
    assert "using pk_users" in plan[0][0]
    assert plan[1][0].strip().startswith("Index Cond: (id = ")


LOGIN_ROLE = "quintet_test_app_login"


async def test_database_app_url_logs_in_as_a_role_of_the_app_role_itself(
    engine: AsyncEngine,
    database_url: str,
    data_dir: Path,
    world: World,
    expected: dict[str, dict[str, set[tuple[Any, ...]]]],
) -> None:
    """Behind PgBouncer, which refuses the startup setting `role`, the app logs in as a role that
    holds the app role's privileges (and, like it, bypasses nothing)."""
    async with engine.connect() as conn:
        await conn.execute(
            sa.text(
                f"DO $$ BEGIN CREATE ROLE {LOGIN_ROLE} LOGIN INHERIT IN ROLE {APP_ROLE}; "
                "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            )
        )
        await conn.commit()
    app_url = make_url(database_url).set(username=LOGIN_ROLE).render_as_string(hide_password=False)
    settings = make_settings(database_url, data_dir, database_app_url=app_url)
    assert resolve_app_database_url(settings, database_url) == to_async_url(app_url)
    made = create_engine(resolve_app_database_url(settings, database_url), settings)
    try:
        with acting(actor(world.a)):
            async with reader(made).connect() as conn:
                assert (await conn.execute(sa.text("SELECT current_user"))).scalar_one() == LOGIN_ROLE
                found = await _keys(conn, sa.select(DECLARED["tasks"].c.id))
                raw = await conn.get_raw_connection()
                assert await app_role_problem(raw.driver_connection) is None
            # The one-statement reads' raw connections log in the same way and tell the actor.
            reads = read_pool(made)
            assert reads is not None
            direct = {tuple(row) for row in await Shape(sa.select(DECLARED["tasks"].c.id)).fetch_direct(reads, {})}
            (role,) = await reads.fetch("SELECT current_user", (), asyncpg.Record)
    finally:
        await made.dispose()
    assert found == expected["tasks"]["a"]
    assert direct == found
    assert role[0] == LOGIN_ROLE


async def test_production_refuses_a_connection_past_the_wall(database_url: str, data_dir: Path) -> None:
    """The owner's login as the app's own (DATABASE_APP_URL): a superuser here, refused at start."""
    production = make_settings(
        database_url, data_dir, mode=Mode.PRODUCTION, jwt_private_key=signing_key(), database_app_url=database_url
    )
    with pytest.raises(ConfigurationError, match=r"would bypass row-level security: its role \S+ is a superuser"):
        await check_app_database(resolve_app_database_url(production, database_url), production)
    # And should it start anyway (the database was unreachable then), every connection it makes
    # checks itself.
    made = create_engine(resolve_app_database_url(production, database_url), production)
    try:
        with pytest.raises(ConfigurationError, match=r"would bypass row-level security"):
            async with made.connect():
                pass
        reads = read_pool(made)  # the one-statement reads' raw connections check themselves too
        assert reads is not None
        with pytest.raises(ConfigurationError, match=r"would bypass row-level security"):
            await reads.fetch("SELECT 1", (), asyncpg.Record)
    finally:
        await made.dispose()
    # As made by default (the owner's login becomes the app role), it starts.
    default = make_settings(database_url, data_dir, mode=Mode.PRODUCTION, jwt_private_key=signing_key())
    await check_app_database(resolve_app_database_url(default, database_url), default)


async def test_the_actors_settings_are_validated_and_carried_by_the_begin(
    app_engine: AsyncEngine, world: World
) -> None:
    for wrong in (
        lambda: DatabaseActor("admin"),
        lambda: DatabaseActor("user", "1; DROP TABLE users"),
        lambda: DatabaseActor("user", str(world.a).upper()),
        lambda: DatabaseActor("system", str(world.a)),
        lambda: DatabaseActor("webhook", "", str(world.a)),
    ):
        with pytest.raises(ValueError, match=r"actor kind|canonical uuid|carries no"):
            wrong()
    assert DatabaseActor.of(actor(world.a)) == DatabaseActor("user", str(world.a))
    client = Actor.api_client("partner", world.b)
    assert DatabaseActor.of(client) == DatabaseActor("api_client", "", str(world.b))
    with acting(actor(world.a)):
        async with session_factory(app_engine)() as session, session.begin():
            settings = (
                await session.execute(
                    sa.text(
                        "SELECT current_setting('quintet.actor_kind'), current_setting('quintet.user_id'), "
                        "current_setting('quintet.organization_id')"
                    )
                )
            ).one()
    assert tuple(settings) == ("user", str(world.a), "")
