"""Many WebSocket subscribers: delivery latency from a mutation's commit, and memory per subscriber.

    uv run python -m bench.subscribers                          # 1k, 5k, 10k on one process
    uv run python -m bench.subscribers --counts 10000 --redis   # also through Redis, two processes
    uv run python -m bench.subscribers --counts 1000 --rounds 5 --clients 2

For each count N: a fresh database, one user with one task; server process(es) started like
`app.py serve` (uvicorn, uvloop, httptools, production mode, no permessage-deflate); N
graphql-transport-ws subscribers of that user's `aurumHierarchyChanges`, opened by a few client
processes (the `websockets` library); then, once every subscriber has its STARTED message, the
server's RSS is read again (memory per idle subscriber = RSS delta / N), and `--rounds` mutations
(`updateTask`) are made one second apart. Each change carries `occurredAt`, taken in the mutation
just before its commit; a client stamps each delivery on arrival, so a delivery's latency is
arrival - occurredAt (one machine, one clock). Reported: p50 and p99 over every delivery, and the
time to the last subscriber of each mutation (median and worst over the rounds).

With --redis the same runs with REDIS_URL set and two server processes, the subscribers split
between them and the mutations sent to the first: every delivery crosses Redis. With --sse the
subscribers use Server-Sent Events (graphql-sse's distinct-connections mode) instead. With
--trace-memory the server runs under tracemalloc, and what the idle subscribers hold is listed by
file and line (TRACE_FRAMES=10 adds whole tracebacks); its latency figures mean nothing then.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from app import WS_IMPLEMENTATION

ROOT = Path(__file__).resolve().parent.parent

SUBSCRIPTION = """
subscription { aurumHierarchyChanges(types: [TASK]) {
  __typename
  ... on LiveUpdatesStatus { state }
  ... on AurumHierarchyChange { change nodeId occurredAt node { ... on Task { title status } } }
} }
"""

REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { session { accessToken } errors { code } } }"


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ------------------------------------------------------------------------------ clients


async def _client(urls: list[str], count: int, token: str, rounds: int) -> None:
    """One client process: `count` subscribers over `urls` (round robin); reports on stdout."""
    import websockets
    from websockets.typing import Subprotocol

    arrivals: dict[str, list[float]] = {}
    ready = asyncio.Event()
    started = 0
    opening = asyncio.Semaphore(100)
    done = asyncio.Event()
    failures: list[str] = []

    async def sse_subscriber(url: str) -> None:
        """graphql-sse's distinct-connections mode over a plain socket: one POST, then its events
        (Starlette sends each as one chunk: the chunk-size lines are skipped)."""
        nonlocal started
        try:
            async with opening:
                host, _, port = url.removeprefix("http://").partition(":")
                reader, writer = await asyncio.open_connection(host, int(port), limit=1 << 20)
                body = json.dumps({"query": SUBSCRIPTION}).encode()
                head = (
                    f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                    f"Accept: text/event-stream\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                )
                writer.write(head.encode() + body)
                status = await reader.readline()
                if b" 200 " not in status:
                    raise RuntimeError(status.decode(errors="replace").strip())
                while await reader.readline() not in (b"\r\n", b""):
                    pass
                while not (await reader.readline()).startswith(b"data: "):
                    pass
                started += 1
                if started == count:
                    ready.set()
            seen = 0
            while seen < rounds:
                line = await reader.readline()
                if not line:
                    raise RuntimeError("the stream ended")
                now = time.time()
                if not line.startswith(b"data: "):
                    continue
                change = json.loads(line[6:])["data"]["aurumHierarchyChanges"]
                if change.get("__typename") != "AurumHierarchyChange":
                    continue
                arrivals.setdefault(change["occurredAt"], []).append(now)
                seen += 1
            await done.wait()
            writer.close()
        except Exception as exc:  # noqa: BLE001 - counted and reported
            failures.append(repr(exc))
            if started + len(failures) >= count:
                ready.set()

    async def subscriber(url: str) -> None:
        nonlocal started
        try:
            async with opening:
                ws = await websockets.connect(
                    url,
                    subprotocols=[Subprotocol("graphql-transport-ws")],
                    compression=None,
                    open_timeout=120,
                    max_queue=None,
                )
                await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
                while json.loads(await ws.recv())["type"] != "connection_ack":
                    pass
                await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIPTION}}))
                while True:
                    message = json.loads(await ws.recv())
                    if message["type"] == "next":
                        break
                started += 1
                if started == count:
                    ready.set()
            seen = 0
            while seen < rounds:
                raw = await ws.recv()
                now = time.time()
                message = json.loads(raw)
                if message["type"] != "next":
                    continue
                change = message["payload"]["data"]["aurumHierarchyChanges"]
                if change.get("__typename") != "AurumHierarchyChange":
                    continue
                at = change["occurredAt"]
                arrivals.setdefault(at, []).append(now)
                seen += 1
            await done.wait()
            await ws.close()
        except Exception as exc:  # noqa: BLE001 - counted and reported
            failures.append(repr(exc))
            if started + len(failures) >= count:
                ready.set()

    run = sse_subscriber if urls[0].startswith("http") else subscriber
    tasks = [asyncio.create_task(run(urls[i % len(urls)])) for i in range(count)]
    await ready.wait()
    print(json.dumps({"ready": started, "failures": failures[:3], "failed": len(failures)}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # the parent says when the rounds are over
    await asyncio.sleep(2)
    done.set()
    await asyncio.wait(tasks, timeout=10)
    print(json.dumps({"arrivals": arrivals}), flush=True)


# ------------------------------------------------------------------------------ servers


class Server:
    def __init__(self, env: dict[str, str], log: Path, *, trace: Path | None = None) -> None:
        with __import__("socket").socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.trace = trace
        if trace is not None:
            env = {**env, "TRACE_DIR": str(trace)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.traced_server" if trace is not None else "uvicorn",
                "app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--ws",
                WS_IMPLEMENTATION,
                "--ws-per-message-deflate",
                "false",
                "--log-level",
                "warning",
                "--backlog",
                "4096",
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.log = log

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (user + system)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    async def ready(self) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(12000 if self.trace is not None else 1200):  # tracemalloc slows start-up
                if self.process.poll() is not None:
                    raise RuntimeError(self.log.read_text())
                try:
                    if (await client.get(f"{self.http}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"not ready: {self.log.read_text()}")

    async def snapshot(self) -> Any:
        """A tracemalloc snapshot of the server (started with `trace`)."""
        import signal
        import tracemalloc

        assert self.trace is not None
        taken = len(list(self.trace.glob("*.done")))
        self.process.send_signal(signal.SIGUSR1)
        done = self.trace / f"snapshot-{taken}.done"
        while not done.exists():  # noqa: ASYNC110 - another process writes it
            await asyncio.sleep(0.2)
        return tracemalloc.Snapshot.load(str(done.with_suffix(".pickle")))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def _graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = (await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)).json()
    assert "errors" not in body, body
    return body["data"]


def _fanout_seconds(exposition: str) -> tuple[float | None, float | None]:
    """From /metrics: the mean fan-out time (ms), and the upper bound of the slowest one's bucket."""
    from prometheus_client.parser import text_string_to_metric_families

    total = count = 0.0
    buckets: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(exposition):
        if family.name != "quintet_live_fanout_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_sum"):
                total = sample.value
            elif sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_bucket"):
                buckets.append((float(sample.labels["le"]), sample.value))
    if not count:
        return None, None
    slowest = min(bound for bound, seen in buckets if seen >= count)
    return round(1000 * total / count, 1), 1000 * slowest


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _memory_report(before: Any, after: Any, count: int, top: int = 30) -> str:
    """What the idle subscribers hold, per subscriber: by file, then by line (top frames)."""
    lines = [f"tracemalloc, bytes per subscriber over {count:,} idle subscribers:"]
    total = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    lines.append(f"  total {total / count:,.0f}")
    for key in ("filename", "lineno"):
        lines.append(f"  by {key}:")
        for stat in after.compare_to(before, key)[:top]:
            frame = stat.traceback[0]
            where = frame.filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
            if key == "lineno":
                where += f":{frame.lineno}"
            lines.append(f"    {stat.size_diff / count:9,.0f} B {stat.count_diff / count:6.2f} blocks  {where}")
    if after.traceback_limit > 1:
        lines.append("  by traceback (TRACE_FRAMES):")
        for stat in after.compare_to(before, "traceback")[: top // 2]:
            lines.append(f"    {stat.size_diff / count:9,.0f} B {stat.count_diff / count:6.2f} blocks")
            lines.extend(f"        {line.strip()}" for line in stat.traceback.format(most_recent_first=True)[::2])
    return "\n".join(lines)


async def _run(
    count: int,
    *,
    redis_url: str | None,
    clients: int,
    rounds: int,
    server_url: str,
    work: Path,
    trace: bool = False,
    sse: bool = False,
) -> dict:
    from joserfc.jwk import ECKey

    from core.migrations import upgrade
    from tests.conftest import create_database, drop_database

    database = await create_database(server_url)
    servers: list[Server] = []
    client_processes: list[asyncio.subprocess.Process] = []
    try:
        upgrade(database)
        env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "TEST_DATABASE_URL"}}
        env.update(
            MODE="production",
            DATABASE_URL=database,
            JWT_PRIVATE_KEY=ECKey.generate_key("P-256", private=True).as_pem(private=True).decode(),
            API_KEY_SECRET=secrets.token_urlsafe(48),
            DATA_DIR=str(work / "data"),
            LOG_LEVEL="warning",
            METRICS_ENABLED="true",  # the server's own fan-out time, read at the end
            # One user's N subscribers, each on its own socket: far beyond the per-user cap on purpose.
            WS_MAX_CONNECTIONS_PER_USER=str(count),
        )
        if redis_url:
            env["REDIS_URL"] = redis_url
        trace_dir = work / "trace" if trace else None
        if trace_dir is not None:
            trace_dir.mkdir()
        servers = [Server(env, work / f"server-{i}.log", trace=trace_dir) for i in range(2 if redis_url else 1)]
        for server in servers:
            await server.ready()
        async with httpx.AsyncClient(base_url=servers[0].http, timeout=60) as http:
            email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
            registered = await _graphql(
                http, REGISTER, {"i": {"email": email, "password": "benchmark-password", "displayName": "Bench"}}
            )
            token = registered["register"]["session"]["accessToken"]
            pillar = (await _graphql(http, CREATE["pillar"], {"i": {"name": "P"}}, token))["createPillar"]["pillar"]
            area = await _graphql(http, CREATE["area"], {"i": {"pillarId": pillar["id"], "name": "A"}}, token)
            project = await _graphql(
                http, CREATE["project"], {"i": {"areaId": area["createArea"]["area"]["id"], "name": "Pr"}}, token
            )
            task = await _graphql(
                http,
                CREATE["task"],
                {"i": {"projectId": project["createProject"]["project"]["id"], "title": "T"}},
                token,
            )
            task_id = task["createTask"]["task"]["id"]
            await asyncio.sleep(1)
            rss_before = [s.rss_kb() for s in servers]
            snapshot_before = await servers[0].snapshot() if trace else None

            urls = [s.http if sse else s.ws for s in servers]
            per_client = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]
            connect_started = time.monotonic()
            for n in per_client:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.subscribers",
                    "--client",
                    json.dumps({"urls": urls, "count": n, "token": token, "rounds": rounds}),
                    cwd=ROOT,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=1 << 26,
                )
                client_processes.append(process)
            ready = 0
            failed = 0
            for process in client_processes:
                assert process.stdout is not None
                report = json.loads(await process.stdout.readline())
                ready += report["ready"]
                failed += report["failed"]
                if report["failed"]:
                    print("  client failures, e.g.:", report["failures"], file=sys.stderr)
            connect_seconds = time.monotonic() - connect_started
            await asyncio.sleep(3)
            rss_after = [s.rss_kb() for s in servers]
            if trace:
                snapshot_after = await servers[0].snapshot()
                print(_memory_report(snapshot_before, snapshot_after, count // len(servers)), flush=True)

            cpu_before = sum(s.cpu_seconds() for s in servers)
            for i in range(rounds):
                await _graphql(
                    http,
                    "mutation($i: UpdateTaskInput!) { updateTask(input: $i) { errors { code } } }",
                    {"i": {"id": task_id, "title": f"Round {i}"}},
                    token,
                )
                await asyncio.sleep(1.0)
            cpu_per_round = (sum(s.cpu_seconds() for s in servers) - cpu_before) / rounds
            fanout = _fanout_seconds((await http.get("/metrics")).text)

        arrivals: dict[str, list[float]] = {}
        for process in client_processes:
            assert process.stdin is not None
            assert process.stdout is not None
            process.stdin.write(b"done\n")
            await process.stdin.drain()
        for process in client_processes:
            assert process.stdout is not None
            report = json.loads(await process.stdout.readline())
            for at, stamps in report["arrivals"].items():
                arrivals.setdefault(at, []).extend(stamps)
            await process.wait()
    finally:
        for process in client_processes:
            if process.returncode is None:
                process.kill()
        for server in servers:
            server.stop()
        await drop_database(server_url, database)

    latencies: list[float] = []
    last: list[float] = []
    delivered = 0
    for at, stamps in arrivals.items():
        committed = datetime.fromisoformat(at).timestamp()
        round_latencies = [stamp - committed for stamp in stamps]
        latencies.extend(round_latencies)
        last.append(max(round_latencies))
        delivered += len(stamps)
    delta_kb = sum(rss_after) - sum(rss_before)
    return {
        "subscribers": count,
        "servers": len(servers),
        "subscribed": ready,
        "failed": failed,
        "connect_s": round(connect_seconds, 1),
        "delivered": delivered,
        "expected": count * rounds,
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(1000 * _percentile(latencies, 0.99), 1) if latencies else None,
        "last_median_ms": round(1000 * statistics.median(last), 1) if last else None,
        "last_worst_ms": round(1000 * max(last), 1) if last else None,
        # The first server's own time to hand each result to all its subscribers' sockets
        # (quintet_live_fanout_seconds): the mean, and the bucket that holds the slowest.
        "fanout_mean_ms": fanout[0],
        # CPU the server(s) used per mutation during the rounds (the mutation, its execution for
        # the shared stream, the fan-out, keep-alives): what the machine's load does not change.
        "server_cpu_ms_per_round": round(1000 * cpu_per_round, 1),
        "fanout_max_ms_at_most": fanout[1],
        "rss_before_mb": round(sum(rss_before) / 1024, 1),
        "rss_after_mb": round(sum(rss_after) / 1024, 1),
        "kb_per_subscriber": round(delta_kb / count, 1),
    }


CREATE = {
    "pillar": "mutation($i: CreatePillarInput!) { createPillar(input: $i) { pillar { id } } }",
    "area": "mutation($i: CreateAreaInput!) { createArea(input: $i) { area { id } } }",
    "project": "mutation($i: CreateProjectInput!) { createProject(input: $i) { project { id } } }",
    "task": "mutation($i: CreateTaskInput!) { createTask(input: $i) { task { id } } }",
}


def _database_server() -> str:
    from core.db import start_embedded_postgres, to_async_url

    configured = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        return to_async_url(configured)
    return start_embedded_postgres(ROOT / ".data" / "test-postgres")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="1000,5000,10000", help="subscriber counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=10, help="mutations per count")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--redis", action="store_true", help="also run through Redis with two server processes")
    parser.add_argument("--redis-only", action="store_true", help="only the Redis runs")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="run the server under tracemalloc and report what the idle subscribers hold (slower; "
        "its RSS figures include tracemalloc's own bookkeeping)",
    )
    parser.add_argument(
        "--sse", action="store_true", help="subscribe over Server-Sent Events instead of graphql-transport-ws"
    )
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    raise_open_files_limit()
    if args.client:
        spec = json.loads(args.client)
        asyncio.run(_client(spec["urls"], spec["count"], spec["token"], spec["rounds"]))
        return

    import tempfile

    server_url = _database_server()
    print(f"open files limit: {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}; cores: {os.cpu_count()}")
    modes = ([] if args.redis_only else [None]) + ([args.redis_url] if args.redis or args.redis_only else [])
    results = []
    for redis_url in modes:
        for count in [int(c) for c in args.counts.split(",")]:
            with tempfile.TemporaryDirectory() as work:
                result = asyncio.run(
                    _run(
                        count,
                        redis_url=redis_url,
                        clients=args.clients,
                        rounds=args.rounds,
                        server_url=server_url,
                        work=Path(work),
                        trace=args.trace_memory,
                        sse=args.sse,
                    )
                )
            result["bus"] = "redis" if redis_url else "in-process"
            result["transport"] = "sse" if args.sse else "graphql-transport-ws"
            results.append(result)
            print(json.dumps(result), flush=True)
    print()
    print(
        "| transport | bus | servers | subscribers | delivered | p50 | p99 | last (median / worst) "
        "| KB per idle subscriber |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['transport']} | {r['bus']} | {r['servers']} | {r['subscribed']:,} "
            f"| {r['delivered']:,}/{r['expected']:,} "
            f"| {r['p50_ms']} ms | {r['p99_ms']} ms | {r['last_median_ms']} / {r['last_worst_ms']} ms "
            f"| {r['kb_per_subscriber']} |"
        )


if __name__ == "__main__":
    main()
