"""/metrics while live connections come and go: sockets, subscriptions, events published and delivered."""

from __future__ import annotations

import asyncio
import time

import httpx
import httpx_sse

from tests.aurum.conftest import AurumFactory
from tests.live.conftest import Feed, LiveServer, ws_session
from tests.metrics_support import Samples, scrape
from tests.support import GraphQLClient

CHANGES = """
subscription { aurumHierarchyChanges {
  __typename ... on LiveUpdatesStatus { state } ... on AurumHierarchyChange { change nodeId } } }
"""
SOCKETS = "quintet_open_connections"
SUBSCRIPTIONS = "quintet_subscriptions_active"


async def settled(http: httpx.AsyncClient, name: str, value: float, **labels: str) -> Samples:
    """Scrape until the gauge reads `value` (the server notices a closed socket a moment later)."""
    deadline = time.monotonic() + 15
    while True:
        samples = await scrape(http)
        if samples.get(name, **labels) == value or time.monotonic() > deadline:
            return samples
        await asyncio.sleep(0.05)


async def test_a_subscription_over_websocket_shows_its_socket_its_subscription_and_its_events(
    live_server: LiveServer, gql: GraphQLClient, live_aurum: AurumFactory
) -> None:
    user = await gql.sign_up()
    tree = await live_aurum.tree(user.token)
    async with httpx.AsyncClient(base_url=live_server.http) as http:
        before = await scrape(http)
        sockets = before.get(SOCKETS, transport="websocket")
        subscriptions = before.get(SUBSCRIPTIONS)
        async with ws_session(live_server.ws, user.token) as session:
            # When a dashboard subscribes over WebSocket
            feed = Feed(session, CHANGES)
            assert (await feed.next())["aurumHierarchyChanges"]["state"] == "STARTED"
            during = await scrape(http)
            # Then its socket and its subscription are open
            assert during.get(SOCKETS, transport="websocket") == sockets + 1
            assert during.get(SUBSCRIPTIONS) == subscriptions + 1
            started = "quintet_subscriptions_started_total"
            assert during.get(started) == before.get(started) + 1
            # When a change of the user's is committed, then it is published and delivered to it
            task = await live_aurum.task(user.token, tree.project, "Counted")
            change = (await feed.next())["aurumHierarchyChanges"]
            assert (change["change"], change["nodeId"]) == ("CREATED", task)
            changed = await scrape(http)
            topic = {"topic": "aurum.hierarchy"}
            published = changed.get("quintet_events_published_total", outcome="ok", **topic) - before.get(
                "quintet_events_published_total", outcome="ok", **topic
            )
            delivered = changed.get("quintet_events_delivered_total", **topic) - before.get(
                "quintet_events_delivered_total", **topic
            )
            assert published >= 1
            assert delivered == published  # one subscriber of this user's channel, in this process
            await feed.close()
        # When the dashboard goes away, then both close again
        after = await settled(http, SOCKETS, sockets, transport="websocket")
        assert after.get(SOCKETS, transport="websocket") == sockets
        after = await settled(http, SUBSCRIPTIONS, subscriptions)
        assert after.get(SUBSCRIPTIONS) == subscriptions


async def test_an_event_stream_is_an_open_connection_while_it_streams(
    live_server: LiveServer, gql: GraphQLClient
) -> None:
    user = await gql.sign_up()
    async with httpx.AsyncClient(base_url=live_server.http, timeout=30) as http:
        before = (await scrape(http)).get(SOCKETS, transport="event_stream")
        headers = {"Authorization": f"Bearer {user.token}"}
        async with httpx_sse.aconnect_sse(http, "POST", "/graphql", json={"query": CHANGES}, headers=headers) as sse:
            events = sse.aiter_sse()
            first = await anext(events)
            assert first.event == "next"
            assert (await scrape(http)).get(SOCKETS, transport="event_stream") == before + 1
        after = await settled(http, SOCKETS, before, transport="event_stream")
        assert after.get(SOCKETS, transport="event_stream") == before
