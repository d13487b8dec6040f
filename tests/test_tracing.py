"""OpenTelemetry traces: the caller's trace continued, a span per step and per SQL statement,
exported over OTLP when configured, and nothing installed when not."""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette

from app import create_app
from tests.conftest import make_settings
from tests.support import GraphQLClient

PILLARS = "query {name} {{ viewer {{ pillars(first: 3) {{ totalCount nodes {{ name }} }} }} }}"


@asynccontextmanager
async def traced_app(
    database_url: str, data_dir: Path, exporter: SpanExporter | None = None, **settings: Any
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = create_app(make_settings(database_url, data_dir, **settings), span_exporter=exporter)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


def traceparent() -> tuple[str, str, dict[str, str]]:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, parent, {"traceparent": f"00-{trace_id}-{parent}-01"}


def named(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    [span] = [s for s in spans if s.name == name]
    return span


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    """The names of the span's parents, nearest first."""
    by_id = {s.context.span_id: s for s in spans}
    names = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        found = by_id[parent.span_id]
        names.append(found.name)
        parent = found.parent
    return names


def sql(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if s.kind is SpanKind.CLIENT and (s.attributes or {}).get("db.system") == "postgresql"]


async def test_a_request_with_traceparent_continues_that_trace_with_its_steps_and_statements(
    database_url: str, data_dir: Path
) -> None:
    exporter = InMemorySpanExporter()
    async with traced_app(database_url, data_dir, exporter) as (_, http):
        client = GraphQLClient(http)
        viewer = await client.sign_up()
        name = f"Traced_{uuid.uuid4().hex[:8]}"
        trace_id, parent, headers = traceparent()
        headers["Authorization"] = f"Bearer {viewer.token}"
        exporter.clear()
        # When a query is sent with a traceparent (its first time: graphql-core runs it)
        first = await http.post("/graphql", json={"query": PILLARS.format(name=name)}, headers=headers)
        assert first.status_code == 200
        spans = list(exporter.get_finished_spans())
        # Then every span belongs to the caller's trace, under the server span that continues it
        assert {format(s.context.trace_id, "032x") for s in spans} == {trace_id}
        [server] = [s for s in spans if s.kind is SpanKind.SERVER]
        assert server.parent is not None
        assert format(server.parent.span_id, "016x") == parent
        assert (server.attributes or {})["graphql.operation.name"] == name
        assert (server.attributes or {})["quintet.execution"] == "graphql_core"
        assert (server.attributes or {})["quintet.request_id"] == first.headers["x-request-id"]
        # With parse, validate and execute below it, and each SQL statement under execute
        for step in ("graphql.parse", "graphql.validate", "graphql.execute"):
            assert ancestors(named(spans, step), spans) == [server.name]
        assert named(spans, "graphql.execute").attributes == {
            "graphql.operation.name": name,
            "graphql.operation.type": "query",
        }
        statements = sql(spans)
        assert len(statements) >= first.json()["extensions"]["sql"]["statements"] >= 1
        assert all(ancestors(s, spans)[:1] == ["graphql.execute"] for s in statements)
        assert all("SELECT" in str((s.attributes or {}).get("db.statement")) for s in statements)

        # When it is sent again (compiled: one SQL statement), then no parsing, one statement
        exporter.clear()
        second = await http.post("/graphql", json={"query": PILLARS.format(name=name)}, headers=headers)
        assert second.json()["extensions"]["sql"]["oneStatement"] is True
        spans = list(exporter.get_finished_spans())
        assert not [s for s in spans if s.name.startswith(("graphql.parse", "graphql.validate"))]
        compiled = named(spans, "graphql.compiled")
        assert (compiled.attributes or {})["quintet.one_statement"] is True
        [statement] = sql(spans)
        assert ancestors(statement, spans)[:2] == ["graphql.compiled", "POST /graphql"]

        # When a query is sent with GET and a variable, then no span holds the variable's value
        exporter.clear()
        secret = f"secret-{uuid.uuid4().hex}"
        got = await http.get(
            "/graphql",
            params={
                "query": "query Get($id: ID!) { node(id: $id) { id } }",
                "variables": orjson.dumps({"id": secret}).decode(),
            },
            headers=headers,
        )
        assert got.status_code == 200
        spans = list(exporter.get_finished_spans())
        assert spans
        assert secret not in repr([(s.name, dict(s.attributes or {})) for s in spans])
        assert viewer.token not in repr([dict(s.attributes or {}) for s in spans])
    # And once the app stops, asyncpg is no longer instrumented
    assert not AsyncPGInstrumentor().is_instrumented_by_opentelemetry


async def test_nothing_is_installed_without_an_endpoint(app: Starlette) -> None:
    assert app.state.runtime.tracer is None
    assert not any(m.cls is OpenTelemetryMiddleware for m in app.user_middleware)
    assert not AsyncPGInstrumentor().is_instrumented_by_opentelemetry
    extensions = [factory() for factory in app.state.runtime.schema.extensions]
    assert "GraphQLSpans" not in {type(e).__name__ for e in extensions}


class _Receiver(BaseHTTPRequestHandler):
    received: list[ExportTraceServiceRequest]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        type(self).received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


def otlp_receiver() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    received: list[ExportTraceServiceRequest] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


async def test_spans_are_exported_over_otlp_to_the_configured_endpoint(database_url: str, data_dir: Path) -> None:
    # Given an OTLP/HTTP receiver on loopback, and an app whose endpoint setting points at it
    receiving = otlp_receiver()
    endpoint, received = next(receiving)
    try:
        trace_id, _, headers = traceparent()
        async with traced_app(database_url, data_dir, otel_exporter_otlp_endpoint=endpoint) as (app, http):
            assert app.state.runtime.tracer is not None
            response = await http.post("/graphql", json={"query": "query Exported { __typename }"}, headers=headers)
            assert response.status_code == 200
        # When the app stops (the batch is sent), then the receiver has the request's spans,
        # from the service "quintet", in the caller's trace
        spans = [
            (resource.resource, span)
            for request in received
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
            if span.trace_id.hex() == trace_id
        ]
        assert {span.name for _, span in spans} >= {"POST /graphql", "graphql.parse", "graphql.execute"}
        services = {
            attribute.value.string_value
            for resource, _ in spans
            for attribute in resource.attributes
            if attribute.key == "service.name"
        }
        assert services == {"quintet"}
    finally:
        next(receiving, None)
