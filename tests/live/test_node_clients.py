"""The Node.js client harness (tests/node_clients.py) installs and runs against the live server."""

from __future__ import annotations

from tests.live.conftest import LiveServer
from tests.node_clients import run_script


async def test_a_node_client_reaches_the_running_server(live_server: LiveServer) -> None:
    result = await run_script("smoke.mjs", env={"QUINTET_URL": f"{live_server.http}/graphql"})
    assert result["data"] == {"__typename": "Query"}
    assert "errors" not in result
