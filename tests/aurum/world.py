"""Aurum Life's test world (registered in products/aurum.py): the hierarchy, journal and
resources of one viewer, with values that stress encoding, and the filter options the
differential generator may send."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.relay import to_global_id
from schema.aurum.enums import Priority, ProjectStatus, TaskStatus
from tests.factories import create_journal, create_resources, create_tree
from tests.worlds import FilterOption, ProductWorld

#: Text that JSON must escape.
AWKWARD = 'Quote " backslash \\ tab \t newline \n emoji \U0001f600 accents éà <tag> & \u2028'


async def build(session: AsyncSession, user_id: uuid.UUID, size: int) -> Mapping[str, list[str]]:
    tree = await create_tree(
        session, user_id=user_id, pillars=size, areas_per_pillar=2, projects_per_area=3, tasks_per_project=5
    )
    journal = await create_journal(session, user_id=user_id, templates=2, entries=2 + 2 * size)
    resources = await create_resources(
        session, user_id=user_id, project_ids=tree.projects[:2], task_ids=tree.tasks[:3], unattached=size
    )
    await session.flush()
    mine = {"user": user_id, "text": AWKWARD}
    statements = [
        # Escapes, times with and without microseconds, every status and priority.
        "UPDATE tasks SET description = :text WHERE position = 1 AND user_id = :user",
        "UPDATE pillars SET description = :text, color = '#F4B400', icon = '⛰' WHERE user_id = :user",
        "UPDATE tasks SET due_at = date_trunc('second', due_at) + interval '123457 microseconds' "
        "WHERE position = 2 AND user_id = :user",
        "UPDATE tasks SET due_at = date_trunc('second', due_at) WHERE position = 3 AND user_id = :user",
        "UPDATE projects SET "
        "status = (ARRAY['not_started','in_progress','on_hold','completed','cancelled'])[1 + position % 5], "
        "due_at = now() + position * interval '1 day', priority = 1 + position % 4 WHERE user_id = :user",
        # Arrays empty and odd, an attachment beyond 32 bits, a template without prompts.
        "UPDATE journal_entries SET tags = ARRAY[:text, '', 'NULL', '{}', 'a,b'], body = :text, mood = NULL "
        "WHERE user_id = :user AND title = 'Entry 0'",
        "UPDATE journal_templates SET prompts = '{}', description = :text "
        "WHERE name = 'Template 1' AND user_id = :user",
        "UPDATE resources SET kind = 'attachment', url = NULL, file_name = :text, content_type = 'application/pdf', "
        "size_bytes = 9007199254740991 WHERE project_id IS NOT NULL AND user_id = :user",
    ]
    for statement in statements:
        await session.execute(sa.text(statement), mine)
    return {
        "Pillar": [to_global_id("Pillar", pk) for pk in tree.pillars],
        "Area": [to_global_id("Area", pk) for pk in tree.areas],
        "Project": [to_global_id("Project", pk) for pk in tree.projects],
        "Task": [to_global_id("Task", pk) for pk in tree.tasks],
        "JournalTemplate": [to_global_id("JournalTemplate", pk) for pk in journal.templates],
        "JournalEntry": [to_global_id("JournalEntry", pk) for pk in journal.entries],
        "Resource": [to_global_id("Resource", pk) for pk in resources],
    }


def _members(rng: random.Random, field: str, names: list[str], most: int) -> FilterOption:
    picked = rng.sample(names, rng.randint(0 if rng.random() < 0.1 else 1, most))
    return field, "[" + " ".join(picked) + "]", picked


def task_filter_options(rng: random.Random) -> list[FilterOption]:
    late = rng.choice([True, False])
    text = rng.choice(["task", "1", "zz", "%", "_", " Task 1 ", "  "])
    return [
        _members(rng, "status", [m.name for m in TaskStatus], 3),
        _members(rng, "priority", [m.name for m in Priority], 2),
        ("overdue", str(late).lower(), late),
        ("search", orjson.dumps(text).decode(), text),
        ("dueAfter", '"2020-06-01T00:00:00Z"', "2020-06-01T00:00:00Z"),
        ("dueBefore", '"2099-01-01T00:00:00"', "2099-01-01T00:00:00"),
    ]


def project_filter_options(rng: random.Random) -> list[FilterOption]:
    return [
        _members(rng, "status", [m.name for m in ProjectStatus], 3),
        ("dueBefore", '"2099-01-01T00:00:00+02:00"', "2099-01-01T00:00:00+02:00"),
        ("dueAfter", '"2026-01-01T00:00:00Z"', "2026-01-01T00:00:00Z"),
    ]


AURUM_WORLD = ProductWorld(
    build=build, filters={"TaskFilterInput": task_filter_options, "ProjectFilterInput": project_filter_options}
)
