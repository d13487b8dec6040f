"""What the donation tests share: an app with the donation webhooks' secrets served by uvicorn on
loopback, deliveries signed by the providers' own libraries, and campaigns made directly."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import stripe
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from core.relay import from_global_id
from models.organizations import Membership, Organization
from tests.conftest import make_settings
from tests.factories import insert_rows
from tests.live.conftest import LiveServer, running_app, serve

ACTBLUE_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
STRIPE_SECRET = "whsec_" + secrets.token_hex(16)
ACTBLUE = "/webhooks/akashic/actblue"
STRIPE = "/webhooks/akashic/stripe"


@asynccontextmanager
async def donations_server(database_url: str, data_dir: Path) -> AsyncIterator[LiveServer]:
    """The app, with both donation endpoints' secrets, on a real socket."""
    settings = make_settings(
        database_url,
        data_dir,
        akashic_actblue_webhook_secret=ACTBLUE_SECRET,
        akashic_stripe_webhook_secret=STRIPE_SECRET,
    )
    async with running_app(settings) as app, serve(app) as server:
        yield server


@dataclass(frozen=True)
class Signed:
    body: bytes
    headers: dict[str, str]


def actblue(
    payload: dict[str, Any],
    *,
    delivery_id: str | None = None,
    at: float | None = None,
    secret: str = ACTBLUE_SECRET,
) -> Signed:
    """A Standard Webhooks delivery, signed by the `standardwebhooks` library."""
    body = json.dumps(payload)
    msg_id = delivery_id or f"msg_{uuid.uuid4().hex}"
    moment = datetime.fromtimestamp(at if at is not None else time.time(), UTC)
    signature = Webhook(secret).sign(msg_id, moment, body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return Signed(body.encode(), headers)


def stripe_delivery(event: dict[str, Any], *, at: int | None = None, secret: str = STRIPE_SECRET) -> Signed:
    """A Stripe event, signed by the `stripe` library's own header generator."""
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=at)
    return Signed(body.encode(), {"stripe-signature": header, "content-type": "application/json"})


async def post(client: httpx.AsyncClient, path: str, signed: Signed) -> httpx.Response:
    return await client.post(path, content=signed.body, headers=signed.headers)


def donor(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": f"grace-{uuid.uuid4().hex[:10]}@example.com",
        "address": {"street": "1 Navy Way", "city": "Arlington", "state": "va", "zip": "22201"},
        "employer": "US Navy",
        "occupation": "Rear Admiral",
    }
    values.update(overrides)
    return values


def donation_created(
    campaign: uuid.UUID,
    amount_cents: int,
    *,
    donation_id: str | None = None,
    who: dict[str, Any] | None = None,
    received_at: str = "2026-03-02T15:04:05Z",
) -> dict[str, Any]:
    return {
        "type": "donation.created",
        "data": {
            "campaign_id": str(campaign),
            "donation": {
                "id": donation_id or f"AB{uuid.uuid4().hex[:12]}",
                "amount_cents": amount_cents,
                "received_at": received_at,
            },
            "donor": who or donor(),
        },
    }


def donation_reversed(
    campaign: uuid.UUID,
    donation_id: str,
    amount_cents: int,
    *,
    kind: str = "refunded",
    at: str = "2026-04-01T10:00:00Z",
) -> dict[str, Any]:
    return {
        "type": f"donation.{kind}",
        "data": {
            "campaign_id": str(campaign),
            "donation_id": donation_id,
            "reversal": {"id": f"R{uuid.uuid4().hex[:10]}", "amount_cents": amount_cents, "at": at},
        },
    }


def user_pk(global_id: str) -> uuid.UUID:
    return from_global_id(global_id)[1]


async def create_campaign(session: AsyncSession, members: dict[str, str], *, kind: str = "campaign") -> uuid.UUID:
    """A campaign (an organization of kind `campaign`) with `members` (User global id -> role),
    written directly and committed."""
    pk = uuid.uuid4()
    await insert_rows(
        session, Organization, [{"id": pk, "name": "Friends of Ada", "slug": f"ada-{pk.hex[:16]}", "kind": kind}]
    )
    await insert_rows(
        session,
        Membership,
        [{"id": uuid.uuid4(), "organization_id": pk, "user_id": user_pk(u), "role": r} for u, r in members.items()],
    )
    await session.commit()
    return pk
