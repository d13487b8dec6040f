"""Organizations, memberships and invitations (a platform part): the types, declared with the
kit (their loaders and SQL form derive from the declarations, and every row is read through its
table's policy, `models.organizations`), the viewer's organizations, the inputs and payloads of
the mutations, and the live changes of an organization."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
import strawberry

from core.filters import Columns, Filter, FilterField, any_of, array_of
from core.sqljson import Derived, enum_name
from models import api_clients as clients_m
from models import organizations as m
from schema import kit
from schema.audit import AUDIT_FILTER, AuditEvent, AuditEventOrderBy
from schema.common import ORGANIZATION_KEY, Connection, MutationError, Node, by_value, order_enum
from schema.identity import User
from schema.live import LiveUpdatesStatus
from schema.viewer_base import ViewerBase
from services import api_clients as clients_svc
from services import organizations as svc
from services.inputs import utcnow

if TYPE_CHECKING:
    from schema.akashic.types import Campaign

ERRORS = "Why nothing changed, if so."


@strawberry.enum(description="Where an invitation stands.")
class InvitationStatus(Enum):
    PENDING = strawberry.enum_value(svc.InvitationStatus.PENDING.value, description="Can be accepted or declined.")
    ACCEPTED = strawberry.enum_value(svc.InvitationStatus.ACCEPTED.value, description="Accepted: a membership now.")
    DECLINED = strawberry.enum_value(svc.InvitationStatus.DECLINED.value, description="Declined by the invitee.")
    REVOKED = strawberry.enum_value(
        svc.InvitationStatus.REVOKED.value, description="Withdrawn, or replaced by a newer one."
    )
    EXPIRED = strawberry.enum_value(svc.InvitationStatus.EXPIRED.value, description="Not accepted in time.")


_status_member = by_value(InvitationStatus)

#: An invitation's status, the same in Python and in SQL ("now": the mapping, the statement's start).
INVITATION_STATUS = Derived(
    python=lambda row: _status_member(svc.invitation_status(row, utcnow()).value),
    sql=lambda row: enum_name(svc.invitation_status_sql(row), InvitationStatus),
)

MembershipOrderBy = order_enum("MembershipOrderBy", svc.MEMBERSHIP_SORTS, "memberships")
InvitationOrderBy = order_enum("InvitationOrderBy", svc.INVITATION_SORTS, "invitations")
ApiClientOrderBy = order_enum("ApiClientOrderBy", clients_svc.CLIENT_SORTS, "API clients")
ApiClientKeyOrderBy = order_enum("ApiClientKeyOrderBy", clients_svc.KEY_SORTS, "API client keys")


@strawberry.enum(description="Which documents an API client may run.")
class ApiClientDocumentPolicy(Enum):
    TRUSTED = strawberry.enum_value(
        "trusted", description="Only the documents registered for it (trusted documents): the default."
    )
    ANY = strawberry.enum_value("any", description="Any document, within its scopes.")


@strawberry.input(description="Conditions on invitations; all given ones must hold.")
class InvitationFilterInput:
    status: list[InvitationStatus] | None = strawberry.field(default=None, description="Any of these statuses.")

    def __hash__(self) -> int:
        # An instance is the default of the `invitations` argument, and a resolver's signature
        # hashes its parameters' defaults.
        return hash(tuple(self.status or ()))


def _status_condition(c: Columns, value: Any) -> sa.ColumnElement[bool]:
    return svc.invitation_status_sql(SimpleNamespace(c=c)) == sa.any_(value)


INVITATION_FILTER = Filter(
    (FilterField("status", _status_condition, array_of(sa.String()), any_of),),
    input=InvitationFilterInput,
)


@kit.node(
    model=m.Organization,
    key=ORGANIZATION_KEY,
    description="A group of people with roles (a team, or a product's own kind: an Akashic campaign); "
    "readable by its members only.",
)
class Organization(Node, kit.FromRow):
    name: str = kit.column(description="Display name.")
    slug: str = kit.column(description="Unique short name, for addresses (`organization(slug:)`).")
    kind: str = kit.column(
        description="Its kind (`team`...), declared by the product that owns it with its roles and permissions."
    )
    created_at: datetime = kit.column(description="When it was created.")
    created_by: User | None = kit.parent(
        "created_by", description="Who created it, while their account exists and is a member."
    )
    members: Connection[Membership] = kit.children(
        "organization_id", order=MembershipOrderBy.JOINED_AT_ASC, description="Its members, with their roles."
    )
    invitations: Connection[Invitation] = kit.children(
        "organization_id",
        order=InvitationOrderBy.CREATED_AT_DESC,
        filter=INVITATION_FILTER,
        filter_default=InvitationFilterInput(status=[InvitationStatus.PENDING]),
        description="Its invitations, pending ones unless `filter` says otherwise; only members whose role may "
        "invite (`members.invite`) see any.",
    )
    # A product's details of its own kind of organization, as a field of the shared type: named lazily
    # (`strawberry.lazy`), so that this module imports no product's.
    campaign: Annotated["Campaign", strawberry.lazy("schema.akashic.types")] | None = kit.parent(  # noqa: UP037
        "id", description="Its campaign's details (office, race, messages), for an Akashic campaign; null otherwise."
    )
    api_clients: Connection[ApiClient] = kit.children(
        "organization_id",
        order=ApiClientOrderBy.CREATED_AT_ASC,
        description="Its API clients (partners' applications), revoked ones included; only members whose role "
        "manages them (`api_clients.manage`) see any.",
    )
    audit_trail: Connection[AuditEvent] = kit.children(
        "organization_id",
        order=AuditEventOrderBy.TIME_DESC,
        filter=AUDIT_FILTER,
        description="Every change made to the organization's data, newest first; members whose role may read the "
        "audit trail (`audit.read`) see all of it, others only the events about their own data.",
    )


@kit.node(model=m.Membership, key="Membership", description="A user's role in an organization.")
class Membership(Node, kit.FromRow):
    role: str = kit.column(description="The role, one of the organization's kind's (`owner` first).")
    joined_at: datetime = kit.column(description="When the user joined.")
    organization: Organization = kit.parent("organization_id", description="The organization.")
    user: User | None = kit.parent("user_id", description="The member (as the viewer may see them: `User.email`).")
    invited_by: User | None = kit.parent(
        "invited_by", description="Who invited them, if someone did and is still a member."
    )


@kit.node(
    model=m.Invitation,
    key="Invitation",
    description="An invitation by email to join an organization in a role: single-use and expiring. Readable by "
    "the members whose role may invite.",
)
class Invitation(Node, kit.FromRow):
    email: str = kit.column(description="The address it was sent to; only an account with it can accept it.")
    role: str = kit.column(description="The role the invitee gets.")
    status: InvitationStatus = kit.expression(INVITATION_STATUS, description="Where it stands now.")
    created_at: datetime = kit.column(description="When it was made.")
    expires_at: datetime = kit.column(description="After this it can't be accepted.")
    accepted_at: datetime | None = kit.column(description="When it was accepted.")
    declined_at: datetime | None = kit.column(description="When it was declined.")
    revoked_at: datetime | None = kit.column(description="When it was revoked (or replaced by a newer one).")
    organization: Organization = kit.parent("organization_id", description="The organization it invites to.")
    invited_by: User | None = kit.parent("invited_by", description="Who sent it, while they are a member.")


@kit.node(
    model=clients_m.ApiClient,
    key="ApiClient",
    description="A partner's application, acting for its organization with the scopes it was given "
    "(`aurum:read`, `organizations:write`...); readable by the members whose role manages API clients.",
)
class ApiClient(Node, kit.FromRow):
    name: str = kit.column(description="Its name, unique in its organization.")
    scopes: list[str] = kit.column(
        description="What it may do: per product, `read` (queries, subscriptions) and `write` (mutations)."
    )
    document_policy: ApiClientDocumentPolicy = kit.column(description="Which documents it may run.")
    created_at: datetime = kit.column(description="When it was created.")
    last_used_at: datetime | None = kit.column(
        description="When one of its keys was last used (updated at most once a minute)."
    )
    revoked_at: datetime | None = kit.column(description="When it was revoked: every key of it is refused since.")
    organization: Organization = kit.parent("organization_id", description="The organization it acts for.")
    created_by: User | None = kit.parent("created_by", description="Who created it, while they are a member.")
    keys: Connection[ApiClientKey] = kit.children(
        "client_id",
        order=ApiClientKeyOrderBy.CREATED_AT_DESC,
        description="Its keys' metadata (never the key or its hash), newest first.",
    )


@kit.node(
    model=clients_m.ApiClientKey,
    key="ApiClientKey",
    description="One key of an API client: its metadata only (the key was shown once; its hash is never shown).",
)
class ApiClientKey(Node, kit.FromRow):
    prefix: str = kit.column(description="Its first characters (`qnt_` and 8 more), to tell keys apart.")
    created_at: datetime = kit.column(description="When it was made.")
    expires_at: datetime | None = kit.column(
        description="After this it is refused (the grace period of a rotation); null: no end."
    )
    revoked_at: datetime | None = kit.column(description="When it was revoked (with its client).")
    last_used_at: datetime | None = kit.column(description="When it was last used (updated at most once a minute).")
    client: ApiClient = kit.parent("client_id", description="Its client.")


@kit.viewer_fields(description="The signed-in user's organizations.")
class OrganizationViewerFields(ViewerBase):
    organizations: Connection[Membership] = kit.children(
        "user_id",
        order=MembershipOrderBy.JOINED_AT_ASC,
        description="The organizations the viewer is a member of, as the viewer's memberships: each its "
        "`organization` and the viewer's `role` in it.",
    )


# -------------------------------------------------------------------------------- inputs


@strawberry.input(description="A new organization; its creator becomes its owner.")
class CreateOrganizationInput:
    name: str = strawberry.field(description="Display name, 1 to 120 characters.")
    slug: str = strawberry.field(
        description="Unique short name: 2 to 40 lower-case letters, digits and hyphens (stored in lower case)."
    )
    kind: str = strawberry.field(default=svc.TEAM.name, description="Its kind; one a product lets anyone create.")


@strawberry.input(description="Invite someone by email to join an organization in a role.")
class InviteMemberInput:
    organization_id: strawberry.ID = strawberry.field(description="The organization.")
    email: str = strawberry.field(description="Their email; only an account with this address can accept.")
    role: str = strawberry.field(description="The role they get: one of the kind's, no stronger than yours.")


@strawberry.input(description="An invitation's token, as the inviter passed it on.")
class InvitationTokenInput:
    token: str = strawberry.field(description="The token `inviteMember` returned.")


@strawberry.input(description="An invitation to withdraw.")
class RevokeInvitationInput:
    id: strawberry.ID = strawberry.field(description="The invitation.")


@strawberry.input(description="An organization to leave.")
class LeaveOrganizationInput:
    organization_id: strawberry.ID = strawberry.field(description="The organization.")


@strawberry.input(description="An organization to delete.")
class DeleteOrganizationInput:
    organization_id: strawberry.ID = strawberry.field(description="The organization.")


@strawberry.input(description="A member to remove.")
class RemoveMemberInput:
    id: strawberry.ID = strawberry.field(description="The membership.")


@strawberry.input(description="A member's new role.")
class ChangeMemberRoleInput:
    id: strawberry.ID = strawberry.field(description="The membership.")
    role: str = strawberry.field(description="The new role: one of the kind's, no stronger than yours.")


@strawberry.input(description="A new API client of an organization; its first key is returned once.")
class CreateApiClientInput:
    organization_id: strawberry.ID = strawberry.field(description="The organization it acts for.")
    name: str = strawberry.field(description="Its name, 1 to 100 characters, unique in the organization.")
    scopes: list[str] = strawberry.field(
        description="What it may do: `<product>:read` and `<product>:write` (`aurum:read`, `organizations:read`...)."
    )
    document_policy: ApiClientDocumentPolicy = strawberry.field(
        default=ApiClientDocumentPolicy.TRUSTED, description="Which documents it may run (trusted ones by default)."
    )


@strawberry.input(description="A new key for an API client; its other keys stay valid for a grace period.")
class RotateApiClientKeyInput:
    client_id: strawberry.ID = strawberry.field(description="The API client.")
    grace_seconds: int | None = strawberry.field(
        default=None,
        description=f"How long its other keys stay valid: 0 to {clients_svc.MAX_GRACE_SECONDS} seconds (30 days); "
        f"default {clients_svc.DEFAULT_GRACE_SECONDS} (24 hours). 0 ends them now.",
    )


@strawberry.input(description="An API client to revoke: every key of it is refused at once.")
class RevokeApiClientInput:
    client_id: strawberry.ID = strawberry.field(description="The API client.")


@strawberry.input(description="What to change of an API client; the fields not given stay.")
class UpdateApiClientInput:
    client_id: strawberry.ID = strawberry.field(description="The API client.")
    name: str | None = strawberry.field(default=None, description="A new name.")
    scopes: list[str] | None = strawberry.field(default=None, description="Its new scopes (all of them).")
    document_policy: ApiClientDocumentPolicy | None = strawberry.field(
        default=None, description="A new document policy."
    )


# ------------------------------------------------------------------------------ payloads


@strawberry.type(description="Result of `createApiClient` and `rotateApiClientKey`: the client and its new key.")
class ApiClientKeyPayload:
    api_client: ApiClient | None = strawberry.field(description="The API client.")
    key: str | None = strawberry.field(
        description="The new key, shown this once (only its keyed hash is kept): send it as "
        "`Authorization: Bearer <key>`."
    )
    api_client_key: ApiClientKey | None = strawberry.field(description="The new key's metadata.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of `revokeApiClient` and `updateApiClient`.")
class ApiClientPayload:
    api_client: ApiClient | None = strawberry.field(description="The API client as it is now.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of `createOrganization`.")
class CreateOrganizationPayload:
    organization: Organization | None = strawberry.field(description="The new organization.")
    membership: Membership | None = strawberry.field(description="The creator's membership, as its owner.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of `inviteMember`.")
class InviteMemberPayload:
    invitation: Invitation | None = strawberry.field(description="The invitation.")
    token: str | None = strawberry.field(
        description="The secret that accepts it: shown this once (only its hash is kept); pass it on to the invitee."
    )
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of `acceptInvitation`.")
class AcceptInvitationPayload:
    membership: Membership | None = strawberry.field(description="The viewer's new membership.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of `declineInvitation`.")
class DeclineInvitationPayload:
    declined_invitation_id: strawberry.ID | None = strawberry.field(description="The invitation declined.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of `revokeInvitation`.")
class RevokeInvitationPayload:
    invitation: Invitation | None = strawberry.field(description="The invitation, now revoked.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of `leaveOrganization`.")
class LeaveOrganizationPayload:
    left_membership_id: strawberry.ID | None = strawberry.field(description="The viewer's membership, now gone.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of `removeMember`.")
class RemoveMemberPayload:
    removed_membership_id: strawberry.ID | None = strawberry.field(description="The membership removed.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of `changeMemberRole`.")
class ChangeMemberRolePayload:
    membership: Membership | None = strawberry.field(description="The membership with its new role.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


# ---------------------------------------------------------------------------------- live


@strawberry.enum(description="What happened in an organization.")
class OrganizationChangeKind(Enum):
    MEMBER_JOINED = strawberry.enum_value(
        svc.MemberChange.MEMBER_JOINED.value, description="Someone joined (created it, or accepted an invitation)."
    )
    MEMBER_ROLE_CHANGED = strawberry.enum_value(
        svc.MemberChange.MEMBER_ROLE_CHANGED.value, description="A member's role changed."
    )
    MEMBER_LEFT = strawberry.enum_value(svc.MemberChange.MEMBER_LEFT.value, description="A member left.")
    MEMBER_REMOVED = strawberry.enum_value(svc.MemberChange.MEMBER_REMOVED.value, description="A member was removed.")
    INVITATION_CREATED = strawberry.enum_value(
        svc.MemberChange.INVITATION_CREATED.value, description="Someone was invited (seen by those who may invite)."
    )
    INVITATION_DECLINED = strawberry.enum_value(
        svc.MemberChange.INVITATION_DECLINED.value, description="An invitation was declined (likewise)."
    )
    INVITATION_REVOKED = strawberry.enum_value(
        svc.MemberChange.INVITATION_REVOKED.value, description="An invitation was revoked (likewise)."
    )


@strawberry.type(description="A change of an organization's members or invitations, read for the viewer.")
class OrganizationChange:
    change: OrganizationChangeKind = strawberry.field(description="What happened.")
    organization: Organization = strawberry.field(description="The organization, as it is now.")
    membership_id: strawberry.ID | None = strawberry.field(description="The membership concerned, if any.")
    membership: Membership | None = strawberry.field(
        description="That membership as it is now; null once it is gone (left, removed)."
    )
    user_id: strawberry.ID | None = strawberry.field(description="The member concerned, if any.")
    invitation_id: strawberry.ID | None = strawberry.field(description="The invitation concerned, if any.")
    invitation: Invitation | None = strawberry.field(description="That invitation as it is now.")
    occurred_at: datetime = strawberry.field(description="When it happened.")


OrganizationEvent = Annotated[
    OrganizationChange | LiveUpdatesStatus,
    strawberry.union(
        "OrganizationEvent",
        description="A message of `organizationChanges`: a change, or the status of the stream.",
    ),
]
