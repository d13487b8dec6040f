"""An organization's live changes over WebSocket: members only, checked when subscribing and again
for every event; invitations reach only those who may invite; a removed member stops receiving."""

from __future__ import annotations

import uuid
from typing import Any

from core.relay import to_global_id
from tests.live.conftest import Feed, LiveServer, ws_session
from tests.organizations.conftest import OrganizationFactory
from tests.support import PASSWORD, GraphQLClient

CHANGES = """subscription Changes($id: ID!) { organizationChanges(organizationId: $id) { __typename
  ... on LiveUpdatesStatus { state }
  ... on OrganizationChange { change organization { slug } membershipId membership { role }
    userId invitationId invitation { email status } } } }"""


def change(result: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = result["organizationChanges"]
    return found


async def test_members_follow_changes_and_a_removed_member_stops_receiving(
    live_server: LiveServer, gql: GraphQLClient
) -> None:
    factory = OrganizationFactory(gql)
    # Given Alice's team with Bob as an admin and Carol as a member, each subscribed
    alice, bob, carol, dave = [await gql.sign_up() for _ in range(4)]
    team = await factory.team(alice)
    await factory.join(team, bob, "admin")
    carols = await factory.join(team, carol)
    async with (
        ws_session(live_server.ws, alice.token) as alice_ws,
        ws_session(live_server.ws, bob.token) as bob_ws,
        ws_session(live_server.ws, carol.token) as carol_ws,
    ):
        feeds = {
            name: Feed(ws, CHANGES, {"id": team.id})
            for name, ws in (("alice", alice_ws), ("bob", bob_ws), ("carol", carol_ws))
        }
        for feed in feeds.values():
            assert change(await feed.next()) == {"__typename": "LiveUpdatesStatus", "state": "STARTED"}

        # When Alice invites Dave: those who may invite hear of it, Carol does not
        invitation, token = await factory.invite(alice, team, dave.email)
        for name in ("alice", "bob"):
            invited = change(await feeds[name].next())
            assert (invited["change"], invited["invitationId"], invited["invitation"]) == (
                "INVITATION_CREATED",
                invitation,
                {"email": dave.email, "status": "PENDING"},
            )
            assert (invited["membershipId"], invited["membership"]) == (None, None)

        # When Dave accepts: everyone hears it; only those who may invite see the invitation
        await factory.ok("acceptInvitation", {"token": token}, "membership { id }", dave.token)
        joined = {name: change(await feed.next()) for name, feed in feeds.items()}
        assert {name: (c["change"], c["membership"]) for name, c in joined.items()} == {
            name: ("MEMBER_JOINED", {"role": "member"}) for name in feeds
        }
        assert joined["alice"]["invitation"] == {"email": dave.email, "status": "ACCEPTED"}
        assert (joined["carol"]["invitationId"], joined["carol"]["invitation"]) == (None, None)
        assert joined["carol"]["userId"] == dave.user_id

        # When Alice removes Carol: Alice and Bob hear it; Carol's stream ends, NOT_FOUND
        await factory.ok("removeMember", {"id": carols}, "__typename", alice.token)
        for name in ("alice", "bob"):
            removed = change(await feeds[name].next())
            assert (removed["change"], removed["membershipId"], removed["membership"]) == (
                "MEMBER_REMOVED",
                carols,
                None,
            )
            assert removed["userId"] == carol.user_id
        error = await feeds["carol"].end()
        assert error is not None
        assert error.errors[0]["extensions"] == {"code": "NOT_FOUND", "argument": "organizationId"}  # type: ignore[attr-defined]

        # And later changes reach the members only
        bobs = (await gql("{ viewer { organizations { nodes { id } } } }", token=bob.token)).data
        await factory.ok(
            "changeMemberRole",
            {"id": bobs["viewer"]["organizations"]["nodes"][0]["id"], "role": "member"},
            "__typename",
            alice.token,
        )
        for name in ("alice", "bob"):
            changed = change(await feeds[name].next())
            assert (changed["change"], changed["membership"]) == ("MEMBER_ROLE_CHANGED", {"role": "member"})
        # Bob, now a plain member, no longer hears of invitations; Alice does
        second, _ = await factory.invite(alice, team, f"eve-{uuid.uuid4().hex[:8]}@example.com")
        assert change(await feeds["alice"].next())["invitationId"] == second
        await feeds["bob"].quiet()
        for feed in feeds.values():
            await feed.close()


async def test_only_members_may_subscribe(live_server: LiveServer, gql: GraphQLClient) -> None:
    factory = OrganizationFactory(gql)
    alice, outsider = await gql.sign_up(), await gql.sign_up()
    team = await factory.team(alice)
    async with ws_session(live_server.ws, outsider.token) as session:
        # Another organization's ID is refused exactly like one that does not exist
        for value in (team.id, to_global_id("Organization", uuid.uuid4())):
            error = await Feed(session, CHANGES, {"id": value}).end()
            assert error is not None
            assert error.errors[0]["extensions"] == {"code": "NOT_FOUND", "argument": "organizationId"}  # type: ignore[attr-defined]
        # An ID of another type is INVALID_ID
        error = await Feed(session, CHANGES, {"id": team.membership}).end()
        assert error is not None
        assert error.errors[0]["extensions"] == {"code": "INVALID_ID", "argument": "organizationId"}  # type: ignore[attr-defined]


async def test_a_deleted_account_leaves_and_a_deleted_organization_ends_every_stream(
    live_server: LiveServer, gql: GraphQLClient
) -> None:
    factory = OrganizationFactory(gql)
    alice, bob = await gql.sign_up(), await gql.sign_up()
    team = await factory.team(alice)
    bobs = await factory.join(team, bob, "admin")
    async with (
        ws_session(live_server.ws, alice.token) as alice_ws,
        ws_session(live_server.ws, bob.token) as bob_ws,
    ):
        alice_feed, bob_feed = Feed(alice_ws, CHANGES, {"id": team.id}), Feed(bob_ws, CHANGES, {"id": team.id})
        for feed in (alice_feed, bob_feed):
            assert change(await feed.next())["state"] == "STARTED"
        # When Bob deletes his account, Alice hears that he left
        deleted = await gql.call("deleteAccount", {"password": PASSWORD}, "deletedId", token=bob.token)
        assert deleted["errors"] == []
        left = change(await alice_feed.next())
        assert (left["change"], left["membershipId"], left["membership"], left["userId"]) == (
            "MEMBER_LEFT",
            bobs,
            None,
            bob.user_id,
        )
        await bob_feed.end()  # his account is gone: his stream ends too
        # When Alice deletes the team, her stream ends as for a missing organization
        await factory.ok("deleteOrganization", {"organizationId": team.id}, "deletedId", alice.token)
        error = await alice_feed.end()
        assert error is not None
        assert error.errors[0]["extensions"] == {"code": "NOT_FOUND", "argument": "organizationId"}  # type: ignore[attr-defined]
