"""Per-user limits on costly requests (AI), with the `limits` library.

Counts live in Redis when `REDIS_URL` is set (shared by every process and server), in the
process's memory otherwise. A moving window: "10/minute" means at most 10 in any 60 seconds.
A refusal is a `RateLimited` error that says, in whole seconds, when the next request fits.
"""

from __future__ import annotations

import math
import time
import uuid

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from core.errors import RateLimited
from core.settings import ConfigurationError, Settings


def storage_uri(redis_url: str | None) -> str:
    return f"async+{redis_url}" if redis_url else "async+memory://"


class RateLimiter:
    """`limit` (e.g. "10/minute;100/day") per identifier, under `namespace`."""

    def __init__(self, *, limit: str, storage: str, namespace: str) -> None:
        try:
            self.items: list[RateLimitItem] = parse_many(limit)
        except ValueError as exc:
            raise ConfigurationError(f"AI_RATE_LIMIT is not a rate limit like '10/minute;100/day': {limit!r}") from exc
        options: dict[str, str | float | bool] = {"implementation": "redispy"} if "redis" in storage else {}
        built = storage_from_string(storage, **options)
        if not isinstance(built, Storage):
            raise ConfigurationError(f"{storage!r} is not an async rate-limit storage")
        self.storage = built
        self.limiter = MovingWindowRateLimiter(built)
        self.limit = limit
        self.namespace = namespace

    @classmethod
    def for_ai(cls, settings: Settings) -> RateLimiter:
        return cls(limit=settings.ai_rate_limit, storage=storage_uri(settings.redis_url), namespace="ai")

    async def hit(self, user_id: uuid.UUID) -> None:
        """Count one request of `user_id`, or refuse it (counting nothing) with `RateLimited`."""
        key = str(user_id)
        for item in self.items:
            if not await self.limiter.test(item, self.namespace, key):
                await self._refuse(item, key)
        for item in self.items:
            # Another request may have taken the last place since the test.
            if not await self.limiter.hit(item, self.namespace, key):
                await self._refuse(item, key)

    async def _refuse(self, item: RateLimitItem, key: str) -> None:
        stats = await self.limiter.get_window_stats(item, self.namespace, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            f"Too many AI requests ({item}); try again in {retry_after} s",
            retry_after_seconds=retry_after,
            limit=str(item),
        )

    async def reset(self, user_id: uuid.UUID) -> None:
        for item in self.items:
            await self.limiter.clear(item, self.namespace, str(user_id))
