"""Akashic's finance reads and the donation ticker: thin resolvers over
`services.akashic.donations`. Each read runs one guarded service call in one read-only
transaction (the permission checked there: a non-member, or an organization that is no
campaign, answers NOT_FOUND; a member whose role lacks it FORBIDDEN, naming the permission and
the roles that hold it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor
from core.errors import ClientError, DomainError, Forbidden
from core.events import Event, organization_channel
from core.sqljson import python_only_type
from resolvers.akashic_ids import campaign_pk
from resolvers.live import channel_events, require_actor, subscriber
from schema import kit
from schema.akashic_donations import (
    Donation,
    DonationLedgerEntry,
    DonationTick,
    DonationTickerEvent,
    DonationTickKind,
    DonationTotals,
    DonorAggregate,
    FecScheduleA,
)
from schema.akashic_donations import Donor as DonorType
from schema.common import BigInt, Ctx
from schema.live import LiveUpdatesStatus
from services.akashic import donation_reports as svc
from services.akashic.donations import DONATIONS_TOPIC

T = TypeVar("T")

#: The most donors `donorAggregates` answers at once.
MAX_AGGREGATES = 500

CampaignId = Annotated[
    strawberry.ID, strawberry.argument(description="The campaign (an Organization of kind campaign).")
]
Cycle = Annotated[int, strawberry.argument(description="The FEC two-year election cycle: the even year it ends in.")]


def _client_error(error: DomainError) -> ClientError:
    details: dict[str, Any] = {}
    if error.field:
        details["field"] = error.field
    if isinstance(error, Forbidden):
        details.update(permission=error.permission, roles=list(error.roles))
    return ClientError(error.message, str(error.code.value), **details)


async def _read(info: Ctx, work: Callable[[AsyncSession, Actor], Awaitable[T]]) -> T:
    """One guarded read in one transaction, its expected errors as GraphQL errors with a code."""
    actor = require_actor(info)
    async with info.context.sessions() as session, session.begin():
        try:
            return await work(session, actor)
        except DomainError as error:
            raise _client_error(error) from None


@python_only_type(why="Sums over the ledger by its service, behind a permission check.")
@strawberry.type(
    description="Akashic's finance reads; each is null with an error (NOT_FOUND, FORBIDDEN, VALIDATION...) "
    "when it can't be answered, so that it never nulls its siblings."
)
class DonationQuery:
    @strawberry.field(
        description="A campaign's donors in one FEC cycle with their aggregates, largest first (`donations.read`)."
    )
    async def donor_aggregates(
        self,
        info: Ctx,
        campaign_id: CampaignId,
        cycle: Cycle,
        first: Annotated[int, strawberry.argument(description=f"How many donors, at most {MAX_AGGREGATES}.")] = 50,
    ) -> list[DonorAggregate] | None:
        pk = campaign_pk(campaign_id)
        if not 1 <= first <= MAX_AGGREGATES:
            raise ClientError(
                f"`first` must be from 1 to {MAX_AGGREGATES}", "PAGE_SIZE_EXCEEDED", limit="first", value=MAX_AGGREGATES
            )
        found = await _read(
            info,
            lambda session, actor: svc.donor_aggregates(session, actor=actor, campaign_id=pk, cycle=cycle, limit=first),
        )
        return [
            DonorAggregate(
                donor=DonorType.from_row(a.donor),
                cycle=a.cycle,
                total_cents=BigInt(a.total_cents),
                contributed_cents=BigInt(a.contributed_cents),
                reversed_cents=BigInt(a.reversed_cents),
                contributions=a.contributions,
                itemized=a.itemized,
            )
            for a in found
        ]

    @strawberry.field(description="A campaign's donation totals in one FEC cycle (`donations.read`).")
    async def donation_totals(self, info: Ctx, campaign_id: CampaignId, cycle: Cycle) -> DonationTotals | None:
        pk = campaign_pk(campaign_id)
        t = await _read(
            info, lambda session, actor: svc.donation_totals(session, actor=actor, campaign_id=pk, cycle=cycle)
        )
        return DonationTotals.of(t)

    @strawberry.field(
        description="The FEC Schedule A of a campaign's cycle as CSV, with totals that reconcile with the ledger "
        "(`finance.report`)."
    )
    async def fec_schedule_a(self, info: Ctx, campaign_id: CampaignId, cycle: Cycle) -> FecScheduleA | None:
        pk = campaign_pk(campaign_id)
        report = await _read(
            info, lambda session, actor: svc.schedule_a(session, actor=actor, campaign_id=pk, cycle=cycle)
        )
        return FecScheduleA(
            cycle=report.cycle,
            csv=report.csv,
            rows=report.rows,
            itemized_donors=report.itemized_donors,
            itemized_cents=BigInt(report.itemized_cents),
            unitemized_cents=BigInt(report.unitemized_cents),
            ledger_total_cents=BigInt(report.ledger_total_cents),
            filer_committee_id=report.filer_committee_id,
        )


# -------------------------------------------------------------------------- subscription


def _gone() -> ClientError:
    return ClientError("No campaign with this `campaignId`", "NOT_FOUND", argument="campaignId")


async def _read_tick(info: Ctx, event: Event) -> DonationTick:
    """The event as the subscriber may see it now: an entry its loaders (its own actor, the
    donations' read policy: membership in a role that holds `donations.read`) can't read ends the
    stream, NOT_FOUND as at subscribe time."""
    loaders = info.context.loaders
    entry = await kit.rows_of(loaders, DonationLedgerEntry).load(uuid.UUID(event["entry"]))
    donation = await kit.rows_of(loaders, Donation).load(uuid.UUID(event["donation"]))
    if entry is None or donation is None:
        raise _gone()
    return DonationTick(
        change=DonationTickKind(event["change"]),
        entry=DonationLedgerEntry.from_row(entry),
        donation=Donation.from_row(donation),
        occurred_at=datetime.fromisoformat(event["at"]),
    )


async def donation_ticker(info: Ctx, campaign_id: str) -> AsyncGenerator[DonationTickerEvent, None]:
    actor = await subscriber(info)
    pk = campaign_pk(campaign_id)
    # The same check as the reads' (membership, a campaign, `donations.read`), when subscribing.
    await _read(info, lambda session, actor: svc.may_read_donations(session, actor=actor, campaign_id=pk))
    topic, organization = DONATIONS_TOPIC, str(pk)

    def accept(event: Event) -> bool:
        return event.get("topic") == topic and event.get("organization") == organization

    async for item in channel_events(info, actor, organization_channel(pk), accept):
        if isinstance(item, LiveUpdatesStatus):
            yield item
            continue
        yield await _read_tick(info, item)


@strawberry.type(description="Akashic's live donations.")
class DonationSubscription:
    @strawberry.subscription(
        description="The donation ticker of a campaign's finance dashboard: every ledger entry (a donation, a "
        "refund, a chargeback) as it is committed; the first message is a STARTED status. Only members whose "
        "role holds `donations.read` may subscribe; one who loses it (a role change, removal) gets a last "
        "NOT_FOUND error."
    )
    async def donation_ticker(self, info: Ctx, campaign_id: CampaignId) -> AsyncGenerator[DonationTickerEvent, None]:
        async for item in donation_ticker(info, campaign_id):
            yield item
