"""The organizations' test world (registered in products/organizations.py): teams around one
viewer with members and invitations in every status, one where the viewer is a plain member
(whose invitations it may not see), and the filter options the differential generator may send."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from core.relay import to_global_id
from schema.organizations import InvitationStatus
from tests.factories import create_organizations
from tests.worlds import FilterOption, ProductWorld


async def build(session: AsyncSession, user_id: uuid.UUID, size: int) -> Mapping[str, list[str]]:
    made = await create_organizations(session, user_id=user_id, count=size)
    return {
        "Organization": [to_global_id("Organization", pk) for pk in made.organizations],
        "Membership": [to_global_id("Membership", pk) for pk in made.memberships],
        "Invitation": [to_global_id("Invitation", pk) for pk in made.invitations],
    }


def invitation_filter_options(rng: random.Random) -> list[FilterOption]:
    names = [member.name for member in InvitationStatus]
    picked = rng.sample(names, rng.randint(0 if rng.random() < 0.1 else 1, 3))
    return [("status", "[" + " ".join(picked) + "]", picked)]


ORGANIZATIONS_WORLD = ProductWorld(build=build, filters={"InvitationFilterInput": invitation_filter_options})
