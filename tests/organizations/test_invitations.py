"""Invitations by email: a token shown once and stored hashed, single-use, expiring, accepted only
by the account of the address it was sent to (in any case); declined, revoked, replaced."""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.relay import from_global_id
from core.settings import Settings
from tests.organizations.conftest import OrganizationFactory
from tests.support import GraphQLClient

INVITATIONS = """query Invitations($slug: String!, $status: [InvitationStatus!]) {
  organization(slug: $slug) {
    pending: invitations { totalCount nodes { id email role status invitedBy { displayName } } }
    chosen: invitations(filter: {status: $status}) { totalCount nodes { id status } }
    every: invitations(filter: null) { totalCount }
  } }"""


async def _invitations(gql: GraphQLClient, token: str, slug: str, status: list[str] | None = None) -> dict:
    answer = await gql(INVITATIONS, {"slug": slug, "status": status}, token=token)
    return dict(answer.data["organization"])


async def test_the_token_is_returned_once_and_stored_hashed(
    gql: GraphQLClient, organizations_factory: OrganizationFactory, session: AsyncSession, settings: Settings
) -> None:
    # Given a team; when its owner invites an address
    alice = await gql.sign_up(display_name="Alice")
    team = await organizations_factory.team(alice)
    payload = await organizations_factory.ok(
        "inviteMember",
        {"organizationId": team.id, "email": "  New.Person@Example.com ", "role": "admin"},
        "token invitation { id email role status createdAt expiresAt organization { slug } }",
        alice.token,
    )
    token, invitation = payload["token"], payload["invitation"]
    # Then the payload holds a long random token and the pending invitation
    assert len(token) >= 43
    assert invitation["email"] == "New.Person@Example.com"
    assert (invitation["role"], invitation["status"]) == ("admin", "PENDING")
    assert invitation["organization"] == {"slug": team.slug}
    lifetime = datetime.fromisoformat(invitation["expiresAt"]) - datetime.fromisoformat(invitation["createdAt"])
    assert lifetime.total_seconds() == settings.invitation_ttl_seconds
    # And the database holds its SHA-256 only, never the token
    stored = (
        await session.execute(
            sa.text("SELECT token_hash FROM invitations WHERE id = :id"), {"id": from_global_id(invitation["id"])[1]}
        )
    ).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    # And the inviter sees it among the pending invitations; nothing reads the token again
    listed = await _invitations(gql, alice.token, team.slug)
    assert listed["pending"]["nodes"] == [
        {
            "id": invitation["id"],
            "email": "New.Person@Example.com",
            "role": "admin",
            "status": "PENDING",
            "invitedBy": {"displayName": "Alice"},
        }
    ]


async def test_only_the_invited_address_accepts_in_any_case(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    alice = await gql.sign_up()
    bob = await gql.sign_up(email=f"Bob.{alice.email[5:15]}@Example.COM")
    mallory = await gql.sign_up()
    team = await organizations_factory.team(alice)
    # Invited with the address in another case
    _, token = await organizations_factory.invite(alice, team, bob.email.lower())
    # Someone else with the token: INVITATION_EMAIL_MISMATCH, and nothing changes
    refused = await organizations_factory.call("acceptInvitation", {"token": token}, "membership { id }", mallory.token)
    assert [(e["__typename"], e["code"], e["field"]) for e in refused["errors"]] == [
        ("ForbiddenError", "INVITATION_EMAIL_MISMATCH", ["input", "token"])
    ]
    refused = await organizations_factory.call(
        "declineInvitation", {"token": token}, "declinedInvitationId", mallory.token
    )
    assert [e["code"] for e in refused["errors"]] == ["INVITATION_EMAIL_MISMATCH"]
    assert (await _invitations(gql, alice.token, team.slug))["pending"]["totalCount"] == 1
    # Signed out: UNAUTHENTICATED
    refused = await organizations_factory.call("acceptInvitation", {"token": token}, "membership { id }", None)
    assert [e["code"] for e in refused["errors"]] == ["UNAUTHENTICATED"]
    # Bob, whose address differs only in case, joins
    joined = await organizations_factory.ok(
        "acceptInvitation", {"token": token}, "membership { role organization { slug } }", bob.token
    )
    assert joined["membership"] == {"role": "member", "organization": {"slug": team.slug}}


async def test_a_token_works_once(gql: GraphQLClient, organizations_factory: OrganizationFactory) -> None:
    alice, bob = await gql.sign_up(), await gql.sign_up()
    team = await organizations_factory.team(alice)
    invitation, token = await organizations_factory.invite(alice, team, bob.email)
    await organizations_factory.ok("acceptInvitation", {"token": token}, "membership { id }", bob.token)
    # Accepting, declining or revoking it again: INVITATION_USED
    for name, input, by in (
        ("acceptInvitation", {"token": token}, bob.token),
        ("declineInvitation", {"token": token}, bob.token),
        ("revokeInvitation", {"id": invitation}, alice.token),
    ):
        refused = await organizations_factory.call(name, input, "__typename", by)
        assert [(e["__typename"], e["code"]) for e in refused["errors"]] == [("ConflictError", "INVITATION_USED")], name
    listed = await _invitations(gql, alice.token, team.slug, ["ACCEPTED"])
    assert (listed["pending"]["totalCount"], listed["chosen"]["nodes"]) == (
        0,
        [{"id": invitation, "status": "ACCEPTED"}],
    )
    # A token that was never issued: NOT_FOUND
    refused = await organizations_factory.call("acceptInvitation", {"token": "nope"}, "membership { id }", bob.token)
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("NOT_FOUND", ["input", "token"])]


async def test_an_expired_invitation_cannot_be_accepted(
    gql: GraphQLClient, organizations_factory: OrganizationFactory, session: AsyncSession
) -> None:
    alice, bob = await gql.sign_up(), await gql.sign_up()
    team = await organizations_factory.team(alice)
    invitation, token = await organizations_factory.invite(alice, team, bob.email)
    # When its time runs out
    await session.execute(
        sa.text("UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = :id"),
        {"id": from_global_id(invitation)[1]},
    )
    await session.commit()
    # Then accepting or declining it is INVITATION_EXPIRED, and it shows as expired, not pending
    for name in ("acceptInvitation", "declineInvitation"):
        refused = await organizations_factory.call(name, {"token": token}, "__typename", bob.token)
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [("INVITATION_EXPIRED", ["input", "token"])]
    listed = await _invitations(gql, alice.token, team.slug, ["EXPIRED"])
    assert (listed["pending"]["totalCount"], listed["chosen"]["nodes"]) == (
        0,
        [{"id": invitation, "status": "EXPIRED"}],
    )
    assert (await gql("{ viewer { organizations { totalCount } } }", token=bob.token)).data["viewer"][
        "organizations"
    ] == {"totalCount": 0}
    # An expired invitation can still be revoked (it then shows as revoked)
    revoked = await organizations_factory.ok(
        "revokeInvitation", {"id": invitation}, "invitation { status }", alice.token
    )
    assert revoked["invitation"] == {"status": "REVOKED"}


async def test_declined_revoked_and_replaced_invitations(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    alice, bob, carol = await gql.sign_up(), await gql.sign_up(), await gql.sign_up()
    team = await organizations_factory.team(alice)
    # Bob declines
    declined, token = await organizations_factory.invite(alice, team, bob.email)
    payload = await organizations_factory.ok("declineInvitation", {"token": token}, "declinedInvitationId", bob.token)
    assert payload["declinedInvitationId"] == declined
    refused = await organizations_factory.call("acceptInvitation", {"token": token}, "membership { id }", bob.token)
    assert [e["code"] for e in refused["errors"]] == ["INVITATION_USED"]
    # Carol's invitation is revoked: her token stops working
    revoked, token = await organizations_factory.invite(alice, team, carol.email)
    payload = await organizations_factory.ok(
        "revokeInvitation", {"id": revoked}, "invitation { id status revokedAt }", alice.token
    )
    assert payload["invitation"]["status"] == "REVOKED"
    refused = await organizations_factory.call("acceptInvitation", {"token": token}, "membership { id }", carol.token)
    assert [e["code"] for e in refused["errors"]] == ["INVITATION_USED"]
    # Inviting Carol again twice: only the newest token works, the one before was replaced
    older, older_token = await organizations_factory.invite(alice, team, carol.email)
    newest, newest_token = await organizations_factory.invite(alice, team, carol.email.upper())
    refused = await organizations_factory.call(
        "acceptInvitation", {"token": older_token}, "membership { id }", carol.token
    )
    assert [e["code"] for e in refused["errors"]] == ["INVITATION_USED"]
    await organizations_factory.ok("acceptInvitation", {"token": newest_token}, "membership { id }", carol.token)
    every = await _invitations(gql, alice.token, team.slug, ["DECLINED", "REVOKED", "ACCEPTED"])
    statuses = {node["id"]: node["status"] for node in every["chosen"]["nodes"]}
    assert statuses == {declined: "DECLINED", revoked: "REVOKED", older: "REVOKED", newest: "ACCEPTED"}
    assert (every["pending"]["totalCount"], every["every"]["totalCount"]) == (0, 4)
    # A member's address can't be invited again; a malformed one or an unknown role is refused
    for input, code, field in (
        ({"email": carol.email, "role": "member"}, "CONFLICT", ["input", "email"]),
        ({"email": "not an address", "role": "member"}, "VALIDATION", ["input", "email"]),
        ({"email": "someone@example.com", "role": "king"}, "VALIDATION", ["input", "role"]),
    ):
        refused = await organizations_factory.call(
            "inviteMember", {"organizationId": team.id, **input}, "invitation { id } token", alice.token
        )
        assert (refused["invitation"], refused["token"]) == (None, None)
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [(code, field)], input


async def test_accepting_as_a_member_already_is_a_conflict(
    gql: GraphQLClient, organizations_factory: OrganizationFactory, session: AsyncSession
) -> None:
    # Given Bob invited, who meanwhile became a member some other way (a product's own service)
    alice, bob = await gql.sign_up(), await gql.sign_up()
    team = await organizations_factory.team(alice)
    invitation, token = await organizations_factory.invite(alice, team, bob.email)
    await session.execute(
        sa.text(
            "INSERT INTO memberships (id, organization_id, user_id, role) "
            "VALUES (gen_random_uuid(), :org, :user, 'member')"
        ),
        {"org": from_global_id(team.id)[1], "user": from_global_id(bob.user_id)[1]},
    )
    await session.commit()
    # When he accepts: CONFLICT, and the invitation is still pending
    refused = await organizations_factory.call("acceptInvitation", {"token": token}, "membership { id }", bob.token)
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("CONFLICT", ["input", "token"])]
    pending = (await _invitations(gql, alice.token, team.slug))["pending"]["nodes"]
    assert [node["id"] for node in pending] == [invitation]
