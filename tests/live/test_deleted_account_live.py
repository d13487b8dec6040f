"""A subscription with the token of a deleted account ends with UNAUTHENTICATED (WebSocket and
SSE, dev and production mode), instead of listening forever to a channel nobody writes to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Mode
from tests.conftest import make_settings
from tests.identity.conftest import user_pk
from tests.live.conftest import Feed, LiveServer, running_app, serve, ws_session
from tests.live.test_sse import collect, event_stream
from tests.support import GraphQLClient, Viewer
from tests.test_protections import signing_key

CHANGES = "subscription { aurumHierarchyChanges { __typename ... on LiveUpdatesStatus { state } } }"
GONE = {"code": "UNAUTHENTICATED", "reason": "ACCOUNT_NOT_FOUND"}


@pytest.fixture(scope="module", params=[Mode.DEV, Mode.PRODUCTION])
async def live(request: pytest.FixtureRequest, database_url: str, data_dir: Path) -> AsyncIterator[LiveServer]:
    settings = make_settings(database_url, data_dir, mode=request.param, jwt_private_key=signing_key())
    async with running_app(settings) as application, serve(application) as server:
        yield server


async def deleted_account(live: LiveServer, session: AsyncSession) -> Viewer:
    async with httpx.AsyncClient(base_url=live.http) as http:
        viewer = await GraphQLClient(http).sign_up()
    await session.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": user_pk(viewer.user_id)})
    await session.commit()
    return viewer


async def test_a_websocket_subscription_is_unauthenticated(live: LiveServer, session: AsyncSession) -> None:
    # Given the token of a deleted account (it still verifies: connection_init is acknowledged)
    viewer = await deleted_account(live, session)
    async with ws_session(live.ws, viewer.token) as ws:
        # When it subscribes, then the subscription ends at once with UNAUTHENTICATED
        error = await Feed(ws, CHANGES).end()
        assert error is not None
        assert error.errors[0]["extensions"] == GONE  # type: ignore[attr-defined]


async def test_an_sse_subscription_is_unauthenticated(live: LiveServer, session: AsyncSession) -> None:
    viewer = await deleted_account(live, session)
    async with event_stream(live.http, CHANGES, token=viewer.token) as (response, events):
        assert response.status_code == 200
        seen = await collect(events)
    assert [kind for kind, _ in seen] == ["next", "complete"]
    assert seen[0][1]["errors"][0]["extensions"] == GONE
