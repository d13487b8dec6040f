"""Aurum Life enums and orderings."""

from __future__ import annotations

from enum import Enum

import strawberry

from models import aurum as m
from schema.common import order_enum
from services import aurum as svc


@strawberry.enum(description="Where a project stands.")
class ProjectStatus(Enum):
    NOT_STARTED = strawberry.enum_value(m.ProjectStatus.NOT_STARTED.value, description="Not begun yet.")
    IN_PROGRESS = strawberry.enum_value(m.ProjectStatus.IN_PROGRESS.value, description="Being worked on.")
    ON_HOLD = strawberry.enum_value(m.ProjectStatus.ON_HOLD.value, description="Paused.")
    COMPLETED = strawberry.enum_value(m.ProjectStatus.COMPLETED.value, description="Finished.")
    CANCELLED = strawberry.enum_value(m.ProjectStatus.CANCELLED.value, description="Abandoned.")


@strawberry.enum(description="Where a task stands.")
class TaskStatus(Enum):
    TODO = strawberry.enum_value(m.TaskStatus.TODO.value, description="Not started.")
    IN_PROGRESS = strawberry.enum_value(m.TaskStatus.IN_PROGRESS.value, description="Being worked on.")
    DONE = strawberry.enum_value(m.TaskStatus.DONE.value, description="Completed; sets `completedAt`.")
    CANCELLED = strawberry.enum_value(m.TaskStatus.CANCELLED.value, description="Dropped; excluded from progress.")


@strawberry.enum(description="How urgent a task or project is.")
class Priority(Enum):
    LOW = strawberry.enum_value(int(m.Priority.LOW), description="Whenever there is time.")
    MEDIUM = strawberry.enum_value(int(m.Priority.MEDIUM), description="The default.")
    HIGH = strawberry.enum_value(int(m.Priority.HIGH), description="Soon.")
    URGENT = strawberry.enum_value(int(m.Priority.URGENT), description="Now.")


@strawberry.enum(description="What a resource is.")
class ResourceKind(Enum):
    LINK = strawberry.enum_value(m.ResourceKind.LINK.value, description="A web address.")
    ATTACHMENT = strawberry.enum_value(
        m.ResourceKind.ATTACHMENT.value, description="A file's metadata (name, type, size, location)."
    )


PillarOrderBy = order_enum("PillarOrderBy", svc.PILLAR_SORTS, "pillars")
AreaOrderBy = order_enum("AreaOrderBy", svc.AREA_SORTS, "areas")
ProjectOrderBy = order_enum("ProjectOrderBy", svc.PROJECT_SORTS, "projects")
TaskOrderBy = order_enum("TaskOrderBy", svc.TASK_SORTS, "tasks")
JournalEntryOrderBy = order_enum("JournalEntryOrderBy", svc.JOURNAL_SORTS, "journal entries")
JournalTemplateOrderBy = order_enum("JournalTemplateOrderBy", svc.TEMPLATE_SORTS, "journal templates")
ResourceOrderBy = order_enum("ResourceOrderBy", svc.RESOURCE_SORTS, "resources")
