"""Akashic's donations: donors, donations and the ledger of money in and out.

- `akashic_donors`: a campaign's contributors with what FEC itemization needs (name, address,
  employer, occupation) and an email; one row per contributor per campaign (`match_key`: the
  email, else name and ZIP), updated by each later donation.
- `akashic_donations`: one per donation a provider reported (unique by provider and its id),
  with the amount in integer cents, when it was received, its FEC cycle and where it stands.
- `akashic_donation_ledger`: append-only entries, a contribution (+) and its reversals (-,
  refunds and chargebacks); every total is a sum of it. UPDATE and direct DELETE are refused by
  a trigger (a campaign's deletion still cascades).

Each row belongs to one campaign (composite foreign keys keep a donation's donor and ledger in
its campaign) and is read by the campaign's members whose role holds `donations.read`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core import access
from models.base import created_at_field, id_field, one_of
from models.organizations import Membership
from services.akashic import DONATIONS_READ


class DonationProvider(StrEnum):
    ACTBLUE = "actblue"
    STRIPE = "stripe"


class DonationStatus(StrEnum):
    RECEIVED = "received"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CHARGED_BACK = "charged_back"


class LedgerEntryKind(StrEnum):
    CONTRIBUTION = "contribution"
    REFUND = "refund"
    CHARGEBACK = "chargeback"


def _campaign() -> uuid.UUID:
    return Field(sa_column=sa.Column(sa.Uuid, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False))


def _time() -> datetime:
    return Field(sa_type=sa.DateTime(timezone=True), nullable=False)


class Donor(SQLModel, table=True):
    __tablename__ = "akashic_donors"
    __table_args__ = (
        sa.UniqueConstraint("organization_id", "match_key"),
        # The target of the donations' and the ledger's composite keys: a donor of their campaign.
        sa.UniqueConstraint("id", "organization_id"),
    )

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID = _campaign()
    first_name: str = Field(max_length=100, nullable=False)
    last_name: str = Field(max_length=100, nullable=False)
    street: str = Field(max_length=200, nullable=False)
    city: str = Field(max_length=100, nullable=False)
    state: str = Field(max_length=2, nullable=False)
    zip: str = Field(max_length=10, nullable=False)
    employer: str | None = Field(default=None, max_length=200)
    occupation: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    #: Who the contributor is, for aggregation: the email in lower case, else name and ZIP.
    match_key: str = Field(max_length=400, nullable=False)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Donation(SQLModel, table=True):
    __tablename__ = "akashic_donations"
    __table_args__ = (
        sa.UniqueConstraint("provider", "external_id"),
        sa.UniqueConstraint("id", "organization_id"),
        sa.ForeignKeyConstraint(
            ["donor_id", "organization_id"],
            ["akashic_donors.id", "akashic_donors.organization_id"],
            ondelete="CASCADE",
        ),
        sa.Index("ix_akashic_donations_organization_received", "organization_id", "received_at"),
        sa.Index("ix_akashic_donations_donor_id", "donor_id"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint("cycle % 2 = 0", name="cycle_even"),
        one_of("provider", [p.value for p in DonationProvider], "provider"),
        one_of("status", [s.value for s in DonationStatus], "status"),
    )

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID = _campaign()
    donor_id: uuid.UUID = Field(nullable=False)
    provider: DonationProvider = Field(sa_type=sa.String(16), nullable=False)
    external_id: str = Field(max_length=255, nullable=False)
    amount_cents: int = Field(nullable=False)
    received_at: datetime = _time()
    #: The FEC two-year election cycle of `received_at` (an even year).
    cycle: int = Field(nullable=False)
    status: DonationStatus = Field(default=DonationStatus.RECEIVED, sa_type=sa.String(24), nullable=False)
    created_at: datetime = created_at_field()


class DonationLedgerEntry(SQLModel, table=True):
    __tablename__ = "akashic_donation_ledger"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["donation_id", "organization_id"],
            ["akashic_donations.id", "akashic_donations.organization_id"],
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["donor_id", "organization_id"],
            ["akashic_donors.id", "akashic_donors.organization_id"],
            ondelete="CASCADE",
        ),
        # Aggregates: a campaign's cycle, per donor; covering what its totals sum and count
        # (`ledger_sums`), which Postgres then reads from the index alone.
        sa.Index(
            "ix_akashic_donation_ledger_campaign_cycle",
            "organization_id",
            "cycle",
            "donor_id",
            postgresql_include=["amount_cents", "kind"],
        ),
        sa.Index("ix_akashic_donation_ledger_donation_id", "donation_id"),
        sa.CheckConstraint(
            "(kind = 'contribution' AND amount_cents > 0) OR (kind <> 'contribution' AND amount_cents < 0)",
            name="amount_sign",
        ),
        sa.CheckConstraint("cycle % 2 = 0", name="cycle_even"),
        one_of("kind", [k.value for k in LedgerEntryKind], "kind"),
    )

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID = _campaign()
    donation_id: uuid.UUID = Field(nullable=False)
    donor_id: uuid.UUID = Field(nullable=False)
    kind: LedgerEntryKind = Field(sa_type=sa.String(16), nullable=False)
    #: Signed: a contribution adds, a refund or chargeback takes away.
    amount_cents: int = Field(nullable=False)
    occurred_at: datetime = _time()
    #: The cycle of the donation it belongs to (a reversal counts against its contribution's).
    cycle: int = Field(nullable=False)
    #: The provider's id of a reversal (refund, dispute), if it has one.
    external_id: str | None = Field(default=None, max_length=255)
    created_at: datetime = created_at_field()


_memberships = Membership.__table__  # type: ignore[attr-defined]
DONATIONS_POLICY = access.Members(_memberships, permission=DONATIONS_READ)

access.declare(Donor, DONATIONS_POLICY)
access.declare(Donation, DONATIONS_POLICY)
access.declare(DonationLedgerEntry, DONATIONS_POLICY)
