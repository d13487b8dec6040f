"""The SQL form of the graph's types (core/sqljson.py): the root, the viewer and each product's,
derived from the kit's declarations (schema/kit.py); any other field keeps its query on the
resolvers."""

from __future__ import annotations

from core.sqljson import Computed, NodeLookup, SqlType
from resolvers.node import MAX_NODES
from schema import kit
from schema.aurum.types import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from schema.aurum.viewer import AurumViewerFields

KIT_TYPES: list[type] = [Pillar, Area, Project, Task, JournalEntry, JournalTemplate, Resource, AurumViewerFields]

SQL_TYPES: dict[str, SqlType] = {
    # Query.viewer (resolvers/identity.py) is the signed-in user; the SQL form runs only with one.
    # Query.node and Query.nodes (resolvers/node.py) read each type as its loader reads it
    # (`SqlType.readable`, from the type's read policy).
    "Query": SqlType(
        {
            "viewer": Computed(lambda row, compiler, selection: compiler.object(selection, None)),
            "node": NodeLookup("id"),
            "nodes": NodeLookup("ids", many=True, max_ids=MAX_NODES),
        }
    ),
    **kit.sql_types(KIT_TYPES),
}
