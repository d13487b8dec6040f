"""Trusted documents: manifests in the formats clients' tooling writes, requests by `documentId` and
by Apollo's `sha256Hash`, the policy, the cache headers, no parse and no validation per request,
`documents check` against a changed schema, and usage."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from graphql import build_schema as build_sdl_schema
from graphql.language.parser import Parser
from graphql.validation.validation_context import ValidationContext
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.applications import Starlette

from app import create_app
from core.context import Actor
from core.documents import (
    NOT_FOUND,
    REQUIRED,
    DocumentParams,
    DocumentRefused,
    DocumentRegistry,
    breaking_coordinates,
    bucket_of,
    p95_ms,
    resolve_document,
    sha256_id,
)
from core.relay import from_global_id, to_global_id
from core.settings import Settings
from models.api_clients import ApiClient
from models.organizations import Membership
from schema import printable_schema
from services.trusted_documents import (
    ManifestRefused,
    all_usage,
    broken_documents,
    parse_manifest,
    register_documents,
    registered_for_check,
    stored_documents,
)
from services.trusted_documents_cli import run_documents_command
from tests.conftest import make_settings
from tests.support import GraphQLClient, Viewer

ROOT = Path(__file__).resolve().parent.parent


def unique(text: str) -> str:
    """`text` with a comment that makes its id this test's own."""
    return f"{text}\n# {uuid.uuid4().hex}"


def registry_of(app: Starlette) -> DocumentRegistry:
    registry = app.state.runtime.documents
    assert registry is not None
    return registry


async def push_first_party(app: Starlette, engine: AsyncEngine, manifest: dict[str, str]) -> list[str]:
    """Register first-party documents as `documents push --first-party` does (the owner's engine)."""
    schema = app.state.runtime.schema
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        registered = await register_documents(
            session, rules=schema.document_rules, sdl=printable_schema(), client=None, manifest=manifest
        )
    return registered.added


ME = "query Me { viewer { user { id displayName } } }"
ADD_PILLAR = (
    "mutation AddPillar($name: String!) { createPillar(input: {name: $name}) { pillar { name } errors { code } } }"
)


class Counted:
    def __init__(self) -> None:
        self.parsed = 0
        self.validated = 0


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counted:
    """Counts every document graphql-core parses and every validation it runs, whoever asks
    (strawberry, our caches, our checks): each goes through `Parser.parse_document` and a
    `ValidationContext`."""
    counts = Counted()
    parse_document = Parser.parse_document
    init = ValidationContext.__init__

    def counting_parse(self: Parser) -> Any:
        counts.parsed += 1
        return parse_document(self)

    def counting_init(self: ValidationContext, *args: Any, **kwargs: Any) -> None:
        counts.validated += 1
        init(self, *args, **kwargs)

    monkeypatch.setattr(Parser, "parse_document", counting_parse)
    monkeypatch.setattr(ValidationContext, "__init__", counting_init)
    return counts


# ----------------------------------------------------------------------------- manifests


def test_manifests_in_codegen_relay_appendix_and_apollo_formats() -> None:
    text = "query A { viewer { id } }"
    sha256 = hashlib.sha256(text.encode()).hexdigest()
    sha1 = hashlib.sha1(text.encode()).hexdigest()
    md5 = hashlib.md5(text.encode()).hexdigest()
    # GraphQL Code Generator's client preset: bare hex keys (sha1 by default, sha256 when asked)
    assert parse_manifest(json.dumps({sha256: text})) == [(f"sha256:{sha256}", text)]
    assert parse_manifest({sha1: text}) == [(sha1, text)]
    # Relay's persisted queries: md5 ids, kept as they are
    assert parse_manifest({md5: text}) == [(md5, text)]
    # The appendix's prefixed ids, and Apollo's manifest
    assert parse_manifest({f"sha256:{sha256}": text}) == [(f"sha256:{sha256}", text)]
    apollo = {"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id": sha256, "body": text}]}
    assert parse_manifest(apollo) == [(f"sha256:{sha256}", text)]
    # A sha256 id that is not the text's, a bad id, an empty text: refused, each named
    with pytest.raises(ManifestRefused) as refused:
        parse_manifest({"sha256:" + "0" * 64: text, "has space": text, "x": ""})
    assert {p.document_id for p in refused.value.problems} == {"sha256:" + "0" * 64, "has space", "x"}
    with pytest.raises(ManifestRefused, match="not valid JSON"):
        parse_manifest("{")


def test_latency_buckets_and_their_p95() -> None:
    assert bucket_of(0.5) == 0
    assert bucket_of(3) == 2
    buckets = [0] * 14
    buckets[bucket_of(4)] = 95
    buckets[bucket_of(900)] = 5
    assert p95_ms(buckets) == 5
    buckets[bucket_of(900)] = 6
    assert p95_ms(buckets) == 1000
    assert p95_ms([0] * 14) is None


# ----------------------------------------------------------------------------- requests


async def test_a_first_party_document_runs_by_id_as_by_text_without_parse_or_validation(
    app: Starlette, engine: AsyncEngine, gql: GraphQLClient, http: httpx.AsyncClient, counted: Counted
) -> None:
    me = await gql.sign_up(display_name="Trusted")
    query, mutation = unique(ME), unique(ADD_PILLAR)
    added = await push_first_party(app, engine, {sha256_id(query): query, sha256_id(mutation): mutation})
    assert added == [sha256_id(query), sha256_id(mutation)]
    headers = {"Authorization": f"Bearer {me.token}"}
    by_text = (await gql(query, token=me.token)).data
    assert by_text == {"viewer": {"user": {"id": me.user_id, "displayName": "Trusted"}}}
    # The first request in this process prepares the document (one parse, one validation)...
    prepared = registry_of(app).prepared
    first = await http.post("/graphql", json={"documentId": sha256_id(query)}, headers=headers)
    assert first.json()["data"] == by_text
    assert registry_of(app).prepared == prepared + 1
    warm = await http.post(
        "/graphql", json={"documentId": sha256_id(mutation), "variables": {"name": "First"}}, headers=headers
    )
    assert warm.json()["data"]["createPillar"]["pillar"] == {"name": "First"}
    # ...and then no request parses or validates it, by POST, by GET, by Apollo's hash
    counted.parsed = counted.validated = 0
    hex_digest = sha256_id(query).removeprefix("sha256:")
    for _ in range(3):
        post = await http.post("/graphql", json={"documentId": sha256_id(query)}, headers=headers)
        get = await http.get("/graphql", params={"documentId": sha256_id(query)}, headers=headers)
        bare = await http.get("/graphql", params={"documentId": hex_digest}, headers=headers)  # Codegen's bare hash
        apollo = await http.post(
            "/graphql",
            json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": hex_digest}}},
            headers=headers,
        )
        for response in (post, get, bare, apollo):
            assert response.status_code == 200, response.text
            assert response.json()["data"] == by_text
        # Its compiled plan ran (Viewer.user has no SQL form: the plan's resolvers answered)
        assert post.json()["extensions"]["sql"]["fallback"] == "no SQL form: field Viewer.user"
    # A mutation by id runs through graphql-core, from the prepared document too
    made = await http.post(
        "/graphql", json={"documentId": sha256_id(mutation), "variables": {"name": "By id"}}, headers=headers
    )
    assert made.json()["data"] == {"createPillar": {"pillar": {"name": "By id"}, "errors": []}}
    again = await http.post(
        "/graphql", json={"documentId": sha256_id(mutation), "variables": {"name": "Again"}}, headers=headers
    )
    assert again.json()["data"]["createPillar"]["pillar"] == {"name": "Again"}
    assert (counted.parsed, counted.validated) == (0, 0)
    # While a new document sent as text is parsed and validated
    counted.parsed = counted.validated = 0
    await gql(f"query New {{ viewer {{ user {{ id a{uuid.uuid4().hex}: id }} }} }}", token=me.token)
    assert counted.parsed >= 1
    assert counted.validated >= 1


async def test_unknown_ids_both_forms_and_get_mutations_are_refused_with_their_codes(
    app: Starlette, engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    mutation = unique(ADD_PILLAR)
    await push_first_party(app, engine, {sha256_id(mutation): mutation})
    unknown = await http.post("/graphql", json={"documentId": "sha256:" + "a" * 64})
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["extensions"]["code"] == NOT_FOUND
    both = await http.post("/graphql", json={"documentId": sha256_id(mutation), "query": mutation})
    assert both.status_code == 400
    assert both.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    neither = await http.post("/graphql", json={"variables": {}})
    assert neither.status_code == 400
    by_get = await http.get("/graphql", params={"documentId": sha256_id(mutation)})
    assert by_get.status_code == 405
    assert by_get.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    # A hash alone that names no trusted document is left to automatic persisted queries
    apq = await http.post("/graphql", json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "b" * 64}}})
    assert apq.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_get_by_document_id_is_cacheable(
    app: Starlette, engine: AsyncEngine, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    query = unique("query Anyone { viewer { id } }")
    failing = unique("query Bad($id: ID!) { node(id: $id) { id } }")
    await push_first_party(app, engine, {sha256_id(query): query, sha256_id(failing): failing})
    # Anonymous: any cache may keep it (a CDN), with an ETag to revalidate
    anonymous = await http.get("/graphql", params={"documentId": sha256_id(query)})
    assert anonymous.status_code == 200
    assert (
        anonymous.headers["cache-control"]
        == f"public, max-age={app.state.runtime.settings.persisted_document_max_age_seconds}"
    )
    assert anonymous.headers["vary"].startswith("Accept, Authorization")
    etag = anonymous.headers["etag"]
    revalidated = await http.get("/graphql", params={"documentId": sha256_id(query)}, headers={"If-None-Match": etag})
    assert revalidated.status_code == 304
    assert revalidated.content == b""
    # Signed in: the client's own cache only, revalidated each time
    me = await gql.sign_up()
    mine = await http.get(
        "/graphql", params={"documentId": sha256_id(query)}, headers={"Authorization": f"Bearer {me.token}"}
    )
    assert mine.headers["cache-control"] == "private, no-cache"
    assert mine.headers["etag"] != etag  # the viewer's own answer
    # An answer with errors: nobody keeps it; a POST carries no cache headers
    errors = await http.get("/graphql", params={"documentId": sha256_id(failing)})
    assert errors.headers["cache-control"] == "no-store"
    posted = await http.post("/graphql", json={"documentId": sha256_id(query)})
    assert "cache-control" not in posted.headers


@pytest.fixture(scope="module")
async def trusted_only_app(database_url: str, data_dir: Path) -> AsyncIterator[Starlette]:
    application = create_app(make_settings(database_url, data_dir, user_documents="trusted"))
    async with application.router.lifespan_context(application):
        yield application


async def test_users_requests_run_only_trusted_documents_when_the_setting_says_so(
    trusted_only_app: Starlette, engine: AsyncEngine
) -> None:
    query = unique("query Anyone { viewer { id } }")
    await push_first_party(trusted_only_app, engine, {sha256_id(query): query})
    transport = httpx.ASGITransport(app=trusted_only_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        refused = await http.post("/graphql", json={"query": query})
        assert refused.status_code == 400
        error = refused.json()["errors"][0]
        assert error["extensions"] == {"code": REQUIRED, "limit": "documentPolicy", "value": "trusted"}
        allowed = await http.post("/graphql", json={"documentId": sha256_id(query)})
        assert allowed.json() == {"data": {"viewer": None}, "extensions": allowed.json()["extensions"]}


# ----------------------------------------------------------------------------- API clients


async def organization_with_client(gql: GraphQLClient, session: AsyncSession) -> tuple[Viewer, str, ApiClient]:
    owner = await gql.sign_up(display_name="Owner")
    slug = f"docs-{uuid.uuid4().hex[:12]}"
    made = await gql.mutate(
        "createOrganization", {"name": "Docs", "slug": slug}, "organization { id }", token=owner.token
    )
    organization_id = uuid.UUID(
        str((await session.execute(sa.text("SELECT id FROM organizations WHERE slug = :s"), {"s": slug})).scalar_one())
    )
    client = ApiClient(organization_id=organization_id, name=f"Partner {uuid.uuid4().hex[:6]}", scopes=["aurum:read"])
    session.add(client)
    await session.commit()
    assert made["organization"]["id"]
    return owner, slug, client


REGISTER = """
    mutation R($input: RegisterTrustedDocumentsInput!) {
      registerTrustedDocuments(input: $input) { added unchanged errors { code message field } }
    }
"""


async def test_an_admin_registers_a_clients_manifest_which_only_that_client_runs(
    app: Starlette, gql: GraphQLClient, session: AsyncSession
) -> None:
    owner, _, client = await organization_with_client(gql, session)
    _, _, other = await organization_with_client(gql, session)
    text = unique("query Partner { viewer { id } }")
    manifest = json.dumps({hashlib.sha256(text.encode()).hexdigest(): text})
    client_id = to_global_id("ApiClient", client.id)
    registered = (await gql(REGISTER, {"input": {"clientId": client_id, "manifest": manifest}}, token=owner.token)).data
    assert registered["registerTrustedDocuments"] == {"added": [sha256_id(text)], "unchanged": [], "errors": []}
    # Idempotent for an unchanged document
    again = (await gql(REGISTER, {"input": {"clientId": client_id, "manifest": manifest}}, token=owner.token)).data
    assert again["registerTrustedDocuments"] == {"added": [], "unchanged": [sha256_id(text)], "errors": []}
    # The client runs it (prepared in this process at registration: no parse to come)...
    registry = registry_of(app)
    assert registry.cached(client.id, sha256_id(text)) is not None
    partner = Actor.api_client(str(client.id), client.organization_id)
    found = await resolve_document(DocumentParams(None, sha256_id(text)), partner, registry, users_trusted_only=False)
    assert found.trusted is not None
    assert found.origin == "trusted"
    # ...no other client, and no user, finds it: its id is unknown to them
    stranger = Actor.api_client(str(other.id), other.organization_id)
    for actor in (stranger, None, Actor(user_id=from_global_id(owner.user_id)[1], role="user")):
        with pytest.raises(DocumentRefused) as refused:
            await resolve_document(DocumentParams(None, sha256_id(text)), actor, registry, users_trusted_only=False)
        assert refused.value.code == NOT_FOUND
    # A client whose policy is "trusted" may not send text; one whose policy is "any" may
    with pytest.raises(DocumentRefused) as refused:
        await resolve_document(DocumentParams(text), partner, registry, users_trusted_only=False)
    assert refused.value.code == REQUIRED
    open_client = Actor.api_client(str(client.id), client.organization_id, trusted_documents_only=False)
    assert (
        await resolve_document(DocumentParams(text), open_client, registry, users_trusted_only=False)
    ).trusted is None


async def test_a_manifest_with_an_invalid_or_changed_document_registers_nothing(
    gql: GraphQLClient, session: AsyncSession
) -> None:
    owner, _, client = await organization_with_client(gql, session)
    client_id = to_global_id("ApiClient", client.id)
    good = unique("query Good { viewer { id } }")
    invalid = unique("query Invalid { viewer { noSuchField } }")
    result = (
        await gql(
            REGISTER,
            {"input": {"clientId": client_id, "manifest": json.dumps({"good-1": good, "bad-1": invalid})}},
            token=owner.token,
        )
    ).data["registerTrustedDocuments"]
    assert result["added"] == []
    assert [e["code"] for e in result["errors"]] == ["VALIDATION"]
    assert "bad-1" in result["errors"][0]["message"]
    assert "noSuchField" in result["errors"][0]["message"]  # graphql-core's error, with its location
    rows = await session.execute(
        sa.text("SELECT count(*) FROM trusted_documents WHERE api_client_id = :c"), {"c": client.id}
    )
    assert rows.scalar_one() == 0
    # A known id with another text is refused
    await gql(REGISTER, {"input": {"clientId": client_id, "manifest": json.dumps({"good-1": good})}}, token=owner.token)
    changed = (
        await gql(
            REGISTER,
            {"input": {"clientId": client_id, "manifest": json.dumps({"good-1": good + "\n"})}},
            token=owner.token,
        )
    ).data["registerTrustedDocuments"]
    assert "registered already with another text" in changed["errors"][0]["message"]


async def test_registering_needs_api_clients_manage_in_the_clients_organization(
    gql: GraphQLClient, session: AsyncSession
) -> None:
    owner, _, client = await organization_with_client(gql, session)
    client_id = to_global_id("ApiClient", client.id)
    manifest = json.dumps({"q-1": unique("query Q { viewer { id } }")})
    # A plain member of the organization: FORBIDDEN, naming the permission
    member = await gql.sign_up()
    session.add(
        Membership(user_id=from_global_id(member.user_id)[1], organization_id=client.organization_id, role="member")
    )
    await session.commit()
    forbidden = (await gql(REGISTER, {"input": {"clientId": client_id, "manifest": manifest}}, token=member.token)).data
    assert [e["code"] for e in forbidden["registerTrustedDocuments"]["errors"]] == ["FORBIDDEN"]
    # Someone else: the client is not there
    stranger = await gql.sign_up()
    hidden = (await gql(REGISTER, {"input": {"clientId": client_id, "manifest": manifest}}, token=stranger.token)).data
    assert [e["code"] for e in hidden["registerTrustedDocuments"]["errors"]] == ["NOT_FOUND"]
    assert owner.token


# ----------------------------------------------------------------------------- check and usage


def _changed_schema(type_name: str, *, remove: str, retype: tuple[str, str]) -> str:
    """schema.graphql with, in `type_name`, the field line `remove` gone and a field's line retyped."""
    lines = printable_schema().split("\n")
    start = lines.index(f"type {type_name} implements Node {{")
    end = lines.index("}", start)
    block = lines[start:end]
    assert remove in [line.strip() for line in block], remove
    assert retype[0] in [line.strip() for line in block], retype
    edited: list[str] = []
    for line in block:
        if line.strip() == remove:
            if edited and edited[-1].strip().startswith('"""'):
                edited.pop()  # its description
            continue
        edited.append(retype[1] if line.strip() == retype[0] else line)
    return "\n".join([*lines[:start], *edited, *lines[end:]])


async def test_documents_check_lists_what_a_schema_change_would_break(
    app: Starlette, engine: AsyncEngine, session: AsyncSession, tmp_path: Path, settings: Settings
) -> None:
    removed = unique("query UsesPurpose { viewer { user { id purpose } } }")
    retyped = unique("query UsesName { viewer { user { displayName } } }")
    untouched = unique("query Untouched { viewer { id } }")
    await push_first_party(
        app, engine, {sha256_id(removed): removed, sha256_id(retyped): retyped, sha256_id(untouched): untouched}
    )
    changed = _changed_schema("User", remove="purpose: String", retype=("displayName: String!", "  displayName: Int!"))
    documents, sdls = await registered_for_check(session)
    broken = {b.document_id: b.reasons for b in broken_documents(build_sdl_schema(changed), documents, sdls)}
    # A field removed: validation sees it
    assert any("purpose" in reason and reason.startswith("invalid now") for reason in broken[sha256_id(removed)])
    # A field retyped: the document still validates; the breaking change names it
    assert broken[sha256_id(retyped)] == ("breaking change: Field User.displayName changed type from String! to Int!.",)
    assert sha256_id(untouched) not in broken
    # Against the current schema, none of them
    current = build_sdl_schema(printable_schema())
    assert not {sha256_id(removed), sha256_id(retyped), sha256_id(untouched)} & {
        b.document_id for b in broken_documents(current, documents, sdls)
    }
    # The command exits 1 and lists them
    schema_file = tmp_path / "changed.graphql"
    schema_file.write_text(changed)
    env = {**os.environ, "DATABASE_URL": settings.database_url or "", "MODE": "dev"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "app.py"),
        "documents",
        "check",
        "--schema",
        str(schema_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=240)
    stdout = out.decode()
    assert process.returncode == 1, stdout + err.decode()
    assert sha256_id(removed) in stdout
    assert "User.displayName changed type from String! to Int!." in stdout
    assert sha256_id(untouched) not in stdout


async def test_usage_is_counted_in_memory_flushed_and_shown_per_field(
    app: Starlette,
    engine: AsyncEngine,
    gql: GraphQLClient,
    http: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    me = await gql.sign_up()
    used = unique("query Counted { viewer { user { id offering } } }")
    unused = unique("query Idle { viewer { id } }")
    await push_first_party(app, engine, {sha256_id(used): used, sha256_id(unused): unused})
    registry = registry_of(app)
    await registry.usage.flush()
    for _ in range(3):
        response = await http.post(
            "/graphql", json={"documentId": sha256_id(used)}, headers={"Authorization": f"Bearer {me.token}"}
        )
        assert response.status_code == 200
    # Counted in memory, not written per request
    rows = {u.document_id: u for u, _, _ in await all_usage(session)}
    assert rows[sha256_id(used)].count == 0
    assert await registry.usage.flush() == 1
    await session.rollback()
    rows = {u.document_id: u for u, _, _ in await all_usage(session)}
    assert rows[sha256_id(used)].count == 3
    assert rows[sha256_id(used)].last_used_at is not None
    assert rows[sha256_id(used)].p95_ms is not None
    assert rows[sha256_id(unused)].count == 0
    # `documents usage --field User.offering` lists the documents that use the field
    args = argparse.Namespace(action="usage", field="User.offering", client=None)
    assert await run_documents_command(args, settings, settings.database_url or "") == 0
    out = capsys.readouterr().out
    assert sha256_id(used) in out
    assert "\t3\t" in out
    assert sha256_id(unused) not in out


def test_breaking_changes_name_the_coordinates_they_are_about() -> None:
    assert breaking_coordinates("Field Task.title changed type from String! to Int!.") == {"Task.title"}
    assert breaking_coordinates("Field Query.x was removed.") == {"Query.x"}
    assert breaking_coordinates("Argument Query.x(a:) was removed.") == {"Query.x(a:)"}
    assert breaking_coordinates("A required argument Query.x(a:) was added.") == {"Query.x"}
    assert breaking_coordinates("Enum value TaskStatus.DONE was removed.") == {"TaskStatus.DONE", "TaskStatus"}
    assert breaking_coordinates("Task was removed.") == {"Task"}
    assert breaking_coordinates("Pillar was removed from union type Change.") == {"Change"}
    assert breaking_coordinates("A required field TaskInput.x was added.") == {"TaskInput.x", "TaskInput"}


async def test_an_unknown_id_is_looked_up_once_per_period_and_found_once_registered(
    app: Starlette, engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    registry = registry_of(app)
    text = unique("query Later { viewer { id } }")
    loads = registry.loads
    for _ in range(5):
        missing = await http.post("/graphql", json={"documentId": sha256_id(text)})
        assert missing.status_code == 404
    assert registry.loads == loads + 1  # the flood cost one look-up
    # Registered through this process, it is found at once
    schema = app.state.runtime.schema
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        await register_documents(
            session, rules=schema.document_rules, sdl=printable_schema(), client=None, manifest={sha256_id(text): text}
        )
        stored = await stored_documents(session, None, [sha256_id(text)])
    registry.remember(stored[0])
    found = await http.post("/graphql", json={"documentId": sha256_id(text)})
    assert found.json()["data"] == {"viewer": None}


CLIENT_DOCUMENTS = """
    query D($id: ID!, $field: String) {
      apiClientDocuments(clientId: $id, field: $field) {
        documentId operationNames requestCount lastUsedAt p95Milliseconds
      }
    }
"""


async def test_an_admin_reads_a_clients_documents_and_their_usage(
    app: Starlette, gql: GraphQLClient, session: AsyncSession
) -> None:
    owner, _, client = await organization_with_client(gql, session)
    client_id = to_global_id("ApiClient", client.id)
    used = unique("query Used { viewer { user { offering } } }")
    idle = unique("query Idle { viewer { id } }")
    manifest = json.dumps({sha256_id(used): used, sha256_id(idle): idle})
    await gql(REGISTER, {"input": {"clientId": client_id, "manifest": manifest}}, token=owner.token)
    # The client's requests (counted by the request path; API keys authenticate them)
    registry = registry_of(app)
    prepared = registry.cached(client.id, sha256_id(used))
    assert prepared is not None
    for milliseconds in (3.0, 4.0, 40.0):
        registry.usage.record(prepared.stored.pk, milliseconds)
    await registry.usage.flush()
    listed = (await gql(CLIENT_DOCUMENTS, {"id": client_id}, token=owner.token)).data["apiClientDocuments"]
    by_id = {d["documentId"]: d for d in listed}
    assert by_id.keys() == {sha256_id(used), sha256_id(idle)}
    assert by_id[sha256_id(used)]["requestCount"] == 3
    assert by_id[sha256_id(used)]["p95Milliseconds"] == 50
    assert by_id[sha256_id(used)]["operationNames"] == ["Used"]
    assert by_id[sha256_id(idle)]["requestCount"] == 0
    assert by_id[sha256_id(idle)]["lastUsedAt"] is None
    # Which of them use a field
    using = (await gql(CLIENT_DOCUMENTS, {"id": client_id, "field": "User.offering"}, token=owner.token)).data
    assert [d["documentId"] for d in using["apiClientDocuments"]] == [sha256_id(used)]
    # Anyone without api_clients.manage there reads none of them
    stranger = await gql.sign_up()
    assert (await gql(CLIENT_DOCUMENTS, {"id": client_id}, token=stranger.token)).data == {"apiClientDocuments": []}


async def test_a_request_by_id_is_logged_and_counted_under_its_operation(
    app: Starlette, engine: AsyncEngine, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    query = unique("query NamedById { viewer { id } }")
    await push_first_party(app, engine, {sha256_id(query): query})
    with caplog.at_level("INFO", logger="quintet.request"):
        response = await http.post("/graphql", json={"documentId": sha256_id(query)})
    assert response.status_code == 200
    lines = [r for r in caplog.records if r.name == "quintet.request"]
    assert [getattr(r, "operation", None) for r in lines] == ["NamedById"]
