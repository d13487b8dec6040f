"""Live updates over graphql-transport-ws, with the `gql` client: what a dashboard sees."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from starlette.applications import Starlette

from app import WS_IMPLEMENTATION
from core.relay import from_global_id
from tests.aurum.conftest import AurumFactory
from tests.live.conftest import TRANSPORT_WS, Feed, LiveServer, serve, ws_session
from tests.support import GraphQLClient, Viewer

CHANGES = """
subscription Changes($pillarId: ID, $areaId: ID, $projectId: ID, $types: [AurumHierarchyType!]) {
  aurumHierarchyChanges(pillarId: $pillarId, areaId: $areaId, projectId: $projectId, types: $types) {
    __typename
    ... on LiveUpdatesStatus { state refetch message }
    ... on AurumHierarchyChange {
      change nodeType nodeId
      node {
        __typename
        ... on Pillar { id name }
        ... on Area { id name }
        ... on Project { id name }
        ... on Task { id title status }
      }
      ancestors {
        __typename
        ... on Pillar { id progress { totalTasks completedTasks percent } }
        ... on Area { id progress { totalTasks completedTasks percent } }
        ... on Project { id progress { totalTasks completedTasks percent } }
      }
    }
  }
}
"""


def event(result: dict) -> dict:
    return result["aurumHierarchyChanges"]


async def started(feed: Feed) -> None:
    first = event(await feed.next())
    assert first["__typename"] == "LiveUpdatesStatus"
    assert first["state"] == "STARTED"
    assert first["refetch"] is True


async def test_a_dashboard_sees_creates_updates_moves_and_deletes_with_progress(
    live_server: LiveServer, gql: GraphQLClient, live_aurum: AurumFactory
) -> None:
    # Given a user with a pillar → area → project, and a dashboard subscribed over WebSocket
    user = await gql.sign_up()
    tree = await live_aurum.tree(user.token)
    other_project = await live_aurum.project(user.token, tree.area, "Second")
    async with ws_session(live_server.ws, user.token) as session:
        feed = Feed(session, CHANGES)
        await started(feed)

        # When a task is created, then
        task = await live_aurum.task(user.token, tree.project, "Buy shoes")
        created = event(await feed.next())
        assert created["change"] == "CREATED"
        assert created["nodeType"] == "TASK"
        assert created["nodeId"] == task
        assert created["node"] == {"__typename": "Task", "id": task, "title": "Buy shoes", "status": "TODO"}
        assert [a["id"] for a in created["ancestors"]] == [tree.project, tree.area, tree.pillar]
        assert created["ancestors"][0]["progress"] == {"totalTasks": 1, "completedTasks": 0, "percent": 0.0}

        # completed
        await gql.mutate("completeTask", {"id": task}, "task { id }", token=user.token)
        completed = event(await feed.next())
        assert completed["change"] == "UPDATED"
        assert completed["node"]["status"] == "DONE"
        assert [a["progress"]["percent"] for a in completed["ancestors"]] == [100.0, 100.0, 100.0]

        # moved to another project (both chains' progress changed)
        await gql.mutate("updateTask", {"id": task, "projectId": other_project}, "task { id }", token=user.token)
        moved = event(await feed.next())
        assert moved["change"] == "UPDATED"
        assert [a["id"] for a in moved["ancestors"]] == [other_project, tree.area, tree.pillar, tree.project]
        assert moved["ancestors"][0]["progress"]["totalTasks"] == 1
        assert moved["ancestors"][3]["progress"]["totalTasks"] == 0

        # and deleted
        await gql.mutate("deleteTask", {"id": task}, "deletedId", token=user.token)
        deleted = event(await feed.next())
        assert deleted["change"] == "DELETED"
        assert deleted["nodeId"] == task
        assert deleted["node"] is None
        assert deleted["ancestors"][0]["progress"]["totalTasks"] == 0
        await feed.quiet()
        await feed.close()


async def test_pillars_areas_and_projects_are_reported_too(
    live_server: LiveServer, gql: GraphQLClient, live_aurum: AurumFactory
) -> None:
    user = await gql.sign_up()
    async with ws_session(live_server.ws, user.token) as session:
        feed = Feed(session, CHANGES)
        await started(feed)
        tree = await live_aurum.tree(user.token)
        kinds = [(e["change"], e["nodeType"], e["nodeId"]) for e in [event(await feed.next()) for _ in range(3)]]
        assert kinds == [
            ("CREATED", "PILLAR", tree.pillar),
            ("CREATED", "AREA", tree.area),
            ("CREATED", "PROJECT", tree.project),
        ]
        await gql.mutate(
            "updateProject", {"id": tree.project, "name": "Run a marathon"}, "project { id }", token=user.token
        )
        renamed = event(await feed.next())
        assert renamed["node"] == {"__typename": "Project", "id": tree.project, "name": "Run a marathon"}
        assert [a["id"] for a in renamed["ancestors"]] == [tree.area, tree.pillar]
        await gql.mutate("deletePillar", {"id": tree.pillar}, "deletedId", token=user.token)
        gone = event(await feed.next())
        assert (gone["change"], gone["nodeType"], gone["nodeId"], gone["ancestors"]) == (
            "DELETED",
            "PILLAR",
            tree.pillar,
            [],
        )
        await feed.close()


@pytest.mark.parametrize("argument", ["projectId", "areaId", "pillarId"])
async def test_filters_narrow_to_one_subtree(
    live_server: LiveServer, gql: GraphQLClient, live_aurum: AurumFactory, argument: str
) -> None:
    user = await gql.sign_up()
    watched = await live_aurum.tree(user.token)
    elsewhere = await live_aurum.tree(user.token)
    target = {"projectId": watched.project, "areaId": watched.area, "pillarId": watched.pillar}[argument]
    async with ws_session(live_server.ws, user.token) as session:
        feed = Feed(session, CHANGES, {argument: target, "types": ["TASK"]})
        await started(feed)
        await live_aurum.task(user.token, elsewhere.project, "Not watched")
        task = await live_aurum.task(user.token, watched.project, "Watched")
        assert event(await feed.next())["nodeId"] == task
        await feed.quiet()
        await feed.close()


async def test_a_subscriber_never_sees_another_users_changes(
    live_server: LiveServer, gql: GraphQLClient, live_aurum: AurumFactory
) -> None:
    # Given two users, each with a tree, and Bob subscribed to everything he may see
    alice, bob = await gql.sign_up(), await gql.sign_up()
    alices = await live_aurum.tree(alice.token)
    async with ws_session(live_server.ws, bob.token) as session:
        feed = Feed(session, CHANGES)
        await started(feed)
        # When Alice changes her tree, Bob receives nothing
        task = await live_aurum.task(alice.token, alices.project)
        await gql.mutate("completeTask", {"id": task}, "task { id }", token=alice.token)
        await gql.mutate("deleteProject", {"id": alices.project}, "deletedId", token=alice.token)
        await feed.quiet()
        await feed.close()

        # And guessing her ids as filters is refused exactly like ids that don't exist
        for argument, value in [("projectId", alices.project), ("areaId", alices.area), ("pillarId", alices.pillar)]:
            guessed = Feed(session, CHANGES, {argument: value})
            error = await guessed.end()
            assert error is not None
            assert getattr(error, "errors", None), error
            extensions = error.errors[0]["extensions"]  # type: ignore[attr-defined]
            assert extensions == {"code": "NOT_FOUND", "argument": argument}


async def test_an_id_of_the_wrong_type_is_refused(
    live_server: LiveServer, gql: GraphQLClient, live_aurum: AurumFactory
) -> None:
    user = await gql.sign_up()
    tree = await live_aurum.tree(user.token)
    async with ws_session(live_server.ws, user.token) as session:
        error = await Feed(session, CHANGES, {"projectId": tree.area}).end()
        assert error is not None
        assert error.errors[0]["extensions"] == {"code": "INVALID_ID", "argument": "projectId"}  # type: ignore[attr-defined]


async def test_a_failed_mutation_publishes_nothing(
    live_server: LiveServer, gql: GraphQLClient, live_aurum: AurumFactory
) -> None:
    user = await gql.sign_up()
    tree = await live_aurum.tree(user.token)
    async with ws_session(live_server.ws, user.token) as session:
        feed = Feed(session, CHANGES)
        await started(feed)
        failed = await gql.call(
            "createTask", {"projectId": tree.project, "title": "   "}, "task { id }", token=user.token
        )
        assert [e["code"] for e in failed["errors"]] == ["VALIDATION"]
        await feed.quiet()
        await feed.close()


NOTIFICATION_CHANGES = """
subscription Notes($product: String) {
  notificationChanges(product: $product) {
    __typename
    ... on LiveUpdatesStatus { state }
    ... on NotificationChange { change product unreadCount notifications { id title isRead } }
  }
}
"""


def shared_streams_of(app: Starlette, user: Viewer) -> list[Any]:
    view = app.state.graphql_websocket
    user_pk = from_global_id(user.user_id)[1]
    return [stream for key, stream in view.shared.streams.items() if key.actor.user_id == user_pk]


async def test_identical_subscriptions_of_one_user_share_one_execution(
    app: Starlette, live_server: LiveServer, gql: GraphQLClient, live_aurum: AurumFactory
) -> None:
    # Given one user's dashboard open on two connections with the same document
    alice, bob = await gql.sign_up(), await gql.sign_up()
    tree = await live_aurum.tree(alice.token)
    async with (
        ws_session(live_server.ws, alice.token) as first_screen,
        ws_session(live_server.ws, alice.token) as second_screen,
        ws_session(live_server.ws, bob.token) as bobs_screen,
    ):
        first, second, bobs = Feed(first_screen, CHANGES), Feed(second_screen, CHANGES), Feed(bobs_screen, CHANGES)
        for feed in (first, second, bobs):
            await started(feed)
        # Then they share one stream, and Bob's identical document has a stream of its own
        assert len(shared_streams_of(app, alice)) == 1
        assert len(shared_streams_of(app, alice)[0].members) == 2
        assert len(shared_streams_of(app, bob)) == 1

        # When Alice changes something, both of her screens see it, Bob's doesn't
        task = await live_aurum.task(alice.token, tree.project, "Shared")
        assert event(await first.next())["nodeId"] == task
        assert event(await second.next())["nodeId"] == task
        await bobs.quiet()

        # A screen that joins later starts with the stream's status, then follows it
        async with ws_session(live_server.ws, alice.token) as third_screen:
            third = Feed(third_screen, CHANGES)
            await started(third)
            # One screen leaving doesn't end the stream for the others
            await first.close()
            await gql.mutate("completeTask", {"id": task}, "task { id }", token=alice.token)
            assert event(await second.next())["node"]["status"] == "DONE"
            assert event(await third.next())["node"]["status"] == "DONE"
            await third.close()
        await second.close()
        await bobs.close()


async def _next_message(socket: Any) -> dict[str, Any]:
    """The next message other than a keep-alive ping."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if message["type"] != "ping":
            return message


@pytest.mark.parametrize("protocol", [WS_IMPLEMENTATION, "websockets-sansio"])
async def test_a_shared_stream_reaches_each_member_under_its_own_operation_id(
    app: Starlette, gql: GraphQLClient, live_aurum: AurumFactory, protocol: str
) -> None:
    # Given one user's three identical subscriptions under two operation ids, served by `serve`'s
    # WebSocket protocol (one frame per event and id, written to each socket) or uvicorn's own
    alice = await gql.sign_up()
    tree = await live_aurum.tree(alice.token)
    query = "subscription { aurumHierarchyChanges { __typename ... on AurumHierarchyChange { nodeId } } }"
    async with serve(app, ws=protocol) as server:
        sockets: list[tuple[Any, str]] = []
        try:
            for operation_id in ("first", "second", "first"):
                socket = await websockets.connect(server.ws, subprotocols=[TRANSPORT_WS], compression=None)  # type: ignore[list-item]
                sockets.append((socket, operation_id))
                init = {"type": "connection_init", "payload": {"authorization": f"Bearer {alice.token}"}}
                await socket.send(json.dumps(init))
                assert (await _next_message(socket))["type"] == "connection_ack"
                await socket.send(json.dumps({"type": "subscribe", "id": operation_id, "payload": {"query": query}}))
                status = await _next_message(socket)
                assert status["id"] == operation_id
                assert status["payload"]["data"]["aurumHierarchyChanges"]["__typename"] == "LiveUpdatesStatus"

            # When she creates a task, then each subscription gets it under its own id, once
            task = await live_aurum.task(alice.token, tree.project, "Seen by all")
            for socket, operation_id in sockets:
                message = await _next_message(socket)
                assert message == {
                    "id": operation_id,
                    "type": "next",
                    "payload": {
                        "data": {"aurumHierarchyChanges": {"__typename": "AurumHierarchyChange", "nodeId": task}}
                    },
                }
        finally:
            for socket, _ in sockets:
                await socket.close()
