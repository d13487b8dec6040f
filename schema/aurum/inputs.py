"""Aurum Life mutation inputs and payloads."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.aurum.enums import Priority, ProjectStatus, ResourceKind, TaskStatus
from schema.aurum.types import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from schema.common import BigInt, MutationError

UNSET = strawberry.UNSET
ERRORS = "Why nothing changed, if so."


# ------------------------------------------------------------------------------ pillars


@strawberry.input(description="A new pillar, placed after the viewer's others.")
class CreatePillarInput:
    name: str = strawberry.field(description="Name, 1 to 120 characters.")
    description: str | None = strawberry.field(default=None, description="What it means to the user.")
    color: str | None = strawberry.field(default=None, description="Display color.")
    icon: str | None = strawberry.field(default=None, description="Display icon.")


@strawberry.input(description="Changes to a pillar; omitted fields stay as they are, null clears.")
class UpdatePillarInput:
    id: strawberry.ID = strawberry.field(description="The pillar.")
    name: str | None = strawberry.field(default=UNSET, description="New name.")
    description: str | None = strawberry.field(default=UNSET, description="New description.")
    color: str | None = strawberry.field(default=UNSET, description="New color.")
    icon: str | None = strawberry.field(default=UNSET, description="New icon.")


@strawberry.input(description="The viewer's pillars in their new order.")
class ReorderPillarsInput:
    ids: list[strawberry.ID] = strawberry.field(description="Every pillar of the viewer, each once.")


@strawberry.type(description="Result of creating or updating a pillar.")
class PillarPayload:
    pillar: Pillar | None = strawberry.field(description="The pillar as saved.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of reordering pillars.")
class ReorderPillarsPayload:
    pillars: list[Pillar] = strawberry.field(description="The pillars in their new order.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


# -------------------------------------------------------------------------------- areas


@strawberry.input(description="A new area in a pillar, placed after the pillar's others.")
class CreateAreaInput:
    pillar_id: strawberry.ID = strawberry.field(description="The pillar to add it to.")
    name: str = strawberry.field(description="Name, 1 to 120 characters.")
    description: str | None = strawberry.field(default=None, description="What the area covers.")
    importance: int = strawberry.field(default=3, description="1 (low) to 5 (critical).")


@strawberry.input(description="Changes to an area; omitted fields stay as they are, null clears.")
class UpdateAreaInput:
    id: strawberry.ID = strawberry.field(description="The area.")
    name: str | None = strawberry.field(default=UNSET, description="New name.")
    description: str | None = strawberry.field(default=UNSET, description="New description.")
    importance: int | None = strawberry.field(default=UNSET, description="New importance, 1 to 5.")
    pillar_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Move it to this pillar (placed last there)."
    )


@strawberry.input(description="A pillar's areas in their new order.")
class ReorderAreasInput:
    pillar_id: strawberry.ID = strawberry.field(description="The pillar.")
    ids: list[strawberry.ID] = strawberry.field(description="Every area of the pillar, each once.")


@strawberry.type(description="Result of creating or updating an area.")
class AreaPayload:
    area: Area | None = strawberry.field(description="The area as saved.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of reordering areas.")
class ReorderAreasPayload:
    areas: list[Area] = strawberry.field(description="The areas in their new order.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


# ----------------------------------------------------------------------------- projects


@strawberry.input(description="A new project in an area, placed after the area's others.")
class CreateProjectInput:
    area_id: strawberry.ID = strawberry.field(description="The area to add it to.")
    name: str = strawberry.field(description="Name, 1 to 200 characters.")
    description: str | None = strawberry.field(default=None, description="What done looks like.")
    status: ProjectStatus = strawberry.field(default=ProjectStatus.NOT_STARTED, description="Initial status.")
    priority: Priority = strawberry.field(default=Priority.MEDIUM, description="Priority.")
    due_at: datetime | None = strawberry.field(
        default=None, description="Deadline (ISO 8601; a time without an offset is taken as UTC)."
    )


@strawberry.input(description="Changes to a project; omitted fields stay as they are, null clears.")
class UpdateProjectInput:
    id: strawberry.ID = strawberry.field(description="The project.")
    name: str | None = strawberry.field(default=UNSET, description="New name.")
    description: str | None = strawberry.field(default=UNSET, description="New description.")
    status: ProjectStatus | None = strawberry.field(default=UNSET, description="New status.")
    priority: Priority | None = strawberry.field(default=UNSET, description="New priority.")
    due_at: datetime | None = strawberry.field(
        default=UNSET, description="New deadline (no offset: UTC); null removes it."
    )
    area_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Move it to this area (placed last there)."
    )


@strawberry.input(description="An area's projects in their new order.")
class ReorderProjectsInput:
    area_id: strawberry.ID = strawberry.field(description="The area.")
    ids: list[strawberry.ID] = strawberry.field(description="Every project of the area, each once.")


@strawberry.type(description="Result of creating or updating a project.")
class ProjectPayload:
    project: Project | None = strawberry.field(description="The project as saved.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of reordering projects.")
class ReorderProjectsPayload:
    projects: list[Project] = strawberry.field(description="The projects in their new order.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


# -------------------------------------------------------------------------------- tasks


@strawberry.input(description="A new task in a project, placed after the project's others.")
class CreateTaskInput:
    project_id: strawberry.ID = strawberry.field(description="The project to add it to.")
    title: str = strawberry.field(description="What to do, 1 to 300 characters.")
    description: str | None = strawberry.field(default=None, description="Details.")
    status: TaskStatus = strawberry.field(default=TaskStatus.TODO, description="Initial status.")
    priority: Priority = strawberry.field(default=Priority.MEDIUM, description="Priority.")
    due_at: datetime | None = strawberry.field(
        default=None, description="Deadline (ISO 8601; a time without an offset is taken as UTC)."
    )


@strawberry.input(description="Changes to a task; omitted fields stay as they are, null clears.")
class UpdateTaskInput:
    id: strawberry.ID = strawberry.field(description="The task.")
    title: str | None = strawberry.field(default=UNSET, description="New title.")
    description: str | None = strawberry.field(default=UNSET, description="New description.")
    status: TaskStatus | None = strawberry.field(
        default=UNSET, description="New status; DONE sets `completedAt`, any other clears it."
    )
    priority: Priority | None = strawberry.field(default=UNSET, description="New priority.")
    due_at: datetime | None = strawberry.field(
        default=UNSET, description="New deadline (no offset: UTC); null removes it."
    )
    project_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Move it to this project (placed last there)."
    )


@strawberry.input(description="A task to mark done.")
class CompleteTaskInput:
    id: strawberry.ID = strawberry.field(description="The task.")


@strawberry.input(description="A project's tasks in their new order.")
class ReorderTasksInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    ids: list[strawberry.ID] = strawberry.field(description="Every task of the project, each once.")


@strawberry.type(description="Result of creating, updating or completing a task.")
class TaskPayload:
    task: Task | None = strawberry.field(description="The task as saved.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of reordering tasks.")
class ReorderTasksPayload:
    tasks: list[Task] = strawberry.field(description="The tasks in their new order.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


# ------------------------------------------------------------------------------ journal


@strawberry.input(description="A new journal entry.")
class CreateJournalEntryInput:
    title: str = strawberry.field(description="Headline, 1 to 200 characters.")
    body: str = strawberry.field(description="The text, up to 50,000 characters.")
    mood: int | None = strawberry.field(default=None, description="Mood from 1 to 10.")
    tags: list[str] | None = strawberry.field(default=None, description="Up to 20 tags.")
    template_id: strawberry.ID | None = strawberry.field(default=None, description="Template it follows.")


@strawberry.input(description="Changes to a journal entry; omitted fields stay as they are.")
class UpdateJournalEntryInput:
    id: strawberry.ID = strawberry.field(description="The entry.")
    title: str | None = strawberry.field(default=UNSET, description="New headline.")
    body: str | None = strawberry.field(default=UNSET, description="New text.")
    mood: int | None = strawberry.field(default=UNSET, description="New mood; null clears it.")
    tags: list[str] | None = strawberry.field(default=UNSET, description="New tags (replace the old).")


@strawberry.type(description="Result of creating or updating a journal entry.")
class JournalEntryPayload:
    journal_entry: JournalEntry | None = strawberry.field(description="The entry as saved.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.input(description="A new journal template.")
class CreateJournalTemplateInput:
    name: str = strawberry.field(description="Name, 1 to 120 characters.")
    description: str | None = strawberry.field(default=None, description="When to use it.")
    prompts: list[str] | None = strawberry.field(default=None, description="Up to 30 prompts.")


@strawberry.input(description="Changes to a journal template; omitted fields stay as they are.")
class UpdateJournalTemplateInput:
    id: strawberry.ID = strawberry.field(description="The template.")
    name: str | None = strawberry.field(default=UNSET, description="New name.")
    description: str | None = strawberry.field(default=UNSET, description="New description.")
    prompts: list[str] | None = strawberry.field(default=UNSET, description="New prompts (replace the old).")


@strawberry.type(description="Result of creating or updating a journal template.")
class JournalTemplatePayload:
    journal_template: JournalTemplate | None = strawberry.field(description="The template as saved.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


# ---------------------------------------------------------------------------- resources


@strawberry.input(description="A new link or attachment record.")
class CreateResourceInput:
    kind: ResourceKind = strawberry.field(description="Link or attachment.")
    title: str = strawberry.field(description="Display title.")
    url: str | None = strawberry.field(default=None, description="http(s) address; required for links.")
    file_name: str | None = strawberry.field(default=None, description="Required for attachments.")
    content_type: str | None = strawberry.field(default=None, description="Attachment's media type.")
    size_bytes: BigInt | None = strawberry.field(default=None, description="Attachment's size in bytes.")
    project_id: strawberry.ID | None = strawberry.field(default=None, description="Attach to this project.")
    task_id: strawberry.ID | None = strawberry.field(default=None, description="Attach to this task.")


@strawberry.input(description="Changes to a resource; omitted fields stay as they are.")
class UpdateResourceInput:
    id: strawberry.ID = strawberry.field(description="The resource.")
    title: str | None = strawberry.field(default=UNSET, description="New title.")
    url: str | None = strawberry.field(default=UNSET, description="New address.")


@strawberry.type(description="Result of creating or updating a resource.")
class ResourcePayload:
    resource: Resource | None = strawberry.field(description="The resource as saved.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.input(description="The object to delete; deleting cascades to what it contains.")
class DeleteInput:
    id: strawberry.ID = strawberry.field(description="Global ID of the object.")
