"""The HTTP surface around GraphQL: health checks, JWKS, error codes and dev-mode statistics."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from joserfc.jwk import ECKey
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from strawberry.dataloader import DataLoader

from app import create_app
from core.pagination import Page
from core.products import acknowledge_failures
from core.relay import from_global_id
from core.security import TokenService
from tests.conftest import make_settings
from tests.factories import create_tree
from tests.support import GraphQLClient, free_port


def closed_port_url() -> str:
    """A Postgres URL on 127.0.0.1 where nothing listens: every connection is refused."""
    return f"postgresql+asyncpg://quintet:quintet@127.0.0.1:{free_port()}/quintet"


def jwt_header(token: str) -> dict[str, Any]:
    encoded = token.split(".")[0]
    return dict(orjson.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))))


@pytest.fixture(scope="module")
async def unreachable(data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A dev app whose database refuses every connection."""
    app = create_app(make_settings(closed_port_url(), data_dir))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
async def lenient(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The shared app, but a crash is answered with a 500 instead of raised into the test."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


# ----------------------------------------------------------------------------- health


async def test_healthz_is_ok(http: httpx.AsyncClient) -> None:
    # When the liveness check is asked
    response = await http.get("/healthz")
    # Then it answers 200 with JSON
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_with_the_database(http: httpx.AsyncClient) -> None:
    # When the readiness check is asked with the real database up
    response = await http.get("/readyz")
    # Then it answers 200 with the database and the job queue (other tests' jobs may wait in the
    # shared database: "degraded" when no worker runs them; tests/test_jobs.py pins each case)
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["status"] == ("degraded" if body["jobs"]["queued"] and not body["jobs"]["workers"] else "ready")


async def test_readyz_is_503_when_the_database_is_unreachable(
    unreachable: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an app whose database refuses connections
    # When the readiness and liveness checks are asked
    with caplog.at_level(logging.WARNING, logger="quintet.http"):
        response = await unreachable.get("/readyz")
    live = await unreachable.get("/healthz")
    # Then readiness is a 503 JSON answer with an id that is in the log, while liveness is fine
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "unreachable"
    assert body["errorId"]
    assert any(body["errorId"] in r.getMessage() for r in caplog.records if r.name == "quintet.http")
    assert "127.0.0.1" not in response.text
    assert live.status_code == 200


# ----------------------------------------------------------------------------- JWKS and tokens


async def test_jwks_serves_the_signing_key(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    # Given a session token
    me = await gql.sign_up()
    # When the key set is fetched
    response = await http.get("/.well-known/jwks.json")
    # Then it is a JWK set of public EC keys that includes the token's key id
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwk-set+json")
    keys = response.json()["keys"]
    assert keys
    assert all(k["kty"] == "EC" and k["crv"] == "P-256" and k["alg"] == "ES256" for k in keys)
    assert all("d" not in k for k in keys), "private key material must never be published"
    assert jwt_header(me.token)["kid"] in {k["kid"] for k in keys}


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("Basic dXNlcjpwYXNz", "AUTHORIZATION_MALFORMED"),
        ("Bearer ", "AUTHORIZATION_MALFORMED"),
        ("Bearer not-a-jwt", "TOKEN_MALFORMED"),
    ],
)
async def test_bad_authorization_is_401(http: httpx.AsyncClient, authorization: str, reason: str) -> None:
    # When a query carries a malformed Authorization header or token
    response = await http.post(
        "/graphql", json={"query": "{ viewer { __typename } }"}, headers={"Authorization": authorization}
    )
    # Then it is refused with 401, a WWW-Authenticate challenge and the reason
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": reason}


async def test_token_signed_by_another_key_is_401(http: httpx.AsyncClient, data_dir: Path) -> None:
    # Given a well-formed token signed by a key this server does not know
    other_key = ECKey.generate_key("P-256", private=True).as_pem(private=True).decode()
    stranger = TokenService(make_settings("postgresql+asyncpg://unused/unused", data_dir, jwt_private_key=other_key))
    token, _ = stranger.issue(user_id=uuid.uuid4(), role="user")
    # When it is used
    response = await http.post(
        "/graphql", json={"query": "{ viewer { __typename } }"}, headers={"Authorization": f"Bearer {token}"}
    )
    # Then it is refused with 401
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


# ----------------------------------------------------------------------------- responses and error codes


async def test_sql_extension_is_on_every_dev_response(gql: GraphQLClient) -> None:
    # Given a user (signing up is a mutation: it must report its statements)
    signed = await gql(
        """mutation($input: RegisterInput!) { register(input: $input) { session { accessToken } } }""",
        {"input": {"email": f"sql-{uuid.uuid4().hex[:10]}@example.com", "password": "x" * 12, "displayName": "S"}},
    )
    token = signed.data["register"]["session"]["accessToken"]
    assert signed.statements > 0
    # When documents of every outcome are sent
    responses = {
        "query": await gql("{ viewer { pillars { totalCount } } }", token=token),
        "anonymous": await gql("{ viewer { __typename } }"),
        "parse error": await gql("{ viewer {"),
        "validation error": await gql("{ nope }"),
        "resolver error": await gql('{ node(id: "not-an-id") { id } }', token=token),
    }
    # Then each reports its SQL statements and time
    for outcome, response in responses.items():
        sql = response.body["extensions"]["sql"]
        assert set(sql) - {"fallback"} == {"statements", "ms", "oneStatement"}, outcome
        assert sql["oneStatement"] is ("fallback" not in sql), outcome
        assert isinstance(sql["statements"], int), outcome
        assert sql["ms"] >= 0, outcome
    assert responses["query"].statements > 0
    assert responses["parse error"].statements == 0
    assert responses["validation error"].statements == 0


async def test_syntax_error_is_parse_failed(gql: GraphQLClient) -> None:
    # When a document does not parse
    result = await gql("{ viewer { pillars { totalCount }")
    # Then the error has code GRAPHQL_PARSE_FAILED and a location
    [error] = result.errors
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert error["message"].startswith("Syntax Error")
    assert error["locations"]
    assert result.body.get("data") is None


async def test_unknown_field_is_validation_failed(gql: GraphQLClient) -> None:
    # When a document asks for a field that does not exist
    result = await gql("{ viewer { pillars { totalCount colour } } }")
    # Then the error has code GRAPHQL_VALIDATION_FAILED and names the field
    [error] = result.errors
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "colour" in error["message"]
    assert result.body.get("data") is None


async def test_wrong_variable_type_is_validation_failed(gql: GraphQLClient) -> None:
    # When a variable of the wrong type is sent
    result = await gql("query($first: Int) { viewer { pillars(first: $first) { totalCount } } }", {"first": "many"})
    # Then the error has a code and no SQL ran
    assert result.error_codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert result.statements == 0


@pytest.mark.parametrize(
    ("document", "operation_name"),
    [
        ("query Mine { viewer { __typename } }", "Theirs"),
        ("fragment Only on Query { viewer { __typename } }", None),
    ],
    ids=["unknown-name", "no-operation-at-all"],
)
async def test_unknown_operation_is_a_clear_error(
    lenient: httpx.AsyncClient, document: str, operation_name: str | None
) -> None:
    # Given a document without the operation asked for
    # When it is posted
    response = await lenient.post("/graphql", json={"query": document, "operationName": operation_name})
    # Then the client is told the operation was not found (not a server crash)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "OPERATION_NOT_FOUND"
    assert "operation" in error["message"].lower()
    if operation_name:
        assert operation_name in error["message"]


async def test_named_operation_is_chosen_from_several(http: httpx.AsyncClient) -> None:
    # Given a document with two operations
    document = "query A { a: __typename } query B { b: __typename }"
    # When B is asked for by name, then only B runs
    response = await http.post("/graphql", json={"query": document, "operationName": "B"})
    assert response.json()["data"] == {"b": "Query"}


async def test_a_request_leaves_its_reads_to_reference_counting_not_to_the_collector(
    gql: GraphQLClient, session: AsyncSession
) -> None:
    # graphql-core's execution context is in a reference cycle that reaches the request's
    # context; the loaders (and the rows they cached) are released when the request is answered,
    # so they are freed at once rather than waiting for (and slowing) the cyclic collector.
    viewer = await gql.sign_up()
    await create_tree(
        session,
        user_id=from_global_id(viewer.user_id)[1],
        pillars=1,
        areas_per_pillar=2,
        projects_per_area=2,
        tasks_per_project=3,
    )
    await session.commit()
    query = "{ viewer { pillars { nodes { areas { nodes { projects { nodes { tasks { nodes { id } } } } } } } } } }"
    for _ in range(2):  # the first compiles the plan, the second runs it
        gc.collect()
        gc.disable()
        try:
            data = (await gql(query, token=viewer.token)).data
            left = [o for o in gc.get_objects() if isinstance(o, DataLoader | Page)]
        finally:
            gc.enable()
        assert len(data["viewer"]["pillars"]["nodes"][0]["areas"]["nodes"]) == 2
        assert left == []


async def test_released_loaders_mark_their_failed_loads_as_seen() -> None:
    # A failed batch fails every key; keys nobody reads any more (graphql-core answered with the
    # first error) must not be logged as "Future exception was never retrieved" when freed.
    async def fail(keys: list[int]) -> list[int]:
        raise ValueError("bad batch")

    def pending_loads() -> tuple[DataLoader[int, int], Any, Any]:
        loader: DataLoader[int, int] = DataLoader(load_fn=fail)
        return loader, loader.load(1), loader.load(2)

    released, early, late = pending_loads()
    control, unread, other = pending_loads()
    await asyncio.sleep(0)  # the batches start
    acknowledge_failures(released)  # while its batch still runs
    await asyncio.sleep(0.01)  # the batches fail
    assert early.done()
    assert late.done()
    assert (early._log_traceback, late._log_traceback) == (False, False)
    assert unread._log_traceback is True  # what asyncio would have logged
    unread.exception()  # (read, so that this test logs nothing itself)
    other.exception()
    control.clear_all()
