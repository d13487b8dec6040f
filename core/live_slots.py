"""At most WS_MAX_CONNECTIONS_PER_USER live connections (WebSockets and SSE streams) per user.

Every change of a user is re-read once per live subscription of that user, so a user's live
connections times WS_MAX_SUBSCRIPTIONS bounds what one change may cost.

    slots = LiveSlots(limit, redis_url); await slots.start() … await slots.close()  # the lifespan
    slot = await slots.acquire(user_id)     # None: the user already holds `limit` connections
    await slots.release(slot)               # once the connection is gone, on every path (idempotent)

Counted in the process's memory; with REDIS_URL also in Redis, so that the limit holds across
processes and hosts. There each user has a sorted set `quintet:live:<user id>` of connection ids
scored by when they expire, by Redis's clock (no two hosts' clocks are compared); a process renews
its own every TTL/3, so the connections of a process that died without releasing them free their
slots after TTL seconds at most. Taking a slot is one script (drop the expired, count, add), so two
processes can't both take the last one. When Redis can't be reached, the process's own count still
applies (and Redis is left alone for a few seconds, so that connecting doesn't wait on it).

`limits` (core/ratelimit.py) counts requests in time windows; this counts holders of a slot, which
it has no notion of: hence a few lines of Lua.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.context import Actor, ActorKind

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

logger = logging.getLogger("quintet.live")

CODE = "TOO_MANY_CONNECTIONS"
LIMIT_NAME = "maxConnectionsPerUser"

# KEYS[1]: the user's set; ARGV: limit, connection id, TTL in seconds. 1 when the slot was taken.
_ACQUIRE = """
local now = tonumber(redis.call('TIME')[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS: users' sets; ARGV[1]: TTL in seconds, ARGV[i + 1]: the connection id in KEYS[i].
# XX: a slot released meanwhile (or expired) is not brought back.
_RENEW = """
local deadline = tonumber(redis.call('TIME')[1]) + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', deadline, ARGV[i + 1])
  redis.call('EXPIRE', key, ARGV[1])
end
return #KEYS
"""


def slot_owner(actor: Actor) -> uuid.UUID:
    """Whose live connections a connection counts among: a user's, or an API client's own (every
    client's user id is the same `NO_USER`; its label is its id)."""
    if actor.kind is ActorKind.API_CLIENT and actor.label is not None:
        try:
            return uuid.UUID(actor.label)
        except ValueError:
            pass
    return actor.user_id


def too_many_connections(limit: int) -> str:
    return f"at most {limit} live connections per user ({LIMIT_NAME})"


@dataclass(eq=False, slots=True)
class Slot:
    """One live connection's place among its user's."""

    user_id: uuid.UUID
    id: str
    shared: bool = False  # counted in Redis too
    released: bool = False


class LiveSlots:
    TTL = 30  # seconds a process's slots outlive it when it dies without releasing them
    CONNECT_TIMEOUT = 1.0
    COMMAND_TIMEOUT = 2.0
    DOWN_PAUSE = 5.0  # after a Redis failure, count locally only for this long
    RENEW_BATCH = 500

    def __init__(self, limit: int, redis_url: str | None = None, *, prefix: str = "quintet:", ttl: int = TTL) -> None:
        self.limit = limit
        self.ttl = ttl
        self._url = redis_url
        self._prefix = prefix + "live:"
        self._local: dict[uuid.UUID, set[Slot]] = {}
        self._redis: Redis | None = None
        self._acquire: AsyncScript | None = None
        self._renew: AsyncScript | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._down_until = 0.0

    async def start(self) -> None:
        if not self._url:
            return
        from redis.asyncio import Redis

        self._redis = Redis.from_url(
            self._url, socket_connect_timeout=self.CONNECT_TIMEOUT, socket_timeout=self.COMMAND_TIMEOUT
        )
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._renew = self._redis.register_script(_RENEW)
        self._renewer = asyncio.create_task(self._renew_forever(), name="live-slots-renewer")

    async def close(self) -> None:
        """Stop renewing and give this process's slots back (a clean shutdown frees them at once)."""
        if self._renewer is not None:
            self._renewer.cancel()
            with suppress(asyncio.CancelledError):
                await self._renewer
        held = [slot for slots in self._local.values() for slot in slots]
        for slot in held:
            await self.release(slot)
        if self._redis is not None:
            await self._redis.aclose()

    def held(self, user_id: uuid.UUID) -> int:
        """The user's slots held in this process."""
        return len(self._local.get(user_id, ()))

    def _key(self, user_id: uuid.UUID) -> str:
        return f"{self._prefix}{user_id}"

    async def acquire(self, user_id: uuid.UUID) -> Slot | None:
        held = self._local.setdefault(user_id, set())
        if len(held) >= self.limit:
            return None
        slot = Slot(user_id, uuid.uuid4().hex)
        held.add(slot)  # before any await: two connections of this process can't both take the last slot
        try:
            if self._acquire is not None and time.monotonic() >= self._down_until:
                taken = await self._redis_call(self._acquire, [self._key(user_id)], [self.limit, slot.id, self.ttl])
                if taken == 0:
                    self._forget(slot)
                    return None
                slot.shared = taken == 1
        except BaseException:
            self._forget(slot)
            raise
        return slot

    async def release(self, slot: Slot) -> None:
        if slot.released:
            return
        slot.released = True
        self._forget(slot)
        if slot.shared and self._redis is not None:
            # On failure the entry expires by itself: it is no longer renewed.
            await self._redis_call(self._redis.zrem, self._key(slot.user_id), slot.id)

    def _forget(self, slot: Slot) -> None:
        held = self._local.get(slot.user_id)
        if held is not None:
            held.discard(slot)
            if not held:
                del self._local[slot.user_id]

    async def _redis_call(self, command: Any, *args: Any) -> Any:
        """The command's reply, or None (logged) when Redis can't be reached."""
        from redis.exceptions import RedisError

        try:
            return await command(*args)
        except (RedisError, OSError, TimeoutError) as exc:
            if time.monotonic() >= self._down_until:
                logger.warning("live connection limit: Redis unreachable (%s); counting per process for now", exc)
            self._down_until = time.monotonic() + self.DOWN_PAUSE
            return None

    async def renew(self) -> None:
        """Push the expiry of this process's shared slots TTL seconds ahead."""
        assert self._renew is not None
        shared = [slot for slots in self._local.values() for slot in slots if slot.shared]
        for start in range(0, len(shared), self.RENEW_BATCH):
            batch = shared[start : start + self.RENEW_BATCH]
            keys = [self._key(slot.user_id) for slot in batch]
            await self._redis_call(self._renew, keys, [self.ttl, *(slot.id for slot in batch)])

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            await self.renew()
