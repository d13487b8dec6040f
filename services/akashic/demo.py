"""Akashic's part of the demo (`serve --demo`): a campaign with the demo user as its campaign
manager, staff accounts in the other roles (they sign in with the demo password), and messages
with several versions and a workflow history, made through the services as the staff would."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor
from core.security import hash_password
from models.identity import Role, User
from models.organizations import Membership
from services.akashic import COMMUNICATIONS_DIRECTOR, FIELD_ORGANIZER, FINANCE_DIRECTOR, VOLUNTEER
from services.akashic import messages as msg
from services.akashic.campaigns import CampaignDetails, create_campaign
from services.akashic.contacts import ContactRow, import_contacts
from services.demo import DEMO_PASSWORD

#: The staff's accounts: (email, display name, role); their password is the demo user's.
STAFF = (
    ("comms@akashic.quintet.dev", "Rosa Rivera", COMMUNICATIONS_DIRECTOR),
    ("finance@akashic.quintet.dev", "Sam Okafor", FINANCE_DIRECTOR),
    ("field@akashic.quintet.dev", "Jordan Lee", FIELD_ORGANIZER),
    ("volunteer@akashic.quintet.dev", "Casey Novak", VOLUNTEER),
)

CONTACTS = (
    ContactRow("Alex Moreno", "alex.moreno@example.com", "+16145550101", ("Young voters",)),
    ContactRow("Priya Shah", "priya.shah@example.com", "+16145550102", ("Reliable Democrats", "Donors")),
    ContactRow("Tom Becker", "tom.becker@example.com", None, ("Reliable Democrats",), email_opted_out=True),
    ContactRow("Dana Kim", None, "+16145550104", ("Young voters", "Donors")),
)

RALLY = [
    "Join us Saturday at Lincoln Park for a rally on good jobs and safe streets.",
    "Join us Saturday at 10 am at Lincoln Park for a rally on good jobs, safe streets and clean water.",
    "Join Maria Chen this Saturday at 10 am at Lincoln Park: a rally for good jobs, safe streets and clean water. "
    "Bring a neighbor!",
]
PRESS = [
    "Maria Chen announces her run for State Senate, District 12.",
    "Maria Chen, a nurse and small-business owner, announces her run for State Senate, District 12, promising "
    "lower prescription costs.",
]
FUNDRAISING = [
    "Reply GIVE to chip in $10 before Friday's deadline.",
    "Our opponent just outraised us. Reply GIVE to chip in $10 before midnight Friday. Paid for by Chen for Senate.",
]


async def _staff_member(session: AsyncSession, campaign_id: uuid.UUID, email: str, name: str, role: str) -> Actor:
    user = User(email=email, display_name=name, role=Role.USER.value, password_hash=await hash_password(DEMO_PASSWORD))
    session.add(user)
    await session.flush()
    session.add(Membership(organization_id=campaign_id, user_id=user.id, role=role))
    await session.flush()
    return Actor(user_id=user.id, role=user.role)


async def _message(
    session: AsyncSession,
    author: Actor,
    campaign_id: uuid.UUID,
    title: str,
    channel: str,
    texts: list[str],
    *,
    segments: list[str],
    paid: bool = False,
) -> uuid.UUID:
    message, version = await msg.create_message(
        session,
        actor=author,
        campaign_id=campaign_id,
        title=title,
        channel=channel,
        audience_segments=segments,
        paid=paid,
        body=texts[0],
        summary="First draft",
    )
    for number, text in enumerate(texts[1:], start=2):
        _, version = await msg.save_message_version(
            session,
            actor=author,
            message_id=message.id,
            base_version_id=version.id,
            body=text,
            summary=f"Draft {number}",
        )
    return message.id


async def akashic_demo(session: AsyncSession, actor: Actor) -> None:
    """The demo campaign: Maria Chen for State Senate, its staff and three messages (one sent,
    one approved, one in review after changes were requested)."""
    today = datetime.now(UTC).date()
    election = date(today.year + (today.year % 2), 11, 3)
    election = election if election > today else date(today.year + 2, 11, 3)
    _, _, campaign = await create_campaign(
        session,
        actor=actor,
        name="Chen for State Senate",
        slug="chen-for-senate",
        details=CampaignDetails(
            office="State Senate, District 12",
            jurisdiction="Ohio",
            election_date=election,
            party="Independent",
            election_cycle=election.year,
        ),
    )
    staff = {role: await _staff_member(session, campaign.id, email, name, role) for email, name, role in STAFF}
    comms, field = staff[COMMUNICATIONS_DIRECTOR], staff[FIELD_ORGANIZER]

    rally = await _message(
        session, field, campaign.id, "Saturday rally", "email", RALLY, segments=["Reliable Democrats", "Young voters"]
    )
    await msg.submit_message(session, actor=field, message_id=rally, note="Ready for a look")
    await msg.approve_message(session, actor=comms, message_id=rally, note=None)
    await msg.schedule_message(
        session,
        actor=comms,
        message_id=rally,
        send_at=datetime.now(UTC) + timedelta(minutes=5),
        note=None,
    )
    await msg.mark_message_sent(session, actor=comms, message_id=rally, note="Sent to 12,400 addresses")

    press = await _message(
        session, comms, campaign.id, "Campaign launch", "press_release", PRESS, segments=["Statewide press"]
    )
    await msg.submit_message(session, actor=comms, message_id=press, note=None)
    await msg.approve_message(session, actor=actor, message_id=press, note="Good to go")

    fundraising = await _message(
        session, field, campaign.id, "Friday deadline", "sms", FUNDRAISING[:1], segments=["Donors"], paid=True
    )
    await msg.submit_message(session, actor=field, message_id=fundraising, note=None)
    await msg.request_message_changes(
        session,
        actor=comms,
        message_id=fundraising,
        note="Paid texts need the 'Paid for by' line",
    )
    versions = await msg.versions_of(session, fundraising)
    await msg.save_message_version(
        session,
        actor=field,
        message_id=fundraising,
        base_version_id=versions[-1].id,
        body=FUNDRAISING[1],
        summary="Added the disclaimer",
    )
    await msg.submit_message(session, actor=field, message_id=fundraising, note="Disclaimer added")

    # Contacts to send to (`sendMessage` with SENDGRID_* / TWILIO_* set): the segments of the
    # messages above, one of them opted out of email.
    await import_contacts(session, actor=field, campaign_id=campaign.id, rows=CONTACTS)
