"""Filters of Aurum Life's task and project lists, as SQL conditions.

The filters are frozen dataclasses, hashable, so that the loaders batch the requests that share
one; `task_conditions` and `project_conditions` turn them into the conditions of a list's
statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.sqljson import Derived
from models.aurum import Project, Task, TaskStatus
from services.inputs import utcnow
from services.owned import table

#: A task in one of these is still to be done: the statuses "overdue" counts.
OPEN_TASK_STATUSES = (TaskStatus.TODO.value, TaskStatus.IN_PROGRESS.value)


def _overdue_now(task: Any) -> bool:
    due_at = task.due_at
    return due_at is not None and task.status in OPEN_TASK_STATUSES and due_at < utcnow()


def _overdue_sql(task: Any) -> sa.ColumnElement[bool]:
    return sa.and_(
        task.c.due_at.isnot(None),
        task.c.status.in_(OPEN_TASK_STATUSES),
        task.c.due_at < sa.func.statement_timestamp(),
    )


#: A task is overdue when it is due, still open, and past due now (on the resolver path "now" is
#: the moment the row is mapped, in SQL the statement's start).
IS_OVERDUE = Derived(python=_overdue_now, sql=_overdue_sql)


@dataclass(frozen=True)
class TaskFilter:
    """Hashable, so that loaders batch requests that share it."""

    statuses: tuple[str, ...] = ()
    priorities: tuple[int, ...] = ()
    due_after: datetime | None = None
    due_before: datetime | None = None
    overdue: bool | None = None
    search: str | None = None


@dataclass(frozen=True)
class ProjectFilter:
    statuses: tuple[str, ...] = ()
    due_after: datetime | None = None
    due_before: datetime | None = None


def task_conditions(flt: TaskFilter, *, now: datetime | None = None) -> list[sa.ColumnElement[bool]]:
    t = table(Task)
    conditions: list[sa.ColumnElement[bool]] = []
    if flt.statuses:
        conditions.append(t.c.status.in_(flt.statuses))
    if flt.priorities:
        conditions.append(t.c.priority.in_(flt.priorities))
    if flt.due_after is not None:
        conditions.append(t.c.due_at >= flt.due_after)
    if flt.due_before is not None:
        conditions.append(t.c.due_at < flt.due_before)
    if flt.overdue is not None:
        # Without a given time, "now" is taken when the statement runs (it may be kept and reused).
        moment: Any = now or sa.bindparam(
            "overdue_now", callable_=utcnow, type_=sa.DateTime(timezone=True), unique=True
        )
        is_overdue = sa.and_(t.c.due_at < moment, t.c.status.in_(OPEN_TASK_STATUSES))
        conditions.append(is_overdue if flt.overdue else sa.not_(sa.func.coalesce(is_overdue, False)))
    if flt.search:
        pattern = "%" + flt.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(t.c.title.ilike(pattern, escape="\\"))
    return conditions


def project_conditions(flt: ProjectFilter) -> list[sa.ColumnElement[bool]]:
    t = table(Project)
    conditions: list[sa.ColumnElement[bool]] = []
    if flt.statuses:
        conditions.append(t.c.status.in_(flt.statuses))
    if flt.due_after is not None:
        conditions.append(t.c.due_at >= flt.due_after)
    if flt.due_before is not None:
        conditions.append(t.c.due_at < flt.due_before)
    return conditions
