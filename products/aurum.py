"""Aurum Life: pillars, areas, projects, tasks, journal and resources."""

from __future__ import annotations

from core.products import NodeType, Product
from loaders import Loaders
from loaders.aurum import AurumLoaders
from resolvers.aurum import AurumMutation, AurumSubscription
from schema.aurum.types import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from schema.aurum.viewer import AurumViewerFields
from services import aurum
from services.demo import aurum_demo

AURUM = Product(
    name="aurum",
    mutation=AurumMutation,
    subscription=AurumSubscription,
    viewer=AurumViewerFields,
    types=(Pillar, Area, Project, Task, JournalEntry, JournalTemplate, Resource),
    node_types={
        "Pillar": NodeType[Loaders](lambda loaders: loaders.aurum.pillar_by_id, Pillar.from_row),
        "Area": NodeType[Loaders](lambda loaders: loaders.aurum.area_by_id, Area.from_row),
        "Project": NodeType[Loaders](lambda loaders: loaders.aurum.project_by_id, Project.from_row),
        "Task": NodeType[Loaders](lambda loaders: loaders.aurum.task_by_id, Task.from_row),
        "JournalEntry": NodeType[Loaders](lambda loaders: loaders.aurum.journal_entry_by_id, JournalEntry.from_row),
        "JournalTemplate": NodeType[Loaders](
            lambda loaders: loaders.aurum.journal_template_by_id, JournalTemplate.from_row
        ),
        "Resource": NodeType[Loaders](lambda loaders: loaders.aurum.resource_by_id, Resource.from_row),
    },
    loaders={"aurum": AurumLoaders},
    topics=(aurum.HIERARCHY_TOPIC,),
    demo=aurum_demo,
)
