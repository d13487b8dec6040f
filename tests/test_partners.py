"""A partner end to end: an API client's key runs exactly its registered documents, within its
scopes and its budget, by `documentId` and by Apollo's hash, over HTTP and WebSocket; free text and
automatic persisted queries are refused to it (its policy is `trusted`), and nothing it sends is
stored for anyone else."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest
from gql import GraphQLRequest
from starlette.applications import Starlette

from tests.organizations.conftest import OrganizationFactory, Team
from tests.support import GraphQLClient
from tests.test_api_clients import Clients

ORGANIZATION = "query PartnerOrg($slug: String!) { organization(slug: $slug) { name } }"
PILLARS = "query PartnerPillars { viewer { pillars(first: 1) { totalCount } } }"
REGISTER = """
    mutation R($input: RegisterTrustedDocumentsInput!) {
      registerTrustedDocuments(input: $input) { added unchanged errors { code message } }
    }
"""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def teams(gql: GraphQLClient) -> OrganizationFactory:
    return OrganizationFactory(gql)


@pytest.fixture
def clients(gql: GraphQLClient, teams: OrganizationFactory) -> Clients:
    return Clients(gql, teams)


async def partner(gql: GraphQLClient, teams: OrganizationFactory, clients: Clients) -> tuple[Team, str, list[str]]:
    """A team, its trusted-only API client (`organizations:read`) and the client's key, with two
    registered documents (one needs a scope the client lacks); each document's text is unique."""
    owner = await gql.sign_up()
    team = await teams.team(owner, name="Partner Co")
    made = await clients.create(team, ["organizations:read"], policy="TRUSTED")
    marker = uuid.uuid4().hex[:8]
    texts = [ORGANIZATION.replace("{ name }", f"{{ name m{marker}: slug }}"), PILLARS.replace("Pillars", f"P{marker}")]
    manifest = json.dumps({sha256(text): text for text in texts})
    registered = await gql(
        REGISTER, {"input": {"clientId": made["apiClient"]["id"], "manifest": manifest}}, token=owner.token
    )
    assert sorted(registered.data["registerTrustedDocuments"]["added"]) == sorted(f"sha256:{sha256(t)}" for t in texts)
    return team, made["key"], texts


async def post(gql: GraphQLClient, body: dict[str, Any], key: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = await gql.http.post("/graphql", json=body, headers=headers)
    return response.status_code, response.json()


def code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


async def test_a_partner_runs_its_registered_documents_within_its_scopes_and_budget(
    gql: GraphQLClient, teams: OrganizationFactory, clients: Clients
) -> None:
    team, key, (organization, pillars) = await partner(gql, teams, clients)
    variables = {"slug": team.slug}
    # By documentId, and by Apollo's hash alone: the same answer, with its cost
    for body in (
        {"documentId": f"sha256:{sha256(organization)}", "variables": variables},
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(organization)}}, "variables": variables},
    ):
        status, answer = await post(gql, body, key)
        assert status == 200, answer
        assert answer["data"]["organization"]["name"] == "Partner Co"
        cost = answer["extensions"]["cost"]
        assert cost["requestedQueryCost"] >= 1
        assert cost["throttleStatus"]["maximumAvailable"] > 0
    # A registered document outside its scopes is refused before it runs
    status, answer = await post(gql, {"documentId": f"sha256:{sha256(pillars)}"}, key)
    assert (status, code(answer)) == (403, "INSUFFICIENT_SCOPE")
    # Its own document's text, sent as text, is refused: only ids may run for it
    status, answer = await post(gql, {"query": organization, "variables": variables}, key)
    assert (status, code(answer)) == (400, "PERSISTED_DOCUMENT_REQUIRED")


async def test_automatic_persisted_queries_answer_no_trusted_only_client_and_store_nothing_for_it(
    gql: GraphQLClient, teams: OrganizationFactory, clients: Clients
) -> None:
    team, key, _ = await partner(gql, teams, clients)
    text = (
        f"query Unregistered {{ organization(slug: {json.dumps(team.slug)}) {{ id u{uuid.uuid4().hex[:8]}: name }} }}"
    )
    hashed = {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}}
    # A hash alone that names none of its documents: unknown to it (not APQ's "send the text")
    status, answer = await post(gql, {"extensions": hashed}, key)
    assert (status, code(answer)) == (404, "PERSISTED_DOCUMENT_NOT_FOUND")
    # The hash with its text, as Apollo's link retries: text, refused under its policy
    status, answer = await post(gql, {"query": text, "extensions": hashed}, key)
    assert (status, code(answer)) == (400, "PERSISTED_DOCUMENT_REQUIRED")
    # Nothing was stored: a user's hash-only request still misses
    user = await gql.sign_up()
    status, answer = await post(gql, {"extensions": hashed})
    assert code(answer) == "PERSISTED_QUERY_NOT_FOUND"
    # ... and a user's own round trip stores it (APQ works for users)
    response = await gql.http.post(
        "/graphql", json={"query": text, "extensions": hashed}, headers={"Authorization": f"Bearer {user.token}"}
    )
    assert response.status_code == 200, response.text
    status, answer = await post(gql, {"extensions": hashed})
    assert status == 200, answer
    assert answer["data"] == {"organization": None}  # anonymous: the hash runs, the row is not theirs


async def test_on_a_websocket_a_partner_may_send_no_text(
    gql: GraphQLClient, teams: OrganizationFactory, clients: Clients, app: Starlette
) -> None:
    from tests.live.conftest import serve, ws_session

    team, key, (organization, _) = await partner(gql, teams, clients)
    async with serve(app) as server, ws_session(server.ws, key) as session:
        # The policy holds on every transport: text is refused here as over HTTP
        with pytest.raises(Exception, match=r"Only trusted documents may run here"):
            await session.execute(GraphQLRequest(organization, variable_values={"slug": team.slug}))
