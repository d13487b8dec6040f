"""Cost budgets: a leaky bucket of cost points per actor, as Shopify's Admin API keeps one per app.

Each bucket holds at most `maximum` points and regains `restore_rate` points a second. A request
takes its requested cost (core/limits.py `Demand.cost`) before it runs, and is refused when the
bucket holds less (`THROTTLED`, with when to retry) or when the cost is above the maximum
(`COST_LIMIT_EXCEEDED`: it could never run); once it is answered, what it asked for and did not
get back (shorter lists than its page sizes) is given back.

Buckets live in Redis when `REDIS_URL` is set, shared by every process: one Lua script reads,
refills, takes and writes a bucket atomically. Without Redis, and while Redis fails (retried every
`RETRY_SECONDS`, like the rate limits of core/ratelimit.py), they live in the process's memory.
Refills are computed from the clock the app is given (wall time by default, so that every process
agrees; tests give their own).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from starlette.requests import HTTPConnection
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from core import metrics
from core.context import Actor, ActorKind, Context
from core.limits import Demand, SlicingArgumentsError, coerced_variables, demand_of, slicing_error
from core.ratelimit import client_address
from core.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

logger = logging.getLogger("quintet.budgets")

#: Redis keys of the buckets: <prefix><kind>:<who>.
PREFIX = "quintet:cost:"

# KEYS[1]: the bucket; ARGV: maximum, restore rate (points/s), now (s), amount (> 0: take it if the
# bucket holds as much; < 0: give it back). Returns {taken (0/1), points available after, as text}.
# A bucket never seen is full; it expires once it would be full again.
LEAKY_BUCKET = """
local maximum = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local amount = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'available', 'at')
local available = tonumber(state[1])
local at = tonumber(state[2])
if available == nil or at == nil then
  available = maximum
  at = now
end
if now > at then
  available = math.min(maximum, available + (now - at) * rate)
  at = now
end
local taken = 0
if amount <= available or amount <= 0 then
  available = math.min(maximum, available - amount)
  taken = 1
end
redis.call('HSET', KEYS[1], 'available', tostring(available), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil((maximum - available) / rate * 1000) + 1000)
return {taken, tostring(available)}
"""


@dataclass(frozen=True, slots=True)
class Bucket:
    """The budget of one kind of actor."""

    maximum: int
    restore_rate: int


@dataclass(frozen=True, slots=True)
class Take:
    """What taking `requested` points from a bucket did."""

    taken: bool
    requested: int
    #: Points in the bucket after the take (before it, when refused).
    available: float
    bucket: Bucket

    @property
    def retry_after(self) -> int:
        """Whole seconds until the bucket holds `requested` points (0: it does)."""
        missing = self.requested - self.available
        return 0 if missing <= 0 else max(1, math.ceil(missing / self.bucket.restore_rate))

    def status(self, available: float | None = None) -> dict[str, int]:
        """Shopify's `throttleStatus`."""
        return {
            "maximumAvailable": self.bucket.maximum,
            "currentlyAvailable": int(self.available if available is None else available),
            "restoreRate": self.bucket.restore_rate,
        }


class MemoryBuckets:
    """The buckets of this process alone: the same arithmetic as `LEAKY_BUCKET`."""

    def __init__(self) -> None:
        self.state: dict[str, tuple[float, float]] = {}

    def apply(self, key: str, bucket: Bucket, now: float, amount: int) -> tuple[bool, float]:
        available, at = self.state.get(key, (float(bucket.maximum), now))
        if now > at:
            available, at = min(bucket.maximum, available + (now - at) * bucket.restore_rate), now
        taken = amount <= available or amount <= 0
        if taken:
            available = min(bucket.maximum, available - amount)
        if available >= bucket.maximum:
            self.state.pop(key, None)  # a full bucket is a bucket never seen
        else:
            self.state[key] = (available, at)
        return taken, available


class Budgets:
    """Every actor's bucket: in Redis (`redis_url`), else in this process."""

    #: How long to keep buckets in memory after Redis failed before trying it again.
    RETRY_SECONDS = 5.0
    REDIS_TIMEOUT_SECONDS = 1.0

    def __init__(
        self,
        buckets: dict[str, Bucket],
        redis_url: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        #: By `who` of `key_for`'s kinds: "user", "api_client", "anonymous".
        self.buckets = buckets
        self.clock = clock
        self.memory = MemoryBuckets()
        self.redis: Redis | None = None
        self.script: AsyncScript | None = None
        if redis_url:
            from redis.asyncio import Redis

            self.redis = Redis.from_url(
                redis_url,
                socket_connect_timeout=self.REDIS_TIMEOUT_SECONDS,
                socket_timeout=self.REDIS_TIMEOUT_SECONDS,
            )
            self.script = self.redis.register_script(LEAKY_BUCKET)
        #: While set, Redis failed and is not tried again before this time (of `time.monotonic`).
        self.retry_at: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Callable[[], float] = time.time) -> Budgets:
        kinds = {
            "user": Bucket(settings.cost_user_maximum, settings.cost_user_restore_rate),
            "api_client": Bucket(settings.cost_api_client_maximum, settings.cost_api_client_restore_rate),
            "anonymous": Bucket(settings.cost_anonymous_maximum, settings.cost_anonymous_restore_rate),
        }
        # A maximum of 0 is no budget for that kind.
        return cls(
            {kind: bucket for kind, bucket in kinds.items() if bucket.maximum > 0}, settings.redis_url, clock=clock
        )

    def key_for(self, actor: Actor | None, connection: HTTPConnection) -> tuple[str, Bucket] | None:
        """The bucket a request of `actor` spends: a user's by user id, an API client's by client id,
        an anonymous request's by client address; none for webhooks and the system."""
        if actor is None:
            kind, who = "anonymous", client_address(connection)
        elif actor.kind is ActorKind.USER:
            kind, who = "user", str(actor.user_id)
        elif actor.kind is ActorKind.API_CLIENT:
            kind, who = "api_client", actor.label or ""
        else:
            return None
        bucket = self.buckets.get(kind)
        return None if bucket is None else (f"{PREFIX}{kind}:{who}", bucket)

    async def take(self, key: str, bucket: Bucket, requested: int) -> Take:
        taken, available = await self._apply(key, bucket, requested)
        return Take(taken, requested, available, bucket)

    async def give_back(self, key: str, bucket: Bucket, points: int) -> float:
        """Return `points` to the bucket (never above its maximum); what it then holds."""
        _, available = await self._apply(key, bucket, -points)
        return available

    async def _apply(self, key: str, bucket: Bucket, amount: int) -> tuple[bool, float]:
        now = self.clock()
        script = self.script
        if script is None or (self.retry_at is not None and time.monotonic() < self.retry_at):
            return self.memory.apply(key, bucket, now, amount)
        try:
            taken, available = await script(keys=[key], args=[bucket.maximum, bucket.restore_rate, repr(now), amount])
        except Exception as error:  # noqa: BLE001 - any Redis failure: count in memory meanwhile
            if self.retry_at is None:
                logger.warning(
                    "cost budgets: Redis is unreachable (%s); buckets are kept in this process's memory, "
                    "trying it again every %.0f s",
                    error,
                    self.RETRY_SECONDS,
                )
            self.retry_at = time.monotonic() + self.RETRY_SECONDS
            return self.memory.apply(key, bucket, now, amount)
        if self.retry_at is not None:
            logger.warning("cost budgets: Redis answers again; buckets are shared again")
            self.retry_at = None
        return bool(taken), float(available)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


# ----------------------------------------------------------------------------- one request's charge

THROTTLED = "THROTTLED"
COST_LIMIT_EXCEEDED = "COST_LIMIT_EXCEEDED"


@dataclass
class CostCharge:
    """One request's cost: taken from its actor's bucket before it runs, settled once answered.

    One per request, shared by every context the request builds (a compiled attempt that falls
    back to graphql-core, a query run again after a lost connection), so it is charged once.
    """

    charged: bool = False
    demand: Demand | None = None
    requested: int = 0
    key: str | None = None
    take: Take | None = None
    #: `extensions.cost`, once settled.
    settled: dict[str, Any] | None = None

    async def charge(
        self,
        budgets: Budgets | None,
        actor: Actor | None,
        connection: HTTPConnection,
        demand: Demand,
        values: Mapping[str, Any],
        default_page_size: int,
    ) -> GraphQLError | None:
        """Take the operation's requested cost for these (coerced) values, or the error refusing it."""
        self.charged, self.demand = True, demand
        try:
            self.requested = requested = demand.cost(values, default_page_size)
        except SlicingArgumentsError as error:
            return slicing_error(error)
        found = budgets.key_for(actor, connection) if budgets is not None else None
        if found is None or budgets is None:
            return None
        self.key, bucket = found
        if requested > bucket.maximum:
            # Taking nothing reads what the bucket holds, for `throttleStatus`.
            self.take = Take(False, requested, (await budgets.take(self.key, bucket, 0)).available, bucket)
            metrics.refused(COST_LIMIT_EXCEEDED, "maximumAvailable")
            return GraphQLError(
                f"This operation costs {requested} points, above the {bucket.maximum} that a request may ever "
                "cost; ask for smaller pages (first/last) or fewer nested lists",
                extensions={
                    "code": COST_LIMIT_EXCEEDED,
                    "limit": "maximumAvailable",
                    "value": bucket.maximum,
                    "requested": requested,
                    "maximum": bucket.maximum,
                    "restoreRate": bucket.restore_rate,
                },
            )
        self.take = take = await budgets.take(self.key, bucket, requested)
        if take.taken:
            return None
        metrics.refused(THROTTLED, "costBudget")
        available = int(take.available)
        return GraphQLError(
            f"This operation costs {requested} points and {available} are available, restored at "
            f"{bucket.restore_rate} a second; try again in {take.retry_after} s",
            extensions={
                "code": THROTTLED,
                "requested": requested,
                "available": available,
                "maximum": bucket.maximum,
                "restoreRate": bucket.restore_rate,
                "retryAfter": take.retry_after,
            },
        )

    async def settle(self, budgets: Budgets | None, data: Any, *, actual: int | None = None) -> dict[str, Any] | None:
        """`extensions.cost` for the response's `data` (None when the operation was never charged):
        the actual cost from the lists as returned, and the points asked for but not used given back."""
        if self.settled is not None or not self.charged or self.demand is None:
            return self.settled
        take = self.take
        refused = take is not None and not take.taken
        if refused or data is None:
            actual = 0
        elif actual is not None:
            pass
        elif not self.demand.has_lists:
            actual = self.requested
        else:
            actual = self.demand.actual_cost(data)
        shown: dict[str, Any] = {"requestedQueryCost": self.requested, "actualQueryCost": actual}
        if take is not None and budgets is not None and self.key is not None:
            available = take.available
            unused = self.requested - actual
            if take.taken and unused > 0:
                available = await budgets.give_back(self.key, take.bucket, unused)
            shown["throttleStatus"] = take.status(available)
        self.settled = shown
        return shown

    def settle_text(self, budgets: Budgets | None, text: str) -> Awaitable[dict[str, Any] | None]:
        """`settle` for `data` as JSON text (the one-statement answer): read only when it has lists."""
        demand = self.demand
        actual = None
        if demand is not None and demand.has_lists:
            try:
                actual = demand.actual_cost_of_text(text)
            except ValueError:  # not JSON simdjson reads (never Postgres's): nothing is given back
                logger.exception("cost: the one-statement answer could not be read for its actual cost")
                actual = self.requested
        return self.settle(budgets, True, actual=actual)


class CostLimiter(SchemaExtension):
    """Charges what graphql-core runs (a document's first request, mutations, what the compiled
    paths leave to it, operations over SSE and WebSocket) to its actor's bucket, before it runs,
    and reports `extensions.cost` once it is answered.

    After the validation and `maxNodes`: an operation that is refused by either spends nothing.
    """

    def __init__(self, *, default_page_size: int) -> None:
        self.default_page_size = default_page_size
        self.charge: CostCharge | None = None
        #: Whether the charge is this operation's own (SSE, WebSocket, incremental delivery), not
        #: a single HTTP result's, whose endpoint also charges the compiled paths.
        self.own = False

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        document = execution.graphql_document
        if (
            isinstance(context, Context)
            and document is not None
            and not execution.result
            and execution.operation_type in CHARGED
        ):
            charge = context.cost
            if charge is None:  # SSE, WebSocket and incremental operations: one charge each
                charge = context.cost = CostCharge()
                self.own = True
            self.charge = charge
            if not charge.charged:
                error = await self._charge(charge, context, document)
                if error is not None:
                    execution.result = GraphQLExecutionResult(data=None, errors=[error])
        yield

    async def _charge(self, charge: CostCharge, context: Context[Any], document: Any) -> GraphQLError | None:
        execution = self.execution_context
        schema = execution.schema._schema
        demand = demand_of(schema, document, execution.operation_name)
        if demand is None:
            return None
        values: Mapping[str, Any] = {}
        if demand.operation.variable_definitions:
            coerced = coerced_variables(schema, demand.operation, execution.variables)
            if coerced is None:
                return None  # graphql-core reports them
            values = coerced.coerced
        return await charge.charge(
            context.budgets, context.actor, context.request, demand, values, self.default_page_size
        )

    async def get_results(self) -> dict[str, Any]:
        charge = self.charge
        context = self.execution_context.context
        if charge is None or not isinstance(context, Context):
            return {}
        result = self.execution_context.result
        if self.own and not isinstance(result, (GraphQLExecutionResult, ExecutionResult)):
            # An incremental result's data comes in parts: it is neither settled nor reported
            # (its initial payload would show a cost its later parts change).
            return {}
        # A single result, over HTTP, SSE or WebSocket: what it did not use is given back, and
        # its `next` (or its body) reports the cost.
        data = getattr(result, "data", None) if result is not None else None
        shown = await charge.settle(context.budgets, data)
        return {} if shown is None else {"cost": shown}


CHARGED = frozenset({OperationType.QUERY, OperationType.MUTATION})
