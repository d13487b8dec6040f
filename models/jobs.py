"""Background jobs as their owner sees them: one row per unit of slow work a user started.

The queue itself is procrastinate's (`procrastinate_jobs`, same database); this table is the
user-facing record: what the job is, how far it got, what it produced or why it failed. The
two are written in the same transaction when a job is enqueued.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from core.access import OWNED, declare
from models.aurum import owner_column
from models.base import created_at_field, id_field, one_of, timestamp_field


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


ACTIVE_JOB_STATUSES = (JobStatus.QUEUED.value, JobStatus.RUNNING.value, JobStatus.RETRYING.value)


class BackgroundJob(SQLModel, table=True):
    __tablename__ = "background_jobs"
    __table_args__ = (
        sa.Index("ix_background_jobs_user_created", "user_id", "created_at"),
        sa.Index("ix_background_jobs_queue_job_id", "queue_job_id"),
        # "Is one of this user's analyses already pending?" is asked on every request.
        sa.Index(
            "ix_background_jobs_user_kind_active",
            "user_id",
            "kind",
            postgresql_where=sa.text("status IN ('queued', 'running', 'retrying')"),
        ),
        one_of("status", [s.value for s in JobStatus], "status"),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = owner_column()
    kind: str = Field(max_length=64, nullable=False)
    status: str = Field(default=JobStatus.QUEUED.value, max_length=16, nullable=False)
    params: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default="{}")
    )
    progress: float = Field(default=0.0, nullable=False)
    progress_message: str | None = Field(default=None, max_length=200)
    result: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB, nullable=True))
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = Field(default=None, max_length=2000)
    attempts: int = Field(default=0, nullable=False)
    max_attempts: int = Field(default=1, nullable=False)
    provider: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=128)
    #: procrastinate's job id: the queue entry that runs this job
    queue_job_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    started_at: datetime | None = timestamp_field()
    finished_at: datetime | None = timestamp_field()
    next_attempt_at: datetime | None = timestamp_field()


# Read policy (core.access): a job is the user's who asked for it.
declare(BackgroundJob, OWNED)
