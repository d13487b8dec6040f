"""The outside services Akashic's messages go out through, by their official clients: SendGrid
(`sendgrid.SendGridAPIClient`, the v3 mail send) for email and Twilio (`twilio.rest.Client`,
`messages.create`) for SMS.

Each send answers a `SendOutcome`: the provider's message id, or an error that is either
*transient* (a connection error, a timeout, 408, 429 or 5xx: the job tries again later) or
*permanent* (another 4xx: the provider refused this message to this recipient, and trying again
can't help; the delivery is failed).

Where they are: `SENDGRID_API_HOST` (default https://api.sendgrid.com) is the SendGrid client's
own `host`; Twilio's client is given an `http_client`, its documented extension point, that sends
what it would send to https://api.twilio.com to `TWILIO_API_BASE_URL` instead (a fake on loopback
in the tests); unset, the requests go to Twilio.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.error import URLError

import aiohttp
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Header, Mail
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client as TwilioClient

from core.settings import Settings

#: SendGrid echoes a message's custom arguments in every event of it: the webhook finds the
#: delivery by this one even before the provider's id is recorded.
DELIVERY_ARG = "akashic_delivery_id"
TIMEOUT_SECONDS = 30.0
TWILIO_ORIGIN = "https://api.twilio.com"


@dataclass(frozen=True)
class SendOutcome:
    provider_message_id: str | None = None
    error: str | None = None
    transient: bool = False


def _transient_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


def missing_email_settings(settings: Settings) -> list[str]:
    """What email needs: SendGrid, a sender, and the public origin its unsubscribe links name."""
    return [
        name
        for name, value in (
            ("SENDGRID_API_KEY", settings.sendgrid_api_key),
            ("AKASHIC_EMAIL_FROM", settings.akashic_email_from),
            ("PUBLIC_BASE_URL", settings.public_base_url),
        )
        if not value
    ]


def with_unsubscribe(text: str, unsubscribe_url: str) -> str:
    """A campaign email's text with its unsubscribe link at the end."""
    return f"{text.rstrip()}\n\n--\nTo stop receiving these emails, unsubscribe: {unsubscribe_url}\n"


def missing_sms_settings(settings: Settings) -> list[str]:
    values = (
        ("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
        ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
        ("AKASHIC_SMS_FROM", settings.akashic_sms_from),
    )
    return [name for name, value in values if not value]


class EmailSender:
    """SendGrid's v3 mail send, one request per recipient (the client is synchronous: each call
    runs in a thread)."""

    def __init__(self, settings: Settings) -> None:
        assert settings.sendgrid_api_key is not None
        assert settings.akashic_email_from is not None
        self.sender = settings.akashic_email_from
        self.client = SendGridAPIClient(
            api_key=settings.sendgrid_api_key.get_secret_value(), host=settings.sendgrid_api_host
        )

    def _post(self, body: dict[str, Any]) -> Any:
        return self.client.client.mail.send.post(request_body=body, timeout=TIMEOUT_SECONDS)

    async def send(
        self, *, delivery_id: uuid.UUID, to: str, subject: str, text: str, unsubscribe_url: str
    ) -> SendOutcome:
        """One email, its unsubscribe link in the text and in the RFC 8058 headers (a mail
        client's own unsubscribe button POSTs `List-Unsubscribe=One-Click` to it)."""
        mail = Mail(
            from_email=self.sender,
            to_emails=to,
            subject=subject,
            plain_text_content=with_unsubscribe(text, unsubscribe_url),
        )
        mail.custom_arg = CustomArg(DELIVERY_ARG, str(delivery_id))
        mail.header = Header("List-Unsubscribe", f"<{unsubscribe_url}>")
        mail.header = Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
        try:
            response = await asyncio.to_thread(self._post, mail.get())
        except HTTPError as error:
            detail = error.body.decode("utf-8", "replace") if isinstance(error.body, bytes) else str(error.body)
            return SendOutcome(
                error=f"SendGrid answered {error.status_code}: {detail}"[:1000],
                transient=_transient_status(int(error.status_code)),
            )
        except (URLError, OSError) as error:  # refused, reset, timed out
            return SendOutcome(error=f"SendGrid unreachable: {error}"[:1000], transient=True)
        message_id = response.headers.get("X-Message-Id")
        if not message_id:
            return SendOutcome(error="SendGrid accepted the message without an X-Message-Id", transient=False)
        return SendOutcome(provider_message_id=str(message_id))

    async def close(self) -> None:
        return None


class _TwilioAt(AsyncTwilioHttpClient):
    """Twilio's asynchronous HTTP client, sending Twilio's API requests to another origin."""

    def __init__(self, origin: str | None) -> None:
        super().__init__(timeout=TIMEOUT_SECONDS)
        self.origin = origin.rstrip("/") if origin else None

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self.origin is not None and url.startswith(TWILIO_ORIGIN):
            url = self.origin + url[len(TWILIO_ORIGIN) :]
        return await super().request(method, url, *args, **kwargs)


class SmsSender:
    """Twilio's Messages resource (`messages.create`), asynchronously (aiohttp)."""

    def __init__(self, settings: Settings) -> None:
        assert settings.twilio_account_sid
        assert settings.twilio_auth_token is not None
        assert settings.akashic_sms_from
        self.sender = settings.akashic_sms_from
        self.http = _TwilioAt(settings.twilio_api_base_url)
        self.client = TwilioClient(
            settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(), http_client=self.http
        )

    async def send(self, *, to: str, text: str, status_callback: str | None) -> SendOutcome:
        sender: dict[str, Any] = (
            {"messaging_service_sid": self.sender} if self.sender.startswith("MG") else {"from_": self.sender}
        )
        if status_callback is not None:
            sender["status_callback"] = status_callback
        try:
            message = await self.client.messages.create_async(to=to, body=text, **sender)
        except TwilioRestException as error:
            return SendOutcome(
                error=f"Twilio answered {error.status}"
                + (f" (error {error.code})" if error.code else "")
                + f": {error.msg}"[:900],
                transient=_transient_status(int(error.status)),
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            return SendOutcome(error=f"Twilio unreachable: {type(error).__name__}: {error}"[:1000], transient=True)
        if not message.sid:
            return SendOutcome(error="Twilio accepted the message without a sid", transient=False)
        return SendOutcome(provider_message_id=message.sid)

    async def close(self) -> None:
        await self.http.close()
