"""The compiled mutation path (core/fastpath.py `run_mutation_plan`) answers exactly as graphql-core does.

Two apps share one database (tests/pairs.py): graphql-core alone, and the compiled paths. Each
mutation goes to graphql-core once and to the compiled app twice (the first request compiles
the plan, the second runs it); the answers must be identical, typed payload errors included,
and so must the SQL statements spent. A mutation runs once per request even on the compiled
path, so the documents below are ones whose answer does not depend on how often they ran (a
rename to the same title), or whose new ids are set aside (`created`). What the plan leaves to
graphql-core (a resolver that raises, a null in a non-null position) is compared on a small
schema of its own, against strawberry's execution of the same documents.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import strawberry
from graphql import parse
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from core.fastpath import compile_plan, run_mutation_plan
from core.relay import from_global_id, to_global_id
from tests.factories import create_tree
from tests.pairs import Pair, app_pair, post, without_extensions
from tests.support import GraphQLClient

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class World:
    token_a: str
    token_b: str
    project_a: str
    task_a: str
    task_b: str


@pytest.fixture(scope="module")
async def pair(database_url: str, data_dir: Path) -> AsyncIterator[Pair]:
    async with app_pair(database_url, data_dir) as both:
        yield both


@pytest.fixture(scope="module")
async def world(pair: Pair, engine: AsyncEngine) -> World:
    gql = GraphQLClient(pair.slow)
    a, b = await gql.sign_up(), await gql.sign_up()
    trees = []
    async with async_sessionmaker(engine)() as session:
        for viewer in (a, b):
            trees.append(
                await create_tree(
                    session,
                    user_id=from_global_id(viewer.user_id)[1],
                    pillars=1,
                    areas_per_pillar=1,
                    projects_per_area=2,
                    tasks_per_project=3,
                )
            )
        await session.commit()
    return World(
        a.token,
        b.token,
        to_global_id("Project", trees[0].projects[0]),
        to_global_id("Task", trees[0].tasks[0]),
        to_global_id("Task", trees[1].tasks[0]),
    )


def created(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer with the new task's id set aside (checked to be a task's)."""
    payload = (answer.get("data") or {}).get("createTask")
    task = (payload or {}).get("task")
    if task is not None and "id" in task:
        assert from_global_id(task["id"])[0] == "Task"
        task["id"] = "<new task>"
    return answer


async def compare(
    pair: Pair,
    query: str,
    variables: dict[str, Any] | None,
    token: str | None,
    normalize: Callable[[dict[str, Any]], dict[str, Any]] = lambda answer: answer,
) -> tuple[str, dict[str, Any]]:
    """Send the mutation both ways; assert identical answers; say which path the compiled app took."""
    body = {"query": query, "variables": variables}
    expected = normalize(await post(pair.slow, body, token))
    first = normalize(await post(pair.fast, body, token))  # compiles (graphql-core answers)
    executed, abandoned = pair.plans.executed, pair.plans.abandoned
    second = normalize(await post(pair.fast, body, token))
    context = f"\n{query}\nvariables: {variables}"
    for answer in (first, second):
        assert without_extensions(answer) == without_extensions(expected), f"{context}\nfast: {answer}"
    assert second["extensions"]["sql"]["statements"] == expected["extensions"]["sql"]["statements"], context
    if pair.plans.executed > executed:
        assert "errors" not in expected, context
        return "compiled", without_extensions(expected)
    if pair.plans.abandoned > abandoned:
        assert "errors" in expected, context
        return "completed by graphql-core", without_extensions(expected)
    return "not compiled", without_extensions(expected)


RENAME = """mutation Rename($input: UpdateTaskInput!) { updateTask(input: $input) {
  task { id title } errors { code message } } }"""

UPDATE = """mutation Update($input: UpdateTaskInput!) { updateTask(input: $input) {
  __typename task { __typename id title status priority isOverdue project { id name status } }
  errors { __typename code message field } } }"""

CREATE = """mutation Create($input: CreateTaskInput!) { made: createTask(input: $input) {
  task { id title status priority description project { id } } errors { code message field } } }"""


async def test_an_update_is_compiled_and_identical(pair: Pair, world: World) -> None:
    path, answer = await compare(pair, RENAME, {"input": {"id": world.task_a, "title": "Renamed"}}, world.token_a)
    assert path == "compiled"
    assert answer == {"data": {"updateTask": {"task": {"id": world.task_a, "title": "Renamed"}, "errors": []}}}
    changes = {"id": world.task_a, "status": "IN_PROGRESS", "priority": "HIGH", "projectId": world.project_a}
    path, answer = await compare(pair, UPDATE, {"input": changes}, world.token_a)
    assert path == "compiled"
    task = answer["data"]["updateTask"]["task"]
    assert (task["status"], task["priority"], task["project"]["id"]) == ("IN_PROGRESS", "HIGH", world.project_a)


async def test_a_create_is_compiled_and_identical(pair: Pair, world: World) -> None:
    document = CREATE.replace("made: createTask", "createTask")
    task = {"projectId": world.project_a, "title": "New", "priority": "LOW", "description": "d"}
    path, answer = await compare(pair, document, {"input": task}, world.token_a, created)
    assert path == "compiled"
    assert answer["data"]["createTask"]["task"] == {
        "id": "<new task>",
        "title": "New",
        "status": "TODO",
        "priority": "LOW",
        "description": "d",
        "project": {"id": world.project_a},
    }
    # An alias, and a literal input instead of a variable.
    literal = (
        f'mutation {{ made: createTask(input: {{projectId: "{world.project_a}", title: "Lit"}}) '
        "{ task { title } } }"
    )
    path, answer = await compare(pair, literal, None, world.token_a)
    assert path == "compiled"
    assert answer == {"data": {"made": {"task": {"title": "Lit"}}}}


async def test_typed_errors_are_identical(pair: Pair, world: World) -> None:
    cases: list[tuple[str, dict[str, Any], str | None, str]] = [
        # bad input: an empty title, a title too long, an id that is no id, an id of another type
        (CREATE, {"projectId": world.project_a, "title": ""}, world.token_a, "VALIDATION"),
        (UPDATE, {"id": world.task_a, "title": "x" * 301}, world.token_a, "VALIDATION"),
        (UPDATE, {"id": "not-an-id", "title": "x"}, world.token_a, "VALIDATION"),
        (UPDATE, {"id": world.project_a, "title": "x"}, world.token_a, "VALIDATION"),
        # not found: nothing there, and another user's task (answered alike)
        (UPDATE, {"id": to_global_id("Task", uuid.uuid4()), "title": "x"}, world.token_a, "NOT_FOUND"),
        (UPDATE, {"id": world.task_b, "title": "x"}, world.token_a, "NOT_FOUND"),
        (CREATE, {"projectId": world.project_a, "title": "x"}, world.token_b, "NOT_FOUND"),
        # moving a task under another user's project
        (UPDATE, {"id": world.task_a, "projectId": to_global_id("Project", uuid.uuid4())}, world.token_a, "NOT_FOUND"),
        # forbidden: signed out
        (UPDATE, {"id": world.task_a, "title": "x"}, None, "UNAUTHENTICATED"),
    ]
    for document, input, token, code in cases:
        path, answer = await compare(pair, document, {"input": input}, token, created)
        assert path == "compiled", (document, input)
        payload = next(iter(answer["data"].values()))
        assert payload["task"] is None
        assert [error["code"] for error in payload["errors"]] == [code], (input, payload)
    # Nothing of it was written: task B keeps its title, for B.
    path, answer = await compare(pair, RENAME, {"input": {"id": world.task_b, "title": "B's"}}, world.token_b)
    assert answer["data"]["updateTask"]["task"]["title"] == "B's"


async def test_what_graphql_core_refuses_before_running_stays_with_it(pair: Pair, world: World) -> None:
    # Variables that don't coerce, a missing required field, an unknown enum value.
    for variables in (
        {"input": {"id": world.task_a, "status": "BOGUS"}},
        {"input": {"title": "no id"}},
        {"input": {"id": world.task_a, "dueAt": "tomorrow"}},
        None,
    ):
        path, answer = await compare(pair, RENAME, variables, world.token_a)
        assert path == "not compiled"
        assert "data" not in answer
        assert answer["errors"]
    # Two root fields run one after the other: graphql-core's.
    both = (
        f'mutation {{ a: updateTask(input: {{id: "{world.task_a}", title: "A"}}) {{ task {{ title }} }} '
        f'b: updateTask(input: {{id: "{world.task_a}", title: "B"}}) {{ task {{ title }} }} }}'
    )
    path, answer = await compare(pair, both, None, world.token_a)
    assert path == "not compiled"
    assert answer == {"data": {"a": {"task": {"title": "A"}}, "b": {"task": {"title": "B"}}}}


async def test_a_mutation_by_get_is_still_refused_once_compiled(pair: Pair, world: World) -> None:
    body = {"query": RENAME, "variables": {"input": {"id": world.task_a, "title": "By POST"}}}
    headers = {"Authorization": f"Bearer {world.token_a}"}
    for _ in range(2):
        await post(pair.fast, body, world.token_a)
    assert pair.plans.get(RENAME, None) is not None
    params = {"query": RENAME, "variables": json.dumps({"input": {"id": world.task_a, "title": "By GET"}})}
    slow = await pair.slow.get("/graphql", params=params, headers=headers)
    fast = await pair.fast.get("/graphql", params=params, headers=headers)
    assert (fast.status_code, without_extensions(fast.json())) == (slow.status_code, without_extensions(slow.json()))
    assert fast.status_code == 405
    answer = await post(
        pair.slow,
        {"query": "query Q($id: ID!) { node(id: $id) { ... on Task { title } } }", "variables": {"id": world.task_a}},
        world.token_a,
    )
    assert answer["data"]["node"]["title"] == "By POST"


# --------------------------------------------------------------- what graphql-core completes


@strawberry.type
class Thing:
    name: str
    size: int | None = None

    @strawberry.field
    def must(self) -> str:
        return cast(str, None)  # a null in a non-null position, on purpose

    @strawberry.field
    def fails(self) -> str | None:
        raise ValueError("no size today")


@strawberry.type
class ThingPayload:
    thing: Thing | None
    note: str


@strawberry.type
class Query:
    hello: str = "hi"


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def make(self, name: str) -> ThingPayload:
        if name == "raise":
            raise ValueError("the resolver raised")
        return ThingPayload(thing=Thing(name=name, size=len(name)), note="made")

    @strawberry.mutation
    async def maybe(self, name: str) -> ThingPayload | None:
        if name == "raise":
            raise ValueError("the nullable resolver raised")
        return ThingPayload(thing=Thing(name=name), note="maybe")


TOY = strawberry.Schema(query=Query, mutation=Mutation)

TOY_CASES = [
    ('mutation { make(name: "a") { note thing { name size } } }', None),
    ("mutation M($n: String!) { make(name: $n) { note thing { __typename name } } }", {"n": "b"}),
    ('mutation { make(name: "raise") { note } }', None),  # a non-null root field fails: data null
    ('mutation { maybe(name: "raise") { note } }', None),  # a nullable one: null there
    ('mutation { make(name: "c") { note thing { name must } } }', None),  # bubbles up to `thing`
    ('mutation { maybe(name: "c") { note thing { name fails } } }', None),  # a field error, nulled
    ('mutation { m: maybe(name: "d") { n: note thing { ...F } } } fragment F on Thing { name size }', None),
]


@pytest.mark.parametrize(("document", "variables"), TOY_CASES)
async def test_the_plan_answers_as_graphql_core_even_with_errors(
    document: str, variables: dict[str, Any] | None
) -> None:
    expected = await TOY.execute(document, variable_values=variables)
    plan = compile_plan(TOY._schema, parse(document), None)
    assert plan is not None
    assert plan.mutation
    ran = await run_mutation_plan(plan, TOY._schema, None, variables, hide_suggestions=False)
    assert ran is not None
    result, by_plan = ran
    assert result.data == expected.data
    assert [error.formatted for error in result.errors or ()] == [error.formatted for error in expected.errors or ()]
    assert by_plan is not bool(expected.errors)


async def test_arguments_that_do_not_coerce_leave_the_whole_mutation_to_graphql_core() -> None:
    document = "mutation M($n: String!) { make(name: $n) { note } }"
    plan = compile_plan(TOY._schema, parse(document), None)
    assert plan is not None
    assert await run_mutation_plan(plan, TOY._schema, None, {"n": 3}, hide_suggestions=False) is None
    assert await run_mutation_plan(plan, TOY._schema, None, {}, hide_suggestions=False) is None
    two = 'mutation { a: make(name: "a") { note } b: make(name: "b") { note } }'
    assert compile_plan(TOY._schema, parse(two), None) is None
