"""Filter inputs of Aurum Life connections, and their conversion to service filters."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema import kit
from schema.aurum.enums import Priority, ProjectStatus, TaskStatus
from schema.common import raw
from services.aurum import ProjectFilter, TaskFilter, as_utc, project_conditions, task_conditions


@strawberry.input(description="Conditions on tasks; all given ones must hold.")
class TaskFilterInput:
    status: list[TaskStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    priority: list[Priority] | None = strawberry.field(default=None, description="Any of these priorities.")
    due_after: datetime | None = strawberry.field(default=None, description="Due at or after this time.")
    due_before: datetime | None = strawberry.field(default=None, description="Due before this time.")
    overdue: bool | None = strawberry.field(
        default=None, description="true: past due and still open; false: everything else."
    )
    search: str | None = strawberry.field(default=None, description="Title contains this text (any case).")


@strawberry.input(description="Conditions on projects; all given ones must hold.")
class ProjectFilterInput:
    status: list[ProjectStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    due_after: datetime | None = strawberry.field(default=None, description="Due at or after this time.")
    due_before: datetime | None = strawberry.field(default=None, description="Due before this time.")


def task_filter(value: TaskFilterInput | None) -> TaskFilter | None:
    if value is None:
        return None
    return TaskFilter(
        statuses=tuple(sorted({raw(s) for s in value.status or []})),
        priorities=tuple(sorted({raw(p) for p in value.priority or []})),
        due_after=as_utc(value.due_after),
        due_before=as_utc(value.due_before),
        overdue=value.overdue,
        search=(value.search or "").strip() or None,
    )


def project_filter(value: ProjectFilterInput | None) -> ProjectFilter | None:
    if value is None:
        return None
    return ProjectFilter(
        statuses=tuple(sorted({raw(s) for s in value.status or []})),
        due_after=as_utc(value.due_after),
        due_before=as_utc(value.due_before),
    )


#: The `filter` argument of task and project connections (schema/kit.py).
TASK_FILTER = kit.Filter(input=TaskFilterInput, convert=task_filter, conditions=task_conditions)
PROJECT_FILTER = kit.Filter(input=ProjectFilterInput, convert=project_filter, conditions=project_conditions)
