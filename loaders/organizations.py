"""Organization loaders beyond the kit's (which reads rows by id and pages of children): an
organization by its slug, read through the same policy (`core.access.readable`)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from core import access
from core.context import Actor
from core.reads import Shape
from loaders.base import SharedLoader
from models.organizations import Organization

_organizations: sa.Table = Organization.__table__  # type: ignore[attr-defined]

#: The readable organizations of a batch of slugs.
BY_SLUG = Shape(
    sa.select(_organizations).where(
        access.readable(_organizations),
        _organizations.c.slug == sa.any_(sa.bindparam("slugs", type_=ARRAY(sa.Text()))),
    )
)


class OrganizationLoaders:
    def __init__(self, engine: AsyncEngine, actor: Actor) -> None:
        self.engine = engine
        self.actor = actor

    @cached_property
    def organization_by_slug(self) -> DataLoader[str, Any]:
        params = access.access_params(self.actor)

        async def load(slugs: Sequence[str]) -> list[Any]:
            async with self.engine.connect() as conn:
                rows = await BY_SLUG.fetch(conn, {**params, "slugs": list(slugs)})
            by_slug = {row.slug: row for row in rows}
            return [by_slug.get(slug) for slug in slugs]

        return SharedLoader(load_fn=load)
