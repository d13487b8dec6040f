"""The SQL form of the graph's types (core/sqljson.py): the root, the viewer and each product's.

Only Aurum Life's types have one so far; any other field keeps its query on the resolvers.
"""

from __future__ import annotations

from core.sqljson import Computed, NodeLookup, SqlType
from resolvers.node import MAX_NODES
from schema.aurum.compiled import SQL_TYPES as AURUM_TYPES
from schema.aurum.compiled import VIEWER_FIELDS as AURUM_VIEWER_FIELDS

# Query.viewer (resolvers/identity.py) is the signed-in user; the SQL form runs only with one.
SQL_TYPES: dict[str, SqlType] = {
    # Query.node and Query.nodes (resolvers/node.py) read each type through its loader, scoped
    # as `SqlType.readable` scopes it: the types declared with a table are read the same way.
    "Query": SqlType(
        {
            "viewer": Computed(lambda row, compiler, selection: compiler.object(selection, None)),
            "node": NodeLookup("id"),
            "nodes": NodeLookup("ids", many=True, max_ids=MAX_NODES),
        }
    ),
    "Viewer": SqlType(dict(AURUM_VIEWER_FIELDS)),
    **AURUM_TYPES,
}
