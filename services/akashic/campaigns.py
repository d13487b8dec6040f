"""Campaigns: an organization of kind `campaign` and its details (office sought, jurisdiction,
election date, party, election cycle, FEC committee id: `C` and 8 digits, the filer id its FEC
Schedule A names), created together by `create_campaign` (the creator becomes
the campaign manager, the kind's owner role) and edited by `update_campaign` (`campaign.update`).

Staff are the organization's members: the platform's membership mutations (invite, accept,
remove, change role) work on a campaign as on any organization, with the campaign's roles.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.access import access_params, readable, requires
from core.context import Actor
from core.errors import NotFound, ValidationFailed
from core.reads import Shape
from models.akashic import Campaign
from models.organizations import Membership, Organization
from services import organizations
from services.akashic import CAMPAIGN, CAMPAIGN_UPDATE
from services.inputs import clean_text, required_text, utcnow

#: The first US federal election cycle, and the last year a date can hold.
FIRST_CYCLE, LAST_CYCLE = 1788, 9999

_CAMPAIGNS = Campaign.__table__  # type: ignore[attr-defined]

#: The order of a viewer's campaigns: soonest election first (columns of `campaigns`).
VIEWER_CAMPAIGNS_ORDER = ("election_date", "id")
#: The campaigns the actor of a run is a member of, soonest election first.
VIEWER_CAMPAIGNS = Shape(
    sa.select(_CAMPAIGNS).where(readable(_CAMPAIGNS)).order_by(*(_CAMPAIGNS.c[c] for c in VIEWER_CAMPAIGNS_ORDER))
)


@dataclass(frozen=True)
class CampaignDetails:
    """What a campaign says about its race (all given on create; on update, None keeps a value,
    except `party`, whose `clear_party` empties it)."""

    office: str | None = None
    jurisdiction: str | None = None
    election_date: date | None = None
    party: str | None = None
    election_cycle: int | None = None
    clear_party: bool = False
    fec_committee_id: str | None = None
    clear_fec_committee_id: bool = False


#: An FEC committee id: `C` and 8 digits (e.g. `C00123456`).
FEC_COMMITTEE_ID = re.compile(r"^C[0-9]{8}$")


def _fec_committee_id(value: str) -> str:
    cleaned = value.strip().upper()
    if not FEC_COMMITTEE_ID.match(cleaned):
        raise ValidationFailed(
            "An FEC committee id is `C` followed by 8 digits, e.g. C00123456", field=["input", "fecCommitteeId"]
        )
    return cleaned


def _cycle(value: int) -> int:
    if not FIRST_CYCLE <= value <= LAST_CYCLE:
        raise ValidationFailed(
            f"An election cycle is a year from {FIRST_CYCLE} to {LAST_CYCLE}", field=["input", "electionCycle"]
        )
    return value


def _check_cycle_and_date(cycle: int, election_date: date) -> None:
    # A cycle is the two-year period ending with the election: the election falls in its year or the one before.
    if election_date.year not in (cycle, cycle - 1):
        raise ValidationFailed(
            f"An election on {election_date.isoformat()} is not in the {cycle} cycle (its year or the year before)",
            field=["input", "electionDate"],
        )


def _values(details: CampaignDetails, *, creating: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if details.office is not None or creating:
        values["office"] = required_text(details.office, field="office", max_length=200)
    if details.jurisdiction is not None or creating:
        values["jurisdiction"] = required_text(details.jurisdiction, field="jurisdiction", max_length=200)
    if details.election_date is not None or creating:
        if details.election_date is None:
            raise ValidationFailed("Give the election date", field=["input", "electionDate"])
        values["election_date"] = details.election_date
    if details.election_cycle is not None or creating:
        if details.election_cycle is None:
            raise ValidationFailed("Give the election cycle (a year)", field=["input", "electionCycle"])
        values["election_cycle"] = _cycle(details.election_cycle)
    if details.clear_party:
        values["party"] = None
    elif details.party is not None:
        values["party"] = clean_text(details.party, field="party", max_length=120, required=False)
    if details.clear_fec_committee_id:
        values["fec_committee_id"] = None
    elif details.fec_committee_id is not None:
        values["fec_committee_id"] = _fec_committee_id(details.fec_committee_id)
    return values


async def create_campaign(
    session: AsyncSession, *, actor: Actor, name: str, slug: str, details: CampaignDetails
) -> tuple[Organization, Membership, Campaign]:
    """A new campaign: its organization (kind `campaign`), its details, and the creator as its
    campaign manager."""
    values = _values(details, creating=True)
    _check_cycle_and_date(values["election_cycle"], values["election_date"])
    organization, membership = await organizations.add_organization(
        session, actor=actor, name=name, slug=slug, kind=CAMPAIGN
    )
    campaign = Campaign(id=organization.id, **values)
    session.add(campaign)
    await session.flush()
    return organization, membership, campaign


@requires(CAMPAIGN_UPDATE, organization="campaign_id", field="id", noun="campaign")
async def update_campaign(
    session: AsyncSession, *, actor: Actor, campaign_id: uuid.UUID, details: CampaignDetails
) -> Campaign:
    """Edit a campaign's details (the given ones)."""
    campaign = await session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None:
        raise NotFound("No campaign with this `id`", field=["input", "id"])
    values = _values(details, creating=False)
    cycle = values.get("election_cycle", campaign.election_cycle)
    _check_cycle_and_date(cycle, values.get("election_date", campaign.election_date))
    for name, value in values.items():
        setattr(campaign, name, value)
    if values:
        campaign.updated_at = utcnow()
    await session.flush()
    return campaign


async def viewer_campaigns(engine: AsyncEngine, actor: Actor) -> list[Any]:
    """The rows of the campaigns the actor is a member of (through the table's read policy)."""
    async with engine.connect() as connection:
        return await VIEWER_CAMPAIGNS.fetch(connection, access_params(actor))
