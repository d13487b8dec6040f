"""Background jobs, live: a viewer asks for insights and watches the job run to its result."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.relay import from_global_id
from core.settings import Settings
from tests.aurum.insight_data import create_scenario
from tests.jobs_support import drain, worker_settings
from tests.live.conftest import Feed, LiveServer, ws_session
from tests.support import GraphQLClient

JOB_UPDATES = """
subscription($id: ID) { backgroundJobUpdates(id: $id) {
  __typename
  ... on LiveUpdatesStatus { state }
  ... on BackgroundJob { id kind status progress isFinished result provider error { code } }
} }
"""


async def test_a_requested_analysis_arrives_live_from_queued_to_its_result(
    live_server: LiveServer, gql: GraphQLClient, settings: Settings, session: AsyncSession
) -> None:
    alice, bob = await gql.sign_up(), await gql.sign_up()
    await create_scenario(session, user_id=from_global_id(alice.user_id)[1])  # data that sets off every rule
    await session.commit()
    async with ws_session(live_server.ws, alice.token) as mine, ws_session(live_server.ws, bob.token) as theirs:
        feed, others = Feed(mine, JOB_UPDATES), Feed(theirs, JOB_UPDATES)
        for subscription in (feed, others):
            assert (await subscription.next())["backgroundJobUpdates"]["state"] == "STARTED"

        # When Alice asks for insights, the job is there at once, queued
        payload = await gql.mutate("requestInsights", {}, "job { id status }", token=alice.token)
        job_id = payload["job"]["id"]
        queued = (await feed.next())["backgroundJobUpdates"]
        assert (queued["id"], queued["status"], queued["isFinished"]) == (job_id, "QUEUED", False)

        # and once a worker has run it, every step arrived, in order, ending with the result
        await drain(worker_settings(settings))
        updates: list[dict[str, Any]] = []
        while not updates or not updates[-1]["isFinished"]:
            updates.append((await feed.next())["backgroundJobUpdates"])
        assert {update["id"] for update in updates} == {job_id}
        statuses = [update["status"] for update in updates]
        assert statuses[0] == "RUNNING"
        assert statuses[-1] == "SUCCEEDED"
        progress = [update["progress"] for update in updates]
        assert progress == sorted(progress)
        assert progress[-1] == 1.0
        assert updates[-1]["result"] is not None
        assert updates[-1]["result"]["created"] > 0
        assert updates[-1]["provider"] == "offline"

        # Bob, subscribed all along, received none of it
        await others.quiet(0.3)
        # and may not even name Alice's job
        narrowed = Feed(theirs, JOB_UPDATES, {"id": job_id})
        refused = await narrowed.end()
        assert refused is not None
        assert "No background job" in str(refused)
        for subscription in (feed, others, narrowed):
            await subscription.close()
