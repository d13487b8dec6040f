"""Kinds of organization and their permissions, declared once: the README's matrix is made from the
declarations, every organization mutation's permission is declared on its service, and a kind
that could lock its owners out, or that reads could misjudge, is refused when it is declared."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from strawberry.types.base import get_object_definition
from strawberry.utils.str_converters import to_camel_case

from core import access
from core.access import AUDIT_READ, CHANGE_ROLE, DELETE, INVITE, REMOVE, OrganizationKind
from core.context import Actor
from core.products import Product, RegistrationError, Registry
from products import PRODUCTS, REGISTRY
from resolvers.akashic import SERVICES as AKASHIC_SERVICES
from resolvers.akashic_sending import SERVICES as SENDING_SERVICES
from resolvers.organizations import SERVICES as ORGANIZATION_SERVICES
from resolvers.organizations import OrganizationMutation
from resolvers.trusted_documents import SERVICES as TRUSTED_DOCUMENT_SERVICES
from services import organizations
from services.akashic import CAMPAIGN
from services.organizations import TEAM, permission_matrix

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- permission matrix: begin -->\n", "<!-- permission matrix: end -->"

#: Every platform permission, held by the owner alone.
PLATFORM = dict.fromkeys(access.MEMBERSHIP_PERMISSIONS, ("owner",))
#: Every platform mutation that requires a permission in an organization, with its service.
SERVICES = {**ORGANIZATION_SERVICES, **TRUSTED_DOCUMENT_SERVICES}
#: Every mutation whose service declares a permission, the platform's and the products'.
MUTATION_SERVICES = {**SERVICES, **AKASHIC_SERVICES, **SENDING_SERVICES}


def test_the_readme_matrix_is_the_declarations() -> None:
    text = README.read_text()
    written = text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip("\n") + "\n"
    assert written == permission_matrix(REGISTRY.organization_kinds.values(), MUTATION_SERVICES), (
        "the README's permission matrix is stale: paste services.organizations.permission_matrix()'s output"
    )
    assert "| `members.invite` |" in written
    assert "`inviteMember`, `revokeInvitation`" in written


def test_each_mutation_declares_its_permission_on_its_service() -> None:
    fields = get_object_definition(OrganizationMutation, strict=True).fields
    assert {to_camel_case(field.python_name) for field in fields} == set(ORGANIZATION_SERVICES)
    required = {name: access.requirement_of(service) for name, service in SERVICES.items()}
    assert {name: r.permission if r else "none" for name, r in required.items()} == {
        "createOrganization": "none",  # anyone signed in
        "acceptInvitation": "none",  # the invitee, by token and email
        "declineInvitation": "none",
        "inviteMember": INVITE,
        "revokeInvitation": INVITE,
        "leaveOrganization": None,  # membership alone
        "removeMember": REMOVE,
        "changeMemberRole": CHANGE_ROLE,
        "deleteOrganization": DELETE,  # the owner role
        "createApiClient": access.MANAGE_CLIENTS,
        "rotateApiClientKey": access.MANAGE_CLIENTS,
        "revokeApiClient": access.MANAGE_CLIENTS,
        "updateApiClient": access.MANAGE_CLIENTS,
        "registerTrustedDocuments": access.MANAGE_CLIENTS,
    }
    # Membership changes lock the organization's row (the last-owner rule under concurrency)
    assert {name for name, r in required.items() if r and r.lock} == {
        "inviteMember",
        "leaveOrganization",
        "removeMember",
        "changeMemberRole",
        "deleteOrganization",
    }


def test_the_team_kind_is_registered_by_the_platform() -> None:
    assert REGISTRY.organization_kinds == {"team": TEAM, "campaign": CAMPAIGN}
    assert access.organization_kind("team") is TEAM
    assert (TEAM.owner, TEAM.roles_with(INVITE), TEAM.rank("member")) == ("owner", ("owner", "admin"), 2)
    assert access.roles_with_permission(INVITE) == ("admin", "campaign_manager", "communications_director", "owner")


def test_a_kind_that_could_lock_out_its_owners_is_refused() -> None:
    with pytest.raises(
        ValueError,
        match=r"must say which roles hold api_clients\.manage, audit\.read, members\.change_role, members\.invite",
    ):
        OrganizationKind("club", roles=("chair", "member"), permissions={REMOVE: ("chair",)})
    with pytest.raises(ValueError, match=r"the owner role 'chair' must hold members\.invite"):
        OrganizationKind("club", roles=("chair", "member"), permissions={**PLATFORM, INVITE: ("member",)})
    with pytest.raises(ValueError, match=r"names roles it does not have: king"):
        OrganizationKind("club", roles=("chair", "member"), permissions={**PLATFORM, INVITE: ("chair", "king")})
    with pytest.raises(ValueError, match="roles must be given, each once"):
        OrganizationKind("club", roles=("chair", "chair"), permissions=PLATFORM)
    with pytest.raises(ValueError, match="is not lower-case"):
        OrganizationKind("club", roles=("Chair",), permissions=PLATFORM)
    with pytest.raises(ValueError, match="is not dotted lower-case names"):
        OrganizationKind("club", roles=("owner",), permissions={**PLATFORM, "publish": ("owner",)})
    # The permissions are kept strongest role first, whatever order they were given in
    club = OrganizationKind(
        "club",
        roles=("owner", "editor", "viewer"),
        permissions={**PLATFORM, "posts.publish": ("editor", "owner")},
        meanings={"posts.publish": "publish a post"},
    )
    assert club.meaning("posts.publish") == "publish a post"
    assert club.meaning(INVITE) == access.MEMBERSHIP_PERMISSIONS[INVITE]
    # A permission of the kind's own must say what it allows, for the README's matrix
    with pytest.raises(ValueError, match=r"it must say what posts\.publish allows"):
        OrganizationKind("club", roles=("owner",), permissions={**PLATFORM, "posts.publish": ("owner",)})
    assert club.roles_with("posts.publish") == ("owner", "editor")
    assert club.roles_with("nothing.declared") == ()


def test_kinds_whose_shared_role_names_reads_would_misjudge_are_refused() -> None:
    # `admin` may invite in a team, so reads let every `admin` read invitations: a kind whose
    # `admin` may not invite would leak them to its admins
    leaky = OrganizationKind(
        "guild",
        roles=("owner", "admin"),
        permissions={**PLATFORM, AUDIT_READ: ("owner", "admin"), access.MANAGE_CLIENTS: ("owner", "admin")},
    )
    with pytest.raises(ValueError, match=r"'guild': its role\(s\) admin lack members\.invite"):
        access.register_kinds([leaky])
    assert access.organization_kind("guild") is None  # refused whole
    # Two registrations of one kind name are refused too, as any name claimed twice
    other = Product(name="other", organization_kinds=(TEAM,))
    with pytest.raises(RegistrationError, match="organization kind 'team' is registered by both"):
        Registry([*PRODUCTS, other])


@pytest.fixture
def registered_kinds() -> Iterator[None]:
    """Whatever a test registers is forgotten afterwards (the registry is the process's)."""
    kinds, permissions = dict(access._KINDS), set(access._READ_PERMISSIONS)
    try:
        yield
    finally:
        access._KINDS.clear()
        access._KINDS.update(kinds)
        access._READ_PERMISSIONS.clear()
        access._READ_PERMISSIONS.update(permissions)


def test_a_read_policy_that_kinds_would_misjudge_is_refused(registered_kinds: None) -> None:
    # A blog's writers read drafts; a team has no such permission, so its owners may not
    blog = OrganizationKind(
        "blog",
        roles=("owner", "writer"),
        permissions={**PLATFORM, "drafts.read": ("owner", "writer")},
        creatable=False,
        meanings={"drafts.read": "read drafts"},
    )
    access.register_kinds([blog])
    memberships = next(table for table in access.declared() if table.name == "memberships")
    # Reads check role names alone: "owner" reading drafts would let a team's owners read a blog's
    with pytest.raises(ValueError, match=r"'team': its role\(s\) owner lack drafts\.read"):
        access.Members(memberships, permission="drafts.read")
    assert "drafts.read" not in access._READ_PERMISSIONS
    # A permission every kind agrees on is fine
    assert access.Members(memberships, permission=INVITE).permission == INVITE
    with pytest.raises(ValueError, match="`roles` or `permission`, not both"):
        access.Members(memberships, roles=frozenset({"owner"}), permission=INVITE)


def test_a_guard_must_name_an_argument_of_its_service() -> None:
    async def service(session: object, *, actor: Actor, thing_id: uuid.UUID) -> None:
        return None

    with pytest.raises(TypeError, match="has no argument 'organization_id'"):
        access.requires(INVITE, organization="organization_id", field="organizationId")(service)
    assert access.requirement_of(organizations.invite_member) == access.Requirement(
        INVITE, "organization_id", "organizationId", None, True
    )
