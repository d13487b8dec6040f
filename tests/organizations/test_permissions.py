"""Who may read and do what in an organization: another organization's objects answer exactly
like missing ones, by any ID and through every mutation; a member whose role lacks a permission
gets FORBIDDEN with the permission and the roles that hold it; a role change takes effect at
once (nothing is cached across requests)."""

from __future__ import annotations

import uuid

from core.relay import to_global_id
from tests.organizations.conftest import OrganizationFactory, Team
from tests.support import GraphQLClient, Viewer

READ = """query Read($id: ID!, $ids: [ID!]!, $slug: String!) {
  node(id: $id) { __typename id }
  nodes(ids: $ids) { __typename id }
  organization(slug: $slug) { id members { totalCount } invitations(filter: null) { totalCount } }
  viewer { organizations { totalCount nodes { organization { id } } } } }"""

MEMBERS = """query Members($id: ID!) { node(id: $id) { ... on Organization {
  members { totalCount nodes { id role } } invitations { totalCount nodes { id } } } } }"""


async def _world(gql: GraphQLClient, factory: OrganizationFactory) -> tuple[Team, Viewer, str, str, str]:
    """Alice's team with Bob as an admin and a pending invitation: (team, Bob, Bob's membership,
    the invitation, its token)."""
    alice, bob = await gql.sign_up(), await gql.sign_up()
    team = await factory.team(alice)
    membership = await factory.join(team, bob, "admin")
    invitation, token = await factory.invite(alice, team, f"someone-{uuid.uuid4().hex[:8]}@example.com")
    return team, bob, membership, invitation, token


async def test_a_non_member_reads_nothing_by_any_id(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    team, _, membership, invitation, _ = await _world(gql, organizations_factory)
    outsider = await gql.sign_up()
    await organizations_factory.team(outsider)  # a member of another organization
    ids = [team.id, team.membership, membership, invitation]
    for value in ids:
        # Each of the team's objects answers as an ID that never existed
        answer = await gql(READ, {"id": value, "ids": [value, *ids], "slug": team.slug}, token=outsider.token)
        assert answer.data["node"] is None
        assert answer.data["nodes"] == [None] * (len(ids) + 1)
        assert answer.data["organization"] is None
        assert [n["organization"]["id"] for n in answer.data["viewer"]["organizations"]["nodes"]] != [team.id]
        assert team.id not in str(answer.data["viewer"])
    # And the members' own reads see them (the same documents)
    for value in ids:
        answer = await gql(READ, {"id": value, "ids": ids, "slug": team.slug}, token=team.owner.token)
        assert answer.data["node"]["id"] == value
        assert [node["id"] for node in answer.data["nodes"]] == ids
    seen = await gql(MEMBERS, {"id": team.id}, token=team.owner.token)
    assert seen.data["node"]["members"]["totalCount"] == 2
    assert (await gql(MEMBERS, {"id": team.id}, token=outsider.token)).data["node"] is None


async def test_every_mutation_answers_a_non_member_as_for_a_missing_object(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    team, _, membership, invitation, _ = await _world(gql, organizations_factory)
    outsider = await gql.sign_up()
    missing = {
        "Organization": to_global_id("Organization", uuid.uuid4()),
        "Membership": to_global_id("Membership", uuid.uuid4()),
        "Invitation": to_global_id("Invitation", uuid.uuid4()),
    }
    cases = [
        (
            "inviteMember",
            lambda org: {"organizationId": org, "email": "x@example.com", "role": "member"},
            "Organization",
            team.id,
        ),
        ("leaveOrganization", lambda org: {"organizationId": org}, "Organization", team.id),
        ("revokeInvitation", lambda pk: {"id": pk}, "Invitation", invitation),
        ("removeMember", lambda pk: {"id": pk}, "Membership", membership),
        ("changeMemberRole", lambda pk: {"id": pk, "role": "member"}, "Membership", membership),
    ]
    for name, make, type_name, theirs in cases:
        for_theirs = await organizations_factory.call(name, make(theirs), "__typename", outsider.token)
        for_missing = await organizations_factory.call(name, make(missing[type_name]), "__typename", outsider.token)
        assert for_theirs == for_missing, name
        assert [(e["__typename"], e["code"]) for e in for_theirs["errors"]] == [("NotFoundError", "NOT_FOUND")], name
    # Nothing changed: both members and the invitation are still there
    after = await gql(MEMBERS, {"id": team.id}, token=team.owner.token)
    assert after.data["node"]["members"]["totalCount"] == 2
    assert [node["id"] for node in after.data["node"]["invitations"]["nodes"]] == [invitation]


async def test_a_member_without_the_permission_is_forbidden(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    team, _, admin_membership, invitation, _ = await _world(gql, organizations_factory)
    member = await gql.sign_up()
    await organizations_factory.join(team, member)
    cases = [
        ("inviteMember", {"organizationId": team.id, "email": "x@example.com", "role": "member"}, "members.invite"),
        ("revokeInvitation", {"id": invitation}, "members.invite"),
        ("removeMember", {"id": admin_membership}, "members.remove"),
        ("changeMemberRole", {"id": admin_membership, "role": "member"}, "members.change_role"),
    ]
    for name, input, permission in cases:
        refused = await organizations_factory.call(name, input, "__typename", member.token)
        assert [(e["__typename"], e["code"], e["permission"], e["roles"]) for e in refused["errors"]] == [
            ("ForbiddenError", "FORBIDDEN", permission, ["owner", "admin"])
        ], name
    # A plain member reads the members but no invitation, by the connection or by its ID
    seen = await gql(MEMBERS, {"id": team.id}, token=member.token)
    assert seen.data["node"]["members"]["totalCount"] == 3
    assert seen.data["node"]["invitations"] == {"totalCount": 0, "nodes": []}
    by_id = await gql("query I($id: ID!) { node(id: $id) { id } }", {"id": invitation}, token=member.token)
    assert by_id.data["node"] is None


async def test_a_role_change_takes_effect_at_once(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    team, bob, membership, invitation, _ = await _world(gql, organizations_factory)
    by_id = "query I($id: ID!) { node(id: $id) { id } }"
    # As an admin, Bob reads and revokes invitations
    assert (await gql(by_id, {"id": invitation}, token=bob.token)).data["node"] == {"id": invitation}
    # When the owner makes him a member, his very next requests are a member's
    await organizations_factory.ok(
        "changeMemberRole", {"id": membership, "role": "member"}, "__typename", team.owner.token
    )
    assert (await gql(by_id, {"id": invitation}, token=bob.token)).data["node"] is None
    refused = await organizations_factory.call("revokeInvitation", {"id": invitation}, "__typename", bob.token)
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    # And back as an admin, at once again
    await organizations_factory.ok(
        "changeMemberRole", {"id": membership, "role": "admin"}, "__typename", team.owner.token
    )
    assert (await gql(by_id, {"id": invitation}, token=bob.token)).data["node"] == {"id": invitation}
    # Removed, he reads nothing of the team any more, by any ID
    await organizations_factory.ok("removeMember", {"id": membership}, "__typename", team.owner.token)
    ids = [team.id, team.membership, membership, invitation]
    answer = await gql(READ, {"id": team.id, "ids": ids, "slug": team.slug}, token=bob.token)
    assert (answer.data["node"], answer.data["nodes"], answer.data["organization"]) == (None, [None] * 4, None)
    assert answer.data["viewer"]["organizations"]["totalCount"] == 0


AUDIT = """query Audit($id: ID!) { node(id: $id) { ... on Organization {
  auditTrail(first: 50) { totalCount nodes { action actorUserId } } } } }"""


async def test_the_organizations_audit_trail_is_read_by_the_roles_that_may(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    # Given Alice's team, where Bob is an admin, Carol a plain member, and an invitation was sent
    team, bob, _, _, _ = await _world(gql, organizations_factory)
    carol = await gql.sign_up()
    await organizations_factory.join(team, carol, "member")
    # Then the owner and the admin read the organization's trail: memberships and invitations
    for reader in (team.owner, bob):
        trail = (await gql(AUDIT, {"id": team.id}, token=reader.token)).data["node"]["auditTrail"]
        actions = {node["action"] for node in trail["nodes"]}
        assert {"Membership.create", "Invitation.create"} <= actions
        assert trail["totalCount"] == len(trail["nodes"]) >= 4
    # And a plain member sees only the events about their own data: their own joining, not the
    # invitation nor anyone else's membership
    mine = (await gql(AUDIT, {"id": team.id}, token=carol.token)).data["node"]["auditTrail"]
    assert [node["action"] for node in mine["nodes"]] == ["Membership.create"]
    assert mine["totalCount"] == 1
    # And an outsider reads no organization at all
    outsider = await gql.sign_up()
    assert (await gql(AUDIT, {"id": team.id}, token=outsider.token)).data["node"] is None
