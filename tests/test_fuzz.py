"""Property-based fuzzing of the whole graph: no document may make the server fail.

hypothesis-graphql generates queries and mutations from the committed `schema.graphql` (valid
ones, and ones with one schema violation). Their arguments are filled with the real global ids
of a seeded world (and ids of another user's objects, of missing objects, of the wrong type,
and malformed ones), valid and invalid `DateTime`, `BigInt` and `JSON` values, and any strings.
Each document is sent, with the world owner's token or none, to two apps over one database: one
in production mode (errors masked, as deployed) and one in dev mode (the same failure unmasked,
which makes a report readable). Every answer must be a 200 or a 4xx refusal, every error must
carry a `code` and none may be `INTERNAL_SERVER_ERROR`, and nothing may be logged at ERROR or
with a traceback, nor at WARNING by our own loggers.

The run is deterministic (`derandomize`): the same 800 examples on every machine, about a minute
of CPU. A failure prints the smallest document that still fails.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any

import graphql
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries
from joserfc.jwk import ECKey
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app import create_app
from core.relay import from_global_id, to_global_id
from core.settings import Mode as AppMode
from schema.common import MAX_SAFE_INTEGER
from tests.akashic.factories import create_akashic_campaign
from tests.conftest import ROOT, make_settings
from tests.factories import create_journal, create_notifications, create_resources, create_tree
from tests.jobs_support import drain, worker_settings
from tests.support import GraphQLClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

SCHEMA = graphql.build_schema((ROOT / "schema.graphql").read_text())

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


# ----------------------------------------------------------------------------- values


def _object(fields: dict[str, graphql.ValueNode]) -> graphql.ObjectValueNode:
    return nodes.Object(
        [graphql.ObjectFieldNode(name=graphql.NameNode(value=name), value=value) for name, value in fields.items()]
    )


OFFSETS = [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-1)), timezone(timedelta(hours=14))]
OFFSETS += [timezone(timedelta(hours=-12)), timezone(timedelta(hours=5, minutes=30))]

CALENDAR_EDGES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z"]
CALENDAR_EDGES += ["9999-12-31T23:59:59.999999+00:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59"]
_EDGES = st.sampled_from(CALENDAR_EDGES).map(nodes.String)
DATETIMES = st.one_of(
    st.datetimes(timezones=st.sampled_from(OFFSETS)).map(lambda d: nodes.String(d.isoformat())),
    st.datetimes(timezones=st.sampled_from(OFFSETS)).map(lambda d: nodes.String(d.isoformat())),
    _EDGES,
    st.datetimes().map(lambda d: nodes.String(d.isoformat())),  # no offset
    _EDGES,
    st.sampled_from(["2025-02-30T00:00:00Z", "tomorrow", "", "2025-01-01T25:00:00+00:00"]).map(nodes.String),
    st.text(max_size=30).map(nodes.String),
    st.integers().map(nodes.Int),
)
DATES = st.one_of(
    st.dates().map(lambda d: nodes.String(d.isoformat())),
    st.sampled_from(["2026-02-30", "2026-11-03T00:00:00Z", "", "11/03/2026"]).map(nodes.String),
    st.text(max_size=12).map(nodes.String),
    st.integers().map(nodes.Int),
)
BIG_INTS = st.one_of(
    st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER).map(nodes.Int),
    st.integers().map(nodes.Int),  # beyond 2^53 too
    st.integers(0, 10**6).map(nodes.String),
    st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
    st.booleans().map(nodes.Boolean),
)
_JSON_LEAVES = st.one_of(
    st.just(nodes.Null),
    st.booleans().map(nodes.Boolean),
    st.integers(-(2**31), 2**31 - 1).map(nodes.Int),
    st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
    st.text(max_size=20).map(nodes.String),
)
JSON_VALUES = st.recursive(
    _JSON_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(nodes.List),
        st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), inner, max_size=4).map(_object),
    ),
    max_leaves=8,
)


def id_values(ids: list[str]) -> st.SearchStrategy[graphql.ValueNode]:
    """Mostly real ids (the owner's, another user's, missing ones), some malformed."""
    real = st.sampled_from(ids).map(nodes.String)
    return st.one_of(real, real, real, st.text(max_size=24).map(nodes.String), st.integers().map(nodes.Int))


# ----------------------------------------------------------------------------- the world


@dataclass(repr=False)
class World:
    token: str
    ids: list[str]
    production: httpx.AsyncClient
    dev: httpx.AsyncClient
    records: list[logging.LogRecord]
    seen: Counter[str] = field(default_factory=Counter)
    documents: dict[str, st.SearchStrategy[str]] = field(default_factory=dict)

    def strategy(self, kind: str) -> st.SearchStrategy[str]:
        """Documents of one kind over this world's ids, each root field as likely as any other
        (left to itself, hypothesis-graphql mostly picks the first few)."""
        scalars = {
            "ID": id_values(self.ids),
            "DateTime": DATETIMES,
            "Date": DATES,
            "BigInt": BIG_INTS,
            "JSON": JSON_VALUES,
        }
        make, root, mode = {
            "query": (queries, SCHEMA.query_type, Mode.POSITIVE),
            "mutation": (mutations, SCHEMA.mutation_type, Mode.POSITIVE),
            "invalid": (queries, SCHEMA.query_type, Mode.NEGATIVE),
        }[kind]
        assert root is not None
        per_field = {
            name: make(SCHEMA, fields=[name], custom_scalars=scalars, mode=mode) for name in sorted(root.fields)
        }
        return st.sampled_from(sorted(per_field)).flatmap(per_field.__getitem__)


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.WARNING)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def collected_logs() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    handler = _Collect(records)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)


async def seed(engine: AsyncEngine, user_id: str) -> list[str]:
    """A small hierarchy, journal, resources and notifications; their global ids."""
    pk = from_global_id(user_id)[1]
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        tree = await create_tree(
            session, user_id=pk, pillars=1, areas_per_pillar=2, projects_per_area=1, tasks_per_project=2
        )
        journal = await create_journal(session, user_id=pk, templates=1, entries=2)
        resources = await create_resources(session, user_id=pk, project_ids=tree.projects[:1], task_ids=tree.tasks[:1])
        notifications = await create_notifications(session, user_id=pk, count=2)
        campaign = await create_akashic_campaign(session, user_id=pk)
        await session.commit()
    ids = [user_id]
    for type_name, pks in [
        ("Pillar", tree.pillars),
        ("Area", tree.areas),
        ("Project", tree.projects),
        ("Task", tree.tasks),
        ("JournalTemplate", journal.templates),
        ("JournalEntry", journal.entries),
        ("Resource", resources),
        ("Campaign", [campaign.campaign]),
        ("Message", [campaign.message]),
        ("MessageVersion", [campaign.version]),
        ("MessageTransition", [campaign.transition]),
        ("Notification", notifications),
    ]:
        ids += [to_global_id(type_name, p) for p in pks]
    return ids


@pytest.fixture
async def world(database_url: str, data_dir: Path, engine: AsyncEngine) -> AsyncIterator[World]:
    """A fresh world per test (mutations change it); a production and a dev app sharing one key."""
    key = ECKey.generate_key("P-256", private=True).as_pem(private=True).decode()
    production_app = create_app(make_settings(database_url, data_dir, mode=AppMode.PRODUCTION, jwt_private_key=key))
    dev_settings = make_settings(database_url, data_dir, jwt_private_key=key)
    dev_app = create_app(dev_settings)
    async with (
        production_app.router.lifespan_context(production_app),
        dev_app.router.lifespan_context(dev_app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=production_app), base_url="http://testserver") as prod,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=dev_app), base_url="http://testserver") as dev,
    ):
        gql = GraphQLClient(dev)
        owner, other = await gql.sign_up(), await gql.sign_up()
        ids = await seed(engine, owner.user_id)
        others = await seed(engine, other.user_id)
        ids += [others[0], others[1], others[-1]]  # another user, their pillar, their notification
        ids += [to_global_id("Task", from_global_id(ids[1])[1]), to_global_id("Nothing", from_global_id(ids[1])[1])]
        with collected_logs() as records:
            world = World(owner.token, ids, prod, dev, records)
            world.documents = {kind: world.strategy(kind) for kind in ("query", "mutation", "invalid")}
            yield world
        # The analyses the generated mutations requested run now (offline), so that no later
        # test's worker finds them in the shared queue.
        await drain(worker_settings(dev_settings))
    # The property held; make sure it was not vacuous: valid documents must mostly reach the resolvers.
    for kind in ("query", "mutation"):
        if world.seen[kind]:
            assert world.seen[f"{kind} executed"] >= world.seen[kind] // 2, world.seen


# ----------------------------------------------------------------------------- the property


def faults(mode: str, response: httpx.Response, records: list[logging.LogRecord]) -> list[str]:
    """What is wrong with one answer; an unexpected error is described by its log record."""
    if response.status_code >= 500:
        return [f"{mode}: HTTP {response.status_code}: {response.text[:500]}"]
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return [f"{mode}: HTTP {response.status_code}, not JSON: {response.text[:200]}"]
    found = []
    for error in body.get("errors") or []:
        extensions = error.get("extensions") or {}
        code = extensions.get("code")
        if code is None:
            found.append(f"{mode}: an error without a code: {error.get('message')}")
        elif code == "INTERNAL_SERVER_ERROR":
            logged = [r for r in records if extensions.get("errorId", "?") in r.getMessage()]
            for record in logged:
                records.remove(record)
            cause = "; ".join(_describe(r) for r in logged) or error.get("message")
            found.append(f"{mode}: INTERNAL_SERVER_ERROR at {error.get('path')}: {cause}")
    return found


def _describe(record: logging.LogRecord) -> str:
    cause = record.exc_info[1] if record.exc_info else None
    text = f"log {record.name} {record.levelname}: {record.getMessage()[:500]}"
    return text if cause is None else f"{text} ({type(cause).__name__}: {str(cause)[:300]})"


def _expected(record: logging.LogRecord) -> bool:
    """The apps run no job worker, and fuzzed mutations queue jobs: the queue watch (once a minute)
    rightly says so, whenever its minute falls during the run. Not a fault."""
    return record.name == "quintet.jobs" and "no worker is alive" in record.getMessage()


def logged_faults(records: list[logging.LogRecord]) -> list[str]:
    return [
        _describe(record)
        for record in records
        if (record.name.startswith("quintet") or record.levelno >= logging.ERROR or record.exc_info)
        and not _expected(record)
    ]


async def send(world: World, document: str, token: str | None) -> dict[str, Any] | None:
    """Both apps answer without a fault; the dev app's body (for the tally)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"query": document}
    found: list[str] = []
    answers = {}
    for mode, client in (("production", world.production), ("dev", world.dev)):
        world.records.clear()
        response = await client.post("/graphql", json=body, headers=headers)
        found += faults(mode, response, world.records) + logged_faults(world.records)
        answers[mode] = response
    assert not found, "\n".join(found)
    dev = answers["dev"]
    return orjson.loads(dev.content) if dev.headers.get("content-type", "").startswith("application/json") else None


async def fuzz_once(world: World, data: st.DataObject, kind: str) -> None:
    document = data.draw(world.documents[kind], label="document")
    token = data.draw(st.sampled_from([world.token, world.token, world.token, None]), label="token")
    answer = await send(world, document, token)
    world.seen[kind] += 1
    if answer is not None and answer.get("data"):
        world.seen[f"{kind} executed"] += 1


@settings(FUZZ, max_examples=300)
@given(data=st.data())
async def test_queries_never_fail_the_server(world: World, data: st.DataObject) -> None:
    await fuzz_once(world, data, "query")


@settings(FUZZ, max_examples=400)
@given(data=st.data())
async def test_mutations_never_fail_the_server(world: World, data: st.DataObject) -> None:
    await fuzz_once(world, data, "mutation")


@settings(FUZZ, max_examples=100)
@given(data=st.data())
async def test_invalid_documents_are_refused_with_a_code(world: World, data: st.DataObject) -> None:
    await fuzz_once(world, data, "invalid")
