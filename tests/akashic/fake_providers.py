"""Fake SendGrid and Twilio servers for the official clients to talk to on loopback: each records
the requests it received and answers what a test scripted (errors first, then success), as the
real APIs answer (SendGrid: 202 with `X-Message-Id`; Twilio: 201 with the message's JSON)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.live.conftest import LiveServer, serve


@dataclass
class Received:
    headers: dict[str, str]
    body: Any
    #: What the fake answered.
    status: int
    #: The message id it gave an accepted request.
    message_id: str | None = None


@dataclass
class FakeProvider:
    """What a fake saw and what it will answer next."""

    received: list[Received] = field(default_factory=list)
    #: Status codes answered (and consumed) before any success, in order.
    fail_next: list[int] = field(default_factory=list)
    #: Recipients always refused with a 400.
    refuse: set[str] = field(default_factory=set)
    server: LiveServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.http

    def answer(self, recipient: str) -> int | None:
        """The error status for this request, if it gets one."""
        if recipient in self.refuse:
            return 400
        if self.fail_next:
            return self.fail_next.pop(0)
        return None

    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.status < 300]


class FakeSendGrid(FakeProvider):
    def app(self) -> Starlette:
        async def send(request: Request) -> Response:
            body = await request.json()
            status = self.answer(body["personalizations"][0]["to"][0]["email"])
            message_id = None if status is not None else secrets.token_urlsafe(16)
            self.received.append(Received(dict(request.headers), body, status or 202, message_id))
            if status is not None:
                return JSONResponse({"errors": [{"message": f"scripted {status}", "field": None}]}, status_code=status)
            assert message_id is not None
            return Response(status_code=202, headers={"X-Message-Id": message_id})

        return Starlette(routes=[Route("/v3/mail/send", send, methods=["POST"])])


class FakeTwilio(FakeProvider):
    def app(self) -> Starlette:
        async def create(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            status = self.answer(form["To"])
            self.received.append(Received(dict(request.headers), form, status or 201))
            if status is not None:
                return JSONResponse(
                    {"code": 21211, "message": f"scripted {status}", "more_info": "", "status": status},
                    status_code=status,
                )
            sid = "SM" + uuid.uuid4().hex
            account = request.path_params["account"]
            return JSONResponse(
                {
                    "sid": sid,
                    "account_sid": account,
                    "to": form["To"],
                    "from": form.get("From"),
                    "body": form.get("Body"),
                    "status": "queued",
                    "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
                },
                status_code=201,
            )

        return Starlette(routes=[Route("/2010-04-01/Accounts/{account}/Messages.json", create, methods=["POST"])])


@asynccontextmanager
async def running(fake: FakeSendGrid | FakeTwilio) -> AsyncIterator[FakeSendGrid | FakeTwilio]:
    app = fake.app()
    async with serve(app) as server:
        fake.server = server
        yield fake
