"""The campaign dashboard: a campaign's messages with their latest version and its analysis
summary, and its donation totals per cycle, as a frontend asks for them in one document. From its
second request on it is one SQL statement, whose answer is the resolvers'; a volunteer (no
`donations.read`) reads the messages but not the totals; an outsider reads nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.relay import from_global_id, to_global_id
from core.sqljson import float_json
from models.akashic_analysis import MessageAnalysis
from models.akashic_donations import DonationProvider, LedgerEntryKind
from services.akashic import FINANCE_DIRECTOR, VOLUNTEER
from services.akashic.donation_events import Contribution, DonorDetails, Reversal
from services.akashic.donations import fec_cycle, record_contribution, record_reversal
from tests.akashic.support import AkashicFactory, CampaignRef
from tests.factories import insert_rows
from tests.support import GraphQLClient, Response, Viewer

DASHBOARD = """query CampaignDashboard($id: ID!, $messages: Int!) { node(id: $id) { id ... on Campaign {
  office jurisdiction electionDate electionCycle organization { name slug }
  messages(first: $messages) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id title channel status paid updatedAt
      latestVersion { id number createdAt author { displayName }
        analysis { status riskLevel issueCount resonanceScore completedAt } } } } }
  donationTotals { cycle totalCents contributedCents reversedCents contributions donors } } } }"""

#: Earlier than any cycle of today's donations: the totals of two cycles, the latest first.
LAST_CYCLE_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Dashboard:
    campaign: CampaignRef
    finance: Viewer
    volunteer: Viewer
    outsider: Viewer
    messages: list[str]
    analysed: dict[str, dict[str, Any]]  # by version id: what its analysis summary reads


def _donor(n: int) -> DonorDetails:
    return DonorDetails(
        first_name=f"Donor{n}",
        last_name='Quote"d \\ Ünïcode',
        street=f"{n} Main St",
        city="Columbus",
        state="OH",
        zip="43215",
        employer="Acme" if n % 2 else None,
        occupation="Nurse" if n % 2 else None,
        email=f"donor{n}@example.com",
    )


async def _donations(session: AsyncSession, campaign: uuid.UUID) -> None:
    """Donations through the ledger's own service path: four donors this cycle (one over $200,
    one refunded in part), one donor in the last cycle, and a chargeback."""
    now = datetime.now(UTC) - timedelta(hours=1)
    gifts = [(1, 150_00), (1, 75_00), (2, 25_00), (3, 500_00), (4, 10_00)]
    for n, (donor, cents) in enumerate(gifts):
        await record_contribution(
            session,
            Contribution(campaign, DonationProvider.ACTBLUE, f"ab-{campaign.hex}-{n}", cents, now, _donor(donor)),
        )
    await record_contribution(
        session,
        Contribution(campaign, DonationProvider.STRIPE, f"ch-{campaign.hex}", 40_00, LAST_CYCLE_AT, _donor(9)),
    )
    await record_reversal(
        session,
        Reversal(DonationProvider.ACTBLUE, f"ab-{campaign.hex}-3", LedgerEntryKind.REFUND, 200_00, now),
    )
    await record_reversal(
        session,
        Reversal(DonationProvider.STRIPE, f"ch-{campaign.hex}", LedgerEntryKind.CHARGEBACK, 40_00, LAST_CYCLE_AT),
    )
    await session.commit()


#: What `_donations` adds up to, per cycle (latest first).
def expected_totals() -> list[dict[str, int]]:
    return [
        {
            "cycle": fec_cycle(datetime.now(UTC) - timedelta(hours=1)),
            "totalCents": 760_00 - 200_00,
            "contributedCents": 760_00,
            "reversedCents": 200_00,
            "contributions": 5,
            "donors": 4,
        },
        {
            "cycle": 2024,
            "totalCents": 0,
            "contributedCents": 40_00,
            "reversedCents": 40_00,
            "contributions": 1,
            "donors": 1,
        },
    ]


async def _analyse(session: AsyncSession, campaign: uuid.UUID, message: str, version: str, n: int) -> dict[str, Any]:
    """An analysis row of the version, written directly (the analysis engine writes these)."""
    succeeded = n % 3 != 2
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "organization_id": campaign,
        "message_id": from_global_id(message)[1],
        "version_id": from_global_id(version)[1],
        "status": "succeeded" if succeeded else "running",
    }
    completed = datetime(2026, 3, 1, 9, 30, n, 123456 if n % 2 else 0, tzinfo=UTC)
    if succeeded:
        values |= {
            "risk_level": ("low", "medium", "high")[n % 3],
            "issue_count": n,
            "resonance_score": (1.0, 0.62, 0.0, 0.875)[n % 4],
            "result": {"findings": []},
            "completed_at": completed,
        }
    await insert_rows(session, MessageAnalysis, [values])
    await session.commit()
    return {
        "status": "SUCCEEDED" if succeeded else "RUNNING",
        "riskLevel": values.get("risk_level", "").upper() or None,
        "issueCount": values.get("issue_count"),
        "resonanceScore": values.get("resonance_score"),
        "completedAt": completed.isoformat() if succeeded else None,
    }


async def make_dashboard(gql: GraphQLClient, factory: AkashicFactory, session: AsyncSession) -> Dashboard:
    campaign = await factory.campaign()
    finance, _ = await factory.staff(campaign, FINANCE_DIRECTOR)
    volunteer, _ = await factory.staff(campaign, VOLUNTEER)
    outsider = await gql.sign_up(display_name="Outsider")
    pk = from_global_id(campaign.id)[1]
    messages: list[str] = []
    analysed: dict[str, dict[str, Any]] = {}
    for n in range(5):
        message = await factory.message(campaign, f'Draft {n}: join us "Saturday" \\ at 10.', title=f"Message {n}")
        version = message.version
        for edit in range(n % 3):
            saved = await factory.save(message, version, f"Draft {n}, edit {edit}.", campaign.manager.token)
            version = saved["version"]["id"]
        if n != 4:  # one latest version was never analysed
            analysed[version] = await _analyse(session, pk, message.id, version, n)
        messages.append(message.id)
    await _donations(session, pk)
    return Dashboard(campaign, finance, volunteer, outsider, messages, analysed)


async def _twice(gql: GraphQLClient, viewer: Viewer, campaign: str, name: str) -> tuple[Response, Response]:
    """The document's first request (graphql-core and the resolvers) and its second (compiled)."""
    document = DASHBOARD.replace("CampaignDashboard", name)
    variables = {"id": campaign, "messages": 20}
    first = await gql(document, variables, token=viewer.token)
    second = await gql(document, variables, token=viewer.token)
    return first, second


async def test_the_dashboard_is_one_statement_whose_answer_is_the_resolvers(
    gql: GraphQLClient, akashic_factory: AkashicFactory, session: AsyncSession
) -> None:
    # Given a campaign with messages, versions, analyses and donations in two cycles
    world = await make_dashboard(gql, akashic_factory, session)
    campaign_id = to_global_id("Campaign", from_global_id(world.campaign.id)[1])
    for viewer, name in ((world.campaign.manager, "DashboardManager"), (world.finance, "DashboardFinance")):
        # When a member who reads donations asks for the dashboard twice
        first, second = await _twice(gql, viewer, campaign_id, name)
        # Then the compiled answer is the resolvers', in one statement
        assert second.body["extensions"]["sql"]["oneStatement"] is True
        assert second.statements == 1
        assert first.statements > 1
        assert first.data == second.data
        campaign = second.data["node"]
        # And it holds every message, newest first, each with its latest version's analysis
        found = campaign["messages"]
        assert found["totalCount"] == 5
        assert not found["pageInfo"]["hasNextPage"]
        assert [edge["node"]["id"] for edge in found["edges"]] == world.messages[::-1]
        for edge in found["edges"]:
            latest = edge["node"]["latestVersion"]
            assert latest["analysis"] == world.analysed.get(latest["id"])
        assert [edge["node"]["latestVersion"]["number"] for edge in found["edges"]] == [2, 1, 3, 2, 1]
        # And the donation totals per cycle, the latest first, as the ledger sums them
        assert campaign["donationTotals"] == expected_totals()


async def test_a_volunteer_reads_the_messages_but_not_the_totals_and_an_outsider_nothing(
    gql: GraphQLClient, akashic_factory: AkashicFactory, session: AsyncSession
) -> None:
    world = await make_dashboard(gql, akashic_factory, session)
    campaign_id = to_global_id("Campaign", from_global_id(world.campaign.id)[1])
    manager = (await _twice(gql, world.campaign.manager, campaign_id, "DashboardOfManager"))[1].data["node"]
    # When a volunteer (messages.read, no donations.read) asks for it
    first, second = await _twice(gql, world.volunteer, campaign_id, "DashboardOfVolunteer")
    # Then both paths answer alike, in one statement: the messages and analyses, no totals
    assert second.statements == 1
    assert first.data == second.data
    volunteer = second.data["node"]
    assert volunteer["donationTotals"] is None
    assert volunteer == {**manager, "donationTotals": None}
    # When an outsider asks for it, by the campaign's ID
    first, second = await _twice(gql, world.outsider, campaign_id, "DashboardOfOutsider")
    # Then there is nothing, as for an ID that never existed
    assert first.data == second.data == {"node": None}
    assert second.statements == 1
    # And an analysis, by its own ID, is the volunteer's to read and not the outsider's
    by_version = "query V($id: ID!) { node(id: $id) { ... on MessageVersion { analysis { id } } } }"
    analysis = (await gql(by_version, {"id": next(iter(world.analysed))}, token=world.campaign.manager.token)).data
    analysis_id = analysis["node"]["analysis"]["id"]
    by_id = "query A($id: ID!) { node(id: $id) { ... on MessageAnalysis { status version { number } } } }"
    for _ in range(2):  # the resolvers, then the one statement
        read = await gql(by_id, {"id": analysis_id}, token=world.volunteer.token)
        assert read.data["node"]["status"] == "SUCCEEDED"
        assert (await gql(by_id, {"id": analysis_id}, token=world.outsider.token)).data == {"node": None}


async def test_a_float_is_written_in_sql_as_python_writes_it(session: AsyncSession) -> None:
    # Given scores as the analyses hold them (whole, short, long, small), and others
    values = [0.0, 1.0, 0.62, 0.875, 0.1 + 0.2, 0.00015, 2 / 3, 123456789012345.0, -0.5]
    for value in values:
        # When Postgres writes one as the one statement does
        column = sa.cast(sa.literal(value, sa.Float), sa.Float)
        written = (await session.execute(sa.select(sa.cast(float_json(column), sa.Text)))).scalar_one()
        # Then it is orjson's text of the same float
        assert written == orjson.dumps(value).decode(), value
    assert (await session.execute(sa.select(float_json(sa.cast(sa.null(), sa.Float))))).scalar_one() is None


VIEWER_DASHBOARD = """query ViewerDashboard { viewer { campaigns { id office
  messages(first: 3) { totalCount nodes { title latestVersion { number analysis { riskLevel resonanceScore } } } }
  donationTotals { cycle totalCents donors } } } }"""


async def test_the_dashboard_through_viewer_campaigns_is_one_statement_too(
    gql: GraphQLClient, akashic_factory: AkashicFactory, session: AsyncSession
) -> None:
    world = await make_dashboard(gql, akashic_factory, session)
    campaign_id = to_global_id("Campaign", from_global_id(world.campaign.id)[1])
    answers = {}
    for viewer, name in (
        (world.campaign.manager, "Manager"),
        (world.volunteer, "Volunteer"),
        (world.outsider, "Outsider"),
    ):
        # When each asks for their campaigns' dashboards, twice
        document = VIEWER_DASHBOARD.replace("ViewerDashboard", f"ViewerDashboard{name}")
        first = await gql(document, token=viewer.token)
        second = await gql(document, token=viewer.token)
        # Then the second is one statement, with the resolvers' answer
        assert second.statements == 1
        assert second.body["extensions"]["sql"]["oneStatement"] is True
        assert first.data == second.data
        answers[name] = second.data["viewer"]["campaigns"]
    # And the staff see their campaign, the totals only where their role reads donations
    assert [c["id"] for c in answers["Manager"]] == [campaign_id]
    assert answers["Manager"][0]["donationTotals"] == [
        {key: totals[key] for key in ("cycle", "totalCents", "donors")} for totals in expected_totals()
    ]
    assert answers["Volunteer"] == [{**answers["Manager"][0], "donationTotals": None}]
    assert answers["Outsider"] == []


CYCLE_DASHBOARD = """query CycleDashboard($id: ID!, $cycle: Int) { node(id: $id) { id ... on Campaign {
  messages(first: 2) { totalCount }
  all: donationTotals { cycle totalCents }
  thisCycle: donationTotals(cycle: $cycle) { cycle totalCents contributedCents reversedCents contributions donors }
  last: donationTotals(cycle: 2024) { cycle donors } } } }"""


async def test_one_cycles_totals_are_one_statement_whatever_the_cycle_and_a_bad_cycle_is_refused_alike(
    gql: GraphQLClient, akashic_factory: AkashicFactory, session: AsyncSession
) -> None:
    world = await make_dashboard(gql, akashic_factory, session)
    campaign_id = to_global_id("Campaign", from_global_id(world.campaign.id)[1])
    totals = expected_totals()
    this_cycle = totals[0]["cycle"]
    token = world.finance.token
    # When a member who reads donations asks for a cycle with donations, one without, and none
    for cycle, expected in ((this_cycle, [totals[0]]), (2024, [totals[1]]), (2000, []), (None, totals)):
        first = await gql(CYCLE_DASHBOARD, {"id": campaign_id, "cycle": cycle}, token=token)
        second = await gql(CYCLE_DASHBOARD, {"id": campaign_id, "cycle": cycle}, token=token)
        # Then the resolvers and the one statement answer alike: only that cycle's totals (or all of them)
        assert second.statements == 1, cycle
        assert second.body["extensions"]["sql"]["oneStatement"] is True
        assert first.data == second.data
        campaign = second.data["node"]
        assert campaign["thisCycle"] == expected, cycle
        assert campaign["all"] == [{"cycle": t["cycle"], "totalCents": t["totalCents"]} for t in totals]
        assert campaign["last"] == [{"cycle": 2024, "donors": 1}]
    # And a volunteer reads none of them, in one statement too
    second = (await _twice_with(gql, world.volunteer, campaign_id, this_cycle))[1]
    assert second.statements == 1
    assert {key: second.data["node"][key] for key in ("all", "thisCycle", "last")} == dict.fromkeys(
        ("all", "thisCycle", "last")
    )
    # When the cycle is not an FEC cycle (an odd year, one before the first)
    for bad in (2025, 1974):
        answers = await _twice_with(gql, world.finance, campaign_id, bad)
        # Then both requests refuse it with the same client error, naming the argument
        for answer in answers:
            assert answer.error_codes == ["VALIDATION"]
            (error,) = answer.errors
            assert error["path"] == ["node", "thisCycle"]
            assert error["extensions"]["field"] == ["cycle"]
            assert answer.body["data"]["node"]["thisCycle"] is None
            assert answer.body["data"]["node"]["last"] == [{"cycle": 2024, "donors": 1}]
        assert answers[0].body["errors"] == answers[1].body["errors"]
        assert answers[0].body["data"] == answers[1].body["data"]


async def _twice_with(gql: GraphQLClient, viewer: Viewer, campaign: str, cycle: int) -> tuple[Response, Response]:
    variables = {"id": campaign, "cycle": cycle}
    return await gql(CYCLE_DASHBOARD, variables, token=viewer.token), await gql(
        CYCLE_DASHBOARD, variables, token=viewer.token
    )
