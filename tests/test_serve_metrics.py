"""`serve --workers 2`: one /metrics for both processes, live gauges of a killed worker dropped,
and every log line JSON."""

from __future__ import annotations

import asyncio
import glob
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import websockets
from prometheus_client.multiprocess import MultiProcessCollector

from tests.conftest import TEST_API_KEY_SECRET
from tests.metrics_support import Samples
from tests.support import free_port
from tests.test_protections import signing_key

ROOT = Path(__file__).resolve().parent.parent
PROBE = "query MultiProbe { __typename }"


class Served:
    """`app.py serve` in a subprocess; its output (stderr included) read by a thread as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "app.py", "serve", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for(self, marker: str, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while sum(marker in line for line in list(self.lines)) < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"{marker!r} not printed {count} times; output:\n{''.join(self.lines)}")
            time.sleep(0.1)

    def tail(self, lines: int = 40) -> str:
        return "".join(self.lines[-lines:])

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            # uvicorn's supervisor handles a signal between its health checks, and one check of a
            # worker that is still starting may take a while.
            code = self.process.wait(timeout=180)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(timeout=10)
        return code


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[Served, int, str, Path]]:
    port, token, metrics_dir = free_port(), uuid.uuid4().hex, tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left by an earlier run")  # emptied at start
    env = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_URL", "REDIS_URL"}}
    env.update(
        MODE="production",
        DATABASE_URL=database_url,
        JWT_PRIVATE_KEY=signing_key(),
        API_KEY_SECRET=TEST_API_KEY_SECRET,
        DATA_DIR=str(tmp_path / "data"),
        METRICS_TOKEN=token,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        WS_CONNECTION_INIT_TIMEOUT_SECONDS="120",
    )
    server = Served(["--port", str(port), "--workers", "2"], env)
    try:
        server.wait_for("Application startup complete", 2, timeout=180)
        yield server, port, token, metrics_dir
    finally:
        server.stop()


def per_process(metrics_dir: Path, name: str, **labels: str) -> dict[int, float]:
    """The value each worker's own file holds (prometheus-client's reader, one file at a time)."""
    values: dict[int, float] = {}
    kind = "gauge_livesum" if name == "quintet_open_connections" else "counter"
    for path in glob.glob(str(metrics_dir / f"{kind}_*.db")):
        pid = int(Path(path).stem.rsplit("_", 1)[-1])
        for metric in MultiProcessCollector.merge([path], accumulate=True):
            for sample in metric.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    values[pid] = values.get(pid, 0.0) + sample.value
    return values


async def test_two_workers_answer_one_scrape_with_both_counts(served: tuple[Served, int, str, Path]) -> None:
    server, port, token, metrics_dir = served
    base = f"http://127.0.0.1:{port}"
    assert not (metrics_dir / "counter_1.db").exists()

    async def probe() -> None:
        async with httpx.AsyncClient(base_url=base) as http:  # a connection of its own
            response = await http.post("/graphql", json={"query": PROBE})
            body = response.json()
            assert body["data"] == {"__typename": "Query"}
            assert set(body) == {"data", "extensions"}  # extensions.cost (core/budgets.py)

    async def scrape() -> Samples:
        async with httpx.AsyncClient(base_url=base) as http:
            response = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            return Samples.parse(response.text)

    # When queries are sent on connections of their own until both workers have answered some
    sent = 0
    while sent < 400:
        await asyncio.gather(*(probe() for _ in range(10)))
        sent += 10
        counts = per_process(metrics_dir, "quintet_graphql_requests_total", operation="MultiProbe")
        if len([pid for pid, count in counts.items() if count > 0]) == 2:
            break
    counts = per_process(metrics_dir, "quintet_graphql_requests_total", operation="MultiProbe")
    assert sorted(count > 0 for count in counts.values()) == [True, True], (counts, server.tail())
    # Then every scrape, whichever worker answers it, counts all of them
    for _ in range(6):
        samples = await scrape()
        assert samples.total("quintet_graphql_requests_total", operation="MultiProbe", outcome="ok") == sent
        assert samples.total("quintet_graphql_request_duration_seconds_count", operation="MultiProbe") == sent
    async with httpx.AsyncClient(base_url=base) as http:
        assert (await http.get("/metrics")).status_code == 401

    # When a WebSocket is open on one worker and that worker is killed
    async with websockets.connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"]):  # type: ignore[list-item]
        deadline = time.monotonic() + 30
        while (
            not (holders := per_process(metrics_dir, "quintet_open_connections", transport="websocket"))
            or max(holders.values()) < 1
        ):
            assert time.monotonic() < deadline, (holders, server.tail())
            await asyncio.sleep(0.05)
        assert (await scrape()).get("quintet_open_connections", transport="websocket") == 1
        [holder] = [pid for pid, value in holders.items() if value == 1]
        os.kill(holder, signal.SIGKILL)
        # Then the next scrape no longer counts its socket, and its live gauges' file is gone
        deadline = time.monotonic() + 60
        while True:
            scraped: Samples | None
            try:
                scraped = await scrape()
            except httpx.TransportError:  # the killed worker's share of the socket, for a moment
                scraped = None
            if scraped is not None and scraped.get("quintet_open_connections", transport="websocket") == 0:
                samples = scraped
                break
            left = glob.glob(str(metrics_dir / "gauge_livesum_*.db"))
            assert time.monotonic() < deadline, (holder, left, scraped and scraped.values, server.tail())
            await asyncio.sleep(0.1)
        assert not glob.glob(str(metrics_dir / f"gauge_livesum_{holder}.db"))
        # And the counts of the killed worker still add up
        assert samples.total("quintet_graphql_requests_total", operation="MultiProbe") == sent
    # (uvicorn's supervisor has started a worker in the killed one's place)
    server.wait_for("Application startup complete", 3, timeout=180)

    # When serve stops, then the workers drop their live gauges, and wrote JSON only
    assert server.stop() == 0, server.tail()
    assert not glob.glob(str(metrics_dir / "gauge_live*.db"))
    logged = [orjson.loads(line) for line in server.lines if line.startswith("{")]
    requests = [line for line in logged if line.get("operation") == "MultiProbe"]
    assert len(requests) == sent
    assert {(line["logger"], line["level"], line["status"], line["outcome"]) for line in requests} == {
        ("quintet.request", "info", 200, "ok")
    }
    assert all(len(line["request_id"]) == 32 for line in requests)
    not_json = [line for line in server.lines if not line.startswith("{")]
    # What is not a log line is what serve prints for a person (and the warning about Redis)
    assert all(line.startswith(("Quintet (production mode)", "warning: 2 workers")) for line in not_json), not_json
    assert not any('HTTP/1.1"' in line for line in server.lines)  # uvicorn's access log is off
    assert token not in "".join(server.lines)
