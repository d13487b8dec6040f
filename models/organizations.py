"""Organizations, their members and the invitations to join them (shared by every product).

An organization has a `kind` ("team", or a product's own: Akashic's campaigns), whose roles and
permissions the product that owns the kind declares (`core.access.OrganizationKind`). Each table's
read policy is declared here, once (`core.access.declare`): an organization and its memberships
are read by its members, its invitations by the members whose role may invite.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core import access
from models.base import created_at_field, id_field, timestamp_field

#: A slug: lower-case letters, digits and inner hyphens, 2 to 40 characters.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$"
#: A role or kind name, as `core.access.OrganizationKind` allows them.
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"


def _user_reference(*, nullable: bool) -> uuid.UUID:
    """A user column; a user who is gone leaves NULL behind (who invited, who created), or takes
    the row with them (a membership)."""
    ondelete = "SET NULL" if nullable else "CASCADE"
    return Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete=ondelete), nullable=nullable),
    )


def _organization_reference() -> uuid.UUID:
    return Field(sa_column=sa.Column(sa.Uuid, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False))


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"
    __table_args__ = (
        sa.UniqueConstraint("slug"),
        sa.CheckConstraint(f"slug ~ '{SLUG_PATTERN}'", name="slug"),
        sa.CheckConstraint(f"kind ~ '{NAME_PATTERN}'", name="kind"),
    )

    id: uuid.UUID = id_field()
    name: str = Field(max_length=120, nullable=False)
    slug: str = Field(max_length=40, nullable=False)
    kind: str = Field(max_length=32, nullable=False)
    created_by: uuid.UUID | None = _user_reference(nullable=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Membership(SQLModel, table=True):
    """A user's role in an organization (the table the access policies and RLS read by name:
    `memberships(user_id, organization_id, role)`)."""

    __tablename__ = "memberships"
    __table_args__ = (
        sa.UniqueConstraint("organization_id", "user_id"),
        # The access policies' semi-join (the organizations of a user, in some roles), index only.
        sa.Index("ix_memberships_user_access", "user_id", "organization_id", "role"),
        sa.CheckConstraint(f"role ~ '{NAME_PATTERN}'", name="role"),
    )

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID = _organization_reference()
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    role: str = Field(max_length=32, nullable=False)
    invited_by: uuid.UUID | None = _user_reference(nullable=True)
    joined_at: datetime = created_at_field()


class Invitation(SQLModel, table=True):
    """An invitation by email: single-use (accepted, declined or revoked once), expiring, and
    known by the SHA-256 of its token (the token itself is shown to the inviter once)."""

    __tablename__ = "invitations"
    __table_args__ = (
        sa.UniqueConstraint("token_hash"),
        # At most one open invitation per address and organization (inviting again replaces it).
        sa.Index(
            "uq_invitations_open_email",
            "organization_id",
            sa.text("lower(email)"),
            unique=True,
            postgresql_where=sa.text("accepted_at IS NULL AND declined_at IS NULL AND revoked_at IS NULL"),
        ),
        sa.Index("ix_invitations_organization_created", "organization_id", "created_at"),
        sa.CheckConstraint("num_nonnulls(accepted_at, declined_at, revoked_at) <= 1", name="settled_once"),
        sa.CheckConstraint(f"role ~ '{NAME_PATTERN}'", name="role"),
    )

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID = _organization_reference()
    email: str = Field(max_length=320, nullable=False)
    role: str = Field(max_length=32, nullable=False)
    invited_by: uuid.UUID | None = _user_reference(nullable=True)
    token_hash: str = Field(max_length=64, nullable=False)
    created_at: datetime = created_at_field()
    expires_at: datetime = timestamp_field(nullable=False)  # type: ignore[assignment]
    accepted_at: datetime | None = timestamp_field()
    declined_at: datetime | None = timestamp_field()
    revoked_at: datetime | None = timestamp_field()


_memberships = Membership.__table__  # type: ignore[attr-defined]

access.declare_memberships(Organization, Membership)
access.declare(Organization, access.Members(_memberships, column="id"))
access.declare(Membership, access.Members(_memberships))
access.declare(Invitation, access.Members(_memberships, permission=access.INVITE))
