"""Rate limits while their storage (Redis) is unreachable: requests are answered and still limited,
counted in the process's memory; the outage is logged once."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter

from core.errors import RateLimited
from core.ratelimit import Counters, ProcessMemory, RateLimiter
from tests.identity.conftest import new_email
from tests.identity.test_rate_limits import LOGIN, REGISTER, limited_app, new_address
from tests.support import PASSWORD, free_port

T = TypeVar("T")


def closed_redis_url() -> str:
    """A Redis URL on 127.0.0.1 where nothing listens: every connection is refused."""
    return f"redis://127.0.0.1:{free_port()}/0"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def outage_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "quintet.ratelimit" and r.levelno == logging.WARNING]


async def test_an_unreachable_storage_falls_back_to_memory_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="quintet.ratelimit")
    clock = Clock()
    counters = Counters(f"async+{closed_redis_url()}", clock=clock)
    limiter = RateLimiter(limit="2/minute", storage=counters, namespace=f"test-{uuid.uuid4().hex}")
    # Given Redis refusing every connection, when a user is counted, then the counts are kept in memory
    await limiter.hit("alice")
    await limiter.hit("alice")
    assert counters.degraded
    with pytest.raises(RateLimited):
        await limiter.hit("alice")
    # And Redis is tried again after RETRY_SECONDS, still failing: the outage is logged once
    for _ in range(3):
        clock.now += Counters.RETRY_SECONDS
        await limiter.hit(f"bob-{clock.now}")
    [warning] = outage_warnings(caplog)
    assert "unreachable" in warning
    assert "memory" in warning


async def test_mutations_keep_working_while_redis_is_unreachable(
    database_url: str, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="quintet.ratelimit")
    async with limited_app(
        database_url, data_dir, redis_url=closed_redis_url(), auth_rate_limit_per_address="2/minute"
    ) as clients:
        gql = clients.at(new_address())
        email = new_email("outage")
        # Given Redis down (rate limits and the event bus), when an account registers and signs in
        register = await gql(REGISTER, {"i": {"email": email, "password": PASSWORD, "displayName": "Outage"}})
        assert register.data["register"]["errors"] == []
        login = await gql(LOGIN, {"i": {"email": email, "password": PASSWORD}})
        assert login.data["login"]["errors"] == []
        token = login.data["login"]["session"]["accessToken"]
        # And requests an analysis (its job's event after commit cannot be published either)
        query = "mutation { requestInsights(input: {}) { job { id status } errors { code } } }"
        requested = await gql(query, token=token)
        # Then every mutation is answered normally
        assert requested.data["requestInsights"]["errors"] == []
        assert requested.data["requestInsights"]["job"]["status"] == "QUEUED"
        # And the limits still hold, counted in this process: the third attempt from this address is refused
        refused = await gql(LOGIN, {"i": {"email": email, "password": PASSWORD}})
        assert [e["code"] for e in refused.data["login"]["errors"]] == ["RATE_LIMITED"]
    # And the outage was logged, once
    assert len(outage_warnings(caplog)) == 1


class CountingExecutor(ThreadPoolExecutor):
    """The event loop's default executor, counting what is sent to its threads."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def test_in_memory_limits_hop_to_no_thread_however_many_keys() -> None:
    # limits' own sweep of expired entries hopped to a thread once per key, again after every
    # hit: with the sign-in limit's key per address, the event loop did little else.
    executor = CountingExecutor()
    loop = asyncio.new_event_loop()
    loop.set_default_executor(executor)

    async def sign_ins() -> tuple[Counters, RateLimiter]:
        counters = Counters("async+memory://")
        limiter = RateLimiter(limit="3/minute;300/hour", storage=counters, namespace="auth-address")
        # Given 500 addresses that signed in once each, when they sign in again
        for _ in range(2):
            for address in range(500):
                await limiter.hit(f"10.0.{address // 256}.{address % 256}")
            await asyncio.sleep(0)  # what a sweep would have scheduled runs now
        return counters, limiter

    try:
        counters, limiter = loop.run_until_complete(sign_ins())
        # Then nothing was sent to a thread
        assert executor.submitted == 0
        # And each address has two entries per window, and the limit still holds
        assert isinstance(counters.storage, ProcessMemory)
        assert len(counters.storage.events) == 1000
        loop.run_until_complete(limiter.hit("10.0.0.0"))
        with pytest.raises(RateLimited):
            loop.run_until_complete(limiter.hit("10.0.0.0"))
    finally:
        loop.close()
        executor.shutdown()


async def test_the_sweep_drops_expired_entries_and_keys_and_keeps_the_rest() -> None:
    storage = ProcessMemory()
    limiter = MovingWindowRateLimiter(storage)
    item = parse("5/minute")
    for _ in range(3):
        assert await limiter.hit(item, "partly")
    assert await limiter.hit(item, "expired")
    assert await limiter.hit(item, "live")
    partly, expired, live = (item.key_for(name) for name in ("partly", "expired", "live"))
    # Given the two oldest of "partly"'s entries and all of "expired"'s past their window
    past = time.time() - 1
    for entry in [*storage.events[partly][1:], *storage.events[expired]]:
        entry.expiry = past
    # When the sweep runs
    storage.sweep()
    # Then "partly" keeps its newest entry, "expired" is gone, "live" is untouched
    assert len(storage.events[partly]) == 1
    assert expired not in storage.events
    assert len(storage.events[live]) == 1
    # And the window still counts what is left: four more hits of "partly" fit, a fifth does not
    for _ in range(4):
        assert await limiter.hit(item, "partly")
    assert not await limiter.hit(item, "partly")
