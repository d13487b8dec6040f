"""What reading an organization with its members costs: a fixed number of SQL statements, at 1x
and 10x the members (the resolvers batch every account into one load; the compiled form, from the
second request on, is one statement)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.relay import from_global_id
from models.organizations import Membership
from tests.factories import create_users
from tests.organizations.conftest import OrganizationFactory
from tests.support import GraphQLClient

MEMBERS = """query Org($slug: String!) { organization(slug: $slug) { name createdBy { displayName }
  members(first: 100) { totalCount
    nodes { role joinedAt user { id displayName email role } invitedBy { displayName } } }
} }"""


async def test_an_organization_and_its_members_cost_a_fixed_number_of_statements(
    gql: GraphQLClient, organizations_factory: OrganizationFactory, session: AsyncSession
) -> None:
    costs: dict[int, tuple[int, int]] = {}
    for scale in (1, 10):
        # Given a team with 3 x scale members besides its owner
        owner = await gql.sign_up(display_name="Olive")
        team = await organizations_factory.team(owner)
        owner_pk, team_pk = from_global_id(owner.user_id)[1], from_global_id(team.id)[1]
        start = datetime.now(UTC)
        members = await create_users(session, 3 * scale)
        session.add_all(
            Membership(
                organization_id=team_pk,
                user_id=pk,
                role="member",
                invited_by=owner_pk,
                joined_at=start + timedelta(seconds=n),
            )
            for n, pk in enumerate(members)
        )
        await session.commit()
        # When the owner reads it with every member's account, twice (a document of its own per
        # scale: its first request runs on graphql-core, the next ones compiled)
        document = MEMBERS.replace("query Org", f"query Org{scale}")
        first = await gql(document, {"slug": team.slug}, token=owner.token)
        second = await gql(document, {"slug": team.slug}, token=owner.token)
        # Then every member comes back, with their email (the owner may read them)
        assert first.data == second.data
        found = first.data["organization"]["members"]
        assert found["totalCount"] == len(found["nodes"]) == 3 * scale + 1
        assert {from_global_id(n["user"]["id"])[1] for n in found["nodes"]} == {owner_pk, *members}
        assert all(n["user"]["email"] for n in found["nodes"])
        costs[scale] = (first.statements, second.statements)
    # And it costs the same at both scales: the organization, its members, the accounts (the
    # creator's, then the members' and inviters' in one batch) on the resolvers; one statement then
    assert costs == {1: (4, 1), 10: (4, 1)}
