"""Aurum Life data that sets off each default insight rule once, with known facts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.aurum import Area, Pillar, Priority, Project, Task, TaskStatus
from tests.factories import insert_rows


@dataclass
class Scenario:
    user_id: uuid.UUID
    health: uuid.UUID = field(default_factory=uuid.uuid4)  # pillar, active
    fitness: uuid.UUID = field(default_factory=uuid.uuid4)  # area of importance 5, two overdue tasks
    learning: uuid.UUID = field(default_factory=uuid.uuid4)  # pillar, idle for 30 days
    important_areas: list[uuid.UUID] = field(default_factory=list)


def _uniform(rows: list[dict[str, Any]], default: Any) -> list[dict[str, Any]]:
    """Every row of one INSERT must carry the same keys: fill the missing ones."""
    keys = set().union(*(row.keys() for row in rows))
    return [{key: row.get(key, default) for key in keys} for row in rows]


def _task(user_id: uuid.UUID, project_id: uuid.UUID, title: str, position: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "user_id": user_id,
        "project_id": project_id,
        "title": title,
        "description": None,
        "status": TaskStatus.TODO.value,
        "priority": int(Priority.MEDIUM),
        "due_at": None,
        "completed_at": None,
        "position": position,
    }
    row.update(values)
    return row


async def create_scenario(
    session: AsyncSession, *, user_id: uuid.UUID, now: datetime | None = None, extra_important_areas: int = 0
) -> Scenario:
    """Findings, one per default rule:

    * overdue in an important area: Fitness (importance 5) has 2 overdue open tasks, the
      oldest "Book a physio session" 3 days late (plus one per extra important area);
    * a pillar gone quiet: Learning, nothing changed for 30 days (threshold 14);
    * too many high-priority tasks: 6 open tasks of high priority (limit 5);
    * a completion streak: tasks done today, yesterday and the day before (3 days).
    """
    now = now or datetime.now(UTC)
    old = now - timedelta(days=30)
    scenario = Scenario(user_id=user_id)
    run, study = uuid.uuid4(), uuid.uuid4()
    languages = uuid.uuid4()
    await insert_rows(
        session,
        Pillar,
        _uniform(
            [
                {"id": scenario.health, "user_id": user_id, "name": "Health", "position": 0, "created_at": old},
                {
                    "id": scenario.learning,
                    "user_id": user_id,
                    "name": "Learning",
                    "position": 1,
                    "created_at": old,
                    "updated_at": old,
                },
            ],
            now,
        ),
    )
    areas = [
        {"id": scenario.fitness, "user_id": user_id, "pillar_id": scenario.health, "name": "Fitness", "importance": 5},
        {"id": languages, "user_id": user_id, "pillar_id": scenario.learning, "name": "Languages", "importance": 2},
    ]
    extra_projects = []
    extra_tasks = []
    for n in range(extra_important_areas):
        area_id, project_id = uuid.uuid4(), uuid.uuid4()
        scenario.important_areas.append(area_id)
        areas.append(
            {"id": area_id, "user_id": user_id, "pillar_id": scenario.health, "name": f"Duty {n}", "importance": 4}
        )
        extra_projects.append({"id": project_id, "user_id": user_id, "area_id": area_id, "name": f"Chores {n}"})
        extra_tasks.append(_task(user_id, project_id, f"Chore {n}", 0, due_at=now - timedelta(days=1 + n)))
    scenario.important_areas.insert(0, scenario.fitness)
    await insert_rows(session, Area, [{"position": i, **a} for i, a in enumerate(areas)])
    await insert_rows(
        session,
        Project,
        _uniform(
            [
                {"id": run, "user_id": user_id, "area_id": scenario.fitness, "name": "Run a 10k", "position": 0},
                {
                    "id": study,
                    "user_id": user_id,
                    "area_id": languages,
                    "name": "Spanish",
                    "position": 0,
                    "created_at": old,
                    "updated_at": old,
                },
                *({"position": 0, **p} for p in extra_projects),
            ],
            now,
        ),
    )
    tasks = [
        _task(user_id, run, "Book a physio session", 0, due_at=now - timedelta(days=3, hours=2)),
        _task(user_id, run, "Buy running shoes", 1, due_at=now - timedelta(hours=20)),
        _task(user_id, run, "Plan the route", 2, due_at=now + timedelta(days=5)),
        *(
            _task(user_id, run, f"Interval session {n}", 3 + n, priority=int(Priority.HIGH), due_at=None)
            for n in range(6)
        ),
        *(
            _task(
                user_id,
                run,
                f"Stretching day {n}",
                10 + n,
                status=TaskStatus.DONE.value,
                completed_at=now - timedelta(days=n, minutes=5),
            )
            for n in range(3)
        ),
        _task(user_id, study, "Review verbs", 0, created_at=old, updated_at=old),
        *extra_tasks,
    ]
    await insert_rows(session, Task, _uniform(tasks, now))
    return scenario
