"""`Viewer`: every registered product's viewer fields, assembled by inheritance, and the root
field `viewer` that returns it (a platform part: `schema.build_schema` puts it first in `Query`).

The identity's own viewer fields are here too (`IdentityViewerFields`, registered by
`products.identity`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

import strawberry

from core.context import account_gone
from core.relay import to_global_id
from core.sqljson import python_only_type
from loaders.base import PageKey
from schema import kit
from schema.common import After, Before, Connection, Ctx, First, Last, Node, connection, read_page_args
from schema.identity import User
from schema.notifications import Notification, NotificationOrderBy
from schema.viewer_base import ViewerBase


@python_only_type(
    why="The account (non-null: an account that is gone is an error, which SQL can't raise) and its "
    "notifications, read through services/notifications.py."
)
@strawberry.type(description="The viewer's account and notifications.")
class IdentityViewerFields(ViewerBase):
    @strawberry.field(description="The signed-in user's profile.")
    async def user(self, info: Ctx) -> User:
        row = await kit.rows_of(info.context.loaders, User).load(self.user_pk)
        if row is None:
            raise account_gone()
        return User.from_row(row)

    @strawberry.field(description="The viewer's notifications from every product, newest first by default.")
    async def notifications(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        unread_only: Annotated[bool, strawberry.argument(description="Only unread ones.")] = False,
        product: Annotated[str | None, strawberry.argument(description="Only this product's.")] = None,
        order_by: Annotated[
            NotificationOrderBy, strawberry.argument(description="Order of the items.")
        ] = NotificationOrderBy.CREATED_AT_DESC,
    ) -> Connection[Notification]:
        args = read_page_args(info, first, after, last, before)
        flt = (unread_only, product) if unread_only or product is not None else None
        key = PageKey(self.user_pk, args, order_by.value, flt)
        return connection(await info.context.loaders.identity.notifications_by_user.load(key), Notification.from_row)

    @strawberry.field(description="How many of the viewer's notifications are unread.")
    async def unread_notification_count(self, info: Ctx) -> int:
        return await info.context.loaders.identity.unread_notifications_by_user.load(self.user_pk)


#: The type key of the viewer's global id, "Viewer:<user id>": its own, not the `User`'s, so that a
#: client cache that normalizes by type and id (Apollo's `Viewer:<id>`) merges every query of the
#: viewer into one object, and keeps it apart from the `User` object of the same account.
VIEWER_KEY = "Viewer"


def viewer_root(parts: Sequence[type[ViewerBase]]) -> tuple[type, type]:
    """The root part holding `viewer`, and its type `Viewer`: a `Node` with the fields of `parts`
    in order."""
    viewer_type: Any = strawberry.type(
        type("Viewer", (*(tuple(parts) or (ViewerBase,)), Node), {}),
        description="The signed-in user's entry point to their own data in every product.",
    )

    def viewer(info: Ctx) -> ViewerBase | None:
        actor = info.context.actor
        # A signed-in user's; an API client (or anyone else not a user) has no viewer.
        return viewer_of(viewer_type, actor.user_id) if actor is not None and actor.is_user else None

    namespace = {
        "__annotations__": {"viewer": viewer_type | None},
        "viewer": strawberry.field(
            resolver=viewer, description="The signed-in user's data; null when no access token was sent."
        ),
    }
    return strawberry.type(type("ViewerQuery", (), namespace), description="The viewer."), viewer_type


def viewer_of(viewer_type: Any, user_pk: uuid.UUID) -> Any:
    """The `Viewer` of the signed-in user `user_pk`."""
    return viewer_type(user_pk=user_pk, id=to_global_id(VIEWER_KEY, user_pk))
