"""Typed factories that bulk-insert rows for one user straight through SQLAlchemy.

They are for volume (statement budgets, pagination at scale), not for behaviour: services are
bypassed, so every row is built here with its owner, its parent and a sequential position.
Each factory runs one multi-row INSERT per table on the given session and does not commit:
commit what the test should see over HTTP.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from models.api_clients import ApiClient, ApiClientKey
from models.audit import AuditActorKind, AuditEvent
from models.aurum import (
    Area,
    JournalEntry,
    JournalTemplate,
    Pillar,
    Priority,
    Project,
    ProjectStatus,
    Resource,
    ResourceKind,
    Task,
    TaskStatus,
)
from models.identity import User
from models.notifications import Notification
from models.organizations import Invitation, Membership, Organization
from models.trusted_documents import SchemaVersion, TrustedDocument
from services.aurum import table

#: Task statuses in the order tasks receive them (cycling), so that progress is never 0 or 100%.
TASK_STATUS_CYCLE: tuple[TaskStatus, ...] = (
    TaskStatus.DONE,
    TaskStatus.TODO,
    TaskStatus.IN_PROGRESS,
    TaskStatus.DONE,
    TaskStatus.CANCELLED,
)

PRIORITY_CYCLE: tuple[Priority, ...] = (Priority.LOW, Priority.MEDIUM, Priority.HIGH, Priority.URGENT)


async def insert_rows(session: AsyncSession, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
    """One executemany INSERT of `rows` (every row must carry the same keys)."""
    if rows:
        await session.execute(sa.insert(table(model)), list(rows))


@dataclass(frozen=True)
class Progress:
    """What `progress` should report: cancelled tasks count for neither side."""

    total_tasks: int
    completed_tasks: int

    @property
    def percent(self) -> float:
        return 0.0 if self.total_tasks == 0 else round(100.0 * self.completed_tasks / self.total_tasks, 1)


@dataclass
class Tree:
    """A pillar → area → project → task hierarchy as inserted, with every row's parent."""

    user_id: uuid.UUID
    pillars: list[uuid.UUID] = field(default_factory=list)
    areas: list[uuid.UUID] = field(default_factory=list)
    projects: list[uuid.UUID] = field(default_factory=list)
    tasks: list[uuid.UUID] = field(default_factory=list)
    parent: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    task_status: dict[uuid.UUID, TaskStatus] = field(default_factory=dict)

    def children(self, parent_id: uuid.UUID, of: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        return [pk for pk in of if self.parent[pk] == parent_id]

    def tasks_under(self, node_id: uuid.UUID) -> list[uuid.UUID]:
        """Tasks beneath a pillar, area or project (or the project itself's)."""
        found: list[uuid.UUID] = []
        for task_id in self.tasks:
            ancestor: uuid.UUID | None = self.parent[task_id]
            while ancestor is not None:
                if ancestor == node_id:
                    found.append(task_id)
                    break
                ancestor = self.parent.get(ancestor)
        return found

    def progress(self, node_id: uuid.UUID) -> Progress:
        statuses = Counter(self.task_status[t] for t in self.tasks_under(node_id))
        return Progress(
            total_tasks=sum(n for status, n in statuses.items() if status is not TaskStatus.CANCELLED),
            completed_tasks=statuses[TaskStatus.DONE],
        )


async def create_tree(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    pillars: int,
    areas_per_pillar: int,
    projects_per_area: int,
    tasks_per_project: int,
    now: datetime | None = None,
) -> Tree:
    """Insert a full hierarchy for `user_id`: four INSERT statements, whatever the size.

    Task statuses cycle through `TASK_STATUS_CYCLE` (done tasks get `completed_at`); every
    other task has a due time, alternating between the past and the future.
    """
    moment = now or datetime.now(UTC)
    tree = Tree(user_id=user_id)
    pillar_rows: list[dict[str, Any]] = []
    area_rows: list[dict[str, Any]] = []
    project_rows: list[dict[str, Any]] = []
    task_rows: list[dict[str, Any]] = []
    for p in range(pillars):
        pillar_id = uuid.uuid4()
        tree.pillars.append(pillar_id)
        pillar_rows.append(
            {
                "id": pillar_id,
                "user_id": user_id,
                "name": f"Pillar {p}",
                "description": None,
                "color": None,
                "icon": None,
                "position": p,
            }
        )
        for a in range(areas_per_pillar):
            area_id = uuid.uuid4()
            tree.areas.append(area_id)
            tree.parent[area_id] = pillar_id
            area_rows.append(
                {
                    "id": area_id,
                    "user_id": user_id,
                    "pillar_id": pillar_id,
                    "name": f"Area {p}.{a}",
                    "description": None,
                    "importance": 1 + (a % 5),
                    "position": a,
                }
            )
            for j in range(projects_per_area):
                project_id = uuid.uuid4()
                tree.projects.append(project_id)
                tree.parent[project_id] = area_id
                project_rows.append(
                    {
                        "id": project_id,
                        "user_id": user_id,
                        "area_id": area_id,
                        "name": f"Project {p}.{a}.{j}",
                        "description": None,
                        "status": ProjectStatus.IN_PROGRESS.value,
                        "priority": int(PRIORITY_CYCLE[j % len(PRIORITY_CYCLE)]),
                        "due_at": moment + timedelta(days=7 + j),
                        "position": j,
                    }
                )
                for t in range(tasks_per_project):
                    task_id = uuid.uuid4()
                    index = len(tree.tasks)
                    status = TASK_STATUS_CYCLE[index % len(TASK_STATUS_CYCLE)]
                    tree.tasks.append(task_id)
                    tree.parent[task_id] = project_id
                    tree.task_status[task_id] = status
                    due_at = None if index % 2 else moment + timedelta(days=(index % 7) - 3, hours=1)
                    task_rows.append(
                        {
                            "id": task_id,
                            "user_id": user_id,
                            "project_id": project_id,
                            "title": f"Task {p}.{a}.{j}.{t}",
                            "description": None,
                            "status": status.value,
                            "priority": int(PRIORITY_CYCLE[index % len(PRIORITY_CYCLE)]),
                            "due_at": due_at,
                            "completed_at": moment if status is TaskStatus.DONE else None,
                            "position": t,
                        }
                    )
    await insert_rows(session, Pillar, pillar_rows)
    await insert_rows(session, Area, area_rows)
    await insert_rows(session, Project, project_rows)
    await insert_rows(session, Task, task_rows)
    return tree


@dataclass
class Journal:
    templates: list[uuid.UUID] = field(default_factory=list)
    entries: list[uuid.UUID] = field(default_factory=list)
    entry_template: dict[uuid.UUID, uuid.UUID | None] = field(default_factory=dict)


async def create_journal(session: AsyncSession, *, user_id: uuid.UUID, templates: int, entries: int) -> Journal:
    """Templates, and entries that use them in turn (every third entry uses none)."""
    journal = Journal()
    template_rows: list[dict[str, Any]] = []
    entry_rows: list[dict[str, Any]] = []
    for i in range(templates):
        template_id = uuid.uuid4()
        journal.templates.append(template_id)
        template_rows.append(
            {
                "id": template_id,
                "user_id": user_id,
                "name": f"Template {i}",
                "description": None,
                "prompts": [f"Prompt {i}.0", f"Prompt {i}.1"],
            }
        )
    for i in range(entries):
        entry_id = uuid.uuid4()
        uses = journal.templates[i % templates] if templates and i % 3 != 2 else None
        journal.entries.append(entry_id)
        journal.entry_template[entry_id] = uses
        entry_rows.append(
            {
                "id": entry_id,
                "user_id": user_id,
                "template_id": uses,
                "title": f"Entry {i}",
                "body": f"Body of entry {i}",
                "mood": 1 + i % 10,
                "tags": [f"tag{i % 4}"],
            }
        )
    await insert_rows(session, JournalTemplate, template_rows)
    await insert_rows(session, JournalEntry, entry_rows)
    return journal


async def create_resources(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    project_ids: Sequence[uuid.UUID] = (),
    task_ids: Sequence[uuid.UUID] = (),
    per_parent: int = 1,
    unattached: int = 0,
) -> list[uuid.UUID]:
    """Links on each given project and task (`per_parent` each), and `unattached` ones on neither.

    The three kinds are spread evenly in creation order, so that any page of resources holds each.
    """
    kinds: list[list[tuple[uuid.UUID | None, uuid.UUID | None]]] = [
        [(p, None) for p in project_ids for _ in range(per_parent)],
        [(None, t) for t in task_ids for _ in range(per_parent)],
        [(None, None)] * unattached,
    ]
    # Each kind spread evenly over the whole sequence (by its items' relative rank).
    ranked = [((i + 0.5) / len(kind), k, parent) for k, kind in enumerate(kinds) for i, parent in enumerate(kind)]
    parents = [parent for _, _, parent in sorted(ranked, key=lambda item: item[:2])]
    ids: list[uuid.UUID] = []
    rows: list[dict[str, Any]] = []
    for i, (project_id, task_id) in enumerate(parents):
        resource_id = uuid.uuid4()
        ids.append(resource_id)
        rows.append(
            {
                "id": resource_id,
                "user_id": user_id,
                "project_id": project_id,
                "task_id": task_id,
                "kind": ResourceKind.LINK.value,
                "title": f"Link {i}",
                "url": f"https://example.com/{i}",
                "file_name": None,
                "content_type": None,
                "size_bytes": None,
            }
        )
    await insert_rows(session, Resource, rows)
    return ids


async def create_notifications(
    session: AsyncSession, *, user_id: uuid.UUID, count: int, read_every: int = 3, product: str = "aurum"
) -> list[uuid.UUID]:
    """`count` notifications; every `read_every`-th one is already read."""
    moment = datetime.now(UTC)
    ids: list[uuid.UUID] = []
    rows: list[dict[str, Any]] = []
    for i in range(count):
        notification_id = uuid.uuid4()
        ids.append(notification_id)
        rows.append(
            {
                "id": notification_id,
                "user_id": user_id,
                "product": product,
                "kind": "task_due",
                "title": f"Notification {i}",
                "body": None,
                "data": {"n": i},
                "read_at": moment if read_every and i % read_every == read_every - 1 else None,
            }
        )
    await insert_rows(session, Notification, rows)
    return ids


#: Targets shared by every user's made-up audit events (an event outlives the row it names).
AUDIT_NAMESPACE = uuid.UUID("0b7f2a1e-53c4-4d8e-9f60-1a2b3c4d5e6f")
AUDIT_TARGETS: tuple[tuple[str, str], ...] = (
    ("tasks", "Task"),
    ("pillars", "Pillar"),
    ("journal_entries", "JournalEntry"),
    ("users", "User"),
    ("notifications", "Notification"),
    ("hrm_user_preferences", ""),  # not a node type: no global id
)
AUDIT_ACTIONS = ("create", "update", "delete")
#: Another user acting on the user's data (an organization admin, one day).
AUDIT_OTHER_ACTOR = uuid.uuid5(AUDIT_NAMESPACE, "other actor")
AUDIT_START = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def audit_target(index: int) -> uuid.UUID:
    return uuid.uuid5(AUDIT_NAMESPACE, f"target {index}")


async def create_audit_events(
    session: AsyncSession, *, user_id: uuid.UUID, count: int, awkward: str = "awkward"
) -> list[uuid.UUID]:
    """`count` made-up events about the user's rows: every actor kind, targets of node types and
    not, changes of every JSON kind (`awkward` text among them), times with and without
    microseconds, a day apart (some events share a time, as those of one transaction do)."""
    ids: list[uuid.UUID] = []
    rows: list[dict[str, Any]] = []
    kinds = list(AuditActorKind)
    for i in range(count):
        event_id = uuid.uuid4()
        ids.append(event_id)
        table_name, _ = AUDIT_TARGETS[i % len(AUDIT_TARGETS)]
        kind = kinds[i % len(kinds)]
        actor_user = AUDIT_OTHER_ACTOR if i % 5 == 0 else user_id
        model = "".join(part.title() for part in table_name.split("_")).removesuffix("s")
        changes: dict[str, Any] = {
            "title": {"before": f"Old {i}", "after": awkward},
            "position": {"before": i, "after": i + 1},
            "progress": {"before": 0.25, "after": 1.0},
            "done": {"before": False, "after": True},
            "tags": {"before": [], "after": ["a", awkward, None]},
            "data": {"before": None, "after": {"nested": {"n": i, "list": [1, "two"]}}},
            "password_hash": {"before": "[redacted]", "after": "[redacted]"},
        }
        if i % 4 == 3:
            changes = {}
        rows.append(
            {
                "id": event_id,
                "at": AUDIT_START + timedelta(days=i // 2, microseconds=123457 if i % 3 == 0 else 0),
                "actor_kind": kind.value,
                "actor_user_id": actor_user if kind is AuditActorKind.USER else None,
                "actor_organization_id": uuid.uuid5(AUDIT_NAMESPACE, "client org")
                if kind is AuditActorKind.API_CLIENT
                else None,
                "actor_label": (awkward if i % 2 else "password") if kind is not AuditActorKind.ANONYMOUS else None,
                "user_id": user_id,
                "organization_id": None,
                "action": f"{model}.{AUDIT_ACTIONS[i % len(AUDIT_ACTIONS)]}",
                "operation": None if i % 6 == 5 else f"mutation{i % 4}",
                "target_table": table_name,
                "target_id": str(user_id if table_name in ("users", "hrm_user_preferences") else audit_target(i % 7)),
                "changes": changes,
                "request_id": None if i % 2 else f"request-{i}",
            }
        )
    await insert_rows(session, AuditEvent, rows)
    return ids


@dataclass
class Organizations:
    """Organizations around one viewer, as inserted: the ids the viewer may read, by type, and
    the invitations it may not (those of an organization where it is a plain member)."""

    organizations: list[uuid.UUID] = field(default_factory=list)
    memberships: list[uuid.UUID] = field(default_factory=list)
    invitations: list[uuid.UUID] = field(default_factory=list)
    hidden_invitations: list[uuid.UUID] = field(default_factory=list)
    #: The organizations' API clients (readable by the roles that manage them: the viewer's own
    #: teams'), and those of the team where the viewer is a plain member.
    api_clients: list[uuid.UUID] = field(default_factory=list)
    hidden_api_clients: list[uuid.UUID] = field(default_factory=list)
    #: Their keys, likewise.
    api_client_keys: list[uuid.UUID] = field(default_factory=list)
    hidden_api_client_keys: list[uuid.UUID] = field(default_factory=list)


async def create_users(session: AsyncSession, count: int, *, name: str = "Member") -> list[uuid.UUID]:
    """`count` accounts that can't sign in (no password matches their hash)."""
    ids = [uuid.uuid4() for _ in range(count)]
    rows = [
        {
            "id": pk,
            "email": f"{name.lower()}-{pk.hex[:12]}@Example.com",
            "display_name": f"{name} {i}",
            "role": "user",
            "password_hash": "not-a-hash",
        }
        for i, pk in enumerate(ids)
    ]
    await insert_rows(session, User, rows)
    return ids


async def create_organizations(session: AsyncSession, *, user_id: uuid.UUID, count: int) -> Organizations:
    """`count` teams the user owns, each with an admin and a member and invitations in every status
    (times with and without microseconds), and one more team where the user is a plain member."""
    made = Organizations()
    others = await create_users(session, 3)
    start = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    now = datetime.now(UTC)
    organizations: list[dict[str, Any]] = []
    memberships: list[dict[str, Any]] = []
    invitations: list[dict[str, Any]] = []
    clients: list[dict[str, Any]] = []
    keys: list[dict[str, Any]] = []
    for i in range(count + 1):
        owned = i < count
        pk = uuid.uuid4()
        owner = user_id if owned else others[0]
        organizations.append(
            {
                "id": pk,
                "name": f'Team {i} "quoted" \\ é',
                "slug": f"team-{pk.hex[:16]}",
                "kind": "team",
                "created_by": owner,
                "created_at": start + timedelta(days=i, microseconds=123457 * (i % 2)),
            }
        )
        made.organizations.append(pk)
        roles = [(owner, "owner"), (others[1], "admin"), (others[2] if owned else user_id, "member")]
        for n, (member, role) in enumerate(roles):
            membership = uuid.uuid4()
            memberships.append(
                {
                    "id": membership,
                    "organization_id": pk,
                    "user_id": member,
                    "role": role,
                    "invited_by": None if n == 0 else owner,
                    "joined_at": start + timedelta(days=i, hours=n, microseconds=500 * n),
                }
            )
            made.memberships.append(membership)
        settled: list[dict[str, Any]] = [
            {},
            {"role": "admin"},
            {"accepted_at": now - timedelta(hours=1)},
            {"declined_at": now - timedelta(hours=2)},
            {"revoked_at": now - timedelta(hours=3)},
            {"expires_at": now - timedelta(days=1)},
        ]
        for n, values in enumerate(settled):
            invitation = uuid.uuid4()
            invitations.append(
                {
                    "id": invitation,
                    "organization_id": pk,
                    "email": f"Invitee-{n}-{invitation.hex[:8]}@example.com",
                    "role": "member",
                    "invited_by": owner,
                    "token_hash": uuid.uuid4().hex + uuid.uuid4().hex,
                    "created_at": start + timedelta(days=i, minutes=n, microseconds=7 * n),
                    "expires_at": now + timedelta(days=7 - n),
                    "accepted_at": None,
                    "declined_at": None,
                    "revoked_at": None,
                    **values,
                }
            )
            (made.invitations if owned else made.hidden_invitations).append(invitation)
        client = uuid.uuid4()
        clients.append(
            {
                "id": client,
                "organization_id": pk,
                "name": f"Partner app {i}",
                "scopes": ["organizations:read"],
                "document_policy": "trusted",
                "created_by": owner,
                "created_at": start + timedelta(days=i, minutes=30),
            }
        )
        (made.api_clients if owned else made.hidden_api_clients).append(client)
        key = uuid.uuid4()
        (made.api_client_keys if owned else made.hidden_api_client_keys).append(key)
        keys.append(
            {
                "id": key,
                "client_id": client,
                "organization_id": pk,
                "prefix": f"qnt_{i:08d}",
                "key_hash": uuid.uuid4().bytes * 2,
                "created_by": owner,
                "created_at": start + timedelta(days=i, minutes=31),
            }
        )
    await insert_rows(session, Organization, organizations)
    await insert_rows(session, Membership, memberships)
    await insert_rows(session, Invitation, invitations)
    await insert_rows(session, ApiClient, clients)
    await insert_rows(session, ApiClientKey, keys)
    await create_trusted_documents(session, clients)
    return made


@dataclass
class Donations:
    donors: list[uuid.UUID] = field(default_factory=list)
    donations: list[uuid.UUID] = field(default_factory=list)
    entries: list[uuid.UUID] = field(default_factory=list)


async def create_donations(session: AsyncSession, *, organization_id: uuid.UUID, count: int) -> Donations:
    """`count` donations of Akashic's, each by a donor of its own, with its contribution entry and,
    for every other one, a partial refund (written directly, as the owner: no webhook)."""
    from models.akashic_donations import Donation, DonationLedgerEntry, Donor

    made = Donations()
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    donors: list[dict[str, Any]] = []
    donations: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for i in range(count):
        donor, donation = uuid.uuid4(), uuid.uuid4()
        at = start + timedelta(days=i, microseconds=250001 * (i % 2))
        donors.append(
            {
                "id": donor,
                "organization_id": organization_id,
                "first_name": f"Ada {i}",
                "last_name": 'Lovelace "quoted" é',
                "street": "1 Main St",
                "city": "Springfield",
                "state": "IL",
                "zip": "62701",
                "employer": "Analytical Engines" if i % 2 else None,
                "occupation": "Mathematician",
                "email": f"donor-{donor.hex[:12]}@example.com",
                "match_key": f"email:donor-{donor.hex[:12]}@example.com",
            }
        )
        donations.append(
            {
                "id": donation,
                "organization_id": organization_id,
                "donor_id": donor,
                "provider": "actblue",
                "external_id": f"AB-{donation.hex}",
                "amount_cents": 5_000 * (i + 1),
                "received_at": at,
                "cycle": 2026,
                "status": "partially_refunded" if i % 2 else "received",
            }
        )
        common = {"organization_id": organization_id, "donation_id": donation, "donor_id": donor, "cycle": 2026}
        entries.append(
            {**common, "id": uuid.uuid4(), "kind": "contribution", "amount_cents": 5_000 * (i + 1), "occurred_at": at}
        )
        if i % 2:
            entries.append(
                {
                    **common,
                    "id": uuid.uuid4(),
                    "kind": "refund",
                    "amount_cents": -1_000,
                    "occurred_at": at + timedelta(days=1),
                }
            )
        made.donors.append(donor)
        made.donations.append(donation)
    await insert_rows(session, Donor, donors)
    await insert_rows(session, Donation, donations)
    await insert_rows(session, DonationLedgerEntry, entries)
    made.entries = [entry["id"] for entry in entries]
    return made


async def create_campaign_donations(
    session: AsyncSession, *, user_id: uuid.UUID, role: str = "campaign_manager", count: int = 2
) -> tuple[uuid.UUID, Donations]:
    """An Akashic campaign (an organization of kind `campaign`) where the user has `role`, with
    `count` donations (`create_donations`)."""
    pk = uuid.uuid4()
    await insert_rows(
        session,
        Organization,
        [
            {
                "id": pk,
                "name": 'Campaign "quoted" é',
                "slug": f"campaign-{pk.hex[:16]}",
                "kind": "campaign",
                "created_by": user_id,
            }
        ],
    )
    await insert_rows(
        session, Membership, [{"id": uuid.uuid4(), "organization_id": pk, "user_id": user_id, "role": role}]
    )
    return pk, await create_donations(session, organization_id=pk, count=count)


#: The SDL hash of the factories' trusted documents (a `schema_versions` row of its own).
FACTORY_SDL_HASH = "0" * 64


async def create_trusted_documents(session: AsyncSession, clients: Sequence[dict[str, Any]]) -> None:
    """One trusted document per API client (its organization's, by the read policy)."""
    await session.execute(
        pg_insert(SchemaVersion)
        .values(sdl_hash=FACTORY_SDL_HASH, sdl="type Query { ok: Boolean }\n")
        .on_conflict_do_nothing(index_elements=["sdl_hash"])
    )
    body = "query Viewer { viewer { id } }"
    await insert_rows(
        session,
        TrustedDocument,
        [
            {
                "id": uuid.uuid4(),
                "api_client_id": client["id"],
                "organization_id": client["organization_id"],
                "document_id": "sha256:" + hashlib.sha256(body.encode()).hexdigest(),
                "body": body,
                "operation_names": ["Viewer"],
                "sdl_hash": FACTORY_SDL_HASH,
            }
            for client in clients
        ],
    )
