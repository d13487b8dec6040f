"""The SQL form of the graph's types (core/sqljson.py): the root, the viewer and each product's,
derived from the kit's declarations (schema/kit.py); any other field keeps its query on the
resolvers."""

from __future__ import annotations

from core.sqljson import Computed, SqlType
from schema import kit
from schema.aurum.types import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from schema.aurum.viewer import AurumViewerFields

KIT_TYPES: list[type] = [Pillar, Area, Project, Task, JournalEntry, JournalTemplate, Resource, AurumViewerFields]

# Query.viewer (resolvers/identity.py) is the signed-in user; the SQL form runs only with one.
SQL_TYPES: dict[str, SqlType] = {
    "Query": SqlType({"viewer": Computed(lambda row, compiler, selection: compiler.object(selection, None))}),
    **kit.sql_types(KIT_TYPES),
}
