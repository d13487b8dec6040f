"""Akashic's test world (registered in products/akashic.py): campaigns the viewer manages, with
messages of several versions (text that JSON must escape), analyses in several states (whole and
fractional scores), donations in two cycles with a refund, and a campaign where the viewer is a
volunteer (who reads the messages but not the donation totals)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.relay import to_global_id
from models.akashic import Campaign, Message, MessageTransition, MessageVersion
from models.akashic_analysis import MessageAnalysis
from models.akashic_donations import DonationProvider, LedgerEntryKind
from models.organizations import Membership, Organization
from services.akashic import CAMPAIGN_MANAGER, VOLUNTEER
from services.akashic.donation_events import Contribution, DonorDetails, Reversal
from services.akashic.donations import record_contribution, record_reversal
from tests.factories import insert_rows
from tests.worlds import ProductWorld

AWKWARD = 'Quote " backslash \\ tab \t newline \n emoji \U0001f600 accents éà <tag> & \u2028'


async def _messages(session: AsyncSession, pk: uuid.UUID, user_id: uuid.UUID, ids: dict[str, list[str]]) -> None:
    base = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    common = {"organization_id": pk}
    for m in range(3):
        message = uuid.uuid4()
        await insert_rows(
            session,
            Message,
            [
                {
                    "id": message,
                    **common,
                    "title": f"Message {m} {AWKWARD}",
                    "channel": ("email", "sms", "speech")[m],
                    "paid": m == 1,
                    "status": ("draft", "in_review", "approved")[m],
                    "audience_segments": ["Donors", AWKWARD][: m + 1],
                    "created_by": user_id,
                    "created_at": base + timedelta(days=m, microseconds=m * 1001),
                }
            ],
        )
        parent = None
        for number in range(1, m + 2):
            version = uuid.uuid4()
            await insert_rows(
                session,
                MessageVersion,
                [
                    {
                        "id": version,
                        **common,
                        "message_id": message,
                        "number": number,
                        "parent_version_id": parent,
                        "body": f"Text {number} {AWKWARD}",
                        "summary": f"Draft {number}",
                        "author_id": user_id,
                        "created_at": base + timedelta(days=m, hours=number),
                    }
                ],
            )
            ids["MessageVersion"].append(to_global_id("MessageVersion", version))
            if (m + number) % 3 != 1:
                await _analysis(session, pk, message, version, user_id, m, number, ids)
            parent = version
        await session.execute(sa.update(Message).where(Message.id == message).values(latest_version_id=parent))  # type: ignore[arg-type]
        ids["Message"].append(to_global_id("Message", message))
        await insert_rows(
            session,
            MessageTransition,
            [
                {
                    "id": uuid.uuid4(),
                    **common,
                    "message_id": message,
                    "from_status": "draft",
                    "to_status": "in_review",
                    "actor_id": user_id,
                    "note": AWKWARD,
                }
            ],
        )


async def _analysis(
    session: AsyncSession,
    pk: uuid.UUID,
    message: uuid.UUID,
    version: uuid.UUID,
    user_id: uuid.UUID,
    m: int,
    number: int,
    ids: dict[str, list[str]],
) -> None:
    analysis, succeeded = uuid.uuid4(), (m + number) % 3 == 0
    row: dict[str, Any] = {
        "id": analysis,
        "organization_id": pk,
        "message_id": message,
        "version_id": version,
        "status": "succeeded" if succeeded else "failed",
        "requested_by": user_id,
        "risk_level": ("low", "medium", "high")[number % 3] if succeeded else None,
        "issue_count": number if succeeded else None,
        "resonance_score": (1.0, 0.62, 0.0)[m] if succeeded else None,
        "result": {"findings": []} if succeeded else None,
        "error": None if succeeded else f"Gave up {AWKWARD}",
        "completed_at": datetime(2026, 1, 2, 9, 30, number, number, tzinfo=UTC),
    }
    await insert_rows(session, MessageAnalysis, [row])
    ids["MessageAnalysis"].append(to_global_id("MessageAnalysis", analysis))


async def _campaign(session: AsyncSession, user_id: uuid.UUID, role: str, n: int, ids: dict[str, list[str]]) -> None:
    pk = uuid.uuid4()
    organization = {"id": pk, "name": f"Campaign {n}", "slug": f"world-{pk.hex[:16]}", "kind": "campaign"}
    await insert_rows(session, Organization, [{**organization, "created_by": None}])
    await insert_rows(
        session, Membership, [{"id": uuid.uuid4(), "organization_id": pk, "user_id": user_id, "role": role}]
    )
    details = {
        "office": f"Mayor {AWKWARD}",
        "jurisdiction": "Springfield",
        "election_cycle": 2026,
        "fec_committee_id": None if n % 2 else f"C{n + 1:08d}",
    }
    party = None if n % 2 else "Independent"
    await insert_rows(
        session, Campaign, [{"id": pk, **details, "election_date": date(2026, 11, 3 + n), "party": party}]
    )
    ids["Campaign"].append(to_global_id("Campaign", pk))
    await _messages(session, pk, user_id, ids)
    donor = DonorDetails(
        first_name="Ada",
        last_name='O\'Brien "Q"',
        street="1 Main St",
        city="Columbus",
        state="OH",
        zip="43215",
        email=f"ada-{pk.hex[:8]}@example.com",
    )
    gifts = ((250_00, datetime(2026, 2, 1, tzinfo=UTC)), (40_00, datetime(2024, 6, 1, tzinfo=UTC)))
    for k, (cents, at) in enumerate(gifts):
        contribution = Contribution(pk, DonationProvider.ACTBLUE, f"world-{pk.hex}-{k}", cents * (n + 1), at, donor)
        await record_contribution(session, contribution)
    refunded = datetime(2026, 2, 2, tzinfo=UTC)
    await record_reversal(
        session, Reversal(DonationProvider.ACTBLUE, f"world-{pk.hex}-0", LedgerEntryKind.REFUND, 10_00, refunded)
    )


async def build(session: AsyncSession, user_id: uuid.UUID, size: int) -> Mapping[str, list[str]]:
    ids: dict[str, list[str]] = {key: [] for key in ("Campaign", "Message", "MessageVersion", "MessageAnalysis")}
    for n in range(size):
        await _campaign(session, user_id, CAMPAIGN_MANAGER, n, ids)
    await _campaign(session, user_id, VOLUNTEER, size, ids)
    return ids


#: The world's donations are in the cycles 2026 and 2024; none in 2022; null: every cycle.
CYCLES = [("2026", 2026), ("2024", 2024), ("2022", 2022), ("null", None)]

AKASHIC_WORLD = ProductWorld(build=build, arguments={"Campaign.donationTotals(cycle)": CYCLES})
