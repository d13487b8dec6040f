"""The audit trail's test world (registered in products/audit.py): made-up events about one
viewer's rows, with values that stress encoding, and the filter options the differential
generator may send."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from core.relay import to_global_id
from schema.audit import AuditActorKind
from tests.aurum.world import AWKWARD
from tests.factories import AUDIT_OTHER_ACTOR, audit_target, create_audit_events
from tests.worlds import FilterOption, ProductWorld


async def build(session: AsyncSession, user_id: uuid.UUID, size: int) -> Mapping[str, list[str]]:
    events = await create_audit_events(session, user_id=user_id, count=6 + 6 * size, awkward=AWKWARD)
    return {"AuditEvent": [to_global_id("AuditEvent", pk) for pk in events]}


def audit_filter_options(rng: random.Random) -> list[FilterOption]:
    kinds = rng.sample([m.name for m in AuditActorKind], rng.randint(0 if rng.random() < 0.1 else 1, 3))
    target = to_global_id(rng.choice(["Task", "Pillar", "JournalEntry"]), audit_target(rng.randrange(7)))
    actor = to_global_id("User", AUDIT_OTHER_ACTOR if rng.random() < 0.7 else uuid.uuid4())
    label = rng.choice(["password", AWKWARD, "nobody", "  "])
    model = rng.choice(["Task", "Pillar", "JournalEntry", "User", "Notification", "HrmUserPreference"])
    actions = [f"{model}.{operation}" for operation in rng.sample(["create", "update", "delete"], rng.randint(1, 2))]
    moment = rng.choice(["2026-03-02T00:00:00Z", "2026-03-04T09:30:00.123457+00:00", "2026-03-03T12:00:00+02:00"])
    return [
        ("actorKind", "[" + " ".join(kinds) + "]", kinds),
        ("actorUser", f'"{actor}"', actor),
        ("actorLabel", orjson.dumps(label).decode(), label),
        ("target", f'"{target}"', target),
        ("action", orjson.dumps(actions).decode(), actions),
        ("from", f'"{moment}"', moment),
        ("to", '"2026-03-06T00:00:00Z"', "2026-03-06T00:00:00Z"),
    ]


AUDIT_WORLD = ProductWorld(build=build, filters={"AuditEventFilterInput": audit_filter_options})
