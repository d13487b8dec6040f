"""The event bus: what changed, published after commit, delivered to live subscriptions.

    bus = create_bus(settings)        # in-process; Redis pub/sub when REDIS_URL is set
    await bus.start() … await bus.close()               # the app lifespan
    await bus.publish(channel, event)                    # never raises: a lost event is logged
    async with bus.subscribe(channel, max_queue=100) as subscription:
        async for delivery in subscription:              # an Envelope (event) or a BusNotice
            …

Services never call `publish`: `publish_after_commit(session, channel, event)` hands the event to
the unit of work, which publishes it once the transaction has committed, and never on rollback.

**Channels route events to who may receive them.** `user_channel(user_id)` carries one user's
events only, and a subscription listens to its viewer's channel and nothing else;
`organization_channel(organization_id)` carries one organization's, heard by its members only
(checked when they subscribe and again for every event). Events are small JSON objects of ids
and kinds, e.g. `{"topic": "aurum.hierarchy", "user": "<uuid>", "type": "Task", "id": "<uuid>",
"change": "UPDATED", "parents": ["<uuid>"]}`, never anyone's data: a subscriber
re-reads what it shows through loaders scoped to its own actor, which is the per-event, per-
subscriber authorization check. `Envelope.shared` lets the subscribers of one event in one process
share that work (e.g. one loader set per user), so a thousand dashboards of one user cost one read.

**Bounded.** Each subscription has a queue of `max_queue` deliveries; a subscriber that falls that
far behind is dropped and its iterator raises `SubscriberTooSlow`: memory stays bounded, and other
subscribers are unaffected.

**Status.** Besides events a subscription yields `BusNotice`s: STARTED first (nothing published
from now on is missed), INTERRUPTED when the backend became unreachable, RESUMED when it is back
(changes made in between were not delivered: refetch), EVENTS_MISSED when some process could not
publish to the channel for a while (refetch). With Redis, each process holds one pub/sub
connection, subscribed to the channels its local subscribers need, and fans messages out locally;
it reconnects by itself with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Hashable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from core import metrics

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.settings import Settings

logger = logging.getLogger("quintet.events")

Event = dict[str, Any]

#: Where a unit of work puts the bus, so that services can publish without being handed it.
SESSION_BUS_KEY = "event_bus"


def user_channel(user_id: uuid.UUID) -> str:
    """The channel of one user's events: only that user's subscriptions listen to it."""
    return f"user:{user_id}"


def organization_channel(organization_id: uuid.UUID) -> str:
    """The channel of one organization's events: only its members' subscriptions listen to it,
    each checked at subscribe time and again for every event."""
    return f"organization:{organization_id}"


class NoticeKind(StrEnum):
    STARTED = "STARTED"
    INTERRUPTED = "INTERRUPTED"
    RESUMED = "RESUMED"
    EVENTS_MISSED = "EVENTS_MISSED"


@dataclass(frozen=True, slots=True)
class BusNotice:
    """Not an event: the bus telling a subscriber about the stream itself."""

    kind: NoticeKind
    detail: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(eq=False, slots=True)
class Envelope:
    """One event as delivered in this process; every local subscriber gets the same envelope.

    `event` must be treated as read-only. `shared` is scratch space for the subscribers of this
    one event (keyed by e.g. the subscriber's user id), dropped with the envelope.
    """

    event: Event
    shared: dict[Hashable, Any] = field(default_factory=dict)


Delivery = Envelope | BusNotice


class SubscriberTooSlow(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"This subscription fell {limit} events behind and was ended")
        self.limit = limit


class Subscription:
    """One local subscriber: a bounded queue of deliveries, read by one task."""

    __slots__ = ("_error", "_items", "_waiter", "channel", "closed", "last_notice", "limit")

    def __init__(self, channel: str, limit: int) -> None:
        self.channel = channel
        self.limit = limit
        self.closed = False
        self.last_notice: NoticeKind | None = None
        self._items: deque[Delivery] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._error: SubscriberTooSlow | None = None

    def offer(self, item: Delivery) -> bool:
        """Queue `item`; on overflow, drop everything queued and end the subscription."""
        if self._error is not None or self.closed:
            return False
        if len(self._items) >= self.limit:
            self._items.clear()
            self._error = SubscriberTooSlow(self.limit)
            metrics.refused("SUBSCRIBER_TOO_SLOW", "subscriptionQueueSize")
            self._wake()
            return False
        if isinstance(item, BusNotice):
            self.last_notice = item.kind
        self._items.append(item)
        self._wake()
        return True

    def end(self) -> None:
        """No more deliveries: the iterator stops once the queue is read."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Delivery:
        while not self._items:
            if self._error is not None:
                raise self._error
            if self.closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()


class EventBus(Protocol):
    """What the app and the subscriptions need from a bus; see the module docstring."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, channel: str, event: Event) -> None:
        """Deliver `event` to the channel's subscribers in every process. Never raises."""

    def subscribe(self, channel: str, *, max_queue: int) -> AbstractAsyncContextManager[Subscription]: ...

    @property
    def live(self) -> bool:
        """False while the backend is unreachable (subscribers have been told)."""


class Fanout:
    """This process's subscribers, by channel."""

    def __init__(self) -> None:
        self._channels: dict[str, set[Subscription]] = {}

    def add(self, subscription: Subscription) -> None:
        self._channels.setdefault(subscription.channel, set()).add(subscription)

    def discard(self, subscription: Subscription) -> bool:
        """Forget `subscription`; True when its channel has no subscriber left."""
        subscribers = self._channels.get(subscription.channel)
        if subscribers is None or subscription not in subscribers:
            return False
        subscribers.discard(subscription)
        if not subscribers:
            del self._channels[subscription.channel]
            return True
        return False

    def has(self, channel: str) -> bool:
        return channel in self._channels

    def channels(self) -> list[str]:
        return list(self._channels)

    def deliver(self, channel: str, item: Delivery) -> None:
        delivered = 0
        for subscriber in self._channels.get(channel, ()):
            delivered += subscriber.offer(item)
        if delivered and isinstance(item, Envelope):
            metrics.EVENTS_DELIVERED.labels(_topic(item.event)).inc(delivered)

    def broadcast(self, item: Delivery) -> None:
        for subscribers in self._channels.values():
            for subscriber in subscribers:
                subscriber.offer(item)

    def end_all(self) -> None:
        for subscribers in self._channels.values():
            for subscriber in subscribers:
                subscriber.end()

    def __len__(self) -> int:
        return sum(len(s) for s in self._channels.values())


def _topic(event: Event) -> str:
    topic = event.get("topic")
    return topic if isinstance(topic, str) else "unknown"


def _encode(event: Event) -> bytes | None:
    try:
        return orjson.dumps(event)
    except TypeError:
        logger.exception("event not published: it is not JSON-serialisable (%r)", event.get("topic"))
        return None


STARTED_DETAIL = "Live: every change from now on is delivered"


class InProcessBus:
    """One process: `publish` hands the event straight to this process's subscribers."""

    def __init__(self) -> None:
        self._fanout = Fanout()

    @property
    def live(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._fanout.end_all()

    async def publish(self, channel: str, event: Event) -> None:
        # Through JSON like the Redis backend: subscribers get their own copy, and an event that
        # could not cross Redis fails here too, in development.
        encoded = _encode(event)
        if encoded is not None:
            metrics.EVENTS_PUBLISHED.labels(_topic(event), "ok").inc()
            self._fanout.deliver(channel, Envelope(orjson.loads(encoded)))

    @asynccontextmanager
    async def subscribe(self, channel: str, *, max_queue: int) -> AsyncIterator[Subscription]:
        subscription = Subscription(channel, max_queue)
        self._fanout.add(subscription)
        subscription.offer(BusNotice(NoticeKind.STARTED, STARTED_DETAIL))
        try:
            yield subscription
        finally:
            self._fanout.discard(subscription)

    def subscriber_count(self) -> int:
        return len(self._fanout)


class RedisBus:
    """Redis pub/sub: one connection per process, subscribed to the channels its subscribers need.

    Publishing goes through a small connection pool. Redis's own silent reconnects are turned
    off: every failure reaches this class, which tells the subscribers (INTERRUPTED), retries with
    backoff, resubscribes, and tells them again (RESUMED). Channels whose events could not be
    published are announced as EVENTS_MISSED to every process once Redis answers again.
    """

    CONTROL = "bus"  # every process listens: notices for all of its subscribers
    CONNECT_TIMEOUT = 1.0
    COMMAND_TIMEOUT = 2.0
    PING_INTERVAL = 5.0
    SILENCE_LIMIT = 3 * PING_INTERVAL  # no reply at all for this long: the connection is dead
    MIN_BACKOFF = 0.05
    MAX_BACKOFF = 5.0
    MAX_LOST_CHANNELS = 1000

    def __init__(self, url: str, *, prefix: str = "quintet:") -> None:
        self._url = url
        self._prefix = prefix
        self._fanout = Fanout()
        self._redis: Redis | None = None  # the pub/sub connection
        self._publisher: Redis | None = None
        self._pubsub: PubSub | None = None  # set only while connected and subscribed
        self._subscribed: set[str] = set()
        self._commands = asyncio.Lock()
        self._awaiting: tuple[str, asyncio.Future[None]] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self._retry_now = asyncio.Event()
        self._reconnect_requested = False
        self._down_notified = False
        self._backoff = self.MIN_BACKOFF
        self._lost: set[str] = set()
        self._lost_everything = False
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def live(self) -> bool:
        return self._pubsub is not None

    async def start(self) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        options: dict[str, Any] = {
            "socket_connect_timeout": self.CONNECT_TIMEOUT,
            "socket_timeout": self.COMMAND_TIMEOUT,
        }
        # The subscriber connection must never reconnect behind our back (it would resubscribe
        # silently and the subscribers would never hear that events were missed); publishing may
        # retry once, so that a pooled connection that went stale in an outage is replaced.
        self._redis = Redis.from_url(self._url, retry=Retry(NoBackoff(), 0), **options)
        self._publisher = Redis.from_url(self._url, retry=Retry(NoBackoff(), 1), max_connections=32, **options)
        self._listener = asyncio.create_task(self._listen_forever(), name="event-bus-listener")
        # Serve with the bus live when Redis answers; otherwise start anyway (queries and
        # mutations don't need it) and keep trying in the background.
        with suppress(TimeoutError):
            async with asyncio.timeout(self.CONNECT_TIMEOUT + self.COMMAND_TIMEOUT):
                await self._first_attempt.wait()

    async def close(self) -> None:
        self._closing = True
        tasks = [t for t in (self._listener, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        self._fanout.end_all()
        for client in (self._redis, self._publisher):
            if client is not None:
                await client.aclose()

    # ------------------------------------------------------------------ publishing

    def _key(self, channel: str) -> str:
        return self._prefix + channel

    async def publish(self, channel: str, event: Event) -> None:
        encoded = _encode({"event": event})
        if encoded is None:
            return
        if await self._send(channel, encoded):
            metrics.EVENTS_PUBLISHED.labels(_topic(event), "ok").inc()
            if self._lost or self._lost_everything:
                await self._announce_lost()
            if not self.live:
                self._retry_now.set()  # Redis answers again: reconnect now, not after the backoff
            return
        self._remember_lost(channel)
        metrics.EVENTS_PUBLISHED.labels(_topic(event), "lost").inc()
        logger.error(
            "event lost: Redis unreachable, %s for %s was not published (its subscribers will be told to refetch)",
            event.get("topic"),
            channel,
        )

    async def _send(self, channel: str, data: bytes) -> bool:
        from redis.exceptions import RedisError

        assert self._publisher is not None, "start() the bus first"
        try:
            async with asyncio.timeout(self.COMMAND_TIMEOUT * 2):
                await self._publisher.publish(self._key(channel), data)
        except (RedisError, OSError, TimeoutError):
            return False
        return True

    def _remember_lost(self, channel: str) -> None:
        if len(self._lost) >= self.MAX_LOST_CHANNELS:
            self._lost.clear()
            self._lost_everything = True
        elif not self._lost_everything:
            self._lost.add(channel)

    async def _announce_lost(self) -> None:
        """Tell every process's subscribers of the channels we failed to publish to."""
        notice = orjson.dumps({"notice": NoticeKind.EVENTS_MISSED.value})
        if self._lost_everything:
            if await self._send(self.CONTROL, notice):
                self._lost_everything = False
                self._lost.clear()
            return
        for channel in list(self._lost):
            if not await self._send(channel, notice):
                return
            self._lost.discard(channel)

    # ------------------------------------------------------------------ subscribing

    @asynccontextmanager
    async def subscribe(self, channel: str, *, max_queue: int) -> AsyncIterator[Subscription]:
        subscription = Subscription(channel, max_queue)
        self._fanout.add(subscription)
        try:
            if self.live and await self._ensure_subscribed(channel):
                subscription.offer(BusNotice(NoticeKind.STARTED, STARTED_DETAIL))
            elif subscription.last_notice is not NoticeKind.INTERRUPTED:
                self._down_notified = True
                subscription.offer(BusNotice(NoticeKind.INTERRUPTED, INTERRUPTED_DETAIL))
            yield subscription
        finally:
            if self._fanout.discard(subscription) and not self._closing:
                task = asyncio.create_task(self._release(channel))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _ensure_subscribed(self, channel: str) -> bool:
        from redis.exceptions import RedisError

        async with self._commands:
            pubsub = self._pubsub
            if pubsub is None:
                return False
            if channel in self._subscribed:
                return True
            confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._awaiting = (channel, confirmed)
            try:
                await pubsub.subscribe(self._key(channel))
                async with asyncio.timeout(self.COMMAND_TIMEOUT):
                    await confirmed
            except (RedisError, OSError, TimeoutError) as exc:
                logger.warning("event bus: subscribing to %s failed (%s); reconnecting", channel, exc)
                self._reconnect_requested = True
                return False
            finally:
                self._awaiting = None
            self._subscribed.add(channel)
            return True

    async def _release(self, channel: str) -> None:
        from redis.exceptions import RedisError

        async with self._commands:
            pubsub = self._pubsub
            if pubsub is None or self._fanout.has(channel) or channel not in self._subscribed:
                return
            self._subscribed.discard(channel)
            with suppress(RedisError, OSError):
                await pubsub.unsubscribe(self._key(channel))

    # ------------------------------------------------------------------ the listener

    async def _listen_forever(self) -> None:
        from redis.exceptions import RedisError

        assert self._redis is not None
        while not self._closing:
            pubsub = self._redis.pubsub()
            try:
                await self._listen(pubsub)
            except (RedisError, OSError, TimeoutError) as exc:
                self._lost_connection(exc)
            finally:
                self._pubsub = None
                self._subscribed.clear()
                if self._awaiting is not None and not self._awaiting[1].done():
                    self._awaiting[1].set_exception(ConnectionError("Redis connection lost"))
                with suppress(Exception):
                    await pubsub.aclose()
                self._first_attempt.set()
            with suppress(TimeoutError):
                async with asyncio.timeout(self._backoff):
                    await self._retry_now.wait()
            self._retry_now.clear()
            self._backoff = min(self._backoff * 2, self.MAX_BACKOFF)

    async def _listen(self, pubsub: PubSub) -> None:
        from redis.exceptions import TimeoutError as RedisTimeout

        loop = asyncio.get_running_loop()
        # Subscribe to everything local subscribers need; new ones may arrive meanwhile, so
        # repeat until nothing is missing, then go live without awaiting in between.
        confirmed: set[str] = set()
        while True:
            wanted = {self.CONTROL, *self._fanout.channels()}
            missing = wanted - confirmed
            if not missing:
                break
            await pubsub.subscribe(*(self._key(c) for c in missing))
            deadline = loop.time() + self.COMMAND_TIMEOUT
            while missing:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise RedisTimeout("Redis did not confirm the subscriptions in time")
                message = await pubsub.get_message(timeout=remaining)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    channel = self._channel_of(message)
                    missing.discard(channel)
                    confirmed.add(channel)
                else:
                    self._handle(message)
        confirmed.discard(self.CONTROL)
        self._subscribed = confirmed
        self._pubsub = pubsub
        self._backoff = self.MIN_BACKOFF
        self._reconnect_requested = False
        self._first_attempt.set()
        if self._down_notified:
            self._down_notified = False
            logger.warning("event bus: Redis is back; live subscriptions resubscribed")
            self._fanout.broadcast(BusNotice(NoticeKind.RESUMED, RESUMED_DETAIL))
        if self._lost or self._lost_everything:
            await self._announce_lost()
        for channel in confirmed - set(self._fanout.channels()):
            task = asyncio.create_task(self._release(channel))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

        last_heard = last_ping = loop.time()
        while True:
            message = await pubsub.get_message(timeout=1.0)
            now = loop.time()
            if message is not None:
                last_heard = now
                self._handle(message)
            if self._reconnect_requested:
                raise RedisTimeout("a subscription was not confirmed in time")
            if now - last_ping >= self.PING_INTERVAL:
                last_ping = now
                await pubsub.ping()
            if now - last_heard > self.SILENCE_LIMIT:
                raise RedisTimeout(f"no reply from Redis for {self.SILENCE_LIMIT:.0f} s")

    def _channel_of(self, message: dict[str, Any]) -> str:
        raw = message["channel"]
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        return name[len(self._prefix) :] if name.startswith(self._prefix) else name

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "subscribe":
            awaiting = self._awaiting
            if awaiting is not None and awaiting[0] == self._channel_of(message) and not awaiting[1].done():
                awaiting[1].set_result(None)
            return
        if kind != "message":
            return
        channel = self._channel_of(message)
        try:
            payload = orjson.loads(message["data"])
        except orjson.JSONDecodeError:
            logger.warning("event bus: ignored a message on %s that is not JSON", channel)
            return
        item: Delivery
        if isinstance(payload, dict) and isinstance(payload.get("event"), dict):
            item = Envelope(payload["event"])
        elif isinstance(payload, dict) and payload.get("notice") == NoticeKind.EVENTS_MISSED.value:
            item = BusNotice(NoticeKind.EVENTS_MISSED, EVENTS_MISSED_DETAIL)
        else:
            return
        if channel == self.CONTROL:
            self._fanout.broadcast(item)
        else:
            self._fanout.deliver(channel, item)

    def _lost_connection(self, exc: BaseException) -> None:
        self._pubsub = None
        if not self._down_notified:
            self._down_notified = True
            logger.warning("event bus: Redis unreachable (%s); live subscriptions told, reconnecting", exc)
            self._fanout.broadcast(BusNotice(NoticeKind.INTERRUPTED, INTERRUPTED_DETAIL))

    def subscriber_count(self) -> int:
        return len(self._fanout)

    def subscribed_channels(self) -> set[str]:
        """The channels this process is subscribed to on Redis now."""
        return set(self._subscribed)


INTERRUPTED_DETAIL = (
    "Live updates are interrupted (the event bus is unreachable); queries and mutations still work. "
    "RESUMED follows when it is back."
)
RESUMED_DETAIL = "Live updates are back; changes made while they were interrupted were not delivered: refetch"
EVENTS_MISSED_DETAIL = "Some changes could not be delivered (the event bus was unreachable from a server): refetch"


# The bus of this process, for code that runs outside a request (the job worker, scripts):
# the app's lifespan registers its bus, a standalone worker its own (Redis only: an in-process
# bus there would reach nobody). A stack, because tests run several apps in one process.
_process_buses: list[EventBus] = []


def register_process_bus(bus: EventBus) -> None:
    _process_buses.append(bus)


def unregister_process_bus(bus: EventBus) -> None:
    if bus in _process_buses:
        _process_buses.remove(bus)


def process_bus() -> EventBus | None:
    """The bus events published outside a request go to; None when there is none to reach."""
    return _process_buses[-1] if _process_buses else None


def create_bus(settings: Settings) -> InProcessBus | RedisBus:
    """Redis pub/sub when REDIS_URL is set (several processes), else in-process."""
    if settings.redis_url:
        return RedisBus(settings.redis_url)
    return InProcessBus()


def publish_after_commit(session: AsyncSession, channel: str, event: Event) -> None:
    """Publish `event` on `channel` once the session's unit of work has committed.

    The unit of work puts its bus in `session.info`; a session opened without one (a script or a
    test factory writing rows directly) runs no after-commit callbacks and publishes nothing.
    """
    from core.context import after_commit

    bus: EventBus | None = session.info.get(SESSION_BUS_KEY)
    if bus is None:
        logger.debug("no event bus on this session: %s on %s is not published", event.get("topic"), channel)
        return

    async def publish() -> None:
        await bus.publish(channel, event)

    after_commit(session, publish)
