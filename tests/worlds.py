"""Products' test worlds: what each registered product gives the differential tests.

A product names its world in its registration (`Product.test_world`, an import path
`module:name`, so that the application never imports the tests); the suites that compare the
one-statement form with graphql-core (tests/test_sqljson.py) build every registered product's
world and walk every declared field of every product's viewer fields.
"""

from __future__ import annotations

import importlib
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.products import Product

#: (input field, its GraphQL literal, its value as a variable) for a filter's fields.
FilterOption = tuple[str, str, Any]
#: (its GraphQL literal, its value as a variable) for an argument of a computed field.
ArgumentOption = tuple[str, Any]


@dataclass(frozen=True)
class ProductWorld:
    """`build(session, user_id, size)` makes one viewer's data (a larger `size`, more of it), with
    values that stress encoding (escapes, times with and without microseconds, every enum
    member) and returns the global IDs it made by type key; `filters` gives, per filter input
    type, the options a generator may send (the generator refuses a filter without them), and
    `arguments` the values it may send to each argument of a computed field (`Type.field(name)`)."""

    build: Callable[[AsyncSession, uuid.UUID, int], Awaitable[Mapping[str, list[str]]]]
    filters: Mapping[str, Callable[[random.Random], list[FilterOption]]] = field(default_factory=dict)
    arguments: Mapping[str, list[ArgumentOption]] = field(default_factory=dict)


def world_of(product: Product) -> ProductWorld | None:
    """The product's test world, imported from its registration's path."""
    if product.test_world is None:
        return None
    module, _, name = product.test_world.partition(":")
    world = getattr(importlib.import_module(module), name)
    assert isinstance(world, ProductWorld), f"{product.test_world} is not a ProductWorld"
    return world
