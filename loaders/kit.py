"""The loaders of kit types (schema/kit.py): rows by id per table and pages per relation, each
read through the type's read policy and built on first use in a request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from core.access import access_params, readable_rows
from core.context import Actor
from core.pagination import Page
from loaders.base import PageKey, pages_by_parent, rows_by_id

if TYPE_CHECKING:  # the kit's types import the schema, which imports the loaders
    from schema.kit import Relation, TypeSpec


class KitLoaders:
    def __init__(self, engine: AsyncEngine, actor: Actor) -> None:
        self.engine = engine
        self.actor = actor
        self.built: dict[Any, DataLoader[Any, Any]] = {}

    def rows(self, spec: TypeSpec, column: str = "id") -> DataLoader[Any, Any]:
        """The type's readable rows by primary key, or by another unique `column` (`kit.lookup`)."""
        key = spec if column == "id" else (spec, column)
        loader = self.built.get(key)
        if loader is None:
            loader = rows_by_id(self.engine, readable_rows(spec.table), access_params(self.actor), column=column)
            self.built[key] = loader
        return loader

    def pages(self, relation: Relation) -> DataLoader[PageKey, Page]:
        loader = self.built.get(relation)
        if loader is None:
            flt = relation.filter
            loader = pages_by_parent(
                self.engine,
                readable_rows(relation.child.table),
                parent_column=relation.key,
                sorts=dict(relation.sorts),
                filter=flt,
                params=access_params(self.actor),
            )
            self.built[relation] = loader
        return loader

    def release(self) -> list[DataLoader[Any, Any]]:
        """Forget every loader built so far and return them (see `loaders.Loaders.release`)."""
        released = list(self.built.values())
        self.built.clear()
        return released
