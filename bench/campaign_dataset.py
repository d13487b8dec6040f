"""The side-by-side's Akashic data: campaigns of realistic size for the `campaign_dashboard` operation.

Each campaign (an organization of kind `campaign` and its `campaigns` row) has five staff members
taken from the bench users, one per role; `MESSAGES` messages with 3 to 10 versions each (a line
of versions, the latest named by the message), an analysis summary of most latest versions (some
still running, as a busy campaign's are) and of a few older ones, and `DONATIONS` donations from
a pool of donors, each with its contribution in the ledger, a few refunded in part. Rows go in
with COPY, as bench.dataset loads the rest, from the same seeded RNG: the same data every time.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.akashic import CAMPAIGN_MANAGER, ROLES
from services.akashic.donations import fec_cycle

MESSAGES = 200
VERSIONS = (3, 10)
DONATIONS = 5_000
DONORS = 1_200
CHANNELS = ("email", "sms", "social_post", "speech", "press_release")
STATUSES = (("draft", 35), ("in_review", 20), ("approved", 15), ("sent", 30))
RISKS = (("low", 60), ("medium", 30), ("high", 10))
#: The staff whose role holds `donations.read`: the dashboard's callers.
DONATION_READERS = ("campaign_manager", "finance_director")

COLUMNS = {
    "organizations": ("id", "name", "slug", "kind", "created_by", "created_at", "updated_at"),
    "memberships": ("id", "organization_id", "user_id", "role", "joined_at"),
    "campaigns": (
        "id",
        "office",
        "jurisdiction",
        "election_date",
        "party",
        "election_cycle",
        "created_at",
        "updated_at",
    ),
    "messages": (
        "id",
        "organization_id",
        "title",
        "channel",
        "audience_segments",
        "paid",
        "status",
        "sent_at",
        "created_by",
        "created_at",
        "updated_at",
    ),
    "message_versions": (
        "id",
        "organization_id",
        "message_id",
        "number",
        "parent_version_id",
        "body",
        "summary",
        "author_id",
        "created_at",
    ),
    "message_analyses": (
        "id",
        "organization_id",
        "message_id",
        "version_id",
        "status",
        "requested_by",
        "risk_level",
        "issue_count",
        "resonance_score",
        "result",
        "model",
        "created_at",
        "completed_at",
    ),
    "akashic_donors": (
        "id",
        "organization_id",
        "first_name",
        "last_name",
        "street",
        "city",
        "state",
        "zip",
        "employer",
        "occupation",
        "email",
        "match_key",
        "created_at",
        "updated_at",
    ),
    "akashic_donations": (
        "id",
        "organization_id",
        "donor_id",
        "provider",
        "external_id",
        "amount_cents",
        "received_at",
        "cycle",
        "status",
        "created_at",
    ),
    "akashic_donation_ledger": (
        "id",
        "organization_id",
        "donation_id",
        "donor_id",
        "kind",
        "amount_cents",
        "occurred_at",
        "cycle",
        "external_id",
        "created_at",
    ),
}


@dataclass
class CampaignRows:
    tables: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {name: [] for name in COLUMNS})
    #: campaign id -> its staff by role
    staff: dict[uuid.UUID, dict[str, uuid.UUID]] = field(default_factory=dict)


def _weighted(rng: random.Random, choices: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def campaigns_for(users: int) -> int:
    """How many campaigns the bench's users staff: one per 50 users, at least one."""
    return max(1, users // 50)


def generate(rng: random.Random, users: list[uuid.UUID], now: datetime) -> CampaignRows:
    rows = CampaignRows()
    t = rows.tables
    for number in range(campaigns_for(len(users))):
        campaign = _uuid(rng)
        # Distinct users, one per role (as many roles as there are users, strongest first).
        roles = ROLES[: min(len(ROLES), len(users))]
        staff = {role: users[(number * len(ROLES) + i) % len(users)] for i, role in enumerate(roles)}
        rows.staff[campaign] = staff
        manager = staff[CAMPAIGN_MANAGER]
        started = now - timedelta(days=400)
        t["organizations"].append(
            (campaign, f"Bench campaign {number}", f"bench-campaign-{number}", "campaign", manager, started, started)
        )
        for role, user in staff.items():
            t["memberships"].append((_uuid(rng), campaign, user, role, started))
        election = now.date().replace(month=11, day=3)
        t["campaigns"].append(
            (campaign, f"State Senate, District {number + 1}", "Ohio", election, None, election.year, started, started)
        )
        authors = [user for role, user in staff.items() if role != "volunteer"]
        for m in range(MESSAGES):
            message = _uuid(rng)
            created = started + timedelta(hours=m * 40, seconds=rng.randint(0, 3599))
            status = _weighted(rng, STATUSES)
            versions = rng.randint(*VERSIONS)
            edited = created + timedelta(hours=versions)
            t["messages"].append(
                (
                    message,
                    campaign,
                    f"Message {m}: {rng.choice(('Rally', 'Deadline', 'Town hall', 'Launch', 'Thank you'))}",
                    rng.choice(CHANNELS),
                    ["Young voters", "Donors"][: rng.randint(0, 2)],
                    rng.random() < 0.3,
                    status,
                    edited if status == "sent" else None,
                    rng.choice(authors),
                    created,
                    edited,
                )
            )
            parent = None
            for v in range(1, versions + 1):
                version = _uuid(rng)
                at = created + timedelta(hours=v - 1, minutes=rng.randint(0, 59))
                body = f"Join us, draft {v} of message {m}. " * rng.randint(3, 12)
                t["message_versions"].append(
                    (version, campaign, message, v, parent, body, f"Draft {v}", rng.choice(authors), at)
                )
                latest = v == versions
                if rng.random() < (0.9 if latest else 0.15):
                    running = latest and rng.random() < 0.1
                    risk = None if running else _weighted(rng, RISKS)
                    t["message_analyses"].append(
                        (
                            _uuid(rng),
                            campaign,
                            message,
                            version,
                            "running" if running else "succeeded",
                            rng.choice(authors),
                            risk,
                            None if running else rng.randint(0, 6),
                            None if running else round(rng.random(), 3),
                            None if running else '{"findings": []}',
                            "bench",
                            at,
                            None if running else at + timedelta(seconds=rng.randint(5, 90)),
                        )
                    )
                parent = version
        donors = []
        for d in range(DONORS):
            donor = _uuid(rng)
            donors.append(donor)
            email = f"donor{d}.{number}@example.com"
            t["akashic_donors"].append(
                (
                    donor,
                    campaign,
                    f"First{d}",
                    f"Last{d}",
                    f"{d} Main St",
                    "Columbus",
                    "OH",
                    "43215",
                    "Acme" if d % 3 else None,
                    "Engineer" if d % 3 else None,
                    email,
                    f"email:{email}",
                    started,
                    started,
                )
            )
        for n in range(DONATIONS):
            donation, donor = _uuid(rng), rng.choice(donors)
            # Over two cycles: most this one, some the one before.
            received = now - timedelta(days=rng.randint(1, 900), seconds=rng.randint(0, 86_399))
            cents = rng.choice((500, 1000, 2500, 2700, 5000, 10_000, 25_000, 50_000))
            cycle = fec_cycle(received)
            refunded = n % 97 == 0
            external = f"bench-{number}-{n}"
            t["akashic_donations"].append(
                (
                    donation,
                    campaign,
                    donor,
                    "actblue" if n % 4 else "stripe",
                    external,
                    cents,
                    received,
                    cycle,
                    "partially_refunded" if refunded else "received",
                    received,
                )
            )
            t["akashic_donation_ledger"].append(
                (_uuid(rng), campaign, donation, donor, "contribution", cents, received, cycle, external, received)
            )
            if refunded:
                at = received + timedelta(hours=6)
                t["akashic_donation_ledger"].append(
                    (_uuid(rng), campaign, donation, donor, "refund", -(cents // 2), at, cycle, f"{external}-r", at)
                )
    return rows


async def load(conn: asyncpg.Connection, rng: random.Random, users: list[uuid.UUID], now: datetime) -> CampaignRows:
    """COPY the campaigns' rows, then name each message's latest version (the foreign key to it
    needs the versions first)."""
    rows = generate(rng, users, now)
    for table, columns in COLUMNS.items():
        await conn.copy_records_to_table(table, records=rows.tables[table], columns=columns)
    await conn.execute(
        """UPDATE messages m SET latest_version_id = v.id
           FROM (SELECT DISTINCT ON (message_id) id, message_id FROM message_versions
                 ORDER BY message_id, number DESC) v
           WHERE v.message_id = m.id"""
    )
    return rows


async def staff_of(conn: asyncpg.Connection) -> dict[uuid.UUID, dict[str, uuid.UUID]]:
    """Each bench campaign's staff by role, as loaded."""
    found: dict[uuid.UUID, dict[str, uuid.UUID]] = {}
    for row in await conn.fetch(
        "SELECT m.organization_id, m.role, m.user_id FROM memberships m JOIN campaigns c ON c.id = m.organization_id"
    ):
        found.setdefault(row["organization_id"], {})[row["role"]] = row["user_id"]
    return found
