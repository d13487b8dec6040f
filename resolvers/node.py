"""`node` and `nodes`: fetch any object by global ID, authorized object by object.

Every loader is scoped to the viewer, so another user's object is simply absent: it answers
`null`, exactly like an ID that never existed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

import strawberry
from strawberry.dataloader import DataLoader

from core.errors import ClientError
from core.relay import InvalidGlobalId, from_global_id
from loaders import Loaders
from schema import kit
from schema.aurum.types import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from schema.common import Ctx, Node
from schema.identity import User
from schema.insights import Insight, InsightRule
from schema.jobs import BackgroundJob
from schema.notifications import Notification

MAX_NODES = 100

NodeSource = tuple[Callable[[Loaders], DataLoader[Any, Any]], Callable[[Any], Node]]

NODE_TYPES: dict[str, NodeSource] = {
    "User": (lambda loaders: loaders.identity.user_by_id, User.from_row),
    "Notification": (lambda loaders: loaders.identity.notification_by_id, Notification.from_row),
    "BackgroundJob": (lambda loaders: loaders.jobs.background_job_by_id, BackgroundJob.from_row),
    "Insight": (lambda loaders: loaders.insights.insight_by_id, Insight.from_row),
    "InsightRule": (lambda loaders: loaders.insights.insight_rule_by_id, InsightRule.from_row),
    **kit.node_sources([Pillar, Area, Project, Task, JournalEntry, JournalTemplate, Resource]),
}


async def _load(info: Ctx, value: str, argument: str) -> Node | None:
    try:
        type_name, pk = from_global_id(value)
    except InvalidGlobalId as exc:
        raise ClientError(
            f"`{argument}` holds a value that is not a global ID", "INVALID_ID", argument=argument
        ) from exc
    source = NODE_TYPES.get(type_name)
    if source is None or info.context.actor is None:
        return None
    loader, to_node = source
    row = await loader(info.context.loaders).load(pk)
    return to_node(row) if row is not None else None


async def node(info: Ctx, id: Annotated[strawberry.ID, strawberry.argument(description="A global ID.")]) -> Node | None:
    return await _load(info, id, "id")


async def nodes(
    info: Ctx,
    ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global IDs, at most 100.")],
) -> list[Node | None]:
    if len(ids) > MAX_NODES:
        raise ClientError(
            f"`ids` holds {len(ids)} IDs, above the maximum of {MAX_NODES}",
            "TOO_MANY_IDS",
            argument="ids",
            limit="maxNodes",
            value=MAX_NODES,
        )
    # gather, so that the loaders see every key before they run: one statement per type.
    return list(await asyncio.gather(*(_load(info, value, "ids") for value in ids)))


@strawberry.type(description="Relay object lookup.")
class NodeQuery:
    node: Node | None = strawberry.field(
        resolver=node, description="The object with this ID, or null if it does not exist or is not the viewer's."
    )
    nodes: list[Node | None] = strawberry.field(
        resolver=nodes, description="The objects with these IDs, in order; null where `node` would be null."
    )
