"""Akashic's sending: contacts imported and read by the roles that may; an approved message sent
through the official SendGrid and Twilio clients to fakes on loopback (one request per
recipient, the audience's segments, opted-out contacts skipped); statuses from the providers'
signed webhooks (refused when unsigned or stale, a replay applied once, only forward); retries on
transient errors without sending anything twice, a permanent error failing its delivery; and
every refusal typed."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from twilio.request_validator import RequestValidator

from core.ai import build_provider
from core.relay import parse_global_id
from core.settings import Settings
from core.webhooks import SENDGRID_SIGNATURE, SENDGRID_TIMESTAMP
from services import jobs
from services.akashic import ROLES, scheduled
from services.akashic.providers import with_unsubscribe
from services.akashic.sending import OPTED_OUT
from services.jobs import JobRuntime
from services.worker import retry_policy
from tests.akashic.fake_providers import FakeSendGrid, FakeTwilio, running
from tests.akashic.support import AkashicFactory, CampaignRef, MessageRef
from tests.conftest import make_settings
from tests.jobs_support import drain, worker_settings
from tests.live.conftest import Feed, LiveServer, running_app, serve, ws_session
from tests.support import GraphQLClient, Viewer

SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC_KEY = base64.b64encode(
    SENDGRID_KEY.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
).decode()
TWILIO_SID = "AC" + secrets.token_hex(16)
TWILIO_TOKEN = secrets.token_hex(16)
SENDER_EMAIL = "chen@campaign.example"
SENDER_PHONE = "+15550001111"
SENDGRID_PATH = "/webhooks/akashic/sendgrid"

STATS = "deliveryStats { recipients queued sent delivered opened clicked failed optedOut }"
MESSAGE = f"""query($id: ID!) {{ node(id: $id) {{ ... on Message {{ status {STATS}
  deliveries(first: 50) {{ totalCount nodes {{ id recipient status providerMessageId error contact {{ name }} }} }}
  }} }} }}"""
CONTACTS = """query($id: ID!) { node(id: $id) { ... on Campaign {
  contacts(first: 50) { totalCount nodes { name email phone segments emailOptedOutAt } } } } }"""
IMPORT = """mutation($input: ImportCampaignContactsInput!) { importCampaignContacts(input: $input) {
  created updated contacts { id name email phone segments } errors { __typename code message field
  ... on ForbiddenError { permission } } } }"""
SEND = """mutation($input: SendMessageInput!) { sendMessage(input: $input) { recipients
  message { status } job { id kind } errors { __typename code message field
  ... on ForbiddenError { permission roles } ... on MessageTransitionError { status } } } }"""


@dataclass
class World:
    api: GraphQLClient
    http: httpx.AsyncClient
    factory: AkashicFactory
    server: LiveServer
    settings: Settings
    sendgrid: FakeSendGrid
    twilio: FakeTwilio

    async def drain(self, **overrides: Any) -> None:
        """Run a worker until every job is done (the status callbacks' base URL: this server's)."""
        await drain(worker_settings(self.settings, public_base_url=self.server.http, **overrides))


@pytest.fixture(scope="module")
async def module_world(database_url: str, data_dir: Path) -> AsyncIterator[World]:
    async with running(FakeSendGrid()) as sendgrid, running(FakeTwilio()) as twilio:
        assert isinstance(sendgrid, FakeSendGrid)
        assert isinstance(twilio, FakeTwilio)
        settings = make_settings(
            database_url,
            data_dir,
            jobs_in_process=False,
            sendgrid_api_key="SG.test-key",
            sendgrid_api_host=sendgrid.url,
            akashic_email_from=SENDER_EMAIL,
            akashic_sendgrid_webhook_public_key=SENDGRID_PUBLIC_KEY,
            twilio_account_sid=TWILIO_SID,
            twilio_auth_token=TWILIO_TOKEN,
            twilio_api_base_url=twilio.url,
            akashic_sms_from=SENDER_PHONE,
        )
        async with (
            running_app(settings) as app,
            serve(app) as server,
            httpx.AsyncClient(base_url=server.http, timeout=30) as http,
        ):
            # The API's public origin (its emails' unsubscribe links, Twilio's signed URLs): known
            # once it listens.
            settings.public_base_url = server.http
            api = GraphQLClient(http)
            yield World(api, http, AkashicFactory(api), server, settings, sendgrid, twilio)


@pytest.fixture
def world(module_world: World) -> World:
    for fake in (module_world.sendgrid, module_world.twilio):
        fake.fail_next.clear()
        fake.refuse.clear()
    return module_world


async def _import(world: World, campaign: CampaignRef, rows: list[dict[str, Any]], token: str) -> dict[str, Any]:
    data = (await world.api(IMPORT, {"input": {"campaignId": campaign.id, "contacts": rows}}, token=token)).data
    payload: dict[str, Any] = data["importCampaignContacts"]
    return payload


async def _approved(world: World, campaign: CampaignRef, **fields: Any) -> MessageRef:
    message = await world.factory.message(campaign, body=fields.pop("body", "Join us Saturday."), **fields)
    for step in ("submitMessage", "approveMessage"):
        await world.factory.ok(step, {"messageId": message.id}, "__typename", campaign.manager.token)
    return message


async def _send(world: World, message: MessageRef, token: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await world.api(SEND, {"input": {"messageId": message.id}}, token=token)).data[
        "sendMessage"
    ]
    return payload


async def _message(world: World, message: MessageRef, token: str) -> dict[str, Any]:
    node: dict[str, Any] = (await world.api(MESSAGE, {"id": message.id}, token=token)).data["node"]
    return node


def _to(request: Any) -> str:
    """The recipient of a request the fake SendGrid received."""
    address: str = request.body["personalizations"][0]["to"][0]["email"]
    return address


def _unsubscribe_link(request: Any) -> str:
    """The unsubscribe link of an email the fake SendGrid received (its `List-Unsubscribe`)."""
    header: str = request.body["headers"]["List-Unsubscribe"]
    assert header.startswith("<")
    assert header.endswith(">")
    return header[1:-1]


def _unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}@example.com"


def _phone() -> str:
    return "+1555" + str(secrets.randbelow(10**7)).zfill(7)


def _signed_events(events: list[dict[str, Any]], *, at: float | None = None) -> tuple[bytes, dict[str, str]]:
    """A SendGrid Event Webhook batch signed as SendGrid signs it (ECDSA P-256, SHA-256, over the
    timestamp and the body)."""
    body = json.dumps(events)
    timestamp = str(int(at if at is not None else time.time()))
    signature = SENDGRID_KEY.sign((timestamp + body).encode(), ec.ECDSA(hashes.SHA256()))
    headers = {
        SENDGRID_SIGNATURE: base64.b64encode(signature).decode(),
        SENDGRID_TIMESTAMP: timestamp,
        "content-type": "application/json",
    }
    return body.encode(), headers


def _event(kind: str, request: Any, **fields: Any) -> dict[str, Any]:
    """An event of the message the fake SendGrid accepted in `request`."""
    return {
        "email": _to(request),
        "timestamp": int(time.time()),
        "event": kind,
        "sg_event_id": uuid.uuid4().hex,
        "sg_message_id": f"{request.message_id}.filterdrecv-5645d9c87f-78xgx-1-5E3A1B2C-1.0",
        **request.body["custom_args"],
        **fields,
    }


async def test_contacts_import_validates_every_row_and_updates_by_email(world: World) -> None:
    campaign = await world.factory.campaign()
    token = campaign.manager.token
    email = _unique("ada")
    bad = await _import(
        world,
        campaign,
        [
            {"name": "Ada", "email": email},
            {"name": "Bob", "email": "not-an-address"},
            {"name": "", "phone": "+15551230000"},
            {"name": "Cy", "phone": "555"},
            {"name": "Dee"},
            {"name": "Ada again", "email": email.upper()},
        ],
        token,
    )
    assert [(e["code"], e["field"]) for e in bad["errors"]] == [
        ("VALIDATION", ["input", "contacts", "1", "email"]),
        ("VALIDATION", ["input", "contacts", "2", "name"]),
        ("VALIDATION", ["input", "contacts", "3", "phone"]),
        ("VALIDATION", ["input", "contacts", "4", "email"]),
        ("VALIDATION", ["input", "contacts", "5", "email"]),
    ]
    assert bad["contacts"] == []
    assert bad["created"] == 0
    read = (await world.api(CONTACTS, {"id": campaign.id}, token=token)).data["node"]["contacts"]
    assert read["totalCount"] == 0  # nothing half written

    phone = _phone()
    made = await _import(world, campaign, [{"name": "Ada", "email": email, "segments": ["volunteers"]}], token)
    assert (made["created"], made["updated"], made["errors"]) == (1, 0, [])
    again = await _import(
        world,
        campaign,
        [
            {
                "name": "Ada L.",
                "email": email.upper(),
                "phone": f"{phone[:2]} ({phone[2:5]}) {phone[5:]}",
                "segments": ["donors"],
            }
        ],
        token,
    )
    assert (again["created"], again["updated"]) == (0, 1)
    assert again["contacts"][0] == {
        "id": made["contacts"][0]["id"],
        "name": "Ada L.",
        "email": email,
        "phone": phone,
        "segments": ["donors"],
    }


async def test_who_reads_and_imports_contacts(world: World) -> None:
    campaign = await world.factory.campaign()
    staff = {role: (await world.factory.staff(campaign, role))[0] for role in ROLES[1:]}
    staff[ROLES[0]] = campaign.manager
    outsider = await world.api.sign_up()
    for role, viewer in staff.items():
        payload = await _import(world, campaign, [{"name": role, "email": _unique(role)}], viewer.token)
        if role in ("campaign_manager", "communications_director", "field_organizer"):
            assert payload["errors"] == [], role
        else:
            assert [(e["code"], e["permission"]) for e in payload["errors"]] == [("FORBIDDEN", "contacts.write")], role
    refused = await _import(world, campaign, [{"name": "X", "email": _unique("x")}], outsider.token)
    assert [e["code"] for e in refused["errors"]] == ["NOT_FOUND"]
    for role, viewer in staff.items():
        node = (await world.api(CONTACTS, {"id": campaign.id}, token=viewer.token)).data["node"]
        expected = 3 if role in ("campaign_manager", "communications_director", "field_organizer") else 0
        assert node["contacts"]["totalCount"] == expected, role
    assert (await world.api(CONTACTS, {"id": campaign.id}, token=outsider.token)).data["node"] is None


async def test_an_email_goes_to_its_audience_once_and_the_signed_events_move_its_stats(
    world: World, engine: AsyncEngine
) -> None:
    campaign = await world.factory.campaign()
    manager = campaign.manager.token
    volunteer, _ = await world.factory.staff(campaign, "volunteer")
    outsider = await world.api.sign_up()
    ada, bob, cy, dee, eve = _unique("ada"), _unique("bob"), _unique("cy"), _phone(), _unique("eve")
    imported = await _import(
        world,
        campaign,
        [
            {"name": "Ada", "email": ada, "segments": ["volunteers"]},
            {"name": "Bob", "email": bob, "segments": ["donors"]},
            {"name": "Cy", "email": cy, "segments": ["volunteers"], "emailOptedOut": True},
            {"name": "Dee", "phone": dee, "segments": ["volunteers"]},
            {"name": "Eve", "email": eve, "segments": ["donors", "volunteers"]},
        ],
        manager,
    )
    assert imported["errors"] == []
    message = await _approved(
        world, campaign, body="Canvass with us on Saturday.", audienceSegments=["volunteers"], title="Saturday"
    )
    sent = await _send(world, message, manager)
    assert sent["errors"] == []
    assert (sent["recipients"], sent["message"]["status"], sent["job"]["kind"]) == (2, "SENT", "akashic.send_message")
    before = await _message(world, message, manager)
    assert before["deliveryStats"] == {
        "recipients": 2,
        "queued": 2,
        "sent": 0,
        "delivered": 0,
        "opened": 0,
        "clicked": 0,
        "failed": 0,
        "optedOut": 1,  # Cy: in the audience, opted out of email
    }

    await world.drain()
    requests = [r for r in world.sendgrid.accepted() if _to(r) in {ada, eve}]
    assert sorted(_to(r) for r in requests) == sorted([ada, eve])
    for request in requests:
        assert request.headers["authorization"] == "Bearer SG.test-key"
        assert request.body["from"] == {"email": SENDER_EMAIL}
        assert request.body["subject"] == "Saturday"
        link = _unsubscribe_link(request)
        assert link.startswith(world.server.http + "/akashic/unsubscribe/")
        assert request.body["content"] == [
            {"type": "text/plain", "value": with_unsubscribe("Canvass with us on Saturday.", link)}
        ]
        assert request.body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    contacted = {_to(r) for r in world.sendgrid.received}
    assert not {bob, cy} & contacted  # another segment; opted out

    read = await _message(world, message, manager)
    assert read["deliveryStats"]["sent"] == 2
    by_recipient = {d["recipient"]: d for d in read["deliveries"]["nodes"]}
    assert set(by_recipient) == {ada, eve, cy}
    assert all(by_recipient[r]["status"] == "SENT" and by_recipient[r]["providerMessageId"] for r in (ada, eve))
    assert (by_recipient[cy]["status"], by_recipient[cy]["providerMessageId"]) == ("SKIPPED", None)
    assert by_recipient[cy]["error"].startswith("OPTED_OUT")
    request_of = {_to(r): r for r in requests}

    # Ada's email is delivered, opened, then delivered is reported again: it stays opened. Eve's bounces.
    first = [
        _event("delivered", request_of[ada]),
        _event("open", request_of[ada]),
        _event("bounce", request_of[eve], reason="550 no such user"),
    ]
    body, headers = _signed_events(first)
    response = await world.http.post(SENDGRID_PATH, content=body, headers=headers)
    assert response.status_code == 200, response.text
    replay = await world.http.post(SENDGRID_PATH, content=body, headers=headers)
    assert (replay.status_code, replay.json()["replayed"]) == (200, True)  # acknowledged, applied once
    body, headers = _signed_events([_event("delivered", request_of[ada]), {"event": "processed", "email": ada}])
    assert (await world.http.post(SENDGRID_PATH, content=body, headers=headers)).status_code == 200

    stats = (await _message(world, message, manager))["deliveryStats"]
    assert stats == {
        "recipients": 2,
        "queued": 0,
        "sent": 2,
        "delivered": 1,
        "opened": 1,
        "clicked": 0,
        "failed": 1,
        "optedOut": 1,
    }
    statuses = {
        d["recipient"]: (d["status"], d["error"])
        for d in (await _message(world, message, manager))["deliveries"]["nodes"]
    }
    assert statuses[ada] == ("OPENED", None)
    assert statuses[eve][0] == "BOUNCED"
    assert "550 no such user" in statuses[eve][1]

    # Unsigned, wrongly signed or stale batches change nothing.
    click = [_event("click", request_of[ada])]
    body, headers = _signed_events(click)
    tampered = await world.http.post(SENDGRID_PATH, content=body.replace(b"click", b"clack"), headers=headers)
    unsigned = await world.http.post(SENDGRID_PATH, content=body, headers={"content-type": "application/json"})
    old_body, old_headers = _signed_events(click, at=time.time() - 3600)
    stale = await world.http.post(SENDGRID_PATH, content=old_body, headers=old_headers)
    assert [(r.status_code, r.json()["error"]["code"]) for r in (tampered, unsigned, stale)] == [
        (401, "WEBHOOK_SIGNATURE_INVALID"),
        (401, "WEBHOOK_SIGNATURE_INVALID"),
        (401, "WEBHOOK_TIMESTAMP_OUTSIDE_TOLERANCE"),
    ]
    assert (await _message(world, message, manager))["deliveryStats"]["clicked"] == 0

    # An unsubscribe opts Ada out of email.
    body, headers = _signed_events([_event("unsubscribe", request_of[ada])])
    assert (await world.http.post(SENDGRID_PATH, content=body, headers=headers)).status_code == 200
    contacts = (await world.api(CONTACTS, {"id": campaign.id}, token=manager)).data["node"]["contacts"]["nodes"]
    assert [c["emailOptedOutAt"] is not None for c in contacts if c["email"] == ada] == [True]

    # A volunteer reads the stats and the statuses, not who they went to; an outsider nothing.
    seen = await _message(world, message, volunteer.token)
    assert seen["deliveryStats"] == stats
    assert {(d["recipient"], d["error"], d["contact"]) for d in seen["deliveries"]["nodes"]} == {(None, None, None)}
    assert (await world.api(MESSAGE, {"id": message.id}, token=outsider.token)).data["node"] is None
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.text("SELECT status, count(*) FROM message_deliveries WHERE message_id = :id GROUP BY status"),
                {"id": parse_global_id(message.id, "Message")},
            )
        ).all()
    assert dict(rows) == {"opened": 1, "bounced": 1, "skipped": 1}  # Ada, Eve; Cy, opted out


def _twilio_callback(
    url: str, params: dict[str, str], *, token: str = TWILIO_TOKEN
) -> tuple[str, bytes, dict[str, str]]:
    """A status callback as Twilio sends it: the form, signed with the URL (`RequestValidator`)."""
    signature = RequestValidator(token).compute_signature(url, params)
    headers = {
        "x-twilio-signature": signature,
        "i-twilio-idempotency-token": uuid.uuid4().hex,
        "content-type": "application/x-www-form-urlencoded",
    }
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}", urlencode(params).encode(), headers


async def test_an_sms_goes_through_twilio_and_its_signed_status_callbacks_count(world: World) -> None:
    campaign = await world.factory.campaign()
    manager = campaign.manager.token
    one, two, three = _phone(), _phone(), _phone()
    rows: list[dict[str, Any]] = [
        {"name": "One", "phone": one},
        {"name": "Two", "phone": two, "email": _unique("two")},
        {"name": "Three", "phone": three, "smsOptedOut": True},
        {"name": "Mail only", "email": _unique("mail")},
    ]
    assert (await _import(world, campaign, rows, manager))["errors"] == []
    message = await _approved(world, campaign, channel="SMS", body="Polls open 7am.")
    assert (await _send(world, message, manager))[
        "recipients"
    ] == 2  # no segments: everyone with a phone, not opted out
    await world.drain()
    requests = {r.body["To"]: r for r in world.twilio.accepted() if r.body["To"] in {one, two, three}}
    assert set(requests) == {one, two}
    for request in requests.values():
        assert request.body["From"] == SENDER_PHONE
        assert request.body["Body"] == "Polls open 7am."
        expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        assert request.headers["authorization"] == expected
        assert request.body["StatusCallback"].startswith(world.server.http + "/webhooks/akashic/twilio?delivery=")
    sids = {
        d["recipient"]: d["providerMessageId"] for d in (await _message(world, message, manager))["deliveries"]["nodes"]
    }

    def callback(phone: str, status: str) -> tuple[str, bytes, dict[str, str]]:
        params = {"MessageSid": sids[phone], "MessageStatus": status, "To": phone, "AccountSid": TWILIO_SID}
        if status == "undelivered":
            params["ErrorCode"] = "30003"
        return _twilio_callback(requests[phone].body["StatusCallback"], params)

    delivered = callback(one, "delivered")
    for path, body, headers in (delivered, callback(one, "sent"), callback(two, "undelivered")):
        response = await world.http.post(path, content=body, headers=headers)
        assert response.status_code == 200, response.text
    path, body, headers = delivered
    replay = await world.http.post(path, content=body, headers=headers)
    assert (replay.status_code, replay.json()["replayed"]) == (200, True)  # acknowledged, applied once
    forged_path, forged_body, forged_headers = _twilio_callback(
        requests[two].body["StatusCallback"], {"MessageSid": sids[two], "MessageStatus": "delivered"}, token="wrong"
    )
    forged = await world.http.post(forged_path, content=forged_body, headers=forged_headers)
    assert (forged.status_code, forged.json()["error"]["code"]) == (401, "WEBHOOK_SIGNATURE_INVALID")

    read = await _message(world, message, manager)
    assert read["deliveryStats"] == {
        "recipients": 2,
        "queued": 0,
        "sent": 2,
        "delivered": 1,
        "opened": 0,
        "clicked": 0,
        "failed": 1,
        "optedOut": 1,
    }
    statuses = {d["recipient"]: (d["status"], d["error"]) for d in read["deliveries"]["nodes"]}
    assert statuses[one] == ("DELIVERED", None)  # "sent" after "delivered" moved nothing back
    assert statuses[three] == ("SKIPPED", OPTED_OUT)
    assert statuses[two] == ("FAILED", "Twilio undelivered (error 30003)")


async def test_a_transient_error_is_retried_and_a_permanent_one_fails_the_delivery(world: World) -> None:
    campaign = await world.factory.campaign()
    manager = campaign.manager.token
    good, flaky, refused = _unique("good"), _unique("flaky"), _unique("refused")
    rows = [{"name": n, "email": e} for n, e in (("Good", good), ("Flaky", flaky), ("Refused", refused))]
    assert (await _import(world, campaign, rows, manager))["errors"] == []
    message = await _approved(world, campaign)
    world.sendgrid.refuse.add(refused)
    world.sendgrid.fail_next.extend([500])  # the first request of the batch: a server error
    assert (await _send(world, message, manager))["recipients"] == 3
    await world.drain(job_max_retries=2)
    mine = [r for r in world.sendgrid.received if _to(r) in {good, flaky, refused}]
    accepted = sorted(_to(r) for r in mine if r.status == 202)
    assert accepted == sorted([good, flaky])  # each sent exactly once, the retried one included
    assert sorted(r.status for r in mine) == [202, 202, 400, 500]
    read = await _message(world, message, manager)
    assert read["deliveryStats"] == {
        "recipients": 3,
        "queued": 0,
        "sent": 2,
        "delivered": 0,
        "opened": 0,
        "clicked": 0,
        "failed": 1,
        "optedOut": 0,
    }
    failed = [d for d in read["deliveries"]["nodes"] if d["status"] == "FAILED"]
    assert [d["recipient"] for d in failed] == [refused]
    assert failed[0]["error"].startswith("SendGrid answered 400")


async def test_a_provider_that_keeps_failing_is_given_up_on(world: World) -> None:
    campaign = await world.factory.campaign()
    manager = campaign.manager.token
    assert (await _import(world, campaign, [{"name": "A", "phone": _phone()}], manager))["errors"] == []
    message = await _approved(world, campaign, channel="SMS")
    world.twilio.fail_next.extend([503, 503])
    assert (await _send(world, message, manager))["recipients"] == 1
    await world.drain(job_max_retries=1)
    read = await _message(world, message, manager)
    assert read["deliveryStats"]["failed"] == 1
    assert read["deliveries"]["nodes"][0]["error"].startswith("GAVE_UP")


async def test_who_may_send_and_what_is_refused(world: World, gql: GraphQLClient) -> None:
    campaign = await world.factory.campaign()
    manager = campaign.manager.token
    assert (await _import(world, campaign, [{"name": "A", "email": _unique("a"), "phone": _phone()}], manager))[
        "errors"
    ] == []
    staff: dict[str, Viewer] = {role: (await world.factory.staff(campaign, role))[0] for role in ROLES[1:]}
    staff[ROLES[0]] = campaign.manager
    for role, viewer in staff.items():
        message = await _approved(world, campaign)
        payload = await _send(world, message, viewer.token)
        if role in ("campaign_manager", "communications_director"):
            assert (payload["errors"], payload["recipients"]) == ([], 1), role
        else:
            assert [(e["code"], e["permission"]) for e in payload["errors"]] == [("FORBIDDEN", "messages.send")], role
            assert payload["errors"][0]["roles"] == ["campaign_manager", "communications_director"]
    outsider = await world.api.sign_up()
    message = await _approved(world, campaign)
    assert [e["code"] for e in (await _send(world, message, outsider.token))["errors"]] == ["NOT_FOUND"]

    draft = await world.factory.message(campaign)
    refused = (await _send(world, draft, manager))["errors"]
    assert [(e["__typename"], e["code"], e["status"]) for e in refused] == [
        ("MessageTransitionError", "INVALID_TRANSITION", "DRAFT")
    ]
    speech = await _approved(world, campaign, channel="SPEECH")
    assert [e["code"] for e in (await _send(world, speech, manager))["errors"]] == ["UNSUPPORTED_CHANNEL"]
    nobody = await _approved(world, campaign, audienceSegments=["nobody-is-here"])
    assert [e["code"] for e in (await _send(world, nobody, manager))["errors"]] == ["VALIDATION"]
    later = await _approved(world, campaign)
    await world.factory.ok(
        "scheduleMessage", {"messageId": later.id, "sendAt": "2099-01-01T09:00:00Z"}, "__typename", manager
    )
    assert [e["code"] for e in (await _send(world, later, manager))["errors"]] == ["INVALID_TRANSITION"]
    for refused_message in (draft, speech, nobody):
        read = await _message(world, refused_message, manager)
        assert read["deliveries"]["totalCount"] == 0
        assert read["status"] != "SENT"

    # A server without SendGrid's settings refuses to send email, naming them; nothing changes.
    unconfigured = AkashicFactory(gql)
    elsewhere = await unconfigured.campaign()
    contact = {"name": "A", "email": _unique("a")}
    input_ = {"input": {"campaignId": elsewhere.id, "contacts": [contact]}}
    assert (await gql(IMPORT, input_, token=elsewhere.manager.token)).data["importCampaignContacts"]["errors"] == []
    message = await unconfigured.message(elsewhere)
    for step in ("submitMessage", "approveMessage"):
        await unconfigured.ok(step, {"messageId": message.id}, "__typename", elsewhere.manager.token)
    payload = (await gql(SEND, {"input": {"messageId": message.id}}, token=elsewhere.manager.token)).data["sendMessage"]
    assert [e["code"] for e in payload["errors"]] == ["NOT_CONFIGURED"]
    assert "SENDGRID_API_KEY" in payload["errors"][0]["message"]
    status = (await gql(MESSAGE, {"id": message.id}, token=elsewhere.manager.token)).data["node"]["status"]
    assert status == "APPROVED"
    await world.drain()  # the sends this test queued


LIVE = """subscription($id: ID!) { campaignMessageChanges(campaignId: $id) { __typename
  ... on LiveUpdatesStatus { state }
  ... on CampaignMessageChange { change status message { id deliveryStats { delivered opened } } } } }"""


async def test_the_staff_hear_each_webhook_that_moves_a_message_s_deliveries(world: World) -> None:
    campaign = await world.factory.campaign()
    volunteer, _ = await world.factory.staff(campaign, "volunteer")
    email = _unique("live")
    assert (await _import(world, campaign, [{"name": "Live", "email": email}], campaign.manager.token))["errors"] == []
    message = await _approved(world, campaign)
    await _send(world, message, campaign.manager.token)
    await world.drain()
    [request] = [r for r in world.sendgrid.accepted() if _to(r) == email]
    async with ws_session(world.server.ws, volunteer.token) as ws:
        feed = Feed(ws, LIVE, {"id": campaign.id})
        assert (await feed.next())["campaignMessageChanges"] == {"__typename": "LiveUpdatesStatus", "state": "STARTED"}
        body, headers = _signed_events([_event("open", request)])
        assert (await world.http.post(SENDGRID_PATH, content=body, headers=headers)).status_code == 200
        heard = (await feed.next())["campaignMessageChanges"]
        assert heard == {
            "__typename": "CampaignMessageChange",
            "change": "DELIVERIES_UPDATED",
            "status": "SENT",
            "message": {"id": message.id, "deliveryStats": {"delivered": 1, "opened": 1}},
        }


async def test_a_delivery_claimed_by_a_worker_that_died_is_never_sent_again(world: World, engine: AsyncEngine) -> None:
    campaign = await world.factory.campaign()
    manager = campaign.manager.token
    lost, kept = _unique("lost"), _unique("kept")
    rows = [{"name": "Lost", "email": lost}, {"name": "Kept", "email": kept}]
    assert (await _import(world, campaign, rows, manager))["errors"] == []
    message = await _approved(world, campaign)
    assert (await _send(world, message, manager))["recipients"] == 2
    # As a worker that claimed Lost's delivery and died in the provider's call leaves it.
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE message_deliveries SET attempted_at = now() WHERE recipient = :to"), {"to": lost}
        )
    await world.drain()
    assert [_to(r) for r in world.sendgrid.received if _to(r) in {lost, kept}] == [kept]
    deliveries = {d["recipient"]: d for d in (await _message(world, message, manager))["deliveries"]["nodes"]}
    assert deliveries[kept]["status"] == "SENT"
    assert deliveries[lost]["status"] == "FAILED"
    assert deliveries[lost]["error"].startswith("OUTCOME_UNKNOWN")


async def test_an_unconfigured_endpoint_is_not_there_and_a_signed_non_batch_is_refused(
    world: World, gql: GraphQLClient
) -> None:
    body, headers = _signed_events([])
    absent = await gql.http.post(SENDGRID_PATH, content=body, headers=headers)  # a server without the key
    assert (absent.status_code, absent.json()["error"]["code"]) == (404, "WEBHOOK_NOT_FOUND")
    timestamp = str(int(time.time()))
    signature = SENDGRID_KEY.sign(timestamp.encode() + b'{"event": "open"}', ec.ECDSA(hashes.SHA256()))
    not_a_batch = await world.http.post(
        SENDGRID_PATH,
        content=b'{"event": "open"}',
        headers={SENDGRID_SIGNATURE: base64.b64encode(signature).decode(), SENDGRID_TIMESTAMP: timestamp},
    )
    assert (not_a_batch.status_code, not_a_batch.json()["error"]["code"]) == (400, "WEBHOOK_MALFORMED")


async def test_a_scheduled_message_is_sent_once_its_time_has_come(world: World, engine: AsyncEngine) -> None:
    campaign = await world.factory.campaign()
    manager = campaign.manager.token
    assert (await _import(world, campaign, [{"name": "A", "email": _unique("due")}], manager))["errors"] == []
    message = await _approved(world, campaign)
    await world.factory.ok(
        "scheduleMessage", {"messageId": message.id, "sendAt": "2099-01-01T09:00:00Z"}, "__typename", manager
    )
    early = await _send(world, message, manager)
    assert [(e["code"], e["status"]) for e in early["errors"]] == [("INVALID_TRANSITION", "SCHEDULED")]
    async with engine.begin() as conn:  # as if that time had come
        await conn.execute(
            sa.text("UPDATE messages SET scheduled_for = now() - interval '1 minute' WHERE id = :id"),
            {"id": parse_global_id(message.id, "Message")},
        )
    due = await _send(world, message, manager)
    assert (due["errors"], due["recipients"], due["message"]["status"]) == ([], 1, "SENT")
    await world.drain()


async def test_a_send_job_lost_for_good_fails_its_queued_deliveries(world: World, engine: AsyncEngine) -> None:
    campaign = await world.factory.campaign()
    manager = campaign.manager.token
    claimed, untouched = _unique("claimed"), _unique("untouched")
    rows = [{"name": "Claimed", "email": claimed}, {"name": "Untouched", "email": untouched}]
    assert (await _import(world, campaign, rows, manager))["errors"] == []
    message = await _approved(world, campaign)
    assert (await _send(world, message, manager))["recipients"] == 2
    message_pk = str(parse_global_id(message.id, "Message"))
    # Given its job on its last attempt, whose worker claimed one delivery and died
    async with engine.begin() as conn:
        job = (
            await conn.execute(
                sa.text(
                    "SELECT id, queue_job_id, max_attempts FROM background_jobs"
                    " WHERE kind = 'akashic.send_message' AND params->>'message_id' = :m"
                ),
                {"m": message_pk},
            )
        ).one()
        await conn.execute(
            sa.text("UPDATE background_jobs SET status = 'running', attempts = :n WHERE id = :id"),
            {"n": job.max_attempts, "id": job.id},
        )
        await conn.execute(
            sa.text("UPDATE message_deliveries SET attempted_at = now() WHERE recipient = :to"), {"to": claimed}
        )
    # When the worker's recovery finds it dead with no retry left
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    lost = await jobs.mark_interrupted(
        sessions, queue_job_id=job.queue_job_id, lost_attempt=job.max_attempts, requeued=False
    )
    assert lost is not None
    assert lost.status == "failed"
    # Then no delivery is left queued: the claimed one's outcome is unknown, the other never went
    deliveries = {d["recipient"]: d for d in (await _message(world, message, manager))["deliveries"]["nodes"]}
    assert deliveries[claimed]["status"] == deliveries[untouched]["status"] == "FAILED"
    assert deliveries[claimed]["error"].startswith("OUTCOME_UNKNOWN")
    assert deliveries[untouched]["error"].startswith("WORKER_LOST")
    assert not [r for r in world.sendgrid.received if _to(r) in {claimed, untouched}]


TRANSITIONS = """query($id: ID!) { node(id: $id) { ... on Message { status
  transitions(first: 20) { nodes { fromStatus toStatus note actor { id } } } } } }"""


async def test_scheduled_messages_go_out_at_their_time_by_whoever_scheduled_them(
    world: World, engine: AsyncEngine
) -> None:
    campaign = await world.factory.campaign()
    manager = campaign.manager.token
    comms, _ = await world.factory.staff(campaign, "communications_director")
    demoted, demoted_membership = await world.factory.staff(campaign, "communications_director")
    reader = _unique("scheduled")
    assert (await _import(world, campaign, [{"name": "Reader", "email": reader}], manager))["errors"] == []
    # Given three approved emails scheduled: one by the communications director, one by a colleague
    # who has since become a volunteer, one for a time to come
    due, refused, later = [await _approved(world, campaign) for _ in range(3)]
    for message, token in ((due, comms.token), (refused, demoted.token), (later, manager)):
        await world.factory.ok(
            "scheduleMessage", {"messageId": message.id, "sendAt": "2099-01-01T09:00:00Z"}, "__typename", token
        )
    await world.factory.ok("changeMemberRole", {"id": demoted_membership, "role": "volunteer"}, "__typename", manager)
    async with engine.begin() as conn:  # as if the first two's time had come
        await conn.execute(
            sa.text("UPDATE messages SET scheduled_for = now() - interval '1 minute' WHERE id = ANY(:ids)"),
            {"ids": [parse_global_id(m.id, "Message") for m in (due, refused)]},
        )
    # When the periodic task runs (as the worker runs it, AKASHIC_SEND_SCHEDULE)
    settings = worker_settings(world.settings, public_base_url=world.server.http)
    runtime = JobRuntime(settings, async_sessionmaker(engine), build_provider(settings), retry_policy(settings))
    assert await scheduled.send_due_messages(runtime, datetime.now(UTC)) >= 1
    # Then the due one was sent by whoever scheduled it, under their permission
    sent = (await world.api(TRANSITIONS, {"id": due.id}, token=manager)).data["node"]
    assert sent["status"] == "SENT"
    assert sent["transitions"]["nodes"][-1]["actor"]["id"] == comms.user_id
    # and the one whose scheduler lost `messages.send` went back to approved, by nobody, saying why
    back = (await world.api(TRANSITIONS, {"id": refused.id}, token=manager)).data["node"]
    assert back["status"] == "APPROVED"
    last = back["transitions"]["nodes"][-1]
    assert (last["fromStatus"], last["toStatus"], last["actor"]) == ("SCHEDULED", "APPROVED", None)
    assert last["note"].startswith("Not sent at its scheduled time: ")
    assert "messages.send" in last["note"]
    # and the later one waits
    assert (await world.api(TRANSITIONS, {"id": later.id}, token=manager)).data["node"]["status"] == "SCHEDULED"
    # And a second run sends nothing twice; the job delivers the sent one to its reader once
    await scheduled.send_due_messages(runtime, datetime.now(UTC))
    await world.drain()
    assert [_to(r) for r in world.sendgrid.received if _to(r) == reader] == [reader]
    assert (await _message(world, due, manager))["deliveries"]["nodes"][0]["status"] == "SENT"


INBOUND_PATH = "/webhooks/akashic/twilio/inbound"


async def _text_in(world: World, sender: str, body: str, *, token: str = TWILIO_TOKEN) -> httpx.Response:
    """A text message from `sender` to our number, as Twilio's incoming-message webhook posts it."""
    params = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": TWILIO_SID,
        "From": sender,
        "To": SENDER_PHONE,
        "Body": body,
        "NumMedia": "0",
    }
    url = world.server.http + INBOUND_PATH
    headers = {
        "x-twilio-signature": RequestValidator(token).compute_signature(url, params),
        "content-type": "application/x-www-form-urlencoded",
    }
    return await world.http.post(INBOUND_PATH, content=urlencode(params).encode(), headers=headers)


async def _opted_out(world: World, campaign: CampaignRef, token: str) -> dict[str, tuple[bool, bool]]:
    query = """query($id: ID!) { node(id: $id) { ... on Campaign { contacts(first: 50) {
      nodes { name emailOptedOutAt smsOptedOutAt } } } } }"""
    nodes = (await world.api(query, {"id": campaign.id}, token=token)).data["node"]["contacts"]["nodes"]
    return {n["name"]: (n["emailOptedOutAt"] is not None, n["smsOptedOutAt"] is not None) for n in nodes}


async def test_an_emails_unsubscribe_link_opts_its_contact_out_and_no_email_reaches_them_again(world: World) -> None:
    campaign = await world.factory.campaign()
    manager = campaign.manager.token
    ada, bo = _unique("ada"), _unique("bo")
    rows = [{"name": "Ada", "email": ada}, {"name": "Bo", "email": bo}]
    assert (await _import(world, campaign, rows, manager))["errors"] == []
    first = await _approved(world, campaign, title="First")
    assert (await _send(world, first, manager))["recipients"] == 2
    await world.drain()
    links = {_to(r): _unsubscribe_link(r) for r in world.sendgrid.accepted() if _to(r) in {ada, bo}}
    assert set(links) == {ada, bo}
    assert links[ada] != links[bo]
    path = urlsplit(links[ada]).path

    # Given the link, a GET (a mail scanner, or the person) shows the button and changes nothing
    page = await world.http.get(path)
    assert page.status_code == 200
    assert '<form method="post">' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert await _opted_out(world, campaign, manager) == {"Ada": (False, False), "Bo": (False, False)}
    # A forged or changed token is refused and changes nothing
    token = path.rsplit("/", 1)[1]
    forged = f"{token[:-4]}{'AAAA' if not token.endswith('AAAA') else 'BBBB'}"
    for bad in (forged, "not-a-token", token.split(".")[0]):
        refused = await world.http.post(f"/akashic/unsubscribe/{bad}", content=b"List-Unsubscribe=One-Click")
        assert refused.status_code == 400, bad
    assert await _opted_out(world, campaign, manager) == {"Ada": (False, False), "Bo": (False, False)}

    # When the mail client's one-click POST comes (RFC 8058), then Ada is out of email, once
    headers = {"content-type": "application/x-www-form-urlencoded"}
    for _ in range(2):
        done = await world.http.post(path, content=b"List-Unsubscribe=One-Click", headers=headers)
        assert done.status_code == 200
        assert "You are unsubscribed" in done.text
    assert await _opted_out(world, campaign, manager) == {"Ada": (True, False), "Bo": (False, False)}

    # And the next email goes to Bo alone; its stats say one contact had opted out
    second = await _approved(world, campaign, title="Second")
    assert (await _send(world, second, manager))["recipients"] == 1
    await world.drain()
    assert [_to(r) for r in world.sendgrid.accepted() if r.body["subject"] == "Second" and _to(r) in {ada, bo}] == [bo]
    stats = (await _message(world, second, manager))["deliveryStats"]
    assert (stats["recipients"], stats["sent"], stats["optedOut"]) == (1, 1, 1)


async def test_a_contact_who_opts_out_before_their_turn_is_skipped_by_the_sending_job(world: World) -> None:
    campaign = await world.factory.campaign()
    manager = campaign.manager.token
    stays, leaves = _unique("stays"), _unique("leaves")
    rows = [{"name": "Stays", "email": stays}, {"name": "Leaves", "email": leaves}]
    assert (await _import(world, campaign, rows, manager))["errors"] == []
    earlier = await _approved(world, campaign, title="Earlier")
    assert (await _send(world, earlier, manager))["recipients"] == 2
    await world.drain()
    link = next(_unsubscribe_link(r) for r in world.sendgrid.accepted() if _to(r) == leaves)
    # Given a message sent (its deliveries queued) while its job has not run yet
    later = await _approved(world, campaign, title="Later")
    assert (await _send(world, later, manager))["recipients"] == 2
    # When one recipient unsubscribes by an earlier email's link before the job reaches them
    assert (await world.http.post(urlsplit(link).path, content=b"List-Unsubscribe=One-Click")).status_code == 200
    await world.drain()
    # Then the job skips them, and the message's stats and deliveries say so
    later_to = [_to(r) for r in world.sendgrid.accepted() if r.body["subject"] == "Later" and _to(r) in {stays, leaves}]
    assert later_to == [stays]
    read = await _message(world, later, manager)
    assert (read["deliveryStats"]["sent"], read["deliveryStats"]["optedOut"]) == (1, 1)
    statuses = {d["recipient"]: (d["status"], d["error"]) for d in read["deliveries"]["nodes"]}
    assert statuses[leaves] == ("SKIPPED", OPTED_OUT)


async def test_a_texted_stop_opts_the_number_out_of_sms_and_start_back_in(world: World) -> None:
    campaign = await world.factory.campaign()
    other = await world.factory.campaign()
    manager = campaign.manager.token
    one, two = _phone(), _phone()
    rows = [{"name": "One", "phone": one}, {"name": "Two", "phone": two}]
    assert (await _import(world, campaign, rows, manager))["errors"] == []
    assert (await _import(world, other, [{"name": "One elsewhere", "phone": one}], other.manager.token))["errors"] == []

    # Any other text, and a STOP whose signature does not verify, change nothing
    assert (await _text_in(world, one, "stop texting me please")).status_code == 200
    forged = await _text_in(world, one, "STOP", token="wrong")
    assert (forged.status_code, forged.json()["error"]["code"]) == (401, "WEBHOOK_SIGNATURE_INVALID")
    assert await _opted_out(world, campaign, manager) == {"One": (False, False), "Two": (False, False)}

    # When One texts " Stop " (any opt-out keyword, any case), then that number is out of SMS in
    # every campaign that has it (the sender number is theirs all), and the next text skips it
    for keyword in (" Stop ", "quit"):
        assert (await _text_in(world, one, keyword)).status_code == 200
    assert await _opted_out(world, campaign, manager) == {"One": (False, True), "Two": (False, False)}
    assert await _opted_out(world, other, other.manager.token) == {"One elsewhere": (False, True)}
    message = await _approved(world, campaign, channel="SMS", body="Polls open at 7.")
    assert (await _send(world, message, manager))["recipients"] == 1
    await world.drain()
    texted = [
        r.body["To"]
        for r in world.twilio.accepted()
        if r.body["Body"] == "Polls open at 7." and r.body["To"] in {one, two}
    ]
    assert texted == [two]
    assert (await _message(world, message, manager))["deliveryStats"]["optedOut"] == 1

    # And START opts them back in
    assert (await _text_in(world, one, "START")).status_code == 200
    assert await _opted_out(world, campaign, manager) == {"One": (False, False), "Two": (False, False)}
