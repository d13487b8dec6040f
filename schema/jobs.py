"""Background jobs: slow work a user started (an AI analysis, a generation), as a node."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from core.relay import to_global_id
from core.sqljson import python_only_type
from loaders.base import PageKey
from models.jobs import JobStatus
from schema.common import After, Before, Connection, Ctx, First, Last, Node, connection, read_page_args
from schema.viewer_base import ViewerBase
from services.jobs import JobFilter


@strawberry.enum(description="Where a background job stands.")
class BackgroundJobStatus(Enum):
    QUEUED = strawberry.enum_value(JobStatus.QUEUED.value, description="Waiting for a worker.")
    RUNNING = strawberry.enum_value(JobStatus.RUNNING.value, description="A worker is on it; see `progress`.")
    RETRYING = strawberry.enum_value(
        JobStatus.RETRYING.value, description="An attempt failed; another is due at `nextAttemptAt`."
    )
    SUCCEEDED = strawberry.enum_value(JobStatus.SUCCEEDED.value, description="Done; see `result`.")
    FAILED = strawberry.enum_value(JobStatus.FAILED.value, description="Gave up after its attempts; see `error`.")


@strawberry.enum(description="Orders of background jobs.")
class BackgroundJobOrderBy(Enum):
    CREATED_AT_DESC = strawberry.enum_value("CREATED_AT_DESC", description="Newest first.")
    CREATED_AT_ASC = strawberry.enum_value("CREATED_AT_ASC", description="Oldest first.")
    UPDATED_AT_DESC = strawberry.enum_value("UPDATED_AT_DESC", description="Most recently changed first.")


@python_only_type(why="Made from two columns of a job row by `BackgroundJob.from_row`.")
@strawberry.type(description="Why the last attempt of a job failed.")
class BackgroundJobError:
    code: str = strawberry.field(
        description="e.g. AI_TIMEOUT, AI_RATE_LIMITED, AI_SERVER_ERROR, AI_INVALID_OUTPUT, WORKER_LOST, INTERNAL."
    )
    message: str = strawberry.field(description="A sentence for a person to read.")


@python_only_type(
    why="The job queue's rows (services/jobs.py), with `result` as jsonb and `error` made of two columns."
)
@strawberry.type(description="Slow work the viewer started, run by a worker: its progress, result or error.")
class BackgroundJob(Node):
    pk: strawberry.Private[uuid.UUID]
    kind: str = strawberry.field(description="What the job does, e.g. `aurum.insights`.")
    status: BackgroundJobStatus = strawberry.field(description="Where the job stands.")
    progress: float = strawberry.field(description="How far it got, from 0 to 1.")
    progress_message: str | None = strawberry.field(description="What it is doing now, for a person to read.")
    result: JSON | None = strawberry.field(description="What it produced, once succeeded (kind-specific).")
    error: BackgroundJobError | None = strawberry.field(description="Why the last attempt failed, if it did.")
    attempts: int = strawberry.field(description="Attempts started so far.")
    max_attempts: int = strawberry.field(description="Attempts it may take before giving up.")
    provider: str | None = strawberry.field(description="AI provider that produced the result, if any.")
    model: str | None = strawberry.field(description="AI model that produced the result, if any.")
    created_at: datetime = strawberry.field(description="When it was requested.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    started_at: datetime | None = strawberry.field(description="When its first attempt started.")
    finished_at: datetime | None = strawberry.field(description="When it succeeded or gave up.")
    next_attempt_at: datetime | None = strawberry.field(description="When the next attempt is due, if retrying.")

    @strawberry.field(description="Whether it succeeded or gave up (nothing more will happen).")
    def is_finished(self) -> bool:
        return self.status in {BackgroundJobStatus.SUCCEEDED, BackgroundJobStatus.FAILED}

    @classmethod
    def from_row(cls, row: Any) -> BackgroundJob:
        return cls(
            id=strawberry.ID(to_global_id("BackgroundJob", row.id)),
            pk=row.id,
            kind=row.kind,
            status=BackgroundJobStatus(row.status),
            progress=row.progress,
            progress_message=row.progress_message,
            result=row.result,
            error=BackgroundJobError(code=row.error_code, message=row.error_message or "") if row.error_code else None,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            provider=row.provider,
            model=row.model,
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            next_attempt_at=row.next_attempt_at,
        )


@python_only_type(why="The job queue's rows (services/jobs.py), filtered by status and kind.")
@strawberry.type(description="The viewer's background jobs.")
class JobViewerFields(ViewerBase):
    @strawberry.field(description="The viewer's background jobs, newest first by default.")
    async def jobs(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        status: Annotated[
            list[BackgroundJobStatus] | None, strawberry.argument(description="Only jobs in one of these states.")
        ] = None,
        kind: Annotated[list[str] | None, strawberry.argument(description="Only jobs of one of these kinds.")] = None,
        order_by: Annotated[
            BackgroundJobOrderBy, strawberry.argument(description="Order of the items.")
        ] = BackgroundJobOrderBy.CREATED_AT_DESC,
    ) -> Connection[BackgroundJob]:
        args = read_page_args(info, first, after, last, before)
        flt = JobFilter(statuses=tuple(str(s.value) for s in status or ()), kinds=tuple(kind or ()))
        # The members are named after the orderings of services.jobs.JOB_SORTS.
        key = PageKey(self.user_pk, args, order_by.name, flt if flt != JobFilter() else None)
        return connection(await info.context.loaders.jobs.background_jobs_by_user.load(key), BackgroundJob.from_row)
