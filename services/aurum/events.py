"""Live events of Aurum Life's hierarchy: what its subscriptions hear after a committed change."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from core.context import Actor
from core.events import publish_after_commit, user_channel
from services.inputs import utcnow

HIERARCHY_TOPIC = "aurum.hierarchy"

#: The hierarchy's levels (by model name, which is also the GraphQL type name) and the column
#: that points at each one's parent.
HIERARCHY_PARENT: dict[str, str | None] = {
    "Pillar": None,
    "Area": "pillar_id",
    "Project": "area_id",
    "Task": "project_id",
}


def publish_hierarchy_change(
    session: AsyncSession,
    actor: Actor,
    obj: Any,
    change: str,
    *,
    previous_parent: uuid.UUID | None = None,
    model: type[SQLModel] | None = None,
) -> None:
    """After commit, tell the owner's subscriptions that a pillar, area, project or task changed
    (any other object: nothing).

    The event carries ids only: the node, its parent (whose chain up to the pillar is what the
    change moves the progress of) and, after a move, the parent it left. `obj` is a model object,
    or a row that a write statement returned, with its `model`.
    """
    node_type = (model or type(obj)).__name__
    if node_type not in HIERARCHY_PARENT:
        return
    parent_column = HIERARCHY_PARENT[node_type]
    parents = [getattr(obj, parent_column), previous_parent] if parent_column else []
    publish_after_commit(
        session,
        user_channel(actor.user_id),
        {
            "topic": HIERARCHY_TOPIC,
            "user": str(actor.user_id),
            "type": node_type,
            "id": str(obj.id),
            "change": change,
            "parents": [str(p) for p in dict.fromkeys(parents) if p is not None],
            "at": utcnow().isoformat(),
        },
    )
