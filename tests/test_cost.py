"""Static cost (GraphQL Cost Directives specification) and the cost budgets (core/cost.py,
core/limits.py `Demand`, core/budgets.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from graphql import parse
from starlette.requests import HTTPConnection

from app import create_app
from core.budgets import Bucket, Budgets, MemoryBuckets
from core.context import Actor
from core.limits import Demand, SlicingArgumentsError, node_count, requested_nodes
from core.relay import to_global_id
from core.settings import Settings
from schema import build_schema
from tests.conftest import make_settings
from tests.support import GraphQLClient, Response

SETTINGS = Settings(_env_file=None, database_url="postgresql://unused/unused")
SCHEMA = build_schema(SETTINGS)._schema
DEFAULT = SETTINGS.default_page_size


def demand(document: str, operation_name: str | None = None) -> Demand:
    made = node_count(SCHEMA, parse(document), operation_name)
    assert made is not None
    return made


def cost(document: str, variables: dict[str, Any] | None = None) -> int:
    return demand(document).cost(variables or {}, DEFAULT)


# ----------------------------------------------------------------------------- the specification's rules


def test_objects_weigh_one_scalars_and_enums_nothing() -> None:
    # Given a query of objects (viewer, user) and of scalars and an enum beneath them
    # Then each object weighs 1 and the scalars nothing
    assert cost("{ viewer { id user { id displayName email } } }") == 2
    assert cost("{ __typename }") == 0


def test_a_literal_slicing_argument_sizes_the_connections_sized_fields() -> None:
    # Given a connection with `first: 10` (its @listSize: slicingArguments first/last, sizedFields edges/nodes)
    # Then viewer 1 + the connection 1 + 10 nodes of 1
    assert cost("{ viewer { projects(first: 10) { nodes { id title } totalCount } } }") == 12
    # And both sized fields are multiplied: edges (edge 1 + node 1) and nodes, and pageInfo is one object
    both = "{ viewer { projects(first: 5) { edges { cursor node { id } } nodes { id } pageInfo { hasNextPage } } } }"
    assert cost(both) == 1 + 1 + 5 * (1 + 1) + 5 * 1 + 1
    # And `last` slices as well
    assert cost("{ viewer { projects(last: 3) { nodes { id } } } }") == 1 + 1 + 3


def test_a_slicing_argument_given_by_a_variable() -> None:
    # Given the size as a variable (with a default in the operation)
    document = "query($n: Int) { viewer { projects(first: $n) { nodes { id } } } }"
    formula = demand(document)
    # Then the cost follows its value, and the default page size where it is null
    assert formula.cost({"n": 7}, DEFAULT) == 2 + 7
    assert formula.cost({"n": None}, DEFAULT) == 2 + DEFAULT
    assert formula.cost({}, 50) == 2 + 50
    assert formula.variables == {"n"}


def test_no_slicing_argument_uses_the_assumed_size() -> None:
    # Given a connection without first/last: its assumedSize is the default page size
    assert cost("{ viewer { pillars { nodes { id } } } }") == 2 + DEFAULT


def test_nested_lists_multiply() -> None:
    # Given two nested connections (3 pillars, 4 areas each) and a fragment
    document = """
      { viewer { pillars(first: 3) { nodes { ...P } } } }
      fragment P on Pillar { name areas(first: 4) { nodes { id } totalCount } }
    """
    # Then each pillar weighs 1 + its connection 1 + 4 areas
    assert cost(document) == 1 + 1 + 3 * (1 + 1 + 4 * 1)
    # And the breadth limit counts the same list sizes: 3 pillars + 3 x 4 areas
    assert demand(document).total({}, DEFAULT) == 3 + 3 * 4


def test_nodes_are_sized_by_their_ids() -> None:
    # Given `nodes(ids:)` (@listSize(slicingArguments: ["ids"])): a list argument counts its items
    document = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Task { project { id } } } }"
    ids = [to_global_id("Task", uuid.uuid4()) for _ in range(4)]
    # Then 4 nodes of 1 (+ 1 for each one's project)
    assert demand(document).cost({"ids": ids}, DEFAULT) == 4 * 2
    # And maxNodes counts the same 4
    assert requested_nodes(SCHEMA, parse(document), None, {"ids": ids}, DEFAULT) == 4


def test_a_mutation_weighs_ten_more() -> None:
    # Given a mutation: the operation 10, its payload 1, the session 1, its user 1, errors (a list
    # without @listSize: one item) 1
    document = """
      mutation($input: RegisterInput!) { register(input: $input) {
        session { accessToken user { id } } errors { code message } } }
    """
    assert cost(document) == 10 + 1 + 1 + 1 + 1


def test_weighted_fields_and_input_fields() -> None:
    # Given requestInsights (@cost(weight: 100): an AI call) in place of its payload's 1
    assert cost("mutation { requestInsights(input: {}) { job { id } } }") == 10 + 100 + 1
    # And the task search (@cost(weight: 5) on TaskFilterInput.search) given as a literal
    plain = "{ viewer { tasks(first: 10, filter: { overdue: true }) { nodes { id } } } }"
    searched = '{ viewer { tasks(first: 10, filter: { search: "tax" }) { nodes { id } } } }'
    assert cost(plain) == 12
    assert cost(searched) == 12 + 5
    # And as a variable, which may hold it: counted as if it did
    assert cost("query($f: TaskFilterInput) { viewer { tasks(first: 10, filter: $f) { nodes { id } } } }") == 17


def test_the_cost_and_the_node_count_agree_with_the_documented_headline_query() -> None:
    # Given the README's nested query (20 x 20 x 20 x 50 tasks at most)
    document = """
      { viewer { pillars(first: 20) { nodes { areas { nodes { projects { nodes {
          tasks(first: 50) { nodes { id } } } } } } } } } }
    """
    formula = demand(document)
    nodes = 20 + 20 * 20 + 20 * 20 * 20 + 20 * 20 * 20 * 50
    assert formula.total({}, DEFAULT) == nodes == 408_420
    # Then the cost is each of those objects once, plus each connection object once per parent
    connections = 1 + 20 + 20 * 20 + 20 * 20 * 20
    assert formula.cost({}, DEFAULT) == 1 + connections + nodes == 416_842


def test_the_actual_cost_counts_the_lists_as_returned() -> None:
    # Given nested connections asked for 3 x 4, answered with 2 pillars of 1 and 0 areas
    document = "{ viewer { pillars(first: 3) { nodes { id areas(first: 4) { nodes { id } } } } } }"
    data = {
        "viewer": {
            "pillars": {"nodes": [{"id": "a", "areas": {"nodes": [{"id": "x"}]}}, {"id": "b", "areas": {"nodes": []}}]}
        }
    }
    formula = demand(document)
    assert formula.cost({}, DEFAULT) == 2 + 3 * (2 + 4)
    # Then the actual cost is the same sum with the real lengths
    assert formula.actual_cost(data) == 2 + (2 + 1) + (2 + 0)
    # And read from the JSON text (the one-statement answer) it is the same
    assert formula.actual_cost_of_text(orjson.dumps(data).decode()) == 2 + (2 + 1) + (2 + 0)
    # And nothing returned costs only the objects above the lists
    assert formula.actual_cost({"viewer": None}) == 2
    assert formula.actual_cost_of_text('{"viewer": null}') == 2


def test_one_slicing_argument_required() -> None:
    # Given a @listSize whose requireOneSlicingArgument is true (nodes' ids): a value that is not
    # a list nor a size counts as not given, and is refused
    document = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    with pytest.raises(SlicingArgumentsError):
        demand(document).cost({"ids": None}, DEFAULT)


# ----------------------------------------------------------------------------- the bucket


def test_the_memory_bucket_leaks_and_restores() -> None:
    # Given a bucket of 100 restored at 10 a second
    buckets, bucket = MemoryBuckets(), Bucket(100, 10)
    # When 70 are taken, then 40 more cannot be, 30 can
    assert buckets.apply("k", bucket, 0.0, 70) == (True, 30.0)
    assert buckets.apply("k", bucket, 0.0, 40) == (False, 30.0)
    # And 1.5 s later 15 more are there; what is given back never exceeds the maximum
    assert buckets.apply("k", bucket, 1.5, 40) == (True, 5.0)
    assert buckets.apply("k", bucket, 1.5, -500) == (True, 100.0)


def test_whose_bucket_a_request_spends() -> None:
    # Given budgets for users, API clients and anonymous addresses (and none for webhooks, the system)
    budgets = Budgets({"user": Bucket(10, 1), "api_client": Bucket(20, 2), "anonymous": Bucket(30, 3)})
    scope = {"type": "http", "client": ("203.0.113.7", 5000), "headers": []}
    connection = HTTPConnection(scope)
    user = Actor(user_id=uuid.uuid4(), role="user")
    organization = uuid.uuid4()
    # Then a user spends theirs by user id, an API client its own by client id, anonymous by address
    assert budgets.key_for(user, connection) == (f"quintet:cost:user:{user.user_id}", Bucket(10, 1))
    assert budgets.key_for(Actor.api_client("client-1", organization), connection) == (
        "quintet:cost:api_client:client-1",
        Bucket(20, 2),
    )
    assert budgets.key_for(None, connection) == ("quintet:cost:anonymous:203.0.113.7", Bucket(30, 3))
    assert budgets.key_for(Actor.webhook("stripe"), connection) is None
    assert budgets.key_for(Actor.system("job"), connection) is None
    # And a kind whose maximum is 0 has no budget
    settings = Settings(_env_file=None, database_url="postgresql://unused/unused", cost_api_client_maximum=0)
    assert Budgets.from_settings(settings).key_for(Actor.api_client("client-1", organization), connection) is None


# ----------------------------------------------------------------------------- over HTTP


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def tight(database_url: str, data_dir: Path) -> AsyncIterator[tuple[GraphQLClient, Clock]]:
    """An app whose users' buckets hold 100 points, restored at 1 a second, on a clock of the test's."""
    settings = make_settings(database_url, data_dir, cost_user_maximum=100, cost_user_restore_rate=1)
    application = create_app(settings)
    clock = Clock()
    async with application.router.lifespan_context(application):
        budgets: Budgets = application.state.runtime.budgets
        budgets.clock = clock
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield GraphQLClient(client), clock


NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id } }"
NODES_AGAIN = "query Again($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"


def ids(count: int) -> list[str]:
    return [to_global_id("Task", uuid.uuid4()) for _ in range(count)]


def cost_of(result: Response) -> dict[str, Any]:
    shown: dict[str, Any] = result.body["extensions"]["cost"]
    return shown


async def test_every_response_carries_its_cost_and_gives_back_what_it_did_not_use(
    tight: tuple[GraphQLClient, Clock],
) -> None:
    gql, _clock = tight
    me = await gql.sign_up()
    document = "{ viewer { projects(first: 10) { nodes { id } } } }"
    # When a user without projects asks for 10 (the first request runs through graphql-core)
    first = await gql(document, token=me.token)
    # Then it asked for 12 and cost 2 (no project came back): 10 were given back
    assert cost_of(first) == {
        "requestedQueryCost": 12,
        "actualQueryCost": 2,
        "throttleStatus": {"maximumAvailable": 100, "currentlyAvailable": 98, "restoreRate": 1},
    }
    # And the same on the compiled path (one statement), from the JSON Postgres wrote
    second = await gql(document, token=me.token)
    assert second.body["extensions"]["sql"]["oneStatement"] is True
    assert cost_of(second)["actualQueryCost"] == 2
    assert cost_of(second)["throttleStatus"]["currentlyAvailable"] == 96


async def test_over_budget_is_refused_before_any_sql_and_says_when_to_retry(
    tight: tuple[GraphQLClient, Clock], http: httpx.AsyncClient
) -> None:
    gql, clock = tight
    me = await gql.sign_up()
    # Given a user who spent 90 of their 100 points (90 nodes, all returned: null, they don't exist)
    spent = await gql(NODES, {"ids": ids(90)}, token=me.token)
    assert cost_of(spent)["actualQueryCost"] == 90
    assert cost_of(spent)["throttleStatus"]["currentlyAvailable"] == 10
    # When they ask for 50 more, on the compiled path (a document seen before) and through graphql-core
    for document in (NODES, NODES_AGAIN):
        response = await gql.http.post(
            "/graphql",
            json={"query": document, "variables": {"ids": ids(50)}},
            headers={"Authorization": f"Bearer {me.token}"},
        )
        # Then it is refused with its code, the numbers and when to retry, and ran no SQL
        assert response.status_code == 429
        assert response.headers["retry-after"] == "40"
        body = response.json()
        [error] = body["errors"]
        assert error["extensions"] == {
            "code": "THROTTLED",
            "requested": 50,
            "available": 10,
            "maximum": 100,
            "restoreRate": 1,
            "retryAfter": 40,
        }
        assert "data" not in body
        assert body["extensions"]["sql"]["statements"] == 0
        assert body["extensions"]["cost"]["actualQueryCost"] == 0
        assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 10
    # And 40 s later (restored at 1 a second) it runs
    clock.now += 40
    again = await gql(NODES, {"ids": ids(50)}, token=me.token)
    assert cost_of(again)["throttleStatus"]["currentlyAvailable"] == 0
    # While another user's bucket is their own
    other = await gql.sign_up()
    assert cost_of(await gql(NODES, {"ids": ids(50)}, token=other.token))["throttleStatus"]["currentlyAvailable"] == 50


async def test_a_request_above_the_maximum_could_never_run(tight: tuple[GraphQLClient, Clock]) -> None:
    gql, _clock = tight
    me = await gql.sign_up()
    # When one request asks for more than the bucket ever holds (2 + 3 x (2 + 40) = 128 > 100)
    document = "{ viewer { pillars(first: 3) { nodes { areas(first: 40) { nodes { id } } } } } }"
    for _ in range(2):  # graphql-core's path, then the compiled one
        result = await gql(document, token=me.token)
        # Then it is refused with its own code, before any SQL, and costs nothing
        [error] = result.errors
        assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
        assert error["extensions"]["requested"] == 128
        assert error["extensions"]["maximum"] == 100
        assert result.statements == 0
        assert cost_of(result)["throttleStatus"]["currentlyAvailable"] == 100


async def test_a_query_over_server_sent_events_spends_the_same_bucket(tight: tuple[GraphQLClient, Clock]) -> None:
    gql, _clock = tight
    me = await gql.sign_up()
    # When a user runs a query of 30 nodes as an event stream (graphql-sse's single result)
    response = await gql.http.post(
        "/graphql",
        json={"query": NODES, "variables": {"ids": ids(30)}},
        headers={"Authorization": f"Bearer {me.token}", "Accept": "text/event-stream"},
    )
    assert response.status_code == 200
    [event] = [line for line in response.text.splitlines() if line.startswith("data: {")]
    # Then its `next` reports the cost as a JSON response does: 30 asked and 30 used (a list of
    # 30 nulls: no such tasks)
    assert orjson.loads(event.removeprefix("data: "))["extensions"]["cost"] == {
        "requestedQueryCost": 30,
        "actualQueryCost": 30,
        "throttleStatus": {"maximumAvailable": 100, "currentlyAvailable": 70, "restoreRate": 1},
    }
    # And the next JSON request reads the same bucket
    after = await gql(NODES, {"ids": ids(10)}, token=me.token)
    assert cost_of(after)["throttleStatus"]["currentlyAvailable"] == 100 - 30 - 10


async def test_a_refusal_over_server_sent_events_says_what_the_bucket_holds(tight: tuple[GraphQLClient, Clock]) -> None:
    gql, _clock = tight
    me = await gql.sign_up()
    # When a user asks, as an event stream, for more than the bucket ever holds
    response = await gql.http.post(
        "/graphql",
        json={"query": "{ viewer { pillars(first: 3) { nodes { areas(first: 40) { nodes { id } } } } } }"},
        headers={"Authorization": f"Bearer {me.token}", "Accept": "text/event-stream"},
    )
    [event] = [line for line in response.text.splitlines() if line.startswith("data: {")]
    payload = orjson.loads(event.removeprefix("data: "))
    # Then the stream's one result is the refusal, with the bucket as it stands
    assert [e["extensions"]["code"] for e in payload["errors"]] == ["COST_LIMIT_EXCEEDED"]
    assert payload["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 100
