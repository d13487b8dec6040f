"""GraphQL over Server-Sent Events, for dashboards behind proxies that drop WebSockets.

The graphql-sse protocol's "distinct connections" mode: a POST (or, for a query or a
subscription, a GET) to /graphql whose `Accept` makes `text/event-stream` the answer (see
core/accept.py: a subscription, `@defer`/`@stream` without `multipart/mixed`, or a client that
accepts no JSON type) opens one stream for one operation. Each result is an `event: next` whose
data is the GraphQL result (with `@defer`/`@stream`, the initial payload and each subsequent one
in graphql-core's incremental format); `event: complete` ends it (after the last result of a query
or mutation, or when a subscription ends). A `: ping` comment every SSE_KEEPALIVE_SECONDS keeps
proxies from timing the stream out. Lines end with `\n` (urql splits events on `\n\n` only).

Everything the endpoint checks applies before the stream opens (core/http.py: JSON only, body
limit, NUL characters, the Authorization header: a bad or expired token is an HTTP 401 with its
reason), and the schema extensions (depth, aliases, tokens, nodes) run on the operation itself.
A stream of a signed-in user takes one of the user's WS_MAX_CONNECTIONS_PER_USER live connections
(shared with WebSockets, see `core.live_slots`) until it ends; over the limit the answer is an
HTTP 429 `TOO_MANY_CONNECTIONS` naming the limit.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from strawberry.http.streaming import SSETransport, merge_stream_with_heartbeat
from strawberry.types.graphql import OperationType

from core.accept import MediaType
from core.context import Actor
from core.http import VARY, RequestRefused, runtime_of
from core.incremental import stream_payload
from core.live_slots import CODE, LIMIT_NAME, Slot, slot_owner, too_many_connections


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


class EventStream(SSETransport):
    """strawberry's SSE framing with `\n` line endings: the SSE spec allows `\r\n` too, but
    urql's parser splits events on `\n\n` only (graphql-sse's and browsers' take either)."""

    def encode_event(self, event: str, data: str | None = None) -> str:
        return super().encode_event(event, data).replace("\r\n", "\n")

    def encode_comment(self, comment: str) -> str:
        return super().encode_comment(comment).replace("\r\n", "\n")


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


async def graphql_event_stream(
    request: Request,
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    allowed: frozenset[OperationType],
    actor: Actor | None,
    refusal_type: MediaType,
) -> Response:
    """The operation's results as an event stream (the request was read and checked by the
    endpoint); `refusal_type` is the media type of an HTTP refusal (too many connections)."""
    runtime = runtime_of(request)
    settings = runtime.settings
    context = runtime.context(request, actor)
    transport = EventStream(heartbeat_interval=settings.sse_keepalive_seconds)
    mask = not settings.is_dev

    async def events() -> AsyncGenerator[str, None]:
        try:
            results = await runtime.schema.stream(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
                allowed_operation_types=allowed,
            )
            async with aclosing(results):
                async for result in results:
                    yield transport.encode_next(stream_payload(result, mask=mask), _json)  # type: ignore[arg-type]
            yield transport.encode_complete()
        finally:
            context.loaders.release()

    stream = merge_stream_with_heartbeat(
        events,
        lambda: transport.heartbeat_message(_json),
        interval=transport.heartbeat_interval,
        send_initial_heartbeat=False,
    )
    slot: Slot | None = None
    if actor is not None:
        slot = await runtime.live_slots.acquire(slot_owner(actor))
        if slot is None:
            limit = runtime.live_slots.limit
            message = f"Too many live connections: {too_many_connections(limit)}"
            return RequestRefused(429, message, CODE, limit=LIMIT_NAME, value=limit).response(refusal_type)

    async def release() -> None:
        if slot is not None:
            await runtime.live_slots.release(slot)

    return HeldStream(stream(), {**transport.headers, **VARY}, release)
