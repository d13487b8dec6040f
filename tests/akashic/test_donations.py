"""Akashic's donations: webhooks write donors, donations and the ledger; refunds and chargebacks
reverse; aggregates per FEC cycle and the Schedule A read the ledger, each behind its permission."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.relay import to_global_id
from models.akashic import Campaign
from services.akashic.donation_reports import SCHEDULE_A_COLUMNS
from services.akashic.donations import fec_cycle
from tests.akashic.donations_support import (
    ACTBLUE,
    STRIPE,
    actblue,
    create_campaign,
    donation_created,
    donation_reversed,
    donor,
    post,
    stripe_delivery,
)
from tests.factories import insert_rows
from tests.live.conftest import LiveServer
from tests.support import GraphQLClient, Viewer


@pytest.fixture(scope="module")
async def server(database_url: str, data_dir: Path) -> AsyncIterator[LiveServer]:
    from tests.akashic.donations_support import donations_server

    async with donations_server(database_url, data_dir) as live:
        yield live


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http) as http:
        yield http


@pytest.fixture
def api(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)


async def deliver(client: httpx.AsyncClient, payload: dict[str, Any]) -> None:
    response = await post(client, ACTBLUE, actblue(payload))
    assert response.status_code == 200, response.text


async def ledger(engine: AsyncEngine, campaign: uuid.UUID) -> list[tuple[str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT kind, amount_cents FROM akashic_donation_ledger WHERE organization_id = :c "
                "ORDER BY occurred_at, created_at"
            ),
            {"c": campaign},
        )
        return [(row[0], row[1]) for row in rows]


async def statuses(engine: AsyncEngine, campaign: uuid.UUID) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text("SELECT external_id, status FROM akashic_donations WHERE organization_id = :c"), {"c": campaign}
        )
        return {row[0]: row[1] for row in rows}


def gid(campaign: uuid.UUID) -> str:
    return to_global_id("Organization", campaign)


@pytest.fixture
async def staff(api: GraphQLClient) -> dict[str, Viewer]:
    roles = ("campaign_manager", "finance_director", "communications_director", "volunteer", "outsider")
    return {role: await api.sign_up() for role in roles}


async def campaign_of(session: AsyncSession, staff: dict[str, Viewer]) -> uuid.UUID:
    return await create_campaign(session, {v.user_id: role for role, v in staff.items() if role != "outsider"})


TOTALS = """query T($c: ID!, $y: Int!) { donationTotals(campaignId: $c, cycle: $y) {
  cycle totalCents contributedCents reversedCents contributions donors } }"""
AGGREGATES = """query A($c: ID!, $y: Int!) { donorAggregates(campaignId: $c, cycle: $y) {
  cycle totalCents contributedCents reversedCents contributions itemized
  donor { id firstName lastName street city state zip employer occupation email
    campaign { id } donations { totalCount nodes { amountCents status cycle provider
      ledger { nodes { kind amountCents } } } } } } }"""
SCHEDULE_A = """query S($c: ID!, $y: Int!) { fecScheduleA(campaignId: $c, cycle: $y) {
  cycle csv rows itemizedDonors itemizedCents unitemizedCents ledgerTotalCents } }"""


async def test_refunds_and_chargebacks_reverse_through_the_ledger(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    campaign = await create_campaign(session, {})
    await deliver(client, donation_created(campaign, 10_000, donation_id="AB-1"))
    await deliver(client, donation_created(campaign, 5_000, donation_id="AB-2"))
    # A partial refund, then one for more than is left: only what is left is reversed
    await deliver(client, donation_reversed(campaign, "AB-1", 3_000, at="2026-04-01T10:00:00Z"))
    await deliver(client, donation_reversed(campaign, "AB-1", 9_000, at="2026-04-02T10:00:00Z"))
    await deliver(client, donation_reversed(campaign, "AB-2", 5_000, kind="charged_back", at="2026-04-03T10:00:00Z"))
    # Nothing left to reverse: acknowledged, no entry
    await deliver(client, donation_reversed(campaign, "AB-2", 1_000, at="2026-04-04T10:00:00Z"))
    assert await ledger(engine, campaign) == [
        ("contribution", 10_000),
        ("contribution", 5_000),
        ("refund", -3_000),
        ("refund", -7_000),
        ("chargeback", -5_000),
    ]
    assert await statuses(engine, campaign) == {"AB-1": "refunded", "AB-2": "charged_back"}
    # A reversal of a donation not (yet) received is refused, so that the sender retries it
    unknown = await post(client, ACTBLUE, actblue(donation_reversed(campaign, "AB-404", 100)))
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "UNKNOWN_DONATION")
    # The ledger is append-only, in the database itself
    async with engine.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            await conn.execute(
                sa.text("UPDATE akashic_donation_ledger SET amount_cents = 1 WHERE organization_id = :c"),
                {"c": campaign},
            )
        await conn.rollback()
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            await conn.execute(
                sa.text("DELETE FROM akashic_donation_ledger WHERE organization_id = :c"), {"c": campaign}
            )
        await conn.rollback()
        # Deleting the campaign itself still takes its ledger with it (the foreign keys cascade)
        await conn.execute(sa.text("DELETE FROM organizations WHERE id = :c"), {"c": campaign})
        await conn.commit()
    assert await ledger(engine, campaign) == []


async def test_stripe_charges_refunds_and_disputes(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    campaign = await create_campaign(session, {})
    charge: dict[str, Any] = {
        "id": f"ch_{uuid.uuid4().hex[:16]}",
        "object": "charge",
        "amount": 25_000,
        "amount_refunded": 0,
        "currency": "usd",
        "created": 1_772_000_000,  # 2026-02-25
        "billing_details": {
            "name": "Katherine Johnson",
            "email": "kj@example.com",
            "address": {
                "line1": "1 Langley Blvd",
                "line2": "Apt 2",
                "city": "Hampton",
                "state": "VA",
                "postal_code": "23681",
            },
        },
        "metadata": {"campaign_id": str(campaign), "employer": "NASA", "occupation": "Mathematician"},
    }

    def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": kind, "data": {"object": obj}}

    for kind, obj in [
        ("charge.succeeded", charge),
        # Stripe's `amount_refunded` is cumulative: two deliveries of 5,000 so far reverse 5,000 once
        ("charge.refunded", {**charge, "amount_refunded": 5_000}),
        ("charge.refunded", {**charge, "amount_refunded": 5_000}),
        ("charge.refunded", {**charge, "amount_refunded": 8_000}),
        (
            "charge.dispute.created",
            {"id": "dp_1", "object": "dispute", "charge": charge["id"], "amount": 25_000, "created": 1_773_000_000},
        ),
    ]:
        response = await post(client, STRIPE, stripe_delivery(event(kind, obj)))
        assert response.status_code == 200, response.text
    assert await ledger(engine, campaign) == [
        ("contribution", 25_000),
        ("refund", -5_000),
        ("refund", -3_000),
        ("chargeback", -17_000),
    ]
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.text(
                    "SELECT first_name, last_name, street, zip, employer FROM akashic_donors WHERE organization_id = :c"
                ),
                {"c": campaign},
            )
        ).one()
    assert tuple(row) == ("Katherine", "Johnson", "1 Langley Blvd Apt 2", "23681", "NASA")
    # The account's other charges (no campaign in their metadata), and disputes of them, are not donations
    other = {**charge, "id": f"ch_{uuid.uuid4().hex[:16]}", "metadata": {}}
    dispute = {"id": "dp_2", "object": "dispute", "charge": other["id"], "amount": 100, "created": 1_773_000_000}
    for ignored in (event("charge.succeeded", other), event("charge.dispute.created", dispute)):
        assert (await post(client, STRIPE, stripe_delivery(ignored))).status_code == 200
    assert len(await ledger(engine, campaign)) == 4
    euro = event("charge.succeeded", {**charge, "id": "ch_eur", "currency": "eur"})
    refused = await post(client, STRIPE, stripe_delivery(euro))
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "UNSUPPORTED_CURRENCY")


def test_fec_cycles_end_in_even_years() -> None:
    from datetime import UTC, datetime

    assert [fec_cycle(datetime(year, 6, 1, tzinfo=UTC)) for year in (2023, 2024, 2025, 2026, 2027)] == [
        2024,
        2024,
        2026,
        2026,
        2028,
    ]


async def test_aggregates_per_cycle_and_who_may_read_them(
    client: httpx.AsyncClient, api: GraphQLClient, session: AsyncSession, staff: dict[str, Viewer]
) -> None:
    campaign = await campaign_of(session, staff)
    grace = donor()
    # Grace gives twice in the 2026 cycle (2025 and 2026) and once in 2028's; Alan once
    await deliver(
        client, donation_created(campaign, 15_000, who=grace, received_at="2025-12-31T23:00:00Z", donation_id="G1")
    )
    await deliver(
        client, donation_created(campaign, 10_000, who=grace, received_at="2026-01-01T01:00:00Z", donation_id="G2")
    )
    await deliver(client, donation_created(campaign, 7_000, who=grace, received_at="2027-01-01T01:00:00Z"))
    alan = donor(first_name="Alan", last_name="Turing", email=None, employer=None)
    await deliver(client, donation_created(campaign, 9_000, who=alan))
    await deliver(client, donation_reversed(campaign, "G2", 1_000))

    finance = staff["finance_director"].token
    totals = (await api(TOTALS, {"c": gid(campaign), "y": 2026}, token=finance)).data["donationTotals"]
    assert totals == {
        "cycle": 2026,
        "totalCents": 33_000,
        "contributedCents": 34_000,
        "reversedCents": 1_000,
        "contributions": 3,
        "donors": 2,
    }
    found = (await api(AGGREGATES, {"c": gid(campaign), "y": 2026}, token=finance)).data["donorAggregates"]
    assert [(a["donor"]["lastName"], a["totalCents"], a["contributions"], a["itemized"]) for a in found] == [
        ("Hopper", 24_000, 2, True),
        ("Turing", 9_000, 1, False),
    ]
    hopper = found[0]["donor"]
    assert (hopper["state"], hopper["employer"], hopper["campaign"]["id"]) == ("VA", "US Navy", gid(campaign))
    assert hopper["donations"]["totalCount"] == 3  # every cycle's
    later = (await api(AGGREGATES, {"c": gid(campaign), "y": 2028}, token=finance)).data["donorAggregates"]
    assert [(a["donor"]["lastName"], a["totalCents"]) for a in later] == [("Hopper", 7_000)]
    manager = (await api(TOTALS, {"c": gid(campaign), "y": 2026}, token=staff["campaign_manager"].token)).data
    assert manager["donationTotals"]["totalCents"] == 33_000

    # Roles without donations.read: FORBIDDEN, naming the permission; strangers: NOT_FOUND
    for role in ("volunteer", "communications_director"):
        refused = await api(TOTALS, {"c": gid(campaign), "y": 2026}, token=staff[role].token)
        assert refused.body["data"] == {"donationTotals": None}  # null, its siblings kept
        assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"
        assert refused.errors[0]["extensions"]["permission"] == "donations.read"
    stranger = await api(AGGREGATES, {"c": gid(campaign), "y": 2026}, token=staff["outsider"].token)
    assert stranger.errors[0]["extensions"]["code"] == "NOT_FOUND"
    missing = await api(TOTALS, {"c": gid(uuid.uuid4()), "y": 2026}, token=finance)
    assert missing.errors[0]["extensions"]["code"] == "NOT_FOUND"
    anonymous = await api(TOTALS, {"c": gid(campaign), "y": 2026})
    assert anonymous.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    odd = await api(TOTALS, {"c": gid(campaign), "y": 2025}, token=finance)
    assert odd.errors[0]["extensions"]["code"] == "VALIDATION"
    wrong = await api(TOTALS, {"c": to_global_id("Task", campaign), "y": 2026}, token=finance)
    assert wrong.errors[0]["extensions"]["code"] == "INVALID_ID"

    # By node(id:) too: the finance director reads a donor, a volunteer or a stranger reads null
    node = "query N($id: ID!) { node(id: $id) { __typename ... on Donor { lastName } } }"
    assert (await api(node, {"id": hopper["id"]}, token=finance)).data["node"] == {
        "__typename": "Donor",
        "lastName": "Hopper",
    }
    for role in ("volunteer", "outsider"):
        assert (await api(node, {"id": hopper["id"]}, token=staff[role].token)).data["node"] is None


async def test_schedule_a_itemizes_donors_over_200_and_reconciles_with_the_ledger(
    client: httpx.AsyncClient, api: GraphQLClient, session: AsyncSession, engine: AsyncEngine, staff: dict[str, Viewer]
) -> None:
    campaign = await campaign_of(session, staff)
    ada, bob, cy, di = (donor(first_name=name, last_name="Donor") for name in ("Ada", "Bob", "Cy", "Di"))
    plan = [
        (ada, 15_000, "2026-01-05T12:00:00Z", "A1"),
        (ada, 10_000, "2026-02-05T12:00:00Z", "A2"),  # 250.00 in all: itemized
        (bob, 20_000, "2026-01-06T12:00:00Z", "B1"),  # exactly 200.00: not itemized
        (cy, 30_000, "2026-01-07T12:00:00Z", "C1"),  # 300.00, then 150.00 refunded: 150.00, not itemized
        (di, 50_000, "2026-01-08T12:00:00Z", "D1"),  # 500.00, then 100.00 refunded: itemized, with the refund
    ]
    for who, cents, at, external in plan:
        await deliver(client, donation_created(campaign, cents, who=who, received_at=at, donation_id=external))
    await deliver(client, donation_reversed(campaign, "C1", 15_000, at="2026-03-01T12:00:00Z"))
    await deliver(client, donation_reversed(campaign, "D1", 10_000, at="2026-03-02T12:00:00Z"))
    # Another cycle's donation stays out of this report
    await deliver(client, donation_created(campaign, 99_900, who=ada, received_at="2024-05-05T12:00:00Z"))

    report = (await api(SCHEDULE_A, {"c": gid(campaign), "y": 2026}, token=staff["finance_director"].token)).data[
        "fecScheduleA"
    ]
    rows = list(csv.DictReader(io.StringIO(report["csv"])))
    assert tuple(rows[0].keys()) == SCHEDULE_A_COLUMNS
    # The SA record's 45 fields in the FEC's order: the amount is its 21st, the memo text its 44th
    assert (len(SCHEDULE_A_COLUMNS), SCHEDULE_A_COLUMNS.index("CONTRIBUTION AMOUNT")) == (45, 20)
    assert SCHEDULE_A_COLUMNS.index("MEMO TEXT/DESCRIPTION") == 43
    assert [
        (
            r["CONTRIBUTOR FIRST NAME"],
            r["CONTRIBUTION DATE"],
            r["CONTRIBUTION AMOUNT"],
            r["CONTRIBUTION AGGREGATE"],
            r["MEMO TEXT/DESCRIPTION"],
        )
        for r in rows
    ] == [
        ("Ada", "20260105", "150.00", "150.00", ""),
        ("Di", "20260108", "500.00", "500.00", ""),
        ("Ada", "20260205", "100.00", "250.00", ""),
        ("Di", "20260302", "-100.00", "400.00", "Refund of contribution"),
    ]
    first = rows[0]
    assert (first["FORM TYPE"], first["ENTITY TYPE"], first["CONTRIBUTOR STATE"], first["CONTRIBUTOR ZIP"]) == (
        "SA11AI",
        "IND",
        "VA",
        "22201",
    )
    assert (first["CONTRIBUTOR EMPLOYER"], first["CONTRIBUTOR OCCUPATION"]) == ("US Navy", "Rear Admiral")
    # The totals reconcile: itemized + unitemized is the ledger's sum, read here on its own
    async with engine.connect() as conn:
        ledger_sum = (
            await conn.execute(
                sa.text(
                    "SELECT sum(amount_cents) FROM akashic_donation_ledger WHERE organization_id = :c AND cycle = 2026"
                ),
                {"c": campaign},
            )
        ).scalar_one()
    csv_cents = sum(round(float(r["CONTRIBUTION AMOUNT"]) * 100) for r in rows)
    assert report["itemizedCents"] == csv_cents == 65_000
    assert report["unitemizedCents"] == 35_000
    assert report["itemizedCents"] + report["unitemizedCents"] == report["ledgerTotalCents"] == ledger_sum == 100_000
    assert (report["rows"], report["itemizedDonors"]) == (4, 2)

    # finance.report: the manager and the finance director; others are refused
    managers = await api(SCHEDULE_A, {"c": gid(campaign), "y": 2026}, token=staff["campaign_manager"].token)
    assert managers.data["fecScheduleA"]["csv"] == report["csv"]
    for role in ("volunteer", "communications_director"):
        refused = await api(SCHEDULE_A, {"c": gid(campaign), "y": 2026}, token=staff[role].token)
        assert "errors" in refused.body, role
        assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"
        assert refused.errors[0]["extensions"]["permission"] == "finance.report"
    stranger = await api(SCHEDULE_A, {"c": gid(campaign), "y": 2026}, token=staff["outsider"].token)
    assert stranger.errors[0]["extensions"]["code"] == "NOT_FOUND"


UPDATE_CAMPAIGN = """mutation U($input: UpdateCampaignInput!) { updateCampaign(input: $input) {
  campaign { fecCommitteeId } errors { code field ... on ForbiddenError { permission } } } }"""
FILED = """query S($c: ID!, $y: Int!) { fecScheduleA(campaignId: $c, cycle: $y) { csv filerCommitteeId } }"""


async def test_the_schedule_a_names_the_fec_committee_id_that_whoever_manages_the_campaign_sets(
    client: httpx.AsyncClient, api: GraphQLClient, session: AsyncSession, staff: dict[str, Viewer]
) -> None:
    campaign = await campaign_of(session, staff)
    race = {"office": "Governor", "jurisdiction": "Ohio", "election_date": date(2026, 11, 3), "election_cycle": 2026}
    await insert_rows(session, Campaign, [{"id": campaign, **race}])  # its details: what updateCampaign edits
    await session.commit()
    await deliver(client, donation_created(campaign, 30_000, donation_id="F1", received_at="2026-01-05T12:00:00Z"))
    manager, finance = staff["campaign_manager"].token, staff["finance_director"].token
    cid = to_global_id("Campaign", campaign)

    async def filed() -> tuple[str | None, set[str]]:
        report = (await api(FILED, {"c": gid(campaign), "y": 2026}, token=finance)).data["fecScheduleA"]
        rows = list(csv.DictReader(io.StringIO(report["csv"])))
        assert len(rows) == 1
        return report["filerCommitteeId"], {r["FILER COMMITTEE ID NUMBER"] for r in rows}

    async def update(value: Any, token: str) -> dict[str, Any]:
        payload: dict[str, Any] = (
            await api(UPDATE_CAMPAIGN, {"input": {"id": cid, "fecCommitteeId": value}}, token=token)
        ).data["updateCampaign"]
        return payload

    # Given a campaign without one, its report says so and leaves the filer id empty
    assert await filed() == (None, {""})
    # Anything but `C` and 8 digits is refused, naming the field; nothing changes
    for bad in ("C1234567", "X00123456", "C001234567", "C0012345a", "", "C 00123456"):
        refused = await update(bad, manager)
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [("VALIDATION", ["input", "fecCommitteeId"])]
    # Only whoever may manage the campaign (campaign.update) sets it
    forbidden = await update("C00123456", finance)
    assert [(e["code"], e["permission"]) for e in forbidden["errors"]] == [("FORBIDDEN", "campaign.update")]
    assert await filed() == (None, {""})
    # When the manager sets it (spaces and case forgiven), then every row names it as the filer
    assert await update(" c00123456 ", manager) == {"campaign": {"fecCommitteeId": "C00123456"}, "errors": []}
    assert await filed() == ("C00123456", {"C00123456"})
    # And null removes it
    assert (await update(None, manager))["campaign"] == {"fecCommitteeId": None}
    assert await filed() == (None, {""})


CAMPAIGN_TOTALS = """query C($id: ID!, $y: Int) { node(id: $id) { ... on Campaign {
  donationTotals(cycle: $y) { cycle totalCents contributedCents reversedCents contributions donors } } } }"""


async def test_a_campaigns_totals_of_one_cycle_are_that_cycles_totals(
    client: httpx.AsyncClient, api: GraphQLClient, session: AsyncSession, staff: dict[str, Viewer]
) -> None:
    # Given a campaign with donations in the 2026 and 2028 cycles, one of them refunded in part
    campaign = await campaign_of(session, staff)
    race = {"office": "Mayor", "jurisdiction": "Ohio", "election_date": date(2026, 11, 3), "election_cycle": 2026}
    await insert_rows(session, Campaign, [{"id": campaign, **race}])
    await session.commit()
    await deliver(client, donation_created(campaign, 12_000, donation_id="Y1", received_at="2025-03-01T12:00:00Z"))
    await deliver(client, donation_created(campaign, 5_000, donation_id="Y2", received_at="2026-04-01T12:00:00Z"))
    await deliver(client, donation_created(campaign, 8_000, donation_id="Y3", received_at="2027-02-01T12:00:00Z"))
    await deliver(client, donation_reversed(campaign, "Y1", 2_000))
    finance, volunteer = staff["finance_director"].token, staff["volunteer"].token
    cid = to_global_id("Campaign", campaign)

    async def totals(cycle: int | None, token: str = finance) -> Any:
        answers = [(await api(CAMPAIGN_TOTALS, {"id": cid, "y": cycle}, token=token)).data for _ in range(2)]
        assert answers[0] == answers[1]  # the resolvers, then the one statement
        return answers[1]["node"]["donationTotals"]

    # When the finance director asks for one cycle: that cycle's totals, as the root field sums them
    for cycle in (2026, 2028):
        root = (await api(TOTALS, {"c": gid(campaign), "y": cycle}, token=finance)).data["donationTotals"]
        assert await totals(cycle) == [root]
    assert (await totals(2026))[0]["totalCents"] == 15_000
    # A cycle without donations: none; no cycle: every cycle's, the latest first
    assert await totals(2024) == []
    assert [t["cycle"] for t in await totals(None)] == [2028, 2026]
    # A volunteer (no donations.read) reads null, whatever the cycle
    assert await totals(2026, volunteer) is None
    # Not an FEC cycle: a VALIDATION error naming `cycle`, on every request alike
    for bad in (2027, 1974, 10_000):
        for _ in range(2):
            refused = await api(CAMPAIGN_TOTALS, {"id": cid, "y": bad}, token=finance)
            assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in refused.errors] == [
                ("VALIDATION", ["cycle"])
            ]
            assert refused.body["data"] == {"node": {"donationTotals": None}}
