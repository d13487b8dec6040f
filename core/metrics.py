"""Prometheus metrics: what the server counts, and how `/metrics` collects it across processes.

Every metric is a module-level prometheus-client object: incrementing one is a dictionary
lookup and a locked add, cheap enough for every request. `core/observability.py` records the
per-request ones (one call at the end of each request); the rest are counted where they happen
(the event bus, live connections, jobs, AI calls, rate limits).

**Several processes.** `serve --workers N` runs N processes behind one socket, and a scrape
reaches one of them. prometheus-client's multiprocess mode makes every process write its values
to memory-mapped files in one directory (`PROMETHEUS_MULTIPROC_DIR`), and a scrape of any
process sums them all. `serve` prepares that directory before the workers start (emptied, so
that counts of an earlier run are not added); the variable must be set before prometheus-client
is imported, which the workers (started afresh by uvicorn) do after it is set. A process that
stops removes its live gauges' files (`mark_process_dead`); one that was killed leaves them,
so each scrape first removes the live gauges of processes that no longer exist. Counters and
histograms of a dead process stay: they are part of the totals. In one process the values live
in memory (the default registry), with the process and garbage-collector metrics besides.

**Bounded labels.** Operation names are the only label a client chooses; see
`core.observability.OperationLabels`. Every other label comes from the code (codes, limits,
topics, job kinds, providers).
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Request durations, in seconds: 1 ms to 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: SQL statements per request: the one-statement path is 1, a batched tree a handful.
STATEMENT_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89)

# ------------------------------------------------------------------------------ requests

REQUESTS = Counter(
    "quintet_graphql_requests",
    "GraphQL requests over HTTP (POST, GET and Server-Sent Event streams) by operation name, outcome "
    "(ok, error, refused) and execution path (one_statement, compiled, graphql_core, event_stream, "
    "incremental: @defer/@stream over multipart/mixed, none: refused before it ran)",
    ["operation", "outcome", "path"],
)
REQUEST_SECONDS = Histogram(
    "quintet_graphql_request_duration_seconds",
    "Time from the request's arrival to the end of its response (an event stream's whole life)",
    ["operation", "path"],
    buckets=LATENCY_BUCKETS,
)
REQUEST_STATEMENTS = Histogram(
    "quintet_graphql_request_sql_statements",
    "SQL statements run by one GraphQL request",
    ["path"],
    buckets=STATEMENT_BUCKETS,
)
REFUSALS = Counter(
    "quintet_refusals",
    "Requests, operations and connections refused, by code and by the limit that refused them "
    "(empty for refusals that name no limit, such as a malformed body or a bad token)",
    ["code", "limit"],
)

PERSISTED_QUERIES = Counter(
    "quintet_persisted_queries",
    "Automatic persisted queries by outcome: hit (a hash answered from the store), miss "
    "(PERSISTED_QUERY_NOT_FOUND), stored (a text with its hash, once it passed every check), "
    "not_stored (over APQ_STORE_RATE_LIMIT)",
    ["outcome"],
)

# ------------------------------------------------------------------- live connections

OPEN_CONNECTIONS = Gauge(
    "quintet_open_connections",
    "Connections held open: WebSockets (after the handshake) and Server-Sent Event streams",
    ["transport"],
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS_ACTIVE = Gauge(
    "quintet_subscriptions_active",
    "Subscriptions running on WebSockets (each subscriber of a shared stream counts)",
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS_STARTED = Counter("quintet_subscriptions_started", "Subscriptions started on WebSockets")
SHARED_STREAMS_ACTIVE = Gauge(
    "quintet_shared_streams_active",
    "Executions of subscriptions, each shared by the identical subscriptions of one user",
    multiprocess_mode="livesum",
)

LIVE_FANOUT_SECONDS = Histogram(
    "quintet_live_fanout_seconds",
    "Time to hand one result of a shared subscription to every member's socket (written, or queued "
    "behind a send that waits for a slow reader), from the end of its execution",
    buckets=LATENCY_BUCKETS,
)

# ------------------------------------------------------------------------------ events

EVENTS_PUBLISHED = Counter(
    "quintet_events_published",
    "Events handed to the event bus after a commit, by topic and outcome (ok, lost: Redis unreachable)",
    ["topic", "outcome"],
)
EVENTS_DELIVERED = Counter(
    "quintet_events_delivered",
    "Events queued for a live subscription of this process (one per subscriber)",
    ["topic"],
)

# -------------------------------------------------------------------------------- jobs

JOBS_ENQUEUED = Counter("quintet_jobs_enqueued", "Background jobs enqueued (committed), by kind", ["kind"])
JOB_ATTEMPTS = Counter(
    "quintet_job_attempts",
    "Attempts at background jobs run by this process, by kind and outcome (succeeded, retrying, failed)",
    ["kind", "outcome"],
)
JOB_SECONDS = Histogram(
    "quintet_job_attempt_duration_seconds",
    "Time one attempt at a background job took",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)

# ---------------------------------------------------------------------------------- AI

AI_CALLS = Counter(
    "quintet_ai_calls",
    "Calls to the AI provider, by provider, call (complete, embed) and outcome (ok, or the failure's reason)",
    ["provider", "call", "outcome"],
)
AI_SECONDS = Histogram(
    "quintet_ai_call_duration_seconds",
    "Time one call to the AI provider took (the client's retries included)",
    ["provider", "call"],
    buckets=(0.005, 0.05, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


def refused(code: str, limit: str | None = None) -> None:
    REFUSALS.labels(code, limit or "").inc()


# ------------------------------------------------------------------------ multiprocess


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode, when this process is in it."""
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir(workers: int) -> Path | None:
    """Before `serve` starts its workers: the directory their values are written to, emptied.

    Used with several workers, or whenever PROMETHEUS_MULTIPROC_DIR is set (then that directory);
    otherwise None (one process: values in memory). Returns the directory when this call
    created it (the caller removes it at the end).
    """
    given = multiprocess_dir()
    if given is None and workers <= 1:
        return None
    if given is None:
        created = Path(tempfile.mkdtemp(prefix="quintet-metrics-"))
        os.environ[MULTIPROC_ENV] = str(created)
        return created
    Path(given).mkdir(parents=True, exist_ok=True)
    for stale in glob.glob(os.path.join(given, "*.db")):
        os.remove(stale)
    return None


def remove_multiprocess_dir(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def process_stopping() -> None:
    """A worker that stops: its live gauges (open connections, subscriptions) end with it."""
    path = multiprocess_dir()
    if path is not None:
        mark_process_dead(os.getpid(), path)


def _alive(pid: int) -> bool:
    """Whether the process runs. A killed worker stays a zombie until uvicorn's supervisor reaps
    it, which can take a while (its health check of that worker waits out a timeout first)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (not Linux): what kill said
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in {"Z", "X"}


def forget_dead_processes(path: str) -> list[int]:
    """Remove the live gauges of processes that are gone (a worker killed without stopping);
    returns their pids."""
    dead: set[int] = set()
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        pid_text = Path(name).stem.rsplit("_", 1)[-1]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            dead.add(int(pid_text))
    for pid in dead:
        mark_process_dead(pid, path)
    return sorted(dead)


class _Scrape(Collector):
    """One scrape: every process's values (or this process's registry), and `extra` families."""

    def __init__(self, extra: Iterable[Metric]) -> None:
        self.extra = list(extra)

    def collect(self) -> Iterator[Metric]:
        path = multiprocess_dir()
        if path is not None:
            forget_dead_processes(path)
            yield from MultiProcessCollector(None, path=path).collect()
        else:
            yield from REGISTRY.collect()
        yield from self.extra


def scrape_registry(extra: Iterable[Metric] = ()) -> CollectorRegistry:
    """A registry for one scrape (multiprocess mode wants a fresh one per scrape)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(extra))
    return registry
