"""GraphQL over Server-Sent Events, for dashboards behind proxies that drop WebSockets.

The graphql-sse protocol's "distinct connections" mode: POST /graphql with
`Accept: text/event-stream` and the usual JSON body opens one stream for one operation. Each
result is an `event: next` whose data is the GraphQL result; `event: complete` ends it (after the
one result of a query or mutation, or when a subscription ends). A `: ping` comment every
SSE_KEEPALIVE_SECONDS keeps proxies from timing the stream out.

Everything the POST endpoint checks applies before the stream opens (JSON only, body limit,
NUL characters, the Authorization header: a bad or expired token is an HTTP 401 with its
reason), and the schema extensions (depth, aliases, tokens, nodes) run on the operation itself.
A stream of a signed-in user takes one of the user's WS_MAX_CONNECTIONS_PER_USER live connections
(shared with WebSockets, see `core.live_slots`) until it ends; over the limit the answer is an
HTTP 429 `TOO_MANY_CONNECTIONS` naming the limit.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from strawberry.http.streaming import SSETransport, merge_stream_with_heartbeat
from strawberry.types.graphql import OperationType

from core.errors import result_payload
from core.http import RequestRefused, _operation_from, authenticate, runtime_of
from core.live_slots import CODE, LIMIT_NAME, Slot, too_many_connections

EVERY_OPERATION = frozenset({OperationType.QUERY, OperationType.MUTATION, OperationType.SUBSCRIPTION})


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


class HeldStream(StreamingResponse):
    """A stream that holds a live-connection slot until it is over, however it ends (completed,
    client gone before or during the body, cancelled): `release` runs once it is."""

    def __init__(
        self, body: AsyncGenerator[str, None], headers: dict[str, str], release: Callable[[], Awaitable[None]]
    ):
        super().__init__(body, headers=headers)
        self.release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.release()


async def graphql_event_stream(request: Request) -> Response:
    runtime = runtime_of(request)
    settings = runtime.settings
    try:
        if request.method != "POST":
            raise RequestRefused(
                405,
                "Open an event stream with POST (Accept: text/event-stream) and a JSON body",
                "METHOD_NOT_ALLOWED",
                {"Allow": "POST"},
            )
        query, variables, operation_name, _ = await _operation_from(request, settings)
        actor = authenticate(runtime.tokens, request.headers.get("authorization"))
    except RequestRefused as refused:
        return refused.response()

    context = runtime.context(request, actor)
    transport = SSETransport(heartbeat_interval=settings.sse_keepalive_seconds)
    mask = not settings.is_dev

    async def events() -> AsyncGenerator[str, None]:
        results = await runtime.schema.stream(
            query,
            variable_values=variables,
            context_value=context,
            operation_name=operation_name,
            allowed_operation_types=EVERY_OPERATION,
        )
        async with aclosing(results):
            async for result in results:
                yield transport.encode_next(result_payload(result, mask=mask), _json)  # type: ignore[arg-type]
        yield transport.encode_complete()

    stream = merge_stream_with_heartbeat(
        events,
        lambda: transport.heartbeat_message(_json),
        interval=transport.heartbeat_interval,
        send_initial_heartbeat=False,
    )
    slot: Slot | None = None
    if actor is not None:
        slot = await runtime.live_slots.acquire(actor.user_id)
        if slot is None:
            limit = runtime.live_slots.limit
            message = f"Too many live connections: {too_many_connections(limit)}"
            return RequestRefused(429, message, CODE, limit=LIMIT_NAME, value=limit).response()

    async def release() -> None:
        if slot is not None:
            await runtime.live_slots.release(slot)

    return HeldStream(stream(), dict(transport.headers), release)
