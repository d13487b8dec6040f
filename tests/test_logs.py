"""Logs: one JSON line per request with its request id, the errorId of a masked error on the
error's line and the request's, and never a password, a token or a GET variable."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette

from app import create_app
from core.logs import formatter
from core.settings import LogFormat, Mode, Settings
from tests.conftest import create_database, drop_database, make_settings
from tests.test_protections import signing_key

REGISTER = "mutation Register($i: RegisterInput!) { register(input: $i) { session { accessToken } errors { code } } }"
LOGIN = "mutation Login($i: LoginInput!) { login(input: $i) { session { accessToken } errors { code } } }"
PILLARS = "query Pillars { viewer { pillars(first: 2) { totalCount } } }"


@contextmanager
def captured(*, json: bool = True) -> Iterator[Callable[[], str]]:
    """What the root logger writes at INFO, through the app's own formatter (the test's own
    HTTP client, httpx, logs the URLs it requests: not the server's output, left out)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(json))
    handler.addFilter(lambda record: not record.name.startswith("httpx"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream.getvalue
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@asynccontextmanager
async def production_app(database_url: str, data_dir: Path) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = create_app(make_settings(database_url, data_dir, mode=Mode.PRODUCTION, jwt_private_key=signing_key()))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


def lines(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines()]


def requests(logged: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in logged if line["logger"] == "quintet.request"]


async def test_each_request_is_one_json_line_and_no_secret_is_logged(database_url: str, data_dir: Path) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    secret_variable = f"variable-{uuid.uuid4().hex}"
    email = f"logs-{uuid.uuid4().hex[:10]}@example.com"
    credentials = {"email": email, "password": password}
    with captured() as output:
        async with production_app(database_url, data_dir) as (_, http):
            # When a user registers and signs in (the password a variable), then queries with the
            # bearer token and a request id of its own, with one that is no request id, and with GET
            registered = await http.post(
                "/graphql", json={"query": REGISTER, "variables": {"i": {**credentials, "displayName": "Logs"}}}
            )
            signed_in = await http.post("/graphql", json={"query": LOGIN, "variables": {"i": credentials}})
            token = signed_in.json()["data"]["login"]["session"]["accessToken"]
            bearer = {"Authorization": f"Bearer {token}"}
            mine = await http.post(
                "/graphql", json={"query": PILLARS}, headers={**bearer, "X-Request-ID": "client-7f.3:a"}
            )
            forged = await http.post(
                "/graphql",
                json={"query": PILLARS},
                headers=[(b"authorization", bearer["Authorization"].encode()), (b"x-request-id", b"two words \xff")],
            )
            got = await http.get(
                "/graphql",
                params={
                    "query": "query Node($id: ID!) { node(id: $id) { id } }",
                    "variables": orjson.dumps({"id": secret_variable}).decode(),
                },
                headers=bearer,
            )
    text = output()
    assert registered.json()["data"]["register"]["errors"] == []
    # Then nothing secret is anywhere in the output
    for secret in (password, token, secret_variable, "Bearer"):
        assert secret not in text
    # And every line is a JSON object, one per request, in order
    logged = lines(text)
    answered = requests(logged)
    responses = [registered, signed_in, mine, forged, got]
    assert [line["request_id"] for line in answered] == [r.headers["x-request-id"] for r in responses]
    assert mine.headers["x-request-id"] == "client-7f.3:a"
    assert len(forged.headers["x-request-id"]) == 32
    assert [line["operation"] for line in answered] == ["Register", "Login", "Pillars", "Pillars", "Node"]
    assert {(line["method"], line["path"], line["level"]) for line in answered} == {
        ("POST", "/graphql", "info"),
        ("GET", "/graphql", "info"),
    }
    assert [line["status"] for line in answered] == [200] * 5
    assert [line["outcome"] for line in answered] == ["ok", "ok", "ok", "ok", "error"]  # a malformed id
    assert answered[3]["execution"] == "one_statement"  # the second Pillars: compiled by the first
    assert all(isinstance(line["sql_statements"], int) and line["duration_ms"] >= 0 for line in answered)
    assert answered[4]["error_codes"] == ["INVALID_ID"]
    assert all({"timestamp", "level", "logger", "message"} <= line.keys() for line in logged)


async def test_a_masked_error_carries_its_error_id_on_its_line_and_on_the_requests(
    server_url: str, data_dir: Path
) -> None:
    # Given a production app whose database has none of its tables (every read fails)
    empty = await create_database(server_url)
    try:
        with captured() as output:
            async with production_app(empty, data_dir) as (app, http):
                token, _ = app.state.runtime.tokens.issue(user_id=uuid.uuid4(), role="user")
                # When a query needs the database
                response = await http.post(
                    "/graphql",
                    json={"query": PILLARS},
                    headers={"Authorization": f"Bearer {token}", "X-Request-ID": "masked-1"},
                )
    finally:
        await drop_database(server_url, empty)
    # Then the client sees a masked error with an id
    [error] = response.json()["errors"]
    assert (error["message"], error["extensions"]["code"]) == ("Internal server error", "INTERNAL_SERVER_ERROR")
    error_id = error["extensions"]["errorId"]
    logged = lines(output())
    # And the error's own line has that id, the request id and the cause
    [failure] = [line for line in logged if line.get("error_id") == error_id]
    assert (failure["logger"], failure["level"], failure["request_id"]) == ("quintet.errors", "error", "masked-1")
    assert 'relation "pillars" does not exist' in failure["exception"]
    # And the request's line lists it
    [answered] = requests(logged)
    assert (answered["request_id"], answered["error_ids"], answered["outcome"]) == ("masked-1", [error_id], "error")
    assert answered["error_codes"] == ["INTERNAL_SERVER_ERROR"]


def test_the_format_is_json_in_production_and_readable_in_dev(data_dir: Path) -> None:
    assert Settings(_env_file=None, mode=Mode.PRODUCTION).json_logs
    assert not Settings(_env_file=None, mode=Mode.DEV).json_logs
    assert Settings(_env_file=None, mode=Mode.DEV, log_format=LogFormat.JSON).json_logs
    with captured(json=False) as output:
        logging.getLogger("quintet.request").info(
            "POST /graphql 200 Pillars in 1.5 ms", extra={"request_id": "abc", "operation": "Pillars"}
        )
    line = output()
    assert line.count("\n") == 1
    assert "POST /graphql 200 Pillars in 1.5 ms" in line
    assert "request_id=abc" in line
    assert "{" not in line
