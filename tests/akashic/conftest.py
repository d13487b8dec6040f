"""Akashic fixtures, named `akashic_*`: the campaigns-and-messages factory (through the API), and
campaigns (organizations of kind `campaign`) with staff made directly in the database, and
signed-in users through the public `register` mutation."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.relay import parse_global_id, to_global_id
from models.organizations import Membership, Organization
from tests.akashic.support import AkashicFactory
from tests.factories import insert_rows
from tests.support import GraphQLClient, Viewer


@dataclass(frozen=True)
class Campaign:
    pk: uuid.UUID
    id: str  # its Organization global ID


CampaignFactory = Callable[[dict[str, Viewer]], Awaitable[Campaign]]


@pytest.fixture
def akashic_campaign(session: AsyncSession) -> CampaignFactory:
    """`await akashic_campaign({"campaign_manager": viewer, ...})`: a campaign with these staff."""

    async def make(staff: dict[str, Viewer]) -> Campaign:
        pk = uuid.uuid4()
        owner = next(iter(staff.values()))
        await insert_rows(
            session,
            Organization,
            [
                {
                    "id": pk,
                    "name": "Campaign",
                    "slug": f"campaign-{pk.hex[:16]}",
                    "kind": "campaign",
                    "created_by": parse_global_id(owner.user_id, "User"),
                }
            ],
        )
        await insert_rows(
            session,
            Membership,
            [
                {
                    "id": uuid.uuid4(),
                    "organization_id": pk,
                    "user_id": parse_global_id(viewer.user_id, "User"),
                    "role": role,
                }
                for role, viewer in staff.items()
            ],
        )
        await session.commit()
        return Campaign(pk, to_global_id("Organization", pk))

    return make


@pytest.fixture
def akashic_user(gql: GraphQLClient) -> Callable[[], Awaitable[Viewer]]:
    async def make() -> Viewer:
        return await gql.sign_up()

    return make


@pytest.fixture
def akashic_factory(gql: GraphQLClient) -> AkashicFactory:
    return AkashicFactory(gql)
