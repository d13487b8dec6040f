"""Inbound webhooks: one receiver for every product (Akashic's donations and delivery statuses
today; payments next).

A product registers its endpoints (`core.products.Product.webhooks`, a `WebhookEndpoint` each:
its path under `/webhooks/`, its signature scheme, the setting that holds its secret and its
handler); the registry refuses a path claimed twice. A delivery is answered so:

1. the endpoint must be registered and its secret configured (else 404 `WEBHOOK_NOT_FOUND`:
   nothing listens there), the body at most `MAX_BODY_BYTES` (413);
2. the signature is verified by the scheme's own library, never by hand: Standard Webhooks
   (`webhook-id`, `webhook-timestamp`, `webhook-signature`; the `standardwebhooks` package),
   Stripe's `Stripe-Signature` (`stripe.Webhook.construct_event`), SendGrid's signed Event Webhook
   (ECDSA over timestamp and body, `sendgrid.helpers.eventwebhook.EventWebhook`) or Twilio's
   `X-Twilio-Signature` (HMAC over the URL and the form, `twilio.request_validator.RequestValidator`).
   A signature that does not verify is a 401 `WEBHOOK_SIGNATURE_INVALID`; a timestamp outside
   `TOLERANCE_SECONDS` (five minutes, the libraries' tolerance) a 401
   `WEBHOOK_TIMESTAMP_OUTSIDE_TOLERANCE` (Twilio signs no timestamp);
3. the delivery's id (the `webhook-id`; the Stripe event's id; the SHA-256 of a SendGrid batch's
   signed timestamp and body; Twilio's `I-Twilio-Idempotency-Token`, else the SHA-256 of the URL
   and form) is recorded in
   `webhook_deliveries`, unique per endpoint, **in the same transaction** as the handler's work:
   a replay, or a second delivery of an event racing the first (the second
   insert waits on the first's unique index entry until that commits), finds the id taken and
   changes nothing, and is acknowledged: 200 `{"received": true, "deliveryId": ..., "replayed":
   true, "detail": ...}`. Every sender retries a delivery it got no 2xx for (Stripe for three
   days, SendGrid for 24 hours, Twilio and Standard Webhooks senders by their retry policy) and
   asks receivers to deduplicate by the event's id: a 409 only made them retry, and flag as
   failing, what was applied. A handler that refuses the event (`WebhookRefused`, e.g. an unknown
   campaign) rolls everything back, the id included, so the sender may deliver it again later;
4. the handler runs in one transaction as the webhook actor (`Actor.webhook`): the audit trail
   records it as such, while the database sees the system act (a verified sender reads nothing
   by policy; its handler names the rows its verified payload names). Events it publishes go out
   after the commit.

Answers are JSON: `{"received": true, "deliveryId": ...}` (200), or `{"error": {"code",
"message"}}`.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa
import stripe
from pydantic import SecretStr
from sendgrid.helpers.eventwebhook import EventWebhook
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field, SQLModel
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, RequestValidator, get_signature_algorithm

from core.context import Actor, AuditScope, request_id_of, run_unit_of_work
from core.db import CommitOutcomeUnknown, DatabaseUnavailable

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.settings import Settings

logger = logging.getLogger("quintet.webhooks")

#: How far a delivery's signed timestamp may be from now: Standard Webhooks' library fixes five
#: minutes, and Stripe's default is the same; one tolerance for every endpoint.
TOLERANCE_SECONDS = 300


class WebhookDelivery(SQLModel, table=True):
    """A delivery processed: its endpoint and id, unique together (the exactly-once guard)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.UniqueConstraint("endpoint", "delivery_id", name="uq_webhook_deliveries_endpoint_delivery_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    endpoint: str = Field(max_length=100, nullable=False)
    delivery_id: str = Field(max_length=255, nullable=False)
    event_type: str = Field(max_length=255, nullable=False)
    received_at: datetime = Field(
        default_factory=lambda: datetime.now(UTC),
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.now()},
        nullable=False,
    )


_deliveries = WebhookDelivery.__table__  # type: ignore[attr-defined]


class WebhookScheme(StrEnum):
    """How a sender signs its deliveries."""

    #: https://www.standardwebhooks.com (the ActBlue-style HMAC over id, timestamp and body).
    STANDARD_WEBHOOKS = "standard-webhooks"
    #: Stripe's `Stripe-Signature: t=...,v1=...`.
    STRIPE = "stripe"
    #: SendGrid's signed Event Webhook: a JSON array of events, ECDSA-signed with the timestamp.
    SENDGRID_EVENTS = "sendgrid-events"
    #: Twilio's `X-Twilio-Signature` over the URL and the form (status callbacks and the like).
    TWILIO = "twilio"


@dataclass(frozen=True)
class VerifiedDelivery:
    """A delivery whose signature verified: its id (unique per endpoint), its event type and
    its body: the JSON object; a SendGrid batch as `{"events": [...]}`; a Twilio request as
    `{"form": {...}, "query": {...}}` (the signed URL's query parameters)."""

    endpoint: str
    delivery_id: str
    event_type: str
    payload: Mapping[str, Any]


class WebhookRefused(Exception):
    """A delivery answered with an HTTP error: `status`, a `code` a sender's operator can act on."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def unprocessable(code: str, message: str) -> WebhookRefused:
    """What a handler raises for an authentic event it can't apply (422; nothing is recorded, so
    the sender may deliver it again)."""
    return WebhookRefused(422, code, message)


#: Applies a verified delivery in the receiver's transaction (flush, never commit).
WebhookHandler = Callable[["AsyncSession", VerifiedDelivery], Awaitable[None]]


@dataclass(frozen=True)
class WebhookEndpoint:
    """One registered endpoint: `POST /webhooks/<path>`."""

    #: Under `/webhooks/`, e.g. `akashic/actblue`; unique across the products.
    path: str
    scheme: WebhookScheme
    #: Its signing secret (SendGrid's: its public verification key), from the settings (None: not
    #: configured, the endpoint answers 404).
    secret: Callable[[Settings], SecretStr | str | None]
    handle: WebhookHandler
    description: str = ""


def _signature_invalid(detail: str) -> WebhookRefused:
    return WebhookRefused(401, "WEBHOOK_SIGNATURE_INVALID", f"The signature does not verify: {detail}")


def _stale() -> WebhookRefused:
    return WebhookRefused(
        401,
        "WEBHOOK_TIMESTAMP_OUTSIDE_TOLERANCE",
        f"The signed timestamp is more than {TOLERANCE_SECONDS} seconds from now: a stale or replayed delivery",
    )


def _malformed(detail: str) -> WebhookRefused:
    return WebhookRefused(400, "WEBHOOK_MALFORMED", detail)


def verify_standard_webhook(
    endpoint: str, secret: str, body: bytes, headers: Mapping[str, str], url: str
) -> VerifiedDelivery:
    """Standard Webhooks, by the `standardwebhooks` library."""
    try:
        verifier = StandardWebhook(secret)
    except (binascii.Error, ValueError) as exc:  # a secret that is no base64: the operator's mistake
        raise RuntimeError(f"the signing secret of /webhooks/{endpoint} is not a Standard Webhooks secret") from exc
    try:
        verifier.verify(body, dict(headers), json_parse=False)
    except WebhookVerificationError as exc:
        if "timestamp too" in str(exc):
            raise _stale() from exc
        raise _signature_invalid(str(exc)) from exc
    except (ValueError, binascii.Error) as exc:
        # A signature header that isn't `v1,<base64>`, a body that isn't UTF-8.
        raise _signature_invalid("malformed signature header or body") from exc
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise _malformed("The body is not JSON") from exc
    if not isinstance(payload, dict):
        raise _malformed("The body must be a JSON object")
    event_type = payload.get("type")
    if not isinstance(event_type, str):
        raise _malformed("The body must name its event `type`")
    return VerifiedDelivery(endpoint, headers["webhook-id"], event_type, payload)


def verify_stripe(endpoint: str, secret: str, body: bytes, headers: Mapping[str, str], url: str) -> VerifiedDelivery:
    """Stripe's signature, by `stripe.Webhook.construct_event`."""
    try:
        event = stripe.Webhook.construct_event(
            body, headers.get("stripe-signature"), secret, tolerance=TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as exc:
        if "tolerance" in str(exc):
            raise _stale() from exc
        raise _signature_invalid(str(exc).split(".")[0]) from exc
    except ValueError as exc:  # verified, yet not a Stripe event (not JSON, a thin event)
        raise _malformed("The body is not a Stripe event") from exc
    payload = event.to_dict()
    if not isinstance(payload.get("id"), str) or not isinstance(payload.get("type"), str):
        raise _malformed("A Stripe event has an `id` and a `type`")
    return VerifiedDelivery(endpoint, payload["id"], payload["type"], payload)


SENDGRID_SIGNATURE = "x-twilio-email-event-webhook-signature"
SENDGRID_TIMESTAMP = "x-twilio-email-event-webhook-timestamp"


def verify_sendgrid_events(
    endpoint: str, public_key: str, body: bytes, headers: Mapping[str, str], url: str
) -> VerifiedDelivery:
    """SendGrid's signed Event Webhook, by the `sendgrid` package's `EventWebhook` (ECDSA P-256
    over the timestamp header and the body). The library checks no age: the timestamp is held to
    `TOLERANCE_SECONDS` here, as the other schemes' libraries do."""
    try:
        verifier = EventWebhook(public_key)
    except ValueError as exc:  # not a key: the operator's mistake
        raise RuntimeError(f"the verification key of /webhooks/{endpoint} is not a SendGrid public key") from exc
    signature, timestamp = headers.get(SENDGRID_SIGNATURE), headers.get(SENDGRID_TIMESTAMP)
    if not signature or not timestamp:
        raise _signature_invalid("missing signature or timestamp header")
    try:
        text = body.decode("utf-8")
        verified = verifier.verify_signature(text, signature, timestamp)
    except (ValueError, binascii.Error) as exc:  # a body that isn't UTF-8, a signature that isn't base64
        raise _signature_invalid("malformed signature header or body") from exc
    if not verified:
        raise _signature_invalid("no valid signature for this payload and timestamp")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        raise _stale()
    try:
        events = json.loads(text)
    except ValueError as exc:
        raise _malformed("The body is not JSON") from exc
    if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
        raise _malformed("The body must be a JSON array of events")
    digest = hashlib.sha256(timestamp.encode() + b"." + body).hexdigest()
    return VerifiedDelivery(endpoint, f"sha256:{digest}", "sendgrid.events", {"events": events})


TWILIO_SIGNATURE = "x-twilio-signature"
TWILIO_IDEMPOTENCY_TOKEN = "i-twilio-idempotency-token"


def verify_twilio(
    endpoint: str, auth_token: str, body: bytes, headers: Mapping[str, str], url: str
) -> VerifiedDelivery:
    """Twilio's `X-Twilio-Signature`, by `twilio.request_validator.RequestValidator`: an HMAC of
    the URL Twilio requested (its query included) and the form's parameters, with the auth token
    (HMAC-SHA1, or the algorithm `X-Twilio-Webhooks-Signature-Settings` names)."""
    signature = headers.get(TWILIO_SIGNATURE)
    if not signature:
        raise _signature_invalid("missing X-Twilio-Signature header")
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body)))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _signature_invalid("the body is not a form") from exc
    algorithm = get_signature_algorithm(headers.get(SIGNATURE_SETTINGS_HEADER))
    if not RequestValidator(auth_token).validate(url, form, signature, algorithm):
        raise _signature_invalid("no valid signature for this URL and form")
    query = dict(parse_qsl(url.partition("?")[2], keep_blank_values=True))
    token = headers.get(TWILIO_IDEMPOTENCY_TOKEN)
    if not token:  # the same event is the same URL and form
        canonical = json.dumps([url, sorted(form.items())], separators=(",", ":"))
        token = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    event_type = form.get("MessageStatus") or form.get("CallStatus") or "twilio"
    return VerifiedDelivery(endpoint, token[:255], f"twilio.{event_type}", {"form": form, "query": query})


_VERIFIERS = {
    WebhookScheme.STANDARD_WEBHOOKS: verify_standard_webhook,
    WebhookScheme.STRIPE: verify_stripe,
    WebhookScheme.SENDGRID_EVENTS: verify_sendgrid_events,
    WebhookScheme.TWILIO: verify_twilio,
}


def public_url(settings: Settings, request: Request) -> str:
    """The URL the sender requested: under `PUBLIC_BASE_URL` when set (behind a proxy the request's
    own scheme and host are the proxy's), else the request's."""
    if settings.public_base_url is None:
        return str(request.url)
    query = request.url.query
    return settings.public_base_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")


def callback_url(settings: Settings, path: str, **query: str) -> str | None:
    """The public URL of `POST /webhooks/<path>` (None without `PUBLIC_BASE_URL`)."""
    if settings.public_base_url is None:
        return None
    suffix = f"?{urlencode(query)}" if query else ""
    return f"{settings.public_base_url.rstrip('/')}/webhooks/{path}{suffix}"


def _error(refused: WebhookRefused) -> JSONResponse:
    return JSONResponse({"error": {"code": refused.code, "message": refused.message}}, status_code=refused.status)


async def _read_body(request: Request, limit: int) -> bytes:
    too_large = WebhookRefused(413, "REQUEST_TOO_LARGE", f"Request body is larger than the limit of {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def record_delivery(session: AsyncSession, delivery: VerifiedDelivery) -> bool:
    """Record the delivery's id in the unit of work's transaction; False when it is taken (a
    replay). A concurrent insert of the same id waits for the first to commit or roll back."""
    statement = (
        insert(_deliveries)
        .values(
            id=uuid.uuid4(),
            endpoint=delivery.endpoint,
            delivery_id=delivery.delivery_id,
            event_type=delivery.event_type[:255],
        )
        .on_conflict_do_nothing(index_elements=["endpoint", "delivery_id"])
        .returning(_deliveries.c.id)
    )
    return (await session.execute(statement)).first() is not None


def webhook_endpoint(endpoints: Mapping[str, WebhookEndpoint]) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The Starlette endpoint of `POST /webhooks/{path:path}` for the registered endpoints."""

    async def receive(request: Request) -> JSONResponse:
        runtime = request.app.state.runtime
        settings: Settings = runtime.settings
        path = str(request.path_params.get("path", ""))
        endpoint = endpoints.get(path)
        secret = endpoint.secret(settings) if endpoint is not None else None
        if endpoint is None or secret is None:
            return _error(
                WebhookRefused(404, "WEBHOOK_NOT_FOUND", f"No webhook endpoint is configured at /webhooks/{path}")
            )
        try:
            body = await _read_body(request, settings.max_body_bytes)
            key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
            verify = _VERIFIERS[endpoint.scheme]
            delivery = verify(endpoint.path, key, body, request.headers, public_url(settings, request))
        except WebhookRefused as refused:
            return _error(refused)

        async def work(session: AsyncSession) -> bool:
            if not await record_delivery(session, delivery):
                return False  # a replay: acknowledged, nothing applied
            await endpoint.handle(session, delivery)
            return True

        label = f"webhook:{endpoint.path}"
        try:
            outcome = await run_unit_of_work(
                runtime.sessions,
                runtime.bus,
                work,
                audit=AuditScope(Actor.webhook(endpoint.path), request_id_of(request), label),
                as_actor=Actor.system(label),
            )
        except WebhookRefused as refused:
            if refused.status >= 422:
                logger.warning(
                    "webhook refused",
                    extra={"endpoint": endpoint.path, "code": refused.code, "reason": refused.message},
                )
            return _error(refused)
        except DatabaseUnavailable:
            # Nothing was committed: the sender's retry will be processed.
            return _error(WebhookRefused(503, "DATABASE_UNAVAILABLE", "The database is unavailable; deliver it again"))
        except CommitOutcomeUnknown:
            # A retry is safe: a committed delivery is acknowledged as a replay, an uncommitted one applies.
            return _error(WebhookRefused(503, "COMMIT_OUTCOME_UNKNOWN", "The outcome is unknown; deliver it again"))
        if outcome.value is False:
            return JSONResponse(
                {
                    "received": True,
                    "deliveryId": delivery.delivery_id,
                    "replayed": True,
                    "detail": f"The delivery {delivery.delivery_id} was processed already; nothing changed",
                }
            )
        return JSONResponse({"received": True, "deliveryId": delivery.delivery_id})

    return receive
