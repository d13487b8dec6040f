"""Akashic's loaders beyond the kit's (loaders/kit.py reads rows and pages of every declared
type): the donation totals per cycle of campaigns, one statement per batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from core.access import access_params
from core.context import Actor
from loaders.base import SharedLoader
from services.akashic import donation_reports
from services.akashic.donation_reports import DonationTotals


class AkashicLoaders:
    def __init__(self, engine: AsyncEngine, actor: Actor) -> None:
        self.engine = engine
        self.actor = actor

    @cached_property
    def donation_totals(self) -> DataLoader[uuid.UUID, list[DonationTotals] | None]:
        """A campaign's totals per cycle, None unless the actor's role there holds `donations.read`."""
        engine, params = self.engine, access_params(self.actor)
        shape = donation_reports.cycle_totals_by_campaign()

        async def load(ids: Sequence[uuid.UUID]) -> list[list[DonationTotals] | None]:
            async with engine.connect() as conn:
                rows = await shape.fetch(conn, {**params, "ids": list(ids)})
            return donation_reports.group_cycle_totals(rows, ids)

        return SharedLoader(load_fn=load)
