"""Rate-limit counts on a real Redis that goes away and comes back: kept in memory meanwhile,
shared in Redis again once it answers (tried again every `Counters.RETRY_SECONDS`)."""

from __future__ import annotations

import logging
import uuid

import pytest
import redis.asyncio as redis

from core.ratelimit import Counters, RateLimiter
from tests.live.conftest import RedisProcess
from tests.test_ratelimit import Clock, outage_warnings


async def test_counts_move_to_memory_during_an_outage_and_back_to_redis(
    redis_process: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="quintet.ratelimit")
    clock = Clock()
    namespace = f"test-{uuid.uuid4().hex}"
    limiter = RateLimiter(
        limit="10/minute", storage=Counters(f"async+{redis_process.url}", clock=clock), namespace=namespace
    )

    async def stored() -> list[bytes | str]:
        client = redis.from_url(redis_process.url)
        try:
            return list(await client.keys(f"*{namespace}*"))
        finally:
            await client.aclose()

    # Given one request counted in Redis
    await limiter.hit("alice")
    assert await stored()
    # When Redis goes away, then requests are still counted (in memory), and the outage logged
    redis_process.kill()
    await limiter.hit("alice")
    await limiter.hit("alice")
    assert limiter.counters.degraded
    assert await limiter.remaining("alice") == [8]
    assert len(outage_warnings(caplog)) == 1
    # When Redis is back, then after the retry delay the counts are Redis's again
    redis_process.start()
    clock.now += Counters.RETRY_SECONDS
    await limiter.hit("alice")
    assert not limiter.counters.degraded
    # (the restarted server kept nothing: one counted since)
    assert await limiter.remaining("alice") == [9]
    assert await stored()
    assert "answers again" in outage_warnings(caplog)[-1]
