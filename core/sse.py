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

A signed-in user's subscription joins the shared stream of its user, document and variables
(`core.shared_subscriptions`, the one WebSocket subscribers join too): one execution per event
for all of them, each event encoded once. What such a stream holds while idle is its request's
own task, a member and its slot: no execution, queue or task of its own, and its keep-alive
comments and token expiry come from one timer for every stream of the process (`EventStreams`).
Its token's expiry ends it with the UNAUTHENTICATED / TOKEN_EXPIRED error its own execution would
give, a member that falls `subscriptionQueueSize` events behind ends with SUBSCRIBER_TOO_SLOW, as
over WebSockets. Other operations (queries, mutations, anonymous subscriptions, `@defer`/`@stream`
and the fields that need their own streams, `Product.own_streams`) run on their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http.streaming import SSETransport, merge_stream_with_heartbeat
from strawberry.types.graphql import OperationType

from core.accept import MediaType
from core.context import Actor
from core.http import VARY, RequestRefused, graphql_endpoint, runtime_of
from core.incremental import stream_payload
from core.live_slots import CODE, LIMIT_NAME, Slot, slot_owner, too_many_connections
from core.shared_subscriptions import Outgoing, SharedStreams, StreamMember
from core.ws import subscription_fields

if TYPE_CHECKING:
    from core.runtime import Runtime


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


NEXT = "event: next\ndata: "
COMPLETE = EventStream().encode_complete().encode()
PING = EventStream().heartbeat_message(_json).encode()

TOKEN_EXPIRED = orjson.dumps(
    {
        "data": None,
        "errors": [
            {
                "message": "The access token has expired: subscribe again with a fresh one",
                "extensions": {"code": "UNAUTHENTICATED", "reason": "TOKEN_EXPIRED"},
            }
        ],
    }
).decode()


HEADERS = {**EventStream.headers, **VARY}
#: The same list for every shared stream's response (a list per response is ~0.7 KB).
SHARED_STREAM_HEADERS = [(name.lower().encode(), value.encode()) for name, value in HEADERS.items()]


def _event(message: Outgoing) -> bytes:
    """A shared stream's message as SSE: a result is an `event: next`, its end `event: complete`,
    and a refusal before execution (`error`, which SSE has no event for) its result, then the end."""
    if message.kind == "next":
        assert message.payload is not None
        return _next(message.payload)
    if message.kind == "error":
        assert message.result is not None
        return _next(message.result) + COMPLETE
    return COMPLETE


def _next(payload: str) -> bytes:
    return (NEXT + payload + "\n\n").encode()


def _body(chunk: bytes, *, more: bool) -> Message:
    return {"type": "http.response.body", "body": chunk, "more_body": more}


class EventStreamMember(StreamMember[Message]):
    """A shared stream's subscriber over SSE: each message is one chunk of its response's body,
    the last one (`complete`) ends the body; the request's task only waits for the client to go."""

    __slots__ = ("_send", "connection", "expires_at", "last_sent")

    def __init__(self, connection: HTTPConnection, send: Send, limit: int, expires_at: int | None) -> None:
        super().__init__(limit)
        self.connection = connection
        self._send = send
        self.expires_at = expires_at
        self.last_sent = time.time()

    def _emit(self, message: Outgoing, final: bool) -> None:
        self.last_sent = time.time()
        self._deliver(_body(message.chunk(_event), more=not final))

    def _sending(self, item: Message) -> Coroutine[Any, Any, None]:
        return self._send(item)  # type: ignore[return-value]

    def _end_too_slow(self, result: str) -> None:
        self._deliver(_body(_next(result) + COMPLETE, more=False))

    def end(self, result: str) -> None:
        """`result` and the end of the stream (the token expired)."""
        if not self.ended:
            self._end()
            self._deliver(_body(_next(result) + COMPLETE, more=False))
            if self.stream is not None:
                self.stream.leave(self)

    def beat(self, now: float, keepalive: float) -> None:
        """From the process's timer: the end once the token has expired, else a keep-alive
        comment when nothing was sent for `keepalive` seconds (none while a send waits)."""
        if self.ended:
            return
        if self.expires_at is not None and now >= self.expires_at:
            self.end(TOKEN_EXPIRED)
        elif now - self.last_sent >= keepalive and self._sender is None:
            self.last_sent = now
            self._deliver(_body(PING, more=True))


class EventStreams:
    """This process's SSE members of shared streams: one timer for all their keep-alive comments
    and token expiry (a task, queue or timer per stream would cost each idle stream kilobytes)."""

    def __init__(self, shared: SharedStreams, keepalive: float) -> None:
        self.shared = shared
        self.keepalive = keepalive
        # Token expiry is checked every tick too: at most a second late (a tenth with short keep-alives).
        self.tick = min(max(keepalive / 3, 0.1), 1.0)
        self.members: dict[EventStreamMember, None] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, member: EventStreamMember) -> None:
        self.members[member] = None
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="SSE keep-alive and token expiry")

    def discard(self, member: EventStreamMember) -> None:
        self.members.pop(member, None)

    async def _run(self) -> None:
        while self.members:
            await asyncio.sleep(self.tick)
            now = time.time()
            keepalive = self.keepalive
            for member in list(self.members):
                member.beat(now, keepalive)


class SharedEventStream(Response):
    """The response of a subscription that joins a shared stream: its head, then whatever the
    shared stream and the timer send; the request's task waits for the client to go (or for the
    body's end, after which uvicorn's `receive` answers `http.disconnect` too), then leaves."""

    def __init__(
        self,
        streams: EventStreams,
        request: Request,
        operation: tuple[Actor, str, dict[str, Any] | None, str | None],
        limit: int,
        release: Callable[[], Awaitable[None]],
    ) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = SHARED_STREAM_HEADERS
        self.streams = streams
        self.request = request
        self.operation = operation
        self.limit = limit
        self.release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        member: EventStreamMember | None = None
        streams = self.streams
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            actor, query, variables, operation_name = self.operation
            del self.operation
            member = EventStreamMember(self.request, send, self.limit, actor.expires_at)
            streams.add(member)
            streams.shared.join(member, actor, query, variables, operation_name)
            del actor, query, variables, operation_name
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            if member is not None:
                streams.discard(member)
                if member.stream is not None:
                    member.stream.leave(member)
                member.cancel()
            await self.release()


class EventStreamShortcut:
    """Requests that ask for an event stream (their `Accept` names `text/event-stream`) go
    straight to the GraphQL endpoint, past Starlette's exception middleware and router, as
    WebSockets do (`core.ws.WebSocketShortcut`): their frames stay suspended for as long as a
    stream lasts (~5 KB per idle subscriber), and every event sent went through their two send
    wrappers. Nothing is lost: the endpoint answers whatever escapes it itself
    (`core.http.graphql_endpoint`), and a method the route doesn't allow goes on to the router
    (405) as before. Innermost of the middleware, so that what is outside it sees every request."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = [route for route in routes if isinstance(route, Route) and route.endpoint is graphql_endpoint]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _asks_for_events(scope):
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    response = await graphql_endpoint(Request(scope, receive, send))
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _asks_for_events(scope: Scope) -> bool:
    return any(name == b"accept" and b"text/event-stream" in value.lower() for name, value in scope["headers"])


def _shares(runtime: Runtime, query: str, operation_name: str | None, actor: Actor | None) -> bool:
    """Whether the operation joins a shared stream: a signed-in subscription, as over WebSockets
    (`core.ws`), and without `@defer`/`@stream` (whose payloads a shared stream doesn't carry)."""
    if actor is None or "@defer" in query or "@stream" in query:
        return False
    fields = subscription_fields(query, operation_name, runtime.settings)
    return fields is not None and bool(fields) and not fields & runtime.own_streams


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

    if _shares(runtime, query, operation_name, actor):
        assert actor is not None
        streams: EventStreams = request.app.state.event_streams
        operation = (actor, query, variables, operation_name)
        return SharedEventStream(streams, request, operation, settings.subscription_queue_size, release)

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
    return HeldStream(stream(), HEADERS, release)
