"""Apollo Client 4 (tests/clients) against the running server: its normalized cache with the
viewer's own id, and a subscription through GraphQLWsLink across an access-token expiry."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from core.relay import from_global_id, to_global_id
from tests.aurum.conftest import AurumFactory
from tests.live.conftest import LiveServer
from tests.live.test_graphql_ws_client import EXPIRED_LATER, minted
from tests.node_clients import ensure_installed, run_script
from tests.support import GraphQLClient


async def test_two_viewer_queries_merge_in_apollos_cache_by_the_viewers_id(
    live_server: LiveServer, gql: GraphQLClient
) -> None:
    user = await gql.sign_up(display_name="Cache")
    pillar = await AurumFactory(gql).pillar(user.token, "Health")
    result = await run_script(
        "apollo_viewer_cache.mjs", env={"QUINTET_URL": f"{live_server.http}/graphql", "TOKEN": user.token}
    )
    viewer_id = to_global_id("Viewer", from_global_id(user.user_id)[1])
    with_id: dict[str, Any] = result["withId"]
    pillars = {"__typename": "PillarConnection", "nodes": [{"__typename": "Pillar", "id": pillar, "name": "Health"}]}
    # After the second query, the first still reads back from the cache: one `Viewer:<id>` object
    assert with_id["firstAgain"] == {"viewer": {"__typename": "Viewer", "id": viewer_id, "pillars": pillars}}
    assert with_id["firstAgain"] == with_id["first"]
    assert with_id["secondAgain"] == with_id["second"]
    assert with_id["second"]["viewer"]["user"] == {"__typename": "User", "id": user.user_id, "displayName": "Cache"}
    assert f"Viewer:{viewer_id}" in with_id["cacheKeys"]
    # Without `id` in the documents, Apollo can't merge them: the first reads back null
    assert result["withoutId"]["firstAgain"] is None
    assert result["withoutId"]["first"]["viewer"]["pillars"] == pillars


async def test_a_subscription_through_graphql_ws_link_survives_a_token_expiry(
    app: Starlette, live_server: LiveServer, gql: GraphQLClient
) -> None:
    user = await gql.sign_up()
    ensure_installed()  # before the clock starts
    result = await run_script(
        "apollo_ws_expiry.mjs",
        env={
            "QUINTET_URL": f"{live_server.http}/graphql",
            "QUINTET_WS": live_server.ws,
            "FIRST_TOKEN": minted(app, user, seconds_left=6),
            "REFRESH_TOKEN": user.refresh_token,
        },
    )
    assert "error" not in result, result
    assert result["closes"] == [{"code": 4403, "reason": EXPIRED_LATER}], result
    assert (result["paramsCalls"], result["refreshes"]) == (2, 1), result
    messages = result["messages"]
    assert isinstance(messages, list)
    assert [message["closesBefore"] for message in messages if message.get("state") == "STARTED"] == [0, 1], result
    assert result["pillarId"], result
