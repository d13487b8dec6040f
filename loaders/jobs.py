"""Background-job loaders: jobs by id and pages of a user's jobs, scoped to the actor."""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from core.context import Actor
from core.pagination import Page
from loaders.base import PageKey, pages_by_parent, rows_by_id
from services import jobs


class JobLoaders:
    def __init__(self, engine: AsyncEngine, actor: Actor) -> None:
        self.engine = engine
        self.actor = actor

    @cached_property
    def background_job_by_id(self) -> DataLoader[uuid.UUID, Any]:
        return rows_by_id(self.engine, jobs.owned_jobs(self.actor))

    @cached_property
    def background_jobs_by_user(self) -> DataLoader[PageKey, Page]:
        return pages_by_parent(
            self.engine,
            jobs.owned_jobs(self.actor),
            parent_column="user_id",
            sorts=jobs.JOB_SORTS,
            conditions=jobs.job_conditions,
        )
