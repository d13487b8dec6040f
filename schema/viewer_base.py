"""The base every product's viewer fields extend; `schema.viewer` assembles them."""

from __future__ import annotations

import uuid

import strawberry


@strawberry.type(description="The signed-in user's entry point.")
class ViewerBase:
    user_pk: strawberry.Private[uuid.UUID]
