"""Akashic, the political campaign console (see `services/akashic`): its kind of organization,
`campaign`, with the staff roles, and its parts.

Each part of Akashic adds its own lines, in a block of its own below (campaigns and messages; the
knowledge base; donations), so that they merge without touching each other's.
"""

from __future__ import annotations

from core.products import Product
from resolvers.akashic import AkashicMutation, AkashicSubscription, AkashicViewerFields
from schema import kit
from schema.akashic.types import (
    Campaign,
    Message,
    MessageTransition,
    MessageTransitionError,
    MessageVersion,
    MessageVersionConflictError,
)
from services.akashic import CAMPAIGN
from services.akashic import messages as akashic_messages
from services.akashic.demo import akashic_demo

# --- campaigns, staff and versioned messages (resolvers/akashic.py, services/akashic/{campaigns,messages}.py)
CAMPAIGN_TYPES = (Campaign, Message, MessageVersion, MessageTransition)
CAMPAIGN_ERRORS = (MessageVersionConflictError, MessageTransitionError)
# --- end of campaigns

AKASHIC = Product(
    name="akashic",
    mutation=AkashicMutation,
    subscription=AkashicSubscription,
    viewer=AkashicViewerFields,
    types=(*CAMPAIGN_TYPES, *CAMPAIGN_ERRORS),
    node_types=kit.node_types(CAMPAIGN_TYPES),
    topics=(akashic_messages.MESSAGES_TOPIC,),
    organization_kinds=(CAMPAIGN,),
    demo=akashic_demo,
)
