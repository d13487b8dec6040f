"""Akashic's sending: importing contacts, their opt-outs, and sending an approved message. Thin
resolvers: parse ids, run one guarded service call in one unit of work, map the result or its
typed errors (an import's bad rows are one error each)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor
from core.errors import DomainError
from resolvers.akashic_ids import campaign_pk
from resolvers.support import described, input_id
from schema.akashic.types import (
    CampaignContact,
    ContactChannel,
    Message,
    MessageStatus,
    MessageTransition,
    MessageTransitionError,
)
from schema.common import Ctx, InputArg, MutationError, mutation_errors, raw
from schema.jobs import BackgroundJob
from services.akashic import contacts, messages, sending

ERRORS = "Why nothing changed, if so."


@strawberry.input(description="One contact of an import: a name and an email and/or a phone number.")
class CampaignContactInput:
    name: str = strawberry.field(description="Their name, 1 to 200 characters.")
    email: str | None = strawberry.field(default=None, description="Their email address.")
    phone: str | None = strawberry.field(
        default=None, description="Their phone number in E.164 (+15551234567; spaces, dots and dashes are dropped)."
    )
    segments: list[str] = strawberry.field(
        default_factory=list, description="The audience segments they belong to (each 1 to 80 characters, at most 50)."
    )
    email_opted_out: bool = strawberry.field(default=False, description="They asked for no email.")
    sms_opted_out: bool = strawberry.field(default=False, description="They asked for no text messages.")


@strawberry.input(description="Contacts to add to a campaign, or to update (found by email, else by phone).")
class ImportCampaignContactsInput:
    campaign_id: strawberry.ID = strawberry.field(description="The campaign.")
    contacts: list[CampaignContactInput] = strawberry.field(description="1 to 1,000 rows; one bad row refuses all.")


@strawberry.type(description="Result of `importCampaignContacts`.")
class ImportCampaignContactsPayload:
    contacts: list[CampaignContact] = strawberry.field(description="The rows' contacts as they are now, in order.")
    created: int = strawberry.field(description="Contacts added.")
    updated: int = strawberry.field(description="Existing contacts updated.")
    errors: list[MutationError] = strawberry.field(
        description="Why nothing was imported, if so: one error per bad row, `field` naming the row and its field."
    )


@strawberry.input(description="A contact's opt-out of a channel.")
class SetContactOptOutInput:
    contact_id: strawberry.ID = strawberry.field(description="The contact.")
    channel: ContactChannel = strawberry.field(description="Email or SMS.")
    opted_out: bool = strawberry.field(description="True: never send on this channel; false: they consented again.")


@strawberry.type(description="Result of `setContactOptOut`.")
class SetContactOptOutPayload:
    contact: CampaignContact | None = strawberry.field(description="The contact as it is now.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.input(description="Send an approved (or scheduled and due) email or SMS message.")
class SendMessageInput:
    message_id: strawberry.ID = strawberry.field(description="The message.")


@strawberry.type(description="Result of `sendMessage`.")
class SendMessagePayload:
    message: Message | None = strawberry.field(description="The message, now sent; see its `deliveryStats`.")
    transition: MessageTransition | None = strawberry.field(description="The move to sent.")
    job: BackgroundJob | None = strawberry.field(description="The job that sends it (the viewer's).")
    recipients: int = strawberry.field(description="Deliveries queued: one per recipient.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


def _errors(errors: list[DomainError]) -> list[MutationError]:
    found: list[MutationError] = []
    for error in errors:
        if isinstance(error, contacts.ContactRowsRefused):
            found += mutation_errors(error.rows)
        elif isinstance(error, messages.InvalidTransition):
            found.append(
                MessageTransitionError(
                    code=error.code, message=error.message, field=error.field, status=MessageStatus(error.status.value)
                )
            )
        else:
            found += mutation_errors([error])
    return found


Work = Callable[[AsyncSession, Actor], Awaitable[Any]]


async def _run(info: Ctx, work: Work) -> tuple[Any, list[MutationError]]:
    outcome = await info.context.actor_unit_of_work(work)
    return outcome.value, _errors(outcome.errors)


async def import_campaign_contacts(
    info: Ctx, input: Annotated[ImportCampaignContactsInput, InputArg]
) -> ImportCampaignContactsPayload:
    async def work(session: AsyncSession, actor: Actor) -> contacts.ImportResult:
        rows = [
            contacts.ContactRow(
                name=row.name,
                email=row.email,
                phone=row.phone,
                segments=row.segments,
                email_opted_out=row.email_opted_out,
                sms_opted_out=row.sms_opted_out,
            )
            for row in input.contacts
        ]
        pk = campaign_pk(input.campaign_id)
        return await contacts.import_contacts(session, actor=actor, campaign_id=pk, rows=rows)

    result, errors = await _run(info, work)
    if result is None:
        return ImportCampaignContactsPayload(contacts=[], created=0, updated=0, errors=errors)
    return ImportCampaignContactsPayload(
        contacts=[CampaignContact.from_row(row) for row in result.contacts],
        created=result.created,
        updated=result.updated,
        errors=errors,
    )


async def set_contact_opt_out(info: Ctx, input: Annotated[SetContactOptOutInput, InputArg]) -> SetContactOptOutPayload:
    async def work(session: AsyncSession, actor: Actor) -> Any:
        pk = input_id(input.contact_id, CampaignContact, "contactId")
        return await contacts.set_contact_opt_out(
            session, actor=actor, contact_id=pk, channel=raw(input.channel), opted_out=input.opted_out
        )

    contact, errors = await _run(info, work)
    return SetContactOptOutPayload(
        contact=None if contact is None else CampaignContact.from_row(contact), errors=errors
    )


async def send_message(info: Ctx, input: Annotated[SendMessageInput, InputArg]) -> SendMessagePayload:
    settings = info.context.settings

    async def work(session: AsyncSession, actor: Actor) -> Any:
        pk = input_id(input.message_id, Message, "messageId")
        return await sending.send_message(session, actor=actor, settings=settings, message_id=pk)

    made, errors = await _run(info, work)
    if made is None:
        return SendMessagePayload(message=None, transition=None, job=None, recipients=0, errors=errors)
    message, transition, job, recipients = made
    return SendMessagePayload(
        message=Message.from_row(message),
        transition=MessageTransition.from_row(transition),
        job=BackgroundJob.from_row(job),
        recipients=recipients,
        errors=errors,
    )


#: Each mutation and the service it runs (the README's permission matrix is made from these).
SERVICES: dict[str, Callable[..., Awaitable[Any]]] = {
    "importCampaignContacts": contacts.import_contacts,
    "setContactOptOut": contacts.set_contact_opt_out,
    "sendMessage": sending.send_message,
}


def _described(name: str, description: str) -> str:
    return described(SERVICES[name], description, where="the campaign")


@strawberry.type(description="Akashic mutations: contacts and sending.")
class SendingMutation:
    import_campaign_contacts: ImportCampaignContactsPayload = strawberry.mutation(
        resolver=import_campaign_contacts,
        description=_described(
            "importCampaignContacts",
            "Add contacts to a campaign, or update the ones their email or phone names; all or nothing. An import "
            "records opt-outs but never withdraws one.",
        ),
    )
    set_contact_opt_out: SetContactOptOutPayload = strawberry.mutation(
        resolver=set_contact_opt_out,
        description=_described(
            "setContactOptOut", "Record a contact's opt-out of email or SMS, or their consent again."
        ),
    )
    send_message: SendMessagePayload = strawberry.mutation(
        resolver=send_message,
        description=_described(
            "sendMessage",
            "Send an approved (or scheduled and due) email or SMS message to its audience: one delivery per contact "
            "in its segments who has not opted out, then a job sends them through SendGrid or Twilio. The message "
            "is sent at once (it never changes again); follow its `deliveryStats`.",
        ),
    )
