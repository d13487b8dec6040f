"""`node` and `nodes`: fetch any object by global ID, authorized object by object.

The types they answer are the registered products' node types (`Product.node_types`, assembled by
`core.products.Registry`), and the ones answered without a load (`unloaded`: the `Viewer`, which is
only ever the signed-in user's own). Every loader is scoped to the viewer, so another user's object
is simply absent: it answers `null`, exactly like an ID that never existed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import strawberry

from core.cost import ListSize
from core.errors import ClientError
from core.products import NodeType
from core.relay import InvalidGlobalId, from_global_id
from schema.common import Ctx, Node

MAX_NODES = 100


#: An object read without a load: (its primary key, the signed-in user's id) -> it, or None.
Unloaded = Callable[[uuid.UUID, uuid.UUID], Any]


def node_query(node_types: Mapping[str, NodeType[Any]], unloaded: Mapping[str, Unloaded] | None = None) -> type:
    """The root part holding `node` and `nodes`, answering the types of `node_types` and `unloaded`
    (by global-id key)."""
    unloaded = dict(unloaded or {})
    claimed = sorted(unloaded.keys() & node_types.keys())
    if claimed:
        raise TypeError(f"global-id keys claimed by a product and by the platform: {claimed}")

    async def load(info: Ctx, value: str, argument: str) -> Node | None:
        try:
            type_name, pk = from_global_id(value)
        except InvalidGlobalId as exc:
            raise ClientError(
                f"`{argument}` holds a value that is not a global ID", "INVALID_ID", argument=argument
            ) from exc
        actor = info.context.actor
        if actor is None:
            return None
        make = unloaded.get(type_name)
        if make is not None:  # the viewer: a signed-in user's only (an API client has none)
            return make(pk, actor.user_id) if actor.is_user else None
        source = node_types.get(type_name)
        if source is None:
            return None
        row = await source.loader(info.context.loaders).load(pk)
        return source.to_node(row) if row is not None else None

    async def resolve_node(
        info: Ctx, id: Annotated[strawberry.ID, strawberry.argument(description="A global ID.")]
    ) -> Node | None:
        return await load(info, id, "id")

    async def resolve_nodes(
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
        return list(await asyncio.gather(*(load(info, value, "ids") for value in ids)))

    @strawberry.type(description="Relay object lookup.")
    class NodeQuery:
        node: Node | None = strawberry.field(
            resolver=resolve_node,
            description="The object with this ID, or null if it does not exist or is not the viewer's.",
        )
        nodes: list[Node | None] = strawberry.field(
            resolver=resolve_nodes,
            description="The objects with these IDs, in order; null where `node` would be null.",
            # As many objects as `ids` holds (a list slicing argument counts its items).
            directives=[ListSize(slicing_arguments=["ids"])],
        )

    return NodeQuery
