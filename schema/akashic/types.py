"""Akashic's campaigns and messages: the object types, declared with the kit (their loaders and
SQL form derive from the declarations, every row read through its table's policy,
`models.akashic`), and the values a message's diff and a save's conflict carry."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
import strawberry
from sqlalchemy.dialects.postgresql import JSON, aggregate_order_by
from strawberry.utils.str_converters import to_camel_case

from core.access import holds, readable
from core.errors import ClientError, ValidationFailed
from core.fastpath import SelectionPlan
from core.relay import InvalidGlobalId, parse_global_id
from core.sqljson import Argument, Computed, Row, SqlCompiler, python_only_type
from models import akashic as m
from models import akashic_sending as ms
from models.akashic_donations import DonationLedgerEntry
from models.organizations import Membership
from schema import kit
from schema.akashic_donations import DonationTotals
from schema.common import Connection, Ctx, MutationError, Node, order_enum
from schema.identity import User
from schema.organizations import Organization
from services.akashic import DONATIONS_READ, sending
from services.akashic import donation_reports as donations_svc
from services.akashic import messages as svc
from services.akashic.campaigns import VIEWER_CAMPAIGNS_ORDER
from services.organizations import _sorts  # the orders of a list, as the organizations' lists make them

if TYPE_CHECKING:
    from schema.akashic_analysis import MessageAnalysis

_messages = m.Message.__table__  # type: ignore[attr-defined]
_versions = m.MessageVersion.__table__  # type: ignore[attr-defined]
_transitions = m.MessageTransition.__table__  # type: ignore[attr-defined]
_ledger = DonationLedgerEntry.__table__  # type: ignore[attr-defined]
_memberships = Membership.__table__  # type: ignore[attr-defined]

MessageOrderBy = order_enum(
    "MessageOrderBy",
    _sorts(CREATED_AT=(_messages.c.created_at, datetime), UPDATED_AT=(_messages.c.updated_at, datetime)),
    "messages",
)
MessageVersionOrderBy = order_enum(
    "MessageVersionOrderBy", _sorts(NUMBER=(_versions.c.number, int)), "message versions"
)
MessageTransitionOrderBy = order_enum(
    "MessageTransitionOrderBy", _sorts(AT=(_transitions.c.at, datetime)), "message transitions"
)
_contacts = ms.Contact.__table__  # type: ignore[attr-defined]
_deliveries = ms.MessageDelivery.__table__  # type: ignore[attr-defined]
CampaignContactOrderBy = order_enum(
    "CampaignContactOrderBy",
    _sorts(CREATED_AT=(_contacts.c.created_at, datetime), NAME=(_contacts.c.name, str)),
    "campaign contacts",
)
MessageDeliveryOrderBy = order_enum(
    "MessageDeliveryOrderBy",
    _sorts(CREATED_AT=(_deliveries.c.created_at, datetime), UPDATED_AT=(_deliveries.c.updated_at, datetime)),
    "message deliveries",
)


@strawberry.enum(description="Where a message goes out.")
class MessageChannel(Enum):
    EMAIL = strawberry.enum_value(m.MessageChannel.EMAIL.value, description="An email.")
    SMS = strawberry.enum_value(m.MessageChannel.SMS.value, description="A text message.")
    SOCIAL_POST = strawberry.enum_value(m.MessageChannel.SOCIAL_POST.value, description="A social media post.")
    SPEECH = strawberry.enum_value(m.MessageChannel.SPEECH.value, description="A speech.")
    PRESS_RELEASE = strawberry.enum_value(m.MessageChannel.PRESS_RELEASE.value, description="A press release.")


@strawberry.enum(description="Where a message stands in its workflow: draft → in review → approved → scheduled → sent.")
class MessageStatus(Enum):
    DRAFT = strawberry.enum_value(m.MessageStatus.DRAFT.value, description="Being written; editable.")
    IN_REVIEW = strawberry.enum_value(
        m.MessageStatus.IN_REVIEW.value, description="Submitted for approval; an edit sends it back to draft."
    )
    APPROVED = strawberry.enum_value(
        m.MessageStatus.APPROVED.value, description="Approved; an edit sends it back to draft."
    )
    SCHEDULED = strawberry.enum_value(
        m.MessageStatus.SCHEDULED.value, description="To be sent at `scheduledFor`; not editable (request changes)."
    )
    SENT = strawberry.enum_value(m.MessageStatus.SENT.value, description="Sent; never changes again.")


@strawberry.enum(description="What a piece of a diff does.")
class DiffOperation(Enum):
    EQUAL = strawberry.enum_value(0, description="In both versions.")
    INSERT = strawberry.enum_value(1, description="Only in the later version (added).")
    DELETE = strawberry.enum_value(-1, description="Only in the earlier version (removed).")


@python_only_type(why="Computed by diff-match-patch from two versions' texts (services/akashic/messages.py).")
@strawberry.type(description="A run of words of a diff and what happened to it.")
class DiffSegment:
    operation: DiffOperation = strawberry.field(description="Kept, added or removed.")
    text: str = strawberry.field(description="The words, with their whitespace.")


TotalsCycle = Annotated[
    int | None,
    strawberry.argument(description="Only this FEC two-year cycle's totals (an even year); null: every cycle's."),
]


def _check_cycle(cycle: int) -> int:
    """`donation_reports.check_cycle`, its refusal as the client's error (VALIDATION, field `cycle`)."""
    try:
        return donations_svc.check_cycle(cycle)
    except ValidationFailed as error:
        raise ClientError(error.message, str(error.code.value), field=error.field) from None


async def _donation_totals(self: Campaign, info: Ctx, cycle: TotalsCycle = None) -> list[DonationTotals] | None:
    if cycle is not None:
        _check_cycle(cycle)
    # None for a member whose role lacks `donations.read` (and for an API client: it holds no role).
    found = await info.context.loaders.akashic.donation_totals.load(self.pk)
    if found is None:
        return None
    # The loader reads every cycle's totals (one statement per batch of campaigns, whatever the cycles asked).
    return [DonationTotals.of(totals) for totals in found if cycle is None or totals.cycle == cycle]


_TOTALS_FIELDS = {
    "cycle": "cycle",
    "totalCents": "total_cents",
    "contributedCents": "contributed_cents",
    "reversedCents": "reversed_cents",
    "contributions": "contributions",
    "donors": "donors",
}


def _donation_totals_sql(
    row: Row, compiler: SqlCompiler, selection: SelectionPlan, *, cycle: sa.BindParameter[int]
) -> sa.ColumnElement[Any]:
    """`donationTotals` of the campaign's row in SQL: the ledger's sums per cycle
    (`donation_reports.ledger_sums`, what `cycle_totals` returns), latest first, only `cycle`'s
    unless it is null, for the members whose role holds `donations.read`, and null for the
    others, as the resolver answers."""
    ledger = _ledger.alias(compiler.name("l"))
    sums = donations_svc.ledger_sums(ledger)
    per_cycle = (
        sa.select(ledger.c.cycle.label("cycle"), *(value.label(name) for name, value in sums.items()))
        .where(
            ledger.c.organization_id == row.c.id,
            readable(ledger, table=_ledger),
            sa.or_(cycle.is_(None), ledger.c.cycle == cycle),
        )
        .group_by(ledger.c.cycle)
        .correlate(row)
        .lateral(compiler.name("t"))
    )
    each = compiler.leaves(selection, {field: per_cycle.c[column] for field, column in _TOTALS_FIELDS.items()})
    listed = sa.func.coalesce(
        sa.func.json_agg(aggregate_order_by(each, per_cycle.c.cycle.desc()), type_=JSON),
        sa.cast(sa.literal("[]"), JSON),
    )
    found = sa.select(listed).select_from(per_cycle).scalar_subquery()
    return sa.case((holds(row, _memberships, DONATIONS_READ, column="id"), found), else_=sa.null())


def viewer_campaigns_sql(row: Row, compiler: SqlCompiler, selection: SelectionPlan) -> sa.ColumnElement[Any]:
    """`Viewer.campaigns` in SQL: the campaigns the viewer reads (their table's policy: its staff),
    in `services.akashic.campaigns.VIEWER_CAMPAIGNS_ORDER`, as `viewer_campaigns` reads them."""
    table = m.Campaign.__table__  # type: ignore[attr-defined]
    rows = table.alias(compiler.name("v"))
    ordered = aggregate_order_by(compiler.object(selection, rows), *(rows.c[c] for c in VIEWER_CAMPAIGNS_ORDER))
    listed = sa.func.coalesce(sa.func.json_agg(ordered, type_=JSON), sa.cast(sa.literal("[]"), JSON))
    return sa.select(listed).select_from(rows).where(readable(rows, table=table)).scalar_subquery()


@kit.node(
    model=m.Campaign,
    key="Campaign",
    description="A political campaign (Akashic): an organization of kind `campaign` and its race; readable by "
    "its staff (the organization's members).",
)
class Campaign(Node, kit.FromRow):
    office: str = kit.column(description="The office sought, e.g. `State Senate, District 12`.")
    jurisdiction: str = kit.column(description="Where the race is, e.g. `Ohio`.")
    election_date: date = kit.column(description="Election day.")
    party: str | None = kit.column(description="The candidate's party, if any.")
    election_cycle: int = kit.column(description="The election cycle: the year it ends (FEC's two-year cycles).")
    fec_committee_id: str | None = kit.column(
        description="Its FEC committee id (`C` and 8 digits): the filer id of its FEC Schedule A; null until set."
    )
    created_at: datetime = kit.column(description="When it was created.")
    updated_at: datetime = kit.column(description="When its details last changed.")
    organization: Organization = kit.parent(
        "id", description="Its organization: name, slug, staff (`members`) and invitations."
    )
    messages: Connection[Message] = kit.children(
        "organization_id", order=MessageOrderBy.CREATED_AT_DESC, description="Its messages, newest first."
    )
    contacts: Connection[CampaignContact] = kit.children(
        "organization_id",
        order=CampaignContactOrderBy.CREATED_AT_ASC,
        description="The people its emails and text messages go to, oldest first; empty to a member whose role "
        "lacks `contacts.read`.",
    )
    donation_totals = kit.computed(
        _donation_totals,
        Computed(_donation_totals_sql, arguments={"cycle": Argument(sa.Integer(), check=_check_cycle)}),
        description="Its donation totals per FEC cycle, summed from the ledger, the latest cycle first (none "
        "without donations), or only `cycle`'s (none without donations in it); null unless the viewer's role "
        "holds `donations.read`. A `cycle` that is not an FEC cycle is a VALIDATION error.",
    )


@strawberry.type(description="How far a sent message's deliveries got (all zero before it is sent).")
class MessageDeliveryStats:
    recipients: int = strawberry.field(description="Recipients it goes to (the opted-out contacts aside).")
    queued: int = strawberry.field(description="Not handed to the provider yet.")
    sent: int = strawberry.field(description="Accepted by the provider (SendGrid, Twilio).")
    delivered: int = strawberry.field(description="Delivered (an open or a click implies it).")
    opened: int = strawberry.field(description="Opened (email; a read receipt for SMS).")
    clicked: int = strawberry.field(description="A link in it clicked (email).")
    failed: int = strawberry.field(description="Failed or bounced.")
    opted_out: int = strawberry.field(
        description="Contacts of its audience not sent to: they had opted out of the channel (when it was sent, or "
        "before their turn came)."
    )


def _delivery_stats_sql(row: Row, compiler: SqlCompiler, selection: SelectionPlan) -> sa.ColumnElement[Any]:
    """`deliveryStats` in SQL: the counts `services.akashic.sending.stats_values` makes, over the
    message's deliveries read through their policy (one row of counts, zeros when there are none)."""
    deliveries = _deliveries.alias()
    values = sending.stats_values(deliveries)
    counts = (
        sa.select(*(value.label(name) for name, value in values.items()))
        .select_from(deliveries)
        .where(deliveries.c.message_id == row.c.id, readable(deliveries, table=ms.MessageDelivery))
        .correlate(row)
        .lateral()
    )
    leaves = {to_camel_case(name): counts.c[name] for name in values}
    return sa.select(compiler.leaves(selection, leaves)).select_from(counts).scalar_subquery()


def _delivery_stats_field() -> Any:
    async def delivery_stats(self: Any, info: Ctx) -> MessageDeliveryStats:
        counts = await info.context.loaders.akashic_sending.delivery_stats.load(self.pk)
        return MessageDeliveryStats(**counts)

    return kit.computed(
        delivery_stats,
        Computed(_delivery_stats_sql),
        description="Its deliveries' counts: recipients, sent, delivered, opened, clicked, failed, opted out.",
    )


@kit.node(
    model=m.Message,
    key="Message",
    description="A campaign's message, under version control: every saved text is a `MessageVersion`.",
)
class Message(Node, kit.FromRow):
    title: str = kit.column(description="Its title.")
    channel: MessageChannel = kit.column(description="Where it goes out.")
    audience_segments: list[str] = kit.column(description="The audience segments it speaks to.")
    paid: bool = kit.column(description="Whether it is paid communication (it then needs a `Paid for by` line).")
    status: MessageStatus = kit.column(description="Where it stands in its workflow.")
    scheduled_for: datetime | None = kit.column(description="When it is to be sent, while scheduled.")
    sent_at: datetime | None = kit.column(description="When it was marked sent.")
    created_at: datetime = kit.column(description="When it was created.")
    updated_at: datetime = kit.column(description="When it, or its text, last changed.")
    created_by: User | None = kit.parent("created_by", description="Who created it, while a co-member.")
    campaign: Campaign = kit.parent("organization_id", description="Its campaign.")
    latest_version: MessageVersion | None = kit.parent(
        "latest_version_id", description="Its current text: the newest version (save the next one on it)."
    )
    versions: Connection[MessageVersion] = kit.children(
        "message_id", order=MessageVersionOrderBy.NUMBER_DESC, description="Every saved version, newest first."
    )
    transitions: Connection[MessageTransition] = kit.children(
        "message_id",
        order=MessageTransitionOrderBy.AT_ASC,
        description="Its workflow history: each move, who made it and when, oldest first.",
    )
    deliveries: Connection[MessageDelivery] = kit.children(
        "message_id",
        order=MessageDeliveryOrderBy.CREATED_AT_ASC,
        description="One per recipient once it is sent (`sendMessage`): where each went and how far it got.",
    )
    delivery_stats: MessageDeliveryStats = _delivery_stats_field()


def _version_pk(value: str) -> object:
    try:
        return parse_global_id(value, "MessageVersion")
    except InvalidGlobalId as exc:
        raise ClientError("`version` is not the ID of a MessageVersion", "INVALID_ID", argument="version") from exc


async def _diff_from(
    self: MessageVersion,
    info: Ctx,
    version: Annotated[strawberry.ID, strawberry.argument(description="The earlier version to compare with.")],
) -> list[DiffSegment]:
    row = await kit.rows_of(info.context.loaders, MessageVersion).load(_version_pk(version))
    if row is None or row.message_id != self.row.message_id:
        raise ClientError("No version of this message has this `version`", "NOT_FOUND", argument="version")
    return [DiffSegment(operation=DiffOperation(op), text=text) for op, text in svc.word_diff(row.body, self.body)]


@kit.node(model=m.MessageVersion, key="MessageVersion", description="One saved text of a message; never changes.")
class MessageVersion(Node, kit.FromRow):
    number: int = kit.column(description="1 for the first version, then one more per save.")
    body: str = kit.column(description="The text.")
    summary: str = kit.column(description="What changed, in its author's words.")
    created_at: datetime = kit.column(description="When it was saved.")
    author: User | None = kit.parent("author_id", description="Who saved it, while a co-member.")
    message: Message = kit.parent("message_id", description="Its message.")
    parent_version: MessageVersion | None = kit.parent(
        "parent_version_id", description="The version it was saved on (none for the first)."
    )
    restored_from: MessageVersion | None = kit.parent(
        "restored_from_id", description="The older version whose text it restores, if it is a restore."
    )
    # Named lazily: schema.akashic_analysis imports this module.
    analysis: Annotated["MessageAnalysis", strawberry.lazy("schema.akashic_analysis")] | None = kit.child(  # noqa: UP037
        "version_id",
        description="Its AI analysis (findings, resonance, rewrites, citations), once requested "
        "(`requestMessageAnalysis`); null before.",
    )
    diff_from: list[DiffSegment] = kit.python_only(
        _diff_from,
        why="a word-level diff computed by diff-match-patch",
        description="The word-level difference from another version of the same message to this one: what to "
        "keep, add and remove, in order (diff-match-patch, word mode).",
    )


@kit.node(
    model=m.MessageTransition,
    key="MessageTransition",
    description="A move of a message through its workflow: from, to, who and when.",
)
class MessageTransition(Node, kit.FromRow):
    from_status: MessageStatus = kit.column(description="Where it was.")
    to_status: MessageStatus = kit.column(description="Where it went.")
    note: str | None = kit.column(description="Why, if someone said (or that an edit withdrew an approval).")
    scheduled_for: datetime | None = kit.column(description="The time it was scheduled for, for a move to scheduled.")
    at: datetime = kit.column(description="When.")
    actor: User | None = kit.parent("actor_id", description="Who moved it, while a co-member.")
    message: Message = kit.parent("message_id", description="The message.")


# ----------------------------------------------------------------------------- conflicts


@strawberry.type(description="A place both sides of a merge changed differently.")
class MessageConflictHunk:
    base: str = strawberry.field(description="The text there in the version both started from.")
    theirs: str = strawberry.field(description="The text there in the current version.")
    mine: str = strawberry.field(description="The text there in the save that was refused.")


@strawberry.type(description="A three-way merge of a refused save with the current version (merge3, word by word).")
class MessageMergeProposal:
    base: str = strawberry.field(description="The text of the version the save was edited from.")
    theirs: str = strawberry.field(description="The current version's text.")
    mine: str = strawberry.field(description="The text that was sent (nothing of it is lost).")
    merged: str = strawberry.field(
        description="Both sides' changes together; where they clash, conflict markers (`<<<<<<< theirs`, "
        "`=======`, `>>>>>>> mine`) around each side's text."
    )
    clean: bool = strawberry.field(description="Whether both sides merged without a clash (`merged` has no markers).")
    conflicts: list[MessageConflictHunk] = strawberry.field(description="Each clash, in order (none when clean).")

    @classmethod
    def of(cls, proposal: svc.MergeProposal) -> MessageMergeProposal:
        return cls(
            base=proposal.base,
            theirs=proposal.theirs,
            mine=proposal.mine,
            merged=proposal.merged,
            clean=proposal.clean,
            conflicts=[MessageConflictHunk(base=h.base, theirs=h.theirs, mine=h.mine) for h in proposal.conflicts],
        )


@strawberry.type(
    description="Someone saved a version since the one the text was edited from (`VERSION_CONFLICT`): nothing was "
    "saved. Save again with `baseVersionId` the current version's id, e.g. with the merge proposal's text."
)
class MessageVersionConflictError(MutationError):
    current_version: MessageVersion = strawberry.field(description="The message's current (newest) version.")
    base_version: MessageVersion = strawberry.field(description="The version the refused text was edited from.")
    proposal: MessageMergeProposal = strawberry.field(description="The three-way merge of base, theirs and mine.")


@strawberry.type(
    description="The workflow does not allow this move or edit from where the message stands (`INVALID_TRANSITION`)."
)
class MessageTransitionError(MutationError):
    status: MessageStatus = strawberry.field(description="Where the message stands now.")


# ----------------------------------------------------------------------------- sending


@strawberry.enum(description="Where a delivery stands; it only moves forward.")
class MessageDeliveryStatus(Enum):
    QUEUED = strawberry.enum_value(ms.DeliveryStatus.QUEUED.value, description="Waiting for the sending job.")
    SENT = strawberry.enum_value(ms.DeliveryStatus.SENT.value, description="Accepted by the provider.")
    DELIVERED = strawberry.enum_value(ms.DeliveryStatus.DELIVERED.value, description="Delivered to the recipient.")
    OPENED = strawberry.enum_value(ms.DeliveryStatus.OPENED.value, description="Opened (or read).")
    CLICKED = strawberry.enum_value(ms.DeliveryStatus.CLICKED.value, description="A link in it was clicked.")
    BOUNCED = strawberry.enum_value(ms.DeliveryStatus.BOUNCED.value, description="The recipient's server refused it.")
    FAILED = strawberry.enum_value(
        ms.DeliveryStatus.FAILED.value, description="Not delivered: refused by the provider, undeliverable, or lost."
    )
    SKIPPED = strawberry.enum_value(
        ms.DeliveryStatus.SKIPPED.value,
        description="Not sent: the contact had opted out of the channel (unsubscribed, reported spam, texted STOP).",
    )


@strawberry.enum(description="Who carries a delivery.")
class MessageDeliveryProvider(Enum):
    SENDGRID = strawberry.enum_value(ms.DeliveryProvider.SENDGRID.value, description="SendGrid (email).")
    TWILIO = strawberry.enum_value(ms.DeliveryProvider.TWILIO.value, description="Twilio (SMS).")


@strawberry.enum(description="A channel a contact is written to (and may opt out of).")
class ContactChannel(Enum):
    EMAIL = strawberry.enum_value(ms.DeliveryChannel.EMAIL.value, description="Email.")
    SMS = strawberry.enum_value(ms.DeliveryChannel.SMS.value, description="Text messages.")


@kit.node(
    model=ms.Contact,
    key="CampaignContact",
    description="A person a campaign writes to; read by the members whose role holds `contacts.read`.",
)
class CampaignContact(Node, kit.FromRow):
    name: str = kit.column(description="Their name.")
    email: str | None = kit.column(description="Their email address (lower case), if any.")
    phone: str | None = kit.column(description="Their phone number (E.164), if any.")
    segments: list[str] = kit.column(description="The audience segments they belong to.")
    email_opted_out_at: datetime | None = kit.column(description="When they opted out of email; never emailed since.")
    sms_opted_out_at: datetime | None = kit.column(description="When they opted out of SMS; never texted since.")
    created_at: datetime = kit.column(description="When they were added.")
    updated_at: datetime = kit.column(description="When they last changed.")
    campaign: Campaign = kit.parent("organization_id", description="Their campaign.")


@kit.node(
    model=ms.MessageDelivery,
    key="MessageDelivery",
    description="A sent message's delivery to one recipient: where it went, through whom, how far it got.",
)
class MessageDelivery(Node, kit.FromRow):
    channel: ContactChannel = kit.column(description="Email or SMS.")
    provider: MessageDeliveryProvider = kit.column(description="Who carries it.")
    recipient: str | None = kit.column(
        description="The address it went to; null to a member whose role lacks `contacts.read`."
    )
    provider_message_id: str | None = kit.column(description="The provider's id of it, once accepted.")
    status: MessageDeliveryStatus = kit.column(description="How far it got.")
    error: str | None = kit.column(
        description="Why it failed, in the provider's words; null to a member whose role lacks `contacts.read`."
    )
    sent_at: datetime | None = kit.column(description="When the provider accepted it.")
    delivered_at: datetime | None = kit.column(description="When it was delivered.")
    opened_at: datetime | None = kit.column(description="When it was first opened.")
    clicked_at: datetime | None = kit.column(description="When a link in it was first clicked.")
    failed_at: datetime | None = kit.column(description="When it failed or bounced.")
    created_at: datetime = kit.column(description="When it was queued.")
    updated_at: datetime = kit.column(description="When it last moved.")
    message: Message = kit.parent("message_id", description="The message.")
    contact: CampaignContact | None = kit.parent(
        "contact_id", description="The contact; null to a member whose role lacks `contacts.read`."
    )
