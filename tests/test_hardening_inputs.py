"""Inputs found by the audit and the fuzzer (issue 10): no schema hints outside dev mode, and scalars
that refuse bad values, literal or variable, as the client's error (never an internal one)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.settings import Mode
from tests.aurum.conftest import AurumFactory
from tests.conftest import make_settings
from tests.support import GraphQLClient, Viewer
from tests.test_protections import serve, signing_key

HINT = re.compile(r"[Dd]id you mean")


@pytest.fixture(scope="module")
async def production(database_url: str, data_dir: Path) -> AsyncIterator[GraphQLClient]:
    settings = make_settings(database_url, data_dir, mode=Mode.PRODUCTION, jwt_private_key=signing_key())
    async with serve(settings) as (_, client):
        yield GraphQLClient(client)


@pytest.fixture(scope="module")
async def production_viewer(production: GraphQLClient) -> Viewer:
    return await production.sign_up()


# ----------------------------------------------------------------------------- schema hints

#: One document (and variables) per source of "Did you mean …?", with the schema names it would leak.
SOURCES: dict[str, tuple[str, dict[str, Any] | None, list[str]]] = {
    "unknown field": ("{ viewer { pillar { totalCount } } }", None, ["pillars"]),
    "unknown argument": ("{ viewer { pillars(frist: 1) { totalCount } } }", None, ["first"]),
    "unknown type": (
        "query($f: TaskFilterInpt) { viewer { tasks(filter: $f) { totalCount } } }",
        None,
        ["TaskFilterInput"],
    ),
    "unknown input field in a literal": (
        "{ viewer { tasks(filter: {dueBefor: null}) { totalCount } } }",
        None,
        ["dueBefore"],
    ),
    "unknown input field in variables": (
        "query($f: TaskFilterInput) { viewer { tasks(filter: $f) { totalCount } } }",
        {"f": {"dueBefor": None}},
        ["dueBefore"],
    ),
    "enum value in a literal": ("{ viewer { tasks(filter: {status: [DON]}) { totalCount } } }", None, ["DONE"]),
    "enum value in variables": (
        "query($f: TaskFilterInput) { viewer { tasks(filter: $f) { totalCount } } }",
        {"f": {"status": ["DON"]}},
        ["DONE"],
    ),
    "enum argument in variables": (
        "query($o: TaskOrderBy!) { viewer { tasks(orderBy: $o) { totalCount } } }",
        {"o": "DUE_AT_AS"},
        ["DUE_AT_ASC"],
    ),
}


@pytest.mark.parametrize("source", list(SOURCES), ids=list(SOURCES))
async def test_production_gives_no_schema_hints(
    production: GraphQLClient, production_viewer: Viewer, source: str
) -> None:
    query, variables, names = SOURCES[source]
    # When a mistaken document is sent to a production app
    result = await production(query, variables, token=production_viewer.token)
    # Then it is refused as the client's error, without suggesting what the schema holds
    [error] = result.errors
    assert error["extensions"]["code"] in {"GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"}, error
    assert not HINT.search(error["message"]), error["message"]
    for name in names:
        assert name not in error["message"], error["message"]


@pytest.mark.parametrize("source", list(SOURCES), ids=list(SOURCES))
async def test_dev_mode_keeps_the_hints(gql: GraphQLClient, source: str) -> None:
    query, variables, names = SOURCES[source]
    me = await gql.sign_up()
    [error] = (await gql(query, variables, token=me.token)).errors
    assert HINT.search(error["message"]), error["message"]
    assert any(name in error["message"] for name in names), error["message"]


# ----------------------------------------------------------------------------- scalars

RESOURCE = (
    'mutation { createResource(input: {kind: ATTACHMENT, title: "f", fileName: "f.txt", '
    'contentType: "text/plain", sizeBytes: %s}) { errors { code } } }'
)
RESOURCE_VARIABLE = (
    'mutation($s: BigInt) { createResource(input: {kind: ATTACHMENT, title: "f", fileName: "f.txt", '
    'contentType: "text/plain", sizeBytes: $s}) { errors { code } } }'
)
TASK_FILTER = "{ viewer { tasks(filter: {dueBefore: %s}) { totalCount } } }"
TASK_FILTER_VARIABLE = "query($d: DateTime) { viewer { tasks(filter: {dueBefore: $d}) { totalCount } } }"
UPDATE_TASK = 'mutation { updateTask(input: {id: "%s", dueAt: %s}) { errors { code } } }'
UPDATE_TASK_VARIABLE = (
    "mutation($id: ID!, $d: DateTime) { updateTask(input: {id: $id, dueAt: $d}) { task { dueAt } errors { code } } }"
)

#: Bad values of every custom scalar: as GraphQL literal text, and as a JSON variable.
BAD_BIG_INTS: list[tuple[str, Any]] = [
    ('"1"', "1"),
    ("1.5", 1.5),
    ("true", True),
    ("9007199254740993", 9007199254740993),
    ("[1]", [1]),
    ("{a: 1}", {"a": 1}),
]
EDGE_DATETIMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
BAD_DATETIMES: list[tuple[str, Any]] = [
    *((f'"{value}"', value) for value in EDGE_DATETIMES),
    ('"yesterday"', "yesterday"),
    ("1", 1),
    ("true", True),
]


def assert_refused_as_input(result: Any, caplog: pytest.LogCaptureFixture) -> None:
    [error] = result.errors
    assert error["extensions"]["code"] in {"GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"}, error
    assert "errorId" not in error["extensions"]
    assert not [r for r in caplog.records if r.name == "quintet.errors"], "an internal error was logged"


@pytest.mark.parametrize(("literal", "variable"), BAD_BIG_INTS, ids=[b[0] for b in BAD_BIG_INTS])
async def test_a_bad_big_int_is_the_clients_error(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture, literal: str, variable: Any
) -> None:
    me = await gql.sign_up()
    with caplog.at_level(logging.ERROR, logger="quintet.errors"):
        assert_refused_as_input(await gql(RESOURCE % literal, token=me.token), caplog)
        assert_refused_as_input(await gql(RESOURCE_VARIABLE, {"s": variable}, token=me.token), caplog)


@pytest.mark.parametrize(("literal", "variable"), BAD_DATETIMES, ids=[b[0] for b in BAD_DATETIMES])
async def test_a_bad_datetime_is_the_clients_error_in_filters_and_inputs(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture, literal: str, variable: Any
) -> None:
    me = await gql.sign_up()
    task_id = "VGFzazowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA="
    with caplog.at_level(logging.ERROR, logger="quintet.errors"):
        assert_refused_as_input(await gql(TASK_FILTER % literal, token=me.token), caplog)
        assert_refused_as_input(await gql(TASK_FILTER_VARIABLE, {"d": variable}, token=me.token), caplog)
        assert_refused_as_input(await gql(UPDATE_TASK % (task_id, literal), token=me.token), caplog)
        refused = await gql(UPDATE_TASK_VARIABLE, {"id": task_id, "d": variable}, token=me.token)
        assert_refused_as_input(refused, caplog)


async def test_an_edge_datetime_says_why_it_is_refused(gql: GraphQLClient) -> None:
    me = await gql.sign_up()
    [error] = (await gql(TASK_FILTER_VARIABLE, {"d": EDGE_DATETIMES[0]}, token=me.token)).errors
    assert "UTC" in error["message"]


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00"])
async def test_the_calendars_edges_in_utc_are_accepted(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    me = await gql.sign_up()
    with caplog.at_level(logging.ERROR, logger="quintet.errors"):
        assert (await gql(TASK_FILTER_VARIABLE, {"d": value}, token=me.token)).data == {
            "viewer": {"tasks": {"totalCount": 0}}
        }
        filtered = await gql(TASK_FILTER % f'"{value}"', token=me.token)
        assert filtered.data == {"viewer": {"tasks": {"totalCount": 0}}}
    assert not [r for r in caplog.records if r.name == "quintet.errors"]


async def test_a_task_can_be_due_at_the_calendars_last_second(gql: GraphQLClient) -> None:
    me = await gql.sign_up()
    factory = AurumFactory(gql)
    tree = await factory.tree(me.token)
    task = await factory.task(me.token, tree.project)
    result = await gql(UPDATE_TASK_VARIABLE, {"id": task, "d": "9999-12-31T23:59:59Z"}, token=me.token)
    assert result.data["updateTask"] == {"task": {"dueAt": "9999-12-31T23:59:59+00:00"}, "errors": []}
    listed = await gql(
        '{ viewer { tasks(filter: {dueAfter: "9999-12-31T00:00:00Z"}) { nodes { dueAt isOverdue } } } }', token=me.token
    )
    assert listed.data["viewer"]["tasks"]["nodes"] == [{"dueAt": "9999-12-31T23:59:59+00:00", "isOverdue": False}]
