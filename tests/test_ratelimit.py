"""Rate limits while their storage (Redis) is unreachable: requests are answered and still limited,
counted in the process's memory; the outage is logged once."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest

from core.errors import RateLimited
from core.ratelimit import Counters, RateLimiter
from tests.identity.conftest import new_email
from tests.identity.test_rate_limits import LOGIN, REGISTER, limited_app, new_address
from tests.support import PASSWORD, free_port


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
