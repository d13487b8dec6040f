"""Side by side: Quintet against what a frontend team would pick instead, in one command.

    uv run python -m bench.side_by_side                      # 1x: 200 users x 1,000 tasks
    uv run python -m bench.side_by_side --scale smoke        # tiny data, short runs: a check that all works
    uv run python -m bench.side_by_side --scale 1x --peers quintet,postgraphile5,postgraphile --repeats 1
    uv run python -m bench.side_by_side --scale 10x --markdown
    uv run python -m bench.side_by_side --peers quintet,postgraphile5 --operations campaign_dashboard

Operations (bench.lineup has each peer's document; bench.checks what each must return):

- `tree`: the whole tree of one user (pillars, areas, projects with progress, 50 tasks each).
- `dashboard`: 20 active projects soonest due, with progress and their 10 next open tasks.
- `node`: one task by id.
- `mutation`: rename one task.
- `relay`: a project list screen as Relay clients page it: `edges { cursor node }`, `pageInfo`
  and `totalCount` of the user's 20 newest projects, each with progress and its first 10 tasks
  by `edges`/`pageInfo` (`first`, `after` and the task count are variables, as a Relay
  pagination query has them), then the next page by `after`: the load alternates a first page
  and the next one, whose cursor is the peer's own `endCursor` of that user's first page
  (fetched from the measured server before its run). Newest first (created, then id) rather
  than by due date: PostGraphile v4's `after` drops the rows whose sort column is NULL (a fifth
  of the projects have no due date), so its next pages would be wrong. Cursors differ per peer
  and are never compared: verification checks each next page's rows, and also fetches, from a
  first page of 5 projects with 2 tasks each, with the peer's own cursors the page of projects
  after its `endCursor` and the page of the first project's tasks after that project's.
- `filtered`: the user's tasks with one status and one priority, 50 soonest due and their
  `totalCount`, status and priority variables (`$status`, `$priority`) that rotate over the
  16 pairs between requests as the users do.
- `nodes50`: 50 of the user's tasks by id, as a client refetches what its cache holds:
  Quintet's `nodes(ids:)`; PostGraphile has no `nodes`, so its client filters the user's tasks
  by `id in $ids`; the naive server asks once per id; the floor with one `= ANY($1)`.
- `login`: sign in with email and password. Quintet's `login` verifies an argon2 hash, signs
  an ES256 access token and stores a refresh token; its sign-in limits stay on, and each
  request comes from an address of its own (`X-Forwarded-For`, as through a load balancer).
  PostGraphile's `authenticate(email, password)` (bench/peers/postgraphile/login.sql)
  verifies a bcrypt hash with pgcrypto at the highest cost whose check takes no more CPU than
  argon2's, chosen in each run (both are
  measured and printed), and makes no token; without pgcrypto (the embedded Postgres) the
  PostGraphile peers skip it, and the output says so. A login run lasts at least 3 s (one
  sign-in takes about a second on a busy 2-core machine).
- `writes`: the write mix: `createTask`, then an update of the task it created (to in
  progress, URGENT), chained by bench/wrk_writes.lua (the create's answer gives the id the
  update sends). Quintet computes the new task's position (so do the naive server and the
  floor); PostGraphile's client sends the id and the position (`createTask` with a `TaskInput`,
  then `updateTaskById`). Commits are durable: the run header prints the server's `fsync` and
  `synchronous_commit`, which the harness never changes. After each run the rows it created
  are checked against what was sent (user, project, title, due date, status and priority,
  every update applied but the few in flight at the end), then deleted, so that every other
  operation reads the same data.

- `campaign_dashboard`: an Akashic campaign's home screen (bench.campaign_dataset: campaigns of
  200 messages with 3 to 10 versions, analyses, 5,000 donations, their staff among the users):
  its 20 newest messages with their latest version and its analysis summary, and the donation
  totals per cycle, asked by the campaign's manager and finance director (who read donations).
  Quintet: `node(id:)` on the Campaign, one statement. PostGraphile v5 only (the Akashic tables
  are exposed to no other peer): `campaignByRowId`, with row-level security on for this
  operation (the request names its user in `X-Bench-User`; the peer runs it as Quintet's app
  role with that user's actor settings), smart tags for `latestVersion` and `analysis`, the
  totals a computed column (bench/peers/postgraphile/computed_columns.sql).

Peers (bench.lineup): Quintet in production mode, PostGraphile v5 and v4, a naive Strawberry
server, and the floor (batched SQL + orjson, no GraphQL); each is started as its own server
process on a loopback port, one after another, on the same Postgres database and data.

For each peer the harness first verifies it: the peer is started behind a counting proxy
(bench.pgcount), every operation is sent to it for several users and each answer is compared
with what the database holds (bench.checks; a wrong answer, a percent rounded otherwise than
Quintet rounds included, stops the run), and the SQL statements per request are counted. Then
the peer is restarted on a direct connection and wrk loads it with each operation, rotating
over users, after a warm-up; peers take turns in alternating order (ABCD, DCBA, ...) over the
repeats. Results: a table per operation on stdout (req/s the mean over repeats, latencies the
medians), a summary against PostGraphile v5 (the reference) and v4, the raw figures as JSON
under bench/results/ (and `--markdown` for BENCHMARKS.md).

Needs wrk (`apt-get install -y wrk`) and, for PostGraphile, Node.js with npm.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import random
import re
import secrets
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
from bench.campaign_dataset import DONATION_READERS
from bench.checks import (
    RELAY_PROBE,
    RELAY_PROBE_TASKS,
    RELAY_PROJECTS,
    RELAY_TASKS,
    CorrectnessError,
    Entry,
    UserData,
    expected_campaign_dashboard,
    expected_dashboard,
    expected_filtered,
    expected_nodes,
    expected_project_tasks,
    expected_relay,
    expected_tree,
    first_difference,
    task_count,
)
from bench.checks import load_user as load_user_rows
from bench.dataset import (
    PASSWORD,
    PRIORITIES,
    SCALES,
    TASK_STATUSES,
    Dataset,
    drop_database,
    password_costs,
    prepare_dataset,
    resolve_server,
)
from bench.lineup import (
    CAMPAIGN_DASHBOARD,
    CREATE,
    EXTRA_PEER_NAMES,
    NODE_PEERS,
    OPERATIONS,
    PEER_NAMES,
    PROJECT_TASKS,
    UPDATE,
    UPDATED_PRIORITY,
    UPDATED_STATUS,
    WRITE_DUE,
    WRITE_PRIORITY,
    WRITE_STATUS,
    Call,
    Peer,
    Quintet,
    build_peers,
)
from bench.loadgen import WRITES_SCRIPT, ToolMissing, require_wrk, run_wrk, write_requests, write_templates
from bench.pgcount import CountingProxy
from bench.servers import ServerProcess, free_port, send
from core.security import TokenService, load_or_create_dev_key
from core.settings import Mode, Settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
KEY_PATH = ROOT / ".data" / "bench-jwt-signing-key.pem"
WARM_REQUESTS = 2  # per operation before statements are counted (connections, prepared statements)
WARM_PER_WORKER = 4  # checked requests per worker and operation before a measured server takes load
MAX_CALLS = 4000  # requests in one wrk rotation file
#: Users whose first relay page is fetched before a run, for the next pages the load sends.
RELAY_USERS = 500
#: Measured seconds at least, per operation: one sign-in (argon2, bcrypt) takes about a second on
#: the busy 2-core machine, and wrk counts only the requests answered before its deadline.
MIN_DURATION_S = {"login": 3}
INSTALL_NODE = (
    "Node.js and npm are needed for the PostGraphile peers: `apt-get install -y nodejs npm` (Debian/Ubuntu; "
    ".ci/run does this), or leave them out with --peers quintet,naive,floor."
)


@dataclass(frozen=True)
class Timing:
    """Defaults per scale. Smoke keeps few connections: a short run must complete requests even
    on a busy machine, where one tree from a slow peer can take a second."""

    warmup_s: int
    duration_s: int
    repeats: int
    connections: int


TIMINGS = {"smoke": Timing(0, 2, 1, 4), "1x": Timing(5, 15, 3, 16), "10x": Timing(5, 15, 3, 16)}


def log(message: str) -> None:
    print(message, flush=True)


# ------------------------------------------------------------------------------ tools


async def ensure_node_peer(folder: Path) -> None:
    """Node and npm present, and the peer installed from its committed lock file."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise ToolMissing(INSTALL_NODE)
    installed = folder / "node_modules" / ".package-lock.json"
    lock = folder / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    log(f"== npm ci (once: {folder.relative_to(ROOT)}/node_modules)")
    process = await asyncio.create_subprocess_exec(
        "npm",
        "ci",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        cwd=folder,
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


def filter_pairs() -> list[tuple[str, int]]:
    """Every (status, priority) of the filtered list, ordered so that consecutive pairs differ
    in status, and a pair's priority changes between its turns."""
    statuses = [status for status, _ in TASK_STATUSES]
    priorities = [priority for priority, _ in PRIORITIES]
    count = len(statuses) * len(priorities)
    return [(statuses[k % len(statuses)], priorities[(k // len(statuses) + k) % len(priorities)]) for k in range(count)]


def client_address(number: int) -> str:
    """The n-th client address of the login workload (10.0.0.0/8: as many as there are calls)."""
    return f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"


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
    # Every user asks for every (status, priority); neighbours differ in user and status.
    pairs = filter_pairs()
    by_filter = [
        dataclasses.replace(call, status=pairs[(n + turn) % len(pairs)][0], priority=pairs[(n + turn) % len(pairs)][1])
        for turn in range(len(pairs))
        for n, call in enumerate(per_user)
    ]
    nodes = [dataclasses.replace(call, task_ids=tuple(sorted(dataset.node_sets[call.user_id]))) for call in per_user]
    logins = [
        Call(
            user,
            tokens[user],
            email=dataset.emails[user],
            password=PASSWORD,
            address=client_address(n),
        )
        for n, user in enumerate(users[i % len(users)] for i in range(max(len(users), MAX_CALLS)))
    ]
    writes = [dataclasses.replace(call, project_id=dataset.write_projects[call.user_id]) for call in per_user]
    # The campaign dashboard: each campaign's staff who read its donations, campaigns alternating.
    readers = [
        Call(staff[role], tokens[staff[role]], campaign_id=campaign)
        for role in DONATION_READERS
        for campaign, staff in sorted(dataset.campaigns.items())
        if role in staff
    ]
    return {
        "tree": per_user[:MAX_CALLS],
        "dashboard": per_user[:MAX_CALLS],
        "node": per_task,
        "mutation": renames,
        "relay": per_user[:RELAY_USERS],
        "filtered": by_filter[:MAX_CALLS],
        "nodes50": nodes[:MAX_CALLS],
        "login": logins[:MAX_CALLS],
        "writes": writes[:MAX_CALLS],
        CAMPAIGN_DASHBOARD: readers[:MAX_CALLS],
    }


class Expectations:
    """What each call must return, from the database (bench.checks), cached per user."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._users: dict[uuid.UUID, UserData] = {}
        self._campaigns: dict[uuid.UUID, list[Entry]] = {}

    async def _user(self, user_id: uuid.UUID) -> UserData:
        if user_id not in self._users:
            conn = await asyncpg.connect(self.url)
            try:
                self._users[user_id] = await load_user_rows(conn, user_id)
            finally:
                await conn.close()
        return self._users[user_id]

    async def of(self, operation: str, call: Call) -> list[Entry]:
        if operation == CAMPAIGN_DASHBOARD:
            assert call.campaign_id is not None
            if call.campaign_id not in self._campaigns:
                conn = await asyncpg.connect(self.url)
                try:
                    self._campaigns[call.campaign_id] = await expected_campaign_dashboard(conn, call.campaign_id)
                finally:
                    await conn.close()
            return self._campaigns[call.campaign_id]
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
            assert call.priority is not None
            return expected_filtered(await self._user(call.user_id), call.status, call.priority)
        if operation == "nodes50":
            return expected_nodes(await self._user(call.user_id), call.task_ids)
        if operation == "login":
            return [("user", call.user_id)]
        if operation == "node":
            return [("task", call.task_id)]
        if operation == UPDATE:
            return [("task", call.task_id, UPDATED_STATUS, UPDATED_PRIORITY)]
        return [("task", call.task_id, call.title)]


async def checked_request(
    client: httpx.AsyncClient, peer: Peer, operation: str, call: Call, expectations: Expectations
) -> int:
    """Send one request and compare its answer with the database; the answer's task count."""
    return (await checked_answer(client, peer, operation, call, expectations))[0]


async def _answer(client: httpx.AsyncClient, peer: Peer, operation: str, call: Call) -> Any:
    response = await send(client, peer.request(operation, call))
    if response.status_code != 200:
        raise CorrectnessError(f"{peer.name} {operation}: HTTP {response.status_code}: {response.text[:500]}")
    try:
        return orjson.loads(response.content)
    except ValueError as exc:
        raise CorrectnessError(f"{peer.name} {operation}: not JSON ({exc}): {response.text[:500]}") from exc


async def checked_answer(
    client: httpx.AsyncClient, peer: Peer, operation: str, call: Call, expectations: Expectations
) -> tuple[int, Any]:
    """`checked_request`, and the answer's JSON."""
    body = await _answer(client, peer, operation, call)
    try:
        observed = peer.entries(operation, body)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorrectnessError(
            f"{peer.name} {operation}: unexpected response shape ({exc!r}): {orjson.dumps(body).decode()[:500]}"
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
        return f", status {call.status} and priority {call.priority}"
    if call.project_id is not None and call.task_id is None:
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


async def with_next_pages(
    client: httpx.AsyncClient, peer: Peer, calls: list[Call], expectations: Expectations | None = None
) -> list[Call]:
    """Each user's first relay page followed by its next page, by the `endCursor` this server
    gave for the first (checked against the database when `expectations` is given)."""
    paged: list[Call] = []
    for call in calls:
        if expectations is not None:
            _, body = await checked_answer(client, peer, "relay", call, expectations)
        else:
            body = await _answer(client, peer, "relay", call)
        end = peer.relay_cursors(body).end
        if end is None:
            raise CorrectnessError(f"{peer.name} relay: no endCursor on the first page of user {call.user_id}")
        paged += [call, dataclasses.replace(call, after=end, skipped=RELAY_PROJECTS)]
    return paged


# ---------------------------------------------------------------------------- writes


def new_marker() -> str:
    """The title prefix of one run's created tasks: `W` and 8 random hex digits."""
    return f"W{secrets.token_hex(4)}"


async def checked_write(
    client: httpx.AsyncClient, peer: Peer, call: Call, title: str, number: int, expectations: Expectations
) -> uuid.UUID:
    """One pair of the write mix from Python: create (PostGraphile: with the id and position its
    client makes), then update the task the create returned; both answers checked. The new id."""
    create = dataclasses.replace(call, title=title, task_id=uuid.uuid4(), position=1_000_000 + number)
    body = await _answer(client, peer, CREATE, create)
    try:
        created = peer.entries(CREATE, body)
    except (KeyError, TypeError, ValueError, CorrectnessError) as exc:
        raise CorrectnessError(f"{peer.name} createTask: {exc!r}: {orjson.dumps(body).decode()[:500]}") from None
    task_id = created[0][1]
    if created != [("task", task_id, title)] or (peer.client_sends_id_and_position and task_id != create.task_id):
        raise CorrectnessError(f"{peer.name} createTask answered {created}, for the title {title!r}")
    await checked_request(client, peer, UPDATE, dataclasses.replace(call, task_id=task_id), expectations)
    return task_id


async def written_rows(url: str, marker: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(
            "SELECT id, user_id, project_id, title, description, status, priority, due_at, completed_at, position"
            " FROM tasks WHERE title LIKE $1 ORDER BY title",
            f"{marker} %",
        )
    finally:
        await conn.close()


async def delete_written(url: str, marker: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        status = await conn.execute("DELETE FROM tasks WHERE title LIKE $1", f"{marker} %")
    finally:
        await conn.close()
    return int(status.split()[-1])


def _row_difference(row: asyncpg.Record, call: Call, peer: Peer) -> str | None:
    """What is wrong with a created row, given the entry it was created for; None if nothing."""
    sent = (call.user_id, call.project_id, None, WRITE_DUE)
    stored = (row["user_id"], row["project_id"], row["description"], row["due_at"])
    if stored != sent:
        return f"user, project, description, due: {stored}, sent {sent}"
    if (row["status"], row["priority"]) not in {(WRITE_STATUS, WRITE_PRIORITY), (UPDATED_STATUS, UPDATED_PRIORITY)}:
        return f"status {row['status']!r} and priority {row['priority']}: neither the create's nor the update's"
    if row["completed_at"] is not None:
        return f"completed_at {row['completed_at']} on a task that is not done"
    if peer.client_sends_id_and_position and row["position"] < 1_000_000:
        return f"position {row['position']}, not the one the client sent"
    return None


async def check_written(
    url: str, peer: Peer, marker: str, entries: list[Call], counts: dict[str, int], connections: int
) -> dict[str, int]:
    """The rows a wrk run of the write mix left: each as sent (bench/wrk_writes.lua numbers the
    entries from 1 in the title), at least every create and update it saw answered, at most
    what it sent, and every created task updated but the few still queued or in flight at the
    end. CorrectnessError otherwise."""
    rows = await written_rows(url, marker)
    pattern = re.compile(rf"^{marker} (\d+) \d+-\d+$")
    updated = 0
    for row in rows:
        match = pattern.match(row["title"])
        if match is None or not 1 <= int(match[1]) <= len(entries):
            raise CorrectnessError(f"{peer.name} writes: a created task has the title {row['title']!r}")
        difference = _row_difference(row, entries[int(match[1]) - 1], peer)
        if difference is not None:
            raise CorrectnessError(f"{peer.name} writes: task {row['id']} ({row['title']}): {difference}")
        updated += row["status"] == UPDATED_STATUS
    summary = {"rows": len(rows), "updated_rows": updated, **counts}
    not_updated = len(rows) - updated
    problems = []
    if not counts["created"] <= len(rows) <= counts["creates_sent"]:
        problems.append(f"{len(rows)} rows for {counts['created']} creates answered of {counts['creates_sent']} sent")
    if not counts["updated"] <= updated <= counts["updates_sent"]:
        problems.append(f"{updated} updated rows for {counts['updated']} updates answered of {counts['updates_sent']}")
    if not_updated > counts["queued"] + connections:
        problems.append(
            f"{not_updated} rows never updated ({counts['queued']} updates queued, {connections} in flight)"
        )
    if not rows:
        problems.append("no row at all")
    if problems:
        raise CorrectnessError(f"{peer.name} writes (marker {marker}): " + "; ".join(problems))
    return summary


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


async def _verify_writes(
    client: httpx.AsyncClient,
    peer: Peer,
    sample: list[Call],
    expectations: Expectations,
    proxy: CountingProxy,
    counted_requests: int,
    url: str,
) -> dict[str, Any]:
    """The write mix in verification: pairs from Python, each answer checked, each row read back."""
    marker = new_marker()
    created: list[uuid.UUID] = []
    try:
        for index in range(WARM_REQUESTS + counted_requests):
            if index == WARM_REQUESTS:
                proxy.reset()
            call = sample[index % len(sample)]
            created.append(
                await checked_write(client, peer, call, f"{marker} {index + 1} 0-{index}", index, expectations)
            )
        counts = proxy.reset()
        rows = {row["id"]: row for row in await written_rows(url, marker)}
        for index, task_id in enumerate(created):
            row = rows.get(task_id)
            call = sample[index % len(sample)]
            if row is None or row["status"] != UPDATED_STATUS:
                raise CorrectnessError(f"{peer.name} writes: task {task_id} is not in the database as updated: {row}")
            difference = _row_difference(row, call, peer)
            if difference is not None:
                raise CorrectnessError(f"{peer.name} writes: task {task_id}: {difference}")
    finally:
        await delete_written(url, marker)
    requests = 2 * counted_requests  # a create and an update per pair
    return {
        "checked_requests": 2 * (WARM_REQUESTS + counted_requests),
        "tasks_per_response": [1],
        "statements": {
            "counted_requests": requests,
            "queries": counts.queries,
            "control": counts.control,
            "queries_per_request": round(counts.queries / requests, 2),
            "control_per_request": round(counts.control / requests, 2),
        },
        "statement_texts": [{"calls": n, "text": text} for text, n in counts.texts.most_common(12)],
    }


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
                if peer.skips(operation):
                    continue
                sample = calls[operation]
                if operation == "writes":
                    results[operation] = await _verify_writes(
                        client, peer, sample, expectations, proxy, counted_requests, dataset.url
                    )
                    continue
                if operation == "relay":  # first pages and their next pages, alternating
                    needed = (WARM_REQUESTS + counted_requests + 1) // 2
                    sample = await with_next_pages(client, peer, sample[:needed], expectations)
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
                checked = [sample[i % len(sample)] for i in range(WARM_REQUESTS + counted_requests)]
                if operation == "filtered":
                    results[operation]["statuses_checked"] = sorted({str(call.status) for call in checked})
                    results[operation]["priorities_checked"] = sorted({int(call.priority or 0) for call in checked})
                if operation == "relay":  # after the count (the next operation's starts afresh)
                    results[operation]["next_pages_checked"] = sum(call.after is not None for call in checked)
                    results[operation]["next_page"] = await check_next_page(client, peer, sample[0], expectations)
                if operation == "login":  # and a wrong password is refused
                    wrong = dataclasses.replace(sample[0], password=PASSWORD + "!", address="192.0.2.1")
                    if not peer.refused(await _answer(client, peer, "login", wrong)):
                        raise CorrectnessError(f"{peer.name} login: a wrong password was not refused")
                    results[operation]["wrong_password_refused"] = True
    finally:
        await proxy.stop()
    return results


async def quintet_dev_statements(
    dataset: Dataset, operations: list[str], calls: dict[str, list[Call]], jwt_private_key: str
) -> dict[str, float]:
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
    reported: dict[str, float] = {}
    marker = new_marker()

    async def statements(client: httpx.AsyncClient, operation: str, call: Call) -> tuple[int, Any]:
        response = await send(client, peer.request(operation, call))
        body = orjson.loads(response.content)
        if body.get("errors"):
            raise CorrectnessError(f"quintet (dev) {operation}: {body['errors']}")
        return int(body["extensions"]["sql"]["statements"]), body

    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://quintet") as client:
                for operation in operations:
                    call = calls[operation][0]
                    for turn in range(2):  # the second one, on warm connections
                        if operation == "writes":
                            created, body = await statements(
                                client, CREATE, dataclasses.replace(call, title=f"{marker} 1 0-{turn}")
                            )
                            task_id = peer.entries(CREATE, body)[0][1]
                            updated, _ = await statements(client, UPDATE, dataclasses.replace(call, task_id=task_id))
                            reported[operation] = (created + updated) / 2
                        else:
                            reported[operation] = (await statements(client, operation, call))[0]
    finally:
        await delete_written(dataset.url, marker)
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
    measured = [operation for operation in operations if not peer.skips(operation)]
    async with ServerProcess(launch, port, logs / f"{peer.name}-run{repeat + 1}.log") as server:
        sequences = dict(calls)
        # The measured server answers right too, in every worker: each request on a connection of
        # its own, which the kernel hands to a worker by its port numbers (SO_REUSEPORT, or the node
        # cluster's round robin); WARM_PER_WORKER per worker make it most unlikely that a worker
        # meets its first request of a kind (parsing, planning, compiling) in the measured run.
        fresh = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=120, limits=fresh) as client:
            for operation in measured:
                if operation == "login":  # every check is an argon2 verify: once is enough
                    await checked_request(client, peer, operation, calls[operation][-1], expectations)
                    continue
                for turn in range(WARM_PER_WORKER * options.workers):
                    call = calls[operation][-1 - turn % len(calls[operation])]
                    if operation != "writes":
                        await checked_request(client, peer, operation, call, expectations)
                        continue
                    marker = new_marker()
                    try:
                        await checked_write(client, peer, call, f"{marker} 1 0-0", turn, expectations)
                    finally:
                        await delete_written(dataset.url, marker)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as client:
            if "relay" in measured:
                sequences["relay"] = await with_next_pages(client, peer, calls["relay"])
        for operation in measured:
            runs[operation] = await _measure_operation(
                peer, server, operation, sequences[operation], calls, dataset, options, workdir, port
            )
            runs[operation]["repeat"] = repeat + 1
            result = runs[operation]
            flag = f"  {result['errors']} ERRORS" if result["errors"] else ""
            log(
                f"   {peer.name:<13} {operation:<9} {result['requests_per_second']:>9,.1f} req/s  "
                f"p50 {result['p50_ms']:>8.1f} ms  p99 {result['p99_ms']:>8.1f} ms  "
                f"CPU s by process {result['server_cpu_seconds']}{flag}"
            )
    return runs


async def _measure_operation(
    peer: Peer,
    server: ServerProcess,
    operation: str,
    sequence: list[Call],
    calls: dict[str, list[Call]],
    dataset: Dataset,
    options: argparse.Namespace,
    workdir: Path,
    port: int,
) -> dict[str, Any]:
    host = f"127.0.0.1:{port}"
    requests_file = workdir / f"{peer.name}-{operation}.http"
    wrk: dict[str, Any] = {"connections": options.connections, "threads": options.threads}
    if operation == "writes":
        write_templates(requests_file, [peer.write_templates(call) for call in sequence], host)
        wrk["script"] = WRITES_SCRIPT
    else:
        write_requests(requests_file, [peer.request(operation, call) for call in sequence], host)
    # The drain probe: a read, for the operations that change what they are sent again.
    probe = ("node", calls["node"][0]) if operation in {"writes", "login"} else (operation, sequence[0])
    started = datetime.now(UTC)
    written: dict[str, Any] = {}

    async def run(seconds: int) -> Any:
        marker = new_marker()
        if operation == "writes":
            wrk["script_args"] = (marker, peer.write_shape.id_key, peer.write_shape.updated_status)
        result = await run_wrk(server.base_url, requests_file, seconds=seconds, **wrk)
        await drain(server, peer, probe[0], probe[1], result.max_ms)
        if operation == "writes":
            try:
                assert result.writes is not None
                written.update(
                    await check_written(dataset.url, peer, marker, sequence, result.writes, options.connections)
                )
            finally:
                await delete_written(dataset.url, marker)
        return result

    if options.warmup:
        await run(options.warmup)
    load_before = os.getloadavg()[0]
    cpu_before = server.cpu_seconds()
    result = await run(max(options.duration, MIN_DURATION_S.get(operation, 0)))
    cpu_after = server.cpu_seconds()
    if operation == "login":  # Quintet's sign-ins stored refresh tokens: the dataset stays as it was
        await _delete_refresh_tokens(dataset.url, started)
    return {
        **result.as_dict(),
        "loadavg_1m_before": round(load_before, 2),
        "server_cpu_seconds": _cpu_by_process(cpu_before, cpu_after),
        **({"written": written} if written else {}),
    }


def _cpu_by_process(before: dict[int, float], after: dict[int, float]) -> list[float]:
    """The CPU seconds each of the server's processes spent in the measured run (drain
    included), busiest first: whether its workers shared the load (a 16/0 split of the
    connections halves a two-worker server) is read here, beside its req/s."""
    spent = [after[pid] - before.get(pid, 0.0) for pid in after]
    return sorted((round(seconds, 2) for seconds in spent if seconds >= 0.01), reverse=True)


async def _delete_refresh_tokens(url: str, since: datetime) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM refresh_tokens WHERE created_at >= $1", since)
    finally:
        await conn.close()


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
        "requests_per_second": round(statistics.mean(run["requests_per_second"] for run in runs), 2),
        "median_requests_per_second": median("requests_per_second"),
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
        if name not in (*PEER_NAMES, *EXTRA_PEER_NAMES):
            parser.error(f"unknown peer {name!r}; choose among {', '.join((*PEER_NAMES, *EXTRA_PEER_NAMES))}")
    for name in options.operation_names:
        if name not in OPERATIONS:
            parser.error(f"unknown operation {name!r}; choose among {', '.join(OPERATIONS)}")
    if min(options.workers, options.duration, options.repeats, options.verify_requests, options.connections) < 1:
        parser.error("--workers, --duration, --repeats, --connections and --verify-requests must be at least 1")
    return options


async def run(options: argparse.Namespace) -> dict[str, Any]:
    require_wrk()
    for peer_name, folder in NODE_PEERS.items():
        if peer_name in options.peer_names:
            await ensure_node_peer(folder)
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
    settings = ", ".join(f"{key} {value}" for key, value in dataset.pg_settings.items())
    log(f"   Postgres {dataset.server_version}: {settings} (the bench changes none of them)")
    if not report.durable(dataset.pg_settings):
        log(f"   WARNING: {report.NOT_DURABLE}")
    try:
        return await _run_on(options, dataset, started_at)
    finally:
        if "login" in options.operation_names:  # the sign-ins' refresh tokens: the dataset stays as it was
            await _delete_refresh_tokens(dataset.url, started_at)
        if options.drop:
            await drop_database(server_url, str(name))


async def _run_on(options: argparse.Namespace, dataset: Dataset, started_at: datetime) -> dict[str, Any]:
    key = load_or_create_dev_key(KEY_PATH)
    tokens = mint_tokens(dataset.users, key)
    calls = build_calls(dataset, tokens)
    peers = build_peers(options.peer_names, jwt_private_key=key, no_pgcrypto=dataset.no_pgcrypto)
    operations = options.operation_names
    expectations = Expectations(dataset.url)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    logs = RESULTS / "logs" / stamp
    uses_node = any(name in NODE_PEERS for name in options.peer_names)
    skipped = {
        operation: {peer.name: reason for peer in peers if (reason := peer.skips(operation))}
        for operation in operations
    }
    summary: dict[str, Any] = {
        "command": " ".join(["python -m bench.side_by_side", *map(shlex.quote, sys.argv[1:])]),
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "node": await _version("node", "--version") if uses_node else None,
            "wrk": await _version("wrk", "--version"),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        },
        "database": {
            "server": dataset.server_kind,
            "version": dataset.server_version,
            "name": make_url(dataset.url).database,
            "built_now": dataset.built,
            "load_seconds": round(dataset.load_seconds, 1),
            "settings": dataset.pg_settings,
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
        "peers": {peer.name: {"title": peer.title, **peer.describe(options.workers)} for peer in peers},
        "skipped": {operation: reasons for operation, reasons in skipped.items() if reasons},
        "verification": {},
        "results": {},
    }
    if "login" in operations:
        summary["password_costs"] = await password_costs(dataset.url, rounds=1 if options.scale == "smoke" else 3)
        costs = summary["password_costs"]
        log(f"== one password check: {report.password_line(costs)}")

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
        log(f"   {peer.name:<13} ok: {shown}")
        for operation, reasons in skipped.items():
            if peer.name in reasons:
                log(f"   {peer.name:<13} skips {operation}: {reasons[peer.name]}")
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
    collected: dict[str, dict[str, list[dict[str, Any]]]] = {
        op: {p.name: [] for p in peers if not p.skips(op)} for op in operations
    }
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
        per_peer = {name: summarize(runs) for name, runs in collected[operation].items()}
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
