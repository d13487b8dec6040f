"""Cross-origin browsers: in dev mode a frontend on any port of http://localhost or 127.0.0.1 may
call the API (CORS preflights) without CORS_ORIGINS; production allows only the origins of
CORS_ORIGINS, as does dev mode once they are set. (WebSocket handshakes: tests/live/test_ws_protocol.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from core.settings import Mode
from tests.conftest import make_settings
from tests.test_protections import serve, signing_key

LOCAL = ["http://localhost:5173", "http://127.0.0.1:3000", "http://localhost", "http://localhost:65535"]
FOREIGN = [
    "http://evil.example",
    "http://localhost.evil.example:3000",
    "http://127.0.0.1.nip.io:3000",
    "https://localhost:5173",  # the default is the dev servers' plain http
    "http://[::1]:3000",
    "null",
]


async def preflight(client: httpx.AsyncClient, origin: str) -> httpx.Response:
    return await client.options(
        "/graphql",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


async def allowed(client: httpx.AsyncClient, origin: str) -> bool:
    """Whether a browser on `origin` may POST an operation: the preflight and the request itself."""
    answer = await preflight(client, origin)
    granted = answer.status_code == 200 and answer.headers.get("access-control-allow-origin") == origin
    if granted:
        granted_headers = {name.lower() for name in answer.headers["access-control-allow-headers"].split(", ")}
        assert {"authorization", "content-type"} <= granted_headers
        assert "POST" in answer.headers["access-control-allow-methods"]
    response = await client.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": origin})
    assert response.status_code == 200
    assert (response.headers.get("access-control-allow-origin") == origin) == granted, (origin, response.headers)
    return granted


async def test_dev_mode_allows_localhost_origins_by_default(http: httpx.AsyncClient) -> None:
    for origin in LOCAL:
        assert await allowed(http, origin), origin
    for origin in FOREIGN:
        assert not await allowed(http, origin), origin


@pytest.fixture(scope="module")
async def dev_configured(database_url: str, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, data_dir, cors_origins=["https://app.example"])
    async with serve(settings) as (_, client):
        yield client


@pytest.fixture(scope="module")
async def production_default(database_url: str, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, data_dir, mode=Mode.PRODUCTION, jwt_private_key=signing_key())
    async with serve(settings) as (_, client):
        yield client


@pytest.fixture(scope="module")
async def production_configured(database_url: str, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url,
        data_dir,
        mode=Mode.PRODUCTION,
        jwt_private_key=signing_key(),
        cors_origins=["https://app.example"],
    )
    async with serve(settings) as (_, client):
        yield client


async def test_production_allows_no_origin_by_default(production_default: httpx.AsyncClient) -> None:
    for origin in [*LOCAL, *FOREIGN, "https://app.example"]:
        assert not await allowed(production_default, origin), origin
        assert (await preflight(production_default, origin)).status_code == 405  # no CORS at all


async def test_configured_origins_are_the_only_ones_in_either_mode(
    production_configured: httpx.AsyncClient, dev_configured: httpx.AsyncClient
) -> None:
    for client in (production_configured, dev_configured):
        assert await allowed(client, "https://app.example")
        for origin in [*LOCAL, *FOREIGN]:
            assert not await allowed(client, origin), origin
