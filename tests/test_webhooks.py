"""The inbound webhook receiver (core/webhooks.py), through Akashic's donation endpoints on a
real server: signatures verified by the providers' libraries, stale and replayed deliveries
refused, each event applied exactly once, also when deliveries race."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.context import Actor
from core.db import create_engine
from core.products import Product, RegistrationError, Registry
from core.rls import acting
from core.settings import Settings
from core.webhooks import WebhookEndpoint, WebhookScheme
from products import PRODUCTS
from tests.akashic.donations_support import (
    ACTBLUE,
    STRIPE,
    actblue,
    create_campaign,
    donation_created,
    post,
    stripe_delivery,
)
from tests.live.conftest import LiveServer


@pytest.fixture(scope="module")
async def server(database_url: str, data_dir: Path) -> AsyncIterator[LiveServer]:
    from tests.akashic.donations_support import donations_server

    async with donations_server(database_url, data_dir) as live:
        yield live


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http) as http:
        yield http


async def _ledger(engine: AsyncEngine, campaign: uuid.UUID) -> list[tuple[str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT kind, amount_cents FROM akashic_donation_ledger WHERE organization_id = :c ORDER BY occurred_at"
            ),
            {"c": campaign},
        )
        return [(row[0], row[1]) for row in rows]


async def _campaign(session: AsyncSession) -> uuid.UUID:
    return await create_campaign(session, {})


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_a_signed_delivery_is_applied_and_its_replay_acknowledged_unapplied(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    campaign = await _campaign(session)
    signed = actblue(donation_created(campaign, 2_500))
    first = await post(client, ACTBLUE, signed)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "deliveryId": signed.headers["webhook-id"]}
    # The same delivery again (a replay within the tolerance): acknowledged (the sender stops
    # retrying), nothing changes
    replay = await post(client, ACTBLUE, signed)
    assert replay.status_code == 200, replay.text
    assert replay.json() == {
        "received": True,
        "deliveryId": signed.headers["webhook-id"],
        "replayed": True,
        "detail": f"The delivery {signed.headers['webhook-id']} was processed already; nothing changed",
    }
    assert await _ledger(engine, campaign) == [("contribution", 2_500)]
    # The audit trail records the webhook actor as the one who wrote the donation
    async with engine.connect() as conn:
        actors = set(
            await conn.execute(
                sa.text("SELECT actor_kind, actor_label, operation FROM audit_events WHERE organization_id = :c"),
                {"c": campaign},
            )
        )
    assert actors == {("webhook", "akashic/actblue", "webhook:akashic/actblue")}


async def test_bad_signatures_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    campaign = await _campaign(session)
    payload = donation_created(campaign, 1_000)
    other_secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    assert _error(await post(client, ACTBLUE, actblue(payload, secret=other_secret))) == (
        401,
        "WEBHOOK_SIGNATURE_INVALID",
    )
    signed = actblue(payload)
    tampered = signed.body.replace(b"1000", b"9000")
    response = await client.post(ACTBLUE, content=tampered, headers=signed.headers)
    assert _error(response) == (401, "WEBHOOK_SIGNATURE_INVALID")
    missing = {k: v for k, v in signed.headers.items() if k != "webhook-signature"}
    assert _error(await client.post(ACTBLUE, content=signed.body, headers=missing)) == (
        401,
        "WEBHOOK_SIGNATURE_INVALID",
    )
    garbled = {**signed.headers, "webhook-signature": "not a signature"}
    assert _error(await client.post(ACTBLUE, content=signed.body, headers=garbled)) == (
        401,
        "WEBHOOK_SIGNATURE_INVALID",
    )
    stripe_event = {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": "charge.succeeded", "data": {}}
    wrong = stripe_delivery(stripe_event, secret="whsec_not_the_secret")
    assert _error(await post(client, STRIPE, wrong)) == (401, "WEBHOOK_SIGNATURE_INVALID")
    assert _error(await client.post(STRIPE, content=wrong.body)) == (401, "WEBHOOK_SIGNATURE_INVALID")
    assert await _ledger(engine, campaign) == []


async def test_stale_timestamps_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    campaign = await _campaign(session)
    payload = donation_created(campaign, 1_000)
    ten_minutes_ago = time.time() - 600
    assert _error(await post(client, ACTBLUE, actblue(payload, at=ten_minutes_ago))) == (
        401,
        "WEBHOOK_TIMESTAMP_OUTSIDE_TOLERANCE",
    )
    assert _error(await post(client, ACTBLUE, actblue(payload, at=time.time() + 600))) == (
        401,
        "WEBHOOK_TIMESTAMP_OUTSIDE_TOLERANCE",
    )
    event = {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": "ping", "data": {"object": {}}}
    assert _error(await post(client, STRIPE, stripe_delivery(event, at=int(ten_minutes_ago)))) == (
        401,
        "WEBHOOK_TIMESTAMP_OUTSIDE_TOLERANCE",
    )
    # Within the tolerance the same Stripe event is accepted (an unknown type: acknowledged), then replayed
    fresh = stripe_delivery(event)
    assert (await post(client, STRIPE, fresh)).status_code == 200
    replay = await post(client, STRIPE, stripe_delivery(event))
    assert (replay.status_code, replay.json()["replayed"]) == (200, True)
    assert await _ledger(engine, campaign) == []


async def test_concurrent_deliveries_of_one_event_change_the_ledger_once(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    campaign = await _campaign(session)
    signed = actblue(donation_created(campaign, 4_200))
    answers = await asyncio.gather(*(post(client, ACTBLUE, signed) for _ in range(8)))
    assert [r.status_code for r in answers] == [200] * 8
    assert sorted(bool(r.json().get("replayed")) for r in answers) == [False] + [True] * 7
    assert await _ledger(engine, campaign) == [("contribution", 4_200)]
    # One donation sent as eight events (eight delivery ids) at once: still one donation
    payload = donation_created(campaign, 1_100)
    answers = await asyncio.gather(*(post(client, ACTBLUE, actblue(payload)) for _ in range(8)))
    assert [r.status_code for r in answers] == [200] * 8
    assert sorted(await _ledger(engine, campaign)) == [("contribution", 1_100), ("contribution", 4_200)]


async def test_a_refused_event_is_not_recorded_and_may_come_again(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    campaign = uuid.uuid4()  # no such campaign yet
    delivery = f"msg_{uuid.uuid4().hex}"
    payload = donation_created(campaign, 3_000)
    assert _error(await post(client, ACTBLUE, actblue(payload, delivery_id=delivery))) == (422, "UNKNOWN_CAMPAIGN")
    team = await create_campaign(session, {}, kind="team")  # an organization, but not a campaign
    other = donation_created(team, 3_000)
    assert _error(await post(client, ACTBLUE, actblue(other))) == (422, "UNKNOWN_CAMPAIGN")
    invalid = donation_created(await _campaign(session), -5)
    assert _error(await post(client, ACTBLUE, actblue(invalid))) == (422, "INVALID_PAYLOAD")
    # Once the campaign exists, the same delivery id is processed
    real = await _campaign(session)
    assert (
        await post(client, ACTBLUE, actblue(donation_created(real, 3_000), delivery_id=delivery))
    ).status_code == 200
    assert await _ledger(engine, real) == [("contribution", 3_000)]


async def test_a_signed_body_that_is_no_event_is_malformed(client: httpx.AsyncClient) -> None:
    from tests.akashic.donations_support import ACTBLUE_SECRET, Signed

    signed = actblue({"type": "x"})
    body = "not json"
    from datetime import UTC, datetime

    from standardwebhooks.webhooks import Webhook

    moment = datetime.fromtimestamp(int(signed.headers["webhook-timestamp"]), UTC)
    headers = {
        **signed.headers,
        "webhook-signature": Webhook(ACTBLUE_SECRET).sign(signed.headers["webhook-id"], moment, body),
    }
    assert _error(await post(client, ACTBLUE, Signed(body.encode(), headers))) == (400, "WEBHOOK_MALFORMED")
    assert _error(await post(client, ACTBLUE, actblue({"no": "type"}))) == (400, "WEBHOOK_MALFORMED")


async def test_unknown_and_unconfigured_endpoints_answer_404(
    client: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    signed = actblue({"type": "donation.created"})
    assert _error(await post(client, "/webhooks/akashic/nobody", signed)) == (404, "WEBHOOK_NOT_FOUND")
    # The suite's app has no donation secrets: nothing listens there
    assert _error(await post(http, ACTBLUE, signed)) == (404, "WEBHOOK_NOT_FOUND")
    assert (await client.get(ACTBLUE)).status_code == 405


async def test_a_body_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    signed = actblue({"type": "donation.created", "padding": "x" * 300_000})
    assert _error(await post(client, ACTBLUE, signed)) == (413, "REQUEST_TOO_LARGE")


async def test_only_the_system_reads_the_delivery_ledger(
    client: httpx.AsyncClient, session: AsyncSession, database_url: str, settings: Settings
) -> None:
    campaign = await _campaign(session)
    signed = actblue(donation_created(campaign, 700))
    assert (await post(client, ACTBLUE, signed)).status_code == 200
    app_engine = create_engine(database_url, settings)  # the app role, under row-level security
    query = sa.text("SELECT count(*) FROM webhook_deliveries WHERE delivery_id = :d")
    try:
        for who, seen in ((Actor(user_id=uuid.uuid4(), role="user"), 0), (Actor.webhook("x"), 0), (None, 0)):
            with acting(who):
                async with app_engine.connect() as conn, conn.begin():
                    assert (await conn.execute(query, {"d": signed.headers["webhook-id"]})).scalar_one() == seen
        with acting(Actor.system("test")):
            async with app_engine.connect() as conn, conn.begin():
                assert (await conn.execute(query, {"d": signed.headers["webhook-id"]})).scalar_one() == 1
    finally:
        await app_engine.dispose()


async def _nothing(session: AsyncSession, delivery: object) -> None:
    return None


def test_two_products_cant_claim_one_webhook_path() -> None:
    hook = WebhookEndpoint("akashic/actblue", WebhookScheme.STRIPE, lambda settings: None, _nothing)
    with pytest.raises(RegistrationError, match="webhook path 'akashic/actblue' is registered by both"):
        Registry([*PRODUCTS, Product(name="copycat", webhooks=(hook,))])
