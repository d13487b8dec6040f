"""What Aurum Life's lists filter on: the open statuses and "overdue", defined once.

The filter inputs and their conditions are declared next to the input types
(`schema/aurum/filters.py`, with `core/filters.py`); both the `overdue` filter and `Task.isOverdue`
use `IS_OVERDUE`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core.sqljson import Derived
from models.aurum import TaskStatus
from services.inputs import utcnow

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
