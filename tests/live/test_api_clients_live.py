"""API keys across processes: two servers sharing Redis; a client's key is remembered by the server
that verified it, and a change made through the other (revocation, new scopes) is refused there
from the event on, over HTTP and on an open WebSocket."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import GraphQLRequest
from joserfc.jwk import ECKey

from core.api_keys import ApiKeys
from tests.conftest import UNLIMITED_SIGN_INS, make_settings
from tests.live.conftest import RedisProcess, running_app, ws_session
from tests.live.test_redis import ServerProcess, http_client
from tests.organizations.conftest import OrganizationFactory
from tests.support import GraphQLClient

QUERY = "query($slug: String!) { organization(slug: $slug) { id } }"
#: A change reaches the other process through Redis: polled for, with a generous deadline (the
#: machine is shared), never timed.
POLLS = 400


@pytest.fixture
def key_servers(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_URL"}}
    env.update(
        MODE="dev",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DATA_DIR=str(tmp_path / "data"),
        AUTH_RATE_LIMIT_PER_ADDRESS=UNLIMITED_SIGN_INS,
        JWT_PRIVATE_KEY=ECKey.generate_key("P-256", private=True).as_pem(private=True).decode(),
        API_KEY_SECRET=secrets.token_urlsafe(48),
        WS_KEEPALIVE_SECONDS="1",
    )
    servers = (ServerProcess(env, tmp_path / "a.log"), ServerProcess(env, tmp_path / "b.log"))
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


async def _as_client(base: str, key: str, slug: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        return await client.post(
            "/graphql", json={"query": QUERY, "variables": {"slug": slug}}, headers={"Authorization": f"Bearer {key}"}
        )


async def _until(base: str, key: str, slug: str, status: int) -> httpx.Response:
    """The first answer with `status` (the event reaches the process in its own time)."""
    for _ in range(POLLS):
        response = await _as_client(base, key, slug)
        if response.status_code == status:
            return response
        await asyncio.sleep(0.025)
    raise AssertionError(f"still {response.status_code} after {POLLS} requests: {response.text}")


def _extensions(response: httpx.Response) -> dict[str, Any]:
    extensions: dict[str, Any] = response.json()["errors"][0]["extensions"]
    return extensions


async def test_a_change_through_one_process_is_refused_by_the_other(
    key_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = key_servers
    await a.ready()
    await b.ready()
    async with http_client(a.server.http) as on_a:
        owner = await on_a.sign_up()
        teams = OrganizationFactory(on_a)
        team = await teams.team(owner)
        made = await teams.ok(
            "createApiClient",
            {"organizationId": team.id, "name": "partner", "scopes": ["organizations:read"], "documentPolicy": "ANY"},
            "apiClient { id } key",
            owner.token,
        )
        key, client_id = made["key"], made["apiClient"]["id"]

        # B verifies the key once and remembers it
        for _ in range(3):
            response = await _as_client(b.server.http, key, team.slug)
            assert response.status_code == 200, response.text
            assert response.json()["data"]["organization"] == {"id": team.id}

        # New scopes through A: B refuses what they no longer allow
        await teams.ok(
            "updateApiClient", {"clientId": client_id, "scopes": ["aurum:read"]}, "apiClient { id }", owner.token
        )
        refused = await _until(b.server.http, key, team.slug, 403)
        assert _extensions(refused)["scope"] == "organizations:read"
        await teams.ok(
            "updateApiClient",
            {"clientId": client_id, "scopes": ["organizations:read"]},
            "apiClient { id }",
            owner.token,
        )
        assert (await _until(b.server.http, key, team.slug, 200)).json()["data"]["organization"] == {"id": team.id}

        # A WebSocket of the client on B is open when A revokes it...
        async with ws_session(b.server.ws, key) as session:
            assert await session.execute(GraphQLRequest(QUERY, variable_values={"slug": team.slug})) == {
                "organization": {"id": team.id}
            }
            await teams.ok("revokeApiClient", {"clientId": client_id}, "apiClient { id }", owner.token)
            # ...and B refuses the key from then on, over HTTP, and closes the socket (4401)
            revoked = await _until(b.server.http, key, team.slug, 401)
            assert _extensions(revoked)["reason"] == "API_KEY_REVOKED"
            closed = None
            for _ in range(POLLS):
                try:
                    await session.execute(GraphQLRequest(QUERY, variable_values={"slug": team.slug}))
                except Exception as error:  # noqa: BLE001 - gql's own error for the closed socket
                    closed = error
                    break
                await asyncio.sleep(0.025)
            assert closed is not None, "the socket of a revoked key stayed open"
        # A refused it at once: its own cache forgot the client before the mutation answered
        response = await _as_client(a.server.http, key, team.slug)
        assert response.status_code == 401


async def test_no_key_is_remembered_while_redis_is_unreachable(
    redis_process: RedisProcess, database_url: str, data_dir: Path
) -> None:
    settings = make_settings(database_url, data_dir, redis_url=redis_process.url)
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            gql_client = GraphQLClient(http)
            owner = await gql_client.sign_up()
            teams = OrganizationFactory(gql_client)
            team = await teams.team(owner)
            made = await teams.ok(
                "createApiClient",
                {
                    "organizationId": team.id,
                    "name": "partner",
                    "scopes": ["organizations:read"],
                    "documentPolicy": "ANY",
                },
                "key",
                owner.token,
            )
            key = made["key"]
            keys: ApiKeys = app.state.runtime.api_keys

            async def ask() -> None:
                response = await http.post(
                    "/graphql",
                    json={"query": QUERY, "variables": {"slug": team.slug}},
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert response.status_code == 200, response.text

            async def until(caching: bool) -> None:
                for _ in range(POLLS * 5):
                    if keys.caching is caching:
                        return
                    await asyncio.sleep(0.05)
                raise AssertionError(f"caching is still {keys.caching}")

            await until(True)
            await ask()
            before = keys.lookups
            await ask()
            await ask()
            assert keys.lookups == before  # remembered

            # Redis goes away: invalidations may be missed, so every request reads its key
            redis_process.kill()
            await until(False)
            before = keys.lookups
            await ask()
            await ask()
            assert keys.lookups == before + 2

            # Redis is back: keys are remembered again, from an empty memory
            redis_process.start()
            await until(True)
            before = keys.lookups
            await ask()
            await ask()
            assert keys.lookups == before + 1
