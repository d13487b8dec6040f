"""@defer and @stream with the clients people use, against the running server: Apollo Client 4
(multipart/mixed, `GraphQL17Alpha9Handler`) and urql (its defaults stream the payloads as Server-Sent
Events; asked for multipart/mixed, it reads that too). Each receives the initial payload first,
then the deferred part."""

from __future__ import annotations

from typing import Any

import pytest
from gql import gql as document
from gql.transport.exceptions import TransportQueryError

from tests.aurum.conftest import AurumFactory
from tests.live.conftest import LiveServer, ws_session
from tests.node_clients import run_script
from tests.support import GraphQLClient, Viewer

DEFERRED = """
    query Dash { viewer { user { displayName }
      ... @defer(label: "more") { pillars(first: 2) { totalCount nodes { name } } } } }
"""


@pytest.fixture
async def owner(gql: GraphQLClient, live_aurum: AurumFactory) -> Viewer:
    user = await gql.sign_up(display_name="Painter")
    for name in ("Health", "Work", "Play"):
        await live_aurum.pillar(user.token, name)
    return user


def env(live_server: LiveServer, user: Viewer, **extra: str) -> dict[str, str]:
    return {"QUINTET_URL": f"{live_server.http}/graphql", "QUINTET_TOKEN": user.token, **extra}


def without_typenames(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_typenames(v) for k, v in value.items() if k != "__typename"}
    if isinstance(value, list):
        return [without_typenames(v) for v in value]
    return value


async def test_apollo_client_paints_the_initial_payload_then_the_deferred_and_streamed_parts(
    live_server: LiveServer, owner: Viewer
) -> None:
    result = await run_script("apollo_incremental.mjs", env=env(live_server, owner))
    deferred = [r for r in result["deferred"] if r["dataState"] != "empty"]
    first, *_, last = deferred
    assert (first["dataState"], without_typenames(first["data"])) == (
        "streaming",
        {"viewer": {"user": {"displayName": "Painter"}}},
    )
    assert last["error"] is None
    assert (last["dataState"], last["loading"]) == ("complete", False)
    pillars = last["data"]["viewer"]["pillars"]
    assert pillars["totalCount"] == 3
    assert [node["name"] for node in pillars["nodes"]] == ["Health", "Work", "Play"]
    streamed = [r for r in result["streamed"] if r["dataState"] != "empty"]
    first, *_, last = streamed
    assert first["loading"] is True
    assert [node["name"] for node in first["data"]["viewer"]["pillars"]["nodes"]] == ["Health"]
    assert last["error"] is None
    assert not last["loading"]
    assert [node["name"] for node in last["data"]["viewer"]["pillars"]["nodes"]] == ["Health", "Work", "Play"]
    assert {exchange["contentType"] for exchange in result["seen"]} == {
        'multipart/mixed; incrementalSpec=v0.2; boundary="-"'
    }
    assert all(exchange["accept"].startswith("multipart/mixed;incrementalSpec=v0.2") for exchange in result["seen"])


async def test_urql_receives_the_initial_payload_then_the_deferred_part(live_server: LiveServer, owner: Viewer) -> None:
    result = await run_script("urql_incremental.mjs", env=env(live_server, owner, QUINTET_QUERY=DEFERRED))
    expected = [
        {"data": {"viewer": {"user": {"displayName": "Painter"}}}, "error": None, "hasNext": True},
        {
            "data": {
                "viewer": {
                    "user": {"displayName": "Painter"},
                    "pillars": {"totalCount": 3, "nodes": [{"name": "Health"}, {"name": "Work"}]},
                }
            },
            "error": None,
            "hasNext": False,
        },
    ]
    assert result["defaults"] == expected
    assert result["multipart"] == expected
    defaults, multipart = result["seen"]
    assert defaults["contentType"] == "text/event-stream"
    assert multipart["contentType"] == 'multipart/mixed; incrementalSpec=v0.2; boundary="-"'


async def test_over_graphql_transport_ws_a_deferred_query_is_refused_with_a_code(
    live_server: LiveServer, owner: Viewer
) -> None:
    async with ws_session(live_server.ws, owner.token) as session:
        with pytest.raises(TransportQueryError) as refused:
            await session.execute(document(DEFERRED))
    [error] = refused.value.errors or []
    assert error["extensions"] == {"code": "INCREMENTAL_DELIVERY_UNSUPPORTED"}
    assert "multipart/mixed" in error["message"]
