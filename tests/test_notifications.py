"""Notifications: sent by a product's service, read and marked read by the viewer over GraphQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.relay import from_global_id, to_global_id
from services.notifications import notify
from tests.support import GraphQLClient, Viewer

NOTIFICATIONS = """
query($unreadOnly: Boolean! = false, $product: String, $orderBy: NotificationOrderBy! = CREATED_AT_DESC,
      $first: Int, $after: String) {
  viewer {
    unreadNotificationCount
    notifications(unreadOnly: $unreadOnly, product: $product, orderBy: $orderBy, first: $first, after: $after) {
      totalCount
      nodes { id product kind title body data isRead readAt createdAt }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

MARKED = "notifications { id isRead readAt } markedCount unreadCount"


async def send(
    session: AsyncSession,
    user: Viewer,
    title: str,
    *,
    product: str = "aurum",
    kind: str = "task_due",
    body: str | None = None,
    data: dict[str, Any] | None = None,
) -> str:
    """Notify `user` through the service, commit, and return the notification's global ID."""
    _, user_id = from_global_id(user.user_id)
    notification = await notify(session, user_id=user_id, product=product, kind=kind, title=title, body=body, data=data)
    await session.commit()
    return to_global_id("Notification", notification.id)


async def read(gql: GraphQLClient, user: Viewer, **variables: Any) -> tuple[list[dict[str, Any]], int, int]:
    """The viewer's notifications (as listed), their totalCount and the unread count."""
    viewer = (await gql(NOTIFICATIONS, variables, token=user.token)).data["viewer"]
    connection = viewer["notifications"]
    return connection["nodes"], connection["totalCount"], viewer["unreadNotificationCount"]


async def test_notifications_are_listed_newest_first_with_their_fields(
    gql: GraphQLClient, session: AsyncSession
) -> None:
    # Given a user who was sent three notifications, one with a body and data
    me = await gql.sign_up()
    first = await send(session, me, "Task due", body="Buy shoes is due today", data={"taskId": "abc", "n": 1})
    second = await send(session, me, "Weekly review", kind="weekly_review")
    third = await send(session, me, "New reply", product="aletheia", kind="reply")
    # When they list their notifications
    nodes, total, unread = await read(gql, me)
    # Then the newest comes first, all unread, with the fields as sent
    assert [n["id"] for n in nodes] == [third, second, first]
    assert (total, unread) == (3, 3)
    oldest = nodes[2]
    assert (oldest["product"], oldest["kind"], oldest["title"]) == ("aurum", "task_due", "Task due")
    assert oldest["body"] == "Buy shoes is due today"
    assert oldest["data"] == {"taskId": "abc", "n": 1}
    assert nodes[1]["body"] is None
    assert nodes[1]["data"] == {}
    assert all(n["isRead"] is False and n["readAt"] is None for n in nodes)
    created = [datetime.fromisoformat(n["createdAt"]) for n in nodes]
    assert created == sorted(created, reverse=True)
    # And the oldest-first order is the reverse
    ascending, _, _ = await read(gql, me, orderBy="CREATED_AT_ASC")
    assert [n["id"] for n in ascending] == [first, second, third]


async def test_filters_by_unread_and_product(gql: GraphQLClient, session: AsyncSession) -> None:
    # Given notifications from two products, one of them already read
    me = await gql.sign_up()
    aurum_read = await send(session, me, "A1")
    aurum_unread = await send(session, me, "A2")
    other = await send(session, me, "W1", product="waqup", kind="session_ready")
    await gql.mutate("markNotificationsRead", {"ids": [aurum_read]}, "markedCount", token=me.token)
    # When filtered by unread, by product, and by both
    unread_nodes, unread_total, unread_count = await read(gql, me, unreadOnly=True)
    aurum_nodes, aurum_total, _ = await read(gql, me, product="aurum")
    both_nodes, both_total, _ = await read(gql, me, product="aurum", unreadOnly=True)
    none_nodes, none_total, _ = await read(gql, me, product="floyo")
    # Then each lists exactly the matching notifications, totalCount counting only those
    assert [n["id"] for n in unread_nodes] == [other, aurum_unread]
    assert (unread_total, unread_count) == (2, 2)
    assert [n["id"] for n in aurum_nodes] == [aurum_unread, aurum_read]
    assert aurum_total == 2
    assert [n["id"] for n in both_nodes] == [aurum_unread]
    assert both_total == 1
    assert (none_nodes, none_total) == ([], 0)


async def test_mark_read_sets_read_at_and_is_idempotent(gql: GraphQLClient, session: AsyncSession) -> None:
    # Given three unread notifications
    me = await gql.sign_up()
    a = await send(session, me, "a")
    b = await send(session, me, "b")
    c = await send(session, me, "c")
    # When two of them are marked read
    before = datetime.now(UTC)
    payload = await gql.mutate("markNotificationsRead", {"ids": [a, b]}, MARKED, token=me.token)
    # Then the payload returns them read, counts two marked and one still unread
    assert [n["id"] for n in payload["notifications"]] == [a, b]
    assert all(n["isRead"] for n in payload["notifications"])
    read_at = {n["id"]: datetime.fromisoformat(n["readAt"]) for n in payload["notifications"]}
    for moment in read_at.values():
        assert before - timedelta(seconds=5) <= moment <= datetime.now(UTC) + timedelta(seconds=5)
    assert (payload["markedCount"], payload["unreadCount"]) == (2, 1)
    # And the viewer sees the same
    nodes, _, unread = await read(gql, me)
    assert {n["id"]: n["isRead"] for n in nodes} == {a: True, b: True, c: False}
    assert unread == 1
    # When one already read and the unread one are marked (the read one twice)
    again = await gql.mutate("markNotificationsRead", {"ids": [a, c, a]}, MARKED, token=me.token)
    # Then only the unread one counts as marked, and the earlier readAt is kept
    assert (again["markedCount"], again["unreadCount"]) == (1, 0)
    assert [n["id"] for n in again["notifications"]] == [a, c]
    assert datetime.fromisoformat(again["notifications"][0]["readAt"]) == read_at[a]
    # When everything is marked again, then nothing more is marked
    idle = await gql.mutate("markNotificationsRead", {"ids": [a, b, c]}, MARKED, token=me.token)
    assert (idle["markedCount"], idle["unreadCount"]) == (0, 0)


async def test_marking_someone_elses_or_an_unknown_notification_is_not_found(
    gql: GraphQLClient, session: AsyncSession
) -> None:
    # Given my unread notification and another user's
    me = await gql.sign_up()
    them = await gql.sign_up()
    mine = await send(session, me, "mine")
    theirs = await send(session, them, "theirs")
    unknown = to_global_id("Notification", uuid.uuid4())
    for ids in ([mine, theirs], [unknown, mine]):
        # When I mark a list holding their notification (or an unknown one) alongside mine
        payload = await gql.call("markNotificationsRead", {"ids": ids}, MARKED, token=me.token)
        # Then it is NOT_FOUND on ids, and nothing was marked
        assert [(e["__typename"], e["code"], e["field"]) for e in payload["errors"]] == [
            ("NotFoundError", "NOT_FOUND", ["input", "ids"])
        ]
        assert payload["notifications"] == []
        assert payload["markedCount"] == 0
    _, _, my_unread = await read(gql, me)
    their_nodes, _, their_unread = await read(gql, them)
    assert my_unread == 1
    assert their_unread == 1
    assert their_nodes[0]["isRead"] is False


@pytest.mark.parametrize("case", ["empty", "wrong_type", "too_many"])
async def test_invalid_mark_read_lists_are_validation_errors(
    gql: GraphQLClient, session: AsyncSession, case: str
) -> None:
    # Given an unread notification
    me = await gql.sign_up()
    mine = await send(session, me, "mine")
    ids = {
        "empty": [],
        "wrong_type": [mine, me.user_id],
        "too_many": [mine] + [to_global_id("Notification", uuid.uuid4()) for _ in range(100)],
    }[case]
    # When the list is empty, holds an ID of another type, or is longer than 100
    payload = await gql.call("markNotificationsRead", {"ids": ids}, MARKED, token=me.token)
    # Then it is a VALIDATION error on ids, and the notification stays unread
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("VALIDATION", ["input", "ids"])]
    assert (await read(gql, me))[2] == 1


async def test_mark_all_read_optionally_per_product(gql: GraphQLClient, session: AsyncSession) -> None:
    # Given two aurum and one aletheia unread notifications, and another user's unread one
    me = await gql.sign_up()
    them = await gql.sign_up()
    await send(session, me, "a1")
    await send(session, me, "a2")
    other_product = await send(session, me, "r1", product="aletheia", kind="reply")
    await send(session, them, "theirs")
    # When all aurum notifications are marked read
    aurum = await gql.mutate("markAllNotificationsRead", {"product": "aurum"}, MARKED, token=me.token)
    # Then two were marked and the aletheia one is still unread
    assert (aurum["markedCount"], aurum["unreadCount"]) == (2, 1)
    unread_nodes, _, _ = await read(gql, me, unreadOnly=True)
    assert [n["id"] for n in unread_nodes] == [other_product]
    # When aurum is marked again, then nothing more is marked
    again = await gql.mutate("markAllNotificationsRead", {"product": "aurum"}, MARKED, token=me.token)
    assert (again["markedCount"], again["unreadCount"]) == (0, 1)
    # When all are marked read without a product, then the rest is marked
    everything = await gql.mutate("markAllNotificationsRead", {}, MARKED, token=me.token)
    assert (everything["markedCount"], everything["unreadCount"]) == (1, 0)
    nodes, total, unread = await read(gql, me)
    assert total == 3
    assert unread == 0
    assert all(n["isRead"] and n["readAt"] is not None for n in nodes)
    # And the other user's notification is untouched
    assert (await read(gql, them))[2] == 1


async def test_notifications_are_private_to_their_user(gql: GraphQLClient, session: AsyncSession) -> None:
    # Given a notification for me and one for another user
    me = await gql.sign_up()
    them = await gql.sign_up()
    mine = await send(session, me, "mine")
    theirs = await send(session, them, "theirs")
    # When I list mine and look both up by ID
    nodes, total, unread = await read(gql, me)
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Notification { title isRead } } }"
    looked_up = (await gql(query, {"ids": [mine, theirs]}, token=me.token)).data["nodes"]
    # Then I see only mine; theirs looks like it does not exist
    assert [n["id"] for n in nodes] == [mine]
    assert (total, unread) == (1, 1)
    assert looked_up == [{"id": mine, "title": "mine", "isRead": False}, None]


async def test_notifications_need_a_signed_in_user(gql: GraphQLClient, session: AsyncSession) -> None:
    # Given a user's notification
    me = await gql.sign_up()
    mine = await send(session, me, "mine")
    # When no token is sent
    viewer = await gql("{ viewer { unreadNotificationCount } }")
    marked = await gql.call("markNotificationsRead", {"ids": [mine]}, "markedCount", token=None)
    marked_all = await gql.call("markAllNotificationsRead", {}, "markedCount", token=None)
    # Then there is no viewer and the mutations say UNAUTHENTICATED, marking nothing
    assert viewer.data["viewer"] is None
    assert [e["code"] for e in marked["errors"]] == ["UNAUTHENTICATED"]
    assert [e["code"] for e in marked_all["errors"]] == ["UNAUTHENTICATED"]
    assert (await read(gql, me))[2] == 1


async def test_notifications_page_by_cursor(gql: GraphQLClient, session: AsyncSession) -> None:
    # Given five notifications
    me = await gql.sign_up()
    sent = [await send(session, me, f"n{i}") for i in range(5)]
    seen: list[str] = []
    after: str | None = None
    # When they are paged two at a time, newest first
    for _ in range(5):
        viewer = (await gql(NOTIFICATIONS, {"first": 2, "after": after}, token=me.token)).data["viewer"]
        connection = viewer["notifications"]
        assert connection["totalCount"] == 5
        seen.extend(n["id"] for n in connection["nodes"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    # Then each comes exactly once, newest first
    assert seen == list(reversed(sent))
    # And a cursor from the other order is refused
    ascending = await gql(NOTIFICATIONS, {"first": 2, "after": after, "orderBy": "CREATED_AT_ASC"}, token=me.token)
    assert ascending.error_codes == ["INVALID_CURSOR"]
