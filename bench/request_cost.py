"""What one request costs Quintet in CPU time, measured in process: steadier than req/s on a busy machine.

    uv run python -m bench.request_cost                                  # node, nodes50, dashboard, login
    uv run python -m bench.request_cost --operations node --requests 2000 --repeats 5
    uv run python -m bench.request_cost --operations nodes50 --cprofile /tmp/nodes50.prof

Uses the side-by-side dataset (bench.dataset; built on first use, reused after) and its requests
(bench.side_by_side.build_calls: the same documents, tokens and rotation as under wrk), runs
Quintet in production mode in this process, and calls the ASGI application directly, with no
HTTP client in the process (what is measured is the server's side: middleware, endpoint, token,
limits, plan, SQL client, response). Each operation is warmed up over every one of its requests
(so that each token has been verified once, as a server that has seen its clients), then measured
`--repeats` times over `--requests` requests each, sequentially.

Reported per operation: CPU time per request (`time.process_time`: every thread of this process,
argon2's included, and nothing of Postgres's), its minimum and median over the repeats, and wall
time per request. Another process taking the CPU stretches wall time much more than CPU time,
so the CPU figures compare commits on a shared machine; the minimum is the least disturbed.

`--over-http` measures the server as it runs in production instead: `app.py serve --workers 1`,
loaded by wrk (`--connections`, 4 by default) with the harness's request files for `--seconds`
(default 10, after a 3 s warm-up), and reports the CPU time (user + system, from /proc) that the
server's processes spent per request answered: uvicorn's HTTP parsing included, Postgres and wrk not.

`--instructions` counts instead the machine instructions the measured requests execute, which do
not depend on what else runs: the process runs under `valgrind --tool=callgrind` with counting
off (start-up and warm-up are not counted) and turns it on around each operation's measured
requests (`callgrind_control -i on|off`). Slow (valgrind runs Python some 50 times slower): use
it with one operation and a few hundred requests.

    uv run python -m bench.request_cost --operations node --requests 300 --repeats 1 --instructions
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from bench.dataset import SCALES, prepare_dataset, resolve_server
from bench.lineup import CREATE, UPDATE, Call, HttpRequest, Quintet, QuintetDocuments, quintet_manifest
from bench.profile_quintet import in_process_quintet
from bench.side_by_side import KEY_PATH, ROOT, build_calls, mint_tokens
from core.security import load_or_create_dev_key

MEASURED = ("node", "nodes50", "dashboard", "login", "filtered", "tree", "relay", "mutation", "writes")
DEFAULT_REQUESTS = {"login": 40, "tree": 50}

Asgi = Callable[[dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


async def call_asgi(app: Asgi, request: HttpRequest, client: str = "127.0.0.1") -> tuple[int, bytes]:
    """One HTTP request through the ASGI application: its status and body."""
    path, _, query = request.path.partition("?")
    headers = [(b"host", b"quintet")]
    headers += [(name.lower().encode(), value.encode()) for name, value in request.headers.items()]
    if request.body:
        headers.append((b"content-length", str(len(request.body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": (client, 40000),
        "server": ("quintet", 80),
        "state": {},
    }
    sent = False
    status = 0
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": request.body, "more_body": False}
        await asyncio.Event().wait()  # the client never goes away while the request runs
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(body)


async def register_bench_documents(app: Any) -> None:
    """Register the side-by-side's Quintet documents as first-party trusted documents (idempotent)."""
    from core.rls import acting_as_system
    from schema import printable_schema
    from services.trusted_documents import register_documents

    runtime = app.state.runtime
    with acting_as_system():
        async with runtime.sessions() as session, session.begin():
            await register_documents(
                session,
                rules=runtime.schema.document_rules,
                sdl=printable_schema(),
                client=None,
                manifest=quintet_manifest(),
            )


Send = Callable[[int], Awaitable[tuple[int, bytes]]]


def _requests(app: Asgi, peer: Any, operation: str, sample: list[Call]) -> Send:
    """The `index`-th request of the operation (rotating over its calls): status and body."""
    requests = [(peer.request(operation, call), call.address or "127.0.0.1") for call in sample]

    async def send(index: int) -> tuple[int, bytes]:
        request, client = requests[index % len(requests)]
        return await call_asgi(app, request, client)

    return send


def _write_pairs(app: Asgi, peer: Any, sample: list[Call]) -> Send:
    """The write mix's `index`-th pair: a new task, then a change to the task the answer names
    (as bench.profile_quintet and the side-by-side send it); the update's status and body."""

    async def send(index: int) -> tuple[int, bytes]:
        call = sample[index % len(sample)]
        client = call.address or "127.0.0.1"
        status, body = await call_asgi(app, peer.request(CREATE, dataclasses.replace(call, title=f"c{index}")), client)
        _checked("writes", status, body)
        task_id = peer.decode_id(orjson.loads(body)["data"]["createTask"]["task"]["id"])
        return await call_asgi(app, peer.request(UPDATE, dataclasses.replace(call, task_id=task_id)), client)

    return send


def _checked(operation: str, status: int, body: bytes) -> None:
    if status != 200 or b'"errors":[{' in body:
        raise RuntimeError(f"{operation}: {status} {body[:300]!r}")


async def measure(options: argparse.Namespace) -> None:
    quintet = await in_process_quintet(options, log_level="warning")
    scale, app, peer, calls = quintet.scale, quintet.app, quintet.peer, quintet.calls
    async with app.router.lifespan_context(app):
        if options.by_document_id:
            peer = QuintetDocuments(peer.jwt_private_key)
            await register_bench_documents(app)
        how = "by documentId" if options.by_document_id else "by text"
        print(f"scale {scale.name}, {options.repeats} repeats, documents {how}; CPU and wall time per request, in ms")
        print(f"{'operation':<10} {'requests':>8} {'CPU min':>8} {'CPU median':>10} {'wall median':>11}")
        for operation in options.operation_names:
            sample = calls[operation]
            count = options.requests or DEFAULT_REQUESTS.get(operation, 1000)
            if operation == "writes":
                send = _write_pairs(app, peer, sample)
                for index in range(max(len(sample), count)):
                    _checked(operation, *await send(index))  # warm-up: every token once
                count //= 2  # each measured request is one of a create + update pair
            else:
                send = _requests(app, peer, operation, sample)
                for index in range(len(sample) if operation != "login" else 5):
                    _checked(operation, *await send(index))  # warm-up: every token once
            cpu: list[float] = []
            wall: list[float] = []
            profiler = cProfile.Profile() if options.cprofile else None
            if options.counting:
                _callgrind("on")
            sent = count * 2 if operation == "writes" else count  # requests per repeat
            for repeat in range(options.repeats):
                offset = repeat * count
                if profiler is not None:
                    profiler.enable()
                started_cpu, started_wall = time.process_time(), time.perf_counter()
                for index in range(count):
                    status, body = await send(offset + index)
                    if status != 200:
                        raise RuntimeError(f"{operation}: {status} {body[:300]!r}")
                cpu.append((time.process_time() - started_cpu) / sent * 1000)
                wall.append((time.perf_counter() - started_wall) / sent * 1000)
                if profiler is not None:
                    profiler.disable()
                _checked(operation, status, body)
            if options.counting:
                _callgrind("off")
                print(f"COUNTED {operation} {sent * options.repeats}", flush=True)
            print(
                f"{operation:<10} {sent:>8} {min(cpu):>8.3f} {statistics.median(cpu):>10.3f}"
                f" {statistics.median(wall):>11.3f}"
            )
            if profiler is not None:
                path = options.cprofile if len(options.operation_names) == 1 else f"{options.cprofile}.{operation}"
                profiler.dump_stats(path)
                print(f"  cProfile of the measured requests: {path}")


def _session_cpu(session: int) -> float:
    """CPU seconds (user + system) of the live processes of a session, from /proc."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def measure_over_http(options: argparse.Namespace) -> None:
    from bench.loadgen import run_wrk, write_requests
    from bench.servers import ServerProcess, free_port

    scale = SCALES[options.scale]
    server_url, server_kind = resolve_server(options.database_url)
    dataset = await prepare_dataset(scale, server_url=server_url, server_kind=server_kind, database=options.database)
    key = load_or_create_dev_key(KEY_PATH)
    calls = build_calls(dataset, mint_tokens(dataset.users, key))
    peer = Quintet(key)
    port = free_port()
    launch = peer.launch(port=port, workers=1, dsn=dataset.url)
    folder = ROOT / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    async with ServerProcess(launch, port, folder / "logs" / "request_cost-server.log") as server:
        assert server.process is not None
        print(f"scale {scale.name}, app.py serve --workers 1, wrk -t1 -c{options.connections}, {options.seconds:g} s")
        print(f"{'operation':<10} {'requests':>8} {'req/s':>8} {'server CPU ms/request':>22}")
        for operation in options.operation_names:
            requests_file = folder / f"request_cost-{operation}.txt"
            host = f"127.0.0.1:{port}"
            write_requests(requests_file, [peer.request(operation, call) for call in calls[operation]], host)
            wrk = {"connections": options.connections, "threads": 1}
            await run_wrk(server.base_url, requests_file, seconds=3, **wrk)  # warm-up
            before = _session_cpu(server.process.pid)
            result = await run_wrk(server.base_url, requests_file, seconds=options.seconds, **wrk)
            spent = _session_cpu(server.process.pid) - before
            if result.non_200 or result.graphql_errors:
                raise RuntimeError(f"{operation}: {result.non_200} non-200, {result.graphql_errors} with errors")
            per_request = spent / max(result.requests, 1) * 1000
            print(f"{operation:<10} {result.requests:>8} {result.requests_per_second:>8.1f} {per_request:>22.3f}")


def _callgrind(state: str) -> None:
    """Turn callgrind's counting of this process on or off (it polls for the command)."""
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True)


def count_instructions(argv: list[str]) -> int:
    """Run this benchmark again under callgrind, counting only the measured requests; print
    instructions per request of each operation."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (`apt-get install -y valgrind`)")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        child = [a for a in argv if a != "--instructions"] + ["--counting"]
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        command += [sys.executable, "-m", "bench.request_cost", *child]
        done = subprocess.run(command, capture_output=True, text=True)
        print(done.stdout, end="")
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return done.returncode
        counted = re.findall(r"^COUNTED (\S+) (\d+)$", done.stdout, re.MULTILINE)
        totals = re.search(r"^totals: (\d+)", out.read_text(), re.MULTILINE)
        if totals is None or len(counted) != 1:
            print("one operation per --instructions run; callgrind's totals not found", file=sys.stderr)
            return 1
        (operation, requests) = counted[0]
        print(
            f"{operation}: {int(totals.group(1)) / int(requests):,.0f} instructions per request ({requests} requests)"
        )
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.request_cost", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="1x", help="dataset (default 1x)")
    parser.add_argument(
        "--operations",
        default="node,nodes50,dashboard,login",
        help="comma-separated (default node,nodes50,dashboard,login)",
    )
    parser.add_argument("--requests", type=int, default=0, help="requests per repeat (default 1000; login 40, tree 50)")
    parser.add_argument("--repeats", type=int, default=5, help="measured repeats per operation (default 5)")
    parser.add_argument("--cprofile", help="write a cProfile of the measured requests to this file")
    parser.add_argument("--database-url", help="Postgres server (default as bench.side_by_side)")
    parser.add_argument("--database", help="database name (default quintet_bench_<scale>)")
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind instead")
    parser.add_argument("--over-http", action="store_true", help="server CPU per request under wrk instead")
    parser.add_argument("--seconds", type=float, default=10.0, help="--over-http: measured seconds (default 10)")
    parser.add_argument("--connections", type=int, default=4, help="--over-http: wrk connections (default 4)")
    parser.add_argument(
        "--by-document-id",
        action="store_true",
        help="send every operation as a trusted document (documentId) instead of its text",
    )
    parser.add_argument("--counting", action="store_true", help=argparse.SUPPRESS)  # the run under callgrind
    options = parser.parse_args(argv)
    options.operation_names = [name.strip() for name in options.operations.split(",") if name.strip()]
    for name in options.operation_names:
        if name not in MEASURED:
            parser.error(f"unknown operation {name!r}; choose among {', '.join(MEASURED)}")
    if options.requests < 0 or options.repeats < 1:
        parser.error("--requests must not be negative, --repeats at least 1")
    if options.instructions:
        raise SystemExit(count_instructions(sys.argv[1:] if argv is None else argv))
    asyncio.run(measure_over_http(options) if options.over_http else measure(options))


if __name__ == "__main__":
    main()
