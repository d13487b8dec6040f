"""Akashic's donations: what the donation webhooks apply (their payloads are read by
`donation_events`; the finance reads are `donation_reports`), and the rules both follow.

**Which campaign a delivery belongs to.** Each provider has one endpoint and one signing secret
(`AKASHIC_ACTBLUE_WEBHOOK_SECRET`, `AKASHIC_STRIPE_WEBHOOK_SECRET`); the campaign is named in the
signed payload (`data.campaign_id` for ActBlue-style deliveries, the charge's
`metadata.campaign_id` for Stripe), so it is covered by the signature, and must be an
organization of kind `campaign`, else the delivery is refused (422 `UNKNOWN_CAMPAIGN`, nothing
recorded). A reversal (refund, chargeback) belongs to the campaign of the donation it reverses,
found by the provider's id of the donation.

**The ledger.** A donation adds a `contribution` entry (+amount); a refund or a chargeback adds
a negative entry, never more than what is left of the donation; entries are never changed (a
trigger refuses it). Totals, donor aggregates and the FEC report are sums of the ledger. A
reversal counts in the cycle of the contribution it reverses.

**FEC cycles.** Two-year election cycles end in even years: a donation received (UTC date) in
2025 or 2026 belongs to the 2026 cycle.

**Schedule A** (`donation_reports.schedule_a`): per FEC Form 3 line 11(a)(i), the contributions of the donors
whose cycle-to-date aggregate (the ledger's net sum for the cycle) exceeds $200 are itemized, one
row per ledger entry (a reversal as a negative amount with a memo), with the contributor's
cycle-to-date aggregate as of that entry; the others are unitemized (line 11(a)(ii)). Itemized
plus unitemized is the ledger's total for the cycle. Columns are the FEC's electronic filing
format names of a Schedule A (SA) record.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import organization_channel, publish_after_commit
from core.webhooks import VerifiedDelivery, unprocessable
from models.akashic_donations import (
    Donation,
    DonationLedgerEntry,
    DonationStatus,
    Donor,
    LedgerEntryKind,
)
from models.organizations import Organization
from services.akashic import CAMPAIGN
from services.akashic.donation_events import Contribution, Reversal, actblue_event, stripe_event

#: The live topic of the donation ticker, on the campaign's channel.
DONATIONS_TOPIC = "akashic.donations"
#: Contributions from a donor whose cycle-to-date aggregate exceeds this are itemized ($200).
ITEMIZATION_THRESHOLD_CENTS = 200_00
#: The earliest cycle the reads accept (FECA's contribution limits took effect in 1975).
FIRST_CYCLE = 1976

_ledger = DonationLedgerEntry.__table__  # type: ignore[attr-defined]
_organizations = Organization.__table__  # type: ignore[attr-defined]


def fec_cycle(at: datetime) -> int:
    """The FEC two-year cycle of a moment (by its UTC date): it ends in an even year."""
    year = at.astimezone(UTC).year
    return year + year % 2


# ------------------------------------------------------------------------------ writes


async def _campaign_exists(session: AsyncSession, campaign_id: uuid.UUID) -> bool:
    statement = sa.select(_organizations.c.id).where(
        _organizations.c.id == campaign_id, _organizations.c.kind == CAMPAIGN.name
    )
    return (await session.execute(statement)).first() is not None


async def _lock(session: AsyncSession, name: str) -> None:
    """A lock on `name` until the transaction ends (concurrent deliveries take turns)."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"akashic.{name}", 0))))


def _publish(session: AsyncSession, entry: DonationLedgerEntry) -> None:
    publish_after_commit(
        session,
        organization_channel(entry.organization_id),
        {
            "topic": DONATIONS_TOPIC,
            "organization": str(entry.organization_id),
            "donation": str(entry.donation_id),
            "entry": str(entry.id),
            "change": entry.kind.value if isinstance(entry.kind, LedgerEntryKind) else str(entry.kind),
            "at": entry.occurred_at.isoformat(),
        },
    )


async def record_contribution(session: AsyncSession, contribution: Contribution) -> Donation:
    """A new donation: its donor (found by `match_key`, or created; their details updated to the
    latest), the donation and its contribution entry. A donation already recorded under another
    delivery id changes nothing."""
    if not await _campaign_exists(session, contribution.campaign_id):
        raise unprocessable("UNKNOWN_CAMPAIGN", "No campaign with the payload's campaign id")
    # The same donation delivered twice under two delivery ids, at once: the second waits here.
    await _lock(session, f"donation:{contribution.provider.value}:{contribution.external_id}")
    existing = (
        await session.execute(
            sa.select(Donation).where(
                Donation.provider == contribution.provider,  # type: ignore[arg-type]
                Donation.external_id == contribution.external_id,  # type: ignore[arg-type]
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    details = contribution.donor
    key = details.match_key()
    # One donor row per contributor, even when two of their donations arrive at once.
    await _lock(session, f"donor:{contribution.campaign_id}:{key}")
    donor = (
        await session.execute(
            sa.select(Donor).where(
                Donor.organization_id == contribution.campaign_id,  # type: ignore[arg-type]
                Donor.match_key == key,  # type: ignore[arg-type]
            )
        )
    ).scalar_one_or_none()
    values = details.model_dump()
    now = datetime.now(UTC)
    if donor is None:
        donor = Donor(organization_id=contribution.campaign_id, match_key=key, **values)
        session.add(donor)
    else:
        for name, value in values.items():
            if value is not None and getattr(donor, name) != value:
                setattr(donor, name, value)
        if session.is_modified(donor):
            donor.updated_at = now
    await session.flush()
    cycle = fec_cycle(contribution.received_at)
    donation = Donation(
        organization_id=contribution.campaign_id,
        donor_id=donor.id,
        provider=contribution.provider,
        external_id=contribution.external_id,
        amount_cents=contribution.amount_cents,
        received_at=contribution.received_at,
        cycle=cycle,
    )
    session.add(donation)
    await session.flush()
    entry = DonationLedgerEntry(
        organization_id=donation.organization_id,
        donation_id=donation.id,
        donor_id=donor.id,
        kind=LedgerEntryKind.CONTRIBUTION,
        amount_cents=donation.amount_cents,
        occurred_at=donation.received_at,
        cycle=cycle,
        external_id=donation.external_id,
    )
    session.add(entry)
    await session.flush()
    _publish(session, entry)
    return donation


async def record_reversal(session: AsyncSession, reversal: Reversal) -> DonationLedgerEntry | None:
    """A refund or chargeback: a negative entry for what it reverses, at most what is left of the
    donation (None when nothing is left to reverse); the donation's status follows."""
    donation = (
        await session.execute(
            sa.select(Donation)
            .where(
                Donation.provider == reversal.provider,  # type: ignore[arg-type]
                Donation.external_id == reversal.donation_external_id,  # type: ignore[arg-type]
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if donation is None and reversal.campaign_id is None:
        return None  # a Stripe dispute of a charge that was no donation (the account's other charges)
    if donation is None or (reversal.campaign_id is not None and donation.organization_id != reversal.campaign_id):
        # Perhaps its donation's delivery is still to come: refused, so that the sender retries.
        raise unprocessable("UNKNOWN_DONATION", "No donation of this campaign has the reversed donation's id")
    sums = await session.execute(
        sa.select(_ledger.c.kind, sa.func.coalesce(sa.func.sum(-_ledger.c.amount_cents), 0))
        .where(_ledger.c.donation_id == donation.id, _ledger.c.kind != LedgerEntryKind.CONTRIBUTION.value)
        .group_by(_ledger.c.kind)
    )
    reversed_by_kind: dict[str, int] = {str(kind): int(amount) for kind, amount in sums.all()}
    reversed_total = sum(reversed_by_kind.values())
    wanted = reversal.amount_cents
    if reversal.cumulative:
        wanted -= reversed_by_kind.get(reversal.kind.value, 0)
    amount = min(wanted, donation.amount_cents - reversed_total)
    if amount <= 0:
        return None
    entry = DonationLedgerEntry(
        organization_id=donation.organization_id,
        donation_id=donation.id,
        donor_id=donation.donor_id,
        kind=reversal.kind,
        amount_cents=-amount,
        occurred_at=reversal.at,
        cycle=donation.cycle,
        external_id=reversal.external_id,
    )
    session.add(entry)
    left = donation.amount_cents - reversed_total - amount
    if reversal.kind is LedgerEntryKind.CHARGEBACK:
        donation.status = DonationStatus.CHARGED_BACK
    elif donation.status != DonationStatus.CHARGED_BACK:
        donation.status = DonationStatus.REFUNDED if left == 0 else DonationStatus.PARTIALLY_REFUNDED
    await session.flush()
    _publish(session, entry)
    return entry


async def apply(session: AsyncSession, event: Contribution | Reversal | None) -> None:
    if isinstance(event, Contribution):
        await record_contribution(session, event)
    elif isinstance(event, Reversal):
        await record_reversal(session, event)


async def handle_actblue(session: AsyncSession, delivery: VerifiedDelivery) -> None:
    """The handler of `POST /webhooks/akashic/actblue`."""
    await apply(session, actblue_event(delivery))


async def handle_stripe(session: AsyncSession, delivery: VerifiedDelivery) -> None:
    """The handler of `POST /webhooks/akashic/stripe`."""
    await apply(session, stripe_event(delivery))
