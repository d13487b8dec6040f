"""Organizations: `organization(slug:)`, the membership mutations (thin: parse ids, run one
guarded service call in one unit of work, map the result or its typed errors) and the live
changes of an organization, checked when subscribing and again for every event."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from core.api_keys import key_secret
from core.context import Actor
from core.errors import ClientError
from core.events import Event, organization_channel
from core.relay import InvalidGlobalId, parse_global_id, to_global_id
from resolvers.live import channel_events, subscriber
from resolvers.support import described, input_id, output_id
from schema import kit
from schema.common import Ctx, DeletePayload, InputArg, MutationError, mutation_errors
from schema.live import LiveUpdatesStatus
from schema.organizations import (
    AcceptInvitationPayload,
    ApiClient,
    ApiClientKey,
    ApiClientKeyPayload,
    ApiClientPayload,
    ChangeMemberRoleInput,
    ChangeMemberRolePayload,
    CreateApiClientInput,
    CreateOrganizationInput,
    CreateOrganizationPayload,
    DeclineInvitationPayload,
    DeleteOrganizationInput,
    Invitation,
    InvitationTokenInput,
    InviteMemberInput,
    InviteMemberPayload,
    LeaveOrganizationInput,
    LeaveOrganizationPayload,
    Membership,
    Organization,
    OrganizationChange,
    OrganizationChangeKind,
    OrganizationEvent,
    RemoveMemberInput,
    RemoveMemberPayload,
    RevokeApiClientInput,
    RevokeInvitationInput,
    RevokeInvitationPayload,
    RotateApiClientKeyInput,
    UpdateApiClientInput,
)
from services import api_clients, organizations
from services.inputs import stored_value

Work = Callable[[AsyncSession, Actor], Awaitable[Any]]


async def _run(info: Ctx, work: Work, *, as_system: str | None = None) -> tuple[Any, list[MutationError]]:
    outcome = await info.context.actor_unit_of_work(work, as_system=as_system)
    return outcome.value, mutation_errors(outcome.errors)


def _id(node_type: type, pk: uuid.UUID | None) -> strawberry.ID | None:
    return None if pk is None else strawberry.ID(output_id(node_type, pk))


# ------------------------------------------------------------------------------ mutations


async def create_organization(
    info: Ctx, input: Annotated[CreateOrganizationInput, InputArg]
) -> CreateOrganizationPayload:
    async def work(session: AsyncSession, actor: Actor) -> tuple[Organization, Membership]:
        organization, membership = await organizations.create_organization(
            session, actor=actor, name=input.name, slug=input.slug, kind=input.kind
        )
        return Organization.from_row(organization), Membership.from_row(membership)

    # The database's policies let a member see an organization: its creator is not one yet.
    made, errors = await _run(info, work, as_system="createOrganization")
    organization, membership = made or (None, None)
    return CreateOrganizationPayload(organization=organization, membership=membership, errors=errors)


async def invite_member(info: Ctx, input: Annotated[InviteMemberInput, InputArg]) -> InviteMemberPayload:
    async def work(session: AsyncSession, actor: Actor) -> tuple[Invitation, str]:
        issued = await organizations.invite_member(
            session,
            actor=actor,
            organization_id=input_id(input.organization_id, Organization, "organizationId"),
            email=input.email,
            role=input.role,
            ttl_seconds=info.context.settings.invitation_ttl_seconds,
        )
        return Invitation.from_row(issued.invitation), issued.token

    made, errors = await _run(info, work)
    invitation, token = made or (None, None)
    return InviteMemberPayload(invitation=invitation, token=token, errors=errors)


async def accept_invitation(info: Ctx, input: Annotated[InvitationTokenInput, InputArg]) -> AcceptInvitationPayload:
    async def work(session: AsyncSession, actor: Actor) -> Membership:
        return Membership.from_row(await organizations.accept_invitation(session, actor=actor, token=input.token))

    # The invitee is no member yet: the service finds the invitation by its token (as the system).
    membership, errors = await _run(info, work, as_system="acceptInvitation")
    return AcceptInvitationPayload(membership=membership, errors=errors)


async def decline_invitation(info: Ctx, input: Annotated[InvitationTokenInput, InputArg]) -> DeclineInvitationPayload:
    async def work(session: AsyncSession, actor: Actor) -> uuid.UUID:
        return (await organizations.decline_invitation(session, actor=actor, token=input.token)).id

    declined, errors = await _run(info, work, as_system="declineInvitation")
    return DeclineInvitationPayload(declined_invitation_id=_id(Invitation, declined), errors=errors)


async def revoke_invitation(info: Ctx, input: Annotated[RevokeInvitationInput, InputArg]) -> RevokeInvitationPayload:
    async def work(session: AsyncSession, actor: Actor) -> Invitation:
        pk = input_id(input.id, Invitation, "id")
        return Invitation.from_row(await organizations.revoke_invitation(session, actor=actor, invitation_id=pk))

    invitation, errors = await _run(info, work)
    return RevokeInvitationPayload(invitation=invitation, errors=errors)


async def leave_organization(info: Ctx, input: Annotated[LeaveOrganizationInput, InputArg]) -> LeaveOrganizationPayload:
    async def work(session: AsyncSession, actor: Actor) -> uuid.UUID:
        pk = input_id(input.organization_id, Organization, "organizationId")
        return await organizations.leave_organization(session, actor=actor, organization_id=pk)

    left, errors = await _run(info, work)
    return LeaveOrganizationPayload(left_membership_id=_id(Membership, left), errors=errors)


async def delete_organization(info: Ctx, input: Annotated[DeleteOrganizationInput, InputArg]) -> DeletePayload:
    async def work(session: AsyncSession, actor: Actor) -> uuid.UUID:
        pk = input_id(input.organization_id, Organization, "organizationId")
        return await organizations.delete_organization(session, actor=actor, organization_id=pk)

    deleted, errors = await _run(info, work)
    return DeletePayload(deleted_id=_id(Organization, deleted), errors=errors)


async def remove_member(info: Ctx, input: Annotated[RemoveMemberInput, InputArg]) -> RemoveMemberPayload:
    async def work(session: AsyncSession, actor: Actor) -> uuid.UUID:
        pk = input_id(input.id, Membership, "id")
        return (await organizations.remove_member(session, actor=actor, membership_id=pk)).id

    removed, errors = await _run(info, work)
    return RemoveMemberPayload(removed_membership_id=_id(Membership, removed), errors=errors)


async def change_member_role(info: Ctx, input: Annotated[ChangeMemberRoleInput, InputArg]) -> ChangeMemberRolePayload:
    async def work(session: AsyncSession, actor: Actor) -> Membership:
        pk = input_id(input.id, Membership, "id")
        row = await organizations.change_member_role(session, actor=actor, membership_id=pk, role=input.role)
        return Membership.from_row(row)

    membership, errors = await _run(info, work)
    return ChangeMemberRolePayload(membership=membership, errors=errors)


# ----------------------------------------------------------------------------- API clients


def _key_payload(made: Any, errors: list[MutationError]) -> ApiClientKeyPayload:
    client, key, secret = made or (None, None, None)
    return ApiClientKeyPayload(api_client=client, key=secret, api_client_key=key, errors=errors)


def _issued(issued: api_clients.IssuedKey) -> tuple[ApiClient, ApiClientKey, str]:
    return ApiClient.from_row(issued.client), ApiClientKey.from_row(issued.key), issued.secret


async def create_api_client(info: Ctx, input: Annotated[CreateApiClientInput, InputArg]) -> ApiClientKeyPayload:
    secret = key_secret(info.context.settings)

    async def work(session: AsyncSession, actor: Actor) -> tuple[ApiClient, ApiClientKey, str]:
        issued = await api_clients.create_api_client(
            session,
            actor=actor,
            organization_id=input_id(input.organization_id, Organization, "organizationId"),
            name=input.name,
            scopes=input.scopes,
            document_policy=stored_value(input.document_policy),
            secret=secret,
        )
        return _issued(issued)

    return _key_payload(*await _run(info, work))


async def rotate_api_client_key(info: Ctx, input: Annotated[RotateApiClientKeyInput, InputArg]) -> ApiClientKeyPayload:
    secret = key_secret(info.context.settings)

    async def work(session: AsyncSession, actor: Actor) -> tuple[ApiClient, ApiClientKey, str]:
        issued = await api_clients.rotate_api_client_key(
            session,
            actor=actor,
            client_id=input_id(input.client_id, ApiClient, "clientId"),
            grace_seconds=input.grace_seconds,
            secret=secret,
        )
        return _issued(issued)

    return _key_payload(*await _run(info, work))


async def revoke_api_client(info: Ctx, input: Annotated[RevokeApiClientInput, InputArg]) -> ApiClientPayload:
    async def work(session: AsyncSession, actor: Actor) -> ApiClient:
        pk = input_id(input.client_id, ApiClient, "clientId")
        return ApiClient.from_row(await api_clients.revoke_api_client(session, actor=actor, client_id=pk))

    client, errors = await _run(info, work)
    return ApiClientPayload(api_client=client, errors=errors)


async def update_api_client(info: Ctx, input: Annotated[UpdateApiClientInput, InputArg]) -> ApiClientPayload:
    async def work(session: AsyncSession, actor: Actor) -> ApiClient:
        row = await api_clients.update_api_client(
            session,
            actor=actor,
            client_id=input_id(input.client_id, ApiClient, "clientId"),
            name=input.name,
            scopes=input.scopes,
            document_policy=None if input.document_policy is None else stored_value(input.document_policy),
        )
        return ApiClient.from_row(row)

    client, errors = await _run(info, work)
    return ApiClientPayload(api_client=client, errors=errors)


#: Each mutation and the service it runs (the service declares its permission, `core.access.
#: requires`; the README's permission matrix and the schema's descriptions are made from these).
SERVICES: dict[str, Callable[..., Awaitable[Any]]] = {
    "createOrganization": organizations.create_organization,
    "inviteMember": organizations.invite_member,
    "acceptInvitation": organizations.accept_invitation,
    "declineInvitation": organizations.decline_invitation,
    "revokeInvitation": organizations.revoke_invitation,
    "leaveOrganization": organizations.leave_organization,
    "removeMember": organizations.remove_member,
    "changeMemberRole": organizations.change_member_role,
    "deleteOrganization": organizations.delete_organization,
    "createApiClient": api_clients.create_api_client,
    "rotateApiClientKey": api_clients.rotate_api_client_key,
    "revokeApiClient": api_clients.revoke_api_client,
    "updateApiClient": api_clients.update_api_client,
}


def _described(name: str, description: str) -> str:
    return described(SERVICES[name], description, where="the organization")


@strawberry.type(description="Organization mutations.")
class OrganizationMutation:
    create_organization: CreateOrganizationPayload = strawberry.mutation(
        resolver=create_organization,
        description=_described("createOrganization", "Create an organization; the viewer becomes its owner."),
    )
    invite_member: InviteMemberPayload = strawberry.mutation(
        resolver=invite_member,
        description=_described(
            "inviteMember",
            "Invite an email address to a role; returns the token once (a pending invitation of the same "
            "address is replaced).",
        ),
    )
    accept_invitation: AcceptInvitationPayload = strawberry.mutation(
        resolver=accept_invitation,
        description=_described(
            "acceptInvitation", "Join an organization with an invitation's token, sent to the viewer's email."
        ),
    )
    decline_invitation: DeclineInvitationPayload = strawberry.mutation(
        resolver=decline_invitation,
        description=_described("declineInvitation", "Decline an invitation sent to the viewer's email."),
    )
    revoke_invitation: RevokeInvitationPayload = strawberry.mutation(
        resolver=revoke_invitation,
        description=_described("revokeInvitation", "Withdraw an invitation; its token stops working."),
    )
    leave_organization: LeaveOrganizationPayload = strawberry.mutation(
        resolver=leave_organization,
        description=_described("leaveOrganization", "Leave an organization (not as its last owner)."),
    )
    remove_member: RemoveMemberPayload = strawberry.mutation(
        resolver=remove_member,
        description=_described(
            "removeMember", "Remove a member of a role no stronger than the viewer's (never the last owner)."
        ),
    )
    change_member_role: ChangeMemberRolePayload = strawberry.mutation(
        resolver=change_member_role,
        description=_described(
            "changeMemberRole",
            "Give a member another role, both no stronger than the viewer's; the last owner keeps theirs. An owner "
            "hands ownership over by making another member an owner (then may leave).",
        ),
    )
    delete_organization: DeletePayload = strawberry.mutation(
        resolver=delete_organization,
        description=_described(
            "deleteOrganization",
            "Delete an organization with its memberships and invitations (recorded in the audit trail); its live "
            "changes end with NOT_FOUND.",
        ),
    )
    create_api_client: ApiClientKeyPayload = strawberry.mutation(
        resolver=create_api_client,
        description=_described(
            "createApiClient",
            "Create an API client (a partner's application) for an organization, with its scopes and document "
            "policy; returns its first key once.",
        ),
    )
    rotate_api_client_key: ApiClientKeyPayload = strawberry.mutation(
        resolver=rotate_api_client_key,
        description=_described(
            "rotateApiClientKey",
            "Make a new key for an API client (returned once); its other keys stay valid for `graceSeconds`, then "
            "are refused as expired.",
        ),
    )
    revoke_api_client: ApiClientPayload = strawberry.mutation(
        resolver=revoke_api_client,
        description=_described(
            "revokeApiClient", "Revoke an API client: every key of it is refused at once, on every server."
        ),
    )
    update_api_client: ApiClientPayload = strawberry.mutation(
        resolver=update_api_client,
        description=_described(
            "updateApiClient",
            "Change an API client's name, scopes or document policy; its keys act with them from the next request.",
        ),
    )


# --------------------------------------------------------------------------------- query


def _slug(slug: str) -> str:
    return slug.strip().lower()


@kit.query_fields(description="Organizations by slug.")
class OrganizationQuery:
    organization: Organization | None = kit.lookup(
        "slug",
        normalize=_slug,
        description="The organization with this slug (in any case) if the viewer is a member; null otherwise, "
        "exactly as for one that does not exist.",
        argument_description="The organization's slug.",
    )


# -------------------------------------------------------------------------- subscriptions


def _pk(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


def _gone() -> ClientError:
    return ClientError("No organization with this `organizationId`", "NOT_FOUND", argument="organizationId")


async def _read_change(info: Ctx, organization_id: uuid.UUID, event: Event) -> OrganizationChange | None:
    """The change as the viewer may see it now (None: an invitation they may not see); a viewer
    who is no longer a member ends the stream, NOT_FOUND as at subscribe time."""
    loaders = info.context.loaders
    organization = await kit.rows_of(loaders, Organization).load(organization_id)
    if organization is None:
        raise _gone()
    membership_id, invitation_id, user_id = _pk(event["membership"]), _pk(event["invitation"]), _pk(event["user"])
    membership = invitation = None
    if membership_id is not None:
        row = await kit.rows_of(loaders, Membership).load(membership_id)
        membership = None if row is None else Membership.from_row(row)
    if invitation_id is not None:
        row = await kit.rows_of(loaders, Invitation).load(invitation_id)
        invitation = None if row is None else Invitation.from_row(row)
        if invitation is None and membership_id is None:
            return None  # an invitation's change, for a member who may not see invitations
    return OrganizationChange(
        change=OrganizationChangeKind(event["change"]),
        organization=Organization.from_row(organization),
        membership_id=_id(Membership, membership_id),
        membership=membership,
        user_id=None if user_id is None else strawberry.ID(to_global_id("User", user_id)),
        invitation_id=_id(Invitation, invitation_id) if invitation is not None else None,
        invitation=invitation,
        occurred_at=datetime.fromisoformat(event["at"]),
    )


async def organization_changes(info: Ctx, organization_id: str) -> AsyncGenerator[OrganizationEvent, None]:
    actor = await subscriber(info)
    try:
        pk = parse_global_id(organization_id, kit.spec_of(Organization).key or "")
    except InvalidGlobalId as exc:
        raise ClientError(
            "`organizationId` is not the ID of an Organization", "INVALID_ID", argument="organizationId"
        ) from exc
    if await kit.rows_of(info.context.loaders, Organization).load(pk) is None:
        raise _gone()
    topic, organization = organizations.MEMBERS_TOPIC, str(pk)

    def accept(event: Event) -> bool:
        return event.get("topic") == topic and event.get("organization") == organization

    async for item in channel_events(info, actor, organization_channel(pk), accept):
        if isinstance(item, LiveUpdatesStatus):
            yield item
            continue
        change = await _read_change(info, pk, item)
        if change is not None:
            yield change


@strawberry.type(description="Organization live updates.")
class OrganizationSubscription:
    @strawberry.subscription(
        description="Changes of an organization's members (and, for those who may invite, of its invitations) as "
        "they are committed; the first message is a STARTED status. Only its members may subscribe, and a member "
        "who leaves or is removed stops receiving them: the stream ends with NOT_FOUND."
    )
    async def organization_changes(
        self,
        info: Ctx,
        organization_id: Annotated[strawberry.ID, strawberry.argument(description="The organization.")],
    ) -> AsyncGenerator[OrganizationEvent, None]:
        async for item in organization_changes(info, organization_id):
            yield item
