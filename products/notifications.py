"""Notifications (a platform part): one type for every product's notices to the viewer.

Its loaders are part of the identity group (`loaders.identity`), and its viewer fields of
`IdentityViewerFields`.
"""

from __future__ import annotations

from core.products import NodeType, Product
from loaders import Loaders
from resolvers.notifications import NotificationMutation, NotificationSubscription
from schema.notifications import Notification
from services import notifications

NOTIFICATIONS = Product(
    name="notifications",
    mutation=NotificationMutation,
    subscription=NotificationSubscription,
    types=(Notification,),
    node_types={
        "Notification": NodeType[Loaders](
            lambda loaders: loaders.identity.notification_by_id, Notification.from_row, table="notifications"
        )
    },
    topics=(notifications.TOPIC,),
)
