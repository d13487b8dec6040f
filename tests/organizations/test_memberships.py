"""Organizations and their members: creating one, joining by invitation, the viewer's
organizations, an organization by slug, its members, leaving, removing and changing roles, and
the last-owner rule."""

from __future__ import annotations

import asyncio

from tests.organizations.conftest import OrganizationFactory
from tests.support import GraphQLClient

ORGANIZATION = """query Org($slug: String!) { organization(slug: $slug) { id name slug kind
  createdBy { displayName }
  members { totalCount nodes { role user { displayName email } invitedBy { displayName }
    organization { slug } } } } }"""

VIEWER_ORGANIZATIONS = "{ viewer { organizations { totalCount nodes { role organization { slug name kind } } } } }"


async def test_the_creator_owns_a_new_organization(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    # Given a signed-in user
    alice = await gql.sign_up(display_name="Alice")
    # When she creates an organization (its slug in any case)
    payload = await organizations_factory.ok(
        "createOrganization",
        {"name": " Acme Corp ", "slug": "ACME-" + alice.email[5:15]},
        "organization { id name slug kind } membership { role user { displayName } }",
        alice.token,
    )
    # Then it is a team, its slug stored in lower case, and she is its owner
    organization = payload["organization"]
    assert organization["name"] == "Acme Corp"
    assert organization["kind"] == "team"
    assert organization["slug"] == organization["slug"].lower()
    assert payload["membership"] == {"role": "owner", "user": {"displayName": "Alice"}}
    # And it is among her organizations, and found by its slug (in any case)
    mine = (await gql(VIEWER_ORGANIZATIONS, token=alice.token)).data["viewer"]["organizations"]
    assert mine["nodes"][0]["organization"] == {k: organization[k] for k in ("slug", "name", "kind")}
    assert [(n["role"], n["organization"]["slug"]) for n in mine["nodes"]] == [("owner", organization["slug"])]
    found = (await gql(ORGANIZATION, {"slug": organization["slug"].upper()}, token=alice.token)).data["organization"]
    assert found["id"] == organization["id"]
    assert found["createdBy"] == {"displayName": "Alice"}
    assert found["members"]["totalCount"] == 1


async def test_bad_names_slugs_and_kinds_are_typed_errors(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    alice, bob = await gql.sign_up(), await gql.sign_up()
    team = await organizations_factory.team(alice)
    cases = [
        ({"name": "Acme", "slug": team.slug}, "CONFLICT", ["input", "slug"]),  # taken
        ({"name": "Acme", "slug": team.slug.upper()}, "CONFLICT", ["input", "slug"]),  # taken, in other case
        ({"name": "Acme", "slug": "a"}, "VALIDATION", ["input", "slug"]),
        ({"name": "Acme", "slug": "-acme"}, "VALIDATION", ["input", "slug"]),
        ({"name": "Acme", "slug": "ac me"}, "VALIDATION", ["input", "slug"]),
        ({"name": "Acme", "slug": "x" * 41}, "VALIDATION", ["input", "slug"]),
        ({"name": "  ", "slug": "fine-slug-123"}, "VALIDATION", ["input", "name"]),
        ({"name": "Acme", "slug": "fine-slug-124", "kind": "campaign"}, "VALIDATION", ["input", "kind"]),
    ]
    for input, code, field in cases:
        payload = await organizations_factory.call("createOrganization", input, "organization { id }", bob.token)
        assert payload["organization"] is None, input
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)], input
    # Signed out: UNAUTHENTICATED. Nothing was created by any of them.
    payload = await organizations_factory.call(
        "createOrganization", {"name": "Acme", "slug": "fine-slug-125"}, "organization { id }", None
    )
    assert [e["code"] for e in payload["errors"]] == ["UNAUTHENTICATED"]
    assert (await gql(VIEWER_ORGANIZATIONS, token=bob.token)).data["viewer"]["organizations"]["totalCount"] == 0


async def test_an_invited_user_joins_and_members_see_each_other(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    # Given Alice's team, and Bob invited as an admin
    alice, bob = await gql.sign_up(display_name="Alice"), await gql.sign_up(display_name="Bob")
    team = await organizations_factory.team(alice)
    # When Bob accepts
    await organizations_factory.join(team, bob, "admin")
    # Then both see the team with its two members, and who invited whom
    for viewer in (alice, bob):
        found = (await gql(ORGANIZATION, {"slug": team.slug}, token=viewer.token)).data["organization"]
        members = {m["user"]["displayName"]: m for m in found["members"]["nodes"]}
        assert found["members"]["totalCount"] == 2
        assert members["Alice"]["role"] == "owner"
        assert members["Alice"]["invitedBy"] is None
        assert members["Bob"] == {
            "role": "admin",
            "user": {"displayName": "Bob", "email": bob.email},
            "invitedBy": {"displayName": "Alice"},
            "organization": {"slug": team.slug},
        }
    # And Bob's organizations list it with his role
    bobs = (await gql(VIEWER_ORGANIZATIONS, token=bob.token)).data["viewer"]["organizations"]["nodes"]
    assert [(n["role"], n["organization"]["slug"]) for n in bobs] == [("admin", team.slug)]
    # And a co-member's account is readable by id, a stranger's is not
    carol = await gql.sign_up()
    for reader, expected in ((alice, {"id": bob.user_id}), (carol, None)):
        read = await gql("query U($id: ID!) { node(id: $id) { id } }", {"id": bob.user_id}, token=reader.token)
        assert read.data["node"] == expected


async def test_members_leave_except_the_last_owner(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    alice, bob = await gql.sign_up(), await gql.sign_up()
    team = await organizations_factory.team(alice)
    await organizations_factory.join(team, bob)
    # The last owner can't leave
    payload = await organizations_factory.call(
        "leaveOrganization", {"organizationId": team.id}, "leftMembershipId", alice.token
    )
    assert [(e["__typename"], e["code"]) for e in payload["errors"]] == [("LastOwnerError", "LAST_OWNER")]
    assert payload["leftMembershipId"] is None
    # A member can
    payload = await organizations_factory.ok(
        "leaveOrganization", {"organizationId": team.id}, "leftMembershipId", bob.token
    )
    assert payload["leftMembershipId"] is not None
    assert (await gql(ORGANIZATION, {"slug": team.slug}, token=bob.token)).data["organization"] is None
    # Once there is another owner, the first can leave too
    await organizations_factory.join(team, bob, "owner")
    await organizations_factory.ok("leaveOrganization", {"organizationId": team.id}, "leftMembershipId", alice.token)
    members = (await gql(ORGANIZATION, {"slug": team.slug}, token=bob.token)).data["organization"]["members"]
    assert [m["role"] for m in members["nodes"]] == ["owner"]
    # And leaving again is NOT_FOUND, as for any organization she is not in
    payload = await organizations_factory.call(
        "leaveOrganization", {"organizationId": team.id}, "leftMembershipId", alice.token
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NOT_FOUND", ["input", "organizationId"])]


async def test_removing_members_and_the_ranks_of_roles(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    owner, admin, member, other = [await gql.sign_up() for _ in range(4)]
    team = await organizations_factory.team(owner)
    admin_membership = await organizations_factory.join(team, admin, "admin")
    member_membership = await organizations_factory.join(team, member)
    other_membership = await organizations_factory.join(team, other)

    async def remove(who: str, by: str) -> dict:
        return await organizations_factory.call("removeMember", {"id": who}, "removedMembershipId", by)

    # A member may not remove anyone: FORBIDDEN, naming the permission and who holds it
    refused = await remove(other_membership, member.token)
    assert refused["errors"] == [
        {
            "__typename": "ForbiddenError",
            "code": "FORBIDDEN",
            "message": refused["errors"][0]["message"],
            "field": None,
            "permission": "members.remove",
            "roles": ["owner", "admin"],
        }
    ]
    # An admin removes a member, but not an owner (a stronger role)
    assert (await remove(member_membership, admin.token))["removedMembershipId"] == member_membership
    refused = await remove(team.membership, admin.token)
    assert [(e["code"], e["permission"], e["roles"]) for e in refused["errors"]] == [
        ("FORBIDDEN", "members.remove", ["owner"])
    ]
    # The last owner can't be removed, even by themself
    refused = await remove(team.membership, owner.token)
    assert [e["code"] for e in refused["errors"]] == ["LAST_OWNER"]
    # The owner removes the admin; a removed membership is NOT_FOUND from then on
    assert (await remove(admin_membership, owner.token))["removedMembershipId"] == admin_membership
    gone = await remove(admin_membership, owner.token)
    assert [(e["code"], e["field"]) for e in gone["errors"]] == [("NOT_FOUND", ["input", "id"])]
    members = (await gql(ORGANIZATION, {"slug": team.slug}, token=owner.token)).data["organization"]["members"]
    assert sorted(m["role"] for m in members["nodes"]) == ["member", "owner"]


async def test_changing_roles_and_the_last_owner(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    owner, admin, member = [await gql.sign_up() for _ in range(3)]
    team = await organizations_factory.team(owner)
    admin_membership = await organizations_factory.join(team, admin, "admin")
    member_membership = await organizations_factory.join(team, member)

    async def change(membership: str, role: str, by: str) -> dict:
        return await organizations_factory.call(
            "changeMemberRole", {"id": membership, "role": role}, "membership { id role }", by
        )

    # Not a role of a team: VALIDATION on the role
    refused = await change(member_membership, "supreme", owner.token)
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("VALIDATION", ["input", "role"])]
    # An admin may make a member an admin, but not an owner, and may not demote the owner
    assert (await change(member_membership, "admin", admin.token))["membership"]["role"] == "admin"
    refused = await change(member_membership, "owner", admin.token)
    assert [(e["code"], e["roles"]) for e in refused["errors"]] == [("FORBIDDEN", ["owner"])]
    refused = await change(team.membership, "member", admin.token)
    assert [(e["code"], e["roles"]) for e in refused["errors"]] == [("FORBIDDEN", ["owner"])]
    # The last owner can't be demoted, not even by themself
    refused = await change(team.membership, "admin", owner.token)
    assert [e["code"] for e in refused["errors"]] == ["LAST_OWNER"]
    # With a second owner, the first may step down; the same role again changes nothing
    assert (await change(admin_membership, "owner", owner.token))["membership"]["role"] == "owner"
    assert (await change(team.membership, "member", owner.token))["membership"]["role"] == "member"
    assert (await change(admin_membership, "owner", admin.token))["membership"]["role"] == "owner"
    roles = (await gql(ORGANIZATION, {"slug": team.slug}, token=admin.token)).data["organization"]["members"]["nodes"]
    assert sorted(m["role"] for m in roles) == ["admin", "member", "owner"]


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    # Given a team with exactly two owners
    first, second = await gql.sign_up(), await gql.sign_up()
    team = await organizations_factory.team(first)
    second_membership = await organizations_factory.join(team, second, "owner")
    # When each demotes the other at the same moment
    results = await asyncio.gather(
        organizations_factory.call(
            "changeMemberRole", {"id": second_membership, "role": "member"}, "membership { role }", first.token
        ),
        organizations_factory.call(
            "changeMemberRole", {"id": team.membership, "role": "member"}, "membership { role }", second.token
        ),
    )
    # Then the organization's lock orders them: one succeeds, the other is the last owner's refusal
    outcomes = sorted(tuple(e["code"] for e in payload["errors"]) for payload in results)
    assert outcomes == [(), ("LAST_OWNER",)]
    found = (await gql(ORGANIZATION, {"slug": team.slug}, token=first.token)).data["organization"]
    assert sorted(m["role"] for m in found["members"]["nodes"]) == ["member", "owner"]
