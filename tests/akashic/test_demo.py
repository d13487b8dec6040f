"""The demo (`serve --demo`) adds Akashic's campaign: the demo user its campaign manager, staff in
the other roles, messages with several versions and a workflow history, donations through the
ledger's path, the campaign's knowledge documents and analyses of its messages' versions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from core.context import Actor
from core.db import to_async_url
from core.settings import Settings
from products import PRODUCTS
from services.akashic import ROLES
from services.akashic.demo import DEMO_ANALYSES, DONORS, KNOWLEDGE
from services.akashic.donation_reports import cycle_totals
from services.akashic.donations import ITEMIZATION_THRESHOLD_CENTS
from services.demo import DEMO_EMAIL, load_demo
from tests.conftest import RunDatabases, create_database, drop_database


@pytest.fixture
async def akashic_demo_engine(run_databases: RunDatabases) -> AsyncIterator[AsyncEngine]:
    """A migrated database of its own (the demo's slugs and emails are fixed)."""
    url = await create_database(run_databases.url, template=run_databases.template, prefix="quintet_demo")
    engine = create_async_engine(to_async_url(url))
    try:
        yield engine
    finally:
        await engine.dispose()
        await drop_database(run_databases.url, url)


async def test_the_demo_has_a_campaign_with_staff_and_message_history(
    akashic_demo_engine: AsyncEngine, settings: Settings
) -> None:
    sessions = async_sessionmaker(akashic_demo_engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        assert await load_demo(session, settings, PRODUCTS) is not None
    async with akashic_demo_engine.connect() as conn:
        staff = await conn.execute(
            sa.text(
                """SELECT m.role, u.email FROM memberships m JOIN users u ON u.id = m.user_id
                   JOIN organizations o ON o.id = m.organization_id JOIN campaigns c ON c.id = o.id
                   WHERE o.kind = 'campaign' ORDER BY m.role"""
            )
        )
        roles = {row.role: row.email for row in staff}
        assert set(roles) == set(ROLES)
        assert roles["campaign_manager"] == DEMO_EMAIL
        messages = await conn.execute(
            sa.text(
                """SELECT m.title, m.status,
                     (SELECT count(*) FROM message_versions v WHERE v.message_id = m.id) AS versions,
                     (SELECT count(*) FROM message_transitions t WHERE t.message_id = m.id) AS moves
                   FROM messages m ORDER BY m.title"""
            )
        )
        assert [tuple(row) for row in messages] == [
            ("Campaign launch", "approved", 2, 2),
            ("Friday deadline", "in_review", 2, 3),
            ("Saturday rally", "sent", 3, 4),
        ]


async def test_the_demo_campaign_has_donations_knowledge_and_analyses(
    akashic_demo_engine: AsyncEngine, settings: Settings
) -> None:
    sessions = async_sessionmaker(akashic_demo_engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        user = await load_demo(session, settings, PRODUCTS)
        assert user is not None
    async with akashic_demo_engine.connect() as conn:
        campaign = (await conn.execute(sa.text("SELECT id FROM campaigns"))).scalar_one()
        # Donors with what FEC itemization needs, several of them over $200 in the cycle
        donors = (
            await conn.execute(
                sa.text(
                    """SELECT d.first_name, d.street, d.city, d.state, d.zip, d.occupation,
                         (SELECT sum(l.amount_cents) FROM akashic_donation_ledger l WHERE l.donor_id = d.id) AS net
                       FROM akashic_donors d WHERE d.organization_id = :c"""
                ),
                {"c": campaign},
            )
        ).all()
        assert len(donors) == len(DONORS)
        assert all(row.street and row.city and row.state == "OH" and row.zip and row.occupation for row in donors)
        itemized = [row for row in donors if row.net > ITEMIZATION_THRESHOLD_CENTS]
        assert len(itemized) >= 5
        assert any(row.net <= ITEMIZATION_THRESHOLD_CENTS for row in donors)
        # A refund in part and a chargeback, each in the ledger and on its donation
        reversals = (
            await conn.execute(
                sa.text(
                    """SELECT l.kind, d.status FROM akashic_donation_ledger l
                       JOIN akashic_donations d ON d.id = l.donation_id
                       WHERE l.organization_id = :c AND l.kind <> 'contribution' ORDER BY l.kind"""
                ),
                {"c": campaign},
            )
        ).all()
        assert [tuple(row) for row in reversals] == [("chargeback", "charged_back"), ("refund", "partially_refunded")]
        # The campaign's knowledge documents, chunked and embedded
        documents = (
            await conn.execute(
                sa.text(
                    """SELECT k.title, count(c.id) AS chunks, bool_and(c.embedding IS NOT NULL) AS embedded
                       FROM knowledge_documents k JOIN knowledge_chunks c ON c.document_id = k.id
                       WHERE k.organization_id = :c GROUP BY k.title ORDER BY k.title"""
                ),
                {"c": campaign},
            )
        ).all()
        assert [row.title for row in documents] == sorted(title for title, _, _ in KNOWLEDGE)
        assert all(row.chunks >= 1 and row.embedded for row in documents)
        # An analysis of every message's latest version, and of the versions before a fix, made by
        # the engine: the paid text without its "Paid for by" line is flagged, its fix is not
        analyses = (
            await conn.execute(
                sa.text(
                    """SELECT m.title, v.number, a.status, a.risk_level, a.issue_count, a.resonance_score,
                         a.result, v.id = m.latest_version_id AS latest
                       FROM message_analyses a JOIN message_versions v ON v.id = a.version_id
                       JOIN messages m ON m.id = a.message_id ORDER BY m.title, v.number"""
                )
            )
        ).all()
        expected = [
            (title, number, "succeeded") for title, numbers in sorted(DEMO_ANALYSES.items()) for number in numbers
        ]
        assert [tuple(row)[:3] for row in analyses] == expected
        for row in analyses:
            assert row.issue_count == len(row.result["findings"])
            assert len(row.result["resonance"]) == 9
            assert 0 <= row.resonance_score <= 1
        codes = {(row.title, row.number): {f["code"] for f in row.result["findings"]} for row in analyses}
        assert "MISSING_DISCLAIMER" in codes["Friday deadline", 1]
        assert "MISSING_DISCLAIMER" not in codes["Friday deadline", 2]
        assert any(row.result["citations"] for row in analyses)  # it read the knowledge base
        assert {row.title for row in analyses if row.latest} == set(DEMO_ANALYSES)
    # And the finance director reads the cycle's totals, which reconcile with the ledger
    async with sessions() as session, session.begin():
        finance = (
            await session.execute(sa.text("SELECT m.user_id FROM memberships m WHERE m.role = 'finance_director'"))
        ).scalar_one()
        totals = await cycle_totals(session, actor=Actor(user_id=finance, role="user"), campaign_id=campaign)
    assert len(totals) == 1
    assert totals[0].donors == len(DONORS)
    assert totals[0].total_cents == totals[0].contributed_cents - totals[0].reversed_cents > 0
    assert totals[0].reversed_cents > 0
