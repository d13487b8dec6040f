"""The stock `graphql-ws` client (tests/clients, its default retry settings) against the running
server, across token expiry and with tokens that will never be accepted: the close codes are chosen
for it (core/ws.py), so a subscription survives an expiry and a forged token stops at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from joserfc.jwk import ECKey
from starlette.applications import Starlette

from core.relay import from_global_id
from core.runtime import Runtime
from core.security import TokenService
from tests.conftest import make_settings
from tests.live.conftest import LiveServer
from tests.node_clients import ensure_installed, run_script
from tests.support import GraphQLClient, Viewer

EXPIRED_LATER = "TOKEN_EXPIRED: Access token has expired; reconnect with a fresh one"
EXPIRED_AT_INIT = "TOKEN_EXPIRED: Access token has expired"


def minted(app: Starlette, user: Viewer, *, seconds_left: int) -> str:
    """An access token for `user` that expires in `seconds_left` seconds (negative: expired)."""
    runtime: Runtime = app.state.runtime
    tokens = runtime.tokens
    now = int(time.time()) - tokens.access_token_ttl + seconds_left
    token, _ = tokens.issue(user_id=from_global_id(user.user_id)[1], role="user", now=now)
    return token


async def expiry_script(live_server: LiveServer, user: Viewer, first_token: str) -> dict[str, object]:
    return await run_script(
        "graphql_ws_expiry.mjs",
        env={
            "QUINTET_URL": f"{live_server.http}/graphql",
            "QUINTET_WS": live_server.ws,
            "FIRST_TOKEN": first_token,
            "REFRESH_TOKEN": user.refresh_token,
        },
    )


async def test_a_subscription_survives_its_token_expiring_and_keeps_receiving_changes(
    app: Starlette, live_server: LiveServer, gql: GraphQLClient
) -> None:
    # Given a subscription whose token expires a few seconds after it starts
    user = await gql.sign_up()
    ensure_installed()  # before the clock starts: a first `npm ci` takes a while
    result = await expiry_script(live_server, user, minted(app, user, seconds_left=6))
    # Then the server closed it with 4403 at expiry, and the client reconnected with a fresh token
    assert "error" not in result, result
    assert result["closes"] == [{"code": 4403, "reason": EXPIRED_LATER}], result
    assert (result["connections"], result["refreshes"]) == (2, 1), result
    # and the subscription started once before the expiry and again after the reconnect, and
    # received the change made after it
    messages = result["messages"]
    assert isinstance(messages, list)
    started = [message["closesBefore"] for message in messages if message.get("state") == "STARTED"]
    assert started == [0, 1], result
    assert result["pillarId"], result


async def test_an_expired_token_at_connection_init_is_retried_with_a_fresh_one(
    app: Starlette, live_server: LiveServer, gql: GraphQLClient
) -> None:
    user = await gql.sign_up()
    result = await expiry_script(live_server, user, minted(app, user, seconds_left=-60))
    assert "error" not in result, result
    assert result["closes"] == [{"code": 4403, "reason": EXPIRED_AT_INIT}], result
    assert (result["connections"], result["refreshes"]) == (1, 1), result
    messages = result["messages"]
    assert isinstance(messages, list)
    assert [message["closesBefore"] for message in messages if message.get("state") == "STARTED"] == [1], result
    assert result["pillarId"], result


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("forged", "TOKEN_BAD_SIGNATURE: Access token signature is invalid"),
        ("not-a-jwt", "TOKEN_MALFORMED: Access token is malformed"),
        ("", "UNAUTHENTICATED: send {authorization: 'Bearer <access token>'} in connection_init"),
    ],
)
async def test_a_token_that_will_never_be_accepted_stops_the_client_without_retrying(
    live_server: LiveServer, gql: GraphQLClient, data_dir: Path, database_url: str, token: str, reason: str
) -> None:
    if token == "forged":  # a well-formed token signed with another key
        user = await gql.sign_up()
        other_key = ECKey.generate_key("P-256", private=True).as_pem(private=True).decode()
        forger = TokenService(make_settings(database_url, data_dir, jwt_private_key=other_key))
        token, _ = forger.issue(user_id=from_global_id(user.user_id)[1], role="user")
    result = await run_script("graphql_ws_refused.mjs", env={"QUINTET_WS": live_server.ws, "TOKEN": token})
    # The subscription fails with the close event itself, after one attempt (the client's
    # default is 5 retries with backoff for codes it does not treat as fatal)
    assert result["error"] == {"code": 4401, "reason": reason}, result
    assert (result["attempts"], result["paramsCalls"]) == (1, 1), result
    assert result["closes"] == [{"code": 4401, "reason": reason}], result
