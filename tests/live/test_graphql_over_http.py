"""GraphQL over HTTP with the clients people use, against the running server: urql with its
defaults, and graphql-http's audit of the GraphQL-over-HTTP spec (every MUST and SHOULD met)."""

from __future__ import annotations

from typing import Any

from tests.live.conftest import LiveServer
from tests.node_clients import run_script
from tests.support import GraphQLClient

URQL_QUERY_ACCEPT = (
    "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed"
)

#: The spec's MAYs we leave unmet, with why; everything else must be ok.
MAYS_LEFT: dict[str, str] = {}


async def test_urql_with_its_defaults_queries_mutates_and_subscribes(
    live_server: LiveServer, gql: GraphQLClient
) -> None:
    user = await gql.sign_up(display_name="Urql User")
    result = await run_script(
        "urql_defaults.mjs", env={"QUINTET_URL": f"{live_server.http}/graphql", "QUINTET_TOKEN": user.token}
    )
    assert result["query"] == {
        "data": {"viewer": {"user": {"displayName": "Urql User"}}},
        "error": None,
        "hasNext": False,
    }
    mutation = result["mutation"]
    assert mutation["error"] is None
    pillar = mutation["data"]["createPillar"]
    assert pillar["errors"] == []
    assert pillar["pillar"]["name"] == "From urql"
    started, change = result["events"]
    assert started["data"] == {"aurumHierarchyChanges": {"__typename": "LiveUpdatesStatus", "state": "STARTED"}}
    assert change["error"] is None
    assert change["data"]["aurumHierarchyChanges"] == {
        "__typename": "AurumHierarchyChange",
        "change": "CREATED",
        "nodeId": pillar["pillar"]["id"],
        "node": {"name": "From urql"},
    }
    # The query went by GET with urql's Accept and got the type urql listed first; the
    # subscription streamed; the mutation was a POST answered with one JSON result.
    by_kind: dict[str, Any] = {}
    for exchange in result["seen"]:
        kind = "stream" if exchange["accept"] == "text/event-stream, multipart/mixed" else exchange["method"]
        by_kind.setdefault(kind, exchange)
    assert by_kind["GET"] == {
        "method": "GET",
        "accept": URQL_QUERY_ACCEPT,
        "status": 200,
        "contentType": "application/graphql-response+json",
    }
    assert by_kind["POST"]["contentType"] == "application/graphql-response+json"
    assert by_kind["stream"]["method"] == "POST"
    assert by_kind["stream"]["contentType"].startswith("text/event-stream")


async def test_graphql_http_audit_finds_every_must_and_should_met(live_server: LiveServer) -> None:
    result = await run_script("http_audit.mjs", env={"QUINTET_URL": f"{live_server.http}/graphql"})
    audits = result["results"]
    listing = "\n".join(f"{a['status']:6} {a['id']} {a['name']}: {a.get('reason') or ''}" for a in audits)
    assert len(audits) > 50, listing
    unmet = {a["id"]: a["name"] for a in audits if a["status"] != "ok"}
    # error: a MUST unmet; warn: a SHOULD unmet; notice: a MAY unmet.
    assert [a for a in audits if a["status"] in ("error", "warn")] == [], listing
    assert unmet.keys() == MAYS_LEFT.keys(), listing


async def test_the_graphql_sse_client_with_its_defaults_subscribes_and_mutates(
    live_server: LiveServer, gql: GraphQLClient
) -> None:
    user = await gql.sign_up(display_name="SSE User")
    result = await run_script(
        "graphql_sse_defaults.mjs", env={"QUINTET_URL": f"{live_server.http}/graphql", "QUINTET_TOKEN": user.token}
    )
    pillar = result["mutation"]["data"]["createPillar"]
    assert pillar["errors"] == []
    assert pillar["pillar"]["name"] == "From graphql-sse"
    started, change = result["events"]
    assert started["data"] == {"aurumHierarchyChanges": {"__typename": "LiveUpdatesStatus", "state": "STARTED"}}
    assert change["data"]["aurumHierarchyChanges"] == {
        "__typename": "AurumHierarchyChange",
        "change": "CREATED",
        "nodeId": pillar["pillar"]["id"],
        "node": {"name": "From graphql-sse"},
    }
