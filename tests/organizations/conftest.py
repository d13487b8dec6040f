"""Organization fixtures: a factory that makes teams and members through the public mutations.

Only fixtures named `organizations_*` live here (other test modules of this directory share them).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import GraphQLClient, Viewer

TOKEN_MUTATIONS = ("acceptInvitation", "declineInvitation")
ERRORS = "errors { __typename code message field ... on ForbiddenError { permission roles } }"


@dataclass(frozen=True)
class Team:
    id: str
    slug: str
    owner: Viewer
    #: the owner's membership
    membership: str


class OrganizationFactory:
    """Teams, invitations and members made through the public mutations; global IDs back."""

    def __init__(self, gql: GraphQLClient) -> None:
        self.gql = gql

    async def call(self, name: str, input: dict[str, Any], selection: str, token: str | None) -> dict[str, Any]:
        """`name(input:)`'s payload, typed errors (with a ForbiddenError's details) included."""
        input_type = "InvitationTokenInput" if name in TOKEN_MUTATIONS else f"{name[0].upper()}{name[1:]}Input"
        document = f"mutation Run($input: {input_type}!) {{ {name}(input: $input) {{ {selection} {ERRORS} }} }}"
        payload: dict[str, Any] = (await self.gql(document, {"input": input}, token=token)).data[name]
        return payload

    async def ok(self, name: str, input: dict[str, Any], selection: str, token: str | None) -> dict[str, Any]:
        payload = await self.call(name, input, selection, token)
        assert payload["errors"] == [], payload["errors"]
        return payload

    async def team(self, owner: Viewer, name: str = "Acme") -> Team:
        slug = f"acme-{uuid.uuid4().hex[:12]}"
        payload = await self.ok(
            "createOrganization",
            {"name": name, "slug": slug},
            "organization { id slug } membership { id }",
            owner.token,
        )
        return Team(payload["organization"]["id"], payload["organization"]["slug"], owner, payload["membership"]["id"])

    async def invite(self, inviter: Viewer, team: Team, email: str, role: str = "member") -> tuple[str, str]:
        """(the invitation's id, its token)."""
        payload = await self.ok(
            "inviteMember",
            {"organizationId": team.id, "email": email, "role": role},
            "invitation { id } token",
            inviter.token,
        )
        return payload["invitation"]["id"], payload["token"]

    async def join(self, team: Team, user: Viewer, role: str = "member", inviter: Viewer | None = None) -> str:
        """Invite `user` (by the owner unless `inviter`) and accept; the membership's id."""
        _, token = await self.invite(inviter or team.owner, team, user.email, role)
        payload = await self.ok("acceptInvitation", {"token": token}, "membership { id role }", user.token)
        assert payload["membership"]["role"] == role
        return str(payload["membership"]["id"])


@pytest.fixture
def organizations_factory(gql: GraphQLClient) -> OrganizationFactory:
    return OrganizationFactory(gql)
