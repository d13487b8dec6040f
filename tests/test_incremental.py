"""@defer and @stream over HTTP (core/incremental.py): the multipart/mixed framing, the payloads
(graphql-core 3.3's format) and, merged, the same answer as the document without the directives,
which the compiled paths answer; the deferred documents themselves are never compiled. Limits
count deferred fields; errors inside deferred payloads carry their codes."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import orjson
import pytest
from graphql import DirectiveNode, parse, print_ast, visit
from graphql.language import REMOVE, Visitor
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from core.relay import from_global_id
from core.runtime import Runtime
from schema import printable_schema
from tests.factories import create_tree
from tests.support import GraphQLClient, Viewer

MULTIPART = "multipart/mixed, application/graphql-response+json;q=0.5"
BOUNDARY = "\r\n---"


@pytest.fixture(scope="module")
async def owner(http: httpx.AsyncClient, engine: Any) -> Viewer:
    """A user with two pillars, each with two areas of two projects of two tasks."""
    viewer = await GraphQLClient(http).sign_up(display_name="Deferred")
    async with AsyncSession(engine) as session:
        await create_tree(
            session,
            user_id=from_global_id(viewer.user_id)[1],
            pillars=2,
            areas_per_pillar=2,
            projects_per_area=2,
            tasks_per_project=2,
        )
        await session.commit()
    return viewer


def parts(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON payloads of a multipart/mixed body, its framing checked on the way."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == 'multipart/mixed; incrementalSpec=v0.2; boundary="-"'
    body = response.content.decode()
    assert body.startswith("---"), body
    assert body.endswith(BOUNDARY + "--\r\n"), body
    payloads = []
    for part in body[len("---") : -len(BOUNDARY + "--\r\n")].split(BOUNDARY):
        head, _, text = part.partition("\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.strip("\r\n").split("\r\n"))
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        assert int(headers["Content-Length"]) == len(text.encode())
        payloads.append(orjson.loads(text))
    return payloads


def events(response: httpx.Response) -> list[dict[str, Any]]:
    """The `next` payloads of an event stream that ends with `complete`."""
    assert response.status_code == 200, response.text
    frames = response.text.split("\n\n")
    assert frames[-2:] == ["event: complete\ndata: ", ""], frames
    payloads = []
    for frame in frames[:-2]:
        event, data = frame.split("\n")
        assert event == "event: next"
        payloads.append(orjson.loads(data.removeprefix("data: ")))
    return payloads


def _merge_into(target: Any, patch: Any) -> None:
    for key, value in patch.items():
        if key in target and isinstance(value, dict):
            _merge_into(target[key], value)
        elif key in target and isinstance(value, list) and all(isinstance(v, dict) for v in value):
            for into, item in zip(target[key], value, strict=True):
                _merge_into(into, item)
        else:
            target[key] = value


def merged(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """What a client assembles from incremental payloads: `data` and every error."""
    first, *rest = payloads
    assert first["hasNext"] is True, payloads
    assert rest, payloads
    assert rest[-1]["hasNext"] is False, payloads
    assert all(payload["hasNext"] for payload in rest[:-1])
    data = copy.deepcopy(first["data"])
    errors = list(first.get("errors", []))
    paths = {pending["id"]: pending["path"] for pending in first["pending"]}
    done: set[str] = set()
    for payload in rest:
        paths.update({pending["id"]: pending["path"] for pending in payload.get("pending", [])})
        for entry in payload.get("incremental", []):
            target = data
            for key in paths[entry["id"]] + entry.get("subPath", []):
                target = target[key]
            if "items" in entry:
                target.extend(entry["items"])
            else:
                _merge_into(target, entry["data"])
            errors += entry.get("errors", [])
        for completed in payload.get("completed", []):
            done.add(completed["id"])
            errors += completed.get("errors", [])
    assert done == paths.keys(), "every pending payload completes"
    return {"data": data, **({"errors": errors} if errors else {})}


def without_incremental(query: str) -> str:
    class Strip(Visitor):
        def enter_directive(self, node: DirectiveNode, *_: Any) -> Any:
            return REMOVE if node.name.value in ("defer", "stream") else None

    return print_ast(visit(parse(query), Strip()))


async def post(http: httpx.AsyncClient, query: str, token: str, accept: str = MULTIPART, **variables: Any) -> Any:
    headers = {"Accept": accept, "Authorization": f"Bearer {token}"}
    return await http.post("/graphql", json={"query": query, "variables": variables or None}, headers=headers)


DOCUMENTS = {
    "an inline fragment": """
        { viewer { user { displayName }
          ... @defer { pillars { totalCount nodes { name areas { nodes { name } } } } } } }
    """,
    "a labelled fragment spread": """
        query Named { viewer { user { id } ...Pillars @defer(label: "pillars") } }
        fragment Pillars on Viewer { pillars(first: 2) { nodes { id name progress { percent } } } }
    """,
    "nested deferrals": """
        { viewer { pillars { nodes { name ... @defer { areas { nodes { name ... @defer {
          projects { totalCount nodes { name tasks { nodes { title status } } } } } } } } } } } }
    """,
    "streamed lists": """
        { viewer { pillars { nodes @stream(initialCount: 1) { name areas { nodes @stream { name } } } } } }
    """,
    "a stream inside a deferred fragment": """
        { viewer { user { displayName } ... @defer { pillars { nodes @stream(initialCount: 0) { id name } } } } }
    """,
}


@pytest.mark.parametrize("query", DOCUMENTS.values(), ids=DOCUMENTS.keys())
async def test_the_payloads_merge_into_the_answer_without_the_directives(
    http: httpx.AsyncClient, app: Starlette, owner: Viewer, query: str
) -> None:
    plans = app.state.runtime.plans
    plain = without_incremental(query)
    # The plain document, twice: the second answer comes from its compiled plan.
    answers = [(await post(http, plain, owner.token, "application/json")).json() for _ in range(2)]
    assert plans.get(plain, None) is not None
    expected = answers[0]["data"]
    assert answers[1]["data"] == expected
    assert answers[1]["extensions"]["sql"].get("fallback") != "no compiled plan"
    # The deferred one, twice, over multipart/mixed and over SSE: never compiled, always right.
    for accept in (MULTIPART, MULTIPART, "text/event-stream"):
        response = await post(http, query, owner.token, accept)
        payloads = parts(response) if accept == MULTIPART else events(response)
        assert len(payloads) >= 2
        assert merged(payloads) == {"data": expected}
    assert plans.get(query, None) is None
    # The initial payload leaves the deferred and streamed parts out.
    assert payloads[0]["data"] != expected


async def test_the_initial_payload_then_the_deferred_one(http: httpx.AsyncClient, owner: Viewer) -> None:
    query = 'query Dashboard { viewer { user { displayName } ... @defer(label: "count") { pillars { totalCount } } } }'
    assert parts(await post(http, query, owner.token)) == [
        {
            "data": {"viewer": {"user": {"displayName": "Deferred"}}},
            "pending": [{"id": "0", "path": ["viewer"], "label": "count"}],
            "hasNext": True,
        },
        {
            "hasNext": False,
            "incremental": [{"data": {"pillars": {"totalCount": 2}}, "id": "0"}],
            "completed": [{"id": "0"}],
        },
    ]


async def test_a_defer_turned_off_is_one_json_result_from_graphql_core(
    http: httpx.AsyncClient, app: Starlette, owner: Viewer
) -> None:
    query = (
        "query Off($later: Boolean!) { viewer { user { displayName }"
        " ... @defer(if: $later) { pillars { totalCount } } } }"
    )
    for _ in range(2):
        response = await post(http, query, owner.token, "application/json", later=False)
        assert response.status_code == 200
        body = response.json()
        assert body["data"] == {"viewer": {"user": {"displayName": "Deferred"}, "pillars": {"totalCount": 2}}}
        assert body["extensions"]["sql"]["fallback"] == "no compiled plan"
    assert app.state.runtime.plans.get(query, None) is None


async def test_without_a_streaming_type_in_accept_a_deferred_query_is_a_406(
    http: httpx.AsyncClient, owner: Viewer
) -> None:
    query = "{ viewer { ... @defer { user { id } } } }"
    for accept in ("application/json", "multipart/mixed;deferSpec=20220824, application/json"):
        response = await post(http, query, owner.token, accept)
        assert response.status_code == 406
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "NOT_ACCEPTABLE"
        assert error["extensions"]["accepted"] == [
            "multipart/mixed; incrementalSpec=v0.2",
            "text/event-stream; charset=utf-8",
        ]


async def test_errors_in_a_deferred_payload_carry_their_code(http: httpx.AsyncClient, owner: Viewer) -> None:
    query = "{ viewer { user { id } ... @defer { pillars(first: 1000) { totalCount } } } }"
    initial, last = parts(await post(http, query, owner.token))
    assert "errors" not in initial
    [completed] = last["completed"]
    [error] = completed["errors"]
    assert error["path"] == ["viewer", "pillars"]
    assert error["extensions"] == {
        "code": "PAGE_SIZE_EXCEEDED",
        "argument": "first",
        "limit": "maxPageSize",
        "value": 100,
    }


def _deep(levels: int) -> str:
    cycle = ["areas(first: 1)", "nodes", "pillar"]
    fields = ["pillars(first: 1)", "nodes"]
    while len(fields) < levels:
        fields.append(cycle[(len(fields) - 2) % 3])
    return " { ".join(fields) + " { __typename" + " }" * levels


LIMITS = {
    "depth": ("{ viewer { ... @defer { " + _deep(16) + " } } }", {"code": "QUERY_TOO_DEEP", "limit": "maxDepth"}),
    "nodes": (
        "{ viewer { user { id } ... @defer { pillars(first: 100) { nodes { areas(first: 100) { nodes {"
        " projects(first: 100) { nodes { id } } } } } } } } }",
        {"code": "TOO_MANY_NODES", "limit": "maxNodes"},
    ),
    "aliases": (
        "{ viewer { ... @defer { " + " ".join(f"a{i}: user {{ id }}" for i in range(31)) + " } } }",
        {"code": "TOO_MANY_ALIASES", "limit": "maxAliases"},
    ),
    "selections": (
        "{ viewer { ... @defer { user { " + "id " * 700 + "} } } }",
        {"code": "TOO_MANY_SELECTIONS", "limit": "maxOverlappingSelections"},
    ),
}


@pytest.mark.parametrize(("query", "refusal"), LIMITS.values(), ids=LIMITS.keys())
async def test_limits_count_deferred_fields(
    http: httpx.AsyncClient, owner: Viewer, query: str, refusal: dict[str, str]
) -> None:
    # Refused before anything runs: one response with the status of a request error.
    response = await post(http, query, owner.token)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/graphql-response+json"
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert {key: error["extensions"][key] for key in refusal} == refusal


async def test_the_schema_declares_defer_and_stream(app: Starlette) -> None:
    sdl = printable_schema()
    assert "directive @defer(" in sdl
    assert "directive @stream(" in sdl
    runtime: Runtime = app.state.runtime
    assert {"defer", "stream"} <= {d.name for d in runtime.schema._schema.directives}


async def test_a_mutation_defers_part_of_its_payload(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    owner = await gql.sign_up()
    query = 'mutation { createPillar(input: {name: "Later"}) { errors { code } ... @defer { pillar { name } } } }'
    initial, last = parts(await post(http, query, owner.token))
    assert initial["data"] == {"createPillar": {"errors": []}}
    assert last["incremental"] == [{"data": {"pillar": {"name": "Later"}}, "id": "0"}]
    names = await post(http, "{ viewer { pillars(first: 10) { nodes { name } } } }", owner.token, "application/json")
    assert names.json()["data"]["viewer"]["pillars"]["nodes"] == [{"name": "Later"}]
