"""Filter inputs of Aurum Life connections, each declared with its conditions (core/filters.py)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
import strawberry

from core.cost import Cost
from core.filters import Columns, Filter, FilterField, any_of, array_of, contains_text
from schema.aurum.enums import Priority, ProjectStatus, TaskStatus
from services.aurum import IS_OVERDUE, as_utc

TIME = sa.DateTime(timezone=True)


#: What a text search costs over an indexed condition (`@cost` of `TaskFilterInput.search`).
SEARCH_WEIGHT = 5


@strawberry.input(description="Conditions on tasks; all given ones must hold.")
class TaskFilterInput:
    status: list[TaskStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    priority: list[Priority] | None = strawberry.field(default=None, description="Any of these priorities.")
    due_after: datetime | None = strawberry.field(default=None, description="Due at or after this time.")
    due_before: datetime | None = strawberry.field(default=None, description="Due before this time.")
    overdue: bool | None = strawberry.field(
        default=None, description="true: past due and still open; false: everything else."
    )
    # A text scan (ILIKE) of every title, not an index lookup.
    search: str | None = strawberry.field(
        default=None, description="Title contains this text (any case).", directives=[Cost(weight=SEARCH_WEIGHT)]
    )


@strawberry.input(description="Conditions on projects; all given ones must hold.")
class ProjectFilterInput:
    status: list[ProjectStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    due_after: datetime | None = strawberry.field(default=None, description="Due at or after this time.")
    due_before: datetime | None = strawberry.field(default=None, description="Due before this time.")


def _overdue(c: Columns, value: Any) -> sa.ColumnElement[bool]:
    # The one definition of "overdue" (services.aurum.IS_OVERDUE), "now" being the statement's
    # start; an undated task is not overdue: `false` matches it too.
    return sa.func.coalesce(IS_OVERDUE.sql(SimpleNamespace(c=c)), sa.false()) == value


def _due_after() -> FilterField:
    return FilterField("due_after", lambda c, value: c.due_at >= value, TIME, as_utc)


def _due_before() -> FilterField:
    return FilterField("due_before", lambda c, value: c.due_at < value, TIME, as_utc)


TASK_FILTER = Filter(
    (
        FilterField("status", lambda c, value: c.status == sa.any_(value), array_of(sa.String()), any_of),
        FilterField("priority", lambda c, value: c.priority == sa.any_(value), array_of(sa.SmallInteger()), any_of),
        _due_after(),
        _due_before(),
        FilterField("overdue", _overdue, sa.Boolean()),
        FilterField("search", lambda c, value: c.title.ilike(value, escape="\\"), sa.Text(), contains_text),
    ),
    input=TaskFilterInput,
)

PROJECT_FILTER = Filter(
    (
        FilterField("status", lambda c, value: c.status == sa.any_(value), array_of(sa.String()), any_of),
        _due_after(),
        _due_before(),
    ),
    input=ProjectFilterInput,
)
