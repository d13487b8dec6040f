"""The SQL form of the graph's types (core/sqljson.py): the root, the viewer and each registered
product's, derived from the kit's declarations (schema/kit.py); any other field keeps its query on
the resolvers."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from core.access import viewer_param
from core.products import Product
from core.sqljson import Computed, Leaf, NodeLookup, SqlType, global_id
from resolvers.node import MAX_NODES
from schema import kit
from schema.viewer import VIEWER_KEY


def kit_types(products: Sequence[Product]) -> list[type]:
    """The kit types of the products: their types and their viewer fields."""
    found: list[type] = []
    for product in products:
        for cls in (*product.types, *product.parts_of("viewer"), *product.parts_of("query")):
            if kit.is_kit_type(cls) and cls not in found:
                found.append(cls)
    return found


def sql_types(products: Sequence[Product]) -> dict[str, SqlType]:
    types = kit.sql_types(kit_types(products))
    viewer = types.pop("Viewer", SqlType({}))
    root = types.pop("Query", SqlType({}))
    return {
        # Query.viewer (schema/viewer.py) is the signed-in user; the SQL form runs only with one.
        # Query.node and Query.nodes (resolvers/node.py) read each type as its loader reads it
        # (`SqlType.readable`, from the type's read policy).
        # The products' root fields (`kit.lookup`: `organization(slug:)`) read through their policies.
        "Query": SqlType(
            {
                **root.fields,
                # null for an actor that is no user (an API client): no viewer id is bound
                "viewer": Computed(
                    lambda row, compiler, selection: sa.case(
                        (viewer_param().is_not(None), compiler.object(selection, None)), else_=sa.null()
                    )
                ),
                "node": NodeLookup("id"),
                "nodes": NodeLookup("ids", many=True, max_ids=MAX_NODES),
            }
        ),
        **types,
        # `Viewer.id` is the viewer's own (schema/viewer.py), the other fields its products'. It has
        # no table: `node(id:)` reads it for the viewer's own id only, as resolvers/node.py does.
        "Viewer": SqlType(
            {"id": Leaf(lambda row: global_id(VIEWER_KEY, viewer_param())), **viewer.fields},
            type_key=VIEWER_KEY,
            identifies=lambda pk: pk == viewer_param(),
        ),
    }


def _registered() -> dict[str, SqlType]:
    from products import PRODUCTS

    return sql_types(PRODUCTS)


#: The SQL form of the registered products' types.
SQL_TYPES: dict[str, SqlType] = _registered()
