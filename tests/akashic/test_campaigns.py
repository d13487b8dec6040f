"""Campaigns: created with their organization (the creator its campaign manager), read by their
staff only (`node`, `viewer.campaigns`, the organization), edited with `campaign.update`, staffed
through the platform's membership mutations with the campaign's roles, and audited."""

from __future__ import annotations

from typing import Any

from tests.akashic.support import CAMPAIGN_INPUT, AkashicFactory
from tests.support import GraphQLClient

CAMPAIGN = """query C($id: ID!) { node(id: $id) { ... on Campaign { id office jurisdiction electionDate party
  electionCycle organization { kind slug members { totalCount } } } } }"""


async def test_a_campaign_is_created_with_its_organization_and_read_by_its_staff_only(
    gql: GraphQLClient, akashic_factory: AkashicFactory
) -> None:
    # Given a campaign made by Alice
    campaign = await akashic_factory.campaign()
    alice = campaign.manager
    outsider = await gql.sign_up()
    # Then Alice reads it by id, with its organization of kind campaign
    found = (await gql(CAMPAIGN, {"id": campaign.id}, token=alice.token)).data["node"]
    assert found == {
        "id": campaign.id,
        "office": "State Senate, District 12",
        "jurisdiction": "Ohio",
        "electionDate": "2026-11-03",
        "party": "Independent",
        "electionCycle": 2026,
        "organization": {"kind": "campaign", "slug": found["organization"]["slug"], "members": {"totalCount": 1}},
    }
    # And among her campaigns; and her membership is the campaign manager's
    mine = await gql(
        "query { viewer { campaigns { id office } organizations { nodes { role organization { kind } } } } }",
        token=alice.token,
    )
    assert mine.data["viewer"]["campaigns"] == [{"id": campaign.id, "office": "State Senate, District 12"}]
    assert mine.data["viewer"]["organizations"]["nodes"] == [
        {"role": "campaign_manager", "organization": {"kind": "campaign"}}
    ]
    # But someone else reads nothing of it, by any id
    assert (await gql(CAMPAIGN, {"id": campaign.id}, token=outsider.token)).data["node"] is None
    others = await gql("query { viewer { campaigns { id } } }", token=outsider.token)
    assert others.data["viewer"]["campaigns"] == []
    organization = await gql(
        "query O($id: ID!) { node(id: $id) { id } }", {"id": campaign.organization_id}, token=outsider.token
    )
    assert organization.data["node"] is None


async def test_creating_a_campaign_checks_its_details(gql: GraphQLClient, akashic_factory: AkashicFactory) -> None:
    alice = await gql.sign_up()
    taken = await akashic_factory.campaign(alice)
    slug = (await gql(CAMPAIGN, {"id": taken.id}, token=alice.token)).data["node"]["organization"]["slug"]

    async def refused(**changes: Any) -> list[dict[str, Any]]:
        payload = await akashic_factory.call(
            "createCampaign", {**CAMPAIGN_INPUT, "slug": "fresh-slug-x1", **changes}, "campaign { id }", alice.token
        )
        assert payload["campaign"] is None
        return [{"code": e["code"], "field": e["field"]} for e in payload["errors"]]

    assert await refused(office="  ") == [{"code": "VALIDATION", "field": ["input", "office"]}]
    assert await refused(electionCycle=2030) == [{"code": "VALIDATION", "field": ["input", "electionDate"]}]
    assert await refused(electionCycle=1200) == [{"code": "VALIDATION", "field": ["input", "electionCycle"]}]
    assert await refused(slug=slug) == [{"code": "CONFLICT", "field": ["input", "slug"]}]
    # A campaign is made only here, not by createOrganization
    payload = await gql.call(
        "createOrganization",
        {"name": "C", "slug": "not-a-team-x2", "kind": "campaign"},
        "organization { id }",
        token=alice.token,
    )
    assert [e["code"] for e in payload["errors"]] == ["VALIDATION"]
    # Nothing half-written: Alice still has her one campaign
    mine = await gql("query { viewer { campaigns { id } organizations { totalCount } } }", token=alice.token)
    assert mine.data["viewer"] == {"campaigns": [{"id": taken.id}], "organizations": {"totalCount": 1}}


async def test_the_campaign_manager_edits_the_details_and_the_audit_trail_records_it(
    gql: GraphQLClient, akashic_factory: AkashicFactory
) -> None:
    campaign = await akashic_factory.campaign()
    comms, _ = await akashic_factory.staff(campaign, "communications_director")
    edit = {"id": campaign.id, "office": "Governor", "party": None}
    # A communications director may not
    refused = await akashic_factory.call("updateCampaign", edit, "campaign { id }", comms.token)
    assert refused["errors"][0]["code"] == "FORBIDDEN"
    assert refused["errors"][0]["roles"] == ["campaign_manager"]
    # The manager may; omitted details stay, a null party is removed
    payload = await akashic_factory.ok(
        "updateCampaign", edit, "campaign { office jurisdiction party electionCycle }", campaign.manager.token
    )
    assert payload["campaign"] == {"office": "Governor", "jurisdiction": "Ohio", "party": None, "electionCycle": 2026}
    # A date outside its cycle is refused, and changes nothing
    bad = await akashic_factory.call(
        "updateCampaign", {"id": campaign.id, "electionDate": "2031-11-04"}, "campaign { id }", campaign.manager.token
    )
    assert [e["code"] for e in bad["errors"]] == ["VALIDATION"]
    # The audit trail (the manager may read it) holds the change, with who made it
    trail = await gql(
        """query T($id: ID!) { node(id: $id) { ... on Organization { auditTrail(first: 10) { nodes {
             action operation targetId changes actorUserId } } } } }""",
        {"id": campaign.organization_id},
        token=campaign.manager.token,
    )
    events = [e for e in trail.data["node"]["auditTrail"]["nodes"] if e["action"] == "Campaign.update"]
    assert len(events) == 1
    assert events[0]["operation"] == "updateCampaign"
    assert events[0]["targetId"] == campaign.id
    assert events[0]["actorUserId"] == campaign.manager.user_id
    assert events[0]["changes"]["office"] == {"before": "State Senate, District 12", "after": "Governor"}
    assert events[0]["changes"]["party"] == {"before": "Independent", "after": None}


async def test_the_membership_mutations_staff_a_campaign_with_its_roles(
    gql: GraphQLClient, akashic_factory: AkashicFactory
) -> None:
    campaign = await akashic_factory.campaign()
    manager = campaign.manager
    comms, comms_membership = await akashic_factory.staff(campaign, "communications_director")
    volunteer, volunteer_membership = await akashic_factory.staff(campaign, "volunteer")
    # A team's role is not a campaign's
    stranger = await gql.sign_up()
    wrong = await akashic_factory.call(
        "inviteMember",
        {"organizationId": campaign.organization_id, "email": stranger.email, "role": "admin"},
        "token",
        manager.token,
    )
    assert [(e["code"], e["field"]) for e in wrong["errors"]] == [("VALIDATION", ["input", "role"])]
    # The communications director invites a field organizer, but not a campaign manager (a stronger role)
    ok = await akashic_factory.call(
        "inviteMember",
        {"organizationId": campaign.organization_id, "email": stranger.email, "role": "field_organizer"},
        "token",
        comms.token,
    )
    assert ok["errors"] == []
    stronger = await akashic_factory.call(
        "inviteMember",
        {"organizationId": campaign.organization_id, "email": stranger.email, "role": "campaign_manager"},
        "token",
        comms.token,
    )
    assert stronger["errors"][0]["code"] == "FORBIDDEN"
    # A volunteer may not invite at all; only the manager changes roles and removes
    refused = await akashic_factory.call(
        "inviteMember",
        {"organizationId": campaign.organization_id, "email": stranger.email, "role": "volunteer"},
        "token",
        volunteer.token,
    )
    assert (refused["errors"][0]["code"], refused["errors"][0]["roles"]) == (
        "FORBIDDEN",
        ["campaign_manager", "communications_director"],
    )
    promote = {"id": volunteer_membership, "role": "finance_director"}
    assert (await akashic_factory.call("changeMemberRole", promote, "membership { role }", comms.token))["errors"][0][
        "code"
    ] == "FORBIDDEN"
    promoted = await akashic_factory.ok("changeMemberRole", promote, "membership { role }", manager.token)
    assert promoted["membership"] == {"role": "finance_director"}
    # The last campaign manager can't step down
    last = await akashic_factory.call(
        "changeMemberRole", {"id": campaign.membership, "role": "volunteer"}, "membership { role }", manager.token
    )
    assert last["errors"][0]["code"] == "LAST_OWNER"
    # Removed from the staff, the communications director reads the campaign no more
    await akashic_factory.ok("removeMember", {"id": comms_membership}, "removedMembershipId", manager.token)
    assert (await gql(CAMPAIGN, {"id": campaign.id}, token=comms.token)).data["node"] is None


async def test_the_campaign_is_reachable_from_its_organization_on_both_paths(
    gql: GraphQLClient, akashic_factory: AkashicFactory
) -> None:
    campaign = await akashic_factory.campaign()
    team = await gql.call(
        "createOrganization",
        {"name": "Team", "slug": f"team-{campaign.id[-8:].lower()}x"},
        "organization { slug }",
        token=campaign.manager.token,
    )
    slug = (await gql(CAMPAIGN, {"id": campaign.id}, token=campaign.manager.token)).data["node"]["organization"]["slug"]
    document = """query O($slug: String!, $team: String!) {
      campaign: organization(slug: $slug) { kind campaign { id office organization { slug }
        messages { totalCount } } }
      team: organization(slug: $team) { kind campaign { id } } }"""
    variables = {"slug": slug, "team": team["organization"]["slug"]}
    answers = [await gql(document, variables, token=campaign.manager.token) for _ in range(2)]
    # The first answer comes from the resolvers, the second from the one-statement SQL form
    assert answers[0].body["data"] == answers[1].body["data"]
    assert answers[1].body["extensions"]["sql"]["statements"] == 1
    assert answers[0].data == {
        "campaign": {
            "kind": "campaign",
            "campaign": {
                "id": campaign.id,
                "office": "State Senate, District 12",
                "organization": {"slug": slug},
                "messages": {"totalCount": 0},
            },
        },
        "team": {"kind": "team", "campaign": None},
    }


async def test_deleting_the_organization_deletes_the_campaign_and_its_messages(
    gql: GraphQLClient, akashic_factory: AkashicFactory
) -> None:
    campaign = await akashic_factory.campaign()
    message = await akashic_factory.message(campaign, "One")
    await akashic_factory.save(message, message.version, "Two", campaign.manager.token)
    await akashic_factory.ok("submitMessage", {"messageId": message.id}, "__typename", campaign.manager.token)
    deleted = await akashic_factory.call(
        "deleteOrganization", {"organizationId": campaign.organization_id}, "deletedId", campaign.manager.token
    )
    assert deleted["errors"] == []
    found = await gql(
        "query N($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": [campaign.id, message.id, message.version]},
        token=campaign.manager.token,
    )
    assert found.data["nodes"] == [None, None, None]
