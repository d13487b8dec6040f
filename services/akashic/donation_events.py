"""What the donation webhooks deliver, validated and normalized: ActBlue-style (Standard Webhooks)
and Stripe events become a `Contribution` or a `Reversal` (`services.akashic.donations` applies
them). A payload that does not validate is refused with 422 `INVALID_PAYLOAD` (nothing recorded)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.webhooks import VerifiedDelivery, unprocessable
from models.akashic_donations import (
    DonationProvider,
    LedgerEntryKind,
)


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
    types, and charges without `metadata.campaign_id` (the account's other charges), are
    acknowledged and ignored (None)."""
    data = delivery.payload.get("data")
    found = data.get("object") if isinstance(data, dict) else None
    try:
        if delivery.event_type in {"charge.succeeded", "charge.refunded"}:
            charge = _StripeCharge.model_validate(found)
            if "campaign_id" not in charge.metadata:
                return None  # a charge of the account that is no campaign's donation (another product's)
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
