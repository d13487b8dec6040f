"""Aurum Life live updates: changes to the viewer's pillars, areas, projects and tasks."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.aurum.types import Area, Pillar, Project, Task
from schema.live import LiveUpdatesStatus, NodeChangeKind

AurumHierarchyNode = Annotated[
    Pillar | Area | Project | Task,
    strawberry.union("AurumHierarchyNode", description="A pillar, an area, a project or a task."),
]


@strawberry.enum(description="The levels of the Aurum Life hierarchy.")
class AurumHierarchyType(Enum):
    PILLAR = strawberry.enum_value("Pillar", description="Pillars.")
    AREA = strawberry.enum_value("Area", description="Areas.")
    PROJECT = strawberry.enum_value("Project", description="Projects.")
    TASK = strawberry.enum_value("Task", description="Tasks.")


@strawberry.type(description="One of the viewer's pillars, areas, projects or tasks was created, changed or deleted.")
class AurumHierarchyChange:
    change: NodeChangeKind = strawberry.field(description="What happened to the node.")
    node_type: AurumHierarchyType = strawberry.field(description="Which level of the hierarchy the node is.")
    node_id: strawberry.ID = strawberry.field(description="Global ID of the node (also when it was deleted).")
    node: AurumHierarchyNode | None = strawberry.field(
        description="The node as it is now, read for the viewer; null when it was deleted."
    )
    ancestors: list[AurumHierarchyNode] = strawberry.field(
        description="The nodes above it as they are now, nearest first (for a task: its project, area and "
        "pillar), then, after a move, the ones it left. Their `progress` includes the change."
    )
    occurred_at: datetime = strawberry.field(description="When the change was made.")


AurumHierarchyEvent = Annotated[
    AurumHierarchyChange | LiveUpdatesStatus,
    strawberry.union(
        "AurumHierarchyEvent",
        description="A message of `aurumHierarchyChanges`: a change, or the status of the stream.",
    ),
]
