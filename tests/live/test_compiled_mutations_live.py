"""Events of a mutation on the compiled path (core/fastpath.py `run_mutation_plan`) are
published after its commit, exactly as on graphql-core's path; a refused one publishes none."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from tests.aurum.conftest import AurumFactory
from tests.live.conftest import Feed, LiveServer, ws_session
from tests.live.test_websocket import CHANGES, event, started
from tests.support import GraphQLClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

RENAME = """mutation CompiledRename($input: UpdateTaskInput!) { updateTask(input: $input) {
  task { id title } errors { code } } }"""


async def test_a_compiled_update_publishes_its_event_after_commit(
    app: Starlette, live_server: LiveServer, gql: GraphQLClient, live_aurum: AurumFactory
) -> None:
    plans = app.state.runtime.plans
    assert plans is not None
    user, other = await gql.sign_up(), await gql.sign_up()
    tree = await live_aurum.tree(user.token)
    task = await live_aurum.task(user.token, tree.project, "First")
    # The first request of the document compiles its plan (graphql-core answers it).
    await gql(RENAME, {"input": {"id": task, "title": "Warm"}}, token=user.token)
    async with ws_session(live_server.ws, user.token) as session:
        feed = Feed(session, CHANGES, {"projectId": tree.project})
        await started(feed)
        executed = plans.executed
        answer = await gql(RENAME, {"input": {"id": task, "title": "Compiled"}}, token=user.token)
        assert plans.executed == executed + 1  # the plan ran it
        assert answer.data["updateTask"] == {"task": {"id": task, "title": "Compiled"}, "errors": []}
        changed = event(await feed.next())
        assert changed["change"] == "UPDATED"
        assert changed["node"] == {"__typename": "Task", "id": task, "title": "Compiled", "status": "TODO"}
        assert [a["id"] for a in changed["ancestors"]] == [tree.project, tree.area, tree.pillar]
        # Refused (another user's task): nothing written, nothing published.
        refused = await gql(RENAME, {"input": {"id": task, "title": "Theirs"}}, token=other.token)
        assert plans.executed == executed + 2
        assert refused.data["updateTask"] == {"task": None, "errors": [{"code": "NOT_FOUND"}]}
        await feed.quiet()
        await feed.close()
