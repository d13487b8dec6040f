"""The GraphQL HTTP endpoint, JWKS and health checks.

Operations travel as `application/json` POST (so that a browser form can't forge one) or,
for queries (and subscriptions over Server-Sent Events) only, as GET. The answer's media type is
negotiated from `Accept` (core/accept.py): one result as `application/json` or
`application/graphql-response+json`, a subscription as `text/event-stream` (core/sse.py), a query
with `@defer`/`@stream` as `multipart/mixed` or `text/event-stream` (core/incremental.py). Every
refusal is a GraphQL error response whose `extensions` name the limit that was hit and its value.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
import orjson
import sqlalchemy as sa
from graphql import GraphQLError, get_operation_ast, parse, print_ast
from graphql import OperationType as GraphQLOperationType
from graphql.execution.values import VariableValues
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from core.accept import (
    EVENT_STREAM,
    GRAPHQL_RESPONSE,
    OFFERS,
    SINGLE_RESULT_TYPES,
    Accept,
    Delivery,
    MediaType,
    defers,
    inspect_operation,
    not_acceptable_message,
)
from core.api_keys import InvalidApiKey, is_api_key
from core.budgets import THROTTLED, CostCharge
from core.context import Actor, Context
from core.db import DatabaseUnavailable, SqlStats, current_sql_stats, lost_connection
from core.documents import (
    DocumentParams,
    DocumentRefused,
    RequestDocument,
    elapsed_ms,
    execute_prepared,
    resolve_document,
)
from core.errors import shape_error
from core.fastpath import Plan, PlanCache, run_mutation_plan, run_plan
from core.graphiql import graphiql_page
from core.jobs import QueueWatch, queue_health
from core.limits import coerced_variables, node_count
from core.observability import COMPILED, GRAPHQL_CORE, ONE_STATEMENT, note_refusal, request_record
from core.persisted import PersistedQueryRefused
from core.ratelimit import client_address
from core.runtime import Runtime
from core.scopes import CODE, InsufficientScope, check_scopes
from core.security import InvalidAccessToken, TokenService
from core.settings import Settings
from core.sqljson import NO_VARIABLES, NO_VIEWER, REFUSED, VARIABLES, Fallback, SqlPlan, SqlUnsupported, compile_sql
from core.tracing import compiled_span

logger = logging.getLogger("quintet.http")

JSON = "application/json"
QUERY_ONLY = frozenset({OperationType.QUERY})
ANY_OPERATION = frozenset({OperationType.QUERY, OperationType.MUTATION})
#: What an event stream may run: a GET stream reads (queries, subscriptions), never writes.
STREAMED_BY_GET = frozenset({OperationType.QUERY, OperationType.SUBSCRIPTION})
STREAMED_BY_POST = frozenset({OperationType.QUERY, OperationType.MUTATION, OperationType.SUBSCRIPTION})
INTERNAL_ERROR = "INTERNAL_SERVER_ERROR"
#: The answer depends on Accept: a cache must not serve one client's media type to another.
VARY = {"Vary": "Accept"}


class RequestRefused(Exception):
    def __init__(self, status: int, message: str, code: str, headers: dict[str, str] | None = None, **details: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.details = details

    def response(self, media_type: MediaType | None = None) -> Response:
        """The refusal as a GraphQL response, in the negotiated single-result media type."""
        note_refusal(self.code, self.details.get("limit"))  # for the request's log line and metrics
        body = {"errors": [{"message": self.message, "extensions": {"code": self.code, **self.details}}]}
        return Response(
            orjson.dumps(body),
            status_code=self.status,
            media_type=media_type.essence if media_type is not None else JSON,
            headers=self.headers,
        )


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = RequestRefused(
        413,
        f"Request body is larger than the limit of {limit} bytes",
        "REQUEST_TOO_LARGE",
        limit="maxBodyBytes",
        value=limit,
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _bad_request(message: str) -> RequestRefused:
    return RequestRefused(400, message, "BAD_REQUEST")


def _parse_params(
    data: Any, *, may_hold_nul: bool = True
) -> tuple[DocumentParams, dict[str, Any] | None, str | None, dict[str, Any] | None]:
    """The document (`query`, `documentId` or Apollo's `sha256Hash`), `variables` and
    `operationName` of a request, checked; `may_hold_nul` False when the JSON text they came from
    has no escaped NUL (`\\u0000`), the only way JSON writes one."""
    if not isinstance(data, dict):
        raise _bad_request("The body must be one JSON object with `query` (batches are not accepted)")
    query = data.get("query")
    document_id = data.get("documentId")
    extensions = data.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise _bad_request("`extensions` must be a JSON object")
    sha256_hash = _persisted_query_hash(extensions)
    if query == "" and (sha256_hash is not None or document_id is not None):
        query = None  # urql's graphql-ws set-up sends `query: ""` with a hash: the hash names it
    if document_id is not None:
        if not isinstance(document_id, str) or not document_id:
            raise _bad_request("`documentId` must be a non-empty string")
        if query is not None:
            raise _bad_request("Send `query` or `documentId`, not both")
    elif sha256_hash is None and (not isinstance(query, str) or not query.strip()):
        raise _bad_request("`query` must be a non-empty string")
    if query is not None and (not isinstance(query, str) or not query.strip()):
        raise _bad_request("`query` must be a non-empty string")
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise _bad_request("`variables` must be a JSON object")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise _bad_request("`operationName` must be a string")
    if operation_name == "" and document_id is not None:
        operation_name = None  # the appendix: an empty operationName is an omitted one
    text = query or ""
    if "\x00" in text or "\\u0000" in text or (may_hold_nul and _has_nul(variables)):
        raise RequestRefused(
            400,
            "Text must not contain the NUL character (U+0000): Postgres cannot store it",
            "BAD_USER_INPUT",
        )
    return DocumentParams(query, document_id, sha256_hash), variables, operation_name, extensions


def _persisted_query_hash(extensions: dict[str, Any] | None) -> str | None:
    """Apollo's `extensions.persistedQuery.sha256Hash` (version 1), if the request has one."""
    persisted = (extensions or {}).get("persistedQuery")
    if not isinstance(persisted, dict):
        return None
    value = persisted.get("sha256Hash")
    if not isinstance(value, str) or re.fullmatch(r"[0-9a-f]{64}", value) is None:
        raise _bad_request("`extensions.persistedQuery.sha256Hash` must be 64 lower-case hex digits")
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


async def _operation_from(
    request: Request, settings: Settings
) -> tuple[DocumentParams, dict[str, Any] | None, str | None, dict[str, Any] | None, frozenset[OperationType]]:
    """A request's document parameters, variables, operation name, extensions and the operation
    types its method allows (GET: queries), checked."""
    record = request_record()  # the request's log line and metrics name its operation
    if request.method == "GET":
        params = request.query_params
        decoded: dict[str, Any] = {"query": params.get("query"), "operationName": params.get("operationName")}
        if "documentId" in params:
            decoded["documentId"] = params["documentId"]
        for name in ("variables", "extensions"):
            if params.get(name):
                try:
                    decoded[name] = orjson.loads(params[name])
                except orjson.JSONDecodeError as exc:
                    raise _bad_request(f"`{name}` is not valid JSON") from exc
        document, variables, operation_name, extensions = _parse_params(decoded)
        record.query, record.operation_name = document.query, operation_name
        return document, variables, operation_name, extensions, QUERY_ONLY
    if request.method != "POST":
        raise RequestRefused(
            405, "Send operations with POST (or queries with GET)", "METHOD_NOT_ALLOWED", {"Allow": "GET, POST"}
        )
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != JSON:
        raise RequestRefused(
            415,
            f"Content-Type must be {JSON} (got {content_type or 'none'}); form and multipart posts are refused",
            "UNSUPPORTED_CONTENT_TYPE",
            limit="contentType",
            value=JSON,
        )
    body = await _read_body(request, settings.max_body_bytes)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _bad_request("The body is not valid JSON") from exc
    document, variables, operation_name, extensions = _parse_params(data, may_hold_nul=b"\\u0000" in body)
    record.query, record.operation_name = document.query, operation_name
    return document, variables, operation_name, extensions, ANY_OPERATION


async def request_document(
    runtime: Runtime,
    params: DocumentParams,
    actor: Actor | None,
    *,
    extensions: dict[str, Any] | None,
    operation_name: str | None,
    address: str,
    single: MediaType | None,
) -> RequestDocument:
    """The one place a request's parameters become the document it runs, with what was prepared
    for it (a trusted document's AST and plans) and its origin (core/documents.py): a trusted
    document by `documentId` or `sha256Hash` first, else an automatic persisted query's
    (core/persisted.py), else the text sent; refusals as `RequestRefused`."""

    async def automatic(query: str | None) -> str:
        try:
            text = await runtime.persisted.document(query, extensions, operation_name, address)
        except PersistedQueryRefused as refused:
            status = refused.status if single == GRAPHQL_RESPONSE else refused.json_status
            raise RequestRefused(status, refused.message, refused.code, **refused.details) from refused
        assert text is not None  # a hash is given: the store answers it or refuses
        return text

    try:
        return await resolve_document(
            params,
            actor,
            runtime.documents,
            users_trusted_only=runtime.settings.user_documents == "trusted",
            automatic=automatic,
        )
    except DocumentRefused as refused:
        raise RequestRefused(refused.status, refused.message, refused.code, **refused.details) from refused


def _delivery_of(
    document: RequestDocument, operation_name: str | None, variables: dict[str, Any] | None, settings: Settings
) -> tuple[Delivery, GraphQLOperationType | None]:
    """How the results travel and the operation's type: a trusted document's from its AST (no parse)."""
    trusted = document.trusted
    if trusted is None or trusted.document is None:
        return inspect_operation(document.query, operation_name, variables, settings.max_tokens, always=False)
    kind = trusted.operation(operation_name)
    if kind is GraphQLOperationType.SUBSCRIPTION:
        return Delivery.SUBSCRIPTION, kind
    operation = get_operation_ast(trusted.document, operation_name) if trusted.may_defer else None
    if operation is not None and defers(trusted.document, operation, variables or {}):
        return Delivery.INCREMENTAL, kind
    return Delivery.SINGLE, kind


def authenticate(tokens: TokenService, authorization: str | None) -> Actor | None:
    """The actor behind a `Bearer` token; no header means anonymous, a bad token is refused."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RequestRefused(
            401,
            "Authorization must be `Bearer <access token>`",
            "UNAUTHENTICATED",
            {"WWW-Authenticate": 'Bearer error="invalid_request"'},
            reason="AUTHORIZATION_MALFORMED",
        )
    try:
        claims = tokens.verify(token.strip())
    except InvalidAccessToken as exc:
        raise RequestRefused(
            401,
            exc.message,
            "UNAUTHENTICATED",
            {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.message}"'},
            reason=exc.problem.value,
        ) from exc
    return Actor(user_id=claims.user_id, role=claims.role, expires_at=claims.expires_at)


async def authenticate_request(runtime: Runtime, authorization: str | None, api_key_header: str | None) -> Actor | None:
    """The actor of a request: an API client for `Authorization: Bearer qnt_…` (core/api_keys.py),
    else the user of an access token (`authenticate`). A key in `X-API-Key` is refused with a
    pointer to the header to use: read nowhere, it would leave the request anonymous unnoticed."""
    if api_key_header is not None:
        raise RequestRefused(
            401,
            "Send the API key as `Authorization: Bearer <key>` (X-API-Key is not read)",
            "UNAUTHENTICATED",
            {"WWW-Authenticate": 'Bearer error="invalid_request"'},
            reason="AUTHORIZATION_MALFORMED",
        )
    if authorization:
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer" and is_api_key(credential):
            try:
                return await runtime.api_keys.authenticate(credential)
            except InvalidApiKey as exc:
                raise RequestRefused(
                    401,
                    exc.message,
                    "UNAUTHENTICATED",
                    {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.message}"'},
                    reason=exc.problem.value,
                ) from exc
    return authenticate(runtime.tokens, authorization)


def check_scopes_of(
    runtime: Runtime, actor: Actor | None, query: str, operation_name: str | None, variables: dict[str, Any] | None
) -> None:
    """Refuse an API client's operation outside its scopes (core/scopes.py): HTTP 403."""
    try:
        check_scopes(runtime.scopes, actor, query, operation_name, variables)
    except InsufficientScope as exc:
        raise RequestRefused(403, exc.message, CODE, **exc.details) from exc


def _wants_ide(request: Request) -> bool:
    return (
        request.method == "GET"
        and "query" not in request.query_params
        and "text/html" in request.headers.get("accept", "")
    )


def _mutation_by_get() -> RequestRefused:
    return RequestRefused(
        405,
        "Only queries may be sent with GET; send mutations with POST",
        "METHOD_NOT_ALLOWED",
        {"Allow": "POST"},
        limit="getOperations",
        value="query",
    )


async def graphql_endpoint(request: Request) -> Response:
    """The GraphQL endpoint. Whatever escapes it is still answered as GraphQL JSON: logged with
    an `errorId`, a 503 `DATABASE_UNAVAILABLE` for a lost database, else a 500."""
    try:
        return await _graphql_endpoint(request)
    except Exception as error:  # noqa: BLE001 - the last resort: never Starlette's text/plain 500
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        return last_resort(error, mask=runtime is None or not runtime.settings.is_dev)


def last_resort(error: Exception, *, mask: bool) -> Response:
    """An exception that escaped the endpoint, as one GraphQL error (logged by `shape_error`)."""
    shaped = shape_error(GraphQLError(str(error), original_error=error), mask=mask)
    status = 503 if (shaped.extensions or {}).get("code") == DatabaseUnavailable.code else 500
    return Response(orjson.dumps({"errors": [shaped.formatted]}), status_code=status, media_type=JSON)


async def _graphql_endpoint(request: Request) -> Response:
    runtime = runtime_of(request)
    settings = runtime.settings
    if _wants_ide(request):
        if settings.graphiql_enabled:
            return graphiql_page()
        return RequestRefused(404, "GraphiQL is disabled on this server", "GRAPHIQL_DISABLED").response()
    accept = Accept.of(request.headers.get("accept"))
    single = accept.single_result
    started = time.perf_counter()
    try:
        params, variables, operation_name, request_extensions, allowed = await _operation_from(request, settings)
        actor = await authenticate_request(
            runtime, request.headers.get("authorization"), request.headers.get("x-api-key")
        )
        document = await request_document(
            runtime,
            params,
            actor,
            extensions=request_extensions,
            operation_name=operation_name,
            address=client_address(request),
            single=single,
        )
        query = request_record().query = document.query  # a trusted document's text names its operation
        delivery, kind = _delivery_of(document, operation_name, variables, settings)
        media = accept.choose(delivery)
        if media is None:
            offered = [str(offer) for group in OFFERS[delivery] for offer in group]
            raise RequestRefused(406, not_acceptable_message(delivery), "NOT_ACCEPTABLE", accepted=offered)
        if request.method == "GET" and (media not in SINGLE_RESULT_TYPES or document.trusted is not None):
            # A stream runs what GET may not: know the operation's type (graphql-core's check
            # answers a single result's GET mutation; a trusted document's type is known).
            if kind is None and document.trusted is None:
                _, kind = inspect_operation(query, operation_name, variables, settings.max_tokens, always=True)
            if kind is GraphQLOperationType.MUTATION:
                raise _mutation_by_get()
        check_scopes_of(runtime, actor, query, operation_name, variables)
    except RequestRefused as refused:
        return refused.response(single)
    if media == EVENT_STREAM:
        from core.sse import graphql_event_stream

        streamed = STREAMED_BY_GET if request.method == "GET" else STREAMED_BY_POST
        return await graphql_event_stream(request, query, variables, operation_name, streamed, actor, single)
    if media not in SINGLE_RESULT_TYPES:
        from core.incremental import graphql_multipart

        return await graphql_multipart(request, query, variables, operation_name, allowed, actor, single)

    stats = SqlStats()
    token = current_sql_stats.set(stats)
    # One charge for the request, whichever contexts it builds (a fallback, a run after a lost connection).
    charge = CostCharge()
    contexts: list[Context[Any]] = []
    outcome = SqlOutcome()
    record = request_record()
    record.sql = stats

    async def execute() -> tuple[Context[Any], ExecutionResult]:
        routing = runtime.routing
        reads = await routing.engine_for(actor) if routing is not None else None
        try:
            context, result = await run(reads)
        except Exception as error:
            if routing is not None and contexts and contexts[-1].engine is not runtime.engine:
                routing.failed(contexts[-1].engine, error)  # a replica lost: the query runs again on the primary
            raise
        if routing is not None and context.engine is not runtime.engine and _unavailable(result):
            routing.failed(context.engine, DatabaseUnavailable("a read from the replica failed"))
        return context, result

    async def run(reads: AsyncEngine | None) -> tuple[Context[Any], ExecutionResult]:
        context = runtime.context(request, actor, stats, reads=reads)
        context.cost = charge
        contexts.append(context)
        outcome.one_statement, outcome.fallback = False, None
        with compiled_span(runtime.tracer, runtime.plans, query, operation_name, outcome):
            result, attempted = await _compiled(
                runtime,
                context,
                document,
                variables,
                operation_name,
                outcome,
                mutations=OperationType.MUTATION in allowed,
            )
        record.path = GRAPHQL_CORE if result is None else ONE_STATEMENT if outcome.one_statement else COMPILED
        if result is None:
            if attempted:  # an abandoned plan may have filled the loaders: graphql-core starts afresh
                context = runtime.context(request, actor, stats, reads=reads)
                context.cost = charge
                contexts.append(context)
            arguments: dict[str, Any] = {
                "variable_values": variables,
                "context_value": context,
                "operation_name": operation_name,
                "allowed_operation_types": allowed,
            }
            if document.trusted is not None and document.trusted.document is not None:
                result = await execute_prepared(runtime.schema, document.trusted, **arguments)
            else:
                result = await runtime.schema.execute(query, **arguments)
        return context, result

    try:
        context, result = await _once_more_if_lost(execute, query, operation_name)
    except CannotGetOperationTypeError:
        message = (
            f"The document has no operation named {operation_name!r}"
            if operation_name
            else "The document contains no operation to run"
        )
        return RequestRefused(400, message, "OPERATION_NOT_FOUND").response(single)
    except InvalidOperationTypeError:
        return _mutation_by_get().response(single)
    finally:
        current_sql_stats.reset(token)
        for used in contexts:
            used.loaders.release()

    body: dict[str, Any] = {}
    status = 200
    headers = VARY
    # Execution started unless the errors are request errors (parse, validation, variables, a
    # limit), which have no path: then there is no `data` at all (a field error that nulled the
    # whole result leaves `"data": null`).
    executed = result.data is not None or not result.errors or any(e.path for e in result.errors)
    if result.errors:
        body["errors"] = [_format_error(e, mask=not settings.is_dev) for e in result.errors]
        status = result_status(body["errors"], executed=executed, media=media)
        throttled = _throttled(body["errors"])
        if throttled is not None:
            status, headers = 429, {**VARY, "Retry-After": str(throttled)}
    if executed:
        body["data"] = result.data
    if charge.charged and charge.settled is None:  # the compiled plan's dict (graphql-core's settle themselves)
        await charge.settle(runtime.budgets, result.data)
    extensions = {**(result.extensions or {}), **context.extensions}
    if charge.settled is not None:
        extensions["cost"] = charge.settled
    if settings.is_dev:
        extensions["sql"] = stats.as_extension()
        if runtime.plans is not None and runtime.plans.sql_types is not None:
            extensions["sql"].update(outcome.as_extension())
    if extensions:
        body["extensions"] = extensions
    record.pre_execution, record.errors = isinstance(result, PreExecutionError), body.get("errors")
    encoded = orjson.dumps(body)
    if document.trusted is not None:
        if runtime.documents is not None:
            runtime.documents.usage.record(document.trusted.stored.pk, elapsed_ms(started))
        if request.method == "GET":
            headers = _cache_headers(encoded, ok=status == 200 and "errors" not in body, actor=actor, settings=settings)
            if status == 200 and _not_modified(request, headers):
                return Response(status_code=304, headers=headers)
    return Response(encoded, status_code=status, media_type=media.essence, headers=headers)


def _cache_headers(body: bytes, *, ok: bool, actor: Actor | None, settings: Settings) -> dict[str, str]:
    """A GET of a trusted document is cacheable: by anyone (a CDN) when anonymous, by the
    client's own cache only when authenticated; an answer with errors by nobody. The ETag
    (a digest of the body) lets a client revalidate with `If-None-Match` (304)."""
    headers = {"Vary": "Accept, Authorization"}
    if not ok:
        headers["Cache-Control"] = "no-store"
        return headers
    age = settings.persisted_document_max_age_seconds
    headers["Cache-Control"] = f"public, max-age={age}" if actor is None else "private, no-cache"
    headers["ETag"] = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    return headers


def _not_modified(request: Request, headers: dict[str, str]) -> bool:
    etag = headers.get("ETag")
    given = request.headers.get("if-none-match")
    if etag is None or not given:
        return False
    return given.strip() == "*" or etag in {tag.strip().removeprefix("W/") for tag in given.split(",")}


def _throttled(errors: list[dict[str, Any]]) -> int | None:
    """`retryAfter` of a THROTTLED refusal among the errors: answered 429 with `Retry-After`."""
    for error in errors:
        extensions = error.get("extensions") or {}
        if extensions.get("code") == THROTTLED:
            return int(extensions.get("retryAfter") or 1)
    return None


def result_status(errors: list[dict[str, Any]], *, executed: bool, media: MediaType) -> int:
    """The HTTP status of a single result with these (formatted) errors."""
    codes = {e.get("extensions", {}).get("code") for e in errors}
    if DatabaseUnavailable.code in codes:
        return 503  # nothing was changed: try again later
    if not executed and media == GRAPHQL_RESPONSE:
        # application/json answers 200 whatever the errors (legacy clients read the body);
        # application/graphql-response+json says "not executed" with the status as well.
        return 500 if INTERNAL_ERROR in codes else 400
    return 200


async def _once_more_if_lost(
    execute: Callable[[], Awaitable[tuple[Context[Any], ExecutionResult]]], query: str, operation_name: str | None
) -> tuple[Context[Any], ExecutionResult]:
    """`execute()`, and for a query that lost its database connection, `execute()` again, once:
    a query changes nothing, and the dead connection was discarded (core/db.py), so the second
    run gets a live one. A mutation is never run twice; its error says what happened."""
    try:
        context, result = await execute()
    except Exception as error:
        if not (lost_connection(error) and _is_query(query, operation_name)):
            raise
        logger.warning("a query lost its database connection (%r); running it again", error)
    else:
        if not _unavailable(result) or not _is_query(query, operation_name):
            return context, result
        logger.warning("a query lost its database connection; running it again")
    return await execute()


def _unavailable(result: ExecutionResult) -> bool:
    """Whether a field of the result met a lost database connection."""
    return any((e.extensions or {}).get("code") == DatabaseUnavailable.code for e in result.errors or ())


def _is_query(query: str, operation_name: str | None) -> bool:
    """Whether the document's operation is a query (asked only after a failure: it parses again)."""
    try:
        operation = get_operation_ast(parse(query), operation_name)
    except GraphQLError:
        return False
    return operation is not None and operation.operation.value == "query"


@dataclass
class SqlOutcome:
    """Whether one SQL statement answered the request (core/sqljson.py) and, if not, why."""

    one_statement: bool = False
    fallback: str | None = None

    def as_extension(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"oneStatement": self.one_statement}
        if self.fallback is not None:
            shown["fallback"] = self.fallback
        return shown


#: A request whose document has no compiled plan: its first, or one the plans do not model.
NO_PLAN = "no compiled plan"
MAX_NODES = "over maxNodes"


def _left_one_statement(plans: PlanCache, plan: Plan, outcome: SqlOutcome, reason: str) -> None:
    """Count why a request left the one-statement form; log it once per document and reason."""
    plans.sql_fallbacks[reason] += 1
    outcome.fallback = reason
    if reason not in plan.sql_fallbacks_logged:
        plan.sql_fallbacks_logged.add(reason)
        operation = get_operation_ast(plan.document, plan.operation_name)
        if operation is not None and operation.name is not None:
            named = f"operation {operation.name.value}"
        else:
            named = f"an anonymous operation ({' '.join(print_ast(plan.document).split())[:120]})"
        logger.info("%s leaves the one-statement form: %s", named, reason)


async def _compiled(
    runtime: Runtime,
    context: Context[Any],
    document: RequestDocument,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    outcome: SqlOutcome,
    *,
    mutations: bool = True,
) -> tuple[ExecutionResult | None, bool]:
    """The result through the query's compiled plan (core/fastpath.py), if it has one, and
    whether the plan ran (then `context`'s loaders may hold its reads). `outcome` tells whether
    its one SQL statement answered (core/sqljson.py), and if not why.

    A None result means graphql-core must run the operation: no plan yet (the first request of a
    document goes through every check and compiles it), a `maxNodes` refusal (graphql-core
    words it), or an attempt the plan abandoned (errors are graphql-core's to report). A
    mutation's plan (`mutations`: whether the request may run one) is never abandoned once its
    resolver ran: its result, errors included, is the plan's (core/fastpath.py `run_mutation_plan`).
    """
    plans = runtime.plans
    if plans is None:
        plan = None
    elif document.trusted is not None:
        plan = document.trusted.plan(operation_name)  # compiled when the process prepared it
    else:
        plan = plans.get(document.query, operation_name)
    if plans is None or plan is None or (plan.mutation and not mutations):  # a GET mutation: graphql-core refuses it
        outcome.fallback = NO_PLAN
        return None, False
    settings = runtime.settings
    schema = runtime.schema._schema
    with_sql = plans.sql_types is not None
    # The node count's formula is the document's (made once); the variables are coerced once
    # for it and the statement both.
    if not plan.node_count_made:
        plan.node_count, plan.node_count_made = node_count(schema, plan.document, operation_name), True
    count = plan.node_count
    coerced: VariableValues | None = NO_VARIABLES
    if count is not None and count.operation.variable_definitions:
        coerced = coerced_variables(schema, count.operation, variables)
    # Variables that don't coerce count 0 here: graphql-core refuses the operation with their errors.
    requested = 0 if count is None or coerced is None else count.total(coerced.coerced, settings.default_page_size)
    if requested > settings.max_nodes:
        if with_sql:
            _left_one_statement(plans, plan, outcome, MAX_NODES)
        return None, False
    # The cost, from the same formula, before any SQL (variables that don't coerce: graphql-core's).
    charge = context.cost
    if charge is not None and not charge.charged and count is not None and coerced is not None:
        refused = await charge.charge(
            runtime.budgets, context.actor, context.request, count, coerced.coerced, settings.default_page_size
        )
        if refused is not None:
            return ExecutionResult(data=None, errors=[refused]), False
    if plan.mutation:
        # No "Did you mean …?" outside dev mode, as the schema's own execution (QuintetSchema).
        ran = await run_mutation_plan(plan, schema, context, variables, hide_suggestions=not settings.is_dev)
        if ran is None:  # nothing ran: graphql-core reports the variables or arguments
            return None, False
        mutated, by_plan = ran
        if by_plan:
            plans.executed += 1
        else:  # graphql-core completed the payload (errors), from the one resolver call
            plans.abandoned += 1
        # Errors shaped as the ErrorPolicy extension shapes graphql-core's.
        errors = [shape_error(error, mask=not settings.is_dev) for error in mutated.errors or ()]
        return ExecutionResult(data=mutated.data, errors=errors or None), True
    if with_sql:
        try:
            if coerced is None:
                raise Fallback(VARIABLES)  # graphql-core reports them
            text = await _run_sql(runtime, plan, context, variables, coerced)
        except Fallback as fallback:
            _left_one_statement(plans, plan, outcome, fallback.reason)
        except (SQLAlchemyError, asyncpg.PostgresError) as error:
            if lost_connection(error):  # not the declaration's fault: the query runs again
                raise
            # A declaration that Postgres refuses is our bug, not the client's: say so in the
            # log, count it, and let the resolvers answer.
            logger.exception("the SQL form of a query failed; the resolvers answer it")
            plans.sql_failed += 1
            _left_one_statement(plans, plan, outcome, REFUSED)
        else:
            plans.sql_executed += 1
            outcome.one_statement = True
            if charge is not None:
                await charge.settle_text(runtime.budgets, text)
            # Postgres wrote `data`; orjson embeds the text as it is.
            return ExecutionResult(data=cast(dict[str, Any], orjson.Fragment(text)), errors=None), False
    data = await run_plan(plan, schema, context, variables)
    if data is None:
        plans.abandoned += 1
        return None, True
    plans.executed += 1
    return ExecutionResult(data=data, errors=None), True


async def _run_sql(
    runtime: Runtime,
    plan: Plan,
    context: Context[Any],
    variables: dict[str, Any] | None,
    coerced: VariableValues,
) -> str:
    """`data` as JSON text from the plan's one statement; raises `Fallback` when the document
    has none or this request's values (a refused page size, a bad cursor...) need the resolvers."""
    plans = runtime.plans
    assert plans is not None
    assert plans.sql_types is not None
    if not plan.sql_tried:
        try:
            plan.sql = compile_sql(plan, runtime.schema, plans.sql_types)
        except SqlUnsupported as reason:
            plan.sql_unsupported = f"no SQL form: {reason}"
        plan.sql_tried = True
    if plan.sql is None:
        raise Fallback(plan.sql_unsupported or "no SQL form")
    actor = context.actor
    if actor is None:
        raise Fallback(NO_VIEWER)
    settings = runtime.settings
    sql_plan: SqlPlan = plan.sql
    return await sql_plan.run(
        context.engine,
        runtime.schema._schema,
        actor,
        variables,
        max_size=settings.max_page_size,
        default_size=settings.default_page_size,
        coerced=coerced,
    )


def _format_error(error: GraphQLError, *, mask: bool) -> dict[str, Any]:
    # Errors raised before execution (parse errors) skip the ErrorPolicy extension.
    if not (error.extensions or {}).get("code"):
        error = shape_error(error, mask=mask)
    return error.formatted  # type: ignore[return-value]


async def jwks_endpoint(request: Request) -> Response:
    body = orjson.dumps(runtime_of(request).tokens.jwks())
    return Response(body, media_type="application/jwk-set+json", headers={"Cache-Control": "public, max-age=300"})


async def healthz(request: Request) -> Response:
    return Response(orjson.dumps({"status": "ok"}), media_type=JSON)


async def readyz(request: Request) -> Response:
    """Ready when the database answers; "degraded" (still 200: the API serves) when jobs wait and
    no worker is alive to run them."""
    runtime = runtime_of(request)
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
            jobs = await queue_health(conn, stalled_after=runtime.settings.job_stalled_after_seconds)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        error_id = uuid.uuid4().hex[:16]
        logger.warning("readiness check %s failed: %s", error_id, exc, extra={"error_id": error_id})
        return Response(
            orjson.dumps({"status": "unavailable", "database": "unreachable", "errorId": error_id}),
            status_code=503,
            media_type=JSON,
        )
    watch: QueueWatch | None = getattr(request.app.state, "queue_watch", None)
    if watch is not None:
        watch.check(jobs)
    status = "degraded" if jobs.unserved else "ready"
    return Response(orjson.dumps({"status": status, "database": "ok", "jobs": jobs.as_json()}), media_type=JSON)
