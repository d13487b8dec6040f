"""Two apps on one database: graphql-core alone (`slow`) and the compiled paths (`fast`).

The differential tests (tests/test_fastpath.py, tests/test_sqljson.py) send each document to
both and compare the answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from graphql import GraphQLSchema

from app import create_app
from core.fastpath import PlanCache
from tests.conftest import make_settings


@dataclass
class Pair:
    slow: httpx.AsyncClient
    fast: httpx.AsyncClient
    plans: PlanCache
    schema: GraphQLSchema


@asynccontextmanager
async def app_pair(database_url: str, data_dir: Path, **fast_settings: Any) -> AsyncIterator[Pair]:
    """The two apps; `fast_settings` configure the compiled one (e.g. `compiled_sql`)."""
    slow_app = create_app(make_settings(database_url, data_dir, fast_path=False))
    fast_app = create_app(make_settings(database_url, data_dir, fast_path=True, **fast_settings))
    async with (
        slow_app.router.lifespan_context(slow_app),
        fast_app.router.lifespan_context(fast_app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=slow_app), base_url="http://testserver") as slow,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=fast_app), base_url="http://testserver") as fast,
    ):
        assert slow_app.state.runtime.plans is None
        runtime = fast_app.state.runtime
        assert runtime.plans is not None
        yield Pair(slow, fast, runtime.plans, runtime.schema._schema)


async def post(client: httpx.AsyncClient, body: dict[str, Any], token: str | None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = orjson.loads(response.content)
    return answer


def without_extensions(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in answer.items() if key != "extensions"}


def comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without extensions, its errors reduced to their codes.

    With several failing fields whose null reaches a common parent, graphql-core 3.3 reports the
    one that fails first and cancels the rest: which one that is (another item of a list, or
    another field with a bad argument) can turn on which of two concurrent queries answers first
    (a DataLoader primed by a sibling field resolves its items at once). An answer with errors is
    graphql-core's on both apps (the compiled paths leave errors to it), so what is compared is
    the data, nulled where graphql-core nulls it, and the kinds of error.
    """
    kept = without_extensions(answer)
    if "errors" not in kept:
        return kept
    codes = sorted({str((error.get("extensions") or {}).get("code")) for error in kept["errors"]})
    return {**kept, "errors": codes}


async def assert_graphql_core_answers_so(
    pair: Pair, body: dict[str, Any], token: str | None, expected: dict[str, Any], answers: list[dict[str, Any]]
) -> None:
    """Each of the fast app's `answers` is one graphql-core gives (`expected`, or a retry).

    With several failing fields, graphql-core 3.3 reports the one that fails first and cancels
    the rest, so its own answer can vary from run to run: where errors make answers differ, the
    fast app's answer must be one graphql-core also gives (the same data, errors of the same
    codes: `comparable`).
    """
    context = f"\n{body['query']}\nvariables: {body.get('variables')}"
    possible = [comparable(expected)]
    for answer in answers:
        attempts = 0
        while comparable(answer) not in possible and "errors" in expected and attempts < 8:
            possible.append(comparable(await post(pair.slow, body, token)))
            attempts += 1
        assert comparable(answer) in possible, f"{context}\nfast: {answer}\ngraphql-core: {possible}"
