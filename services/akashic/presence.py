"""Who is viewing or editing which message of a campaign: heartbeats that expire.

A heartbeat (`heartbeat_presence`: `messages.read` to be VIEWING, `messages.draft` to be EDITING)
keeps the viewer present on a message for `AKASHIC_PRESENCE_TTL_SECONDS`; `leave_presence` ends
it at once. The presences live in a store shared by every process: with Redis (`REDIS_URL`) a hash
per campaign (field `message:user`, the value its state and expiry; the hash itself expires a TTL
after its last heartbeat), otherwise this process's memory (one process, as the in-process bus).

Every heartbeat and leave is published on the campaign's organization channel (topic
`PRESENCE_TOPIC`, ids only): JOINED (new, or back after expiring), UPDATED (viewing ↔ editing),
REFRESHED (the same again: only the expiry moved), LEFT. Expiry needs no event of its own: every
subscriber knows each presence's expiry from the list it started with and the events since, and
announces EXPIRED itself when one passes with no heartbeat, so expiry reaches every process
without a sweeper and without Redis keyspace notifications.
"""

from __future__ import annotations

import time
import uuid
import weakref
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from core.access import authorize, requires
from core.context import Actor
from core.events import EventBus, organization_channel, publish_after_commit
from models.akashic import Message
from services.akashic import MESSAGES_DRAFT, MESSAGES_READ

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: The topic of presence events on a campaign's organization channel.
PRESENCE_TOPIC = "akashic.presence"


class PresenceState(StrEnum):
    VIEWING = "VIEWING"
    EDITING = "EDITING"


class PresenceChange(StrEnum):
    JOINED = "JOINED"
    UPDATED = "UPDATED"
    REFRESHED = "REFRESHED"
    LEFT = "LEFT"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class Presence:
    """One user on one message: what they do, and until when (Unix time)."""

    message_id: uuid.UUID
    user_id: uuid.UUID
    state: PresenceState
    expires_at: float

    @property
    def key(self) -> tuple[uuid.UUID, uuid.UUID]:
        return self.message_id, self.user_id

    def alive(self, now: float) -> bool:
        return self.expires_at > now

    def dump(self) -> dict[str, Any]:
        return {
            "message": str(self.message_id),
            "user": str(self.user_id),
            "state": self.state.value,
            "expires_at": self.expires_at,
        }

    @classmethod
    def load(cls, value: dict[str, Any]) -> Presence:
        return cls(
            uuid.UUID(value["message"]),
            uuid.UUID(value["user"]),
            PresenceState(value["state"]),
            float(value["expires_at"]),
        )


class PresenceStore(Protocol):
    async def put(self, campaign_id: uuid.UUID, presence: Presence, ttl: float) -> Presence | None:
        """Store `presence`; the one it replaced, if any (expired or not)."""

    async def remove(self, campaign_id: uuid.UUID, message_id: uuid.UUID, user_id: uuid.UUID) -> Presence | None: ...

    async def present(self, campaign_id: uuid.UUID) -> list[Presence]:
        """The campaign's presences that have not expired."""

    async def close(self) -> None: ...


class MemoryPresence:
    """One process's presences (no Redis)."""

    def __init__(self) -> None:
        self._campaigns: dict[uuid.UUID, dict[tuple[uuid.UUID, uuid.UUID], Presence]] = {}

    async def put(self, campaign_id: uuid.UUID, presence: Presence, ttl: float) -> Presence | None:
        entries = self._campaigns.setdefault(campaign_id, {})
        previous = entries.get(presence.key)
        entries[presence.key] = presence
        return previous

    async def remove(self, campaign_id: uuid.UUID, message_id: uuid.UUID, user_id: uuid.UUID) -> Presence | None:
        return self._campaigns.get(campaign_id, {}).pop((message_id, user_id), None)

    async def present(self, campaign_id: uuid.UUID) -> list[Presence]:
        now = time.time()
        entries = self._campaigns.get(campaign_id, {})
        for key in [key for key, p in entries.items() if not p.alive(now)]:
            del entries[key]
        return list(entries.values())

    async def close(self) -> None:
        self._campaigns.clear()


class RedisPresence:
    """Every process's presences: a Redis hash per campaign."""

    def __init__(self, url: str, *, prefix: str = "quintet:akashic:presence:") -> None:
        from redis.asyncio import Redis

        self._redis: Redis = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        self._prefix = prefix

    def _key(self, campaign_id: uuid.UUID) -> str:
        return f"{self._prefix}{campaign_id}"

    @staticmethod
    def _field(message_id: uuid.UUID, user_id: uuid.UUID) -> str:
        return f"{message_id}:{user_id}"

    async def put(self, campaign_id: uuid.UUID, presence: Presence, ttl: float) -> Presence | None:
        key, field = self._key(campaign_id), self._field(*presence.key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(key, field)
            pipe.hset(key, field, orjson.dumps(presence.dump()))
            pipe.expire(key, max(1, int(ttl) + 1))
            previous, _, _ = await pipe.execute()
        return None if previous is None else Presence.load(orjson.loads(previous))

    async def remove(self, campaign_id: uuid.UUID, message_id: uuid.UUID, user_id: uuid.UUID) -> Presence | None:
        key, field = self._key(campaign_id), self._field(message_id, user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(key, field)
            pipe.hdel(key, field)
            previous, _ = await pipe.execute()
        return None if previous is None else Presence.load(orjson.loads(previous))

    async def present(self, campaign_id: uuid.UUID) -> list[Presence]:
        now = time.time()
        entries = [Presence.load(orjson.loads(v)) for v in (await self._redis.hgetall(self._key(campaign_id))).values()]
        gone = [self._field(*p.key) for p in entries if not p.alive(now)]
        if gone:
            await self._redis.hdel(self._key(campaign_id), *gone)
        return [p for p in entries if p.alive(now)]

    async def close(self) -> None:
        await self._redis.aclose()


_stores: weakref.WeakKeyDictionary[Any, PresenceStore] = weakref.WeakKeyDictionary()


def store_for(bus: EventBus, redis_url: str | None) -> PresenceStore:
    """The presence store of the app whose bus is `bus`: in Redis when the app has it."""
    store = _stores.get(bus)
    if store is None:
        store = _stores[bus] = RedisPresence(redis_url) if redis_url else MemoryPresence()
    return store


def event(campaign_id: uuid.UUID, presence: Presence, change: PresenceChange) -> dict[str, Any]:
    return {"topic": PRESENCE_TOPIC, "organization": str(campaign_id), "change": change.value, **presence.dump()}


@requires(MESSAGES_READ, organization="message_id", via=Message, field="messageId", noun="message")
async def heartbeat_presence(
    session: AsyncSession,
    *,
    actor: Actor,
    store: PresenceStore,
    ttl: float,
    message_id: uuid.UUID,
    state: PresenceState,
) -> tuple[Message, Presence]:
    """The viewer is on the message (viewing, or editing with `messages.draft`) for `ttl` seconds."""
    if state is PresenceState.EDITING:
        await authorize(session, actor, MESSAGES_DRAFT, message_id, field="state", via=Message, noun="message")
    message = await session.get_one(Message, message_id)
    presence = Presence(message_id, actor.user_id, state, time.time() + ttl)
    previous = await store.put(message.organization_id, presence, ttl)
    if previous is None or not previous.alive(time.time()):
        change = PresenceChange.JOINED
    elif previous.state is not state:
        change = PresenceChange.UPDATED
    else:
        change = PresenceChange.REFRESHED
    publish_after_commit(
        session, organization_channel(message.organization_id), event(message.organization_id, presence, change)
    )
    return message, presence


@requires(MESSAGES_READ, organization="message_id", via=Message, field="messageId", noun="message")
async def leave_presence(
    session: AsyncSession, *, actor: Actor, store: PresenceStore, message_id: uuid.UUID
) -> Message:
    """The viewer left the message (nothing happens when they were not on it)."""
    message = await session.get_one(Message, message_id)
    previous = await store.remove(message.organization_id, message_id, actor.user_id)
    if previous is not None and previous.alive(time.time()):
        publish_after_commit(
            session,
            organization_channel(message.organization_id),
            event(message.organization_id, previous, PresenceChange.LEFT),
        )
    return message
