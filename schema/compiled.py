"""The SQL form of the graph's types (core/sqljson.py): the root, the viewer and each product's.

Only Aurum Life's hierarchy has one so far; any other field keeps its query on the resolvers.
"""

from __future__ import annotations

from core.sqljson import Computed, SqlType
from schema.aurum.compiled import SQL_TYPES as AURUM_TYPES
from schema.aurum.compiled import VIEWER_FIELDS as AURUM_VIEWER_FIELDS

# Query.viewer (resolvers/identity.py) is the signed-in user; the SQL form runs only with one.
SQL_TYPES: dict[str, SqlType] = {
    "Query": SqlType({"viewer": Computed(lambda row, compiler, selection: compiler.object(selection, None))}),
    "Viewer": SqlType(dict(AURUM_VIEWER_FIELDS)),
    **AURUM_TYPES,
}
