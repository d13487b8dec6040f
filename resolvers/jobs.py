"""Live background jobs: each committed change of the viewer's jobs, read back for the viewer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from core.errors import ClientError
from core.relay import InvalidGlobalId, parse_global_id
from resolvers.live import require_actor, viewer_events
from schema.common import Ctx
from schema.jobs import BackgroundJob
from schema.live import LiveUpdatesStatus
from services.jobs import JOBS_TOPIC

BackgroundJobEvent = Annotated[
    BackgroundJob | LiveUpdatesStatus,
    strawberry.union(
        "BackgroundJobEvent",
        description="A message of `backgroundJobUpdates`: a job as it is after a change, or the status of the stream.",
    ),
]


async def _only(info: Ctx, job_id: str | None) -> uuid.UUID | None:
    """The one job asked for, checked: another user's job answers like one that doesn't exist."""
    require_actor(info)
    if job_id is None:
        return None
    try:
        pk = parse_global_id(job_id, "BackgroundJob")
    except InvalidGlobalId as exc:
        raise ClientError("`id` is not the ID of a BackgroundJob", "INVALID_ID", argument="id") from exc
    if await info.context.loaders.jobs.background_job_by_id.load(pk) is None:
        raise ClientError("No background job with this `id`", "NOT_FOUND", argument="id")
    return pk


@strawberry.type(description="Background jobs, live.")
class JobSubscription:
    @strawberry.subscription(
        description="The viewer's background jobs as they change: queued, running (with progress), retrying, "
        "succeeded (with the result) or failed (with the error); the first message is a STARTED status. "
        "`id` narrows to one job. Jobs run by a worker in another process arrive when the servers share "
        "Redis (`REDIS_URL`)."
    )
    async def background_job_updates(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID | None, strawberry.argument(description="Only this job.")] = None,
    ) -> AsyncGenerator[BackgroundJobEvent, None]:
        only = await _only(info, id)
        async for item in viewer_events(info, JOBS_TOPIC):
            if isinstance(item, LiveUpdatesStatus):
                yield item
                continue
            pk = uuid.UUID(item["id"])
            if only is not None and pk != only:
                continue
            row = await info.context.loaders.jobs.background_job_by_id.load(pk)
            if row is not None:
                yield BackgroundJob.from_row(row)
