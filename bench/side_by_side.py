"""Side by side: Quintet against what a frontend team would pick instead, in one command.

    uv run python -m bench.side_by_side                      # 1x: 200 users x 1,000 tasks
    uv run python -m bench.side_by_side --scale smoke        # tiny data, 1 s runs: a check that all works
    uv run python -m bench.side_by_side --scale 10x --markdown

Operations (bench.lineup has each peer's document; bench.checks what each must return):

- `tree`: the whole tree of one user (pillars, areas, projects with progress, 50 tasks each).
- `dashboard`: 20 active projects soonest due, with progress and their 10 next open tasks.
- `node`: one task by id.
- `mutation`: rename one task.
- `relay`: a project list screen as Relay clients page it: `edges { cursor node }`, `pageInfo`
  and `totalCount` of the user's 20 newest projects, each with progress and its first 10 tasks
  by `edges`/`pageInfo` (`first`, `after` and the task count are variables, as a Relay
  pagination query has them). Newest first (created, then id) rather than by due date:
  PostGraphile v4's `after` drops the rows whose sort column is NULL (a fifth of the projects
  have no due date), so its next pages would be wrong. Cursors differ per peer and are never
  compared: from a first page of 5 projects with 2 tasks each, verification fetches with the
  peer's own cursors the page of projects after its `endCursor` and the page of the first
  project's tasks after that project's `endCursor`, and checks their rows.
- `filtered`: the user's tasks with one status, 50 soonest due and their `totalCount`, the
  status a variable (`$status`) that rotates over the four statuses between requests as the
  users do.

Peers (bench.lineup): Quintet in production mode, PostGraphile v4, a naive Strawberry server,
and the floor (batched SQL + orjson, no GraphQL); each is started as its own server process
on a loopback port, one after another, on the same Postgres database and data.

For each peer the harness first verifies it: the peer is started behind a counting proxy
(bench.pgcount), every operation is sent to it for several users and each answer is compared
with what the database holds (bench.checks; a wrong answer stops the run), and the SQL
statements per request are counted. Then the peer is restarted on a direct connection and wrk
loads it with each operation, rotating over users, after a warm-up; peers take turns in
alternating order (ABCD, DCBA, ...) over the repeats. Results: a table per scale on stdout,
the raw figures as JSON under bench/results/ (and `--markdown` for BENCHMARKS.md).

Needs wrk (`apt-get install -y wrk`) and, for PostGraphile, Node.js with npm.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from sqlalchemy.engine import make_url

from bench import report
from bench.checks import (
    RELAY_PROBE,
    RELAY_PROBE_TASKS,
    RELAY_TASKS,
    CorrectnessError,
    Entry,
    UserData,
    expected_dashboard,
    expected_filtered,
    expected_project_tasks,
    expected_relay,
    expected_tree,
    first_difference,
    task_count,
)
from bench.checks import load_user as load_user_rows
from bench.dataset import SCALES, TASK_STATUSES, Dataset, drop_database, prepare_dataset, resolve_server
from bench.lineup import (
    OPERATIONS,
    PEER_NAMES,
    POSTGRAPHILE_DIR,
    PROJECT_TASKS,
    Call,
    Peer,
    Quintet,
    build_peers,
)
from bench.loadgen import ToolMissing, require_wrk, run_wrk, write_requests
from bench.pgcount import CountingProxy
from bench.servers import ServerProcess, free_port, send
from core.security import TokenService, load_or_create_dev_key
from core.settings import Mode, Settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
KEY_PATH = ROOT / ".data" / "bench-jwt-signing-key.pem"
WARM_REQUESTS = 2  # per operation before statements are counted (connections, prepared statements)
MAX_CALLS = 4000  # requests in one wrk rotation file
INSTALL_NODE = (
    "Node.js and npm are needed for the PostGraphile peer: `apt-get install -y nodejs npm` (Debian/Ubuntu; "
    ".ci/run does this), or leave it out with --peers quintet,naive,floor."
)


@dataclass(frozen=True)
class Timing:
    """Defaults per scale. Smoke keeps few connections: a 2 s run must complete requests even
    on a busy machine, where one tree from a slow peer can take a second."""

    warmup_s: int
    duration_s: int
    repeats: int
    connections: int


TIMINGS = {"smoke": Timing(0, 2, 1, 4), "1x": Timing(5, 15, 3, 16), "10x": Timing(5, 15, 3, 16)}


def log(message: str) -> None:
    print(message, flush=True)


# ------------------------------------------------------------------------------ tools


async def ensure_postgraphile() -> None:
    """Node and npm present, and PostGraphile installed from the committed lock file."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise ToolMissing(INSTALL_NODE)
    installed = POSTGRAPHILE_DIR / "node_modules" / ".package-lock.json"
    lock = POSTGRAPHILE_DIR / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    log("== npm ci (PostGraphile, once: bench/peers/postgraphile/node_modules)")
    process = await asyncio.create_subprocess_exec(
        "npm",
        "ci",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        cwd=POSTGRAPHILE_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"npm ci failed ({process.returncode}):\n{output.decode(errors='replace')}")


async def _version(*argv: str) -> str:
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
    except OSError:
        return "not found"
    output, _ = await process.communicate()
    return output.decode(errors="replace").strip().splitlines()[0] if output.strip() else "?"


# --------------------------------------------------------------------------- requests


def mint_tokens(users: list[uuid.UUID], jwt_private_key: str) -> dict[uuid.UUID, str]:
    """Access tokens signed with the key Quintet is started with, valid for a day."""
    settings = Settings(mode=Mode.PRODUCTION, jwt_private_key=jwt_private_key, access_token_ttl_seconds=86_400)
    tokens = TokenService(settings)
    return {user: tokens.issue(user_id=user, role="user")[0] for user in users}


def build_calls(dataset: Dataset, tokens: dict[uuid.UUID, str]) -> dict[str, list[Call]]:
    """Each operation's requests, in a fixed shuffled order so that neighbours are different users."""
    rng = random.Random(7)
    users = list(dataset.users)
    rng.shuffle(users)
    per_user = [Call(user, tokens[user]) for user in users]
    per_task = [
        Call(user, tokens[user], task_id=task) for user in users for task in dataset.tasks_by_user.get(user, [])
    ]
    rng.shuffle(per_task)
    per_task = per_task[:MAX_CALLS]
    renames = [Call(c.user_id, c.token, c.task_id, f"Renamed by the benchmark #{n}") for n, c in enumerate(per_task)]
    # Every user asks for every status; neighbours differ in user and (mostly) in status.
    statuses = [status for status, _ in TASK_STATUSES]
    by_status = [
        dataclasses.replace(call, status=statuses[(n + turn) % len(statuses)])
        for turn in range(len(statuses))
        for n, call in enumerate(per_user)
    ]
    return {
        "tree": per_user[:MAX_CALLS],
        "dashboard": per_user[:MAX_CALLS],
        "node": per_task,
        "mutation": renames,
        "relay": per_user[:MAX_CALLS],
        "filtered": by_status[:MAX_CALLS],
    }


class Expectations:
    """What each call must return, from the database (bench.checks), cached per user."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._users: dict[uuid.UUID, UserData] = {}

    async def _user(self, user_id: uuid.UUID) -> UserData:
        if user_id not in self._users:
            conn = await asyncpg.connect(self.url)
            try:
                self._users[user_id] = await load_user_rows(conn, user_id)
            finally:
                await conn.close()
        return self._users[user_id]

    async def of(self, operation: str, call: Call) -> list[Entry]:
        if operation == "tree":
            return expected_tree(await self._user(call.user_id))
        if operation == "dashboard":
            return expected_dashboard(await self._user(call.user_id))
        if operation == "relay":
            user = await self._user(call.user_id)
            return expected_relay(user, skipped=call.skipped, first=call.first, tasks=call.task_page)
        if operation == PROJECT_TASKS:
            assert call.project_id is not None
            user = await self._user(call.user_id)
            return expected_project_tasks(user, call.project_id, skipped=call.skipped, first=call.first)
        if operation == "filtered":
            assert call.status is not None
            return expected_filtered(await self._user(call.user_id), call.status)
        if operation == "node":
            return [("task", call.task_id)]
        return [("task", call.task_id, call.title)]


async def checked_request(
    client: httpx.AsyncClient, peer: Peer, operation: str, call: Call, expectations: Expectations
) -> int:
    """Send one request and compare its answer with the database; the answer's task count."""
    return (await checked_answer(client, peer, operation, call, expectations))[0]


async def checked_answer(
    client: httpx.AsyncClient, peer: Peer, operation: str, call: Call, expectations: Expectations
) -> tuple[int, Any]:
    """`checked_request`, and the answer's JSON."""
    response = await send(client, peer.request(operation, call))
    if response.status_code != 200:
        raise CorrectnessError(f"{peer.name} {operation}: HTTP {response.status_code}: {response.text[:500]}")
    try:
        body = orjson.loads(response.content)
        observed = peer.entries(operation, body)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorrectnessError(
            f"{peer.name} {operation}: unexpected response shape ({exc!r}): {response.text[:500]}"
        ) from exc
    except CorrectnessError as exc:
        raise CorrectnessError(f"{peer.name} {operation}: {exc}") from None
    expected = await expectations.of(operation, call)
    difference = first_difference(expected, observed)
    if difference is not None:
        raise CorrectnessError(f"{peer.name} {operation} for user {call.user_id}{_page_note(call)}: {difference}")
    return task_count(observed), body


def _page_note(call: Call) -> str:
    if call.status is not None:
        return f", status {call.status}"
    if call.project_id is not None:
        return f", the page after the first {call.skipped} tasks of project {call.project_id}"
    if call.after is not None:
        return f", the page after its {call.skipped} newest projects"
    return ""


async def check_next_page(
    client: httpx.AsyncClient, peer: Peer, call: Call, expectations: Expectations
) -> dict[str, Any]:
    """The peer's own cursors lead to the right next pages. From a first page of RELAY_PROBE
    projects with RELAY_PROBE_TASKS tasks each: the page of projects after its `endCursor`, and
    the page of the first project's tasks after that project's `endCursor`, each checked row
    by row."""
    first_page = dataclasses.replace(call, first=RELAY_PROBE, task_page=RELAY_PROBE_TASKS, after=None, skipped=0)
    _, body = await checked_answer(client, peer, "relay", first_page, expectations)
    cursors = peer.relay_cursors(body)
    if cursors.end is None or cursors.project_tasks_end is None:
        raise CorrectnessError(
            f"{peer.name} relay: no endCursor on a first page of {RELAY_PROBE} projects "
            f"and {RELAY_PROBE_TASKS} tasks each: {cursors}"
        )
    next_projects = dataclasses.replace(call, after=cursors.end, skipped=RELAY_PROBE)
    project_tasks, _ = await checked_answer(client, peer, "relay", next_projects, expectations)
    next_tasks = dataclasses.replace(
        call,
        project_id=cursors.project_id,
        first=RELAY_TASKS,
        after=cursors.project_tasks_end,
        skipped=RELAY_PROBE_TASKS,
    )
    tasks, _ = await checked_answer(client, peer, PROJECT_TASKS, next_tasks, expectations)
    return {
        "projects": {"after_first": RELAY_PROBE, "first": next_projects.first, "tasks": project_tasks},
        "project_tasks": {"after_first": RELAY_PROBE_TASKS, "first": RELAY_TASKS, "tasks": tasks},
    }


# ----------------------------------------------------------------------- verification


def _proxy_for(url: str) -> tuple[CountingProxy, Any]:
    parsed = make_url(url)
    socket_dir = parsed.query.get("host")
    port = parsed.port or 5432
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        proxy = CountingProxy(unix_socket=f"{socket_dir}/.s.PGSQL.{port}")
    else:
        proxy = CountingProxy(host=parsed.host or "127.0.0.1", port=port)
    return proxy, parsed


async def verify_peer(
    peer: Peer,
    *,
    dataset: Dataset,
    operations: list[str],
    calls: dict[str, list[Call]],
    expectations: Expectations,
    counted_requests: int,
    logs: Path,
) -> dict[str, Any]:
    """Check every operation's answers and count its statements, through the counting proxy."""
    proxy, parsed = _proxy_for(dataset.url)
    await proxy.start()
    dsn = parsed.set(host="127.0.0.1", port=proxy.port, query={}).render_as_string(hide_password=False)
    results: dict[str, Any] = {}
    try:
        port = free_port()
        async with (
            ServerProcess(peer.launch(port=port, workers=1, dsn=dsn), port, logs / f"{peer.name}-verify.log") as server,
            httpx.AsyncClient(base_url=server.base_url, timeout=120) as client,
        ):
            for operation in operations:
                sample = calls[operation]
                for index in range(WARM_REQUESTS):
                    await checked_request(client, peer, operation, sample[index % len(sample)], expectations)
                proxy.reset()
                tasks = []
                for index in range(WARM_REQUESTS, WARM_REQUESTS + counted_requests):
                    tasks.append(
                        await checked_request(client, peer, operation, sample[index % len(sample)], expectations)
                    )
                counts = proxy.reset()
                results[operation] = {
                    "checked_requests": WARM_REQUESTS + counted_requests,
                    "tasks_per_response": sorted(set(tasks)),
                    "statements": {
                        "counted_requests": counted_requests,
                        "queries": counts.queries,
                        "control": counts.control,
                        "queries_per_request": round(counts.queries / counted_requests, 2),
                        "control_per_request": round(counts.control / counted_requests, 2),
                    },
                    "statement_texts": [{"calls": n, "text": text} for text, n in counts.texts.most_common(12)],
                }
                if operation == "filtered":
                    checked = range(WARM_REQUESTS + counted_requests)
                    results[operation]["statuses_checked"] = sorted(
                        {str(sample[i % len(sample)].status) for i in checked}
                    )
                if operation == "relay":  # after the count (the next operation's starts afresh)
                    results[operation]["next_page"] = await check_next_page(client, peer, sample[0], expectations)
    finally:
        await proxy.stop()
    return results


async def quintet_dev_statements(
    dataset: Dataset, operations: list[str], calls: dict[str, list[Call]], jwt_private_key: str
) -> dict[str, int]:
    """Cross-check: Quintet in dev mode, in process, reports `extensions.sql.statements`."""
    from app import create_app  # the application itself, as tests/ and bench/tree_latency.py use it

    settings = Settings(
        _env_file=None,
        mode=Mode.DEV,
        database_url=dataset.sqlalchemy_url,
        data_dir=ROOT / ".data",
        jwt_private_key=jwt_private_key,
    )
    peer = Quintet(jwt_private_key)
    app = create_app(settings)
    reported: dict[str, int] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://quintet") as client:
            for operation in operations:
                for _ in range(2):  # the second one, on warm connections
                    response = await send(client, peer.request(operation, calls[operation][0]))
                body = orjson.loads(response.content)
                if body.get("errors"):
                    raise CorrectnessError(f"quintet (dev) {operation}: {body['errors']}")
                reported[operation] = int(body["extensions"]["sql"]["statements"])
    return reported


# ------------------------------------------------------------------------------ measuring


async def measure_peer(
    peer: Peer,
    *,
    dataset: Dataset,
    operations: list[str],
    calls: dict[str, list[Call]],
    expectations: Expectations,
    options: argparse.Namespace,
    logs: Path,
    workdir: Path,
    repeat: int,
) -> dict[str, dict[str, Any]]:
    port = free_port()
    launch = peer.launch(port=port, workers=options.workers, dsn=dataset.url)
    runs: dict[str, dict[str, Any]] = {}
    async with ServerProcess(launch, port, logs / f"{peer.name}-run{repeat + 1}.log") as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as client:
            for operation in operations:  # the measured server answers right too
                await checked_request(client, peer, operation, calls[operation][-1], expectations)
        for operation in operations:
            requests_file = workdir / f"{peer.name}-{operation}.http"
            write_requests(requests_file, [peer.request(operation, c) for c in calls[operation]], f"127.0.0.1:{port}")
            wrk = {"connections": options.connections, "threads": options.threads}
            if options.warmup:
                warmup = await run_wrk(server.base_url, requests_file, seconds=options.warmup, **wrk)
                await drain(server, peer, operation, calls[operation][0], warmup.max_ms)
            load_before = os.getloadavg()[0]
            result = await run_wrk(server.base_url, requests_file, seconds=options.duration, **wrk)
            await drain(server, peer, operation, calls[operation][0], result.max_ms)
            runs[operation] = {**result.as_dict(), "repeat": repeat + 1, "loadavg_1m_before": round(load_before, 2)}
            flag = f"  {result.errors} ERRORS" if result.errors else ""
            log(
                f"   {peer.name:<12} {operation:<9} {result.requests_per_second:>9,.1f} req/s  "
                f"p50 {result.p50_ms:>8.1f} ms  p99 {result.p99_ms:>8.1f} ms{flag}"
            )
    return runs


async def drain(server: ServerProcess, peer: Peer, operation: str, call: Call, max_latency_ms: float) -> None:
    """Wait until the server has finished the requests wrk left in flight at its deadline.

    A server goes on with a request whose client has gone; left alone, a backlog of slow
    requests (16 trees of a slow peer take seconds) would be measured as part of the next run.
    """
    await asyncio.sleep(min(60.0, max_latency_ms / 1000 * 1.2 + 0.2))
    async with httpx.AsyncClient(base_url=server.base_url, timeout=180) as client:
        await send(client, peer.request(operation, call))  # queued behind whatever is left


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float:
        return round(statistics.median(run[key] for run in runs), 2)

    return {
        "requests_per_second": median("requests_per_second"),
        "p50_ms": median("p50_ms"),
        "p95_ms": median("p95_ms"),
        "p99_ms": median("p99_ms"),
        "errors": sum(run["errors"] for run in runs),
        "runs": runs,
    }


# ------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.side_by_side",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="1x", help="dataset size (default 1x)")
    parser.add_argument("--peers", default=",".join(PEER_NAMES), help="comma-separated, in this order (default: all)")
    parser.add_argument("--operations", default=",".join(OPERATIONS), help="comma-separated (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="server processes per peer (default 2)")
    parser.add_argument("--connections", type=int, help="wrk connections (default 16; 4 at smoke scale)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--warmup", type=int, help="seconds of unmeasured load first (default by scale)")
    parser.add_argument("--duration", type=int, help="measured seconds per run (default by scale)")
    parser.add_argument("--repeats", type=int, help="rounds over all peers (default by scale)")
    parser.add_argument("--verify-requests", type=int, default=5, help="counted requests per operation (default 5)")
    parser.add_argument("--database-url", help="Postgres server (default: BENCH_DATABASE_URL, :5432, embedded)")
    parser.add_argument("--database", help="database name (default quintet_bench_<scale>)")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    parser.add_argument("--skip-crosscheck", action="store_true", help="skip Quintet's dev-mode statement count")
    parser.add_argument(
        "--json", type=Path, help="results file (default bench/results/side_by_side-<scale>-<time>.json)"
    )
    parser.add_argument("--markdown", action="store_true", help="also print (and save) a Markdown table")
    options = parser.parse_args(argv)
    timing = TIMINGS[options.scale]
    options.warmup = timing.warmup_s if options.warmup is None else options.warmup
    options.duration = timing.duration_s if options.duration is None else options.duration
    options.repeats = timing.repeats if options.repeats is None else options.repeats
    options.connections = timing.connections if options.connections is None else options.connections
    options.peer_names = [name.strip() for name in options.peers.split(",") if name.strip()]
    options.operation_names = [name.strip() for name in options.operations.split(",") if name.strip()]
    for name in options.peer_names:
        if name not in PEER_NAMES:
            parser.error(f"unknown peer {name!r}; choose among {', '.join(PEER_NAMES)}")
    for name in options.operation_names:
        if name not in OPERATIONS:
            parser.error(f"unknown operation {name!r}; choose among {', '.join(OPERATIONS)}")
    if min(options.workers, options.duration, options.repeats, options.verify_requests, options.connections) < 1:
        parser.error("--workers, --duration, --repeats, --connections and --verify-requests must be at least 1")
    return options


async def run(options: argparse.Namespace) -> dict[str, Any]:
    require_wrk()
    if "postgraphile" in options.peer_names:
        await ensure_postgraphile()
    scale = SCALES[options.scale]
    started_at = datetime.now(UTC)
    server_url, server_kind = resolve_server(options.database_url)
    log(f"== dataset {scale.name} on {server_kind}")
    dataset = await prepare_dataset(scale, server_url=server_url, server_kind=server_kind, database=options.database)
    name = make_url(dataset.url).database
    if dataset.built:
        log(f"   built {name} in {dataset.load_seconds:.1f} s")
    else:
        log(f"   reusing {name} (its marker matches)")
    try:
        return await _run_on(options, dataset, started_at)
    finally:
        if options.drop:
            await drop_database(server_url, str(name))


async def _run_on(options: argparse.Namespace, dataset: Dataset, started_at: datetime) -> dict[str, Any]:
    key = load_or_create_dev_key(KEY_PATH)
    tokens = mint_tokens(dataset.users, key)
    calls = build_calls(dataset, tokens)
    peers = build_peers(options.peer_names, jwt_private_key=key)
    operations = options.operation_names
    expectations = Expectations(dataset.url)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    logs = RESULTS / "logs" / stamp
    summary: dict[str, Any] = {
        "command": " ".join(["python -m bench.side_by_side", *map(shlex.quote, sys.argv[1:])]),
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "node": await _version("node", "--version") if "postgraphile" in options.peer_names else None,
            "wrk": await _version("wrk", "--version"),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        },
        "database": {
            "server": dataset.server_kind,
            "version": dataset.server_version,
            "name": make_url(dataset.url).database,
            "built_now": dataset.built,
            "load_seconds": round(dataset.load_seconds, 1),
        },
        "scale": {
            "name": dataset.scale.name,
            "users": dataset.scale.users,
            "pillars": dataset.scale.pillars,
            "areas_per_pillar": dataset.scale.areas_per_pillar,
            "projects_per_area": dataset.scale.projects_per_area,
            "tasks_per_project": dataset.scale.tasks_per_project,
            "tasks_per_user": dataset.scale.tasks_per_user,
        },
        "settings": {
            "workers": options.workers,
            "connections": options.connections,
            "threads": options.threads,
            "warmup_s": options.warmup,
            "duration_s": options.duration,
            "repeats": options.repeats,
        },
        "peers": {peer.name: peer.title for peer in peers},
        "verification": {},
        "results": {},
    }

    log("== verifying each peer's answers against the database and counting its SQL statements")
    for peer in peers:
        verified = await verify_peer(
            peer,
            dataset=dataset,
            operations=operations,
            calls=calls,
            expectations=expectations,
            counted_requests=options.verify_requests,
            logs=logs,
        )
        summary["verification"][peer.name] = verified
        shown = ", ".join(
            f"{op} {v['tasks_per_response']} tasks/{v['statements']['queries_per_request']:g} SQL"
            for op, v in verified.items()
        )
        log(f"   {peer.name:<12} ok: {shown}")
    if "quintet" in options.peer_names and not options.skip_crosscheck:
        reported = await quintet_dev_statements(dataset, operations, calls, key)
        summary["quintet_dev_statements"] = reported
        counted = {op: summary["verification"]["quintet"][op]["statements"]["queries_per_request"] for op in operations}
        if any(reported[op] != counted[op] for op in operations):
            log(f"   WARNING: wire count {counted} differs from Quintet's dev-mode count {reported}")
        else:
            log(f"   quintet dev-mode statement count agrees: {reported}")

    log(
        f"== measuring: {options.repeats} repeat(s), {options.warmup} s warm-up + {options.duration} s per run, "
        f"{options.workers} worker(s), {options.connections} connections"
    )
    collected: dict[str, dict[str, list[dict[str, Any]]]] = {op: {p.name: [] for p in peers} for op in operations}
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as workdir:
        for repeat in range(options.repeats):
            order = peers if repeat % 2 == 0 else peers[::-1]
            log(f" - repeat {repeat + 1}: {', '.join(p.name for p in order)}")
            for peer in order:
                runs = await measure_peer(
                    peer,
                    dataset=dataset,
                    operations=operations,
                    calls=calls,
                    expectations=expectations,
                    options=options,
                    logs=logs,
                    workdir=Path(workdir),
                    repeat=repeat,
                )
                for operation, result in runs.items():
                    collected[operation][peer.name].append(result)

    for operation in operations:
        per_peer = {peer.name: summarize(collected[operation][peer.name]) for peer in peers}
        quintet = per_peer.get("quintet")
        for result in per_peer.values():
            result["quintet_ratio"] = (
                round(quintet["requests_per_second"] / result["requests_per_second"], 3)
                if quintet and result["requests_per_second"]
                else None
            )
        summary["results"][operation] = per_peer
    summary["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return summary


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        summary = asyncio.run(run(options))
    except ToolMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    except CorrectnessError as wrong:
        print(f"error: a peer answered wrong, nothing was measured after it: {wrong}", file=sys.stderr)
        return 1
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = summary["started_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    target = options.json or RESULTS / f"side_by_side-{options.scale}-{stamp}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    print()
    print(report.render_text(summary))
    if options.markdown:
        markdown = report.render_markdown(summary)
        target.with_suffix(".md").write_text(markdown + "\n")
        print()
        print(markdown)
    print(f"\nraw results: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
