"""The event bus on its own: publish after commit only, bounded subscribers, Redis fan-out."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.applications import Starlette

from core.context import Actor, run_unit_of_work
from core.errors import ValidationFailed
from core.events import (
    BusNotice,
    Envelope,
    InProcessBus,
    NoticeKind,
    RedisBus,
    SubscriberTooSlow,
    Subscription,
    user_channel,
)
from core.relay import from_global_id
from core.runtime import Runtime
from models.aurum import Pillar
from services import aurum
from tests.support import GraphQLClient


async def nothing_more(subscription: Subscription, wait: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(wait):
            await anext(subscription)


async def next_event(subscription: Subscription, wait: float = 5.0) -> dict:
    async with asyncio.timeout(wait):
        delivery = await anext(subscription)
    assert isinstance(delivery, Envelope), delivery
    return delivery.event


async def notice(subscription: Subscription, wait: float = 5.0) -> NoticeKind:
    async with asyncio.timeout(wait):
        delivery = await anext(subscription)
    assert isinstance(delivery, BusNotice), delivery
    return delivery.kind


async def signed_up(gql: GraphQLClient) -> Actor:
    user = await gql.sign_up()
    return Actor(user_id=from_global_id(user.user_id)[1], role="user")


async def pillar_exists(engine: AsyncEngine, pk: uuid.UUID) -> bool:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).where(aurum.table(Pillar).c.id == pk))).scalar_one() == 1


async def test_events_are_published_after_the_commit_and_not_before(
    app: Starlette, gql: GraphQLClient, engine: AsyncEngine
) -> None:
    runtime: Runtime = app.state.runtime
    actor = await signed_up(gql)
    async with runtime.bus.subscribe(user_channel(actor.user_id), max_queue=10) as subscription:
        assert await notice(subscription) is NoticeKind.STARTED

        async def work(session: AsyncSession) -> uuid.UUID:
            pillar = await aurum.create_pillar(
                session, actor=actor, name="Health", description=None, color=None, icon=None
            )
            # Flushed, not committed: nothing is published yet
            await nothing_more(subscription, 0.1)
            return pillar.id

        outcome = await run_unit_of_work(runtime.sessions, runtime.bus, work, as_actor=actor)
        assert outcome.value is not None
        event = await next_event(subscription)
        assert event["topic"] == "aurum.hierarchy"
        assert (event["type"], event["id"], event["change"]) == ("Pillar", str(outcome.value), "CREATED")
        # When the event arrives, another connection already sees the row
        assert await pillar_exists(engine, outcome.value)


async def test_a_rolled_back_unit_of_work_publishes_nothing(
    app: Starlette, gql: GraphQLClient, engine: AsyncEngine
) -> None:
    runtime: Runtime = app.state.runtime
    actor = await signed_up(gql)
    created: list[uuid.UUID] = []
    async with runtime.bus.subscribe(user_channel(actor.user_id), max_queue=10) as subscription:
        assert await notice(subscription) is NoticeKind.STARTED

        async def work(session: AsyncSession) -> None:
            pillar = await aurum.create_pillar(
                session, actor=actor, name="Health", description=None, color=None, icon=None
            )
            created.append(pillar.id)
            raise ValidationFailed("a later step failed", field=["input"])

        outcome = await run_unit_of_work(runtime.sessions, runtime.bus, work, as_actor=actor)
        assert [e.message for e in outcome.errors] == ["a later step failed"]
        await nothing_more(subscription)
    assert created
    assert not await pillar_exists(engine, created[0])


async def test_a_slow_subscriber_is_dropped_and_the_others_keep_receiving() -> None:
    bus = InProcessBus()
    async with (
        bus.subscribe("user:x", max_queue=2) as slow,
        bus.subscribe("user:x", max_queue=10) as steady,
    ):
        for i in range(3):
            await bus.publish("user:x", {"topic": "t", "n": i})
        # The slow one had STARTED and two events queued: the third ended it, its queue dropped
        with pytest.raises(SubscriberTooSlow) as ended:
            await anext(slow)
        assert ended.value.limit == 2
        assert await notice(steady) is NoticeKind.STARTED
        assert [(await next_event(steady))["n"] for _ in range(3)] == [0, 1, 2]
        await bus.publish("user:x", {"topic": "t", "n": 3})
        assert (await next_event(steady))["n"] == 3
    assert bus.subscriber_count() == 0


async def test_an_event_that_is_not_json_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    bus = InProcessBus()
    async with bus.subscribe("user:y", max_queue=10) as subscription:
        assert await notice(subscription) is NoticeKind.STARTED
        with caplog.at_level(logging.ERROR, logger="quintet.events"):
            await bus.publish("user:y", {"topic": "t", "when": object()})
        assert "not JSON-serialisable" in caplog.text
        await nothing_more(subscription)


async def test_redis_fans_out_between_buses_one_subscription_per_process(redis_url: str) -> None:
    # Given two buses (as two processes would hold) on one Redis
    here, there = RedisBus(redis_url), RedisBus(redis_url)
    await here.start()
    await there.start()
    channel = user_channel(uuid.uuid4())
    try:
        assert here.live
        assert there.live
        async with (
            here.subscribe(channel, max_queue=10) as first,
            here.subscribe(channel, max_queue=10) as second,
            here.subscribe(user_channel(uuid.uuid4()), max_queue=10) as someone_else,
        ):
            for subscription in (first, second, someone_else):
                assert await notice(subscription) is NoticeKind.STARTED
            # When the other process publishes on the channel
            await there.publish(channel, {"topic": "t", "n": 1})
            # Then both local subscribers of that channel get it, and nobody else
            assert (await next_event(first))["n"] == 1
            assert (await next_event(second))["n"] == 1
            await nothing_more(someone_else)
            assert here.subscribed_channels() == {channel, someone_else.channel}
        # When the last local subscriber leaves, the process unsubscribes from Redis
        for _ in range(500):
            if not here.subscribed_channels():
                break
            await asyncio.sleep(0.01)
        assert here.subscribed_channels() == set()
    finally:
        await here.close()
        await there.close()


async def test_a_slow_subscriber_is_dropped_with_redis_too(redis_url: str) -> None:
    bus = RedisBus(redis_url)
    await bus.start()
    channel = user_channel(uuid.uuid4())
    try:
        async with bus.subscribe(channel, max_queue=2) as slow, bus.subscribe(channel, max_queue=10) as steady:
            for i in range(3):
                await bus.publish(channel, {"topic": "t", "n": i})
            assert await notice(steady) is NoticeKind.STARTED
            assert [(await next_event(steady))["n"] for _ in range(3)] == [0, 1, 2]
            with pytest.raises(SubscriberTooSlow):
                await anext(slow)
    finally:
        await bus.close()
