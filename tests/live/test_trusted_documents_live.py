"""Trusted documents sent by a real client: urql's built-in `documentId` support, as Codegen's
client preset feeds it (a document replaced by its hash), against the running server."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from core.documents import sha256_id
from tests.live.conftest import LiveServer
from tests.node_clients import run_script
from tests.support import GraphQLClient
from tests.test_trusted_documents import ADD_PILLAR, ME, push_first_party, unique


async def test_urql_runs_codegen_persisted_documents_by_id(
    app: Starlette, engine: AsyncEngine, live_server: LiveServer, gql: GraphQLClient
) -> None:
    user = await gql.sign_up(display_name="Persisted")
    query, mutation = unique(ME), unique(ADD_PILLAR)
    await push_first_party(app, engine, {sha256_id(query): query, sha256_id(mutation): mutation})
    result = await run_script(
        "urql_persisted.mjs",
        env={
            "QUINTET_URL": f"{live_server.http}/graphql",
            "QUINTET_TOKEN": user.token,
            "QUERY_ID": sha256_id(query),
            "MUTATION_ID": sha256_id(mutation),
            # urql checks a document's operation type outside production; a persisted one has none
            "NODE_ENV": "production",
        },
    )
    assert result["query"] == {
        "data": {"viewer": {"user": {"id": user.user_id, "displayName": "Persisted"}}},
        "error": None,
    }
    assert result["mutation"]["data"] == {
        "createPillar": {"pillar": {"name": "From a persisted document"}, "errors": []}
    }
    assert result["unknown"]["data"] is None
    assert "No persisted document has the id" in result["unknown"]["error"]
    get, post, missing = result["seen"]
    # The query went by GET with `documentId` and no `query`; the mutation by POST; both run
    assert get["method"] == "GET"
    assert "documentId" in get["params"]
    assert "query" not in get["params"]
    assert get["cacheControl"] == "private, no-cache"
    assert post["method"] == "POST"
    assert "documentId" in post["body"]
    assert "query" not in post["body"]
    assert missing["status"] == 404
