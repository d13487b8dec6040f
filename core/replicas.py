"""Reads from a streaming replica (DATABASE_REPLICA_URL), each actor still reading its own writes.

    routing = ReadRouting(primary, replica, marks_for(settings))   # the lifespan; `await close()`
    engine = await routing.engine_for(actor)     # a query's reads: the replica, or the primary
    await routing.wrote(keys)                    # after a mutation committed (its actor, ...)

**What goes where.** Mutations, and every read of a request that runs one, use the primary (a
root mutation field switches its request over before it runs: `Context.read_primary`). A query
reads from the replica unless its actor committed something the replica hasn't replayed yet.
Live subscriptions, SSE and incremental delivery read from the primary: a subscriber re-reads on
an event published right after the commit that caused it, which a replica may not have replayed
yet (an event carries no position). Background jobs use the primary too: they work on rows the
transaction that enqueued them has just written.

**Read-your-writes, per actor and across processes.** After a mutation commits, the primary's
WAL insert position (`pg_current_wal_insert_lsn()`, past the commit's record) is kept as the
actor's *mark*: in Redis when REDIS_URL is set (so that whichever process serves the actor's
next request sees it), else in this process. A query of an actor with a mark reads from the
replica only once `pg_last_wal_replay_lsn()` there has reached it; otherwise from the primary.
The replica's position is remembered per process and asked again only when a mark is past it
(one ask at a time), so a reader without a recent write costs no extra round trip, and a recent
writer one to Redis and at most one to the replica. Marks expire after
READ_YOUR_WRITES_SECONDS: a replica further behind than that can show an actor stale data.

Why positions rather than a fixed window after each write: a window is either long (the writer
loads the primary for seconds after every write) or wrong (a replica that lags longer, under a
vacuum or a long query, serves the writer stale rows). The position is exact and costs one
`SELECT` on the primary per mutation.

**A replica that falls behind** by more than DATABASE_REPLICA_MAX_LAG_SECONDS serves nobody until
it has caught up: every process samples the primary's WAL position a few times per that period
and compares the replica's replay position with the sample taken that long ago (an idle primary
writes nothing, so a replica with nothing to replay is never "behind"). This bounds how stale
anyone's reads can be, writers' or not, and catches a replica that stopped replaying while it
still accepts connections.

**A replica that fails** (refused, lost, unanswered) is left alone for
DATABASE_REPLICA_RETRY_SECONDS: the request that met the failure runs again on the primary
(core/http.py runs a query that lost its connection once more) and others go there meanwhile.
Redis failing sends reads to the primary (no mark can be read), never to a possibly stale replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterable
from contextlib import suppress
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from core.context import Actor, ActorKind
from core.db import lost_connection, reader

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

    from core.settings import Settings

logger = logging.getLogger("quintet.replicas")


def parse_lsn(text: str) -> int:
    """Postgres's `16/B374D848` form of a WAL position as a number."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def user_mark(user_id: uuid.UUID) -> str:
    """The mark of a user's writes (also of a new account, written before it was anyone's actor)."""
    return f"user:{user_id}"


def mark_key(actor: Actor) -> str | None:
    """Whose writes a mark stands for: a user, or an API client of an organization (one mark for
    all of its requests). Webhooks and the system read nothing through queries."""
    if actor.kind is ActorKind.USER:
        return user_mark(actor.user_id)
    if actor.kind is ActorKind.API_CLIENT:
        return f"client:{actor.organization_id}:{actor.label}"
    return None


class Marks(Protocol):
    """Where the actors' marks are kept (positions as numbers, each kept `ttl` seconds)."""

    async def get(self, key: str) -> int | None: ...

    async def raise_to(self, keys: Iterable[str], lsn: int) -> None:
        """Each key's mark becomes `lsn` unless it is past it already."""

    async def close(self) -> None: ...


class LocalMarks:
    """Marks in this process's memory (one process, or no Redis): the newest `size` kept."""

    def __init__(self, ttl: float, size: int = 100_000) -> None:
        self.ttl = ttl
        self.size = size
        self._marks: OrderedDict[str, tuple[int, float]] = OrderedDict()

    async def get(self, key: str) -> int | None:
        found = self._marks.get(key)
        if found is None:
            return None
        lsn, expires = found
        if time.monotonic() >= expires:
            del self._marks[key]
            return None
        return lsn

    async def raise_to(self, keys: Iterable[str], lsn: int) -> None:
        expires = time.monotonic() + self.ttl
        for key in keys:
            known = self._marks.pop(key, None)
            self._marks[key] = (max(lsn, known[0]) if known else lsn, expires)
        while len(self._marks) > self.size:
            self._marks.popitem(last=False)

    async def close(self) -> None:
        self._marks.clear()


#: Keep the larger of two marks: positions as 16 hex digits compare as strings.
_RAISE = """
for i, key in ipairs(KEYS) do
  local known = redis.call('GET', key)
  if (not known) or known < ARGV[1] then
    redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
  else
    redis.call('EXPIRE', key, ARGV[2])
  end
end
return 1
"""


class RedisMarks:
    """Marks in Redis, seen by every process of the deployment."""

    CONNECT_TIMEOUT = 1.0
    COMMAND_TIMEOUT = 1.0

    def __init__(self, url: str, ttl: float, *, prefix: str = "quintet:reads:") -> None:
        from redis.asyncio import Redis

        self.ttl = ttl
        self._prefix = prefix
        self._redis: Redis = Redis.from_url(
            url, socket_connect_timeout=self.CONNECT_TIMEOUT, socket_timeout=self.COMMAND_TIMEOUT
        )
        self._raise: AsyncScript = self._redis.register_script(_RAISE)

    async def get(self, key: str) -> int | None:
        value = await self._redis.get(self._prefix + key)
        return int(value, 16) if value is not None else None

    async def raise_to(self, keys: Iterable[str], lsn: int) -> None:
        names = [self._prefix + key for key in keys]
        if names:
            await self._raise(keys=names, args=[f"{lsn:016x}", max(1, round(self.ttl))])

    async def close(self) -> None:
        await self._redis.aclose()


def marks_for(settings: Settings) -> Marks:
    ttl = settings.read_your_writes_seconds
    return RedisMarks(settings.redis_url, ttl) if settings.redis_url else LocalMarks(ttl)


class ReadRouting:
    """Which engine a request reads from (see the module). Without a replica, always the primary."""

    def __init__(
        self,
        primary: AsyncEngine,
        replica: AsyncEngine | None,
        marks: Marks,
        *,
        retry_seconds: float = 5.0,
        max_lag_seconds: float = 10.0,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.marks = marks
        self.retry_seconds = retry_seconds
        self.max_lag_seconds = max_lag_seconds
        #: the replica's replay position when last asked (it only grows)
        self.replayed = 0
        #: the replica is further behind than `max_lag_seconds`
        self.lagging = False
        self._asking: asyncio.Task[int] | None = None
        self._down_until = 0.0
        self._marks_down_until = 0.0
        #: (when, the primary's position then), oldest first
        self._samples: deque[tuple[float, int]] = deque()
        self._watch: asyncio.Task[None] | None = None

    @property
    def replica_usable(self) -> bool:
        return self.replica is not None and not self.lagging and time.monotonic() >= self._down_until

    def start(self) -> None:
        """Watch the replica's lag in the background (the app's lifespan; `close` stops it)."""
        if self.replica is not None and self._watch is None:
            self._watch = asyncio.create_task(self._watch_lag(), name="watch the read replica's lag")

    async def _watch_lag(self) -> None:
        while True:
            try:
                await self.check_lag()
            except Exception as error:  # noqa: BLE001 - the watch goes on; a lost replica is left alone
                if not (self.replica is not None and self.failed(self.replica, error)):
                    logger.warning("could not compare the replica's position with the primary's: %r", error)
            await asyncio.sleep(self.max_lag_seconds / 4)

    async def check_lag(self) -> bool:
        """Sample the primary's position, ask the replica's, and say whether the replica is further
        behind than `max_lag_seconds` (then reads go to the primary until it has caught up)."""
        now = time.monotonic()
        self._samples.append((now, await self._primary_position()))
        replayed = await self._replay_position()
        due: tuple[float, int] | None = None
        while self._samples and now - self._samples[0][0] >= self.max_lag_seconds:
            due = self._samples.popleft()
        if due is not None:
            self._samples.appendleft(due)  # the reference until a newer sample is as old
        lagging = due is not None and replayed < due[1]
        if lagging != self.lagging:
            if lagging:
                logger.warning(
                    "the read replica is more than %gs behind the primary: reading from the primary",
                    self.max_lag_seconds,
                )
            else:
                logger.info("the read replica has caught up: queries read from it again")
        self.lagging = lagging
        return lagging

    async def engine_for(self, actor: Actor | None) -> AsyncEngine:
        """The replica when it is up and has replayed the actor's last write; else the primary."""
        replica = self.replica
        if replica is None or not self.replica_usable:
            return self.primary
        key = mark_key(actor) if actor is not None else None
        if key is None:
            return replica
        if time.monotonic() < self._marks_down_until:
            return self.primary
        try:
            mark = await self.marks.get(key)
        except Exception as error:  # noqa: BLE001 - no mark readable: the primary is never stale
            logger.warning(
                "read-your-writes marks unreadable (%r): signed-in queries read from the primary for %gs",
                error,
                self.retry_seconds,
            )
            self._marks_down_until = time.monotonic() + self.retry_seconds
            return self.primary
        if mark is None or mark <= self.replayed:
            return replica
        try:
            replayed = await self._replay_position()
        except Exception as error:
            if not lost_connection(error):
                raise
            self.failed(replica, error)
            return self.primary
        return replica if replayed >= mark else self.primary

    async def _replay_position(self) -> int:
        """The replica's replay position now; concurrent callers share one question."""
        asking = self._asking
        if asking is None:
            asking = self._asking = asyncio.ensure_future(self._ask_replica())
            asking.add_done_callback(self._asked)
        return await asyncio.shield(asking)

    def _asked(self, task: asyncio.Task[int]) -> None:
        self._asking = None
        if not task.cancelled() and task.exception() is None:
            self.replayed = max(self.replayed, task.result())

    async def _ask_replica(self) -> int:
        assert self.replica is not None
        async with reader(self.replica).connect() as conn:
            text = (await conn.execute(sa.text("SELECT pg_last_wal_replay_lsn()::text"))).scalar()
        # NULL: not a standby (a primary given as the replica): whatever it has is current.
        return parse_lsn(text) if text else 1 << 64

    async def wrote(self, keys: Iterable[str]) -> None:
        """After a commit by these actors (marks): their next reads wait for the replica to have it.

        A failure is logged, never the mutation's error: its work is committed."""
        keys = list(keys)
        if self.replica is None or not keys:
            return
        try:
            await self.marks.raise_to(keys, await self._primary_position())
        except Exception:
            logger.exception("could not keep the position of a commit: the writer may read a stale replica")

    async def _primary_position(self) -> int:
        async with reader(self.primary).connect() as conn:
            text = (await conn.execute(sa.text("SELECT pg_current_wal_insert_lsn()::text"))).scalar_one()
        return parse_lsn(text)

    def failed(self, engine: AsyncEngine, error: BaseException) -> bool:
        """After `error` on `engine`: whether it was the replica, lost (then left alone for a while)."""
        if self.replica is None or engine is not self.replica or not lost_connection(error):
            return False
        if self.replica_usable:
            logger.warning("the read replica failed (%r): reading from the primary for %gs", error, self.retry_seconds)
        self._down_until = time.monotonic() + self.retry_seconds
        return True

    async def close(self) -> None:
        for task in (self._watch, self._asking):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError, Exception):  # its failure was reported already
                    await task
        await self.marks.close()
