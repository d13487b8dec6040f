"""A campaign's contacts: the people its emails and text messages go to.

**Import** (`import_contacts`, `contacts.write`): a list of rows (name, email and/or phone,
segments, opt-outs). Every row is checked first; any bad row refuses the whole import with one
typed error per bad row (`ContactRowsRefused`, each naming `["input", "contacts", i, field]`), and
nothing is written. A row whose email (case-insensitively) or phone number is already a contact's
updates that contact (its name, its segments, the address it lacked); one that names two
different contacts, or the same person as an earlier row, is a bad row. An import can record an
opt-out, never withdraw one: that is `set_contact_opt_out`, a deliberate act.

Emails are stored in lower case; phone numbers in E.164 (`+` and 7 to 15 digits; spaces, dots,
dashes and parentheses are dropped). Imports of one campaign take turns (an advisory lock), so
two imports naming one new person make one contact.

Writes flush, never commit.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.access import requires
from core.context import Actor
from core.errors import NotFound, ValidationFailed
from models.akashic import Campaign
from models.akashic_sending import Contact, DeliveryChannel
from services.akashic import CONTACTS_WRITE
from services.identity import EMAIL_PATTERN
from services.inputs import utcnow

MAX_ROWS = 1000
MAX_SEGMENTS = 50
_PHONE_NOISE = re.compile(r"[\s().\-]")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True)
class ContactRow:
    """One row of an import, as given."""

    name: str
    email: str | None = None
    phone: str | None = None
    segments: Sequence[str] = ()
    email_opted_out: bool = False
    sms_opted_out: bool = False


@dataclass
class _Clean:
    name: str
    email: str | None
    phone: str | None
    segments: list[str]
    email_opted_out: bool
    sms_opted_out: bool


class ContactRowsRefused(ValidationFailed):
    """Some rows of an import are invalid: nothing was imported; `rows` holds one error per bad row."""

    def __init__(self, rows: list[ValidationFailed]) -> None:
        super().__init__(
            f"{len(rows)} row(s) of the import are invalid: nothing was imported", field=["input", "contacts"]
        )
        self.rows = rows


@dataclass(frozen=True)
class ImportResult:
    contacts: list[Contact]
    created: int
    updated: int
    errors: list[ValidationFailed] = field(default_factory=list)


def normalize_phone(value: str) -> str | None:
    """The E.164 form of a phone number written with spaces, dots, dashes or parentheses; None if
    it is not one."""
    phone = _PHONE_NOISE.sub("", value)
    return phone if _E164.match(phone) else None


def _row_error(index: int, name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"Row {index + 1}: {message}", field=["input", "contacts", str(index), name])


def _clean(index: int, row: ContactRow) -> _Clean | ValidationFailed:
    for name, value in (
        ("name", row.name),
        ("email", row.email),
        ("phone", row.phone),
        *(("segments", v) for v in row.segments),
    ):
        if value is not None and "\x00" in value:
            return _row_error(index, name, "text can't hold NUL characters")
    name = row.name.strip()
    if not name or len(name) > 200:
        return _row_error(index, "name", "a name is 1 to 200 characters")
    email = row.email.strip().lower() if row.email and row.email.strip() else None
    if email is not None and (len(email) > 320 or not EMAIL_PATTERN.match(email)):
        return _row_error(index, "email", f"{row.email!r} is not an email address")
    phone = None
    if row.phone and row.phone.strip():
        phone = normalize_phone(row.phone)
        if phone is None:
            return _row_error(index, "phone", f"{row.phone!r} is not a phone number in E.164 form (+15551234567)")
    if email is None and phone is None:
        return _row_error(index, "email", "a contact needs an email or a phone number")
    segments: list[str] = []
    for value in row.segments:
        segment = value.strip()
        if not segment or len(segment) > 80:
            return _row_error(index, "segments", "a segment is 1 to 80 characters")
        if segment not in segments:
            segments.append(segment)
    if len(segments) > MAX_SEGMENTS:
        return _row_error(index, "segments", f"at most {MAX_SEGMENTS} segments")
    return _Clean(name, email, phone, segments, row.email_opted_out, row.sms_opted_out)


async def _lock_contacts(session: AsyncSession, campaign_id: uuid.UUID) -> None:
    key = sa.func.hashtextextended(f"akashic.contacts:{campaign_id}", 0)
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def _opt_out(current: datetime | None, wanted: bool, now: datetime) -> datetime | None:
    return current if current is not None or not wanted else now


@requires(CONTACTS_WRITE, organization="campaign_id", field="campaignId", noun="campaign")
async def import_contacts(
    session: AsyncSession, *, actor: Actor, campaign_id: uuid.UUID, rows: Sequence[ContactRow]
) -> ImportResult:
    """Add (or update) the campaign's contacts from `rows`, all or nothing."""
    if await session.get(Campaign, campaign_id) is None:
        raise NotFound("No campaign with this `campaignId`", field=["input", "campaignId"])
    if not rows or len(rows) > MAX_ROWS:
        raise ValidationFailed(f"An import has 1 to {MAX_ROWS} rows", field=["input", "contacts"])
    cleaned: list[tuple[int, _Clean]] = []
    errors: list[ValidationFailed] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        result = _clean(index, row)
        if isinstance(result, ValidationFailed):
            errors.append(result)
            continue
        for key, name in ((result.email, "email"), (result.phone, "phone")):
            if key is not None and key in seen:
                errors.append(_row_error(index, name, f"the same {name} as row {seen[key] + 1}"))
                break
        else:
            seen.update({key: index for key in (result.email, result.phone) if key is not None})
            cleaned.append((index, result))
    if errors:
        raise ContactRowsRefused(errors)

    await _lock_contacts(session, campaign_id)
    emails = [clean.email for _, clean in cleaned if clean.email is not None]
    phones = [clean.phone for _, clean in cleaned if clean.phone is not None]
    existing = (
        await session.execute(
            sa.select(Contact).where(
                Contact.organization_id == campaign_id,  # type: ignore[arg-type]
                sa.or_(Contact.email.in_(emails), Contact.phone.in_(phones)),  # type: ignore[union-attr]
            )
        )
    ).scalars()
    by_email: dict[str, Contact] = {}
    by_phone: dict[str, Contact] = {}
    for contact in existing:
        if contact.email is not None:
            by_email[contact.email] = contact
        if contact.phone is not None:
            by_phone[contact.phone] = contact

    now = utcnow()
    contacts: list[Contact] = []
    created = updated = 0
    for index, clean in cleaned:
        by_mail = by_email.get(clean.email) if clean.email else None
        by_number = by_phone.get(clean.phone) if clean.phone else None
        if by_mail is not None and by_number is not None and by_mail.id != by_number.id:
            errors.append(_row_error(index, "phone", "its email is one contact's and its phone number another's"))
            continue
        found = by_mail or by_number
        if found is None:
            contact = Contact(
                organization_id=campaign_id,
                name=clean.name,
                email=clean.email,
                phone=clean.phone,
                segments=clean.segments,
                email_opted_out_at=now if clean.email_opted_out else None,
                sms_opted_out_at=now if clean.sms_opted_out else None,
            )
            session.add(contact)
            created += 1
        else:
            contact = found
            contact.name = clean.name
            contact.segments = clean.segments
            contact.email = contact.email or clean.email
            contact.phone = contact.phone or clean.phone
            contact.email_opted_out_at = _opt_out(contact.email_opted_out_at, clean.email_opted_out, now)
            contact.sms_opted_out_at = _opt_out(contact.sms_opted_out_at, clean.sms_opted_out, now)
            contact.updated_at = now
            updated += 1
        contacts.append(contact)
    if errors:
        raise ContactRowsRefused(errors)
    await session.flush()
    return ImportResult(contacts, created, updated)


@requires(CONTACTS_WRITE, organization="contact_id", via=Contact, field="contactId", noun="contact")
async def set_contact_opt_out(
    session: AsyncSession, *, actor: Actor, contact_id: uuid.UUID, channel: str, opted_out: bool
) -> Contact:
    """Record that a contact opted out of a channel (or back in: their consent, given again)."""
    contact = await session.get(Contact, contact_id, with_for_update=True, populate_existing=True)
    if contact is None:
        raise NotFound("No contact with this `contactId`", field=["input", "contactId"])
    now = utcnow()
    if channel == DeliveryChannel.EMAIL.value:
        contact.email_opted_out_at = (contact.email_opted_out_at or now) if opted_out else None
    elif channel == DeliveryChannel.SMS.value:
        contact.sms_opted_out_at = (contact.sms_opted_out_at or now) if opted_out else None
    else:
        raise ValidationFailed("Contacts opt out of EMAIL or SMS", field=["input", "channel"])
    contact.updated_at = now
    await session.flush()
    return contact


async def opt_out_email(session: AsyncSession, *, campaign_id: uuid.UUID, email: str, at: datetime) -> None:
    """A contact unsubscribed or reported spam (SendGrid's events): no more email to them."""
    contact = (
        await session.execute(
            sa.select(Contact)
            .where(
                Contact.organization_id == campaign_id,  # type: ignore[arg-type]
                Contact.email == email.strip().lower(),  # type: ignore[arg-type]
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if contact is not None and contact.email_opted_out_at is None:
        contact.email_opted_out_at = at
        contact.updated_at = utcnow()
        await session.flush()


#: The words a text message answers to opt out of a sender's SMS, and back in (Twilio's default
#: opt-out and opt-in keywords: the whole message, any case, spaces around it ignored).
SMS_OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
SMS_OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})


async def sms_keyword(session: AsyncSession, *, phone: str, body: str, at: datetime) -> bool | None:
    """A text message from `phone` to our sender: an opt-out keyword opts every contact with that
    number out of SMS (the sender number is every campaign's, and the person asked it to stop),
    an opt-in keyword opts them back in (their consent, given again); returns True for an
    opt-out, False for an opt-in, None for any other message (nothing changes)."""
    keyword = body.strip().upper()
    if keyword in SMS_OPT_OUT_KEYWORDS:
        opting_out = True
    elif keyword in SMS_OPT_IN_KEYWORDS:
        opting_out = False
    else:
        return None
    number = normalize_phone(phone)
    if number is None:
        return opting_out
    contacts = (
        (await session.execute(sa.select(Contact).where(Contact.phone == number).with_for_update()))  # type: ignore[arg-type]
        .scalars()
        .all()
    )
    for contact in contacts:
        wanted = (contact.sms_opted_out_at or at) if opting_out else None
        if wanted != contact.sms_opted_out_at:
            contact.sms_opted_out_at = wanted
            contact.updated_at = utcnow()
    await session.flush()
    return opting_out
