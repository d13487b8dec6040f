"""One read policy per table (core.access): declared once, applied by one function, and no file
filters by owner by hand."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from core import access
from core.access import (
    OWNED,
    AnyOf,
    Inherited,
    Members,
    Owned,
    Published,
    Referenced,
    access_params,
    readable,
    readable_rows,
)
from core.context import Actor
from core.reads import Shape

ROOT = Path(__file__).resolve().parent.parent
#: Where application code lives; core/access.py is the one place allowed to build the condition.
SOURCES = ("core", "services", "resolvers", "schema", "loaders", "products", "models")
SCOPING_COLUMNS = frozenset({"user_id", "organization_id"})
ACTOR_NAMES = frozenset(
    {"actor", "viewer", "viewer_param", "viewer_id", "VIEWER", "claims", "client_organization_param"}
)


def _names(node: ast.AST) -> set[str]:
    """Every name and attribute name mentioned in an expression."""
    found: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
    return found


def _is_scoping_column(node: ast.AST) -> bool:
    """`x.user_id`, `x.c.user_id`, `col(X.user_id)`, `x.c["user_id"]` (and organization_id)."""
    if isinstance(node, ast.Call) and len(node.args) == 1:
        node = node.args[0]
    if isinstance(node, ast.Attribute):
        return node.attr in SCOPING_COLUMNS
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return node.slice.value in SCOPING_COLUMNS
    return False


def owner_filters_by_hand(source: str) -> list[int]:
    """Lines that compare a user/organization column with the actor (or test it `.in_` a set of
    the actor's): what `core.access.readable` is for."""
    lines: list[int] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and len(node.comparators) == 1:
            left, right = node.left, node.comparators[0]
            for column, other in ((left, right), (right, left)):
                if _is_scoping_column(column) and ACTOR_NAMES & _names(other):
                    lines.append(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"in_", "any_"}
            and _is_scoping_column(node.func.value)
            and any(ACTOR_NAMES & _names(arg) for arg in node.args)
        ):
            lines.append(node.lineno)
    return sorted(set(lines))


def _application_files() -> Iterator[Path]:
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path != ROOT / "core" / "access.py":
                yield path


def test_the_lint_finds_an_owner_filter_written_by_hand() -> None:
    # The check can fail: each of these filters by owner outside core.access
    bad = [
        "q.where(t.c.user_id == actor.user_id)",
        "q.where(Task.user_id == actor.user_id)",
        "q.where(col(Notification.user_id) == actor.user_id)",
        "q.where(viewer_param() == t.c['user_id'])",
        "q.where(t.c.organization_id.in_(actor_organizations(actor)))",
        "q.where(rows.c.user_id == sa.literal(actor.user_id, sa.Uuid))",
    ]
    for snippet in bad:
        assert owner_filters_by_hand(snippet) == [1], snippet
    # and these are not: a join between two tables' owners, a business filter, a write's value
    good = [
        "q.outerjoin(p, p.c.user_id == i.c.user_id)",
        "q.where(t.c.user_id.in_(user_ids))",
        "Task(user_id=actor.user_id)",
        "q.where(readable(t, actor))",
    ]
    for snippet in good:
        assert owner_filters_by_hand(snippet) == [], snippet


def test_no_application_file_filters_by_owner_by_hand() -> None:
    offenders = {
        str(path.relative_to(ROOT)): lines
        for path in _application_files()
        if (lines := owner_filters_by_hand(path.read_text()))
    }
    assert offenders == {}, "use core.access.readable (the table's read policy) instead"


def test_every_table_with_an_owner_declares_its_read_policy() -> None:
    for module in pkgutil.iter_modules([str(ROOT / "models")]):
        importlib.import_module(f"models.{module.name}")
    assert access.undeclared(SQLModel.metadata.tables.values()) == []
    assert access.policy_of(SQLModel.metadata.tables["tasks"]) == OWNED


def test_a_table_declares_one_policy() -> None:
    table = sa.Table(
        "access_once", sa.MetaData(), sa.Column("id", sa.Uuid, primary_key=True), sa.Column("user_id", sa.Uuid)
    )
    access.declare(table, OWNED)
    access.declare(table, OWNED)  # the same again: fine
    with pytest.raises(ValueError, match="already has the read policy"):
        access.declare(table, Owned("id"))
    with pytest.raises(LookupError, match="declares no read policy"):
        readable(sa.Table("access_none", sa.MetaData(), sa.Column("user_id", sa.Uuid)))


# --------------------------------------------------------------- the policies, on real rows

META = sa.MetaData()
MEMBERSHIPS = sa.Table(
    "access_memberships",
    META,
    sa.Column("user_id", sa.Uuid, nullable=False),
    sa.Column("organization_id", sa.Uuid, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
)
NOTES = sa.Table(
    "access_notes",
    META,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid, nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True)),
)
CAMPAIGNS = sa.Table(
    "access_campaigns",
    META,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("organization_id", sa.Uuid, nullable=False),
)
BUDGETS = sa.Table(
    "access_budgets",
    META,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("organization_id", sa.Uuid, nullable=False),
)
LINES = sa.Table(
    "access_lines",
    META,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("campaign_id", sa.Uuid, nullable=False),
)
#: Like the audit trail: a user's own rows, and their organization's for its owners.
TRAILS = sa.Table(
    "access_trails",
    META,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid),
    sa.Column("organization_id", sa.Uuid),
)
#: Like the users: read by themselves and their co-members; the email only by themselves and the
#: owners of an organization they are in.
PEOPLE = sa.Table(
    "access_people",
    META,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=False),
)
access.declare(
    PEOPLE,
    AnyOf(Owned("id"), Referenced(MEMBERSHIPS, "user_id", Members(MEMBERSHIPS))),
    columns={
        "email": AnyOf(
            Owned("id"), Referenced(MEMBERSHIPS, "user_id", Members(MEMBERSHIPS, roles=frozenset({"owner"})))
        )
    },
)
access.declare(NOTES, Published(otherwise=OWNED))
access.declare(TRAILS, AnyOf(Owned(), Members(MEMBERSHIPS, roles=frozenset({"owner"}))))
access.declare(CAMPAIGNS, Members(MEMBERSHIPS))
access.declare(BUDGETS, Members(MEMBERSHIPS, roles=frozenset({"owner", "treasurer"})))
access.declare(LINES, Inherited(CAMPAIGNS, "campaign_id"))

ALICE, BOB, CAROL = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
ORG_A, ORG_B = uuid.uuid4(), uuid.uuid4()
PEOPLE_NAMES = {ALICE: "alice", BOB: "bob", CAROL: "carol"}


def user(pk: uuid.UUID) -> Actor:
    return Actor(user_id=pk, role="user")


@pytest.fixture
async def world(engine: AsyncEngine) -> AsyncIterator[dict[str, uuid.UUID]]:
    ids = {
        name: uuid.uuid4() for name in ("alice_note", "bob_note", "bob_public", "camp_a", "camp_b", "line_a", "line_b")
    }
    ids |= {"budget_a": uuid.uuid4(), "budget_b": uuid.uuid4()}
    ids |= {"trail_alice": uuid.uuid4(), "trail_bob_in_a": uuid.uuid4(), "trail_carol_in_b": uuid.uuid4()}
    async with engine.begin() as conn:
        await conn.run_sync(META.create_all)
        await conn.execute(
            MEMBERSHIPS.insert(),
            [
                {"user_id": ALICE, "organization_id": ORG_A, "role": "owner"},
                {"user_id": BOB, "organization_id": ORG_A, "role": "volunteer"},
                {"user_id": CAROL, "organization_id": ORG_B, "role": "owner"},
            ],
        )
        await conn.execute(
            NOTES.insert(),
            [
                {"id": ids["alice_note"], "user_id": ALICE, "published_at": None},
                {"id": ids["bob_note"], "user_id": BOB, "published_at": None},
                {"id": ids["bob_public"], "user_id": BOB, "published_at": datetime.now(UTC)},
            ],
        )
        await conn.execute(
            CAMPAIGNS.insert(),
            [{"id": ids["camp_a"], "organization_id": ORG_A}, {"id": ids["camp_b"], "organization_id": ORG_B}],
        )
        await conn.execute(
            BUDGETS.insert(),
            [{"id": ids["budget_a"], "organization_id": ORG_A}, {"id": ids["budget_b"], "organization_id": ORG_B}],
        )
        await conn.execute(
            TRAILS.insert(),
            [
                {"id": ids["trail_alice"], "user_id": ALICE, "organization_id": None},
                {"id": ids["trail_bob_in_a"], "user_id": BOB, "organization_id": ORG_A},
                {"id": ids["trail_carol_in_b"], "user_id": CAROL, "organization_id": ORG_B},
            ],
        )
        await conn.execute(
            PEOPLE.insert(),
            [{"id": pk, "name": name, "email": f"{name}@example.com"} for pk, name in PEOPLE_NAMES.items()],
        )
        await conn.execute(
            LINES.insert(),
            [{"id": ids["line_a"], "campaign_id": ids["camp_a"]}, {"id": ids["line_b"], "campaign_id": ids["camp_b"]}],
        )
    yield ids
    async with engine.begin() as conn:
        await conn.run_sync(META.drop_all)


async def _visible(engine: AsyncEngine, table: sa.Table, actor: Actor) -> set[uuid.UUID]:
    """The ids `actor` reads in `table`, by both forms of the condition, which must agree."""
    async with engine.connect() as conn:
        bound = {row.id for row in (await conn.execute(sa.select(table.c.id).where(readable(table, actor)))).all()}
        shape = Shape(sa.select(table.c.id).where(readable(table)))
        shaped = {row.id for row in await shape.fetch(conn, access_params(actor))}
    assert bound == shaped
    return bound


async def test_owned_and_published(engine: AsyncEngine, world: dict[str, uuid.UUID]) -> None:
    # A user reads their own notes and everyone's published ones
    assert await _visible(engine, NOTES, user(ALICE)) == {world["alice_note"], world["bob_public"]}
    assert await _visible(engine, NOTES, user(BOB)) == {world["bob_note"], world["bob_public"]}
    # An API client reads no user's private rows, only what is published
    assert await _visible(engine, NOTES, Actor.api_client("partner", ORG_A)) == {world["bob_public"]}


async def test_members_by_organization_and_role(engine: AsyncEngine, world: dict[str, uuid.UUID]) -> None:
    # Members read their organizations' rows, whatever their role...
    assert await _visible(engine, CAMPAIGNS, user(ALICE)) == {world["camp_a"]}
    assert await _visible(engine, CAMPAIGNS, user(BOB)) == {world["camp_a"]}
    assert await _visible(engine, CAMPAIGNS, user(CAROL)) == {world["camp_b"]}
    # ...and a table open to some roles only is read by those roles only
    assert await _visible(engine, BUDGETS, user(ALICE)) == {world["budget_a"]}
    assert await _visible(engine, BUDGETS, user(BOB)) == set()
    # (no API client holds a role: a table kept for some roles is none of its organization's clients')
    assert await _visible(engine, BUDGETS, Actor.api_client("partner", ORG_A)) == set()
    # A stranger reads nothing; an API client reads its own organization's rows
    assert await _visible(engine, CAMPAIGNS, user(uuid.uuid4())) == set()
    assert await _visible(engine, CAMPAIGNS, Actor.api_client("partner", ORG_B)) == {world["camp_b"]}


async def test_a_removed_member_loses_access_at_once(engine: AsyncEngine, world: dict[str, uuid.UUID]) -> None:
    assert await _visible(engine, CAMPAIGNS, user(BOB)) == {world["camp_a"]}
    async with engine.begin() as conn:
        await conn.execute(MEMBERSHIPS.delete().where(MEMBERSHIPS.c.user_id == BOB))
    assert await _visible(engine, CAMPAIGNS, user(BOB)) == set()


async def test_any_of_several_policies(engine: AsyncEngine, world: dict[str, uuid.UUID]) -> None:
    # An owner of organization A reads their own rows and A's; a volunteer of A only their own
    assert await _visible(engine, TRAILS, user(ALICE)) == {world["trail_alice"], world["trail_bob_in_a"]}
    assert await _visible(engine, TRAILS, user(BOB)) == {world["trail_bob_in_a"]}
    assert await _visible(engine, TRAILS, user(CAROL)) == {world["trail_carol_in_b"]}
    # A stranger reads nothing; nor does an API client: its organization's rows here are its
    # owners' (a client holds no role)
    assert await _visible(engine, TRAILS, user(uuid.uuid4())) == set()
    assert await _visible(engine, TRAILS, Actor.api_client("partner", ORG_A)) == set()
    # Equal declarations are one policy; an empty one is refused
    assert AnyOf(Owned(), OWNED) == AnyOf(Owned(), Owned())
    with pytest.raises(ValueError, match="at least one policy"):
        AnyOf()


async def test_inherited_from_the_parent(engine: AsyncEngine, world: dict[str, uuid.UUID]) -> None:
    assert await _visible(engine, LINES, user(BOB)) == {world["line_a"]}
    assert await _visible(engine, LINES, user(CAROL)) == {world["line_b"]}


async def test_the_system_reads_everything_and_a_webhook_nothing(
    engine: AsyncEngine, world: dict[str, uuid.UUID]
) -> None:
    async with engine.connect() as conn:
        every = set((await conn.execute(sa.select(CAMPAIGNS.c.id))).scalars())
        system = set(
            (await conn.execute(sa.select(CAMPAIGNS.c.id).where(readable(CAMPAIGNS, Actor.system("test"))))).scalars()
        )
        hook = set(
            (
                await conn.execute(sa.select(CAMPAIGNS.c.id).where(readable(CAMPAIGNS, Actor.webhook("stripe"))))
            ).scalars()
        )
    assert system == every == {world["camp_a"], world["camp_b"]}
    assert hook == set()


async def _people(engine: AsyncEngine, actor: Actor) -> dict[str, str | None]:
    """Each person `actor` reads, with their email as `actor` sees it, by both forms (which agree)."""
    async with engine.connect() as conn:
        statement = sa.select(PEOPLE.c.name, access.shown(PEOPLE, "email", actor).label("email")).where(
            readable(PEOPLE, actor)
        )
        bound = {row.name: row.email for row in (await conn.execute(statement)).all()}
        shaped = {row.name: row.email for row in await readable_rows(PEOPLE).fetch(conn, access_params(actor))}
    assert bound == shaped
    return bound


async def test_referenced_rows_and_hidden_columns(engine: AsyncEngine, world: dict[str, uuid.UUID]) -> None:
    # Alice owns A, where Bob volunteers; Carol owns B alone
    assert await _people(engine, user(ALICE)) == {"alice": "alice@example.com", "bob": "bob@example.com"}
    assert await _people(engine, user(BOB)) == {"alice": None, "bob": "bob@example.com"}
    assert await _people(engine, user(CAROL)) == {"carol": "carol@example.com"}
    assert await _people(engine, user(uuid.uuid4())) == {}
    # An API client reads its organization's rows (memberships) and so its members, without their
    # emails (what `Members` keeps for some roles, no client reads: it holds none); the system
    # everything; a webhook nothing
    assert await _people(engine, Actor.api_client("partner", ORG_B)) == {"carol": None}
    everyone = {name: f"{name}@example.com" for name in PEOPLE_NAMES.values()}
    async with engine.connect() as conn:
        system = Actor.system("test")
        statement = sa.select(PEOPLE.c.name, access.shown(PEOPLE, "email", system).label("email"))
        assert {r.name: r.email for r in (await conn.execute(statement.where(readable(PEOPLE, system))))} == everyone
        hook = Actor.webhook("stripe")
        assert (await conn.execute(statement.where(readable(PEOPLE, hook)))).all() == []
    # A column without a policy is the column itself
    assert access.shown(PEOPLE, "name") is PEOPLE.c.name
    # Bob leaves A: Alice no longer reads him, he reads only himself
    async with engine.begin() as conn:
        await conn.execute(MEMBERSHIPS.delete().where(MEMBERSHIPS.c.user_id == BOB))
    assert await _people(engine, user(ALICE)) == {"alice": "alice@example.com"}
    assert await _people(engine, user(BOB)) == {"bob": "bob@example.com"}


def test_hidden_columns_are_declared_once_and_never_the_key() -> None:
    table = sa.Table(
        "access_hidden", sa.MetaData(), sa.Column("id", sa.Uuid, primary_key=True), sa.Column("secret", sa.Text)
    )
    with pytest.raises(ValueError, match="has no column nope"):
        access.declare(table, Owned("id"), columns={"nope": Owned("id")})
    with pytest.raises(ValueError, match="primary key"):
        access.declare(table, Owned("id"), columns={"id": Owned("id")})
    access.declare(table, Owned("id"), columns={"secret": Owned("id")})
    access.declare(table, Owned("id"), columns={"secret": Owned("id")})  # the same again: fine
    with pytest.raises(ValueError, match="already declares the policies of its columns"):
        access.declare(table, Owned("id"), columns={"secret": OWNED})
    assert dict(access.column_policies(table)) == {"secret": Owned("id")}


def test_the_table_behind_rows() -> None:
    from models.identity import User

    users = User.__table__  # type: ignore[attr-defined]
    assert access.table_of(User) is users
    assert access.table_of(users) is users
    assert access.table_of(users.alias("u")) is users
    with pytest.raises(TypeError, match="is not a table"):
        access.table_of(users.select().subquery())


def test_the_loaders_shape_is_the_policy() -> None:
    from models.aurum import Task
    from services.owned import table

    rendered = str(readable_rows(table(Task)).statement)
    assert "tasks.user_id = :viewer_id" in rendered
