"""Aurum Life: pillars → areas → projects → tasks, journal and resources.

Every row carries `user_id`, and every child points at its parent through a composite
foreign key `(parent_id, user_id)`: the database itself refuses a row whose parent belongs
to someone else, whatever a service forgets to check.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import IntEnum, StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from core.access import OWNED, declare
from models.base import created_at_field, id_field, one_of, timestamp_field


class ProjectStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TaskStatus(StrEnum):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


class Priority(IntEnum):
    """Stored as its rank, so that sorting by priority is sorting by the column."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    URGENT = 4


class ResourceKind(StrEnum):
    LINK = "link"
    ATTACHMENT = "attachment"


def owner_column() -> uuid.UUID:
    return Field(sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False))


def owned_parent(parent_table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column, "user_id"],
        [f"{parent_table}.id", f"{parent_table}.user_id"],
        ondelete="CASCADE",
    )


class Pillar(SQLModel, table=True):
    __tablename__ = "pillars"
    __table_args__ = (
        sa.UniqueConstraint("id", "user_id"),
        sa.Index("ix_pillars_user_position", "user_id", "position"),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = owner_column()
    name: str = Field(max_length=120, nullable=False)
    description: str | None = Field(default=None, max_length=4000)
    color: str | None = Field(default=None, max_length=16)
    icon: str | None = Field(default=None, max_length=64)
    position: int = Field(default=0, nullable=False)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Area(SQLModel, table=True):
    __tablename__ = "areas"
    __table_args__ = (
        sa.UniqueConstraint("id", "user_id"),
        owned_parent("pillars", "pillar_id"),
        sa.Index("ix_areas_pillar_position", "pillar_id", "position"),
        sa.Index("ix_areas_user_id", "user_id"),
        sa.CheckConstraint("importance BETWEEN 1 AND 5", name="importance"),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = owner_column()
    pillar_id: uuid.UUID = Field(nullable=False)
    name: str = Field(max_length=120, nullable=False)
    description: str | None = Field(default=None, max_length=4000)
    importance: int = Field(default=3, nullable=False)
    position: int = Field(default=0, nullable=False)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Project(SQLModel, table=True):
    __tablename__ = "projects"
    __table_args__ = (
        sa.UniqueConstraint("id", "user_id"),
        owned_parent("areas", "area_id"),
        sa.Index("ix_projects_area_position", "area_id", "position"),
        sa.Index("ix_projects_user_id", "user_id"),
        one_of("status", [s.value for s in ProjectStatus], "status"),
        sa.CheckConstraint("priority BETWEEN 1 AND 4", name="priority"),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = owner_column()
    area_id: uuid.UUID = Field(nullable=False)
    name: str = Field(max_length=200, nullable=False)
    description: str | None = Field(default=None, max_length=8000)
    status: str = Field(default=ProjectStatus.NOT_STARTED.value, max_length=16, nullable=False)
    priority: int = Field(default=Priority.MEDIUM.value, sa_type=sa.SmallInteger, nullable=False)
    due_at: datetime | None = timestamp_field()
    position: int = Field(default=0, nullable=False)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        sa.UniqueConstraint("id", "user_id"),
        owned_parent("projects", "project_id"),
        sa.Index("ix_tasks_project_position", "project_id", "position"),
        sa.Index("ix_tasks_user_status_due", "user_id", "status", "due_at"),
        one_of("status", [s.value for s in TaskStatus], "status"),
        sa.CheckConstraint("priority BETWEEN 1 AND 4", name="priority"),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = owner_column()
    project_id: uuid.UUID = Field(nullable=False)
    title: str = Field(max_length=300, nullable=False)
    description: str | None = Field(default=None, max_length=8000)
    status: str = Field(default=TaskStatus.TODO.value, max_length=16, nullable=False)
    priority: int = Field(default=Priority.MEDIUM.value, sa_type=sa.SmallInteger, nullable=False)
    due_at: datetime | None = timestamp_field()
    completed_at: datetime | None = timestamp_field()
    position: int = Field(default=0, nullable=False)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class JournalTemplate(SQLModel, table=True):
    __tablename__ = "journal_templates"
    __table_args__ = (
        sa.UniqueConstraint("id", "user_id"),
        sa.Index("ix_journal_templates_user_id", "user_id"),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = owner_column()
    name: str = Field(max_length=120, nullable=False)
    description: str | None = Field(default=None, max_length=2000)
    prompts: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class JournalEntry(SQLModel, table=True):
    __tablename__ = "journal_entries"
    __table_args__ = (
        # Deleting a template keeps the entries written from it; ownership of the template
        # is checked by the service (a composite key could not SET NULL on Postgres 14).
        sa.ForeignKeyConstraint(["template_id"], ["journal_templates.id"], ondelete="SET NULL"),
        sa.Index("ix_journal_entries_user_created", "user_id", "created_at"),
        sa.CheckConstraint("mood IS NULL OR mood BETWEEN 1 AND 10", name="mood"),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = owner_column()
    template_id: uuid.UUID | None = Field(default=None)
    title: str = Field(max_length=200, nullable=False)
    body: str = Field(max_length=50000, nullable=False)
    mood: int | None = Field(default=None)
    tags: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Resource(SQLModel, table=True):
    """A link or an attachment's metadata, optionally attached to a project or a task."""

    __tablename__ = "resources"
    __table_args__ = (
        owned_parent("projects", "project_id"),
        owned_parent("tasks", "task_id"),
        sa.Index("ix_resources_user_created", "user_id", "created_at"),
        sa.Index("ix_resources_project_id", "project_id"),
        sa.Index("ix_resources_task_id", "task_id"),
        one_of("kind", [k.value for k in ResourceKind], "kind"),
        sa.CheckConstraint("size_bytes IS NULL OR size_bytes >= 0", name="size_bytes"),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = owner_column()
    project_id: uuid.UUID | None = Field(default=None)
    task_id: uuid.UUID | None = Field(default=None)
    kind: str = Field(max_length=16, nullable=False)
    title: str = Field(max_length=200, nullable=False)
    url: str | None = Field(default=None, max_length=2048)
    file_name: str | None = Field(default=None, max_length=255)
    content_type: str | None = Field(default=None, max_length=255)
    size_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


# Read policies (core.access): every Aurum row is its user's.
for _model in (Pillar, Area, Project, Task, JournalTemplate, JournalEntry, Resource):
    declare(_model, OWNED)
