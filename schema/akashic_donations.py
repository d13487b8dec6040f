"""Akashic's donations in the graph: donors, donations and ledger entries (kit node types, read
through their tables' policy: the campaign's members whose role holds `donations.read`), the
finance reads (donor aggregates, totals, the FEC Schedule A) and the donation ticker's messages."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from core.sqljson import python_only_type
from models import akashic_donations as m
from schema import kit
from schema.common import BigInt, Connection, Node, order_enum
from schema.live import LiveUpdatesStatus
from schema.organizations import Organization
from services.akashic import donation_reports as svc


@strawberry.enum(description="Who took a donation.")
class DonationProvider(Enum):
    ACTBLUE = strawberry.enum_value(m.DonationProvider.ACTBLUE.value, description="ActBlue (Standard Webhooks).")
    STRIPE = strawberry.enum_value(m.DonationProvider.STRIPE.value, description="Stripe.")


@strawberry.enum(description="Where a donation stands.")
class DonationStatus(Enum):
    RECEIVED = strawberry.enum_value(m.DonationStatus.RECEIVED.value, description="Received in full.")
    PARTIALLY_REFUNDED = strawberry.enum_value(
        m.DonationStatus.PARTIALLY_REFUNDED.value, description="Part of it was refunded."
    )
    REFUNDED = strawberry.enum_value(m.DonationStatus.REFUNDED.value, description="Refunded in full.")
    CHARGED_BACK = strawberry.enum_value(
        m.DonationStatus.CHARGED_BACK.value, description="The donor's bank reversed it (a dispute)."
    )


@strawberry.enum(description="What a ledger entry records.")
class DonationLedgerEntryKind(Enum):
    CONTRIBUTION = strawberry.enum_value(
        m.LedgerEntryKind.CONTRIBUTION.value, description="Money received (a positive amount)."
    )
    REFUND = strawberry.enum_value(m.LedgerEntryKind.REFUND.value, description="Money returned (negative).")
    CHARGEBACK = strawberry.enum_value(
        m.LedgerEntryKind.CHARGEBACK.value, description="Money taken back by the donor's bank (negative)."
    )


DonationOrderBy = order_enum("DonationOrderBy", svc.DONATION_SORTS, "donations")
DonationLedgerEntryOrderBy = order_enum("DonationLedgerEntryOrderBy", svc.LEDGER_SORTS, "ledger entries")


@kit.node(
    model=m.Donor,
    key="Donor",
    description="A campaign's contributor, with what FEC itemization needs; read by the campaign's members "
    "whose role holds `donations.read`.",
)
class Donor(Node, kit.FromRow):
    first_name: str = kit.column(description="First name.")
    last_name: str = kit.column(description="Last name.")
    street: str = kit.column(description="Street address.")
    city: str = kit.column(description="City.")
    state: str = kit.column(description="State (two-letter USPS code).")
    zip: str = kit.column(description="ZIP code (5 or 9 digits).")
    employer: str | None = kit.column(description="Employer, as the donor gave it.")
    occupation: str | None = kit.column(description="Occupation, as the donor gave it.")
    email: str | None = kit.column(description="Email address, if given.")
    created_at: datetime = kit.column(description="When their first donation was recorded.")
    campaign: Organization = kit.parent("organization_id", description="The campaign they gave to.")
    donations: Connection[Donation] = kit.children(
        "donor_id", order=DonationOrderBy.RECEIVED_AT_DESC, description="Their donations, newest first."
    )


@kit.node(
    model=m.Donation,
    key="Donation",
    description="A donation a provider reported; read by the campaign's members whose role holds `donations.read`.",
)
class Donation(Node, kit.FromRow):
    amount_cents: int = kit.column(description="The amount given, in cents (US dollars).")
    received_at: datetime = kit.column(description="When the provider received it.")
    cycle: int = kit.column(description="Its FEC two-year election cycle (the even year it ends in).")
    provider: DonationProvider = kit.column(description="Who took it.")
    external_id: str = kit.column(description="The provider's id of it.")
    status: DonationStatus = kit.column(description="Where it stands (refunds and chargebacks).")
    donor: Donor = kit.parent("donor_id", description="Who gave it.")
    campaign: Organization = kit.parent("organization_id", description="The campaign it was given to.")
    ledger: Connection[DonationLedgerEntry] = kit.children(
        "donation_id",
        order=DonationLedgerEntryOrderBy.OCCURRED_AT_ASC,
        description="Its ledger entries: the contribution, then any reversals.",
    )


@kit.node(
    model=m.DonationLedgerEntry,
    key="DonationLedgerEntry",
    description="One append-only entry of a campaign's donation ledger; every total is a sum of them.",
)
class DonationLedgerEntry(Node, kit.FromRow):
    kind: DonationLedgerEntryKind = kit.column(description="What it records.")
    amount_cents: int = kit.column(description="Signed amount in cents: positive in, negative out.")
    occurred_at: datetime = kit.column(description="When it happened.")
    cycle: int = kit.column(description="The FEC cycle it counts in (its donation's).")
    external_id: str | None = kit.column(description="The provider's id of it (a refund's, a dispute's), if any.")
    donation: Donation = kit.parent("donation_id", description="The donation it belongs to.")


@python_only_type(why="Sums over the ledger grouped by donor (services.akashic.donations.donor_aggregates).")
@strawberry.type(description="A donor's aggregate in one FEC cycle, summed from the ledger.")
class DonorAggregate:
    donor: Donor = strawberry.field(description="The donor.")
    cycle: int = strawberry.field(description="The FEC cycle.")
    total_cents: BigInt = strawberry.field(description="Net cycle-to-date aggregate: contributions less reversals.")
    contributed_cents: BigInt = strawberry.field(description="Contributions received.")
    reversed_cents: BigInt = strawberry.field(description="Refunded or charged back (a positive number).")
    contributions: int = strawberry.field(description="How many contributions.")
    itemized: bool = strawberry.field(description="Whether the aggregate exceeds $200: Schedule A itemizes them.")


@python_only_type(
    why="Sums over the ledger (services.akashic.donation_reports); `Campaign.donationTotals` builds it in SQL whole."
)
@strawberry.type(description="A campaign's donation totals in one FEC cycle, summed from the ledger.")
class DonationTotals:
    cycle: int = strawberry.field(description="The FEC cycle.")
    total_cents: BigInt = strawberry.field(description="Net: contributions less reversals.")
    contributed_cents: BigInt = strawberry.field(description="Contributions received.")
    reversed_cents: BigInt = strawberry.field(description="Refunded or charged back (a positive number).")
    contributions: int = strawberry.field(description="How many contributions.")
    donors: int = strawberry.field(description="How many donors gave or were refunded in the cycle.")

    @classmethod
    def of(cls, totals: svc.DonationTotals) -> DonationTotals:
        return cls(
            cycle=totals.cycle,
            total_cents=BigInt(totals.total_cents),
            contributed_cents=BigInt(totals.contributed_cents),
            reversed_cents=BigInt(totals.reversed_cents),
            contributions=totals.contributions,
            donors=totals.donors,
        )


@python_only_type(why="A CSV made by services.akashic.donations.schedule_a.")
@strawberry.type(
    description="The FEC Schedule A (Form 3, line 11(a)(i)) of a campaign's cycle: the contributions of donors "
    "whose cycle-to-date aggregate exceeds $200, as CSV with the FEC's column names, and the totals that "
    "reconcile it with the ledger."
)
class FecScheduleA:
    cycle: int = strawberry.field(description="The FEC cycle.")
    csv: str = strawberry.field(
        description="The itemized rows as CSV (RFC 4180, a header row of the FEC's Schedule A field names); a "
        "reversal is a negative amount with a memo; `CONTRIBUTION AGGREGATE` is the cycle-to-date aggregate."
    )
    rows: int = strawberry.field(description="How many itemized rows the CSV holds.")
    itemized_donors: int = strawberry.field(description="How many donors are itemized.")
    itemized_cents: BigInt = strawberry.field(description="Net of the itemized donors' entries (line 11(a)(i)).")
    unitemized_cents: BigInt = strawberry.field(description="Net of the other donors' entries (line 11(a)(ii)).")
    ledger_total_cents: BigInt = strawberry.field(
        description="The ledger's total for the cycle, summed on its own: equals itemized plus unitemized."
    )
    filer_committee_id: str | None = strawberry.field(
        default=None,
        description="The campaign's FEC committee id, written as each row's `FILER COMMITTEE ID NUMBER`; null (and "
        "the column empty) until the campaign's `fecCommitteeId` is set with `updateCampaign`.",
    )


@strawberry.enum(description="What happened to a campaign's donations.")
class DonationTickKind(Enum):
    CONTRIBUTION = strawberry.enum_value(m.LedgerEntryKind.CONTRIBUTION.value, description="A donation arrived.")
    REFUND = strawberry.enum_value(m.LedgerEntryKind.REFUND.value, description="A donation was (partly) refunded.")
    CHARGEBACK = strawberry.enum_value(m.LedgerEntryKind.CHARGEBACK.value, description="A donation was charged back.")


@python_only_type(why="A live event, read per subscriber through the loaders.")
@strawberry.type(description="A message of the donation ticker: a ledger entry just committed.")
class DonationTick:
    change: DonationTickKind = strawberry.field(description="What happened.")
    entry: DonationLedgerEntry = strawberry.field(description="The ledger entry.")
    donation: Donation = strawberry.field(description="The donation, as it is now.")
    occurred_at: datetime = strawberry.field(description="When it happened.")


DonationTickerEvent = Annotated[
    DonationTick | LiveUpdatesStatus,
    strawberry.union(
        "DonationTickerEvent", description="A message of `donationTicker`: a donation's entry, or the stream's status."
    ),
]

TYPES = (Donor, Donation, DonationLedgerEntry)
