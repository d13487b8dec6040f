"""The viewer's notifications, live: new ones, read ones, the unread count; nobody else's."""

from __future__ import annotations

import uuid

from starlette.applications import Starlette

from core.context import Actor, run_unit_of_work
from core.relay import from_global_id, to_global_id
from core.runtime import Runtime
from services.notifications import notify
from tests.live.conftest import Feed, LiveServer, ws_session
from tests.live.test_websocket import NOTIFICATION_CHANGES
from tests.support import GraphQLClient, Viewer


async def send(app: Starlette, user: Viewer, title: str, product: str = "aurum") -> str:
    """Notify `user` the way a product's service does: in a unit of work, published after commit."""
    runtime: Runtime = app.state.runtime
    _, user_id = from_global_id(user.user_id)

    async def work(session: object) -> uuid.UUID:
        notification = await notify(session, user_id=user_id, product=product, kind="task_due", title=title)  # type: ignore[arg-type]
        return notification.id

    # As a product's job would: the system writes the user's notification.
    outcome = await run_unit_of_work(runtime.sessions, runtime.bus, work, as_actor=Actor.system("test"))
    assert outcome.value is not None
    return to_global_id("Notification", outcome.value)


def change(result: dict) -> dict:
    return result["notificationChanges"]


async def test_new_and_read_notifications_arrive_with_the_unread_count(
    app: Starlette, live_server: LiveServer, gql: GraphQLClient
) -> None:
    # Given a viewer subscribed to their notifications
    user = await gql.sign_up()
    async with ws_session(live_server.ws, user.token) as session:
        feed = Feed(session, NOTIFICATION_CHANGES)
        assert change(await feed.next()) == {"__typename": "LiveUpdatesStatus", "state": "STARTED"}

        # When two notifications arrive, one after the other
        first = await send(app, user, "Your task is due")
        new = [change(await feed.next())]
        second = await send(app, user, "Weekly review", product="waqup")
        new.append(change(await feed.next()))
        # Then each arrives with the unread count (as it is when the event is read)
        assert [(n["change"], n["notifications"][0]["id"], n["unreadCount"]) for n in new] == [
            ("CREATED", first, 1),
            ("CREATED", second, 2),
        ]
        assert new[0]["notifications"][0] == {"id": first, "title": "Your task is due", "isRead": False}

        # When one is marked read, and then all
        await gql.mutate("markNotificationsRead", {"ids": [first]}, "markedCount", token=user.token)
        read = change(await feed.next())
        assert (read["change"], read["unreadCount"]) == ("READ", 1)
        assert read["notifications"] == [{"id": first, "title": "Your task is due", "isRead": True}]
        # (marking it read again changes nothing, so nothing is published)
        await gql.mutate("markNotificationsRead", {"ids": [first]}, "markedCount", token=user.token)
        await gql.mutate("markAllNotificationsRead", {}, "markedCount", token=user.token)
        everything = change(await feed.next())
        assert everything == {
            "__typename": "NotificationChange",
            "change": "ALL_READ",
            "product": None,
            "unreadCount": 0,
            "notifications": [],
        }
        await feed.quiet()
        await feed.close()


async def test_only_the_viewers_own_and_the_chosen_products_notifications(
    app: Starlette, live_server: LiveServer, gql: GraphQLClient
) -> None:
    alice, bob = await gql.sign_up(), await gql.sign_up()
    async with ws_session(live_server.ws, alice.token) as session:
        everything = Feed(session, NOTIFICATION_CHANGES)
        aurum_only = Feed(session, NOTIFICATION_CHANGES, {"product": "aurum"})
        for feed in (everything, aurum_only):
            assert change(await feed.next())["state"] == "STARTED"
        await send(app, bob, "For Bob")
        floyo = await send(app, alice, "From Floyo", product="floyo")
        aurum = await send(app, alice, "From Aurum", product="aurum")
        assert [change(await everything.next())["notifications"][0]["id"] for _ in range(2)] == [floyo, aurum]
        assert change(await aurum_only.next())["notifications"][0]["id"] == aurum
        await everything.quiet(0.3)
        await aurum_only.quiet(0.3)
        for feed in (everything, aurum_only):
            await feed.close()
