"""Presence on a campaign's messages over WebSocket: the current list first, then joins, switches,
leaves and expiries (after the TTL, with no heartbeat), in one process and across two sharing a
real Redis; a volunteer may view but not edit, an outsider can neither subscribe nor beat."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from tests.akashic.coediting_support import PRESENCE_TTL, SAVE_SECONDS, http_client, server_pair
from tests.akashic.support import AkashicFactory
from tests.conftest import make_settings
from tests.live.conftest import Feed, LiveServer, redis_url, running_app, serve, ws_session
from tests.live.test_redis import ServerProcess
from tests.support import GraphQLClient

__all__ = ["redis_url"]  # the live tests' Redis fixture, for the two processes

PRESENCE = """subscription Presence($id: ID!) { messagePresence(campaignId: $id) { __typename
  ... on LiveUpdatesStatus { state }
  ... on MessagePresenceList { present { state user { id } message { id } } }
  ... on MessagePresenceChange { change presence { state user { id } message { id } } } } }"""

BEAT = """mutation Beat($input: HeartbeatMessagePresenceInput!) { heartbeatMessagePresence(input: $input) {
  ttlSeconds presence { state expiresAt } errors { code field ... on ForbiddenError { permission } } } }"""

LEAVE = """mutation Leave($input: LeaveMessagePresenceInput!) { leaveMessagePresence(input: $input) {
  message { id } errors { code } } }"""


async def beat(gql: GraphQLClient, token: str, message_id: str, state: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(BEAT, {"input": {"messageId": message_id, "state": state}}, token=token)).data[
        "heartbeatMessagePresence"
    ]
    return payload


def seen(result: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = result["messagePresence"]
    return event


def who(event: dict[str, Any]) -> tuple[str, str, str]:
    presence = event["presence"]
    return event["change"], presence["user"]["id"], presence["state"]


@pytest.fixture(scope="module")
async def presence_app(database_url: str, data_dir: Path) -> AsyncIterator[Starlette]:
    settings = make_settings(
        database_url, data_dir, akashic_draft_save_seconds=SAVE_SECONDS, akashic_presence_ttl_seconds=PRESENCE_TTL
    )
    async with running_app(settings) as application:
        yield application


@pytest.fixture(scope="module")
async def presence_server(presence_app: Starlette) -> AsyncIterator[LiveServer]:
    async with serve(presence_app) as server:
        yield server


async def test_join_heartbeat_switch_leave_and_expiry(presence_server: LiveServer) -> None:
    async with http_client(presence_server.http) as gql:
        factory = AkashicFactory(gql)
        campaign = await factory.campaign()
        manager = campaign.manager
        volunteer, volunteer_membership = await factory.staff(campaign, "volunteer")
        outsider = await gql.sign_up()
        message = await factory.message(campaign)
        async with (
            ws_session(presence_server.ws, manager.token) as manager_ws,
            ws_session(presence_server.ws, volunteer.token) as volunteer_ws,
            ws_session(presence_server.ws, outsider.token) as outsider_ws,
        ):
            refused = Feed(outsider_ws, PRESENCE, {"id": campaign.id})
            error = await refused.end()
            assert error is not None
            assert error.errors[0]["extensions"] == {"code": "NOT_FOUND", "argument": "campaignId"}  # type: ignore[attr-defined]
            outsiders = await beat(gql, outsider.token, message.id, "VIEWING")
            assert [e["code"] for e in outsiders["errors"]] == ["NOT_FOUND"]

            # Someone already there is in the first message
            assert (await beat(gql, manager.token, message.id, "EDITING"))["errors"] == []
            feed = Feed(manager_ws, PRESENCE, {"id": campaign.id})
            first = seen(await feed.next())
            assert first == {
                "__typename": "MessagePresenceList",
                "present": [{"state": "EDITING", "user": {"id": manager.user_id}, "message": {"id": message.id}}],
            }

            # A volunteer may view, not edit
            viewing = await beat(gql, volunteer.token, message.id, "VIEWING")
            assert (viewing["errors"], viewing["ttlSeconds"], viewing["presence"]["state"]) == (
                [],
                PRESENCE_TTL,
                "VIEWING",
            )
            assert who(seen(await feed.next())) == ("JOINED", volunteer.user_id, "VIEWING")
            # The manager's second tab starts from the list as it is now, not as the first tab's began
            tab = Feed(manager_ws, PRESENCE, {"id": campaign.id})
            listed = seen(await tab.next())["present"]
            assert sorted((p["user"]["id"], p["state"]) for p in listed) == sorted(
                [(manager.user_id, "EDITING"), (volunteer.user_id, "VIEWING")]
            )
            await tab.close()
            editing = await beat(gql, volunteer.token, message.id, "EDITING")
            assert [(e["code"], e["permission"]) for e in editing["errors"]] == [("FORBIDDEN", "messages.draft")]

            # A heartbeat keeps a presence quietly; a switch and a leave are heard
            await beat(gql, volunteer.token, message.id, "VIEWING")
            await beat(gql, manager.token, message.id, "VIEWING")
            assert who(seen(await feed.next())) == ("UPDATED", manager.user_id, "VIEWING")
            left = (await gql(LEAVE, {"input": {"messageId": message.id}}, token=manager.token)).data
            assert left["leaveMessagePresence"]["errors"] == []
            assert who(seen(await feed.next())) == ("LEFT", manager.user_id, "VIEWING")

            # No more heartbeats: the volunteer's presence expires after the TTL
            assert who(seen(await feed.next(wait=PRESENCE_TTL + 10))) == ("EXPIRED", volunteer.user_id, "VIEWING")
            await feed.close()

            # Nobody left: a new subscriber starts from an empty list
            again = Feed(volunteer_ws, PRESENCE, {"id": campaign.id})
            assert seen(await again.next())["present"] == []

            # Removed from the staff, the volunteer's stream ends with NOT_FOUND at the next event
            await factory.ok("removeMember", {"id": volunteer_membership}, "__typename", manager.token)
            await beat(gql, manager.token, message.id, "VIEWING")
            ended = await again.end()
            assert ended is not None
            assert ended.errors[0]["extensions"] == {"code": "NOT_FOUND", "argument": "campaignId"}  # type: ignore[attr-defined]


@pytest.fixture
def two_servers(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    yield from server_pair(database_url, redis_url, tmp_path)


async def test_presence_across_two_processes(two_servers: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = two_servers
    await a.ready()
    await b.ready()
    async with http_client(a.server.http) as on_a:
        factory = AkashicFactory(on_a)
        campaign = await factory.campaign()
        manager = campaign.manager
        director, _ = await factory.staff(campaign, "communications_director")
        message = await factory.message(campaign)
        # A heartbeat through A is in the list a subscriber on B starts with (the store is Redis's)
        await beat(on_a, director.token, message.id, "EDITING")
        async with ws_session(b.server.ws, manager.token) as b_ws:
            feed = Feed(b_ws, PRESENCE, {"id": campaign.id})
            present = seen(await feed.next())["present"]
            assert [(p["user"]["id"], p["state"]) for p in present] == [(director.user_id, "EDITING")]
            # A join through A is heard on B, and so is its expiry
            await beat(on_a, manager.token, message.id, "VIEWING")
            events = [who(seen(await feed.next(wait=PRESENCE_TTL + 10))) for _ in range(3)]
            assert events[0] == ("JOINED", manager.user_id, "VIEWING")
            assert sorted(events[1:]) == sorted(
                [("EXPIRED", director.user_id, "EDITING"), ("EXPIRED", manager.user_id, "VIEWING")]
            )
            await feed.close()
        # And A's subscribers start from the same store: nobody is there any more
        async with ws_session(a.server.ws, manager.token) as a_ws:
            again = Feed(a_ws, PRESENCE, {"id": campaign.id})
            assert seen(await again.next())["present"] == []
            await again.close()
