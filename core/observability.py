"""What an operator sees of each request: a request id, one log line, metrics, and `/metrics`.

`ObservabilityMiddleware` wraps every HTTP request and WebSocket connection:

* a **request id**: the client's `X-Request-ID` when it is well-formed (1-128 characters among
  letters, digits and `._:/+=-`), else a new one; echoed in the response's `X-Request-ID` (and
  in a WebSocket's handshake answer), and on every log line written while the request runs;
* **one log line** when the request is answered (`quintet.request`, INFO; health checks and
  scrapes at DEBUG): method, path without its query string, status, duration, and for GraphQL
  the operation name, outcome, execution path, SQL statements and time, the codes of the errors
  and the `errorId` of each logged error. Never a header, a variable or a query string;
* the **per-request metrics** (`core/metrics.py`), recorded once at the end.

The endpoint tells the middleware what only it knows through the request's `RequestRecord`
(`request_record()`, a context variable the middleware sets): the operation, its SQL count, the
path it took and its errors. `RequestRefused.response()` notes a refusal, `shape_error` the id
of each unexpected error.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import metrics
from core.rls import acting_as_system

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from core.db import SqlStats
    from core.settings import Settings

logger = logging.getLogger("quintet.request")

REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")

#: Execution paths (the `path` label and the log's `execution`).
ONE_STATEMENT = "one_statement"
COMPILED = "compiled"
GRAPHQL_CORE = "graphql_core"
EVENT_STREAM = "event_stream"
INCREMENTAL = "incremental"
NOT_EXECUTED = "none"

#: Operation labels that are no operation's name (parentheses: no GraphQL name has them).
ANONYMOUS = "(anonymous)"
OTHER = "(other)"
NO_OPERATION = "(none)"

#: Paths logged at DEBUG: probes and scrapes would drown the requests.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
#: At most this many error ids on one record (a WebSocket connection lives long).
MAX_ERROR_IDS = 20


@dataclass(slots=True)
class RequestRecord:
    """What one request did, filled in by the endpoint, read by the middleware at the end."""

    request_id: str
    started: float = 0.0
    query: str | None = None
    operation_name: str | None = None
    sql: SqlStats | None = None
    path: str | None = None
    #: Refused before execution: parse, validation and limit errors (strawberry's PreExecutionError).
    pre_execution: bool = False
    errors: list[dict[str, Any]] | None = None
    refusal: tuple[str, str | None] | None = None
    error_ids: list[str] = field(default_factory=list)
    status: int = 0
    content_type: bytes = b""
    close_code: int | None = None
    #: `operation_of`'s answer once worked out ("" for none).
    operation: str | None = None
    #: What an automatic persisted query did (core/persisted.py): hit, miss, or sent (its text with it).
    persisted_query: str | None = None


_current: ContextVar[RequestRecord | None] = ContextVar("quintet_request", default=None)


def request_record() -> RequestRecord:
    """The running request's record; a throwaway one outside the middleware (nobody reads it)."""
    record = _current.get()
    return record if record is not None else RequestRecord("")


def current_request_id() -> str | None:
    record = _current.get()
    return record.request_id if record is not None else None


def note_refusal(code: str, limit: str | None) -> None:
    record = _current.get()
    if record is not None:
        record.refusal = (code, limit)


def note_error_id(error_id: str) -> None:
    record = _current.get()
    if record is not None and len(record.error_ids) < MAX_ERROR_IDS:
        record.error_ids.append(error_id)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            if _REQUEST_ID.fullmatch(value):
                return value.decode()
            break
    return uuid.uuid4().hex


# ------------------------------------------------------------------- operation names

_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,127}")
# Possessive: what GraphQL ignores (white space, commas, comments) is never split two ways, so a
# document of a million `#` can't make the match backtrack.
_IGNORED = r"(?:[\s,\ufeff]++|#[^\n\r]*+)*+"
_NAME = r"([_A-Za-z][_0-9A-Za-z]*+)"
_FIRST_DEFINITION = re.compile(_IGNORED + r"(?:query|mutation|subscription)\b" + _IGNORED + _NAME + "?")
_ANY_DEFINITION = re.compile(r"(?:^|[\s,}])(?:query|mutation|subscription)" + _IGNORED + _NAME)


def document_operation_name(query: str) -> str | None:
    """The name of the document's operation when the client gave none (a document of one
    named operation may be sent without `operationName`); None for an anonymous one. Reads the
    document's first definition only (a few bytes), unless fragments come first. Not cached:
    documents can be as long as MAX_BODY_BYTES."""
    match = _FIRST_DEFINITION.match(query)
    if match is not None:
        return match.group(1)
    if query.lstrip().startswith("fragment"):
        match = _ANY_DEFINITION.search(query)
        if match is not None:
            return match.group(1)
    return None


def operation_of(record: RequestRecord) -> str | None:
    """The operation's name as it may be logged and labelled: a GraphQL name, else None
    (worked out once per request, from `operationName` or the document)."""
    if record.operation is None:
        name = record.operation_name
        if name is None and record.query is not None:
            name = document_operation_name(record.query)
        record.operation = name if name is not None and _GRAPHQL_NAME.fullmatch(name) is not None else ""
    return record.operation or None


class OperationLabels:
    """The `operation` label of the request metrics, bounded.

    The first `cap` distinct operation names that a process sees executed get a label of their
    own; later new names, names of refused requests not seen executed before, and names that are
    no GraphQL name are counted under `(other)`. Operations without a name are `(anonymous)`, and
    requests refused before their operation was read are `(none)`. A refused request never takes
    a place, so documents that don't validate can't crowd out real operations.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.known: set[str] = set()

    def label(self, record: RequestRecord, *, executed: bool) -> str:
        if record.query is None:
            return NO_OPERATION
        name = operation_of(record)
        if name is None:
            # No name at all, or one that is no GraphQL name.
            return ANONYMOUS if record.operation_name is None else OTHER
        if name in self.known:
            return name
        if not executed or len(self.known) >= self.cap:
            return OTHER
        self.known.add(name)
        return name


def outcome_of(record: RequestRecord) -> str:
    """ok, error (an error during execution, or the server's fault) or refused (not run)."""
    if record.status >= 500:
        return "error"
    if record.refusal is not None or record.pre_execution or record.status >= 400:
        return "refused"
    if record.errors:
        if any("limit" in (error.get("extensions") or {}) for error in record.errors):
            return "refused"
        return "error"
    return "ok"


def _streamed(content_type: bytes) -> str:
    """The path of a response the endpoint did not answer itself: a stream, or none (refused)."""
    if content_type.startswith(b"text/event-stream"):
        return EVENT_STREAM
    if content_type.startswith(b"multipart/mixed"):
        return INCREMENTAL
    return NOT_EXECUTED


def _error_codes(errors: Sequence[dict[str, Any]]) -> list[str]:
    codes: list[str] = []
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        if isinstance(code, str) and code not in codes:
            codes.append(code)
    return codes


def _refusals(record: RequestRecord) -> set[tuple[str, str]]:
    """(code, limit) of each refusal the response carries, once each."""
    found: set[tuple[str, str]] = set()
    if record.refusal is not None:
        found.add((record.refusal[0], record.refusal[1] or ""))
    for error in record.errors or ():
        extensions = error.get("extensions") or {}
        limit = extensions.get("limit")
        if record.pre_execution or limit is not None:
            found.add((str(extensions.get("code", "")), str(limit) if limit is not None else ""))
    return found


# -------------------------------------------------------------------------- middleware


class ObservabilityMiddleware:
    """Request id, one log line and the request metrics of each request (see the module)."""

    def __init__(
        self, app: ASGIApp, *, settings: Settings, tracing: bool = False, graphql_path: str = "/graphql"
    ) -> None:
        self.app = app
        self.graphql_path = graphql_path
        self.tracing = tracing
        self.labels = OperationLabels(settings.metrics_max_operations)
        # (operation, outcome, path) -> the metric children: `labels()` takes a lock and builds a key.
        self._children: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        record = RequestRecord(_request_id(scope), time.perf_counter())
        request_id = record.request_id.encode()
        streaming = False
        tracing = self.tracing

        async def send_with_id(message: Message) -> None:
            nonlocal streaming
            if tracing and message["type"] == "http.response.body" and not message.get("more_body"):
                # The server span ends with the last body sent: what it should say, now.
                self._annotate_span(scope, record)
            if message["type"] == "http.response.start":
                record.status = message["status"]
                headers = list(message.get("headers") or ())
                for name, value in headers:
                    if name == b"content-type":
                        record.content_type = value
                headers.append((REQUEST_ID_HEADER, request_id))
                message = {**message, "headers": headers}
                if record.content_type.startswith(b"text/event-stream"):
                    streaming = True
                    metrics.OPEN_CONNECTIONS.labels("event_stream").inc()
            await send(message)

        token = _current.set(record)
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            if not record.status:
                record.status = 500
            raise
        finally:
            _current.reset(token)
            if streaming:
                metrics.OPEN_CONNECTIONS.labels("event_stream").dec()
            self._finish(scope, record, time.perf_counter() - record.started)

    def _finish(self, scope: Scope, record: RequestRecord, seconds: float) -> None:
        path = scope["path"]
        graphql = path == self.graphql_path and not record.content_type.startswith(b"text/html")
        outcome = execution = None
        if graphql:
            outcome = outcome_of(record)
            execution = record.path or _streamed(record.content_type)
            label = self.labels.label(record, executed=outcome != "refused")
            self._count(label, outcome, execution, seconds, record)
        level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
        if not logger.isEnabledFor(level):
            return
        fields = {
            "request_id": record.request_id,
            "method": scope["method"],
            "path": path,
            "status": record.status,
            "duration_ms": round(seconds * 1000, 2),
        }
        client = scope.get("client")
        if client:
            fields["client"] = client[0]
        if graphql:
            fields["operation"] = operation_of(record)
            fields["outcome"] = outcome
            fields["execution"] = execution
            if record.sql is not None:
                fields["sql_statements"] = record.sql.statements
                fields["sql_ms"] = round(record.sql.seconds * 1000, 2)
            if record.errors:
                fields["error_codes"] = _error_codes(record.errors)
            if record.refusal is not None:
                fields["refusal"] = record.refusal[0]
            if record.persisted_query is not None:
                fields["persisted_query"] = record.persisted_query
        if record.error_ids:
            fields["error_ids"] = record.error_ids
        if self.tracing:
            trace_id = _trace_id()
            if trace_id is not None:
                fields["trace_id"] = trace_id
        shown = f" {fields['operation']}" if fields.get("operation") else ""
        message = f"{scope['method']} {path} {record.status}{shown} in {fields['duration_ms']} ms"
        logger.log(level, message, extra=fields)

    def _count(self, label: str, outcome: str, execution: str, seconds: float, record: RequestRecord) -> None:
        key = (label, outcome, execution)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                metrics.REQUESTS.labels(label, outcome, execution),
                metrics.REQUEST_SECONDS.labels(label, execution),
                metrics.REQUEST_STATEMENTS.labels(execution),
            )
        requests, latency, statements = children
        requests.inc()
        latency.observe(seconds)
        if record.sql is not None:
            statements.observe(record.sql.statements)
        if outcome == "refused":
            for code, limit in _refusals(record):
                metrics.refused(code, limit)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        record = RequestRecord(_request_id(scope), time.perf_counter())
        request_id = record.request_id.encode()
        accepted = False

        async def receive_noting_close() -> Message:
            message = await receive()
            if message["type"] == "websocket.disconnect" and record.close_code is None:
                record.close_code = message.get("code", 1005)
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal accepted
            kind = message["type"]
            if kind == "websocket.accept":
                message = {**message, "headers": [*(message.get("headers") or ()), (REQUEST_ID_HEADER, request_id)]}
                accepted = True
                metrics.OPEN_CONNECTIONS.labels("websocket").inc()
            elif kind == "websocket.close" and record.close_code is None:
                record.close_code = message.get("code", 1000)
            await send(message)

        token = _current.set(record)
        try:
            await self.app(scope, receive_noting_close, send_with_id)
        finally:
            _current.reset(token)
            if accepted:
                metrics.OPEN_CONNECTIONS.labels("websocket").dec()
            if logger.isEnabledFor(logging.INFO):
                seconds = time.perf_counter() - record.started
                fields: dict[str, Any] = {
                    "request_id": record.request_id,
                    "method": "WEBSOCKET",
                    "path": scope["path"],
                    "accepted": accepted,
                    "close_code": record.close_code,
                    "duration_ms": round(seconds * 1000, 2),
                }
                if record.error_ids:
                    fields["error_ids"] = record.error_ids
                logger.info(
                    "WebSocket %s closed (%s) after %.1f s", scope["path"], record.close_code, seconds, extra=fields
                )

    def _annotate_span(self, scope: Scope, record: RequestRecord) -> None:
        """The request's server span (opentelemetry-instrumentation-asgi's) gets the GraphQL facts."""
        from opentelemetry import trace

        span = trace.get_current_span()
        if not span.is_recording():
            return
        span.set_attribute("quintet.request_id", record.request_id)
        if scope["path"] != self.graphql_path or record.query is None:
            return
        operation = operation_of(record)
        if operation is not None:
            span.set_attribute("graphql.operation.name", operation)
        span.set_attribute("quintet.outcome", outcome_of(record))
        span.set_attribute("quintet.execution", record.path or _streamed(record.content_type))
        if record.sql is not None:
            span.set_attribute("quintet.sql_statements", record.sql.statements)


def _trace_id() -> str | None:
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


# ---------------------------------------------------------------------------- /metrics

#: What the app adds to each scrape, read from the database (the job queue...): each source
#: gets a connection and returns metric families.
ScrapeSource = Callable[["AsyncConnection"], Awaitable[list[Metric]]]


def metrics_access(settings: Settings) -> str:
    """Who may read /metrics: "token", "public" or "off" (see README, "Operating")."""
    if settings.metrics_enabled is False:
        return "off"
    if settings.metrics_token is not None and settings.metrics_token.get_secret_value():
        return "token"
    if settings.metrics_enabled or settings.is_dev:
        return "public"
    return "off"


def _json_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus's text format (or OpenMetrics, when asked for in `Accept`)."""
    runtime = request.app.state.runtime
    settings: Settings = runtime.settings
    access = metrics_access(settings)
    if access == "off":
        return _json_error(
            404,
            "METRICS_DISABLED",
            "Metrics are off on this server (production serves them with METRICS_TOKEN, or METRICS_ENABLED=true)",
        )
    if access == "token":
        assert settings.metrics_token is not None
        expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return _json_error(
                401, "UNAUTHENTICATED", "Send Authorization: Bearer <METRICS_TOKEN>", {"WWW-Authenticate": "Bearer"}
            )
    families: list[Metric] = []
    sources: Sequence[ScrapeSource] = getattr(request.app.state, "scrape_sources", ())
    if sources:
        try:
            # The scrape counts every user's jobs: the system's reading, not a request's.
            with acting_as_system():
                async with runtime.engine.connect() as conn:
                    for source in sources:
                        families.extend(await source(conn))
        except Exception as error:  # noqa: BLE001 - the process's own metrics are still worth serving
            logger.warning("metrics: the database's part of the scrape failed: %s", error)
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    body = encoder(metrics.scrape_registry(families))
    return Response(body, headers={"Content-Type": content_type})
