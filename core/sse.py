"""GraphQL over Server-Sent Events, for dashboards behind proxies that drop WebSockets.

The graphql-sse protocol's "distinct connections" mode: POST /graphql with
`Accept: text/event-stream` and the usual JSON body opens one stream for one operation. Each
result is an `event: next` whose data is the GraphQL result; `event: complete` ends it (after the
one result of a query or mutation, or when a subscription ends). A `: ping` comment every
SSE_KEEPALIVE_SECONDS keeps proxies from timing the stream out.

Everything the POST endpoint checks applies before the stream opens (JSON only, body limit,
NUL characters, the Authorization header: a bad or expired token is an HTTP 401 with its
reason), and the schema extensions (depth, aliases, tokens, nodes) run on the operation itself.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from strawberry.http.streaming import SSETransport, merge_stream_with_heartbeat
from strawberry.types.graphql import OperationType

from core.context import Context
from core.db import SqlStats
from core.errors import result_payload
from core.http import RequestRefused, _operation_from, authenticate, runtime_of
from loaders import build_loaders

EVERY_OPERATION = frozenset({OperationType.QUERY, OperationType.MUTATION, OperationType.SUBSCRIPTION})


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


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

    context = Context(
        request=request,
        settings=settings,
        engine=runtime.engine,
        sessions=runtime.sessions,
        tokens=runtime.tokens,
        actor=actor,
        loaders=build_loaders(runtime.engine, actor),
        sql=SqlStats(),
        ai_limiter=runtime.ai_limiter,
        auth_limits=runtime.auth_limits,
        bus=runtime.bus,
    )
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
    return StreamingResponse(stream(), headers=dict(transport.headers))
