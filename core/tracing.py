"""OpenTelemetry traces, only when a collector is configured.

With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, the app gets a
tracer provider of the OpenTelemetry SDK whose spans a batch processor sends over OTLP/HTTP:

* the server span of each request and WebSocket connection, from opentelemetry-instrumentation-asgi,
  which continues the caller's trace from a W3C `traceparent` header (the SDK's default sampler
  honours its sampled flag) and records no query string (`_scrub_query`: GET variables stay out);
* `graphql.parse`, `graphql.validate` and `graphql.execute` around strawberry's steps
  (`GraphQLSpans`), and `graphql.compiled` around the compiled path of a document that has a plan
  (attributes: `quintet.one_statement`, `quintet.fallback`);
* a client span per SQL statement, from opentelemetry-instrumentation-asyncpg: every statement
  reaches asyncpg, those SQLAlchemy runs (prepared statements) and those core/reads.py runs on the
  driver directly, so one instrumentation sees them all. Statements carry no parameter values.

Without it nothing is installed: no middleware, no schema extension, asyncpg unpatched, and the
compiled path's span is a shared null context. The asyncpg instrumentation patches the driver
for the whole process, so it is installed while the app runs (the lifespan) and removed after.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from strawberry.extensions import SchemaExtension

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

    from core.fastpath import PlanCache
    from core.settings import Settings

logger = logging.getLogger("quintet.tracing")

SERVICE_NAME = "quintet"
#: No server spans for probes and scrapes (regular expressions searched in the URL).
UNTRACED_URLS = "/healthz,/readyz,/metrics"

_NULL: AbstractContextManager[None] = contextlib.nullcontext()


class Tracing:
    """The app's tracer provider and the instrumentation it installs while the app runs."""

    def __init__(self, provider: TracerProvider) -> None:
        from core import tracing as module

        self.provider = provider
        self.tracer: Tracer = provider.get_tracer(module.__name__)
        self._asyncpg: Any = None

    def asgi_middleware(self) -> tuple[Any, dict[str, Any]]:
        """The ASGI middleware (class, options) that makes each request's server span."""
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        return OpenTelemetryMiddleware, {
            "tracer_provider": self.provider,
            "excluded_urls": UNTRACED_URLS,
            # One span per request: no span per ASGI message received or sent.
            "exclude_spans": ["receive", "send"],
            "server_request_hook": _scrub_query,
        }

    def start(self) -> None:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        instrumentor = AsyncPGInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:
            logger.warning("asyncpg is already traced by another app in this process; its spans go there")
            return
        instrumentor.instrument(tracer_provider=self.provider)
        self._asyncpg = instrumentor

    def stop(self) -> None:
        if self._asyncpg is not None:
            self._asyncpg.uninstrument()
            self._asyncpg = None
        self.provider.shutdown()  # sends what the batch processor still holds


def build_tracing(settings: Settings, exporter: SpanExporter | None = None) -> Tracing | None:
    """The app's tracing: to `exporter` when given (tests: the SDK's in-memory exporter), else
    to the configured OTLP endpoint; None when neither."""
    endpoint = settings.otlp_traces_endpoint
    if exporter is None and endpoint is None:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES apply
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE_NAME}))
    provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return Tracing(provider)


#: Attributes of the server span that would carry the query string (GET variables).
_URL_ATTRIBUTES = ("http.target", "http.url", "url.query", "url.full")


def _scrub_query(span: Span, scope: dict[str, Any]) -> None:
    if not scope.get("query_string") or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    path = scope.get("path", "")
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str):
            if name == "url.query":
                span.set_attribute(name, "REDACTED")
            else:
                span.set_attribute(name, value.split("?", 1)[0] if name != "http.target" else path)


class GraphQLSpans(SchemaExtension):
    """`graphql.parse`, `graphql.validate` and `graphql.execute` spans around strawberry's steps,
    each the current span while it runs (SQL spans nest under `graphql.execute`). Listed first
    among the extensions, so that each span covers the other extensions' work of its step."""

    def __init__(self, *, tracer: Tracer) -> None:
        self.tracer = tracer

    def on_parse(self) -> Iterator[None]:
        with self.tracer.start_as_current_span("graphql.parse"):
            yield

    def on_validate(self) -> Iterator[None]:
        with self.tracer.start_as_current_span("graphql.validate"):
            yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        with self.tracer.start_as_current_span("graphql.execute") as span:
            if context.operation_name:
                span.set_attribute("graphql.operation.name", context.operation_name)
            with contextlib.suppress(RuntimeError):  # no document: strawberry can't tell the type
                span.set_attribute("graphql.operation.type", context.operation_type.value)
            yield


def compiled_span(
    tracer: Tracer | None, plans: PlanCache | None, query: str, operation_name: str | None, outcome: Any
) -> AbstractContextManager[Any]:
    """A `graphql.compiled` span around the compiled path of a document that has a plan; with
    tracing off (or no plan: graphql-core's spans follow) a shared null context."""
    if tracer is None or plans is None or plans.get(query, operation_name) is None:
        return _NULL
    return _compiled(tracer, outcome)


@contextlib.contextmanager
def _compiled(tracer: Tracer, outcome: Any) -> Iterator[Span]:
    with tracer.start_as_current_span("graphql.compiled") as span:
        yield span
        span.set_attribute("quintet.one_statement", bool(outcome.one_statement))
        if outcome.fallback is not None:
            span.set_attribute("quintet.fallback", str(outcome.fallback))
