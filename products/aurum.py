"""Aurum Life: pillars, areas, projects, tasks, journal and resources."""

from __future__ import annotations

from core.products import Product
from loaders.aurum import AurumLoaders
from resolvers.aurum import AurumMutation, AurumSubscription
from schema import kit
from schema.aurum.types import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from schema.aurum.viewer import AurumViewerFields
from services import aurum
from services.demo import aurum_demo

TYPES = (Pillar, Area, Project, Task, JournalEntry, JournalTemplate, Resource)

AURUM = Product(
    name="aurum",
    mutation=AurumMutation,
    subscription=AurumSubscription,
    viewer=AurumViewerFields,
    types=TYPES,
    node_types=kit.node_types(TYPES),
    loaders={"aurum": AurumLoaders},
    topics=(aurum.HIERARCHY_TOPIC,),
    demo=aurum_demo,
    test_world="tests.aurum.world:AURUM_WORLD",
)
