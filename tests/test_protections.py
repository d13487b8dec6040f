"""The endpoint's protections: limits, content types, methods, and what production mode hides.

Every refusal must name the limit that was hit and its value in `errors[0].extensions`, and
nothing of a refused operation may run (no SQL, no user created).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from joserfc.jwk import ECKey
from starlette.applications import Starlette

from app import create_app
from core.limits import validate_document
from core.settings import Mode, Settings
from tests.conftest import create_database, drop_database, make_settings
from tests.support import PASSWORD, GraphQLClient

MAX_DEPTH = 3
MAX_ALIASES = 2
MAX_TOKENS = 100
MAX_BODY = 2048


# ----------------------------------------------------------------------------- helpers


def signing_key() -> str:
    return ECKey.generate_key("P-256", private=True).as_pem(private=True).decode()


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


def chain(depth: int) -> str:
    """A selection whose deepest field (`__typename`) sits `depth` levels below `viewer`."""
    cycle = ["areas(first: 1)", "nodes", "pillar"]
    fields = ["viewer", "pillars(first: 1)", "nodes"]
    while len(fields) < depth:
        fields.append(cycle[(len(fields) - 3) % 3])
    fields = fields[:depth]
    return " { ".join(fields) + " { __typename" + " }" * depth


def register_document(email: str) -> str:
    return (
        f'mutation {{ register(input: {{email: "{email}", password: "{PASSWORD}", displayName: "Form"}}) '
        "{ session { accessToken } } }"
    )


async def can_log_in(gql: GraphQLClient, email: str) -> bool:
    payload = await gql.call("login", {"email": email, "password": PASSWORD}, "session { accessToken }", token=None)
    if payload["errors"]:
        assert [e["code"] for e in payload["errors"]] == ["INVALID_CREDENTIALS"]
        return False
    return payload["session"]["accessToken"] is not None


def refusal(response: httpx.Response) -> dict[str, Any]:
    """The one error of a refused request, with its extensions."""
    body = response.json()
    assert "data" not in body or body["data"] is None, body
    assert len(body["errors"]) == 1, body
    return dict(body["errors"][0])


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
async def small(database_url: str, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A dev app with tiny limits, so that hitting them is cheap."""
    settings = make_settings(
        database_url,
        data_dir,
        max_query_depth=MAX_DEPTH,
        max_aliases=MAX_ALIASES,
        max_tokens=MAX_TOKENS,
        max_body_bytes=MAX_BODY,
    )
    async with serve(settings) as (_, client):
        yield client


@pytest.fixture(scope="module")
async def production(database_url: str, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, data_dir, mode=Mode.PRODUCTION, jwt_private_key=signing_key())
    async with serve(settings) as (_, client):
        yield client


@pytest.fixture(scope="module")
async def unmigrated_url(server_url: str) -> AsyncIterator[str]:
    """A database without the tables: every read fails unexpectedly. (A database that refuses
    connections is not unexpected: that is DATABASE_UNAVAILABLE, tests/test_db_resilience.py.)"""
    url = await create_database(server_url)
    yield url
    await drop_database(server_url, url)


@pytest.fixture(scope="module")
async def broken_production(unmigrated_url: str, data_dir: Path) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """A production app whose database has none of its tables."""
    settings = make_settings(unmigrated_url, data_dir, mode=Mode.PRODUCTION, jwt_private_key=signing_key())
    async with serve(settings) as served:
        yield served


@pytest.fixture(scope="module")
async def broken_dev(unmigrated_url: str, data_dir: Path) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """A dev app whose database has none of its tables."""
    async with serve(make_settings(unmigrated_url, data_dir)) as served:
        yield served


# ----------------------------------------------------------------------------- query limits


async def test_query_too_deep_names_the_limit(small: httpx.AsyncClient, gql: GraphQLClient) -> None:
    # Given a signed-in user (tokens of the shared dev key work on every dev app)
    me = await gql.sign_up()
    headers = {"Authorization": f"Bearer {me.token}"}
    # When a query exactly at the depth limit is sent, then it runs
    fits = await small.post("/graphql", json={"query": "{ " + chain(MAX_DEPTH) + " }"}, headers=headers)
    assert fits.json()["data"]["viewer"]["pillars"]["nodes"] == []
    # When one level deeper is sent
    response = await small.post("/graphql", json={"query": "{ " + chain(MAX_DEPTH + 1) + " }"}, headers=headers)
    # Then it is refused, naming the limit and its value, before any SQL
    error = refusal(response)
    assert error["extensions"] == {"code": "QUERY_TOO_DEEP", "limit": "maxDepth", "value": MAX_DEPTH}
    assert response.json()["extensions"]["sql"]["statements"] == 0


async def test_default_depth_limit_is_sixteen(gql: GraphQLClient) -> None:
    # Given the app with default settings and a user
    me = await gql.sign_up()
    # When a 16-deep query and a 17-deep query are sent
    fits = await gql("{ " + chain(16) + " }", token=me.token)
    deep = await gql("{ " + chain(17) + " }", token=me.token)
    # Then the first runs and the second is refused with the default limit
    assert fits.data["viewer"]["pillars"]["nodes"] == []
    assert deep.errors[0]["extensions"] == {"code": "QUERY_TOO_DEEP", "limit": "maxDepth", "value": 16}
    assert deep.statements == 0


async def test_depth_limit_applies_through_nested_fragments(small: httpx.AsyncClient) -> None:
    # Given a query of depth 5 whose levels hide in named and inline fragments
    query = """
        query Hidden { ...Root }
        fragment Root on Query { viewer { ...V } }
        fragment V on Viewer { ... on Viewer { pillars { ...Conn } } }
        fragment Conn on PillarConnection { nodes { ...P } }
        fragment P on Pillar { areas { nodes { __typename } } }
    """
    # When it is sent
    response = await small.post("/graphql", json={"query": query})
    # Then the fragments are followed and the depth limit applies
    error = refusal(response)
    assert error["extensions"] == {"code": "QUERY_TOO_DEEP", "limit": "maxDepth", "value": MAX_DEPTH}


async def test_fragment_cycles_do_not_bypass_or_hang_the_limits(small: httpx.AsyncClient) -> None:
    # Given fragments that spread each other in a cycle
    query = """
        { viewer { ...A } }
        fragment A on Viewer { pillars { nodes { areas { nodes { pillar { ...B } } } } } }
        fragment B on Pillar { areas { nodes { pillar { ...B } } } }
    """
    # When it is sent, then it is refused (too deep, and graphql validation rejects the cycle)
    response = await small.post("/graphql", json={"query": query})
    codes = {e["extensions"]["code"] for e in response.json()["errors"]}
    assert "QUERY_TOO_DEEP" in codes
    assert response.json()["extensions"]["sql"]["statements"] == 0


async def test_too_many_aliases_names_the_limit(small: httpx.AsyncClient) -> None:
    # Given two aliases (the limit) and then three
    fits = await small.post("/graphql", json={"query": "{ a: viewer { __typename } b: viewer { __typename } }"})
    assert fits.json()["data"] == {"a": None, "b": None}
    query = "{ a: viewer { __typename } b: viewer { __typename } c: viewer { __typename } }"
    # When three are sent
    response = await small.post("/graphql", json={"query": query})
    # Then the operation is refused, naming the limit and its value
    error = refusal(response)
    assert error["extensions"] == {"code": "TOO_MANY_ALIASES", "limit": "maxAliases", "value": MAX_ALIASES}
    assert response.json()["extensions"]["sql"]["statements"] == 0


async def test_aliases_inside_fragments_count(small: httpx.AsyncClient, gql: GraphQLClient) -> None:
    # Given a user and a query whose only aliases are inside (nested) fragments, one spread twice
    me = await gql.sign_up()
    query = """
        { viewer { ...Outer } }
        fragment Outer on Viewer { pillars { ...Names } more: pillars { ...Names } }
        fragment Names on PillarConnection { count: totalCount }
    """
    # When it is sent with a valid token
    response = await small.post("/graphql", json={"query": query}, headers={"Authorization": f"Bearer {me.token}"})
    # Then the aliases in fragments are counted (3 > 2) and nothing runs
    error = refusal(response)
    assert error["extensions"] == {"code": "TOO_MANY_ALIASES", "limit": "maxAliases", "value": MAX_ALIASES}
    assert "3 aliases" in error["message"]
    assert response.json()["extensions"]["sql"]["statements"] == 0


async def test_too_many_tokens_names_the_limit(small: httpx.AsyncClient) -> None:
    # Given a document with more tokens than the limit (but well under the body limit)
    query = "{ viewer { " + "__typename " * MAX_TOKENS + "} }"
    assert len(orjson.dumps({"query": query})) < MAX_BODY
    # When it is sent
    response = await small.post("/graphql", json={"query": query})
    # Then parsing stops and the refusal names the limit and its value
    error = refusal(response)
    assert error["extensions"] == {"code": "TOO_MANY_TOKENS", "limit": "maxTokens", "value": MAX_TOKENS}
    assert response.json()["extensions"]["sql"]["statements"] == 0


async def test_limits_are_checked_before_any_sql(small: httpx.AsyncClient, gql: GraphQLClient) -> None:
    # Given a signed-in user whose acceptable query does run SQL
    me = await gql.sign_up()
    headers = {"Authorization": f"Bearer {me.token}"}
    ok = await small.post("/graphql", json={"query": "{ viewer { pillars { totalCount } } }"}, headers=headers)
    assert ok.json()["data"]["viewer"]["pillars"]["totalCount"] == 0
    assert ok.json()["extensions"]["sql"]["statements"] > 0
    # When each limit is exceeded by a query that would otherwise read the database
    over_limit = {
        "QUERY_TOO_DEEP": "{ viewer { pillars { nodes { areas { totalCount } } } } }",
        "TOO_MANY_ALIASES": "{ viewer { a: pillars { totalCount } b: areas { totalCount } c: areas { totalCount } } }",
        "TOO_MANY_TOKENS": "{ viewer { pillars { totalCount } " + "__typename " * MAX_TOKENS + "} }",
    }
    for code, query in over_limit.items():
        response = await small.post("/graphql", json={"query": query}, headers=headers)
        # Then it is refused without a single statement
        assert refusal(response)["extensions"]["code"] == code
        sql = response.json()["extensions"]["sql"]
        assert (sql["statements"], sql["ms"], sql["oneStatement"]) == (0, 0.0, False), code


# ----------------------------------------------------------------------------- body size


async def test_body_over_the_limit_is_refused_with_413(small: httpx.AsyncClient, gql: GraphQLClient) -> None:
    # Given a register mutation padded beyond the body limit (Content-Length is declared)
    email = f"big-{uuid.uuid4().hex[:10]}@example.com"
    body = orjson.dumps({"query": register_document(email), "variables": {"pad": "x" * MAX_BODY}})
    # When it is posted
    response = await small.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    # Then it is refused as too large, naming the limit, and no user was created
    assert response.status_code == 413
    assert refusal(response)["extensions"] == {
        "code": "REQUEST_TOO_LARGE",
        "limit": "maxBodyBytes",
        "value": MAX_BODY,
    }
    assert not await can_log_in(gql, email)


async def test_chunked_body_over_the_limit_is_refused_with_413(small: httpx.AsyncClient, gql: GraphQLClient) -> None:
    # Given a register mutation padded beyond the limit, sent in chunks without Content-Length
    email = f"chunked-{uuid.uuid4().hex[:10]}@example.com"
    body = orjson.dumps({"query": register_document(email), "variables": {"pad": "x" * MAX_BODY}})

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 256):
            yield body[start : start + 256]

    # When it is posted
    response = await small.post("/graphql", content=chunks(), headers={"Content-Type": "application/json"})
    # Then the server counts as it reads and refuses it, and no user was created
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert refusal(response)["extensions"] == {
        "code": "REQUEST_TOO_LARGE",
        "limit": "maxBodyBytes",
        "value": MAX_BODY,
    }
    assert not await can_log_in(gql, email)


async def test_chunked_body_under_the_limit_runs(small: httpx.AsyncClient) -> None:
    # Given a small operation sent in chunks without Content-Length
    body = orjson.dumps({"query": "{ viewer { __typename } }"})

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 5):
            yield body[start : start + 5]

    # When it is posted, then the whole body is read and executed
    response = await small.post("/graphql", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": None}


# ----------------------------------------------------------------------------- content types and methods


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [
        ("application/x-www-form-urlencoded", "form"),
        ("multipart/form-data", "multipart"),
        ("text/plain", "json-as-text"),
    ],
)
async def test_non_json_posts_are_refused_and_not_executed(
    http: httpx.AsyncClient, gql: GraphQLClient, content_type: str, encode: str
) -> None:
    # Given a register mutation a browser could send cross-site (a form, or JSON as text/plain)
    email = f"form-{uuid.uuid4().hex[:10]}@example.com"
    document = register_document(email)
    # When it is posted with that content type
    if encode == "form":
        response = await http.post("/graphql", data={"query": document})
    elif encode == "multipart":
        response = await http.post("/graphql", files={"query": (None, document)})
    else:
        response = await http.post(
            "/graphql", content=orjson.dumps({"query": document}), headers={"Content-Type": "text/plain"}
        )
    # Then it is refused with 415, naming the accepted content type
    assert response.request.headers["content-type"].startswith(content_type)
    assert response.status_code == 415
    assert refusal(response)["extensions"] == {
        "code": "UNSUPPORTED_CONTENT_TYPE",
        "limit": "contentType",
        "value": "application/json",
    }
    # And nothing ran: the account does not exist, though the same document as JSON creates it
    assert not await can_log_in(gql, email)
    created = await http.post("/graphql", json={"query": document})
    assert created.json()["data"]["register"]["session"]["accessToken"]
    assert await can_log_in(gql, email)


async def test_mutation_over_get_is_refused_and_not_executed(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    # Given a register mutation
    email = f"get-{uuid.uuid4().hex[:10]}@example.com"
    # When it is sent with GET
    response = await http.get("/graphql", params={"query": register_document(email)})
    # Then it is refused with 405 and the account was not created
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert refusal(response)["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert not await can_log_in(gql, email)


async def test_query_over_get_works_with_json_variables(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    # Given a user
    me = await gql.sign_up(display_name="Getter")
    query = "query Me($id: ID!) { node(id: $id) { id ... on User { displayName } } }"
    # When a query is sent with GET, its variables as a JSON string
    response = await http.get(
        "/graphql",
        params={"query": query, "variables": orjson.dumps({"id": me.user_id}).decode(), "operationName": "Me"},
        headers={"Authorization": f"Bearer {me.token}"},
    )
    # Then it runs
    assert response.status_code == 200
    assert response.json()["data"]["node"] == {"id": me.user_id, "displayName": "Getter"}


async def test_get_with_invalid_variables_json_is_a_bad_request(http: httpx.AsyncClient) -> None:
    # When a GET query carries variables that are not JSON
    response = await http.get("/graphql", params={"query": "{ viewer { __typename } }", "variables": "{nope"})
    # Then it is a 400 with code BAD_REQUEST
    assert response.status_code == 400
    assert refusal(response)["extensions"]["code"] == "BAD_REQUEST"


async def test_put_is_method_not_allowed(http: httpx.AsyncClient) -> None:
    # When an operation is sent with PUT
    response = await http.put("/graphql", json={"query": "{ viewer { __typename } }"})
    # Then it is refused with 405 and the allowed methods
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert refusal(response)["extensions"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'[{"query": "{ viewer { __typename } }"}, {"query": "{ viewer { __typename } }"}]', "batches"),
        (b'{"query": "{ viewer { __typename } }"', "not valid JSON"),
        (b'{"variables": {}}', "`query`"),
        (b'{"query": "   "}', "`query`"),
        (b'{"query": "{ viewer { __typename } }", "variables": [1]}', "`variables`"),
        (b'{"query": "{ viewer { __typename } }", "operationName": 7}', "`operationName`"),
    ],
    ids=["batch", "invalid-json", "missing-query", "blank-query", "variables-not-object", "operation-name-not-string"],
)
async def test_malformed_bodies_are_bad_requests(http: httpx.AsyncClient, body: bytes, fragment: str) -> None:
    # When a malformed body is posted as JSON
    response = await http.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    # Then it is a 400 with code BAD_REQUEST and a message saying what is wrong
    assert response.status_code == 400
    error = refusal(response)
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    assert fragment in error["message"]


# ----------------------------------------------------------------------------- production mode


async def test_production_refuses_introspection(production: httpx.AsyncClient, http: httpx.AsyncClient) -> None:
    # Given the same introspection query
    query = {"query": "{ __schema { types { name } } }"}
    # When it is sent in dev mode, then it is answered
    assert (await http.post("/graphql", json=query)).json()["data"]["__schema"]["types"]
    # When it is sent in production, then it is refused with code INTROSPECTION_DISABLED
    response = await production.post("/graphql", json=query)
    body = response.json()
    assert body.get("data") is None
    assert body["errors"]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"INTROSPECTION_DISABLED"}
    assert "__schema" in body["errors"][0]["message"]
    # And __typename still works (it is not schema introspection)
    typename = await production.post("/graphql", json={"query": "{ __typename }"})
    assert typename.json()["data"] == {"__typename": "Query"}


async def test_production_refuses_type_introspection(production: httpx.AsyncClient) -> None:
    # When a single type is introspected in production
    response = await production.post("/graphql", json={"query": '{ __type(name: "User") { fields { name } } }'})
    # Then it is refused too
    body = response.json()
    assert body.get("data") is None
    assert body["errors"]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"INTROSPECTION_DISABLED"}


async def test_graphiql_only_in_dev(production: httpx.AsyncClient, http: httpx.AsyncClient) -> None:
    # When a browser asks for /graphql in dev mode, then GraphiQL is served
    dev = await http.get("/graphql", headers={"Accept": "text/html,application/xhtml+xml"})
    assert dev.status_code == 200
    assert dev.headers["content-type"].startswith("text/html")
    assert "graphiql" in dev.text.lower()
    # When it asks in production, then it gets a 404 JSON error, not HTML
    response = await production.get("/graphql", headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert refusal(response)["extensions"]["code"] == "GRAPHIQL_DISABLED"


async def test_production_has_no_sql_extension(production: httpx.AsyncClient) -> None:
    # Given a user of the production app
    client = GraphQLClient(production)
    me = await client.sign_up(display_name="Prod")
    # When they read their data
    result = await client("{ viewer { user { displayName } pillars { totalCount } } }", token=me.token)
    # Then the answer carries no SQL statistics
    assert result.data["viewer"] == {"user": {"displayName": "Prod"}, "pillars": {"totalCount": 0}}
    assert "sql" not in result.body.get("extensions", {})


async def test_production_masks_unexpected_errors(
    broken_production: tuple[Starlette, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a production app whose database has no tables, and a valid token of that app
    app, client = broken_production
    token, _ = app.state.runtime.tokens.issue(user_id=uuid.uuid4(), role="user")
    # When a query needs the database
    with caplog.at_level(logging.ERROR, logger="quintet.errors"):
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { pillars { totalCount } } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
    # Then the client sees only a masked error with an id
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    error_id = error["extensions"]["errorId"]
    assert error_id
    assert "sql" not in response.json().get("extensions", {})
    # And the server log has the id with the real cause
    logged = [r for r in caplog.records if r.name == "quintet.errors" and error_id in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert isinstance(logged[0].exc_info[1], asyncpg.UndefinedTableError)
    assert 'relation "pillars" does not exist' in str(logged[0].exc_info[1])
    assert "does not exist" not in response.text


async def test_dev_mode_shows_unexpected_errors_with_an_id(
    broken_dev: tuple[Starlette, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a dev app whose database has no tables, and a valid token
    app, client = broken_dev
    token, _ = app.state.runtime.tokens.issue(user_id=uuid.uuid4(), role="user")
    # When a query needs the database
    with caplog.at_level(logging.ERROR, logger="quintet.errors"):
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { pillars { totalCount } } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
    # Then the real message is shown, still with the code and an id that is in the log
    [error] = response.json()["errors"]
    assert 'relation "pillars" does not exist' in error["message"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    error_id = error["extensions"]["errorId"]
    assert any(error_id in r.getMessage() for r in caplog.records if r.name == "quintet.errors")


async def test_an_operation_seen_before_is_not_validated_again(gql: GraphQLClient) -> None:
    # The depth and alias limits are validation rules; made anew per request they made every
    # request's rules different, and the validation cache (keyed on them) never hit.
    validate = validate_document
    viewer = await gql.sign_up()
    # Two root fields: the document stays with strawberry and graphql-core (one root field would
    # take the compiled path from its second request on, which validates nothing at all).
    mutation = (
        "mutation($input: CreatePillarInput!) { createPillar(input: $input) { pillar { id } errors { code } } "
        "again: createPillar(input: $input) { errors { code } } }"
    )
    for name in ("first", "second"):
        before = validate.cache_info()
        result = await gql(mutation, {"input": {"name": name}}, token=viewer.token)
        assert result.data["createPillar"]["errors"] == []
        after = validate.cache_info()
    # The second run of the same text was a cache hit (the first may or may not have been)
    assert after.hits == before.hits + 1
    assert after.misses == before.misses
