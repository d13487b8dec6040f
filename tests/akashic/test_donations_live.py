"""The donation ticker over WebSocket: a committed donation reaches the campaign's members whose
role holds `donations.read`, checked when subscribing and again for every event."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.relay import to_global_id
from tests.akashic.donations_support import (
    ACTBLUE,
    actblue,
    create_campaign,
    donation_created,
    donation_reversed,
    post,
    user_pk,
)
from tests.live.conftest import Feed, LiveServer, ws_session
from tests.support import GraphQLClient

TICKER = """subscription Ticker($id: ID!) { donationTicker(campaignId: $id) { __typename
  ... on LiveUpdatesStatus { state }
  ... on DonationTick { change entry { kind amountCents }
    donation { amountCents status externalId donor { lastName } } } } }"""


@pytest.fixture(scope="module")
async def server(database_url: str, data_dir: Path) -> AsyncIterator[LiveServer]:
    from tests.akashic.donations_support import donations_server

    async with donations_server(database_url, data_dir) as live:
        yield live


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http) as http:
        yield http


def tick(result: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = result["donationTicker"]
    return found


async def test_the_ticker_reaches_who_may_read_donations_and_stops_when_they_may_not(
    server: LiveServer, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    api = GraphQLClient(client)
    manager, finance, volunteer, outsider = [await api.sign_up() for _ in range(4)]
    campaign = await create_campaign(
        session,
        {manager.user_id: "campaign_manager", finance.user_id: "finance_director", volunteer.user_id: "volunteer"},
    )
    variables = {"id": to_global_id("Organization", campaign)}
    async with (
        ws_session(server.ws, manager.token) as manager_ws,
        ws_session(server.ws, finance.token) as finance_ws,
        ws_session(server.ws, volunteer.token) as volunteer_ws,
        ws_session(server.ws, outsider.token) as outsider_ws,
    ):
        # Who may not read donations can't subscribe: FORBIDDEN for a volunteer, NOT_FOUND for others
        refused = await Feed(volunteer_ws, TICKER, variables).end()
        assert refused is not None
        assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"  # type: ignore[attr-defined]
        assert refused.errors[0]["extensions"]["permission"] == "donations.read"  # type: ignore[attr-defined]
        for value in (variables["id"], to_global_id("Organization", uuid.uuid4())):
            stranger = await Feed(outsider_ws, TICKER, {"id": value}).end()
            assert stranger is not None
            assert stranger.errors[0]["extensions"]["code"] == "NOT_FOUND"  # type: ignore[attr-defined]

        feeds = {"manager": Feed(manager_ws, TICKER, variables), "finance": Feed(finance_ws, TICKER, variables)}
        for feed in feeds.values():
            assert tick(await feed.next()) == {"__typename": "LiveUpdatesStatus", "state": "STARTED"}

        # A donation arrives by webhook: both hear it once it is committed
        assert (
            await post(client, ACTBLUE, actblue(donation_created(campaign, 2_700, donation_id="T1")))
        ).status_code == 200
        for feed in feeds.values():
            assert tick(await feed.next()) == {
                "__typename": "DonationTick",
                "change": "CONTRIBUTION",
                "entry": {"kind": "CONTRIBUTION", "amountCents": 2_700},
                "donation": {
                    "amountCents": 2_700,
                    "status": "RECEIVED",
                    "externalId": "T1",
                    "donor": {"lastName": "Hopper"},
                },
            }
        # A refused delivery publishes nothing
        unknown = await post(client, ACTBLUE, actblue(donation_reversed(campaign, "T-404", 100)))
        assert unknown.status_code == 422
        await feeds["finance"].quiet(0.3)

        # The finance director becomes a volunteer: the next event ends their stream, NOT_FOUND
        await session.execute(
            sa.text("UPDATE memberships SET role = 'volunteer' WHERE organization_id = :c AND user_id = :u"),
            {"c": campaign, "u": user_pk(finance.user_id)},
        )
        await session.commit()
        assert (await post(client, ACTBLUE, actblue(donation_reversed(campaign, "T1", 700)))).status_code == 200
        refunded = tick(await feeds["manager"].next())
        assert (refunded["change"], refunded["entry"], refunded["donation"]["status"]) == (
            "REFUND",
            {"kind": "REFUND", "amountCents": -700},
            "PARTIALLY_REFUNDED",
        )
        ended = await feeds["finance"].end()
        assert ended is not None
        assert ended.errors[0]["extensions"] == {"code": "NOT_FOUND", "argument": "campaignId"}  # type: ignore[attr-defined]
        await feeds["manager"].close()
