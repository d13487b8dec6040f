"""/metrics: the counters move for what the server does, and who may read them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from app import create_app
from core.metrics import forget_dead_processes
from core.observability import ANONYMOUS, NO_OPERATION, OTHER, OperationLabels, RequestRecord
from core.relay import from_global_id
from core.settings import Mode, Settings
from tests.aurum.insight_data import create_scenario
from tests.conftest import make_settings
from tests.jobs_support import drain, worker_settings
from tests.metrics_support import scrape
from tests.support import GraphQLClient
from tests.test_protections import signing_key

REQUESTS = "quintet_graphql_requests_total"
DURATION = "quintet_graphql_request_duration_seconds_count"
STATEMENTS = "quintet_graphql_request_sql_statements_count"
REFUSALS = "quintet_refusals_total"
PILLARS = "query {name} {{ viewer {{ pillars(first: 5) {{ totalCount nodes {{ name }} }} }} }}"


@pytest.fixture(scope="module")
async def metered(database_url: str, data_dir: Path) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """A dev app of its own (so that its operation names have room for labels), with a shallow
    depth limit and the smallest body limit."""
    settings = make_settings(
        database_url, data_dir, metrics_max_operations=10_000, max_query_depth=4, max_body_bytes=1024
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def test_a_query_counts_by_operation_outcome_and_path(metered: tuple[Starlette, httpx.AsyncClient]) -> None:
    _, http = metered
    client = GraphQLClient(http)
    viewer = await client.sign_up()
    name = unique("Pillars")
    before = await scrape(http)
    # When the same named query is sent twice (the first through graphql-core, which compiles
    # it; the second as one SQL statement), and an anonymous one once
    first = await client(PILLARS.format(name=name), token=viewer.token)
    second = await client(PILLARS.format(name=name), token=viewer.token)
    await client("{ viewer { pillars(first: 1) { totalCount } } }", token=viewer.token)
    after = await scrape(http)
    # Then each is counted under its name, outcome and path, with its latency and statements
    assert first.body["extensions"]["sql"]["oneStatement"] is False
    assert second.body["extensions"]["sql"]["oneStatement"] is True
    assert after.get(REQUESTS, operation=name, outcome="ok", path="graphql_core") == 1
    assert after.get(REQUESTS, operation=name, outcome="ok", path="one_statement") == 1
    assert after.total(DURATION, operation=name) == 2
    for path in ("graphql_core", "one_statement"):
        assert after.get(DURATION, operation=name, path=path) == 1
    one_statement = after.get(STATEMENTS, path="one_statement") - before.get(STATEMENTS, path="one_statement")
    assert one_statement >= 1
    sum_name = "quintet_graphql_request_sql_statements_sum"
    assert after.get(sum_name, path="one_statement") - before.get(sum_name, path="one_statement") == one_statement
    anonymous = after.total(REQUESTS, operation=ANONYMOUS) - before.total(REQUESTS, operation=ANONYMOUS)
    assert anonymous == 1
    # And the process's own metrics are there too (one process: the default registry)
    assert after.has("process_cpu_seconds_total")


async def test_a_deferred_query_counts_as_incremental(metered: tuple[Starlette, httpx.AsyncClient]) -> None:
    _, http = metered
    client = GraphQLClient(http)
    viewer = await client.sign_up()
    name = unique("Deferred")
    query = f"query {name} {{ viewer {{ ... @defer {{ pillars(first: 1) {{ totalCount }} }} }} }}"
    headers = {"Authorization": f"Bearer {viewer.token}", "Accept": "multipart/mixed"}
    # When a query with @defer is answered in parts
    response = await http.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("multipart/mixed")
    # Then it is counted under the incremental path
    samples = await scrape(http)
    assert samples.get(REQUESTS, operation=name, outcome="ok", path="incremental") == 1


async def test_refused_requests_count_by_the_limit_that_refused_them(
    metered: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, http = metered
    client = GraphQLClient(http)
    viewer = await client.sign_up()
    name = unique("Deep")
    deep = f"query {name} {{ viewer {{ pillars {{ nodes {{ areas {{ nodes {{ name }} }} }} }} }} }}"
    before = await scrape(http)
    # When a query deeper than the limit, a body over the limit and an unsigned query that
    # needs no viewer are sent
    too_deep = await client(deep, token=viewer.token)
    too_large = await http.post("/graphql", json={"query": "{ viewer { id } }", "pad": "x" * 2000})
    bad_token = await http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": "Bearer not-a-token"}
    )
    after = await scrape(http)
    # Then each refusal is counted with its code and limit
    assert too_deep.error_codes == ["QUERY_TOO_DEEP"]
    assert too_large.status_code == 413
    assert bad_token.status_code == 401

    def moved(**labels: str) -> float:
        return after.get(REFUSALS, **labels) - before.get(REFUSALS, **labels)

    assert moved(code="QUERY_TOO_DEEP", limit="maxDepth") == 1
    assert moved(code="REQUEST_TOO_LARGE", limit="maxBodyBytes") == 1
    assert moved(code="UNAUTHENTICATED", limit="") == 1

    # And as refused requests: the deep one under (other) (a refused name takes no label of its
    # own), the large one under (none) (no operation was read), the unsigned one as the
    # anonymous operation it was (refused before it ran: no path)
    def requests(**labels: str) -> float:
        return after.get(REQUESTS, **labels) - before.get(REQUESTS, **labels)

    assert requests(operation=name, outcome="refused", path="graphql_core") == 0
    assert requests(operation=OTHER, outcome="refused", path="graphql_core") == 1
    assert requests(operation=NO_OPERATION, outcome="refused", path="none") == 1
    assert requests(operation=ANONYMOUS, outcome="refused", path="none") == 1


async def test_a_job_run_and_its_ai_call_are_counted(
    metered: tuple[Starlette, httpx.AsyncClient], session: AsyncSession, settings: Settings
) -> None:
    # Given a user whose data sets off every insight rule
    _, http = metered
    client = GraphQLClient(http)
    viewer = await client.sign_up()
    await create_scenario(session, user_id=from_global_id(viewer.user_id)[1])
    await session.commit()
    before = await scrape(http)
    # When the user asks for insights, the job waits for a worker
    payload = await client.mutate("requestInsights", {}, "job { id kind }", token=viewer.token)
    waiting = await scrape(http)
    assert waiting.get("quintet_jobs", kind="aurum.insights", status="queued") >= 1
    assert waiting.get("quintet_jobs_waiting") >= 1
    # And when a worker runs it (in this process: its counters are this registry's)
    await drain(worker_settings(settings))
    after = await scrape(http)

    def moved(name: str, **labels: str) -> float:
        return after.get(name, **labels) - before.get(name, **labels)

    # Then the enqueue, the successful attempt and the offline provider's call are counted
    assert payload["job"]["kind"] == "aurum.insights"
    assert moved("quintet_jobs_enqueued_total", kind="aurum.insights") == 1
    assert moved("quintet_job_attempts_total", kind="aurum.insights", outcome="succeeded") == 1
    assert moved("quintet_job_attempt_duration_seconds_count", kind="aurum.insights") == 1
    assert moved("quintet_ai_calls_total", provider="offline", call="complete", outcome="ok") == 1
    assert moved("quintet_ai_call_duration_seconds_count", provider="offline", call="complete") == 1
    # And the queue, read from the database at the scrape, is empty again
    assert after.get("quintet_jobs", kind="aurum.insights", status="queued") == 0
    assert after.get("quintet_jobs_waiting") == 0


def test_operation_labels_are_bounded() -> None:
    labels = OperationLabels(cap=2)

    def label(name: str | None, query: str = "{ a }", *, executed: bool = True) -> str:
        return labels.label(RequestRecord("id", query=query, operation_name=name), executed=executed)

    # Named in operationName or only in the document; anonymous documents; nothing read
    assert label("First") == "First"
    assert label(None, "# a comment\n query Second($a: Int) { a }") == "Second"
    assert label(None, "fragment F on Query { a } query Second { ...F }") == "Second"
    assert label(None, "{ a }") == ANONYMOUS
    assert labels.label(RequestRecord("id"), executed=False) == NO_OPERATION
    # Past the cap, new names share (other); known names keep theirs
    assert label("Third") == OTHER
    assert label("First") == "First"
    # A refused name takes no place, and what is no GraphQL name never gets a label
    roomy = OperationLabels(cap=10)
    assert roomy.label(RequestRecord("id", query="{ a }", operation_name="Junk"), executed=False) == OTHER
    assert roomy.label(RequestRecord("id", query="{ a }", operation_name="a b"), executed=True) == OTHER
    assert roomy.known == set()


async def test_metrics_need_the_token_in_production(database_url: str, data_dir: Path) -> None:
    token = uuid.uuid4().hex
    production = {"mode": Mode.PRODUCTION, "jwt_private_key": signing_key()}
    with_token = create_app(make_settings(database_url, data_dir, metrics_token=token, **production))
    without = create_app(make_settings(database_url, data_dir, **production))
    opened = create_app(make_settings(database_url, data_dir, metrics_enabled=True, **production))
    off_in_dev = create_app(make_settings(database_url, data_dir, metrics_enabled=False))
    answers = {}
    for name, app in {"token": with_token, "none": without, "open": opened, "off": off_in_dev}.items():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                answers[name] = [
                    (await http.get("/metrics")).status_code,
                    (await http.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code,
                    (await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})).status_code,
                ]
                if name == "token":
                    assert (await scrape(http, token=token)).has(REQUESTS)
    # A token, when set, is required; production without one serves nothing unless told to
    assert answers == {
        "token": [401, 401, 200],
        "none": [404, 404, 404],
        "open": [200, 200, 200],
        "off": [404, 404, 404],
    }


def _gauge_holder(directory: Path) -> subprocess.Popen[str]:
    """A process in multiprocess mode holding one open WebSocket in its live gauge."""
    code = (
        "from core import metrics; metrics.OPEN_CONNECTIONS.labels('websocket').inc(); "
        "print('ready', flush=True); import time; time.sleep(120)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def test_the_live_gauges_of_a_killed_process_are_dropped_before_it_is_even_reaped(tmp_path: Path) -> None:
    # Given two processes that each hold a live gauge, one of which is killed and not yet reaped
    killed, alive = _gauge_holder(tmp_path), _gauge_holder(tmp_path)
    try:
        os.kill(killed.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{killed.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # When dead processes are forgotten (each scrape does it first)
        forgotten = forget_dead_processes(str(tmp_path))
        # Then the zombie's live gauges are gone, the living one's kept
        assert forgotten == [killed.pid]
        assert not (tmp_path / f"gauge_livesum_{killed.pid}.db").exists()
        assert (tmp_path / f"gauge_livesum_{alive.pid}.db").exists()
    finally:
        for child in (killed, alive):
            child.kill()
            child.wait()
