"""Akashic, the political campaign console (see `services/akashic`): its kind of organization,
`campaign`, with the staff roles; its types, root parts and jobs join here as they are built."""

from __future__ import annotations

from core.products import Product
from core.webhooks import WebhookEndpoint, WebhookScheme
from resolvers.akashic_donations import DonationQuery, DonationSubscription
from schema import kit
from schema.akashic_donations import TYPES as DONATION_TYPES
from services.akashic import CAMPAIGN, donations

# ---- donations (h-donations): donors, donations, the ledger, the FEC report, the ticker, webhooks
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
# ---- end of donations

AKASHIC = Product(
    name="akashic",
    organization_kinds=(CAMPAIGN,),
    # donations (h-donations)
    query=DonationQuery,
    subscription=DonationSubscription,
    types=DONATION_TYPES,
    node_types=kit.node_types(DONATION_TYPES),
    topics=(donations.DONATIONS_TOPIC,),
    webhooks=DONATION_WEBHOOKS,
)
