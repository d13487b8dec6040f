"""Akashic's part of the demo (`serve --demo`): a campaign with the demo user as its campaign
manager, staff accounts in the other roles (they sign in with the demo password), messages with
several versions and a workflow history, donations, knowledge documents and analyses, made through
the services as the staff and the providers would:

- donations through the ledger's own path (`services.akashic.donations.record_contribution` and
  `record_reversal`, what the ActBlue and Stripe webhooks call): 24 donors with their FEC fields,
  some over the $200 itemization threshold in the cycle, a refund in part and a chargeback;
- two knowledge documents of the campaign (`services.akashic.knowledge.add_document`), embedded
  by the offline provider (the re-embedding task moves them to a configured remote model);
- the analysis of each message's versions that `DEMO_ANALYSES` names, made by the analysis engine
  with the offline provider (`services.akashic.analysis.analyse`: the rules, and the knowledge
  chunks it cites), as a finished job would write them.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.ai import OfflineProvider
from core.context import Actor
from core.security import hash_password
from models.akashic import Message
from models.akashic_analysis import AnalysisStatus, MessageAnalysis
from models.akashic_donations import DonationProvider, LedgerEntryKind
from models.identity import Role, User
from models.organizations import Membership, Organization
from services.akashic import COMMUNICATIONS_DIRECTOR, FIELD_ORGANIZER, FINANCE_DIRECTOR, VOLUNTEER, knowledge
from services.akashic import messages as msg
from services.akashic.analysis import Subject, analyse
from services.akashic.campaigns import CampaignDetails, create_campaign
from services.akashic.contacts import ContactRow, import_contacts
from services.akashic.donation_events import Contribution, DonorDetails, Reversal
from services.akashic.donations import record_contribution, record_reversal
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


#: The donors: (first, last, city, ZIP, employer, occupation); the first ones give the most.
DONORS = (
    ("Alice", "Hammond", "Columbus", "43215", "OhioHealth", "Nurse"),
    ("Brian", "Kowalski", "Dayton", "45402", "Self-employed", "Electrician"),
    ("Carmen", "Diaz", "Cincinnati", "45202", "Cincinnati Public Schools", "Teacher"),
    ("Dev", "Patel", "Columbus", "43210", "Ohio State University", "Professor"),
    ("Erin", "O'Neill", "Toledo", "43604", "ProMedica", "Pharmacist"),
    ("Frank", "Murphy", "Akron", "44308", None, "Retired"),
    ("Grace", "Liu", "Cleveland", "44113", "KeyBank", "Analyst"),
    ("Hector", "Alvarez", "Lorain", "44052", "Ford Motor Company", "Assembler"),
    ("Imani", "Brooks", "Columbus", "43205", "City of Columbus", "Planner"),
    ("Jack", "Sullivan", "Youngstown", "44503", "Self-employed", "Contractor"),
    ("Keiko", "Tanaka", "Dublin", "43017", "Cardinal Health", "Engineer"),
    ("Luis", "Romero", "Canton", "44702", "Timken", "Machinist"),
    ("Maya", "Goldberg", "Shaker Heights", "44120", "Cleveland Clinic", "Physician"),
    ("Nate", "Fischer", "Sandusky", "44870", "Cedar Point", "Manager"),
    ("Olivia", "Washington", "Columbus", "43206", None, "Student"),
    ("Paul", "Nguyen", "Westerville", "43081", "Nationwide", "Actuary"),
    ("Quinn", "Baker", "Athens", "45701", "Ohio University", "Librarian"),
    ("Rosa", "Martinez", "Springfield", "45502", "Self-employed", "Baker"),
    ("Sean", "McCarthy", "Parma", "44129", "Union Local 18", "Operator"),
    ("Tara", "Singh", "Mason", "45040", "Procter & Gamble", "Chemist"),
    ("Uma", "Reddy", "Hilliard", "43026", "Honda", "Designer"),
    ("Victor", "Johnson", "Lima", "45801", None, "Retired"),
    ("Wendy", "Clark", "Zanesville", "43701", "Genesis Healthcare", "Nurse"),
    ("Xavier", "Moore", "Columbus", "43215", "Self-employed", "Attorney"),
)

#: The campaign's knowledge documents: (title, source, text).
KNOWLEDGE = (
    (
        "Maria Chen: biography",
        "Chen for State Senate, campaign office",
        "Maria Chen has worked as an emergency-room nurse in Columbus for fourteen years and owns a "
        "neighborhood pharmacy on the east side with her husband. She grew up in Lorain, the daughter of a "
        "steelworker and a school secretary, and was the first in her family to finish college.\n\n"
        "She chairs the board of the East Side Community Clinic and volunteers with the county's free "
        "vaccination days. She is running as an independent because, in her words, a fever does not ask "
        "which party you vote for.",
    ),
    (
        "Issue positions: health costs, jobs, water",
        "Chen for State Senate, policy team (draft of March)",
        "Prescription costs. Cap insulin at $35 a month for every Ohioan, and require pharmacy benefit "
        "managers to report the rebates they keep. Small pharmacies close when reimbursements fall below "
        "cost; the state should set a floor.\n\n"
        "Jobs. Expand the apprenticeship tax credit to small firms with fewer than fifty employees, and tie "
        "state incentives to wages of at least $20 an hour.\n\n"
        "Clean water. Replace every lead service line in the district within ten years, funded by the "
        "federal infrastructure grants the state has not yet drawn down.",
    ),
)


#: By message title: the numbers of its versions the demo shows analysed.
DEMO_ANALYSES: dict[str, tuple[int, ...]] = {
    "Saturday rally": (1, 3),
    "Campaign launch": (2,),
    "Friday deadline": (1, 2),
}


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
    """The demo campaign: Maria Chen for State Senate, its staff, three messages (one sent, one
    approved, one in review after changes were requested) and their analyses, donations and the
    campaign's knowledge documents."""
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
    messages = {"Saturday rally": rally, "Campaign launch": press, "Friday deadline": fundraising}
    await _donations(session, campaign.id)
    await _knowledge(session, comms, campaign.id)
    await _analyses(session, actor, campaign.id, messages)


async def _analyses(
    session: AsyncSession, actor: Actor, campaign_id: uuid.UUID, messages: dict[str, uuid.UUID]
) -> None:
    """The analyses of the versions `DEMO_ANALYSES` names (`messages`: the ids by title), made by
    the engine offline and written as a finished job writes them (after the knowledge documents,
    which they cite)."""
    provider = OfflineProvider()
    campaign = await session.get_one(Organization, campaign_id)
    for title, message_id in messages.items():
        message = await session.get_one(Message, message_id)
        for version in await msg.versions_of(session, message_id):
            if version.number not in DEMO_ANALYSES.get(title, ()):
                continue
            subject = Subject(
                text=version.body,
                channel=message.channel,
                paid=message.paid,
                audience_segments=list(message.audience_segments),
                committee=campaign.name,
            )
            began = time.perf_counter()
            values, _, model = await analyse(
                session, actor=actor, provider=provider, subject=subject, campaign_id=campaign_id
            )
            session.add(
                MessageAnalysis(
                    organization_id=campaign_id,
                    message_id=message_id,
                    version_id=version.id,
                    status=AnalysisStatus.SUCCEEDED.value,
                    requested_by=actor.user_id,
                    model=model,
                    duration_ms=round((time.perf_counter() - began) * 1000),
                    completed_at=datetime.now(UTC),
                    **values,
                )
            )
    await session.flush()


async def _donations(session: AsyncSession, campaign_id: uuid.UUID) -> None:
    """Donations over the last 60 days, through the ledger's path; the first donors give the most
    (itemized: over $200 in the cycle), one gift is refunded in part and one charged back."""
    now = datetime.now(UTC)
    draw = random.Random(12)  # the same demo every time
    prefix = f"demo-{campaign_id.hex[:8]}"
    given: dict[str, int] = {}
    for n, (first, last, city, zip_code, employer, occupation) in enumerate(DONORS):
        donor = DonorDetails(
            first_name=first,
            last_name=last,
            street=f"{100 + 17 * n} {('Oak', 'Maple', 'High', 'Main', 'Elm')[n % 5]} St",
            city=city,
            state="OH",
            zip=zip_code,
            employer=employer,
            occupation=occupation,
            email=f"{first.lower()}.{last.lower().replace(chr(39), '')}@example.com",
        )
        gifts = 4 if n < 6 else 1 + n % 3
        for gift in range(gifts):
            cents = draw.choice((100_00, 150_00, 250_00)) if n < 6 else draw.choice((10_00, 25_00, 27_00, 50_00))
            external_id = f"{prefix}-{n}-{gift}"
            given[external_id] = cents
            await record_contribution(
                session,
                Contribution(
                    campaign_id=campaign_id,
                    provider=DonationProvider.ACTBLUE if (n + gift) % 4 else DonationProvider.STRIPE,
                    external_id=external_id,
                    amount_cents=cents,
                    received_at=now - timedelta(days=draw.randint(1, 60), minutes=draw.randint(0, 600)),
                    donor=donor,
                ),
            )
    await record_reversal(
        session,
        Reversal(DonationProvider.ACTBLUE, f"{prefix}-1-1", LedgerEntryKind.REFUND, 50_00, now - timedelta(hours=5)),
    )
    await record_reversal(
        session,
        Reversal(DonationProvider.STRIPE, f"{prefix}-7-1", LedgerEntryKind.CHARGEBACK, given[f"{prefix}-7-1"], now),
    )


async def _knowledge(session: AsyncSession, author: Actor, campaign_id: uuid.UUID) -> None:
    provider = OfflineProvider()
    for title, source, text in KNOWLEDGE:
        await knowledge.add_document(
            session, actor=author, campaign_id=campaign_id, title=title, source=source, text=text, provider=provider
        )
