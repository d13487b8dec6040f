"""The compiled query path (core/fastpath.py) answers exactly as graphql-core does.

Two apps share one database and one signing key: one with the fast path, one without. Every
document goes to graphql-core once and to the fast-path app twice (the first request compiles
the plan, the second runs it); the answers must be identical: data, errors with their paths
and null bubbling, and the SQL statements spent. Hand-written cases pin the important
behaviours; generated documents (fields, aliases, fragments, arguments, variables, ids of
other users, invalid arguments) cover the rest.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
)
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from core.relay import from_global_id, to_global_id
from tests.factories import create_tree
from tests.pairs import Pair, app_pair, assert_graphql_core_answers_so, post, without_extensions
from tests.support import GraphQLClient

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class World:
    token_a: str
    token_b: str
    ids: list[str]  # global ids of A's objects, of B's, and ids of nothing
    viewers: tuple[str, str]  # the global ids of A's viewer and B's


@pytest.fixture(scope="module")
async def pair(database_url: str, data_dir: Path) -> AsyncIterator[Pair]:
    # The compiled resolver path only: the one-statement SQL form has its own tests.
    async with app_pair(database_url, data_dir, compiled_sql=False) as both:
        yield both


@pytest.fixture(scope="module")
async def world(pair: Pair, engine: AsyncEngine) -> World:
    gql = GraphQLClient(pair.slow)
    a, b = await gql.sign_up(), await gql.sign_up()
    ids: list[str] = []
    async with async_sessionmaker(engine)() as session:
        for viewer in (a, b):
            tree = await create_tree(
                session,
                user_id=from_global_id(viewer.user_id)[1],
                pillars=2,
                areas_per_pillar=2,
                projects_per_area=2,
                tasks_per_project=4,
            )
            ids += [to_global_id("Pillar", tree.pillars[0]), to_global_id("Area", tree.areas[1])]
            ids += [to_global_id("Project", tree.projects[2]), to_global_id("Task", tree.tasks[5])]
            ids.append(viewer.user_id)
        await session.commit()
    ids += [to_global_id("Task", uuid.uuid4()), "not-an-id", to_global_id("Nothing", uuid.uuid4())]
    viewer_a, viewer_b = (to_global_id("Viewer", from_global_id(viewer.user_id)[1]) for viewer in (a, b))
    return World(a.token, b.token, ids, (viewer_a, viewer_b))


async def compare(pair: Pair, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> str:
    """Send the document both ways; assert identical answers; say which path the fast app took."""
    body = {"query": query, "variables": variables}
    try:
        expected = await post(pair.slow, body, token)
    except BaseException as error:
        error.add_note(f"document: {query}\nvariables: {variables}")
        raise
    first = await post(pair.fast, body, token)  # compiles (graphql-core answers)
    executed, abandoned = pair.plans.executed, pair.plans.abandoned
    second = await post(pair.fast, body, token)
    context = f"\n{query}\nvariables: {variables}"
    await assert_graphql_core_answers_so(pair, body, token, expected, [first, second])
    if pair.plans.executed > executed:
        # Same batching: the compiled path spends exactly the statements graphql-core spends.
        assert second["extensions"]["sql"]["statements"] == expected["extensions"]["sql"]["statements"], context
        assert "errors" not in expected, context
        return "compiled"
    if pair.plans.abandoned > abandoned:
        assert "errors" in expected, context  # abandoned only where graphql-core reports errors
        return "abandoned"
    return "not compiled"


TREE = """
query Tree($first: Int) { viewer { pillars(first: $first) { totalCount pageInfo { hasNextPage endCursor }
  nodes { id name progress { percent totalTasks completedTasks }
    areas { edges { cursor node { id name importance pillar { id name } projects(orderBy: NAME_ASC) { nodes {
      id name status priority progress { percent }
      tasks(first: 3, orderBy: DUE_AT_DESC) { totalCount nodes { id title status priority dueAt isOverdue
        project { name } } } } } } } } } } } }
"""


async def test_tree_is_compiled_and_identical(pair: Pair, world: World) -> None:
    assert await compare(pair, TREE, {"first": 2}, world.token_a) == "compiled"
    assert await compare(pair, TREE, {"first": 1}, world.token_b) == "compiled"


async def test_errors_and_null_bubbling_are_graphql_cores(pair: Pair, world: World) -> None:
    # An invalid page size deep in the tree: an error per project, nulls bubbling up to the
    # nearest nullable field, exactly as graphql-core words and places them.
    query = (
        "{ viewer { pillars { nodes { areas { nodes { projects(first: 2) { nodes { "
        "tasks(first: 101) { totalCount } } } } } } } } }"
    )
    assert await compare(pair, query, None, world.token_a) == "abandoned"
    # A bad cursor on one branch, good data on a sibling branch.
    query = '{ viewer { a: pillars(after: "nope") { totalCount } b: pillars { totalCount } } }'
    assert await compare(pair, query, None, world.token_a) == "abandoned"
    # Signed out: whatever the viewer answers, both paths answer it alike.
    await compare(pair, "{ viewer { pillars { totalCount } } }", None, None)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("unreadNotificationCount", 0),
        # The insights' own loaders were plain DataLoaders (found by the generated documents too)
        ("insightPreferences { tone }", {"tone": "ENCOURAGING"}),
    ],
)
async def test_a_failed_field_does_not_cancel_a_load_another_field_shares(
    pair: Pair, world: World, field: str, value: Any
) -> None:
    # Found by the generated documents: graphql-core cancels the siblings of a failed non-null
    # field; the cancelled sibling used to cancel the DataLoader future it shared with the
    # second `viewer`, whose field then raised CancelledError and the request ended in a 500.
    query = f"{{ viewer {{ count: {field} pillars(last: 101) {{ totalCount }} }} other: viewer {{ {field} }} }}"
    answer = await post(pair.slow, {"query": query}, world.token_a)
    assert answer["data"] == {"viewer": None, "other": {field.split()[0]: value}}
    assert answer["errors"][0]["path"] == ["viewer", "pillars"]
    assert await compare(pair, query, None, world.token_a) == "abandoned"


async def test_other_users_objects_answer_like_missing_ones(pair: Pair, world: World) -> None:
    query = "query Q($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Task { title } ... on Pillar { name } } }"
    assert await compare(pair, query, {"ids": world.ids[:4]}, world.token_a) == "compiled"
    assert await compare(pair, query, {"ids": world.ids[5:9]}, world.token_a) == "compiled"
    answer = await post(pair.fast, {"query": query, "variables": {"ids": world.ids[5:9]}}, world.token_a)
    assert answer["data"]["nodes"] == [None, None, None, None]


async def test_the_viewer_has_its_own_id_and_node_finds_it_for_its_viewer_only(pair: Pair, world: World) -> None:
    own, other = world.viewers
    query = "{ viewer { __typename id unreadNotificationCount pillars(first: 1) { nodes { id } } } }"
    assert await compare(pair, query, None, world.token_a) == "compiled"
    answer = await post(pair.fast, {"query": query}, world.token_a)
    assert answer["data"]["viewer"]["id"] == own
    lookup = "query Q($id: ID!) { node(id: $id) { __typename id ... on Viewer { pillars { totalCount } } } }"
    assert await compare(pair, lookup, {"id": own}, world.token_a) == "compiled"
    answer = await post(pair.fast, {"query": lookup, "variables": {"id": own}}, world.token_a)
    assert answer["data"]["node"] == {"__typename": "Viewer", "id": own, "pillars": {"totalCount": 2}}
    # Another user's viewer id is null, like any object of theirs; signed out, every id is
    for variables, token in (({"id": other}, world.token_a), ({"id": own}, None)):
        await compare(pair, lookup, variables, token)
        answer = await post(pair.fast, {"query": lookup, "variables": variables}, token)
        assert answer["data"] == {"node": None}


async def test_what_the_plan_does_not_model_stays_with_graphql_core(pair: Pair, world: World) -> None:
    introspection = "{ __schema { queryType { name } } viewer { pillars { totalCount } } }"
    assert await compare(pair, introspection, None, world.token_a) == "not compiled"
    conditional = "query Q($on: Boolean!) { viewer { pillars @include(if: $on) { totalCount } } }"
    assert await compare(pair, conditional, {"on": True}, world.token_a) == "not compiled"
    mutation = (
        'mutation { a: createPillar(input: {name: ""}) { errors { code } } '
        'b: createPillar(input: {name: ""}) { errors { code } } }'
    )
    assert await compare(pair, mutation, None, world.token_a) == "not compiled"
    assert pair.plans.get(introspection, None) is None
    assert pair.plans.known(introspection, None)


async def test_limits_that_depend_on_variables_still_apply(pair: Pair, world: World) -> None:
    query = (
        "query Q($n: Int) { viewer { pillars(first: $n) { nodes { areas(first: $n) { nodes { "
        "projects(first: $n) { nodes { tasks(first: $n) { totalCount } } } } } } } } }"
    )
    assert await compare(pair, query, {"n": 2}, world.token_a) == "compiled"
    body = {"query": query, "variables": {"n": 100}}
    refused = await post(pair.fast, body, world.token_a)
    assert refused["errors"][0]["extensions"]["code"] == "TOO_MANY_NODES"
    assert refused == without_extensions(await post(pair.slow, body, world.token_a)) | {
        "extensions": refused.get("extensions")
    }
    # A variable that doesn't coerce: graphql-core's own error, not a compiled guess.
    bad = {"query": query, "variables": {"n": "two"}}
    bad_variable = await post(pair.fast, bad, world.token_a)
    assert "Int cannot represent" in bad_variable["errors"][0]["message"]
    assert bad_variable["errors"] == (await post(pair.slow, bad, world.token_a))["errors"]


# ----------------------------------------------------------------------------- generated documents


class DocumentGenerator:
    """Random, valid-or-nearly documents over the real schema (seeded, so failures replay)."""

    def __init__(self, schema: GraphQLSchema, ids: list[str], seed: int) -> None:
        self.schema = schema
        self.ids = ids
        self.rng = random.Random(seed)
        self.variables: dict[str, Any] = {}
        self.declarations: list[str] = []
        self.fragments: list[str] = []

    def document(self) -> tuple[str, dict[str, Any]]:
        self.variables, self.declarations, self.fragments = {}, [], []
        query = self.schema.query_type
        assert query is not None
        roots = []
        for _ in range(self.rng.randint(1, 2)):
            name = self.rng.choice(["viewer", "viewer", "node", "nodes"])
            roots.append(self.field(query, name, query.fields[name], depth=0))
        header = f"query Generated({', '.join(self.declarations)})" if self.declarations else "query Generated"
        return header + " { " + " ".join(roots) + " } " + " ".join(self.fragments), self.variables

    def field(
        self, parent: GraphQLObjectType | GraphQLInterfaceType, name: str, definition: GraphQLField, depth: int
    ) -> str:
        rng = self.rng
        alias = f"{name}{rng.randint(1, 9)}: " if rng.random() < 0.15 else ""
        arguments = self.arguments(definition)
        directive = rng.choice([" @include(if: true)", " @skip(if: false)"]) if rng.random() < 0.05 else ""
        named = get_named_type(definition.type)
        selection = ""
        if not is_leaf_type(named):
            selection = " { " + self.selection(named, depth + 1) + " }"  # type: ignore[arg-type]
        return f"{alias}{name}{arguments}{directive}{selection}"

    def arguments(self, definition: GraphQLField) -> str:
        parts = []
        for name, argument in definition.args.items():
            value = self.argument(name, argument.type)
            if value is not None:
                parts.append(f"{name}: {value}")
        return f"({', '.join(parts)})" if parts else ""

    def argument(self, name: str, type_: Any) -> str | None:
        rng = self.rng
        required = isinstance(type_, GraphQLNonNull)
        if name == "id":
            return '"' + rng.choice(self.ids) + '"'
        if name == "ids":
            chosen = rng.sample(self.ids, rng.randint(0, 3))
            if rng.random() < 0.5:
                variable = f"$ids{len(self.variables)}"
                self.declarations.append(f"{variable}: [ID!]!")
                self.variables[variable[1:]] = chosen
                return variable
            return "[" + ", ".join(f'"{i}"' for i in chosen) + "]"
        if not required and rng.random() < 0.6:
            return None
        if name in ("first", "last"):
            size = rng.choice([0, 1, 2, 3, 3, 5, 100, 101, -1])
            if rng.random() < 0.3:
                variable = f"$n{len(self.variables)}"
                self.declarations.append(f"{variable}: Int")
                self.variables[variable[1:]] = size
                return variable
            return str(size)
        if name in ("after", "before"):
            return '"not-a-cursor"' if rng.random() < 0.5 else None
        named = get_named_type(type_)
        if isinstance(named, GraphQLEnumType):
            return rng.choice(list(named.values))
        if isinstance(named, GraphQLInputObjectType):
            return self.filter(named)
        return None

    def filter(self, input_type: GraphQLInputObjectType) -> str:
        parts = []
        for name, field in input_type.fields.items():
            if self.rng.random() < 0.6:
                continue
            named = get_named_type(field.type)
            if isinstance(named, GraphQLEnumType):
                values = self.rng.sample(list(named.values), self.rng.randint(1, 2))
                rendered = "[" + ", ".join(values) + "]" if isinstance(field.type, GraphQLList) else values[0]
                parts.append(f"{name}: {rendered}")
            elif named.name == "Boolean":
                parts.append(f"{name}: {self.rng.choice(['true', 'false'])}")
            elif named.name == "String":
                parts.append(f'{name}: "{self.rng.choice(["1", "Task", "zz"])}"')
        return "{" + ", ".join(parts) + "}"

    def selection(self, type_: GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType, depth: int) -> str:
        rng = self.rng
        if isinstance(type_, (GraphQLInterfaceType, GraphQLUnionType)):
            parts = ["__typename"]
            if isinstance(type_, GraphQLInterfaceType):
                parts += [self.field(type_, name, d, depth) for name, d in type_.fields.items() if not d.args]
            for possible in rng.sample(list(self.schema.get_possible_types(type_)), 2):
                parts.append(f"... on {possible.name} {{ {self.selection(possible, depth)} }}")
            return " ".join(parts)
        fields = {
            name: definition
            for name, definition in type_.fields.items()
            if all(
                not isinstance(a.type, GraphQLNonNull) or a.default_value is not None for a in definition.args.values()
            )
        }
        leaves = [n for n, d in fields.items() if is_leaf_type(get_named_type(d.type))]
        composites = [n for n, d in fields.items() if n not in leaves]
        if depth > 5:
            composites = []
        chosen = rng.sample(leaves, min(len(leaves), rng.randint(1, 4))) if leaves else []
        for preferred in ("nodes", "edges"):
            if preferred in composites and rng.random() < 0.7:
                chosen.append(preferred)
        extra = [c for c in composites if c not in chosen]
        chosen += rng.sample(extra, min(len(extra), rng.randint(0, 2)))
        if not chosen:
            chosen = ["__typename"]
        parts = []
        for name in chosen:
            if name == "__typename":
                parts.append(name)
            else:
                parts.append(self.field(type_, name, fields[name], depth))
        if rng.random() < 0.2:
            parts.append("__typename")
        if rng.random() < 0.1 and leaves:
            fragment = f"F{len(self.fragments)}"
            self.fragments.append(f"fragment {fragment} on {type_.name} {{ {rng.choice(leaves)} }}")
            parts.append(f"...{fragment}")
        if rng.random() < 0.1 and leaves:
            parts.append(f"... on {type_.name} {{ {rng.choice(leaves)} }}")
        return " ".join(parts)


@pytest.mark.parametrize("seed", range(6))
async def test_generated_documents_answer_identically(pair: Pair, world: World, seed: int) -> None:
    generator = DocumentGenerator(pair.schema, world.ids, seed)
    outcomes: dict[str, int] = {}
    for _ in range(25):
        query, variables = generator.document()
        token = world.token_a if generator.rng.random() < 0.9 else None
        outcome = await compare(pair, query, variables, token)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # The generator must exercise the compiled path, not only the fallbacks.
    assert outcomes.get("compiled", 0) >= 5, outcomes
