"""A campaign's message changes over WebSocket: its staff hear versions saved and moves through
the workflow, published after commit (a refused save publishes nothing); someone off the staff
can't subscribe, and a member removed from the staff gets a last NOT_FOUND."""

from __future__ import annotations

from typing import Any

from tests.akashic.support import AkashicFactory
from tests.live.conftest import Feed, LiveServer, ws_session
from tests.support import GraphQLClient

CHANGES = """subscription Changes($id: ID!) { campaignMessageChanges(campaignId: $id) { __typename
  ... on LiveUpdatesStatus { state }
  ... on CampaignMessageChange { change status message { id title status } version { number body } } } }"""


def change(result: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = result["campaignMessageChanges"]
    return found


async def test_the_staff_follow_message_changes_and_a_removed_member_stops(
    live_server: LiveServer, gql: GraphQLClient
) -> None:
    factory = AkashicFactory(gql)
    campaign = await factory.campaign()
    manager = campaign.manager
    volunteer, volunteer_membership = await factory.staff(campaign, "volunteer")
    outsider = await gql.sign_up()
    async with (
        ws_session(live_server.ws, manager.token) as manager_ws,
        ws_session(live_server.ws, volunteer.token) as volunteer_ws,
        ws_session(live_server.ws, outsider.token) as outsider_ws,
    ):
        # Someone off the staff can't subscribe: NOT_FOUND, as for a campaign that does not exist
        refused = Feed(outsider_ws, CHANGES, {"id": campaign.id})
        error = await refused.end()
        assert error is not None
        assert error.errors[0]["extensions"] == {"code": "NOT_FOUND", "argument": "campaignId"}  # type: ignore[attr-defined]

        feeds = {"manager": Feed(manager_ws, CHANGES, {"id": campaign.id})}
        feeds["volunteer"] = Feed(volunteer_ws, CHANGES, {"id": campaign.id})
        for feed in feeds.values():
            assert change(await feed.next()) == {"__typename": "LiveUpdatesStatus", "state": "STARTED"}

        # A message created, a version saved, a move: every member hears each, as it is now
        message = await factory.message(campaign, "First")
        for feed in feeds.values():
            created = change(await feed.next())
            assert (created["change"], created["message"]["id"], created["version"]) == (
                "CREATED",
                message.id,
                {"number": 1, "body": "First"},
            )
        saved = await factory.save(message, message.version, "Second", manager.token)
        # A refused save (on an old base) is not published: the next event is the submit
        assert (await factory.save(message, message.version, "Lost race", manager.token))["errors"]
        await factory.ok("submitMessage", {"messageId": message.id}, "__typename", manager.token)
        for feed in feeds.values():
            version_saved = change(await feed.next())
            assert (version_saved["change"], version_saved["version"]) == (
                "VERSION_SAVED",
                {"number": saved["version"]["number"], "body": "Second"},
            )
            moved = change(await feed.next())
            assert (moved["change"], moved["status"], moved["message"]["status"]) == (
                "STATUS_CHANGED",
                "IN_REVIEW",
                "IN_REVIEW",
            )

        # Removed from the staff, the volunteer's stream ends with NOT_FOUND at the next change
        await factory.ok("removeMember", {"id": volunteer_membership}, "__typename", manager.token)
        await factory.ok("approveMessage", {"messageId": message.id}, "__typename", manager.token)
        approved = change(await feeds["manager"].next())
        assert (approved["change"], approved["status"]) == ("STATUS_CHANGED", "APPROVED")
        ended = await feeds["volunteer"].end()
        assert ended is not None
        assert ended.errors[0]["extensions"] == {"code": "NOT_FOUND", "argument": "campaignId"}  # type: ignore[attr-defined]
