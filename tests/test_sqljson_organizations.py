"""Organizations on the one-statement path (core/sqljson.py), answering as graphql-core does, and
what each member sees of another (`User`'s column policies, core/access.py).

One world, made through the public mutations: a team ("acme") of an owner, an admin and a plain
member, with a pending invitation; a second team ("side") that the plain member owns and where
the admin is a plain member; and an outsider who owns a team of her own. Every document is sent
to graphql-core and to the compiled app (core of tests/test_sqljson.py: `compare`), and must be
answered by one statement, identically. Then the cells of who sees what:

| viewer \\ of a member | id, displayName, profile | email | role (global) |
|---|---|---|---|
| themself | yes | yes | yes |
| a co-member whose role holds `members.read_email` there | yes | yes | no (null) |
| a co-member without it (in every organization they share) | yes | no (null) | no (null) |
| anyone else | the user is null (`node`, as a missing id) | | |
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.organizations.conftest import OrganizationFactory, Team
from tests.pairs import Pair, app_pair, post
from tests.support import GraphQLClient, Viewer
from tests.test_sqljson import compare

pytestmark = pytest.mark.asyncio(loop_scope="session")

USER = "id displayName email purpose offering role createdAt"
#: The same, where `Invitation.email` and `Membership.role` (non-null) are selected beside them.
AS_NODE = "id displayName userEmail: email purpose offering userRole: role createdAt"

ORGANIZATION = f"""query Org($slug: String!) {{ organization(slug: $slug) {{
  id name slug kind createdAt createdBy {{ {USER} }}
  members(first: 10) {{ totalCount
    edges {{ cursor node {{ id role joinedAt user {{ {USER} }} invitedBy {{ id displayName email }}
      organization {{ slug }} }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }}
  invitations {{ totalCount
    nodes {{ id email role status invitedBy {{ displayName email }} organization {{ slug }} }} }}
}} }}"""

NODES = f"""query Nodes($ids: [ID!]!) {{ nodes(ids: $ids) {{ __typename id
  ... on Organization {{ slug members {{ totalCount }} }}
  ... on Membership {{ role user {{ {USER} }} }}
  ... on Invitation {{ email status }}
  ... on User {{ {AS_NODE} }}
}} }}"""

NODE = f"""query Node($id: ID!) {{ node(id: $id) {{ __typename id ... on User {{ {AS_NODE} }}
  ... on Organization {{ slug }} ... on Membership {{ role }} ... on Invitation {{ email }} }} }}"""


@dataclass
class World:
    owner: Viewer
    admin: Viewer
    member: Viewer
    outsider: Viewer
    acme: Team
    side: Team
    outside: Team
    #: global ids of acme's memberships (the owner's, the admin's, the member's) and its invitation
    memberships: list[str]
    invitation: str


@pytest.fixture(scope="module")
async def pair(database_url: str, data_dir: Path) -> AsyncIterator[Pair]:
    async with app_pair(database_url, data_dir, compiled_sql=True) as both:
        yield both


@pytest.fixture(scope="module")
async def world(pair: Pair) -> World:
    gql = GraphQLClient(pair.slow)
    factory = OrganizationFactory(gql)
    owner, admin, member, outsider = [await gql.sign_up(display_name=name) for name in ("Olive", "Adam", "Mia", "Nina")]
    acme = await factory.team(owner, "Acme")
    admin_membership = await factory.join(acme, admin, "admin")
    member_membership = await factory.join(acme, member, "member", inviter=admin)
    invitation, _ = await factory.invite(admin, acme, "someone@example.com", "member")
    side = await factory.team(member, "Side")
    await factory.join(side, admin, "member")
    outside = await factory.team(outsider, "Outside")
    return World(
        owner,
        admin,
        member,
        outsider,
        acme,
        side,
        outside,
        [acme.membership, admin_membership, member_membership],
        invitation,
    )


async def _answer(pair: Pair, query: str, variables: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    """The answer, after checking that one statement gives it as graphql-core does."""
    assert await compare(pair, query, variables, viewer.token) == "sql", (query, variables)
    answer = await post(pair.fast, {"query": query, "variables": variables}, viewer.token)
    assert "errors" not in answer, answer
    data: dict[str, Any] = answer["data"]
    return data


async def test_organization_by_slug_is_one_statement_for_every_viewer(pair: Pair, world: World) -> None:
    for viewer in (world.owner, world.admin, world.member, world.outsider):
        # In any case, with blanks around: normalized as the resolver normalizes it.
        for slug in (world.acme.slug, f"  {world.acme.slug.upper()} ", world.side.slug, "no-such-team"):
            await _answer(pair, ORGANIZATION, {"slug": slug}, viewer)
    # What each sees: the members see the team, the outsider nothing, as for a missing slug.
    seen = (await _answer(pair, ORGANIZATION, {"slug": world.acme.slug}, world.member))["organization"]
    assert seen["members"]["totalCount"] == 3
    assert seen["invitations"]["totalCount"] == 0  # a plain member may not read invitations
    assert (await _answer(pair, ORGANIZATION, {"slug": world.acme.slug}, world.outsider))["organization"] is None
    by_admin = (await _answer(pair, ORGANIZATION, {"slug": world.acme.slug}, world.admin))["organization"]
    assert [n["email"] for n in by_admin["invitations"]["nodes"]] == ["someone@example.com"]
    # Signed out: the resolvers answer null.
    assert await compare(pair, ORGANIZATION, {"slug": world.acme.slug}, None) == "resolvers"


def _users(organization: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {edge["node"]["user"]["displayName"]: edge["node"]["user"] for edge in organization["members"]["edges"]}


async def test_what_a_member_sees_of_the_others(pair: Pair, world: World) -> None:
    acme = {"slug": world.acme.slug}
    names = {"Olive": world.owner, "Adam": world.admin, "Mia": world.member}

    async def seen_by(viewer: Viewer) -> dict[str, dict[str, Any]]:
        return _users((await _answer(pair, ORGANIZATION, acme, viewer))["organization"])

    for viewer_name, viewer in names.items():
        users = await seen_by(viewer)
        assert set(users) == set(names)
        for name, user in users.items():
            # Everyone sees every member's id and display name
            assert user["id"] == names[name].user_id
            # Each their own email and global role
            if name == viewer_name:
                assert (user["email"], user["role"]) == (names[name].email, "USER")
            else:
                assert user["role"] is None
    # The owner and the admin hold members.read_email in acme: they see every member's email
    for viewer in (world.owner, world.admin):
        assert {name: u["email"] for name, u in (await seen_by(viewer)).items()} == {
            name: v.email for name, v in names.items()
        }
    # The plain member does not in acme, but owns "side" where Adam is a member: she sees Adam's
    # email (an organization they share where her role may), not Olive's
    by_member = await seen_by(world.member)
    assert {name: u["email"] for name, u in by_member.items()} == {
        "Olive": None,
        "Adam": world.admin.email,
        "Mia": world.member.email,
    }
    # and the admin, a plain member of "side", sees Mia's email through acme still
    side = _users((await _answer(pair, ORGANIZATION, {"slug": world.side.slug}, world.admin))["organization"])
    assert side["Mia"]["email"] == world.member.email
    # Who invited, who created: the same rules
    by_member_org = (await _answer(pair, ORGANIZATION, acme, world.member))["organization"]
    assert by_member_org["createdBy"]["email"] is None
    assert {
        edge["node"]["invitedBy"]["displayName"]
        for edge in by_member_org["members"]["edges"]
        if edge["node"]["invitedBy"]
    } == {"Olive", "Adam"}


async def test_members_memberships_invitations_and_users_by_id(pair: Pair, world: World) -> None:
    users = [v.user_id for v in (world.owner, world.admin, world.member, world.outsider)]
    ids = [world.acme.id, *world.memberships, world.invitation, *users, world.outside.id]
    answers: dict[str, list[Any]] = {}
    for viewer in (world.owner, world.admin, world.member, world.outsider):
        answers[viewer.email] = (await _answer(pair, NODES, {"ids": ids}, viewer))["nodes"]
        for one in ids:
            await _answer(pair, NODE, {"id": one}, viewer)
    # The outsider reads none of acme's objects nor its members' accounts: null, as a missing id
    by_outsider = answers[world.outsider.email]
    assert by_outsider[:5] == [None] * 5
    assert by_outsider[5:8] == [None] * 3
    assert by_outsider[8]["userEmail"] == world.outsider.email  # herself
    assert by_outsider[9]["slug"] == world.outside.slug
    # A plain member reads the team, the memberships and the accounts, not the invitation
    by_member = answers[world.member.email]
    assert [node and node["__typename"] for node in by_member[:5]] == [
        "Organization",
        "Membership",
        "Membership",
        "Membership",
        None,
    ]
    assert [(n["displayName"], n["userEmail"], n["userRole"]) for n in by_member[5:8]] == [
        ("Olive", None, None),
        ("Adam", world.admin.email, None),  # through "side", which she owns
        ("Mia", world.member.email, "USER"),
    ]
    assert by_member[8:] == [None, None]
    # The admin may read the invitation and every acme member's email
    by_admin = answers[world.admin.email]
    assert by_admin[4]["email"] == "someone@example.com"
    assert [n["userEmail"] for n in by_admin[5:8]] == [world.owner.email, world.admin.email, world.member.email]
    assert [n["user"]["email"] for n in by_admin[1:4]] == [world.owner.email, world.admin.email, world.member.email]


async def test_a_member_who_leaves_is_no_longer_seen(pair: Pair, world: World) -> None:
    # A co-member only while they share an organization: once the plain member's "side" is the
    # only one she shares with a newcomer, and he leaves it, she can't read his account.
    gql = GraphQLClient(pair.slow)
    factory = OrganizationFactory(gql)
    newcomer = await gql.sign_up(display_name="Ned")
    await factory.join(world.side, newcomer, "member")
    seen = await _answer(pair, NODE, {"id": newcomer.user_id}, world.member)
    assert seen["node"]["userEmail"] == newcomer.email
    await factory.ok("leaveOrganization", {"organizationId": world.side.id}, "leftMembershipId", newcomer.token)
    assert (await _answer(pair, NODE, {"id": newcomer.user_id}, world.member))["node"] is None
