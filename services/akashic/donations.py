"""Akashic's donations: what the donation webhooks apply, and the finance reads.

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

**Schedule A** (`schedule_a`): per FEC Form 3 line 11(a)(i), the contributions of the donors
whose cycle-to-date aggregate (the ledger's net sum for the cycle) exceeds $200 are itemized, one
row per ledger entry (a reversal as a negative amount with a memo), with the contributor's
cycle-to-date aggregate as of that entry; the others are unitemized (line 11(a)(ii)). Itemized
plus unitemized is the ledger's total for the cycle. Columns are the FEC's electronic filing
format names of a Schedule A (SA) record.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from core import access
from core.access import Authorized, granted, requires
from core.context import Actor
from core.errors import NotFound, ValidationFailed
from core.events import organization_channel, publish_after_commit
from core.pagination import Sort
from core.webhooks import VerifiedDelivery, unprocessable
from models.akashic_donations import (
    Donation,
    DonationLedgerEntry,
    DonationProvider,
    DonationStatus,
    Donor,
    LedgerEntryKind,
)
from models.organizations import Organization
from services.akashic import CAMPAIGN, DONATIONS_READ, FINANCE_REPORT

#: The live topic of the donation ticker, on the campaign's channel.
DONATIONS_TOPIC = "akashic.donations"
#: Contributions from a donor whose cycle-to-date aggregate exceeds this are itemized ($200).
ITEMIZATION_THRESHOLD_CENTS = 200_00
#: The earliest cycle the reads accept (FECA's contribution limits took effect in 1975).
FIRST_CYCLE = 1976

_donors = Donor.__table__  # type: ignore[attr-defined]
_donations = Donation.__table__  # type: ignore[attr-defined]
_ledger = DonationLedgerEntry.__table__  # type: ignore[attr-defined]
_organizations = Organization.__table__  # type: ignore[attr-defined]


def fec_cycle(at: datetime) -> int:
    """The FEC two-year cycle of a moment (by its UTC date): it ends in an even year."""
    year = at.astimezone(UTC).year
    return year + year % 2


# ------------------------------------------------------------------------------ payloads


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class DonorDetails(_Strict):
    """A contributor as FEC itemization needs them."""

    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    street: str = Field(min_length=1, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    state: str = Field(pattern=r"^[A-Z]{2}$")
    zip: str = Field(pattern=r"^\d{5}(-?\d{4})?$")
    employer: str | None = Field(None, max_length=200)
    occupation: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    @field_validator("state", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("employer", "occupation", "email", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    def match_key(self) -> str:
        if self.email:
            return f"email:{self.email.lower()}"
        return f"name:{self.last_name.lower()}|{self.first_name.lower()}|{self.zip[:5]}"


class _ActBlueAddress(_Strict):
    street: str
    city: str
    state: str
    zip: str


class _ActBlueDonor(_Strict):
    first_name: str
    last_name: str
    email: str | None = None
    address: _ActBlueAddress
    employer: str | None = None
    occupation: str | None = None


class _ActBlueDonation(_Strict):
    id: str = Field(min_length=1, max_length=255)
    amount_cents: int = Field(gt=0, le=2**31 - 1)
    received_at: datetime


class _ActBlueContribution(_Strict):
    campaign_id: uuid.UUID
    donation: _ActBlueDonation
    donor: _ActBlueDonor


class _ActBlueReversalDetails(_Strict):
    id: str | None = Field(None, max_length=255)
    amount_cents: int = Field(gt=0, le=2**31 - 1)
    at: datetime


class _ActBlueReversal(_Strict):
    campaign_id: uuid.UUID
    donation_id: str = Field(min_length=1, max_length=255)
    reversal: _ActBlueReversalDetails


@dataclass(frozen=True)
class Contribution:
    """A donation as a provider reported it, normalized."""

    campaign_id: uuid.UUID
    provider: DonationProvider
    external_id: str
    amount_cents: int
    received_at: datetime
    donor: DonorDetails


@dataclass(frozen=True)
class Reversal:
    """A refund or chargeback of a donation: `amount_cents` reversed now (positive), or with
    `cumulative` the total reversed so far of that kind (Stripe's `amount_refunded`)."""

    provider: DonationProvider
    donation_external_id: str
    kind: LedgerEntryKind
    amount_cents: int
    at: datetime
    external_id: str | None = None
    campaign_id: uuid.UUID | None = None
    cumulative: bool = False


def _invalid(error: ValidationError) -> Exception:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return unprocessable("INVALID_PAYLOAD", f"The event's payload is invalid at `{where}`: {first.get('msg')}")


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise unprocessable("INVALID_PAYLOAD", "Times must carry their UTC offset")
    return at


def actblue_event(delivery: VerifiedDelivery) -> Contribution | Reversal | None:
    """An ActBlue-style (Standard Webhooks) delivery: `donation.created`, `donation.refunded`,
    `donation.charged_back`; other types are acknowledged and ignored (None)."""
    data = delivery.payload.get("data")
    try:
        if delivery.event_type == "donation.created":
            given = _ActBlueContribution.model_validate(data)
            donor = given.donor
            details = DonorDetails(
                first_name=donor.first_name,
                last_name=donor.last_name,
                street=donor.address.street,
                city=donor.address.city,
                state=donor.address.state,
                zip=donor.address.zip,
                employer=donor.employer,
                occupation=donor.occupation,
                email=donor.email,
            )
            return Contribution(
                given.campaign_id,
                DonationProvider.ACTBLUE,
                given.donation.id,
                given.donation.amount_cents,
                _aware(given.donation.received_at),
                details,
            )
        kinds = {"donation.refunded": LedgerEntryKind.REFUND, "donation.charged_back": LedgerEntryKind.CHARGEBACK}
        kind = kinds.get(delivery.event_type)
        if kind is None:
            return None
        reversal = _ActBlueReversal.model_validate(data)
        return Reversal(
            DonationProvider.ACTBLUE,
            reversal.donation_id,
            kind,
            reversal.reversal.amount_cents,
            _aware(reversal.reversal.at),
            reversal.reversal.id,
            campaign_id=reversal.campaign_id,
        )
    except ValidationError as error:
        raise _invalid(error) from None


class _StripeAddress(_Strict):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


class _StripeBilling(_Strict):
    name: str | None = None
    email: str | None = None
    address: _StripeAddress = _StripeAddress()


class _StripeCharge(_Strict):
    id: str = Field(min_length=1, max_length=255)
    amount: int = Field(gt=0, le=2**31 - 1)
    amount_refunded: int = Field(0, ge=0, le=2**31 - 1)
    currency: str
    created: int
    billing_details: _StripeBilling = _StripeBilling()
    metadata: dict[str, str] = {}


class _StripeDispute(_Strict):
    id: str = Field(min_length=1, max_length=255)
    charge: str = Field(min_length=1, max_length=255)
    amount: int = Field(gt=0, le=2**31 - 1)
    created: int


def _stripe_time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _split_name(name: str | None, metadata: Mapping[str, str]) -> tuple[str, str]:
    if metadata.get("first_name") and metadata.get("last_name"):
        return metadata["first_name"], metadata["last_name"]
    first, _, last = (name or "").strip().rpartition(" ")
    return first, last


def stripe_event(delivery: VerifiedDelivery) -> Contribution | Reversal | None:
    """A Stripe event: `charge.succeeded`, `charge.refunded`, `charge.dispute.created`; other
    types are acknowledged and ignored (None)."""
    data = delivery.payload.get("data")
    found = data.get("object") if isinstance(data, dict) else None
    try:
        if delivery.event_type in {"charge.succeeded", "charge.refunded"}:
            charge = _StripeCharge.model_validate(found)
            if charge.currency.lower() != "usd":
                raise unprocessable("UNSUPPORTED_CURRENCY", "Donations are taken in US dollars only")
            try:
                campaign = uuid.UUID(charge.metadata.get("campaign_id", ""))
            except ValueError:
                raise unprocessable(
                    "UNKNOWN_CAMPAIGN", "The charge's `metadata.campaign_id` must be a campaign's id"
                ) from None
            if delivery.event_type == "charge.refunded":
                # A charge carries no refund time: the event's is when it was refunded.
                created = delivery.payload.get("created")
                return Reversal(
                    DonationProvider.STRIPE,
                    charge.id,
                    LedgerEntryKind.REFUND,
                    charge.amount_refunded,
                    _stripe_time(created if isinstance(created, int) else charge.created),
                    campaign_id=campaign,
                    cumulative=True,
                )
            billing, metadata = charge.billing_details, charge.metadata
            first, last = _split_name(billing.name, metadata)
            details = DonorDetails(
                first_name=first,
                last_name=last,
                street=" ".join(part for part in (billing.address.line1, billing.address.line2) if part),
                city=billing.address.city or "",
                state=billing.address.state or "",
                zip=billing.address.postal_code or "",
                employer=metadata.get("employer"),
                occupation=metadata.get("occupation"),
                email=billing.email,
            )
            return Contribution(
                campaign, DonationProvider.STRIPE, charge.id, charge.amount, _stripe_time(charge.created), details
            )
        if delivery.event_type == "charge.dispute.created":
            dispute = _StripeDispute.model_validate(found)
            return Reversal(
                DonationProvider.STRIPE,
                dispute.charge,
                LedgerEntryKind.CHARGEBACK,
                dispute.amount,
                _stripe_time(dispute.created),
                dispute.id,
            )
        return None
    except ValidationError as error:
        raise _invalid(error) from None


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


# ------------------------------------------------------------------------------ reads


def _sorts(**columns: tuple[Any, type]) -> dict[str, Sort]:
    """Ascending and descending orders by each named column (`RECEIVED_AT` -> RECEIVED_AT_ASC...)."""
    return {
        name + suffix: Sort(name.lower() + suffix, expression, value_type, descending)
        for descending, suffix in ((False, "_ASC"), (True, "_DESC"))
        for name, (expression, value_type) in columns.items()
    }


#: The orders of a donor's donations.
DONATION_SORTS = _sorts(RECEIVED_AT=(_donations.c.received_at, datetime))
#: The orders of a donation's ledger entries.
LEDGER_SORTS = _sorts(OCCURRED_AT=(_ledger.c.occurred_at, datetime))


def check_cycle(cycle: int) -> int:
    if cycle % 2 or not FIRST_CYCLE <= cycle <= 9998:
        raise ValidationFailed(f"`cycle` is an FEC two-year cycle: an even year from {FIRST_CYCLE} on", field=["cycle"])
    return cycle


def _campaign_only(authorized: Authorized) -> None:
    if authorized.kind.name != CAMPAIGN.name:
        raise NotFound("No campaign with this `campaignId`", field=["campaignId"])


@requires(DONATIONS_READ, organization="campaign_id", field="campaignId", noun="campaign")
async def may_read_donations(
    session: AsyncSession, *, actor: Actor, campaign_id: uuid.UUID, authorized: Authorized | None = None
) -> None:
    """Whether the actor may read the campaign's donations (the donation ticker's check)."""
    _campaign_only(granted(authorized))


@dataclass(frozen=True)
class DonorAggregate:
    donor: Any
    cycle: int
    total_cents: int
    contributed_cents: int
    reversed_cents: int
    contributions: int

    @property
    def itemized(self) -> bool:
        return self.total_cents > ITEMIZATION_THRESHOLD_CENTS


@dataclass(frozen=True)
class DonationTotals:
    cycle: int
    contributed_cents: int
    reversed_cents: int
    total_cents: int
    contributions: int
    donors: int


def _readable_ledger(actor: Actor, campaign_id: uuid.UUID, cycle: int) -> sa.ColumnElement[bool]:
    return sa.and_(_ledger.c.organization_id == campaign_id, _ledger.c.cycle == cycle, access.readable(_ledger, actor))


_CONTRIBUTED = sa.func.coalesce(sa.func.sum(_ledger.c.amount_cents).filter(_ledger.c.amount_cents > 0), 0)
_REVERSED = sa.func.coalesce(-sa.func.sum(_ledger.c.amount_cents).filter(_ledger.c.amount_cents < 0), 0)
_CONTRIBUTIONS = sa.func.count().filter(_ledger.c.kind == LedgerEntryKind.CONTRIBUTION.value)


@requires(DONATIONS_READ, organization="campaign_id", field="campaignId", noun="campaign")
async def donor_aggregates(
    session: AsyncSession,
    *,
    actor: Actor,
    campaign_id: uuid.UUID,
    cycle: int,
    limit: int,
    authorized: Authorized | None = None,
) -> list[DonorAggregate]:
    """The campaign's donors in `cycle` with their net aggregate, largest first."""
    _campaign_only(granted(authorized))
    check_cycle(cycle)
    total = sa.func.sum(_ledger.c.amount_cents)
    statement = (
        sa.select(_ledger.c.donor_id, total.label("total"), _CONTRIBUTED, _REVERSED, _CONTRIBUTIONS)
        .where(_readable_ledger(actor, campaign_id, cycle))
        .group_by(_ledger.c.donor_id)
        .order_by(total.desc(), _ledger.c.donor_id)
        .limit(limit)
    )
    sums = (await session.execute(statement)).all()
    ids = [row[0] for row in sums]
    donors = {
        row.id: row
        for row in (
            await session.execute(sa.select(_donors).where(_donors.c.id.in_(ids), access.readable(_donors, actor)))
        ).all()
    }
    return [
        DonorAggregate(donors[donor_id], cycle, int(t), int(c), int(r), int(n))
        for donor_id, t, c, r, n in sums
        if donor_id in donors
    ]


@requires(DONATIONS_READ, organization="campaign_id", field="campaignId", noun="campaign")
async def donation_totals(
    session: AsyncSession, *, actor: Actor, campaign_id: uuid.UUID, cycle: int, authorized: Authorized | None = None
) -> DonationTotals:
    """The campaign's totals in `cycle`, summed from the ledger."""
    _campaign_only(granted(authorized))
    check_cycle(cycle)
    row = (
        await session.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(_ledger.c.amount_cents), 0),
                _CONTRIBUTED,
                _REVERSED,
                _CONTRIBUTIONS,
                sa.func.count(sa.distinct(_ledger.c.donor_id)),
            ).where(_readable_ledger(actor, campaign_id, cycle))
        )
    ).one()
    total, contributed, reversed_, contributions, donors = (int(value) for value in row)
    return DonationTotals(cycle, contributed, reversed_, total, contributions, donors)


#: The fields of a Schedule A (SA) record of the FEC's electronic filing format (.fec v8), in their
#: order: the donor-committee, donor-candidate and conduit fields stay empty for an individual.
SCHEDULE_A_COLUMNS = (
    "FORM TYPE",
    "FILER COMMITTEE ID NUMBER",
    "TRANSACTION ID",
    "BACK REFERENCE TRAN ID NUMBER",
    "BACK REFERENCE SCHED NAME",
    "ENTITY TYPE",
    "CONTRIBUTOR ORGANIZATION NAME",
    "CONTRIBUTOR LAST NAME",
    "CONTRIBUTOR FIRST NAME",
    "CONTRIBUTOR MIDDLE NAME",
    "CONTRIBUTOR PREFIX",
    "CONTRIBUTOR SUFFIX",
    "CONTRIBUTOR STREET 1",
    "CONTRIBUTOR STREET 2",
    "CONTRIBUTOR CITY",
    "CONTRIBUTOR STATE",
    "CONTRIBUTOR ZIP",
    "ELECTION CODE",
    "ELECTION OTHER DESCRIPTION",
    "CONTRIBUTION DATE",
    "CONTRIBUTION AMOUNT",
    "CONTRIBUTION AGGREGATE",
    "CONTRIBUTION PURPOSE DESCRIP",
    "CONTRIBUTOR EMPLOYER",
    "CONTRIBUTOR OCCUPATION",
    "DONOR COMMITTEE FEC ID",
    "DONOR COMMITTEE NAME",
    "DONOR CANDIDATE FEC ID",
    "DONOR CANDIDATE LAST NAME",
    "DONOR CANDIDATE FIRST NAME",
    "DONOR CANDIDATE MIDDLE NAME",
    "DONOR CANDIDATE PREFIX",
    "DONOR CANDIDATE SUFFIX",
    "DONOR CANDIDATE OFFICE",
    "DONOR CANDIDATE STATE",
    "DONOR CANDIDATE DISTRICT",
    "CONDUIT NAME",
    "CONDUIT STREET1",
    "CONDUIT STREET2",
    "CONDUIT CITY",
    "CONDUIT STATE",
    "CONDUIT ZIP",
    "MEMO CODE",
    "MEMO TEXT/DESCRIPTION",
    "REFERENCE CODE",
)
#: Form 3, line 11(a)(i): itemized contributions from individuals.
ITEMIZED_FORM_TYPE = "SA11AI"
_MEMOS = {
    LedgerEntryKind.REFUND.value: "Refund of contribution",
    LedgerEntryKind.CHARGEBACK.value: "Chargeback of contribution",
}


@dataclass(frozen=True)
class ScheduleA:
    cycle: int
    csv: str
    rows: int
    itemized_donors: int
    itemized_cents: int
    unitemized_cents: int
    #: The ledger's total for the cycle, summed on its own: itemized + unitemized equal it.
    ledger_total_cents: int


def _dollars(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _schedule_a_row(entry: Any, aggregate: int) -> list[str]:
    memo = _MEMOS.get(entry.kind, "")
    values = {
        "FORM TYPE": ITEMIZED_FORM_TYPE,
        "TRANSACTION ID": str(entry.id),
        "ENTITY TYPE": "IND",
        "CONTRIBUTOR LAST NAME": entry.last_name,
        "CONTRIBUTOR FIRST NAME": entry.first_name,
        "CONTRIBUTOR STREET 1": entry.street,
        "CONTRIBUTOR CITY": entry.city,
        "CONTRIBUTOR STATE": entry.state,
        "CONTRIBUTOR ZIP": entry.zip.replace("-", ""),
        "ELECTION CODE": "",
        "CONTRIBUTION DATE": entry.occurred_at.astimezone(UTC).strftime("%Y%m%d"),
        "CONTRIBUTION AMOUNT": _dollars(entry.amount_cents),
        "CONTRIBUTION AGGREGATE": _dollars(aggregate),
        "CONTRIBUTOR EMPLOYER": entry.employer or "",
        "CONTRIBUTOR OCCUPATION": entry.occupation or "",
        "MEMO TEXT/DESCRIPTION": memo,
    }
    return [values.get(column, "") for column in SCHEDULE_A_COLUMNS]


@requires(FINANCE_REPORT, organization="campaign_id", field="campaignId", noun="campaign")
async def schedule_a(
    session: AsyncSession, *, actor: Actor, campaign_id: uuid.UUID, cycle: int, authorized: Authorized | None = None
) -> ScheduleA:
    """The FEC Schedule A of the campaign's `cycle` as CSV, with its reconciled totals."""
    _campaign_only(granted(authorized))
    check_cycle(cycle)
    condition = sa.and_(
        _ledger.c.organization_id == campaign_id, _ledger.c.cycle == cycle, access.readable(_ledger, actor)
    )
    entries: Sequence[Any] = (
        await session.execute(
            sa.select(
                _ledger.c.id,
                _ledger.c.donor_id,
                _ledger.c.kind,
                _ledger.c.amount_cents,
                _ledger.c.occurred_at,
                _donors.c.first_name,
                _donors.c.last_name,
                _donors.c.street,
                _donors.c.city,
                _donors.c.state,
                _donors.c.zip,
                _donors.c.employer,
                _donors.c.occupation,
            )
            .select_from(_ledger)
            .join(_donors, sa.and_(_donors.c.id == _ledger.c.donor_id, access.readable(_donors, actor)))
            .where(condition)
            .order_by(_ledger.c.occurred_at, _ledger.c.id)
        )
    ).all()
    ledger_total = int(
        (
            await session.execute(sa.select(sa.func.coalesce(sa.func.sum(_ledger.c.amount_cents), 0)).where(condition))
        ).scalar_one()
    )
    totals: dict[uuid.UUID, int] = {}
    for entry in entries:
        totals[entry.donor_id] = totals.get(entry.donor_id, 0) + entry.amount_cents
    itemized = {donor for donor, total in totals.items() if total > ITEMIZATION_THRESHOLD_CENTS}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SCHEDULE_A_COLUMNS)
    running: dict[uuid.UUID, int] = {}
    rows = 0
    for entry in entries:
        running[entry.donor_id] = running.get(entry.donor_id, 0) + entry.amount_cents
        if entry.donor_id in itemized:
            writer.writerow(_schedule_a_row(entry, running[entry.donor_id]))
            rows += 1
    itemized_cents = sum(totals[donor] for donor in itemized)
    unitemized_cents = sum(total for donor, total in totals.items() if donor not in itemized)
    return ScheduleA(cycle, out.getvalue(), rows, len(itemized), itemized_cents, unitemized_cents, ledger_total)
