"""Organizations and memberships (a platform part, shared by every product): creating one,
inviting people by email, accepting, declining and revoking invitations, leaving, removing a
member and changing a member's role.

Permissions are declared on each guarded service (`core.access.requires`), never checked in its
body: before the body runs, in the same transaction, the actor's role in the organization is
read and must hold the permission; another organization's object answers exactly like a missing
one (`NOT_FOUND`), a member without the permission gets `FORBIDDEN` with the permission and the
roles that hold it. Membership changes lock the organization's row, so that they happen one at a
time per organization and the last-owner rule holds under concurrency. On top of the declared
permission, a member acts only on members of a role no stronger than theirs, and gives only such
a role (`Authorized.may_act_on`).

Invitations: a random 32-byte token, shown once to the inviter (in `inviteMember`'s payload) and
stored as its SHA-256 (a token of 256 random bits can't be guessed, so a slow password hash such
as argon2 would add cost and no safety; and an unsalted hash can be looked up by an index).
Accepting or declining needs the token and a signed-in account whose email is the invitation's,
case-insensitively; a token works once, until `INVITATION_TTL_SECONDS` after it was issued.
No email is sent: the inviter passes the token on (see `invite_member` for where an email job
would be enqueued).

Every committed change is published on the organization's channel (`core.events.
organization_channel`), with ids only; each subscriber reads them back with its own permissions.
Writes flush and never commit (the resolver's unit of work does).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from core import access
from core.access import (
    AUDIT_READ,
    CHANGE_ROLE,
    DELETE,
    INVITE,
    MANAGE_CLIENTS,
    READ_EMAIL,
    REMOVE,
    Authorized,
    OrganizationKind,
    granted,
    requires,
)
from core.context import Actor
from core.errors import Conflict, ErrorCode, Forbidden, LastOwner, NotFound, ValidationFailed
from core.events import organization_channel, publish_after_commit
from core.pagination import Sort
from models.audit import AuditOperation
from models.identity import User
from models.organizations import SLUG_PATTERN, Invitation, Membership, Organization
from services import audit
from services.identity import EMAIL_PATTERN, account_key, normalize_email
from services.inputs import required_text, utcnow

#: The topic of membership and invitation events on an organization's channel.
MEMBERS_TOPIC = "organizations.members"

#: The platform's default kind of organization.
TEAM = OrganizationKind(
    name="team",
    roles=("owner", "admin", "member"),
    permissions={
        INVITE: ("owner", "admin"),
        REMOVE: ("owner", "admin"),
        CHANGE_ROLE: ("owner", "admin"),
        READ_EMAIL: ("owner", "admin"),
        AUDIT_READ: ("owner", "admin"),
        DELETE: ("owner",),
        MANAGE_CLIENTS: ("owner", "admin"),
    },
    description="A team: the platform's default kind of organization.",
)

_SLUG = re.compile(SLUG_PATTERN)


def _sorts(**columns: tuple[Any, type]) -> dict[str, Sort]:
    """Ascending and descending orders by each named expression (`JOINED_AT` -> JOINED_AT_ASC...)."""
    sorts: dict[str, Sort] = {}
    for descending in (False, True):
        suffix = "_DESC" if descending else "_ASC"
        for name, (expression, value_type) in columns.items():
            sorts[name + suffix] = Sort(name.lower() + suffix, expression, value_type, descending)
    return sorts


_memberships = Membership.__table__  # type: ignore[attr-defined]
_invitations = Invitation.__table__  # type: ignore[attr-defined]

#: The orders of a list of memberships (an organization's members, the viewer's organizations).
MEMBERSHIP_SORTS = _sorts(JOINED_AT=(_memberships.c.joined_at, datetime))
#: The orders of an organization's invitations.
INVITATION_SORTS = _sorts(
    CREATED_AT=(_invitations.c.created_at, datetime),
    EXPIRES_AT=(_invitations.c.expires_at, datetime),
    EMAIL=(sa.func.lower(_invitations.c.email), str),
)


class InvitationExpired(Conflict):
    code = ErrorCode.INVITATION_EXPIRED


class InvitationUsed(Conflict):
    code = ErrorCode.INVITATION_USED


class InvitationEmailMismatch(Forbidden):
    code = ErrorCode.INVITATION_EMAIL_MISMATCH


class MemberChange(StrEnum):
    """What an event on an organization's channel says happened."""

    MEMBER_JOINED = "MEMBER_JOINED"
    MEMBER_ROLE_CHANGED = "MEMBER_ROLE_CHANGED"
    MEMBER_LEFT = "MEMBER_LEFT"
    MEMBER_REMOVED = "MEMBER_REMOVED"
    INVITATION_CREATED = "INVITATION_CREATED"
    INVITATION_DECLINED = "INVITATION_DECLINED"
    INVITATION_REVOKED = "INVITATION_REVOKED"
    #: Never delivered: a subscriber re-reads the organization, finds it gone, and its stream
    #: ends with NOT_FOUND (as for a member who left).
    ORGANIZATION_DELETED = "ORGANIZATION_DELETED"


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class IssuedInvitation:
    """A new invitation and its token, which exists nowhere else (only its hash is stored)."""

    invitation: Invitation
    token: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_status(invitation: Any, now: datetime) -> InvitationStatus:
    """Where an invitation (a row or a model instance) stands at `now`."""
    if invitation.accepted_at is not None:
        return InvitationStatus.ACCEPTED
    if invitation.declined_at is not None:
        return InvitationStatus.DECLINED
    if invitation.revoked_at is not None:
        return InvitationStatus.REVOKED
    if invitation.expires_at <= now:
        return InvitationStatus.EXPIRED
    return InvitationStatus.PENDING


def invitation_status_sql(invitation: Any) -> sa.ColumnElement[str]:
    """`invitation_status` in SQL, "now" being the statement's start."""
    c = invitation.c
    return sa.case(
        (c.accepted_at.is_not(None), sa.literal(InvitationStatus.ACCEPTED.value)),
        (c.declined_at.is_not(None), sa.literal(InvitationStatus.DECLINED.value)),
        (c.revoked_at.is_not(None), sa.literal(InvitationStatus.REVOKED.value)),
        (c.expires_at <= sa.func.statement_timestamp(), sa.literal(InvitationStatus.EXPIRED.value)),
        else_=sa.literal(InvitationStatus.PENDING.value),
    )


def _publish(
    session: AsyncSession,
    organization_id: uuid.UUID,
    change: MemberChange,
    *,
    membership_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    invitation_id: uuid.UUID | None = None,
) -> None:
    publish_after_commit(
        session,
        organization_channel(organization_id),
        {
            "topic": MEMBERS_TOPIC,
            "organization": str(organization_id),
            "change": change.value,
            "membership": None if membership_id is None else str(membership_id),
            "user": None if user_id is None else str(user_id),
            "invitation": None if invitation_id is None else str(invitation_id),
            "at": utcnow().isoformat(),
        },
    )


def _kind(name: str) -> OrganizationKind:
    kind = access.organization_kind(name)
    if kind is None:
        raise LookupError(f"no registered product declares the organization kind {name!r}")
    return kind


def _role(kind: OrganizationKind, role: str, field: str = "role") -> str:
    cleaned = role.strip()
    if cleaned not in kind.roles:
        raise ValidationFailed(
            f"A {kind.name} has the roles {', '.join(kind.roles)}; not {role!r}", field=["input", field]
        )
    return cleaned


def _may_act_on(authorized: Authorized, permission: str, role: str, doing: str) -> None:
    """Refuse acting on (or giving) a role stronger than the actor's own."""
    if authorized.may_act_on(role):
        return
    kind = authorized.kind
    able = tuple(r for r in kind.roles_with(permission) if kind.rank(r) <= kind.rank(role))
    raise Forbidden(
        f"Your role here ({authorized.role}) may not {doing} the role {role}; {', '.join(able)} may",
        permission=permission,
        roles=able,
    )


async def _owners(session: AsyncSession, organization_id: uuid.UUID, owner_role: str) -> int:
    statement = (
        sa.select(sa.func.count())
        .select_from(Membership)
        .where(col(Membership.organization_id) == organization_id, col(Membership.role) == owner_role)
    )
    return int((await session.execute(statement)).scalar_one())


async def _keep_an_owner(session: AsyncSession, membership: Membership, kind: OrganizationKind, doing: str) -> None:
    """The last owner of an organization stays one (`LAST_OWNER`)."""
    if membership.role == kind.owner and await _owners(session, membership.organization_id, kind.owner) <= 1:
        organization = await session.get_one(Organization, membership.organization_id)
        raise LastOwner(
            f"The last {kind.owner} can't {doing}: make another member {kind.owner} first",
            organizations=[(organization.id, organization.slug)],
        )


async def solely_owned(session: AsyncSession, *, actor: Actor) -> list[Organization]:
    """The organizations whose one owner is the actor (by the owner role of each one's kind),
    locked until the transaction ends, as membership changes lock them: so that two owners who
    delete their accounts at once can't leave their organization without one."""
    mine = _memberships.alias("own_membership")
    owner_role = sa.or_(
        *(
            sa.and_(col(Organization.kind) == kind.name, mine.c.role == kind.owner)
            for kind in access.organization_kinds().values()
        )
    )
    statement = (
        sa.select(Organization)
        .join(mine, mine.c.organization_id == col(Organization.id))
        .where(access.own_memberships(mine, actor), owner_role, access.readable(Organization, actor))
        .order_by(col(Organization.slug))
        .with_for_update(of=Organization)
    )
    owned = list((await session.execute(statement)).scalars())
    return [o for o in owned if await _owners(session, o.id, _kind(o.kind).owner) <= 1]


async def _insert_unique(session: AsyncSession, row: Any, constraint: str, taken: Conflict) -> None:
    """Insert `row`, or raise `taken` when it violates the unique `constraint`: in a savepoint, so
    that the violation fails the savepoint and not the mutation's transaction."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as error:
        if constraint not in str(error.orig):
            raise
        raise taken from None


# ------------------------------------------------------------------------ organizations


def _slug(slug: str) -> str:
    cleaned = slug.strip().lower()
    if not _SLUG.match(cleaned):
        raise ValidationFailed(
            "A slug is 2 to 40 lower-case letters, digits and hyphens, starting and ending with a letter or digit",
            field=["input", "slug"],
        )
    return cleaned


async def create_organization(
    session: AsyncSession, *, actor: Actor, name: str, slug: str, kind: str
) -> tuple[Organization, Membership]:
    """A new organization of a creatable kind, with its creator as its owner."""
    found = access.organization_kind(kind)
    if found is None or not found.creatable:
        creatable = sorted(k.name for k in access.organization_kinds().values() if k.creatable)
        raise ValidationFailed(
            f"Organizations made here are of the kinds {', '.join(creatable)}; not {kind!r}", field=["input", "kind"]
        )
    return await add_organization(session, actor=actor, name=name, slug=slug, kind=found)


async def add_organization(
    session: AsyncSession, *, actor: Actor, name: str, slug: str, kind: OrganizationKind
) -> tuple[Organization, Membership]:
    """A new organization of `kind` (creatable or not: a product that creates its own kind
    through its own mutation calls this), with its creator in the kind's owner role."""
    found = kind
    organization = Organization(
        name=required_text(name, field="name", max_length=120),
        slug=_slug(slug),
        kind=found.name,
        created_by=actor.user_id,
    )
    await _insert_unique(
        session, organization, "uq_organizations_slug", Conflict("This slug is taken", field=["input", "slug"])
    )
    membership = Membership(organization_id=organization.id, user_id=actor.user_id, role=found.owner)
    session.add(membership)
    await session.flush()
    _publish(session, organization.id, MemberChange.MEMBER_JOINED, membership_id=membership.id, user_id=actor.user_id)
    return organization, membership


# -------------------------------------------------------------------------- invitations


def _email(email: str) -> str:
    cleaned = normalize_email(email)
    if not EMAIL_PATTERN.match(cleaned) or len(cleaned) > 320:
        raise ValidationFailed("Enter a valid email address", field=["input", "email"])
    return cleaned


@requires(INVITE, organization="organization_id", field="organizationId", lock=True)
async def invite_member(
    session: AsyncSession,
    *,
    actor: Actor,
    organization_id: uuid.UUID,
    email: str,
    role: str,
    ttl_seconds: int,
    authorized: Authorized | None = None,
) -> IssuedInvitation:
    """Invite an address to a role (one no stronger than the inviter's); a pending invitation
    of the same address is replaced (revoked), so the newest token is the one that works."""
    granted_ = granted(authorized)
    address = _email(email)
    role = _role(granted_.kind, role)
    _may_act_on(granted_, INVITE, role, "invite to")
    already = (
        sa.select(col(Membership.id))
        .join(User, col(User.id) == col(Membership.user_id))
        .where(col(Membership.organization_id) == organization_id, sa.func.lower(col(User.email)) == address.lower())
    )
    if (await session.execute(already)).first() is not None:
        raise Conflict("Someone with this email is already a member", field=["input", "email"])
    now = utcnow()
    replaced = await session.execute(
        sa.update(Invitation)
        .where(
            col(Invitation.organization_id) == organization_id,
            sa.func.lower(col(Invitation.email)) == address.lower(),
            col(Invitation.accepted_at).is_(None),
            col(Invitation.declined_at).is_(None),
            col(Invitation.revoked_at).is_(None),
        )
        .values(revoked_at=now)
        .returning(col(Invitation.id), col(Invitation.organization_id), col(Invitation.revoked_at))
        .execution_options(**audit.RECORDED)
    )
    for row in replaced.mappings().all():
        audit.record(
            session,
            Invitation,
            AuditOperation.UPDATE,
            row=row,
            before={"revoked_at": None},
            after={"revoked_at": row["revoked_at"]},
        )
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        organization_id=organization_id,
        email=address,
        role=role,
        invited_by=actor.user_id,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(invitation)
    await session.flush()
    # Where an email would be sent: a job enqueued here (services.jobs.enqueue, in this
    # transaction) with the invitation's id and the token. There is no email provider yet: the
    # token goes back to the inviter, once, in the payload.
    _publish(session, organization_id, MemberChange.INVITATION_CREATED, invitation_id=invitation.id)
    return IssuedInvitation(invitation, token)


async def _invitation_for(session: AsyncSession, actor: Actor, token: str) -> Invitation:
    """The pending invitation of a token, for the signed-in account whose email it was sent to
    (locked until the transaction ends: a token is used once)."""
    statement = sa.select(Invitation).where(col(Invitation.token_hash) == token_hash(token.strip())).with_for_update()
    invitation = (await session.execute(statement)).scalar_one_or_none()
    if invitation is None:
        raise NotFound("No invitation has this token", field=["input", "token"])
    status = invitation_status(invitation, utcnow())
    if status is InvitationStatus.EXPIRED:
        raise InvitationExpired("This invitation has expired: ask for a new one", field=["input", "token"])
    if status is not InvitationStatus.PENDING:
        raise InvitationUsed(f"This invitation was already {status.value}", field=["input", "token"])
    user = await session.get(User, actor.user_id)
    if user is None or account_key(user.email) != account_key(invitation.email):
        raise InvitationEmailMismatch(
            "This invitation is for another email address: sign in with the account it was sent to",
            field=["input", "token"],
        )
    return invitation


async def accept_invitation(session: AsyncSession, *, actor: Actor, token: str) -> Membership:
    """Join the organization in the invitation's role."""
    invitation = await _invitation_for(session, actor, token)
    organization = await session.get(Organization, invitation.organization_id)
    assert organization is not None  # the invitation's foreign key
    if invitation.role not in _kind(organization.kind).roles:
        raise Conflict(f"The role {invitation.role!r} no longer exists: ask for a new invitation")
    membership = Membership(
        organization_id=invitation.organization_id,
        user_id=actor.user_id,
        role=invitation.role,
        invited_by=invitation.invited_by,
    )
    taken = Conflict("You are already a member of this organization", field=["input", "token"])
    await _insert_unique(session, membership, "uq_memberships_organization_id_user_id", taken)
    invitation.accepted_at = utcnow()
    await session.flush()
    _publish(
        session,
        invitation.organization_id,
        MemberChange.MEMBER_JOINED,
        membership_id=membership.id,
        user_id=actor.user_id,
        invitation_id=invitation.id,
    )
    return membership


async def decline_invitation(session: AsyncSession, *, actor: Actor, token: str) -> Invitation:
    invitation = await _invitation_for(session, actor, token)
    invitation.declined_at = utcnow()
    await session.flush()
    _publish(session, invitation.organization_id, MemberChange.INVITATION_DECLINED, invitation_id=invitation.id)
    return invitation


@requires(INVITE, organization="invitation_id", via=Invitation, field="id", noun="invitation")
async def revoke_invitation(
    session: AsyncSession, *, actor: Actor, invitation_id: uuid.UUID, authorized: Authorized | None = None
) -> Invitation:
    """Withdraw a pending (or expired) invitation; its token stops working."""
    invitation = await session.get(Invitation, invitation_id, with_for_update=True)
    assert invitation is not None  # the guard found it
    _may_act_on(granted(authorized), INVITE, invitation.role, "revoke an invitation to")
    status = invitation_status(invitation, utcnow())
    if status not in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
        raise InvitationUsed(f"This invitation was already {status.value}", field=["input", "id"])
    invitation.revoked_at = utcnow()
    await session.flush()
    _publish(session, invitation.organization_id, MemberChange.INVITATION_REVOKED, invitation_id=invitation.id)
    return invitation


# -------------------------------------------------------------------------- memberships


async def _membership(session: AsyncSession, membership_id: uuid.UUID | None, field: str) -> Membership:
    """The membership a guard found (its organization locked); the system passes the guard of
    `leaveOrganization` without being a member (`membership_id` None)."""
    membership = None if membership_id is None else await session.get(Membership, membership_id)
    if membership is None:
        raise NotFound("No organization with this `organizationId`", field=["input", field])
    return membership


def _membership_changed(session: AsyncSession, membership: Membership, change: MemberChange) -> None:
    _publish(session, membership.organization_id, change, membership_id=membership.id, user_id=membership.user_id)


@requires(None, organization="organization_id", field="organizationId", lock=True)
async def leave_organization(
    session: AsyncSession, *, actor: Actor, organization_id: uuid.UUID, authorized: Authorized | None = None
) -> uuid.UUID:
    """Leave an organization (not as its last owner); returns the membership's id."""
    authorized = granted(authorized)
    membership = await _membership(session, authorized.membership_id, "organizationId")
    await _keep_an_owner(session, membership, authorized.kind, "leave")
    await session.delete(membership)
    await session.flush()
    _membership_changed(session, membership, MemberChange.MEMBER_LEFT)
    return membership.id


async def left_everywhere(session: AsyncSession, *, actor: Actor) -> None:
    """Announce that the actor leaves every organization they are in (their account is being
    deleted: the memberships go with it, by their foreign key)."""
    mine = sa.select(Membership).where(access.own_memberships(_memberships, actor), access.readable(Membership, actor))
    for membership in (await session.execute(mine)).scalars():
        _membership_changed(session, membership, MemberChange.MEMBER_LEFT)


@requires(REMOVE, organization="membership_id", via=Membership, field="id", lock=True, noun="membership")
async def remove_member(
    session: AsyncSession, *, actor: Actor, membership_id: uuid.UUID, authorized: Authorized | None = None
) -> Membership:
    """Remove a member (of a role no stronger than the remover's; never the last owner)."""
    authorized = granted(authorized)
    membership = await _membership(session, membership_id, "id")
    _may_act_on(authorized, REMOVE, membership.role, "remove a member of")
    await _keep_an_owner(session, membership, authorized.kind, "be removed")
    await session.delete(membership)
    await session.flush()
    _membership_changed(session, membership, MemberChange.MEMBER_REMOVED)
    return membership


@requires(CHANGE_ROLE, organization="membership_id", via=Membership, field="id", lock=True, noun="membership")
async def change_member_role(
    session: AsyncSession,
    *,
    actor: Actor,
    membership_id: uuid.UUID,
    role: str,
    authorized: Authorized | None = None,
) -> Membership:
    """Give a member another role of the organization's kind; the last owner keeps theirs. An
    owner hands ownership over so (then leaves, or deletes their account)."""
    authorized = granted(authorized)
    membership = await _membership(session, membership_id, "id")
    new_role = _role(authorized.kind, role)
    if new_role == membership.role:
        return membership
    _may_act_on(authorized, CHANGE_ROLE, membership.role, "change the role of a member of")
    _may_act_on(authorized, CHANGE_ROLE, new_role, "give")
    await _keep_an_owner(session, membership, authorized.kind, "be given another role")
    membership.role = new_role
    await session.flush()
    _membership_changed(session, membership, MemberChange.MEMBER_ROLE_CHANGED)
    return membership


@requires(DELETE, organization="organization_id", field="organizationId", lock=True)
async def delete_organization(session: AsyncSession, *, actor: Actor, organization_id: uuid.UUID) -> uuid.UUID:
    """Delete an organization; its memberships and invitations go with it (their foreign keys
    cascade), and the audit trail records the organization's deletion (its events stay)."""
    organization = await session.get_one(Organization, organization_id)
    await session.delete(organization)
    await session.flush()
    _publish(session, organization_id, MemberChange.ORGANIZATION_DELETED)
    return organization_id


# ------------------------------------------------------------------------------ the matrix


def permission_matrix(kinds: Iterable[OrganizationKind], mutations: Mapping[str, Callable[..., Any]]) -> str:
    """The README's permission matrix (Markdown): per kind, each permission with what it allows,
    the mutations that require it (`core.access.requires` on their services) and the roles that
    hold it; a test keeps the README equal to it."""
    required: dict[str | None, list[str]] = {}
    for name, service in mutations.items():
        requirement = access.requirement_of(service)
        if requirement is not None:
            required.setdefault(requirement.permission, []).append(f"`{name}`")
    lines: list[str] = []
    for kind in kinds:
        lines += [
            f"**`{kind.name}`** ({kind.description.rstrip('.')}; owner role: `{kind.owner}`)",
            "",
            "| permission | allows | mutations | " + " | ".join(f"`{role}`" for role in kind.roles) + " |",
            "|---|---|---|" + "---|" * len(kind.roles),
        ]
        member = "read the organization and its members (`organization`, `node`, `viewer.organizations`; of "
        member += "another member's account its id, display name, profile and creation time), follow "
        member += "`organizationChanges`, leave"
        rows = [("membership (any role)", member, required.get(None, []), kind.roles)]
        for permission in kind.permissions:
            what = kind.meaning(permission)
            rows.append((f"`{permission}`", what, required.get(permission, []), kind.roles_with(permission)))
        for permission_name, what, names, holders in rows:
            marks = " | ".join("yes" if role in holders else "" for role in kind.roles)
            lines.append(f"| {permission_name} | {what} | {', '.join(names) or '-'} | {marks} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
