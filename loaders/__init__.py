"""The per-request loader container: built fresh for every request and connection.

A loader never outlives its request; one shared across requests would serve one user's
cached rows to another.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from core.context import Actor
from core.db import reader
from loaders.aurum import AurumLoaders
from loaders.identity import IdentityLoaders
from loaders.insights import InsightLoaders
from loaders.jobs import JobLoaders
from loaders.kit import KitLoaders

# Anonymous requests get loaders scoped to a user id that exists nowhere: they see nothing.
NOBODY = Actor(user_id=uuid.UUID(int=0), role="anonymous")


@dataclass
class Loaders:
    aurum: AurumLoaders
    identity: IdentityLoaders
    jobs: JobLoaders
    insights: InsightLoaders
    kit: KitLoaders

    def release(self) -> None:
        """Drop every loader built so far, with the rows cached in it.

        Called when a request is answered: graphql-core's execution context sits in a reference
        cycle that reaches the request's context, so without this a request's reads live on
        until the cyclic garbage collector finds them, and under load each collection then walks
        (and promotes) every in-flight request's rows. A loader used after this is built afresh.
        """
        for group in (self.aurum, self.identity, self.jobs, self.insights):
            held = vars(group)
            for name in [name for name, value in held.items() if isinstance(value, DataLoader)]:
                _acknowledge_failures(held.pop(name))
        for loader in self.kit.release():
            _acknowledge_failures(loader)


def _acknowledge_failures(loader: DataLoader[Any, Any]) -> None:
    """Mark the failed loads of a loader being dropped as seen, now or when they finish.

    A batch that fails (an invalid cursor) fails every key in it. graphql-core answers with the
    first error and stops awaiting the rest (and a compiled plan that gives up leaves its loaders
    behind): asyncio would log each unread failure as "exception was never retrieved" when the
    future is freed, though the error has already reached the client.
    """
    futures = getattr(getattr(loader, "cache_map", None), "cache_map", None) or {}
    for future in futures.values():
        if future.done():
            _seen(future)
        else:  # its batch is still running
            future.add_done_callback(_seen)


def _seen(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def build_loaders(engine: AsyncEngine, actor: Actor | None) -> Loaders:
    scoped_to = actor or NOBODY
    reads = reader(engine)
    return Loaders(
        aurum=AurumLoaders(reads, scoped_to),
        identity=IdentityLoaders(reads, scoped_to),
        jobs=JobLoaders(reads, scoped_to),
        insights=InsightLoaders(reads, scoped_to),
        kit=KitLoaders(reads, scoped_to),
    )
