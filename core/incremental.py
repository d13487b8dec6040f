"""Incremental delivery (`@defer`, `@stream`) over HTTP as `multipart/mixed`, and the payloads
it sends (also over Server-Sent Events, core/sse.py).

graphql-core 3.3 runs the operation (strawberry's `enable_experimental_incremental_execution`):
the initial payload is `{data, errors?, pending: [{id, path, label?}], hasNext: true}`, each
later one `{incremental?: [{id, data | items, subPath?, errors?}], completed?: [{id, errors?}],
pending?, hasNext}`, the last with `hasNext: false`. This is graphql-js 17's format, which Apollo
Client reads with `GraphQL17Alpha9Handler` (it asks for `multipart/mixed;incrementalSpec=v0.2`)
and urql with its defaults. Each payload is one part of the multipart body, framed by strawberry's
`MultipartTransport` (boundary `-`, each part `application/json; charset=utf-8`).

Errors inside deferred payloads are shaped by `ErrorPolicy` like any other (code, masking,
`errorId`). A request that fails before execution (a syntax error, validation, a limit, variables)
is answered as a single JSON response with the status of one (core/http.py), not as a stream.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import orjson
from graphql import InitialIncrementalExecutionResult, SubsequentIncrementalExecutionResult
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from strawberry.http.streaming import MultipartTransport
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from core.accept import MULTIPART, MediaType
from core.context import Actor
from core.errors import result_payload


def stream_payload(result: Any, *, mask: bool) -> dict[str, Any]:
    """One streamed result (of a subscription, a query or mutation, or an incremental payload)
    as the JSON a client receives."""
    if isinstance(result, InitialIncrementalExecutionResult):
        body = result_payload(result, mask=mask)
        body["pending"] = [pending.formatted for pending in result.pending]
        body["hasNext"] = result.has_next
        return body
    if isinstance(result, SubsequentIncrementalExecutionResult):
        # Errors nested in `incremental` and `completed` were shaped by ErrorPolicy.
        return dict(result.formatted)
    return result_payload(result, mask=mask)


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


async def graphql_multipart(
    request: Request,
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    allowed: frozenset[OperationType],
    actor: Actor | None,
    single: MediaType,
) -> Response:
    """The operation's payloads as a `multipart/mixed` body (the request was read and checked by
    the endpoint); a request error is a single response in the `single` media type instead."""
    from core.http import VARY, result_status, runtime_of

    runtime = runtime_of(request)
    mask = not runtime.settings.is_dev
    context = runtime.context(request, actor)
    results = await runtime.schema.stream(
        query,
        variable_values=variables,
        context_value=context,
        operation_name=operation_name,
        allowed_operation_types=allowed,
    )
    # The first payload decides the status: it is the initial one, or the request's error.
    try:
        first = await anext(results)
    except BaseException:
        await results.aclose()
        context.loaders.release()
        raise
    if isinstance(first, PreExecutionError):
        await results.aclose()
        context.loaders.release()
        body = result_payload(first, mask=mask)
        status = result_status(body.get("errors", []), executed="data" in body, media=single)
        return Response(orjson.dumps(body), status_code=status, media_type=single.essence, headers=VARY)

    async def payloads() -> AsyncGenerator[object, None]:
        try:
            yield stream_payload(first, mask=mask)
            async with aclosing(results):
                async for result in results:
                    yield stream_payload(result, mask=mask)
        finally:
            context.loaders.release()

    transport = MultipartTransport()
    headers = {
        "Content-Type": f'{MULTIPART}; boundary="{transport.separator}"',
        "Cache-Control": "no-cache, no-transform",
        "X-Accel-Buffering": "no",
        **VARY,
    }
    return StreamingResponse(transport.stream(payloads, _json)(), headers=headers)
