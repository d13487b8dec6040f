"""Akashic, the political campaign console: its kind of organization, `campaign`, with the staff
roles (`services/akashic`), and its parts, each in its own modules: campaigns, staff and versioned
messages; donations, the ledger, the FEC report and their webhooks; the knowledge base; contacts,
sending through SendGrid and Twilio and their delivery-status webhooks; the AI analyses of message
versions."""

from __future__ import annotations

from datetime import datetime

from core.products import PeriodicTask, Product
from core.webhooks import WebhookEndpoint, WebhookScheme
from loaders.akashic import AkashicLoaders
from loaders.akashic_sending import SendingLoaders
from resolvers.akashic import AkashicMutation, AkashicSubscription, AkashicViewerFields
from resolvers.akashic_analysis import AnalysisMutation
from resolvers.akashic_coediting import CoeditingMutation, CoeditingSubscription
from resolvers.akashic_donations import DonationQuery, DonationSubscription
from resolvers.akashic_knowledge import KnowledgeMutation, KnowledgeQuery
from resolvers.akashic_sending import SendingMutation
from resolvers.akashic_unsubscribe import ROUTES as UNSUBSCRIBE_ROUTES
from schema import kit
from schema.akashic.types import (
    Campaign,
    CampaignContact,
    Message,
    MessageDelivery,
    MessageDeliveryStats,
    MessageTransition,
    MessageTransitionError,
    MessageVersion,
    MessageVersionConflictError,
)
from schema.akashic_analysis import TYPES as ANALYSIS_TYPES
from schema.akashic_donations import TYPES as DONATION_TYPES
from schema.akashic_knowledge import KnowledgeDocument, KnowledgeSearchHit
from services.akashic import CAMPAIGN, analysis, donations, drafts, knowledge, presence, scheduled, sending
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


# --- sending: contacts, deliveries through SendGrid and Twilio, their status webhooks
SENDING_TYPES = (CampaignContact, MessageDelivery)
SENDING_WEBHOOKS = (
    WebhookEndpoint(
        path=sending.SENDGRID_WEBHOOK,
        scheme=WebhookScheme.SENDGRID_EVENTS,
        secret=lambda settings: settings.akashic_sendgrid_webhook_public_key,
        handle=sending.handle_sendgrid_events,
        description="SendGrid's signed Event Webhook: email delivered, opened, clicked, bounced, dropped, unsubscribed",
    ),
    WebhookEndpoint(
        path=sending.TWILIO_WEBHOOK,
        scheme=WebhookScheme.TWILIO,
        secret=lambda settings: settings.twilio_auth_token,
        handle=sending.handle_twilio_status,
        description="Twilio's status callbacks of text messages (X-Twilio-Signature)",
    ),
    WebhookEndpoint(
        path=sending.TWILIO_INBOUND_WEBHOOK,
        scheme=WebhookScheme.TWILIO,
        secret=lambda settings: settings.twilio_auth_token,
        handle=sending.handle_twilio_inbound,
        description="Twilio's incoming text messages (X-Twilio-Signature): STOP opts the sender out of SMS, "
        "START back in",
    ),
)

# --- live co-editing of drafts and presence (resolvers/akashic_coediting.py, services/akashic/{drafts,presence}.py)

# --- knowledge base: search, documents, re-embedding on a provider change
KNOWLEDGE_TYPES = (KnowledgeDocument, KnowledgeSearchHit)


async def reembed_knowledge(runtime: JobRuntime, at: datetime) -> int:
    """Embed again the knowledge chunks that another model made (KNOWLEDGE_REEMBED_SCHEDULE)."""
    return await knowledge.reembed_stale_chunks(runtime.sessions, runtime.ai)


KNOWLEDGE_PERIODIC = PeriodicTask(
    knowledge.REEMBED_TASK, reembed_knowledge, lambda settings: settings.knowledge_reembed_schedule or None
)

# --- AI analyses of message versions: the job, its node type (resolvers/akashic_analysis.py)
ANALYSIS_JOBS = {analysis.ANALYSIS_KIND: analysis.run_analysis}

# --- scheduled messages go out at their time (services/akashic/scheduled.py)
SEND_DUE_PERIODIC = PeriodicTask(
    scheduled.SEND_DUE_TASK, scheduled.send_due_messages, lambda settings: settings.akashic_send_schedule or None
)

NODE_TYPES = (*CAMPAIGN_TYPES, *DONATION_TYPES, *SENDING_TYPES, *ANALYSIS_TYPES)

AKASHIC = Product(
    name="akashic",
    query=(DonationQuery, KnowledgeQuery),
    mutation=(AkashicMutation, KnowledgeMutation, SendingMutation, AnalysisMutation, CoeditingMutation),
    subscription=(AkashicSubscription, DonationSubscription, CoeditingSubscription),
    viewer=AkashicViewerFields,
    types=(*NODE_TYPES, *CAMPAIGN_ERRORS, *KNOWLEDGE_TYPES, MessageDeliveryStats),
    node_types=kit.node_types(NODE_TYPES),
    topics=(akashic_messages.MESSAGES_TOPIC, donations.DONATIONS_TOPIC, drafts.DRAFTS_TOPIC, presence.PRESENCE_TOPIC),
    organization_kinds=(CAMPAIGN,),
    # Each subscriber's first message is the state as of its joining (the draft's, who is present):
    # never a shared stream, whose joiners would get the first subscriber's.
    own_streams=("messageDraft", "messagePresence"),
    webhooks=(*DONATION_WEBHOOKS, *SENDING_WEBHOOKS),
    routes=UNSUBSCRIBE_ROUTES,
    jobs={sending.SEND_KIND: sending.run_send, **ANALYSIS_JOBS},
    jobs_lost={analysis.ANALYSIS_KIND: analysis.analysis_lost, sending.SEND_KIND: sending.send_lost},
    periodic=(KNOWLEDGE_PERIODIC, SEND_DUE_PERIODIC),
    loaders={"akashic": AkashicLoaders, "akashic_sending": SendingLoaders},
    demo=akashic_demo,
    test_world="tests.akashic.world:AKASHIC_WORLD",
)
