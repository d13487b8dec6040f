"""Queries run as one SQL statement (core/sqljson.py) answer exactly as graphql-core does.

Two apps share one database: one with graphql-core only, one with the compiled paths and their
SQL form. Each document goes once to graphql-core and twice to the other app (the first request
compiles the plan, the second runs it); the answers must be equal as JSON, and a request the
SQL form answered costs one statement. The SQL helpers are checked value by value against the
Python they mirror, and generated documents over the declared fields cover the combinations.
"""

from __future__ import annotations

import logging
import os
import random
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from graphql import GraphQLObjectType, GraphQLSchema, get_named_type, is_leaf_type
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bench.lineup import QUINTET_DASHBOARD, QUINTET_FILTERED, QUINTET_RELAY, QUINTET_TREE
from core.pagination import NULL_DATE_LAST
from core.relay import cursor_sql, decode_cursor, encode_cursor, from_global_id, to_global_id
from core.sqljson import Children, Computed, Leaf, Parent, SqlType, enum_name, global_id, iso_datetime, one_decimal
from products import PRODUCTS
from schema import kit
from schema.aurum.enums import Priority, ProjectStatus, TaskStatus
from schema.compiled import SQL_TYPES
from services.aurum import PROJECT_SORTS, TASK_SORTS, Progress
from tests.pairs import Pair, app_pair, assert_graphql_core_answers_so, post, without_extensions
from tests.support import GraphQLClient
from tests.worlds import FilterOption, ProductWorld, world_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: The table each parent column points at.
SQL_TYPES_TABLES = {"pillar_id": "pillars", "area_id": "areas", "project_id": "projects"}


# ----------------------------------------------------------------------------- the SQL helpers


async def test_times_are_written_as_python_writes_them(engine: AsyncEngine) -> None:
    moments = [
        datetime(2026, 11, 25, 21, 32, 9, tzinfo=UTC),
        datetime(2026, 11, 25, 21, 32, 9, 1, tzinfo=UTC),
        datetime(2026, 11, 25, 21, 32, 9, 120000, tzinfo=UTC),
        datetime(2024, 2, 29, 0, 0, 0, 999999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC) + timedelta(hours=-5),
        datetime.max.replace(tzinfo=UTC),
    ]
    value = sa.bindparam("moment", type_=sa.DateTime(timezone=True))
    async with engine.connect() as conn:
        for moment in moments:
            written = (await conn.execute(sa.select(iso_datetime(value)), {"moment": moment})).scalar_one()
            assert written == moment.isoformat()
        assert (await conn.execute(sa.select(iso_datetime(value)), {"moment": None})).scalar_one() is None


async def test_global_ids_are_relays(engine: AsyncEngine) -> None:
    value = sa.bindparam("pk", type_=sa.Uuid())
    async with engine.connect() as conn:
        for type_name in ("Task", "Pillar", "Project", "JournalTemplate", "InsightRuleSubscription"):
            for _ in range(20):
                pk = uuid.uuid4()
                made = (await conn.execute(sa.select(global_id(type_name, value)), {"pk": pk})).scalar_one()
                assert made == to_global_id(type_name, pk)
                assert from_global_id(made) == (type_name, pk)


async def test_enum_names_are_the_graphql_names(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        for enum in (TaskStatus, ProjectStatus, Priority):
            for member in enum:
                value = sa.literal(member.value)
                assert (await conn.execute(sa.select(enum_name(value, enum)))).scalar_one() == member.name


async def test_percent_is_computed_exactly_as_progress_computes_it(engine: AsyncEngine) -> None:
    # Every completed/total pair up to 80, halves included (1/16 = 6.25 -> 6.2, 3/16 = 18.75 -> 18.8).
    pairs = (
        sa.select(sa.column("total", sa.Integer), sa.column("done", sa.Integer))
        .select_from(sa.text("generate_series(0, 80) AS total, generate_series(0, 80) AS done"))
        .where(sa.column("done") <= sa.column("total"))
        .subquery()
    )
    statement = sa.select(pairs.c.total, pairs.c.done, sa.cast(one_decimal(pairs.c.done, pairs.c.total), sa.Text))
    async with engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
    assert len(rows) == 81 * 82 // 2
    for total, done, written in rows:
        expected = Progress(total_tasks=total, completed_tasks=done).percent
        assert written == orjson.dumps(expected).decode(), (done, total)
    assert Progress(total_tasks=16, completed_tasks=1).percent == 6.2
    assert Progress(total_tasks=16, completed_tasks=3).percent == 18.8
    assert Progress(total_tasks=3, completed_tasks=2).percent == 66.7


async def test_cursors_are_the_resolvers_cursors(engine: AsyncEngine) -> None:
    awkward = [
        "",
        "plain",
        'quote " backslash \\ slash / tab \t newline \n return \r',
        "controls \x01\x08\x0c\x1f del \x7f",
        "accents éà, emoji \U0001f600, line separator \u2028, CJK 漢字",
        "long " * 40,  # base64 lines break at 76 characters in Postgres
        "<tag> & % _ '",
    ]
    moments = [
        datetime(2026, 11, 25, 21, 32, 9, tzinfo=UTC),
        datetime(2026, 11, 25, 21, 32, 9, 120000, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        NULL_DATE_LAST,
    ]
    numbers = [0, 1, -1, 4, 2147483647, -2147483648]
    cases: list[tuple[type, sa.types.TypeEngine[Any], list[Any]]] = [
        (str, sa.Text(), awkward),
        (datetime, sa.DateTime(timezone=True), moments),
        (int, sa.Integer(), numbers),
    ]
    sort_keys = sorted({sort.key for sort in (*TASK_SORTS.values(), *PROJECT_SORTS.values())})
    checked = 0
    async with engine.connect() as conn:
        for value_type, sql_type, values in cases:
            value = sa.bindparam("value", type_=sql_type)
            statement = sa.select(
                *(cursor_sql(key, value_type, value, sa.bindparam("pk", type_=sa.Uuid())) for key in sort_keys)
            )
            for item in values:
                pk = uuid.uuid4()
                written = (await conn.execute(statement, {"value": item, "pk": pk})).one()
                for key, cursor in zip(sort_keys, written, strict=True):
                    assert cursor == encode_cursor(key, item, pk), (key, item)
                    assert decode_cursor(cursor, key, value_type, "after") == (item, pk)
                    checked += 1
    assert checked == len(sort_keys) * (len(awkward) + len(moments) + len(numbers))


async def test_children_scoped_through_their_parent_have_the_owner_in_their_foreign_key() -> None:
    checked = 0
    for declared in SQL_TYPES.values():
        for rule in declared.fields.values():
            if not isinstance(rule, Children) or not rule.owner_via_parent:
                continue
            keys = {
                (tuple(fk.column_keys), tuple(element.column.name for element in fk.elements), fk.referred_table.name)
                for fk in rule.table.foreign_key_constraints
            }
            parent_table = SQL_TYPES_TABLES[rule.parent_column]
            assert ((rule.parent_column, "user_id"), ("id", "user_id"), parent_table) in keys, rule
            checked += 1
    assert checked == 3


# ----------------------------------------------------------------------------- both paths


@dataclass
class World:
    token_a: str
    token_b: str
    tasks_of_a: int
    tasks_of_b: int


@pytest.fixture(scope="module")
async def pair(database_url: str, data_dir: Path) -> AsyncIterator[Pair]:
    async with app_pair(database_url, data_dir, compiled_sql=True) as both:
        assert both.plans.sql_types is not None
        yield both


#: The registered products that give a test world, with it: every suite below runs over them all.
WORLDS: dict[str, ProductWorld] = {
    product.name: found for product in PRODUCTS if (found := world_of(product)) is not None
}
#: Filter options by input type, from every product's world.
FILTER_OPTIONS = {name: options for world in WORLDS.values() for name, options in world.filters.items()}
#: Values of computed fields' arguments by `Type.field(argument)`, from every product's world.
ARGUMENT_OPTIONS = {name: options for world in WORLDS.values() for name, options in world.arguments.items()}


@pytest.fixture(scope="module")
async def world(pair: Pair, engine: AsyncEngine) -> World:
    """Every registered product's test world for two viewers (the first with more of it)."""
    gql = GraphQLClient(pair.slow)
    a, b = await gql.sign_up(), await gql.sign_up()
    made: list[dict[str, list[str]]] = [{}, {}]
    async with async_sessionmaker(engine)() as session:
        for product_world in WORLDS.values():
            for index, (viewer, size) in enumerate(((a, 2), (b, 1))):
                made[index].update(await product_world.build(session, from_global_id(viewer.user_id)[1], size))
        await session.commit()
    return World(a.token, b.token, len(made[0]["Task"]), len(made[1]["Task"]))


async def compare(pair: Pair, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> str:
    """Send the document both ways; assert equal answers; say whether one statement answered."""
    body = {"query": query, "variables": variables}
    context = f"\n{query}\nvariables: {variables}"
    expected = await post(pair.slow, body, token)
    await post(pair.fast, body, token)  # compiles the plan (graphql-core answers)
    before, failed = pair.plans.sql_executed, pair.plans.sql_failed
    answer = await post(pair.fast, body, token)
    assert pair.plans.sql_failed == failed, f"the statement failed: {context}"
    await assert_graphql_core_answers_so(pair, body, token, expected, [answer])
    if pair.plans.sql_executed > before:
        assert "errors" not in expected, context
        assert answer["extensions"]["sql"]["statements"] == 1, context
        return "sql"
    return "resolvers"


CAMPAIGN_TOTALS = """query CampaignTotals { viewer { campaigns { id fecCommitteeId
  donationTotals { cycle totalCents contributedCents reversedCents contributions donors } } } }"""


async def test_campaigns_fec_ids_and_donation_totals_are_one_statement_as_graphql_core_answers(
    pair: Pair, world: World
) -> None:
    for token in (world.token_a, world.token_b):
        assert await compare(pair, CAMPAIGN_TOTALS, None, token) == "sql"
    answer = await post(pair.fast, {"query": CAMPAIGN_TOTALS}, world.token_a)
    campaigns = answer["data"]["viewer"]["campaigns"]
    # The world's campaigns: every other one has its FEC id; the managed ones read two cycles' totals
    assert {c["fecCommitteeId"] is None for c in campaigns} == {True, False}
    assert [{t["cycle"] for t in c["donationTotals"]} for c in campaigns if c["donationTotals"] is not None] == [
        {2024, 2026}
    ] * 2


CAMPAIGN_CYCLE = """query CampaignCycle($cycle: Int) { viewer { campaigns { id
  thisCycle: donationTotals(cycle: $cycle) { cycle totalCents contributedCents reversedCents contributions donors }
  last: donationTotals(cycle: 2024) { cycle contributions } all: donationTotals(cycle: null) { cycle } } } }"""


async def test_one_cycles_donation_totals_are_one_statement_as_graphql_core_answers(pair: Pair, world: World) -> None:
    # A cycle of the world's donations, one without any, and null (every cycle): one statement
    for cycle in (2026, 2024, 2022, None):
        for token in (world.token_a, world.token_b):
            assert await compare(pair, CAMPAIGN_CYCLE, {"cycle": cycle}, token) == "sql", cycle
        answer = await post(pair.fast, {"query": CAMPAIGN_CYCLE, "variables": {"cycle": cycle}}, world.token_a)
        read = [c for c in answer["data"]["viewer"]["campaigns"] if c["all"] is not None]
        assert len(read) == 2  # the managed ones (the volunteer's campaign reads null)
        expected = [2026, 2024] if cycle is None else [cycle] if cycle in (2026, 2024) else []
        for campaign in read:
            assert [t["cycle"] for t in campaign["thisCycle"]] == expected
            assert [t["cycle"] for t in campaign["last"]] == [2024]
            assert [t["cycle"] for t in campaign["all"]] == [2026, 2024]
    # As literals too
    literal = """{ viewer { campaigns {
      donationTotals(cycle: 2026) { cycle donors } none: donationTotals(cycle: 2022) { cycle } } } }"""
    assert await compare(pair, literal, None, world.token_a) == "sql"
    # Not an FEC cycle (odd, before the first): the resolvers' VALIDATION error, on both paths
    for bad in (2025, 1974):
        assert await compare(pair, CAMPAIGN_CYCLE, {"cycle": bad}, world.token_a) == "resolvers"
        answer = await post(pair.fast, {"query": CAMPAIGN_CYCLE, "variables": {"cycle": bad}}, world.token_a)
        codes = {(error["extensions"]["code"], tuple(error["extensions"]["field"])) for error in answer["errors"]}
        assert codes == {("VALIDATION", ("cycle",))}
        bad_literal = literal.replace("2026", str(bad))
        assert await compare(pair, bad_literal, None, world.token_a) == "resolvers"


async def test_the_benchmark_operations_are_one_statement_and_identical(pair: Pair, world: World) -> None:
    assert await compare(pair, QUINTET_TREE, None, world.token_a) == "sql"
    assert await compare(pair, QUINTET_DASHBOARD, None, world.token_a) == "sql"
    assert await compare(pair, QUINTET_TREE, None, world.token_b) == "sql"
    # What Relay and Apollo clients send: pages by edges and cursors, a filter with a variable.
    first = {"first": 5, "after": None, "tasks": 10}
    assert await compare(pair, QUINTET_RELAY, first, world.token_a) == "sql"
    page = await post(pair.slow, {"query": QUINTET_RELAY, "variables": first}, world.token_a)
    after = page["data"]["viewer"]["projects"]["pageInfo"]["endCursor"]
    assert after is not None
    assert await compare(pair, QUINTET_RELAY, {**first, "after": after}, world.token_a) == "sql"
    for status, priority in (("TODO", "MEDIUM"), ("DONE", "HIGH"), ("CANCELLED", "LOW")):
        variables = {"status": status, "priority": priority}
        assert await compare(pair, QUINTET_FILTERED, variables, world.token_a) == "sql"


async def test_each_viewer_sees_only_their_own_rows(pair: Pair, world: World) -> None:
    query = "{ viewer { tasks(first: 100) { totalCount nodes { id } } pillars { totalCount } } }"
    for token, tasks in ((world.token_a, world.tasks_of_a), (world.token_b, world.tasks_of_b)):
        assert await compare(pair, query, None, token) == "sql"
        answer = await post(pair.fast, {"query": query}, token)
        assert answer["data"]["viewer"]["tasks"]["totalCount"] == tasks
        assert len(answer["data"]["viewer"]["tasks"]["nodes"]) == tasks
    # Signed out, the viewer is null: the resolvers answer.
    assert await compare(pair, query, None, None) == "resolvers"


async def test_the_viewers_id_is_written_in_one_statement(pair: Pair, world: World) -> None:
    for token in (world.token_a, world.token_b):
        user = await post(pair.slow, {"query": "{ viewer { user { id } } }"}, token)
        expected = to_global_id("Viewer", from_global_id(user["data"]["viewer"]["user"]["id"])[1])
        for query in ("{ viewer { id } }", "{ viewer { __typename id pillars(first: 1) { totalCount } } }"):
            assert await compare(pair, query, None, token) == "sql"
            answer = await post(pair.fast, {"query": query}, token)
            assert answer["data"]["viewer"]["id"] == expected
        # and `node` of it: the same object, in one statement as well
        lookup = "query Q($id: ID!) { node(id: $id) { __typename id ... on Viewer { pillars { totalCount } } } }"
        assert await compare(pair, lookup, {"id": expected}, token) == "sql"
        answer = await post(pair.fast, {"query": lookup, "variables": {"id": expected}}, token)
        assert answer["data"]["node"]["id"] == expected


ALL_FIELDS = """
fragment T on Task { __typename id title description status priority dueAt completedAt position createdAt
  updatedAt isOverdue }
query All($n: Int) { viewer { __typename
  pillars(first: $n) { __typename totalCount nodes { id name description color icon position createdAt updatedAt
    progress { __typename percent totalTasks completedTasks }
    areas(orderBy: NAME_DESC) { totalCount nodes { id name description importance position createdAt updatedAt
      progress { percent }
      projects(first: 2, orderBy: PRIORITY_DESC) { nodes { id name description status priority dueAt position
        createdAt updatedAt progress { completedTasks }
        tasks(orderBy: DUE_AT_DESC) { nodes { ...T project { name area { name pillar { id name } } } } }
        open: tasks(filter: {status: [TODO, IN_PROGRESS]}, orderBy: TITLE_ASC) { totalCount nodes { ...T } }
        late: tasks(filter: {overdue: true}) { totalCount nodes { title } }
        notLate: tasks(filter: {overdue: false}) { totalCount }
        urgent: tasks(filter: {priority: [HIGH, URGENT], search: "task"}, first: 1) { totalCount nodes { title } }
      } } } } } }
  projects(filter: {status: [ON_HOLD, COMPLETED]}, orderBy: DUE_AT_DESC) { totalCount nodes { name dueAt } }
  areas(orderBy: UPDATED_AT_DESC, first: 3) { nodes { name } }
} }
"""


async def test_every_declared_field_argument_and_order(pair: Pair, world: World) -> None:
    for n in (None, 0, 1, 2, 100):
        assert await compare(pair, ALL_FIELDS, {"n": n}, world.token_a) == "sql"
    for order in ("POSITION_ASC", "NAME_ASC", "CREATED_AT_DESC", "UPDATED_AT_ASC"):
        query = f"{{ viewer {{ pillars(orderBy: {order}) {{ nodes {{ name areas {{ nodes {{ name }} }} }} }} }} }}"
        assert await compare(pair, query, None, world.token_a) == "sql"
    for order in ("DUE_AT_ASC", "DUE_AT_DESC", "PRIORITY_ASC", "TITLE_DESC", "POSITION_DESC", "CREATED_AT_ASC"):
        query = f"{{ viewer {{ tasks(orderBy: {order}, first: 100) {{ nodes {{ id }} }} }} }}"
        assert await compare(pair, query, None, world.token_a) == "sql"
    dated = '{ viewer { tasks(filter: {dueAfter: "2020-01-01T00:00:00Z", dueBefore: "2100-01-01"}) { totalCount } } }'
    assert await compare(pair, dated, None, world.token_a) == "sql"


async def test_errors_and_what_has_no_sql_form_go_to_the_resolvers(pair: Pair, world: World) -> None:
    token = world.token_a
    # A page size the resolvers refuse, deep in the tree, as a literal and as a variable.
    deep = "{ viewer { pillars { nodes { areas { nodes { projects { totalCount } } } } } } }"
    assert await compare(pair, deep.replace("projects", "projects(first: 101)"), None, token) == "resolvers"
    assert await compare(pair, deep.replace("projects", "projects(first: -1)"), None, token) == "resolvers"
    assert await compare(pair, deep.replace("projects", "projects(last: 101)"), None, token) == "resolvers"
    sized = "query Q($n: Int) { viewer { pillars(first: $n) { totalCount } } }"
    assert await compare(pair, sized, {"n": 101}, token) == "resolvers"
    assert await compare(pair, sized, {"n": "many"}, token) == "resolvers"
    assert await compare(pair, sized, {"n": 3}, token) == "sql"  # the same document, a good size
    # Invalid cursors, `first` with `last`, fields without a SQL form: the resolvers.
    task_cursor = (
        await post(pair.slow, {"query": RELAY_TASKS, "variables": {"first": 1, "order": "POSITION_ASC"}}, token)
    )["data"]
    of_tasks = task_cursor["viewer"]["tasks"]["pageInfo"]["endCursor"]
    for query in (
        '{ viewer { pillars(after: "nope") { totalCount } } }',
        '{ viewer { pillars(before: "") { nodes { name } } } }',
        f'{{ viewer {{ tasks(orderBy: TITLE_ASC, after: "{of_tasks}") {{ nodes {{ id }} }} }} }}',  # another order
        f'{{ viewer {{ pillars(orderBy: NAME_DESC, before: "{of_tasks}") {{ nodes {{ id }} }} }} }}',
        "{ viewer { pillars(first: 1, last: 1) { nodes { name } } } }",
        "{ viewer { tasks { nodes { title } } jobs(first: 1) { totalCount } } }",
        "{ viewer { email pillars { totalCount } } }",
    ):
        assert await compare(pair, query, None, token) == "resolvers"
    # Cursors made up with values their column can't hold: the client's error on both paths.
    made_up = [
        ("pillars", "POSITION_ASC", encode_cursor("position_ASC", 2**40, uuid.uuid4())),
        ("tasks", "PRIORITY_DESC", encode_cursor("priority_DESC", 40000, uuid.uuid4())),
        ("tasks", "CREATED_AT_ASC", encode_cursor("created_ASC", "0001-01-01T00:00:00+01:00", uuid.uuid4())),
    ]
    for field, order, cursor in made_up:
        for selection in ("totalCount", "nodes { id }", "pageInfo { hasNextPage }"):
            query = f'{{ viewer {{ {field}(orderBy: {order}, after: "{cursor}") {{ {selection} }} }} }}'
            assert await compare(pair, query, None, token) == "resolvers"
            answer = await post(pair.slow, {"query": query}, token)
            assert [error["extensions"]["code"] for error in answer["errors"]] == ["INVALID_CURSOR"], query
    cursored = "query C($a: String) { viewer { tasks(after: $a, orderBy: POSITION_ASC) { edges { cursor } } } }"
    assert await compare(pair, cursored, {"a": "bm9wZQ"}, token) == "resolvers"
    assert await compare(pair, cursored, {"a": of_tasks}, token) == "sql"


RELAY_TASKS = """query Page($first: Int, $after: String, $last: Int, $before: String, $order: TaskOrderBy!) {
  viewer { tasks(first: $first, after: $after, last: $last, before: $before, orderBy: $order) {
    __typename totalCount
    edges { __typename cursor node { id title dueAt } }
    pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
    nodes { id } } } }"""


async def _page(pair: Pair, token: str, **variables: Any) -> dict[str, Any]:
    """One page of the viewer's tasks, answered by one statement exactly as by graphql-core."""
    variables.setdefault("order", "POSITION_ASC")
    assert await compare(pair, RELAY_TASKS, variables, token) == "sql", variables
    answer = await post(pair.fast, {"query": RELAY_TASKS, "variables": variables}, token)
    page: dict[str, Any] = answer["data"]["viewer"]["tasks"]
    return page


@pytest.mark.parametrize("order", ["POSITION_ASC", "DUE_AT_DESC", "TITLE_ASC", "CREATED_AT_DESC", "PRIORITY_ASC"])
async def test_relay_pages_walk_the_whole_list_both_ways(pair: Pair, world: World, order: str) -> None:
    token = world.token_a
    forward: list[str] = []
    after = None
    while True:
        page = await _page(pair, token, first=7, after=after, order=order)
        forward += [edge["node"]["id"] for edge in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(forward) == len(set(forward)) == world.tasks_of_a
    backward: list[str] = []
    before = None
    while True:
        page = await _page(pair, token, last=9, before=before, order=order)
        backward = [edge["node"]["id"] for edge in page["edges"]] + backward
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert backward == forward


async def test_relay_pages_at_the_edges(pair: Pair, world: World) -> None:
    token = world.token_a
    cursors = [edge["cursor"] for edge in (await _page(pair, token, first=100))["edges"]]
    first, last = cursors[0], cursors[-1]
    cases: list[dict[str, Any]] = [
        {"first": 0},
        {"last": 0},
        {"first": 0, "after": cursors[3]},
        {"last": 0, "before": cursors[3]},
        {"first": 0, "after": last},
        {"last": 0, "before": first},
        {"first": 5, "after": last},  # a cursor at the end: an empty page
        {"last": 5, "before": first},  # and at the start
        {"first": 5, "before": first},
        {"last": 5, "after": last},
        {"first": 3, "after": first},
        {"last": 3, "before": last},
        {"after": cursors[3], "before": cursors[8]},
        {"first": 2, "after": cursors[3], "before": cursors[8]},
        {"last": 2, "after": cursors[3], "before": cursors[8]},
        {"first": 10, "after": cursors[3], "before": cursors[8]},
        {"last": 10, "after": cursors[3], "before": cursors[8]},
        {"first": 3, "after": cursors[8], "before": cursors[3]},  # an empty window
        {"last": 0, "after": cursors[8], "before": cursors[3]},
        {"first": 1, "after": cursors[-2]},
        {"last": 1, "before": cursors[1]},
        {"last": 100},
    ]
    seen = set()
    for variables in cases:
        page = await _page(pair, token, **variables)
        info = page["pageInfo"]
        seen.add((info["hasPreviousPage"], info["hasNextPage"], bool(page["edges"])))
    # Every combination of page info came up, empty pages included, but for the one of an
    # empty list (below).
    assert seen == {(p, n, e) for p in (True, False) for n in (True, False) for e in (True, False)} - {
        (False, False, False)
    }
    # A list with no items at all, and a cursor from another parent's list of the same order.
    empty = (
        '{ viewer { tasks(filter: {search: "no such task"}) { edges { cursor } '
        "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"
    )
    assert await compare(pair, empty, None, token) == "sql"
    nested = """query N($a: String, $b: String) { viewer { projects(first: 3) { nodes { name
      tasks(after: $a, first: 2) { totalCount edges { cursor node { title } } pageInfo { hasNextPage hasPreviousPage } }
      before: tasks(before: $b, last: 2) { edges { cursor } pageInfo { hasNextPage hasPreviousPage startCursor } }
    } } } }"""
    for a, b in ((cursors[2], cursors[40]), (first, last), (last, first)):
        assert await compare(pair, nested, {"a": a, "b": b}, token) == "sql"
    assert await compare(pair, nested, {"a": first, "b": last}, world.token_b) == "sql"


async def test_variables_anywhere_share_one_statement_without_values(
    pair: Pair, world: World, engine: AsyncEngine
) -> None:
    token = world.token_a
    query = """query V($n: Int, $s: String, $status: TaskStatus!, $f: ProjectFilterInput, $o: ProjectOrderBy!,
        $late: Boolean, $p: [Priority!]) {
      viewer {
        tasks(first: $n, filter: {status: [$status], search: $s, overdue: $late, priority: $p}, orderBy: DUE_AT_ASC) {
          totalCount nodes { title status } }
        projects(filter: $f, orderBy: $o) { totalCount nodes { name status
          tasks(filter: {search: $s}) { totalCount } } } } }"""
    first = {"n": 3, "s": "zqxj", "status": "TODO", "f": {"status": ["ON_HOLD"]}, "o": "NAME_ASC", "late": False}
    second = {"n": 7, "s": "wvut", "status": "DONE", "f": {"status": ["COMPLETED"]}, "o": "NAME_ASC", "late": True}
    second["p"] = ["HIGH", "URGENT"]
    first["p"] = ["LOW"]
    assert await compare(pair, query, first, token) == "sql"
    assert await compare(pair, query, second, token) == "sql"
    plan = pair.plans.get(query, None)
    assert plan is not None
    assert plan.sql is not None
    statements = list(plan.sql.statements.values())
    assert len(statements) == 1  # one shape: the same fields given, the same order
    rendered = statements[0].rendered(engine.dialect)
    text = rendered.sql
    for value in ("zqxj", "wvut", "'todo'", "'done'", "'on_hold'", "'completed'", "name_ASC"):
        assert value not in text, value
    assert re.search(r"(LIMIT|OFFSET|=|<|>) \d", text) is None  # sizes and priorities are bound too
    assert {"c0_f_search", "c0_f_status", "c0_limit", "c1_f_status", "c2_f_search"} <= set(rendered.names)
    # Another shape (a field given that was not, another order) is another statement.
    third = {**second, "s": None, "o": "DUE_AT_DESC"}
    assert await compare(pair, query, third, token) == "sql"
    assert len(plan.sql.statements) == 2
    # Literals are bound the same way: one statement for the document, with no value in it.
    literal = '{ viewer { tasks(first: 4, filter: {search: "zqxj", status: [TODO]}) { totalCount nodes { id } } } }'
    assert await compare(pair, literal, None, token) == "sql"
    literal_plan = pair.plans.get(literal, None)
    assert literal_plan is not None
    assert literal_plan.sql is not None
    (only,) = literal_plan.sql.statements.values()
    assert "zqxj" not in only.rendered(engine.dialect).sql
    whole = "query W($f: TaskFilterInput) { viewer { tasks(filter: $f) { totalCount } } }"
    filters: list[dict[str, Any] | None] = [None, {}, {"status": []}, {"search": "  "}, {"overdue": True}]
    filters.append({"dueAfter": "2020-01-01T00:00:00", "dueBefore": "2099-01-01T00:00:00+02:00"})
    for given in filters:
        assert await compare(pair, whole, {"f": given}, token) == "sql"


async def _reason(pair: Pair, body: dict[str, Any], token: str | None) -> tuple[str | None, int]:
    """The fallback the fast app's dev extensions show, and how often the cache counted it."""
    answer = await post(pair.fast, body, token)
    shown = answer["extensions"]["sql"]
    reason = shown.get("fallback")
    assert shown["oneStatement"] is (reason is None), shown
    return reason, pair.plans.sql_fallbacks[reason] if reason is not None else 0


async def test_why_a_request_left_the_one_statement_form_is_counted_logged_and_shown(
    pair: Pair, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    token = world.token_a
    sized = "query Why($n: Int, $a: String) { viewer { pillars(first: $n, after: $a) { totalCount } } }"
    cases: list[tuple[dict[str, Any], str | None, str]] = [
        (
            {"query": "query Jobs { viewer { tasks { nodes { title } } jobs { totalCount } } }"},
            token,
            "no SQL form: field Viewer.jobs",
        ),
        ({"query": sized, "variables": {"n": 101}}, token, "page arguments refused"),
        ({"query": sized, "variables": {"n": "many"}}, token, "variables that do not coerce"),
        ({"query": sized, "variables": {"a": "nope"}}, token, "invalid cursor"),
        ({"query": sized, "variables": {"n": 2}}, None, "no viewer"),
    ]
    caplog.set_level(logging.INFO, logger="quintet.http")
    for body, who, expected in cases:
        first, _ = await _reason(pair, body, who)
        assert first == "no compiled plan" or first == expected, body  # the first request compiles
        caplog.clear()
        for attempt in range(3):
            reason, count = await _reason(pair, body, who)
            assert reason == expected, body
            if attempt == 0:
                counted = count
            else:
                assert count == counted + attempt
        logged = [record for record in caplog.records if expected in record.getMessage()]
        assert len(logged) <= 1, logged  # once per document: an earlier case may have logged it
    # Each reason logged once per document: a new document logs again.
    caplog.clear()
    other = {"query": "query Other { viewer { tasks(first: 1) { nodes { id } } jobs(first: 1) { totalCount } } }"}
    for _ in range(3):
        await post(pair.fast, other, token)
    assert [r.getMessage() for r in caplog.records if "Viewer.jobs" in r.getMessage()] == [
        "operation Other leaves the one-statement form: no SQL form: field Viewer.jobs"
    ]
    reason, _ = await _reason(pair, {"query": sized, "variables": {"n": 2}}, token)
    assert reason is None  # one statement answered


async def test_a_statement_postgres_refuses_is_logged_and_the_resolvers_answer(
    database_url: str, data_dir: Path, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    async with app_pair(database_url, data_dir, compiled_sql=True) as broken:
        # A declaration with a bug: a column that does not exist.
        task = SqlType({**SQL_TYPES["Task"].fields, "title": Leaf(lambda row: sa.literal_column("no_such_column"))})
        broken.plans.sql_types = {**SQL_TYPES, "Task": task}
        body = {"query": "{ viewer { tasks(first: 3) { nodes { id title } } } }"}
        expected = await post(broken.slow, body, world.token_a)
        await post(broken.fast, body, world.token_a)  # compiles the plan
        executed = broken.plans.executed
        answer = await post(broken.fast, body, world.token_a)
    assert broken.plans.sql_failed == 1
    assert broken.plans.sql_fallbacks["statement refused by Postgres"] == 1
    assert answer["extensions"]["sql"] == {**answer["extensions"]["sql"], "oneStatement": False}
    assert answer["extensions"]["sql"]["fallback"] == "statement refused by Postgres"
    assert broken.plans.sql_executed == 0
    assert broken.plans.executed == executed + 1  # the compiled resolver path answered
    assert without_extensions(answer) == without_extensions(expected)
    assert len(answer["data"]["viewer"]["tasks"]["nodes"]) == 3
    assert "the SQL form of a query failed" in caplog.text


class DeclaredFields:
    """Random documents over the viewer's declared fields only (seeded, so failures replay):
    connections with `nodes`, `edges` and `pageInfo`, `first` or `last`, cursors taken from
    earlier answers (`cursors`, by node type and order), filters, orders, aliases, inline and
    named fragments, and any argument or filter field sent as a variable."""

    def __init__(
        self, schema: GraphQLSchema, seed: int, cursors: dict[tuple[str, str], list[str]], lists: list[str]
    ) -> None:
        self.schema = schema
        self.lists = sorted(lists)
        self.rng = random.Random(seed)
        self.cursors = cursors
        self.variables: dict[str, tuple[str, Any]] = {}
        self.fragments: list[str] = []

    def document(self) -> tuple[str, dict[str, Any]]:
        """A document and its variables."""
        self.variables, self.fragments = {}, []
        viewer = self.schema.get_type("Viewer")
        assert isinstance(viewer, GraphQLObjectType)
        lists = self.lists
        chosen = self.rng.sample(lists, self.rng.randint(1, len(lists)))
        fields = " ".join(self.list_field(viewer, name) for name in chosen)
        body = "{ viewer { " + fields + (" __typename" if self.rng.random() < 0.2 else "") + " } }"
        definitions = ", ".join(f"${name}: {type_}" for name, (type_, _) in self.variables.items())
        header = f"query Generated({definitions}) " if definitions else ""
        variables = {name: value for name, (_, value) in self.variables.items()}
        return header + body + "".join(f" {fragment}" for fragment in self.fragments), variables

    def argument(self, name: str, type_: Any, literal: str, value: Any) -> str:
        """`name: literal`, or as often as not `name: $variable` with `value` sent for it."""
        if self.rng.random() < 0.5:
            return f"{name}: {literal}"
        variable = f"v{len(self.variables)}"
        self.variables[variable] = (str(type_), value)
        return f"{name}: ${variable}"

    def list_field(self, viewer: GraphQLObjectType, name: str) -> str:
        """One of the viewer's lists: a connection, or a plain list of objects (`campaigns`)."""
        named = get_named_type(viewer.fields[name].type)
        if "nodes" in named.fields:
            return self.connection(viewer, name, depth=0)
        return f"{name} {{ {self.node(named, 1)} }}"

    def connection(self, parent: GraphQLObjectType, name: str, depth: int) -> str:
        rng = self.rng
        definition = parent.fields[name]
        declared_arguments = definition.args
        node_type = get_named_type(get_named_type(definition.type).fields["nodes"].type)
        arguments = []
        size = rng.choice([0, 1, 2, 3, 10, 100])
        sizing = rng.random()
        if sizing < 0.4:
            arguments.append(self.argument("first", declared_arguments["first"].type, str(size), size))
        elif sizing < 0.6:
            arguments.append(self.argument("last", declared_arguments["last"].type, str(size), size))
        order_type = get_named_type(declared_arguments["orderBy"].type)
        with_cursor = rng.random() < 0.35
        if with_cursor or rng.random() < 0.5:
            order = rng.choice(list(order_type.values))
            arguments.append(self.argument("orderBy", declared_arguments["orderBy"].type, order, order))
            # Cursors of the viewer's lists; a type listed only under another object (an
            # organization's invitations) pages without them.
            pool = self.cursors.get((node_type.name, order), [])
            sides = rng.choice([["after"], ["before"], ["after", "before"]]) if with_cursor and pool else []
            for side in sides:
                # Now and then a cursor that is not one: the resolvers answer (their error).
                cursor = rng.choice(pool) if rng.random() > 0.03 else "bm9wZQ"
                arguments.append(self.argument(side, declared_arguments[side].type, f'"{cursor}"', cursor))
        if "filter" in declared_arguments and rng.random() < 0.4:
            arguments.append(self.filter(declared_arguments["filter"].type))
        alias = f"{name}{rng.randint(1, 9)}: " if rng.random() < 0.2 else ""
        parts = []
        if rng.random() < 0.5:
            parts.append("totalCount")
        if rng.random() < 0.6:
            parts.append("nodes { " + self.node(node_type, depth + 1) + " }")
        if rng.random() < 0.35:
            edge = rng.sample(["cursor", "node", "__typename"], rng.randint(1, 3))
            if "node" in edge:
                edge[edge.index("node")] = "node { " + self.node(node_type, depth + 1) + " }"
            parts.append(f"{'e: ' if rng.random() < 0.2 else ''}edges {{ {' '.join(edge)} }}")
        if rng.random() < 0.35:
            info = ["hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"]
            parts.append("pageInfo { " + " ".join(rng.sample(info, rng.randint(1, 5))) + " }")
        if not parts:
            parts.append("nodes { " + self.node(node_type, depth + 1) + " }")
        if rng.random() < 0.1:
            parts.append("__typename")
        rendered_arguments = f"({', '.join(arguments)})" if arguments else ""
        return f"{alias}{name}{rendered_arguments} {{ {' '.join(parts)} }}"

    def filter(self, filter_type: Any) -> str:
        """`filter: {...}` with fields as literals or variables, or `filter: $variable`."""
        rng = self.rng
        input_type = get_named_type(filter_type)

        hints = FILTER_OPTIONS.get(input_type.name)
        assert hints is not None, f"no product's test world gives options for {input_type.name}"
        options: list[FilterOption] = hints(rng)
        chosen = rng.sample(options, rng.randint(1, min(3, len(options))))
        if rng.random() < 0.25:
            literal = "{" + ", ".join(f"{field}: {text}" for field, text, _ in chosen) + "}"
            return self.argument("filter", filter_type, literal, {field: value for field, _, value in chosen})
        fields = [self.argument(field, input_type.fields[field].type, text, value) for field, text, value in chosen]
        return "filter: {" + ", ".join(fields) + "}"

    def computed(self, parent: GraphQLObjectType, name: str) -> str:
        """A computed object (or list of them) of leaves, with its arguments from the worlds' options."""
        rng = self.rng
        definition = parent.fields[name]
        arguments = []
        for argument, declared in definition.args.items():
            options = ARGUMENT_OPTIONS.get(f"{parent.name}.{name}({argument})")
            assert options, f"no product's test world gives values for {parent.name}.{name}({argument})"
            if rng.random() < 0.7:
                literal, value = rng.choice(options)
                arguments.append(self.argument(argument, declared.type, literal, value))
        named = get_named_type(definition.type)
        leaves = [leaf for leaf, f in named.fields.items() if is_leaf_type(get_named_type(f.type))]
        rendered_arguments = f"({', '.join(arguments)})" if arguments else ""
        alias = f"{name}{rng.randint(1, 9)}: " if rng.random() < 0.2 else ""
        return f"{alias}{name}{rendered_arguments} {{ {' '.join(rng.sample(leaves, rng.randint(1, len(leaves))))} }}"

    def node(self, type_: Any, depth: int) -> str:
        rng = self.rng
        declared = SQL_TYPES[type_.name].fields
        leaves = [name for name in declared if is_leaf_type(get_named_type(type_.fields[name].type))]
        parts = rng.sample(leaves, rng.randint(1, min(5, len(leaves))))
        if "progress" in declared and rng.random() < 0.4:
            progress = rng.sample(["percent", "totalTasks", "completedTasks", "__typename"], rng.randint(1, 3))
            parts.append("progress { " + " ".join(progress) + " }")
        for name in declared:
            if isinstance(declared[name], Computed) and name != "progress" and rng.random() < 0.3:
                parts.append(self.computed(type_, name))
        children = [name for name in declared if isinstance(declared[name], Children)]
        if children and depth < 4 and rng.random() < 0.6:
            parts.append(self.connection(type_, rng.choice(children), depth))
        parents = [name for name in declared if isinstance(declared[name], Parent)]
        if parents and depth < 5 and rng.random() < 0.3:
            name = rng.choice(parents)
            parts.append(f"{name} {{ {self.node(get_named_type(type_.fields[name].type), depth + 1)} }}")
        if rng.random() < 0.15:
            parts.append(f"... on {type_.name} {{ {rng.choice(leaves)} }}")
        if rng.random() < 0.1:
            fragment = f"F{len(self.fragments)}"
            self.fragments.append(
                f"fragment {fragment} on {type_.name} {{ {' '.join(rng.sample(leaves, min(2, len(leaves))))} }}"
            )
            parts.append(f"...{fragment}")
        return " ".join(parts)


@pytest.fixture(scope="module")
async def cursor_pool(pair: Pair, world: World) -> dict[tuple[str, str], list[str]]:
    """Every cursor of the first viewer's lists, by node type and order, as the resolvers give them."""
    viewer = pair.schema.get_type("Viewer")
    assert isinstance(viewer, GraphQLObjectType)
    pool: dict[tuple[str, str], list[str]] = {}
    for name, rule in SQL_TYPES["Viewer"].fields.items():
        if not isinstance(rule, Children):
            continue  # `id`
        definition = viewer.fields[name]
        node_type = get_named_type(get_named_type(definition.type).fields["nodes"].type)
        for order in get_named_type(definition.args["orderBy"].type).values:
            query = f"{{ viewer {{ {name}(orderBy: {order}, first: 100) {{ edges {{ cursor }} }} }} }}"
            answer = await post(pair.slow, {"query": query}, world.token_a)
            pool[(node_type.name, order)] = [edge["cursor"] for edge in answer["data"]["viewer"][name]["edges"]]
            assert pool[(node_type.name, order)], query
    return pool


#: Seeds of the generated documents: a few in CI; run more locally (QUINTET_GENERATED_SEEDS=40).
GENERATED_SEEDS = int(os.environ.get("QUINTET_GENERATED_SEEDS", "4"))


def _viewer_lists(product_name: str) -> list[str]:
    """The product's viewer fields that have a SQL form (its kit declarations)."""
    (product,) = [p for p in PRODUCTS if p.name == product_name]
    parts = product.parts_of("viewer")
    assert parts
    return [name for part in parts for name in kit.sql_fields(kit.spec_of(part))]


@pytest.mark.parametrize("seed", range(GENERATED_SEEDS))
@pytest.mark.parametrize("product", sorted(WORLDS))
async def test_generated_documents_answer_identically(
    pair: Pair, world: World, cursor_pool: dict[tuple[str, str], list[str]], product: str, seed: int
) -> None:
    generator = DeclaredFields(pair.schema, seed, cursor_pool, _viewer_lists(product))
    outcomes: dict[str, int] = {}
    for _ in range(20):
        query, variables = generator.document()
        token = world.token_a if generator.rng.random() < 0.8 else world.token_b
        outcome = await compare(pair, query, variables or None, token)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # Documents with page sizes of 100 under several levels can pass maxNodes only on the
    # resolvers, and a cursor now and then is not one... all the others must be answered by one
    # statement.
    assert outcomes.get("sql", 0) >= 15, outcomes
