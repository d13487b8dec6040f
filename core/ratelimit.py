"""Rate limits on costly requests (AI per user; sign-in and registration per account and per
client address), with the `limits` library.

Counts live in Redis when `REDIS_URL` is set (shared by every process and server), in the
process's memory otherwise. A moving window: "10/minute" means at most 10 in any 60 seconds.
A refusal is a `RateLimited` error that says, in whole seconds, when the next request fits.

While Redis is unreachable the counts are kept in the process's memory (each process then
limits on its own): requests keep being answered and limited. The outage is logged once, the
return of Redis once; Redis is tried again every `Counters.RETRY_SECONDS`.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.util import WindowStats
from starlette.requests import HTTPConnection

from core import metrics
from core.errors import RateLimited
from core.settings import ConfigurationError, Settings

logger = logging.getLogger("quintet.ratelimit")

T = TypeVar("T")


def storage_uri(redis_url: str | None) -> str:
    return f"async+{redis_url}" if redis_url else "async+memory://"


class ProcessMemory(MemoryStorage):
    """limits' in-process storage (`async+memory://`), with its sweep of expired moving-window
    entries made cheap.

    limits' own sweep (5.8) starts again at the first hit after the previous one ended, visits
    every key and, for each, hops to a thread (`asyncio.to_thread`) to find where the expired
    entries start. The sign-in limit per address keeps a key per address for an hour, so a busy
    process holds thousands: its event loop did nothing but these hops (about a hundred per
    sign-in in process, `bench.request_cost --operations login`, BENCHMARKS.md "Login, profiled"),
    and their threads, at the normal CPU priority, took the CPU from the password hashes.

    Here the sweep runs on the event loop itself, at most once every `SWEEP_SECONDS`, with no
    `await` from reading a key's entries to cutting them (so nothing is added in between, and no
    lock is needed: upstream's race, limits#277, cannot happen). A key whose newest entry has
    expired goes whole; otherwise only its expired tail is cut. The entries themselves, and so
    what every limit allows, are limits' own.
    """

    #: How often expired entries are dropped (memory only: an expired entry never counts).
    SWEEP_SECONDS = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.next_sweep = 0.0

    # limits calls its own private `__schedule_expiry` before each count; these are its mangled names.
    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self.next_sweep:
            self.next_sweep = now + self.SWEEP_SECONDS
            self.sweep()

    async def _MemoryStorage__expire_events(self) -> None:
        self.sweep()

    def sweep(self) -> None:
        """Drop every expired entry and counter (synchronously: see the class)."""
        now = time.time()
        for key in list(self.events):
            entries = self.events[key]  # newest first
            if not entries or entries[0].expiry <= now:
                del self.events[key]
                self.locks.pop(key, None)
            elif entries[-1].expiry <= now:
                del entries[bisect.bisect_left(entries, -now, key=lambda entry: -entry.expiry) :]
        for key in [key for key, expires in self.expirations.items() if expires <= now]:
            self.storage.pop(key, None)
            self.expirations.pop(key, None)
            self.locks.pop(key, None)


class Counters:
    """Where the counts live: the configured storage, or this process's memory while it fails."""

    #: How long to count in memory after the storage failed before trying it again.
    RETRY_SECONDS = 5.0
    #: A Redis that stops answering must not hold requests for long.
    REDIS_TIMEOUT_SECONDS = 1.0

    def __init__(self, uri: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        options: dict[str, str | float | bool] = {}
        if "redis" in uri:
            options = {
                "implementation": "redispy",
                "socket_connect_timeout": self.REDIS_TIMEOUT_SECONDS,
                "socket_timeout": self.REDIS_TIMEOUT_SECONDS,
            }
        built = (
            ProcessMemory(uri, wrap_exceptions=True)
            if uri.startswith("async+memory:")
            else storage_from_string(uri, wrap_exceptions=True, **options)
        )
        if not isinstance(built, Storage):
            raise ConfigurationError(f"{uri!r} is not an async rate-limit storage")
        self.uri = uri
        self.storage = built
        self.primary = MovingWindowRateLimiter(built)
        self.fallback = MovingWindowRateLimiter(ProcessMemory())
        self.clock = clock
        #: While set, the storage failed and is not tried again before this time (of `clock`).
        self.retry_at: float | None = None

    @property
    def degraded(self) -> bool:
        return self.retry_at is not None

    async def test(self, item: RateLimitItem, *identifiers: str) -> bool:
        return await self._run(lambda limiter: limiter.test(item, *identifiers))

    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        return await self._run(lambda limiter: limiter.hit(item, *identifiers))

    async def stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        return await self._run(lambda limiter: limiter.get_window_stats(item, *identifiers))

    async def clear(self, item: RateLimitItem, *identifiers: str) -> None:
        await self._run(lambda limiter: limiter.clear(item, *identifiers))

    async def _run(self, operation: Callable[[MovingWindowRateLimiter], Awaitable[T]]) -> T:
        if self.retry_at is not None and self.clock() < self.retry_at:
            return await operation(self.fallback)
        try:
            value = await operation(self.primary)
        except StorageError as exc:
            if self.retry_at is None:
                logger.warning(
                    "rate limits: the storage is unreachable (%s); counting in this process's memory, "
                    "trying it again every %.0f s",
                    exc.storage_error,
                    self.RETRY_SECONDS,
                )
            self.retry_at = self.clock() + self.RETRY_SECONDS
            return await operation(self.fallback)
        if self.retry_at is not None:
            logger.warning("rate limits: the storage answers again; counts are shared again")
            self.retry_at = None
        return value


class RateLimiter:
    """`limit` (e.g. "10/minute;100/day") per key (a user id, an address, an email), under `namespace`."""

    def __init__(
        self,
        *,
        limit: str,
        storage: str | Counters,
        namespace: str,
        setting: str = "AI_RATE_LIMIT",
        subject: str = "AI requests",
    ) -> None:
        try:
            self.items: list[RateLimitItem] = parse_many(limit)
        except ValueError as exc:
            raise ConfigurationError(f"{setting} is not a rate limit like '10/minute;100/day': {limit!r}") from exc
        self.counters = storage if isinstance(storage, Counters) else Counters(storage)
        self.limit = limit
        self.namespace = namespace
        self.subject = subject

    @classmethod
    def for_ai(cls, settings: Settings, counters: Counters | None = None) -> RateLimiter:
        return cls(
            limit=settings.ai_rate_limit, storage=counters or Counters(storage_uri(settings.redis_url)), namespace="ai"
        )

    async def check(self, *key: str | uuid.UUID) -> None:
        """Refuse with `RateLimited` if one more request of `key` would exceed the limit; count nothing."""
        names = [str(part) for part in key]
        for item in self.items:
            if not await self.counters.test(item, self.namespace, *names):
                await self._refuse(item, names)

    async def hit(self, *key: str | uuid.UUID) -> None:
        """Count one request of `key`, or refuse it (counting nothing) with `RateLimited`."""
        await self.check(*key)
        names = [str(part) for part in key]
        for item in self.items:
            # Another request may have taken the last place since the check.
            if not await self.counters.hit(item, self.namespace, *names):
                await self._refuse(item, names)

    async def count(self, *key: str | uuid.UUID) -> None:
        """Count one request of `key` in every window that has room (a failure, after the fact)."""
        names = [str(part) for part in key]
        for item in self.items:
            await self.counters.hit(item, self.namespace, *names)

    async def remaining(self, *key: str | uuid.UUID) -> list[int]:
        """Places left in each window, in the order of `items`."""
        names = [str(part) for part in key]
        return [(await self.counters.stats(item, self.namespace, *names)).remaining for item in self.items]

    async def _refuse(self, item: RateLimitItem, names: list[str]) -> None:
        metrics.refused("RATE_LIMITED", self.namespace)
        stats = await self.counters.stats(item, self.namespace, *names)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            f"Too many {self.subject} ({item}); try again in {retry_after} s",
            retry_after_seconds=retry_after,
            limit=str(item),
        )

    async def reset(self, *key: str | uuid.UUID) -> None:
        names = [str(part) for part in key]
        for item in self.items:
            await self.counters.clear(item, self.namespace, *names)


def client_address(connection: HTTPConnection) -> str:
    """The client's address as the server saw it (behind a proxy, uvicorn takes it from
    X-Forwarded-For when the proxy is in its FORWARDED_ALLOW_IPS). An IPv6 client is counted by
    its /64 network: one host usually holds the whole network."""
    return _counted_address(connection.client.host if connection.client else "")


@functools.lru_cache(maxsize=4096)
def _counted_address(host: str) -> str:
    """`client_address` of a host, kept: parsing the address cost a request more than its token."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class SignInLimits:
    """Limits on `login` and `register`, checked before any password is hashed.

    * every attempt per client address (`AUTH_RATE_LIMIT_PER_ADDRESS`);
    * failed sign-ins per account from one address (`AUTH_RATE_LIMIT_PER_ACCOUNT`), so that an
      attacker elsewhere cannot lock the account's owner out;
    * failed sign-ins per account from every address together (`AUTH_RATE_LIMIT_PER_ACCOUNT_TOTAL`,
      higher), against guessing spread over many addresses.

    A failure is counted once its password was checked; concurrent attempts of one account may
    therefore overshoot its limit by the few that are checked at the same time.
    """

    def __init__(self, settings: Settings, counters: Counters) -> None:
        self.per_address = RateLimiter(
            limit=settings.auth_rate_limit_per_address,
            storage=counters,
            namespace="auth-address",
            setting="AUTH_RATE_LIMIT_PER_ADDRESS",
            subject="sign-in and registration attempts from this address",
        )
        self.per_account = RateLimiter(
            limit=settings.auth_rate_limit_per_account,
            storage=counters,
            namespace="auth-account-address",
            setting="AUTH_RATE_LIMIT_PER_ACCOUNT",
            subject="failed sign-ins to this account",
        )
        self.per_account_total = RateLimiter(
            limit=settings.auth_rate_limit_per_account_total,
            storage=counters,
            namespace="auth-account",
            setting="AUTH_RATE_LIMIT_PER_ACCOUNT_TOTAL",
            subject="failed sign-ins to this account",
        )

    async def attempt(self, *, address: str, account: str | None) -> None:
        """Count an attempt of `address` (on `account`, a normalised email, for a sign-in), or refuse it."""
        if account is not None:
            await self.per_account.check(account, address)
            await self.per_account_total.check(account)
        await self.per_address.hit(address)

    async def failed(self, *, address: str, account: str) -> None:
        await self.per_account.count(account, address)
        await self.per_account_total.count(account)
