"""API clients: keys shown once and stored as their keyed hash, authentication by key, scopes per
product, rotation with a grace period, revocation at once, management by the roles that hold
`api_clients.manage`, the audit trail, and what a client reads (its organization, no user's)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from gql import GraphQLRequest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from core import api_keys
from core.api_keys import KEY_PREFIX, hash_key, key_secret, new_key, well_formed
from core.runtime import Runtime
from tests.aurum.conftest import AurumFactory
from tests.conftest import TEST_API_KEY_SECRET
from tests.organizations.conftest import OrganizationFactory, Team
from tests.support import GraphQLClient, Viewer

ROOT = Path(__file__).resolve().parent.parent
KEY_FIELDS = "apiClient { id name scopes documentPolicy } key apiClientKey { id prefix expiresAt }"
ORGANIZATION = """
query Org($slug: String!) {
  organization(slug: $slug) {
    id name
    members(first: 10) { nodes { role user { displayName email } } }
    invitations(first: 10) { nodes { email } }
    apiClients(first: 10) { nodes { id } }
  }
}
"""


def runtime_of(app: Starlette) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


class Clients:
    """API clients made through the public mutations."""

    def __init__(self, gql: GraphQLClient, organizations: OrganizationFactory) -> None:
        self.gql = gql
        self.organizations = organizations

    async def create(
        self, team: Team, scopes: list[str], *, name: str | None = None, policy: str = "ANY", by: Viewer | None = None
    ) -> dict[str, Any]:
        return await self.organizations.ok(
            "createApiClient",
            {
                "organizationId": team.id,
                "name": name or f"app-{uuid.uuid4().hex[:8]}",
                "scopes": scopes,
                "documentPolicy": policy,
            },
            KEY_FIELDS,
            (by or team.owner).token,
        )

    async def request(
        self, key: str, query: str, variables: dict[str, Any] | None = None, *, status: int = 200
    ) -> dict[str, Any]:
        response = await self.gql.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def teams(gql: GraphQLClient) -> OrganizationFactory:
    return OrganizationFactory(gql)


@pytest.fixture
def aurum(gql: GraphQLClient) -> AurumFactory:
    return AurumFactory(gql)


@pytest.fixture
def clients(gql: GraphQLClient, teams: OrganizationFactory) -> Clients:
    return Clients(gql, teams)


def reason(body: dict[str, Any]) -> tuple[str, str]:
    extensions = body["errors"][0]["extensions"]
    return extensions["code"], extensions.get("reason") or extensions.get("scope")


# ---------------------------------------------------------------------------- the keys


def test_keys_are_random_recognisable_and_checked_before_any_look_up() -> None:
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200
    key = next(iter(keys))
    assert key.startswith(KEY_PREFIX)
    assert len(key) == api_keys.KEY_LENGTH
    assert well_formed(key)
    # A changed character fails the checksum; so does a truncated key or a JWT
    typo = key[:10] + ("A" if key[10] != "A" else "B") + key[11:]
    assert not well_formed(typo)
    assert not well_formed(key[:-1])
    assert not well_formed("eyJhbGciOiJFUzI1NiJ9.e30.sig")


async def test_a_key_is_shown_once_and_stored_as_its_keyed_hash(
    clients: Clients,
    gql: GraphQLClient,
    teams: OrganizationFactory,
    engine: AsyncEngine,
    app: Starlette,
) -> None:
    owner = await gql.sign_up()
    team = await teams.team(owner)
    made = await clients.create(team, ["organizations:read"], policy="TRUSTED")
    key = made["key"]
    assert well_formed(key)
    assert made["apiClientKey"]["prefix"] == key[:12]
    assert made["apiClient"]["documentPolicy"] == "TRUSTED"
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.text("SELECT prefix, key_hash FROM api_client_keys WHERE prefix = :p"), {"p": key[:12]}
            )
        ).all()
    assert len(rows) == 1
    stored = bytes(rows[0].key_hash)
    assert key.encode() not in stored
    assert stored == hash_key(key_secret(runtime_of(app).settings), key)
    # The key is never readable again: the metadata has its prefix, no hash
    listed = await gql(
        "query($slug: String!) { organization(slug: $slug) { apiClients(first: 5) { nodes { name keys(first: 5) "
        "{ nodes { prefix createdAt expiresAt revokedAt lastUsedAt } } } } } }",
        {"slug": team.slug},
        token=owner.token,
    )
    client = listed.data["organization"]["apiClients"]["nodes"][0]
    assert [k["prefix"] for k in client["keys"]["nodes"]] == [key[:12]]
    assert key not in str(listed.body)


# ------------------------------------------------------------------------ what a client reads


async def test_a_client_reads_its_organization_within_its_scopes_and_no_users_data(
    clients: Clients, gql: GraphQLClient, teams: OrganizationFactory, aurum: AurumFactory
) -> None:
    owner = await gql.sign_up(display_name="Owner")
    team = await teams.team(owner)
    await teams.invite(owner, team, "invitee@example.com")
    other_team = await teams.team(await gql.sign_up())
    made = await clients.create(team, ["organizations:read"])
    key = made["key"]

    # Its organization and members, with the members' names and no email (a client holds no
    # role: no invitations, no API clients either)
    body = await clients.request(key, ORGANIZATION, {"slug": team.slug})
    organization = body["data"]["organization"]
    assert organization["id"] == team.id
    assert organization["members"]["nodes"] == [{"role": "owner", "user": {"displayName": "Owner", "email": None}}]
    assert organization["invitations"]["nodes"] == []
    assert organization["apiClients"]["nodes"] == []
    # Another organization is null, by slug and by id
    body = await clients.request(key, ORGANIZATION, {"slug": other_team.slug})
    assert body["data"]["organization"] is None
    body = await clients.request(key, "query($id: ID!) { node(id: $id) { id } }", {"id": other_team.id})
    assert body["data"]["node"] is None
    # A node of its own organization is readable by id
    body = await clients.request(key, "query($id: ID!) { node(id: $id) { id } }", {"id": team.id})
    assert body["data"]["node"] == {"id": team.id}

    # Without `aurum:read` a user's pillar is refused before execution, naming the scope
    pillar = await aurum.pillar(owner.token)
    body = await clients.request(key, "query($id: ID!) { node(id: $id) { id } }", {"id": pillar}, status=403)
    assert reason(body) == ("INSUFFICIENT_SCOPE", "aurum:read")
    assert body["errors"][0]["extensions"]["missingScopes"] == ["aurum:read"]
    assert "data" not in body
    body = await clients.request(key, "{ viewer { pillars(first: 1) { totalCount } } }", status=403)
    assert reason(body) == ("INSUFFICIENT_SCOPE", "aurum:read")
    # ...a mutation needs `:write`
    body = await clients.request(key, 'mutation { createPillar(input: {name: "x"}) { pillar { id } } }', status=403)
    assert reason(body) == ("INSUFFICIENT_SCOPE", "aurum:write")

    # With `aurum:read` the user's rows are still not the client's: null, as a missing one
    await teams.ok(
        "updateApiClient",
        {"clientId": made["apiClient"]["id"], "scopes": ["organizations:read", "aurum:read"]},
        "apiClient { scopes }",
        owner.token,
    )
    body = await clients.request(key, "query($id: ID!) { node(id: $id) { id } }", {"id": pillar})
    assert body["data"]["node"] is None
    body = await clients.request(key, "{ viewer { id } }")
    assert body["data"]["viewer"] is None

    # Without `organizations:read` its organization is refused
    await teams.ok(
        "updateApiClient",
        {"clientId": made["apiClient"]["id"], "scopes": ["aurum:read"]},
        "apiClient { id }",
        owner.token,
    )
    body = await clients.request(key, ORGANIZATION, {"slug": team.slug}, status=403)
    assert reason(body) == ("INSUFFICIENT_SCOPE", "organizations:read")
    # ...through a fragment too, and by id
    body = await clients.request(
        key,
        "query($s: String!) { ...F } fragment F on Query { organization(slug: $s) { id } }",
        {"s": team.slug},
        status=403,
    )
    assert reason(body) == ("INSUFFICIENT_SCOPE", "organizations:read")
    body = await clients.request(key, f'query {{ node(id: "{team.id}") {{ id }} }}', status=403)
    assert reason(body) == ("INSUFFICIENT_SCOPE", "organizations:read")


async def test_a_client_manages_no_clients(clients: Clients, gql: GraphQLClient, teams: OrganizationFactory) -> None:
    owner = await gql.sign_up()
    team = await teams.team(owner)
    key = (await clients.create(team, ["organizations:read", "organizations:write"]))["key"]
    body = await clients.request(
        key,
        "mutation($input: CreateApiClientInput!) { createApiClient(input: $input) { key errors { code } } }",
        {"input": {"organizationId": team.id, "name": "another", "scopes": ["aurum:read"]}},
    )
    # Its organization's roles are the members': a client holds none (as a non-member: not found)
    assert body["data"]["createApiClient"] == {"key": None, "errors": [{"code": "NOT_FOUND"}]}


# --------------------------------------------------------------------------- refusals


async def test_bad_revoked_and_expired_keys_are_refused_with_their_reasons(
    clients: Clients, gql: GraphQLClient, teams: OrganizationFactory, app: Starlette
) -> None:
    owner = await gql.sign_up()
    team = await teams.team(owner)
    made = await clients.create(team, ["organizations:read"])
    key, client_id = made["key"], made["apiClient"]["id"]
    query = "query($slug: String!) { organization(slug: $slug) { id } }"
    variables = {"slug": team.slug}

    assert reason(await clients.request(key[:-1] + "x", query, variables, status=401)) == (
        "UNAUTHENTICATED",
        "API_KEY_MALFORMED",
    )
    assert reason(await clients.request(new_key(), query, variables, status=401)) == (
        "UNAUTHENTICATED",
        "API_KEY_UNKNOWN",
    )
    # X-API-Key is not read: refused, saying which header to use
    response = await gql.http.post(
        "/graphql", json={"query": query, "variables": variables}, headers={"X-API-Key": key}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["reason"] == "AUTHORIZATION_MALFORMED"

    # Rotation keeps the old key for its grace period...
    rotated = await teams.ok(
        "rotateApiClientKey", {"clientId": client_id, "graceSeconds": 3600}, KEY_FIELDS, owner.token
    )
    new = rotated["key"]
    assert new != key
    assert rotated["apiClientKey"]["expiresAt"] is None
    for each in (key, new):
        assert (await clients.request(each, query, variables))["data"]["organization"] == {"id": team.id}
    # ...and a grace of 0 ends the others now: expired
    latest = (
        await teams.ok("rotateApiClientKey", {"clientId": client_id, "graceSeconds": 0}, KEY_FIELDS, owner.token)
    )["key"]
    for each in (key, new):
        assert reason(await clients.request(each, query, variables, status=401)) == (
            "UNAUTHENTICATED",
            "API_KEY_EXPIRED",
        )
    assert (await clients.request(latest, query, variables))["data"]["organization"] == {"id": team.id}
    # An out-of-range grace is a validation error
    bad = await teams.call("rotateApiClientKey", {"clientId": client_id, "graceSeconds": -1}, "key", owner.token)
    assert [e["code"] for e in bad["errors"]] == ["VALIDATION"]
    assert bad["key"] is None

    # Revocation refuses every key at once (the key was remembered: no look-up needed before)
    keys = runtime_of(app).api_keys
    before = keys.lookups
    assert (await clients.request(latest, query, variables))["data"]["organization"] == {"id": team.id}
    assert keys.lookups == before  # remembered
    revoked = await teams.ok("revokeApiClient", {"clientId": client_id}, "apiClient { revokedAt }", owner.token)
    assert revoked["apiClient"]["revokedAt"] is not None
    assert reason(await clients.request(latest, query, variables, status=401)) == (
        "UNAUTHENTICATED",
        "API_KEY_REVOKED",
    )
    # A revoked client can't be rotated or changed
    again = await teams.call("rotateApiClientKey", {"clientId": client_id}, "key", owner.token)
    assert [e["code"] for e in again["errors"]] == ["CONFLICT"]


async def test_only_the_roles_that_manage_clients_may(
    clients: Clients, gql: GraphQLClient, teams: OrganizationFactory
) -> None:
    owner = await gql.sign_up()
    team = await teams.team(owner)
    member = await gql.sign_up()
    await teams.join(team, member, "member")
    admin = await gql.sign_up()
    await teams.join(team, admin, "admin")
    stranger = await gql.sign_up()
    create = {"organizationId": team.id, "name": "partner", "scopes": ["aurum:read"]}

    refused = await teams.call("createApiClient", create, "key", member.token)
    assert refused["errors"][0]["code"] == "FORBIDDEN"
    assert refused["errors"][0]["permission"] == "api_clients.manage"
    assert (await teams.call("createApiClient", create, "key", stranger.token))["errors"][0]["code"] == "NOT_FOUND"
    made = await teams.ok("createApiClient", create, KEY_FIELDS, admin.token)
    client_id = made["apiClient"]["id"]
    # The name is unique in the organization; scopes must be known ones
    taken = await teams.call("createApiClient", create, "key", owner.token)
    assert taken["errors"][0]["code"] == "CONFLICT"
    unknown = await teams.call(
        "createApiClient", {**create, "name": "other", "scopes": ["nothing:read"]}, "key", owner.token
    )
    assert unknown["errors"][0]["code"] == "VALIDATION"
    assert unknown["errors"][0]["field"] == ["input", "scopes"]
    # A member reads no API clients, nor by id; a stranger neither
    for viewer in (member, stranger):
        body = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": client_id}, token=viewer.token)
        assert body.data["node"] is None
        again = await teams.call("revokeApiClient", {"clientId": client_id}, "apiClient { id }", viewer.token)
        assert again["errors"][0]["code"] in {"FORBIDDEN", "NOT_FOUND"}
    body = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": client_id}, token=owner.token)
    assert body.data["node"] == {"id": client_id}


async def test_every_change_is_in_the_audit_trail_with_the_hash_redacted(
    clients: Clients, gql: GraphQLClient, teams: OrganizationFactory
) -> None:
    owner = await gql.sign_up()
    team = await teams.team(owner)
    made = await clients.create(team, ["organizations:read"])
    client_id = made["apiClient"]["id"]
    await teams.ok("rotateApiClientKey", {"clientId": client_id}, "key", owner.token)
    await teams.ok("revokeApiClient", {"clientId": client_id}, "apiClient { id }", owner.token)
    body = await gql(
        "query($slug: String!) { organization(slug: $slug) { auditTrail(first: 50) { nodes { action operation "
        "changes } } } }",
        {"slug": team.slug},
        token=owner.token,
    )
    events = body.data["organization"]["auditTrail"]["nodes"]
    actions = [(e["operation"], e["action"]) for e in events if e["action"].startswith("ApiClient")]
    assert ("createApiClient", "ApiClient.create") in actions
    assert ("createApiClient", "ApiClientKey.create") in actions
    assert ("rotateApiClientKey", "ApiClientKey.update") in actions  # the old key's new expiry
    assert ("revokeApiClient", "ApiClient.update") in actions
    created_keys = [e for e in events if e["action"] == "ApiClientKey.create"]
    assert created_keys
    assert all(e["changes"]["key_hash"]["after"] == "[redacted]" for e in created_keys)
    assert made["key"] not in str(events)


async def test_last_use_is_written_at_most_once_a_minute(
    clients: Clients,
    gql: GraphQLClient,
    teams: OrganizationFactory,
    app: Starlette,
    engine: AsyncEngine,
) -> None:
    owner = await gql.sign_up()
    team = await teams.team(owner)
    made = await clients.create(team, ["organizations:read"])
    key = made["key"]
    keys = runtime_of(app).api_keys
    query = "{ __typename }"

    async def last_used() -> tuple[Any, Any]:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.text(
                        "SELECT k.last_used_at AS key_used, c.last_used_at AS client_used FROM api_client_keys k "
                        "JOIN api_clients c ON c.id = k.client_id WHERE k.prefix = :p"
                    ),
                    {"p": key[:12]},
                )
            ).one()
        return row.key_used, row.client_used

    assert await last_used() == (None, None)
    await clients.request(key, query)
    await keys.wait_for_touches()
    first = await last_used()
    assert first[0] is not None
    assert first[1] is not None
    for _ in range(3):
        await clients.request(key, query)
    await keys.wait_for_touches()
    assert await last_used() == first


async def test_a_key_on_a_websocket(
    clients: Clients, gql: GraphQLClient, teams: OrganizationFactory, app: Starlette
) -> None:
    from tests.live.conftest import serve, ws_session

    owner = await gql.sign_up()
    team = await teams.team(owner)
    made = await clients.create(team, ["organizations:read"])
    async with serve(app) as server:
        async with ws_session(server.ws, made["key"]) as session:
            result = await session.execute(
                GraphQLRequest("query($s: String!) { organization(slug: $s) { id } }", variable_values={"s": team.slug})
            )
            assert result == {"organization": {"id": team.id}}
            with pytest.raises(Exception, match=r"aurum:read"):
                await session.execute(GraphQLRequest("{ viewer { pillars(first: 1) { totalCount } } }"))
        # A bad key closes the connection at connection_init (4401, not retried)
        with pytest.raises(Exception):  # noqa: B017, PT011 - gql raises its own on the close
            async with ws_session(server.ws, new_key()):
                pass


# ------------------------------------------------------------------------ the command line


def _cli(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_URL", "REDIS_URL"}}
    # The test app's secret: the keys the command prints must verify there
    env.update(MODE="dev", DATABASE_URL=database_url, DATA_DIR=str(data_dir), API_KEY_SECRET=TEST_API_KEY_SECRET)
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "clients", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def test_the_command_line_creates_rotates_lists_and_revokes(
    clients: Clients,
    gql: GraphQLClient,
    teams: OrganizationFactory,
    app: Starlette,
    database_url: str,
    data_dir: Path,
) -> None:
    owner = await gql.sign_up()
    team = await teams.team(owner)
    made = await asyncio.to_thread(
        _cli,
        database_url,
        data_dir,
        "create",
        "--organization",
        team.slug,
        "--name",
        "cli-app",
        "--scope",
        "organizations:read",
        "--policy",
        "any",
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.split()[-1]
    assert well_formed(key)
    query = "query($slug: String!) { organization(slug: $slug) { id } }"
    assert (await clients.request(key, query, {"slug": team.slug}))["data"]["organization"] == {"id": team.id}

    rotated = await asyncio.to_thread(
        _cli, database_url, data_dir, "rotate", "cli-app", "--organization", team.slug, "--grace", "60"
    )
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.split()[-1]
    assert well_formed(new)
    assert new != key
    listed = await asyncio.to_thread(_cli, database_url, data_dir, "list", "--organization", team.slug)
    assert listed.returncode == 0, listed.stderr
    assert "cli-app" in listed.stdout
    assert key[:12] in listed.stdout
    assert new[:12] in listed.stdout
    assert key not in listed.stdout

    revoked = await asyncio.to_thread(_cli, database_url, data_dir, "revoke", "cli-app", "--organization", team.slug)
    assert revoked.returncode == 0, revoked.stderr
    # The database refuses both keys now (this test's app has no Redis to hear of it: read afresh)
    keys = runtime_of(app).api_keys
    for each in (key, new):
        record = await keys._lookup(keys.hash(each))
        assert record is not None
        assert record.client_revoked

    # Bad input: exit code 2 and one line
    unknown = await asyncio.to_thread(_cli, database_url, data_dir, "revoke", "nope", "--organization", team.slug)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [f"error: {team.slug} has no API client named 'nope'"]
    bad_scope = await asyncio.to_thread(
        _cli, database_url, data_dir, "create", "--organization", team.slug, "--name", "x", "--scope", "nope:read"
    )
    assert bad_scope.returncode == 2
    assert bad_scope.stderr.startswith("error: Unknown scope 'nope:read'")


async def test_a_key_on_an_event_stream(clients: Clients, gql: GraphQLClient, teams: OrganizationFactory) -> None:
    owner = await gql.sign_up()
    team = await teams.team(owner)
    key = (await clients.create(team, ["organizations:read"]))["key"]
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
    body = {"query": "query($s: String!) { organization(slug: $s) { id } }", "variables": {"s": team.slug}}
    response = await gql.http.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert f'"organization":{{"id":"{team.id}"}}' in response.text
    assert "event: complete" in response.text
    # Outside its scopes, or with a bad key, refused before the stream opens
    refused = await gql.http.post("/graphql", json={"query": "{ viewer { id } }"}, headers=headers)
    assert refused.status_code == 200  # `viewer` alone belongs to no product: null for a client
    assert '"viewer":null' in refused.text
    scoped = {"query": "{ viewer { pillars(first: 1) { totalCount } } }"}
    assert (await gql.http.post("/graphql", json=scoped, headers=headers)).status_code == 403
    bad = {**headers, "Authorization": f"Bearer {new_key()}"}
    assert (await gql.http.post("/graphql", json=body, headers=bad)).status_code == 401
