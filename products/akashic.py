"""Akashic, the political campaign console: its kind of organization, `campaign`, with the staff
roles (`services/akashic`), and its parts, each in its own modules: campaigns, staff and versioned
messages; donations, the ledger, the FEC report and their webhooks; the knowledge base."""

from __future__ import annotations

from datetime import datetime

from core.products import PeriodicTask, Product
from core.webhooks import WebhookEndpoint, WebhookScheme
from loaders.akashic import AkashicLoaders
from resolvers.akashic import AkashicMutation, AkashicSubscription, AkashicViewerFields
from resolvers.akashic_donations import DonationQuery, DonationSubscription
from resolvers.akashic_knowledge import KnowledgeMutation, KnowledgeQuery
from schema import kit
from schema.akashic.types import (
    Campaign,
    Message,
    MessageTransition,
    MessageTransitionError,
    MessageVersion,
    MessageVersionConflictError,
)
from schema.akashic_analysis import TYPES as ANALYSIS_TYPES
from schema.akashic_donations import TYPES as DONATION_TYPES
from schema.akashic_knowledge import KnowledgeDocument, KnowledgeSearchHit
from services.akashic import CAMPAIGN, donations, knowledge
from services.akashic import messages as akashic_messages
from services.akashic.demo import akashic_demo
from services.jobs import JobRuntime

# --- campaigns, staff and versioned messages (resolvers/akashic.py, services/akashic/{campaigns,messages}.py)
CAMPAIGN_TYPES = (Campaign, Message, MessageVersion, MessageTransition)
CAMPAIGN_ERRORS = (MessageVersionConflictError, MessageTransitionError)

# --- donations: donors, donations, the ledger, the FEC report, the ticker, their webhooks
DONATION_WEBHOOKS = (
    WebhookEndpoint(
        path="akashic/actblue",
        scheme=WebhookScheme.STANDARD_WEBHOOKS,
        secret=lambda settings: settings.akashic_actblue_webhook_secret,
        handle=donations.handle_actblue,
        description="ActBlue-style donations, refunds and chargebacks (Standard Webhooks signatures)",
    ),
    WebhookEndpoint(
        path="akashic/stripe",
        scheme=WebhookScheme.STRIPE,
        secret=lambda settings: settings.akashic_stripe_webhook_secret,
        handle=donations.handle_stripe,
        description="Stripe charges, refunds and disputes as donations (Stripe-Signature)",
    ),
)


# --- knowledge base: search, documents, re-embedding on a provider change
KNOWLEDGE_TYPES = (KnowledgeDocument, KnowledgeSearchHit)


async def reembed_knowledge(runtime: JobRuntime, at: datetime) -> int:
    """Embed again the knowledge chunks that another model made (KNOWLEDGE_REEMBED_SCHEDULE)."""
    return await knowledge.reembed_stale_chunks(runtime.sessions, runtime.ai)


KNOWLEDGE_PERIODIC = PeriodicTask(
    knowledge.REEMBED_TASK, reembed_knowledge, lambda settings: settings.knowledge_reembed_schedule or None
)

NODE_TYPES = (*CAMPAIGN_TYPES, *ANALYSIS_TYPES, *DONATION_TYPES)

AKASHIC = Product(
    name="akashic",
    query=(DonationQuery, KnowledgeQuery),
    mutation=(AkashicMutation, KnowledgeMutation),
    subscription=(AkashicSubscription, DonationSubscription),
    viewer=AkashicViewerFields,
    types=(*NODE_TYPES, *CAMPAIGN_ERRORS, *KNOWLEDGE_TYPES),
    node_types=kit.node_types(NODE_TYPES),
    topics=(akashic_messages.MESSAGES_TOPIC, donations.DONATIONS_TOPIC),
    organization_kinds=(CAMPAIGN,),
    webhooks=DONATION_WEBHOOKS,
    periodic=(KNOWLEDGE_PERIODIC,),
    loaders={"akashic": AkashicLoaders},
    demo=akashic_demo,
    test_world="tests.akashic.world:AKASHIC_WORLD",
)
