"""A valid access token whose account was deleted is UNAUTHENTICATED, never an internal error,
in dev mode and in production (where an internal error would be masked)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app import create_app
from core.settings import Mode
from tests.conftest import make_settings
from tests.identity.conftest import user_pk
from tests.support import GraphQLClient, Viewer
from tests.test_protections import signing_key

GONE = {"code": "UNAUTHENTICATED", "reason": "ACCOUNT_NOT_FOUND"}


@pytest.fixture(scope="module", params=[Mode.DEV, Mode.PRODUCTION])
async def client(request: pytest.FixtureRequest, database_url: str, data_dir: Path) -> AsyncIterator[GraphQLClient]:
    settings = make_settings(database_url, data_dir, mode=request.param, jwt_private_key=signing_key())
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        yield GraphQLClient(http)


async def deleted_account(client: GraphQLClient, session: AsyncSession) -> Viewer:
    """An account signed in and then deleted (its rows cascade): its access token still verifies."""
    viewer = await client.sign_up()
    await session.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": user_pk(viewer.user_id)})
    await session.commit()
    return viewer


async def test_the_viewers_user_is_unauthenticated(client: GraphQLClient, session: AsyncSession) -> None:
    # Given the token of a deleted account
    viewer = await deleted_account(client, session)
    # When its user is read
    response = await client("{ viewer { user { id email } } }", token=viewer.token)
    # Then the answer is UNAUTHENTICATED, saying why, and the viewer is null
    [error] = response.errors
    assert error["extensions"] == GONE
    assert "no longer exists" in error["message"]
    assert response.body["data"] == {"viewer": None}


@pytest.mark.parametrize(
    ("mutation", "input", "selection"),
    [
        pytest.param("createPillar", {"name": "Health"}, "pillar { id }", id="createPillar"),
        pytest.param("updateProfile", {"displayName": "Ghost"}, "user { id }", id="updateProfile"),
        pytest.param("logout", {"everywhere": True}, "revokedSessions", id="logout"),
        pytest.param("requestInsights", {}, "job { id }", id="requestInsights"),
    ],
)
async def test_mutations_are_unauthenticated(
    client: GraphQLClient, session: AsyncSession, mutation: str, input: dict[str, object], selection: str
) -> None:
    # Given the token of a deleted account
    viewer = await deleted_account(client, session)
    # When a mutation writes (or reads) the viewer's own rows
    payload = await client.call(mutation, dict(input), selection, token=viewer.token)
    # Then its payload carries the typed UNAUTHENTICATED error, nothing else
    [error] = payload["errors"]
    assert (error["__typename"], error["code"]) == ("AuthenticationError", "UNAUTHENTICATED")
    assert "no longer exists" in error["message"]


async def test_refreshing_a_session_of_a_deleted_account_is_refused(
    client: GraphQLClient, session: AsyncSession
) -> None:
    viewer = await deleted_account(client, session)
    payload = await client.call(
        "refreshToken", {"refreshToken": viewer.refresh_token}, "session { accessToken }", token=None
    )
    assert [e["code"] for e in payload["errors"]] == ["REFRESH_TOKEN_INVALID"]
