"""Akashic's finance reads, sums of the donation ledger: totals and donor aggregates per FEC cycle
(`donations.read`) and the FEC Schedule A (`finance.report`); see `services.akashic.donations`
for the rules. Each is guarded by its permission (`core.access.requires`) and reads its rows
through their read policy."""

from __future__ import annotations

import csv
import functools
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from core import access
from core.access import Authorized, granted, requires
from core.context import Actor
from core.errors import NotFound, ValidationFailed
from core.pagination import Sort
from core.reads import Shape
from models.akashic import Campaign
from models.akashic_donations import (
    Donation,
    DonationLedgerEntry,
    Donor,
    LedgerEntryKind,
)
from models.organizations import Membership
from services.akashic import CAMPAIGN, DONATIONS_READ, FINANCE_REPORT
from services.akashic.donations import FIRST_CYCLE, ITEMIZATION_THRESHOLD_CENTS

_donors = Donor.__table__  # type: ignore[attr-defined]
_campaigns = Campaign.__table__  # type: ignore[attr-defined]
_donations = Donation.__table__  # type: ignore[attr-defined]
_ledger = DonationLedgerEntry.__table__  # type: ignore[attr-defined]


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


def ledger_sums(ledger: Any) -> dict[str, sa.ColumnElement[Any]]:
    """The totals of a set of ledger entries (`ledger`: the table or an alias of it), as
    aggregates, by `DonationTotals` field: what `donation_totals` and `cycle_totals` return and
    what the campaign dashboard's one statement computes (`schema.akashic.types`)."""
    amount = ledger.c.amount_cents
    return {
        "total_cents": sa.cast(sa.func.coalesce(sa.func.sum(amount), 0), sa.BigInteger),
        "contributed_cents": sa.cast(sa.func.coalesce(sa.func.sum(amount).filter(amount > 0), 0), sa.BigInteger),
        "reversed_cents": sa.cast(sa.func.coalesce(-sa.func.sum(amount).filter(amount < 0), 0), sa.BigInteger),
        "contributions": sa.func.count().filter(ledger.c.kind == LedgerEntryKind.CONTRIBUTION.value),
        "donors": sa.func.count(sa.distinct(ledger.c.donor_id)),
    }


_SUMS = ledger_sums(_ledger)
_CONTRIBUTED, _REVERSED, _CONTRIBUTIONS = _SUMS["contributed_cents"], _SUMS["reversed_cents"], _SUMS["contributions"]


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
    row = (await session.execute(sa.select(*_SUMS.values()).where(_readable_ledger(actor, campaign_id, cycle)))).one()
    return DonationTotals(cycle, **{name: int(value) for name, value in zip(_SUMS, row, strict=True)})


@requires(DONATIONS_READ, organization="campaign_id", field="campaignId", noun="campaign")
async def cycle_totals(
    session: AsyncSession, *, actor: Actor, campaign_id: uuid.UUID, authorized: Authorized | None = None
) -> list[DonationTotals]:
    """The campaign's totals in every cycle it has ledger entries in, the latest cycle first."""
    _campaign_only(granted(authorized))
    statement = (
        sa.select(_ledger.c.cycle, *_SUMS.values())
        .where(_ledger.c.organization_id == campaign_id, access.readable(_ledger, actor))
        .group_by(_ledger.c.cycle)
        .order_by(_ledger.c.cycle.desc())
    )
    return [
        DonationTotals(cycle, **{name: int(value) for name, value in zip(_SUMS, values, strict=True)})
        for cycle, *values in (await session.execute(statement)).all()
    ]


@functools.cache
def cycle_totals_by_campaign() -> Shape:
    """The totals per cycle of the campaigns `ids` whose donations the actor of a run reads (a
    row with a NULL cycle for such a campaign without donations; none for another campaign):
    `Campaign.donationTotals` on the resolvers, one statement per batch of campaigns
    (loaders/akashic.py), as its SQL form computes it (schema/akashic/types.py). Built on first
    use: the roles that hold the permission are known once the organization kinds are registered."""
    campaigns = Campaign.__table__  # type: ignore[attr-defined]
    memberships = Membership.__table__  # type: ignore[attr-defined]
    per_cycle = (
        sa.select(_ledger.c.cycle.label("cycle"), *(value.label(name) for name, value in _SUMS.items()))
        .where(_ledger.c.organization_id == campaigns.c.id, access.readable(_ledger))
        .group_by(_ledger.c.cycle)
        .correlate(campaigns)
        .lateral("t")
    )
    return Shape(
        sa.select(campaigns.c.id.label("campaign"), *per_cycle.c)
        .select_from(campaigns.outerjoin(per_cycle, sa.true()))
        .where(
            campaigns.c.id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.Uuid()))),
            access.holds(campaigns, memberships, DONATIONS_READ, column="id"),
        )
        .order_by(campaigns.c.id, per_cycle.c.cycle.desc())
    )


def group_cycle_totals(rows: Sequence[Any], ids: Sequence[uuid.UUID]) -> list[list[DonationTotals] | None]:
    """`cycle_totals_by_campaign()`'s rows as each campaign's totals, latest cycle first, in `ids`'
    order; None for a campaign whose donations the actor does not read."""
    found: dict[uuid.UUID, list[DonationTotals]] = {}
    for row in rows:
        totals = found.setdefault(row.campaign, [])
        if row.cycle is not None:
            totals.append(DonationTotals(row.cycle, **{name: int(getattr(row, name)) for name in _SUMS}))
    return [found.get(pk) for pk in ids]


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
    #: The campaign's FEC committee id, each row's filer id (None, and the column empty, until set).
    filer_committee_id: str | None = None


def _dollars(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _schedule_a_row(entry: Any, aggregate: int, filer: str | None) -> list[str]:
    memo = _MEMOS.get(entry.kind, "")
    values = {
        "FORM TYPE": ITEMIZED_FORM_TYPE,
        "FILER COMMITTEE ID NUMBER": filer or "",
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
    filer = (
        await session.execute(sa.select(_campaigns.c.fec_committee_id).where(_campaigns.c.id == campaign_id))
    ).scalar_one_or_none()
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
            writer.writerow(_schedule_a_row(entry, running[entry.donor_id], filer))
            rows += 1
    itemized_cents = sum(totals[donor] for donor in itemized)
    unitemized_cents = sum(total for donor, total in totals.items() if donor not in itemized)
    return ScheduleA(cycle, out.getvalue(), rows, len(itemized), itemized_cents, unitemized_cents, ledger_total, filer)
