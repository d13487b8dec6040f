"""Deleting an account and deleting an organization: no organization is left without an owner.

`deleteAccount` is refused (`LastOwnerError`, naming the organizations) while the viewer is the
last owner of one; handing ownership over (`changeMemberRole` to owner) or `deleteOrganization`
(the owner role only, audited) clears the way."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.relay import from_global_id
from models.audit import AuditEvent
from models.organizations import Invitation, Membership
from tests.organizations.conftest import OrganizationFactory
from tests.support import PASSWORD, GraphQLClient, Viewer

DELETE_ACCOUNT = """mutation Delete($input: DeleteAccountInput!) { deleteAccount(input: $input) { deletedId
  errors { __typename code message field ... on LastOwnerError { organizationIds organizationSlugs } } } }"""

ORGANIZATION = """query Org($slug: String!) { organization(slug: $slug) { id
  members { totalCount nodes { role user { displayName } } } } }"""


async def _delete_account(gql: GraphQLClient, viewer: Viewer, password: str = PASSWORD) -> Any:
    return (await gql(DELETE_ACCOUNT, {"input": {"password": password}}, token=viewer.token)).data["deleteAccount"]


def _pk(global_id: str) -> uuid.UUID:
    return from_global_id(global_id)[1]


async def _events(session: AsyncSession, action: str, target_id: str) -> list[AuditEvent]:
    statement = sa.select(AuditEvent).where(AuditEvent.action == action, AuditEvent.target_id == target_id)  # type: ignore[arg-type]
    return list((await session.execute(statement)).scalars())


async def test_the_last_owner_cannot_delete_their_account_until_ownership_is_handed_over(
    gql: GraphQLClient, organizations_factory: OrganizationFactory, session: AsyncSession
) -> None:
    # Given Olive, the one owner of two teams, and a co-owner of a third
    olive, adam, other = await gql.sign_up(display_name="Olive"), await gql.sign_up(), await gql.sign_up()
    first, second = await organizations_factory.team(olive, "First"), await organizations_factory.team(olive, "Second")
    shared = await organizations_factory.team(other, "Shared")
    await organizations_factory.join(shared, olive, "owner")
    adam_membership = await organizations_factory.join(first, adam, "admin")
    # A wrong password changes nothing
    refused = await _delete_account(gql, olive, "not the password")
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("INVALID_CREDENTIALS", ["input", "password"])]
    # When she deletes her account: refused, naming the two teams she alone owns (by slug order)
    refused = await _delete_account(gql, olive)
    assert refused["deletedId"] is None
    (error,) = refused["errors"]
    assert (error["__typename"], error["code"]) == ("LastOwnerError", "LAST_OWNER")
    expected = sorted([(first.slug, first.id), (second.slug, second.id)])
    assert list(zip(error["organizationSlugs"], error["organizationIds"], strict=True)) == expected
    assert first.slug in error["message"]
    assert shared.slug not in error["message"]
    # and nothing changed: she still signs in and owns them
    assert (await gql("{ viewer { user { displayName } } }", token=olive.token)).data["viewer"]["user"] == {
        "displayName": "Olive"
    }
    # When she makes Adam an owner of the first and deletes the second, she may go
    made = await organizations_factory.ok(
        "changeMemberRole", {"id": adam_membership, "role": "owner"}, "membership { role }", olive.token
    )
    assert made["membership"]["role"] == "owner"
    again = await _delete_account(gql, olive)
    assert [e["organizationSlugs"] for e in again["errors"]] == [[second.slug]]
    await organizations_factory.ok("deleteOrganization", {"organizationId": second.id}, "deletedId", olive.token)
    deleted = await _delete_account(gql, olive)
    assert deleted == {"deletedId": olive.user_id, "errors": []}
    # Then the first team is Adam's, without her; the shared one keeps its other owner
    found = (await gql(ORGANIZATION, {"slug": first.slug}, token=adam.token)).data["organization"]
    assert [(m["role"], m["user"]["displayName"]) for m in found["members"]["nodes"]] == [("owner", "Tester")]
    kept = (await gql(ORGANIZATION, {"slug": shared.slug}, token=other.token)).data["organization"]
    assert kept["members"]["totalCount"] == 1
    # Her token no longer works, and the deletion is in the audit trail
    gone = await gql("{ viewer { user { displayName } } }", token=olive.token)
    assert [error["extensions"]["reason"] for error in gone.errors or []] == ["ACCOUNT_NOT_FOUND"]
    (event,) = await _events(session, "User.delete", str(_pk(olive.user_id)))
    assert (event.actor_user_id, event.operation) == (_pk(olive.user_id), "deleteAccount")
    assert event.changes["password_hash"]["before"] == "[redacted]"


async def test_two_owners_deleting_their_accounts_at_once_leave_one_owner(
    gql: GraphQLClient, organizations_factory: OrganizationFactory
) -> None:
    first, second = await gql.sign_up(), await gql.sign_up()
    team = await organizations_factory.team(first)
    await organizations_factory.join(team, second, "owner")
    # The organization's row is locked by the first: the other then finds itself the last owner
    results = await asyncio.gather(_delete_account(gql, first), _delete_account(gql, second))
    outcomes = sorted(tuple(e["code"] for e in payload["errors"]) for payload in results)
    assert outcomes == [(), ("LAST_OWNER",)]
    survivor = second if results[1]["errors"] else first  # the refused one is still there
    found = (await gql(ORGANIZATION, {"slug": team.slug}, token=survivor.token)).data["organization"]
    assert [m["role"] for m in found["members"]["nodes"]] == ["owner"]


async def test_only_the_owner_role_deletes_an_organization_and_it_is_audited(
    gql: GraphQLClient, organizations_factory: OrganizationFactory, session: AsyncSession
) -> None:
    owner, admin, member, outsider = (
        await gql.sign_up(),
        await gql.sign_up(),
        await gql.sign_up(),
        await gql.sign_up(),
    )
    team = await organizations_factory.team(owner)
    await organizations_factory.join(team, admin, "admin")
    await organizations_factory.join(team, member, "member")
    invitation, _ = await organizations_factory.invite(owner, team, "later@example.com")
    delete = {"organizationId": team.id}
    # A non-member: as for a missing organization; an admin, a member: forbidden, naming who may
    refused = await organizations_factory.call("deleteOrganization", delete, "deletedId", outsider.token)
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("NOT_FOUND", ["input", "organizationId"])]
    for viewer in (admin, member):
        refused = await organizations_factory.call("deleteOrganization", delete, "deletedId", viewer.token)
        assert [(e["code"], e["permission"], e["roles"]) for e in refused["errors"]] == [
            ("FORBIDDEN", "organization.delete", ["owner"])
        ]
    # The owner deletes it: gone for everyone, by slug and by id, with its memberships and invitations
    done = await organizations_factory.ok("deleteOrganization", delete, "deletedId", owner.token)
    assert done["deletedId"] == team.id
    for viewer in (owner, admin, member):
        assert (await gql(ORGANIZATION, {"slug": team.slug}, token=viewer.token)).data["organization"] is None
        assert (await gql("query($id: ID!) { node(id: $id) { id } }", {"id": team.id}, token=viewer.token)).data == {
            "node": None
        }
    pk = _pk(team.id)
    for model in (Membership, Invitation):
        left = await session.execute(sa.select(sa.func.count()).select_from(model).where(model.organization_id == pk))  # type: ignore[arg-type]
        assert left.scalar_one() == 0
    assert await session.get(Invitation, _pk(invitation)) is None
    (event,) = await _events(session, "Organization.delete", str(pk))
    assert (event.actor_user_id, event.organization_id, event.operation) == (
        _pk(owner.user_id),
        pk,
        "deleteOrganization",
    )
    # Again: as for any missing organization
    again = await organizations_factory.call("deleteOrganization", delete, "deletedId", owner.token)
    assert [e["code"] for e in again["errors"]] == ["NOT_FOUND"]
