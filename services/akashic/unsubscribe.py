"""Unsubscribing from a campaign's email, by the link every campaign email carries.

Each email names its recipient's unsubscribe page, `{PUBLIC_BASE_URL}/akashic/unsubscribe/<token>`,
in its text and in the `List-Unsubscribe` header, with `List-Unsubscribe-Post:
List-Unsubscribe=One-Click` (RFC 8058: a mail client's one-click unsubscribe POSTs
`List-Unsubscribe=One-Click` to that URL). The token is a JWS (joserfc, HS256) naming the
contact and its campaign, signed with a key derived (HKDF) from `API_KEY_SECRET` for this
purpose alone: it can't be forged or pointed at another contact, and it holds no address.

A POST to the link opts the contact out of email (`email_opted_out_at`, kept if already set):
sending skips them from then on, a message's queued deliveries to them included. A GET answers
a page with the button that POSTs: mail software and link scanners fetch the links in a message,
and a GET that unsubscribed would unsubscribe people who never asked (why RFC 8058 exists).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from sqlalchemy.ext.asyncio import AsyncSession

from core.api_keys import key_secret
from core.settings import Settings
from models.akashic_sending import Contact
from services.inputs import utcnow

#: Where the unsubscribe page is, under the API's public origin.
UNSUBSCRIBE_PATH = "/akashic/unsubscribe"
#: What the token says it is for (a token of another purpose signed with another key never verifies).
_PURPOSE = b"quintet akashic email unsubscribe v1"
_CHANNEL = "email"


def _key(settings: Settings) -> OctKey:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(key_secret(settings))
    return OctKey.import_key(derived)


@dataclass(frozen=True)
class UnsubscribeToken:
    contact_id: uuid.UUID
    campaign_id: uuid.UUID


def make_token(settings: Settings, *, contact_id: uuid.UUID, campaign_id: uuid.UUID) -> str:
    claims = {"sub": str(contact_id), "org": str(campaign_id), "ch": _CHANNEL}
    return jwt.encode({"alg": "HS256"}, claims, _key(settings), algorithms=["HS256"])


def read_token(settings: Settings, token: str) -> UnsubscribeToken | None:
    """The contact a token names, or None for a token that doesn't verify (forged, changed, cut)."""
    try:
        claims = jwt.decode(token, _key(settings), algorithms=["HS256"]).claims
        if claims.get("ch") != _CHANNEL:
            return None
        return UnsubscribeToken(uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims["org"])))
    except (JoseError, KeyError, ValueError):
        return None


def unsubscribe_url(settings: Settings, *, contact_id: uuid.UUID, campaign_id: uuid.UUID) -> str | None:
    """The contact's unsubscribe link (None without `PUBLIC_BASE_URL`: no link can be given)."""
    if settings.public_base_url is None:
        return None
    token = make_token(settings, contact_id=contact_id, campaign_id=campaign_id)
    return f"{settings.public_base_url.rstrip('/')}{UNSUBSCRIBE_PATH}/{token}"


async def unsubscribe(session: AsyncSession, *, token: UnsubscribeToken, at: datetime | None = None) -> bool:
    """Opt the token's contact out of email; False when the contact is gone (nothing to stop)."""
    contact = (
        await session.execute(
            sa.select(Contact)
            .where(
                Contact.id == token.contact_id,  # type: ignore[arg-type]
                Contact.organization_id == token.campaign_id,  # type: ignore[arg-type]
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if contact is None:
        return False
    if contact.email_opted_out_at is None:
        contact.email_opted_out_at = at or utcnow()
        contact.updated_at = utcnow()
        await session.flush()
    return True
