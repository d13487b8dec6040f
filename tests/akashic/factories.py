"""Akashic's typed factories: rows written directly (by the owner, whom RLS does not filter), for
tests that need a campaign's rows without going through the mutations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models.akashic import Campaign, Message, MessageTransition, MessageVersion
from models.akashic_analysis import MessageAnalysis
from models.akashic_drafts import MessageDraftState
from models.akashic_sending import Contact, MessageDelivery
from models.organizations import Membership, Organization
from services.akashic import CAMPAIGN_MANAGER
from tests.factories import insert_rows


@dataclass(frozen=True)
class CampaignRows:
    campaign: uuid.UUID
    message: uuid.UUID
    version: uuid.UUID
    transition: uuid.UUID
    analysis: uuid.UUID
    contact: uuid.UUID
    delivery: uuid.UUID


async def create_akashic_campaign(session: AsyncSession, *, user_id: uuid.UUID) -> CampaignRows:
    """A campaign the user manages, with one message, its first version (with its analysis and a
    co-edit's saved Yjs state), one transition, one contact and the message's delivery to them."""
    pk, message, version, transition = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await insert_rows(
        session,
        Organization,
        [{"id": pk, "name": "Campaign", "slug": f"campaign-{pk.hex[:16]}", "kind": "campaign", "created_by": user_id}],
    )
    await insert_rows(
        session, Membership, [{"id": uuid.uuid4(), "organization_id": pk, "user_id": user_id, "role": CAMPAIGN_MANAGER}]
    )
    await insert_rows(
        session,
        Campaign,
        [
            {
                "id": pk,
                "office": "Mayor",
                "jurisdiction": "Springfield",
                "election_date": date(2026, 11, 3),
                "party": None,
                "election_cycle": 2026,
            }
        ],
    )
    common = {"organization_id": pk}
    await insert_rows(
        session,
        Message,
        [
            {
                "id": message,
                **common,
                "title": "Hello",
                "channel": "email",
                "paid": False,
                "status": "in_review",
                "created_by": user_id,
            }
        ],
    )
    await insert_rows(
        session,
        MessageVersion,
        [{"id": version, **common, "message_id": message, "number": 1, "body": "Hello", "summary": "First"}],
    )
    await session.execute(sa.update(Message).where(Message.id == message).values(latest_version_id=version))  # type: ignore[arg-type]
    await insert_rows(
        session,
        MessageTransition,
        [
            {
                "id": transition,
                **common,
                "message_id": message,
                "from_status": "draft",
                "to_status": "in_review",
                "actor_id": user_id,
            }
        ],
    )
    analysis = uuid.uuid4()
    await insert_rows(
        session,
        MessageAnalysis,
        [
            {
                "id": analysis,
                **common,
                "message_id": message,
                "version_id": version,
                "status": "succeeded",
                "requested_by": user_id,
                "risk_level": "low",
                "issue_count": 0,
                "resonance_score": 0.5,
                "result": {},
            }
        ],
    )
    await insert_rows(
        session,
        MessageDraftState,
        [{**common, "message_id": message, "version_id": version, "state": b"\x00\x00"}],
    )
    contact, delivery = uuid.uuid4(), uuid.uuid4()
    await insert_rows(
        session,
        Contact,
        [{"id": contact, **common, "name": "Voter", "email": f"voter-{contact.hex[:8]}@example.com", "segments": []}],
    )
    await insert_rows(
        session,
        MessageDelivery,
        [
            {
                "id": delivery,
                **common,
                "message_id": message,
                "contact_id": contact,
                "channel": "email",
                "provider": "sendgrid",
                "recipient": f"voter-{contact.hex[:8]}@example.com",
                "status": "queued",
            }
        ],
    )
    return CampaignRows(pk, message, version, transition, analysis, contact, delivery)
