"""The line-up of the side-by-side benchmark: how each peer is started, asked and read.

- `quintet`: this repository in production mode (`app.py serve --workers N`), ES256 access tokens.
- `postgraphile5`: PostGraphile v5 (the current release, amber preset, node-postgres) from npm
  over the same tables, no JWT and no row-level security (bench/peers/postgraphile5/).
- `postgraphile`: PostGraphile v4 from npm, the same way (bench/peers/postgraphile/).
- `naive`: a day-one Strawberry server with per-parent SQL and no DataLoaders (naive_strawberry.py).
- `floor`: batched SQL and orjson behind plain Starlette routes, no GraphQL (floor.py).

Every peer answers the same operations with the same data (checked by bench.checks); the
module docstring of bench.side_by_side says what each operation asks.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import sys
import tempfile
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import orjson

from bench.checks import (
    FILTERED_TASKS,
    RELAY_PROJECTS,
    RELAY_TASKS,
    CorrectnessError,
    Entry,
    Fields,
    walk_campaign_dashboard,
    walk_dashboard,
    walk_filtered,
    walk_project_tasks,
    walk_relay,
    walk_tasks,
    walk_tree,
)
from bench.dataset import ACTIVE_PROJECT_STATUSES, OPEN_TASK_STATUSES
from core.documents import sha256_id
from core.relay import from_global_id, to_global_id

ROOT = Path(__file__).resolve().parent.parent
POSTGRAPHILE_DIR = ROOT / "bench" / "peers" / "postgraphile"
POSTGRAPHILE5_DIR = ROOT / "bench" / "peers" / "postgraphile5"
OPERATIONS = (
    "tree",
    "dashboard",
    "node",
    "mutation",
    "relay",
    "filtered",
    "nodes50",
    "login",
    "writes",
    "campaign_dashboard",
)
CAMPAIGN_DASHBOARD = "campaign_dashboard"
#: Why a peer has no campaign dashboard: only Quintet and PostGraphile v5 expose the Akashic tables.
NO_CAMPAIGN_DASHBOARD = "the Akashic tables are exposed to Quintet and PostGraphile v5 only"
#: One project's tasks after a cursor: sent only by the cursor checks of verification, never measured.
PROJECT_TASKS = "project_tasks"
#: The two requests of the write mix (`writes`): a new task, then a change to it.
CREATE, UPDATE = "create", "update"
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}

# What the write mix sends: a task created HIGH (3), due at WRITE_DUE, to do; then changed to in
# progress and URGENT (4). bench.side_by_side checks the rows it leaves against these.
WRITE_PRIORITY, UPDATED_PRIORITY = 3, 4
WRITE_STATUS, UPDATED_STATUS = "todo", "in_progress"
WRITE_DUE = datetime(2031, 3, 1, 9, 30, tzinfo=UTC)
QUINTET_PRIORITIES = {1: "LOW", 2: "MEDIUM", 3: "HIGH", 4: "URGENT"}

# Placeholders of the write mix's request templates, which bench/wrk_writes.lua fills per request:
# the title (it carries the run's marker and the entry's number), the id of the task the create
# returned, and for PostGraphile, whose client sends them, the new task's id and position.
TITLE_SLOT, ID_SLOT, NEW_ID_SLOT, POSITION_SLOT = "@@TITLE@@", "@@ID@@", "@@NEWID@@", "@@POSITION@@"
_SENTINEL_ID = uuid.UUID("00000000-0000-4000-8000-00000000f00d")
_SENTINEL_NEW_ID = uuid.UUID("00000000-0000-4000-8000-00000000beef")
_SENTINEL_POSITION = 987_654_321


@dataclass(frozen=True)
class Call:
    """The arguments of one request: who asks; for `node`/`mutation` which task (and title);
    for `filtered` which task status (the database's value, e.g. `in_progress`) and priority
    (1-4); for `nodes50` which tasks (`task_ids`, in id order); for `login` the account's
    `email` and `password`, and the client `address` Quintet's sign-in limits count it under;
    for `writes` the project (`project_id`) the new task goes to, its `title`, and for the
    update the created task (`task_id`), for PostGraphile the new task's id and `position`
    too; for `relay` the page: `first` projects (each with `task_page` tasks) after the peer's
    own cursor `after`, which follows the `skipped` newest projects (what the answer is checked
    against: the cursor itself is opaque); for PROJECT_TASKS the same of one project's tasks."""

    user_id: uuid.UUID
    token: str
    task_id: uuid.UUID | None = None
    title: str | None = None
    status: str | None = None
    priority: int | None = None
    task_ids: tuple[uuid.UUID, ...] = ()
    email: str | None = None
    password: str | None = None
    address: str | None = None
    position: int | None = None
    first: int = RELAY_PROJECTS
    after: str | None = None
    skipped: int = 0
    task_page: int = RELAY_TASKS
    project_id: uuid.UUID | None = None
    #: campaign_dashboard: the campaign (`user_id` is one of its staff who reads its donations)
    campaign_id: uuid.UUID | None = None


@dataclass(frozen=True)
class RelayCursors:
    """What a `relay` answer offers to page on: its `endCursor`, and its first project's with
    that project's id (None on an empty page)."""

    end: str | None
    project_id: uuid.UUID | None
    project_tasks_end: str | None


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Launch:
    """How to start a peer's server and how to tell that it is ready."""

    argv: list[str]
    cwd: Path
    ready: HttpRequest
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteShape:
    """How bench/wrk_writes.lua reads a peer's write mix: the JSON key of the created task's id
    in the create's answer (and the form the update takes it in), and the status an update
    answers with."""

    id_key: str
    updated_status: str


def _post(path: str, payload: dict[str, Any], headers: dict[str, str]) -> HttpRequest:
    return HttpRequest("POST", path, {**JSON_HEADERS, **headers}, orjson.dumps(payload))


def _graphql_data(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise CorrectnessError(f"the response is not a JSON object: {body!r:.300}")
    if body.get("errors"):
        raise CorrectnessError(f"GraphQL errors: {orjson.dumps(body['errors']).decode():.600}")
    data = body.get("data")
    if not isinstance(data, dict):
        raise CorrectnessError(f"no data in the response: {orjson.dumps(body).decode():.300}")
    return data


def _raw_id(value: str) -> uuid.UUID:
    return uuid.UUID(value)


def _node_entries(task: dict[str, Any] | None, decode: Any, key: str = "id") -> list[Entry]:
    if task is None:
        raise CorrectnessError("the task came back null")
    if not task.get("title"):
        raise CorrectnessError(f"the task has no title: {task}")
    return [("task", decode(task[key]))]


def _renamed_entries(task: dict[str, Any] | None, decode: Any, key: str = "id") -> list[Entry]:
    """A mutation's task: its id and title (rename, create)."""
    if task is None:
        raise CorrectnessError("the mutation returned no task")
    return [("task", decode(task[key]), task["title"])]


def _updated_entries(task: dict[str, Any] | None, decode: Any, key: str = "id") -> list[Entry]:
    """The write mix's update: the task's id, status and priority as the database has them."""
    if task is None:
        raise CorrectnessError("the update returned no task")
    status, priority = task["status"], task["priority"]
    if isinstance(status, str):
        status = status.lower()
    if isinstance(priority, str):
        priority = {name: rank for rank, name in QUINTET_PRIORITIES.items()}[priority]
    return [("task", decode(task[key]), status, priority)]


def _login_entries(user: dict[str, Any] | None, decode: Any, key: str = "id") -> list[Entry]:
    if user is None:
        raise CorrectnessError("the sign-in was refused")
    return [("user", decode(user[key]))]


def _payload(data: dict[str, Any], name: str) -> dict[str, Any]:
    """A Quintet mutation's payload, once it has no `errors`."""
    payload: dict[str, Any] = data[name]
    if payload["errors"]:
        raise CorrectnessError(f"{name} errors: {payload['errors']}")
    return payload


def _uvicorn(module: str, *, port: int, workers: int, dsn: str) -> Launch:
    argv = [sys.executable, "-m", "uvicorn", f"{module}:app", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers), "--loop", "uvloop", "--http", "httptools"]
    argv += ["--log-level", "warning", "--no-access-log"]
    return Launch(
        argv=argv,
        cwd=ROOT,
        env={"BENCH_PEER_DSN": dsn},
        ready=HttpRequest("GET", "/healthz", {}),
    )


def lock_versions(folder: Path, packages: tuple[str, ...]) -> dict[str, str]:
    """The versions a committed package-lock.json pins for these packages."""
    try:
        lock = json.loads((folder / "package-lock.json").read_text())
    except (OSError, ValueError):
        return {}
    installed = lock.get("packages", {})
    return {
        name: installed[f"node_modules/{name}"]["version"] for name in packages if f"node_modules/{name}" in installed
    }


class Peer(ABC):
    name: ClassVar[str]
    title: ClassVar[str]
    #: How the peer's `relay` document names a project's tasks (and a row's id).
    relay_fields: ClassVar[Fields] = Fields()
    write_shape: ClassVar[WriteShape] = WriteShape(id_key="id", updated_status=UPDATED_STATUS)
    #: The peer's client sends the new task's id and position (PostGraphile); else the server
    #: makes them (Quintet computes the position, as the naive server and the floor do).
    client_sends_id_and_position: ClassVar[bool] = False

    @abstractmethod
    def launch(self, *, port: int, workers: int, dsn: str) -> Launch: ...

    @abstractmethod
    def request(self, operation: str, call: Call) -> HttpRequest: ...

    @abstractmethod
    def entries(self, operation: str, body: Any) -> list[Entry]:
        """The response reduced to entries (bench.checks); CorrectnessError if it is an error."""

    @abstractmethod
    def relay_projects(self, data: dict[str, Any]) -> dict[str, Any]:
        """The page of projects in the `data` of a `relay` response."""

    def skips(self, operation: str) -> str | None:
        """Why this peer does not answer `operation` (None: it does)."""
        return NO_CAMPAIGN_DASHBOARD if operation == CAMPAIGN_DASHBOARD else None

    def describe(self, workers: int) -> dict[str, Any]:
        """What the run header says about the peer: its processes and, for npm peers, versions."""
        return {"workers": workers}

    def decode_id(self, value: str) -> uuid.UUID:
        return _raw_id(value)

    def id_text(self, task_id: uuid.UUID) -> str:
        """The task id as the peer's requests carry it (and its answers return it)."""
        return str(task_id)

    def refused(self, body: Any) -> bool:
        """A `login` answer that refuses the sign-in (wrong password), without an error."""
        try:
            self.entries("login", body)
        except CorrectnessError:
            return True
        return False

    def relay_cursors(self, body: Any) -> RelayCursors:
        projects = self.relay_projects(_graphql_data(body))
        first = projects["edges"][0]["node"] if projects["edges"] else None
        fields = self.relay_fields
        return RelayCursors(
            end=projects["pageInfo"]["endCursor"],
            project_id=self.decode_id(first[fields.id]) if first else None,
            project_tasks_end=first[fields.tasks]["pageInfo"]["endCursor"] if first else None,
        )

    def write_templates(self, call: Call) -> tuple[HttpRequest, HttpRequest]:
        """The write mix's create and update for `call` with the placeholders wrk_writes.lua fills."""
        create = self.request(
            CREATE,
            replace(call, title=TITLE_SLOT, task_id=_SENTINEL_NEW_ID, position=_SENTINEL_POSITION),
        )
        update = self.request(UPDATE, replace(call, task_id=_SENTINEL_ID))
        create_body = create.body.replace(str(_SENTINEL_NEW_ID).encode(), NEW_ID_SLOT.encode())
        create_body = create_body.replace(str(_SENTINEL_POSITION).encode(), POSITION_SLOT.encode())
        update_body = update.body.replace(self.id_text(_SENTINEL_ID).encode(), ID_SLOT.encode())
        if TITLE_SLOT.encode() not in create_body or ID_SLOT.encode() not in update_body:
            raise AssertionError(f"{self.name}: the write templates lost a placeholder")
        return (
            HttpRequest(create.method, create.path, create.headers, create_body),
            HttpRequest(update.method, update.path, update.headers, update_body),
        )


# ----------------------------------------------------------------------------- Quintet

QUINTET_TREE = """query Tree { viewer { pillars(first: 20) { nodes {
  id name progress { percent totalTasks completedTasks }
  areas { nodes { id name progress { percent totalTasks completedTasks }
    projects { nodes { id name status progress { percent totalTasks completedTasks }
      tasks(first: 50) { totalCount nodes { id title status priority dueAt isOverdue } } } } } } } } } }"""

QUINTET_DASHBOARD = """query Dashboard { viewer {
  projects(first: 20, orderBy: DUE_AT_ASC, filter: {status: [NOT_STARTED, IN_PROGRESS]}) { nodes {
    id name status dueAt progress { percent totalTasks completedTasks }
    tasks(first: 10, orderBy: DUE_AT_ASC, filter: {status: [TODO, IN_PROGRESS]}) {
      nodes { id title status priority dueAt isOverdue } } } } } }"""

# The campaign dashboard: what a campaign's home screen shows (the 20 newest messages with their
# latest version and its analysis summary, the donation totals per cycle), one document.
QUINTET_CAMPAIGN_DASHBOARD = """query CampaignDashboard($id: ID!) { node(id: $id) { ... on Campaign {
  office messages(first: 20) { totalCount edges { node { id title status
    latestVersion { number createdAt analysis { status riskLevel issueCount resonanceScore } } } } }
  donationTotals { cycle totalCents contributedCents reversedCents contributions donors } } } }"""
CAMPAIGN_FIELDS = {"messages": "messages", "id": "id", "totals": "donationTotals"}

QUINTET_NODE = """query Node($id: ID!) { node(id: $id) {
  ... on Task { id title status priority dueAt isOverdue } } }"""

QUINTET_RENAME = """mutation Rename($input: UpdateTaskInput!) { updateTask(input: $input) {
  task { id title } errors { code message } } }"""

QUINTET_RELAY = """query Relay($first: Int!, $after: String, $tasks: Int!) { viewer {
  projects(first: $first, after: $after, orderBy: CREATED_AT_DESC) { totalCount
    edges { cursor node { id name status dueAt progress { percent totalTasks completedTasks }
      tasks(first: $tasks) {
        edges { cursor node { id title status dueAt } } pageInfo { hasNextPage endCursor } } } }
    pageInfo { hasNextPage endCursor } } } }"""

QUINTET_FILTERED = f"""query Filtered($status: TaskStatus!, $priority: Priority!) {{ viewer {{
  tasks(first: {FILTERED_TASKS}, orderBy: DUE_AT_ASC, filter: {{status: [$status], priority: [$priority]}}) {{
    totalCount nodes {{ id title status priority dueAt isOverdue }} }} }} }}"""

QUINTET_NODES = """query Nodes($ids: [ID!]!) { nodes(ids: $ids) {
  ... on Task { id title status priority dueAt isOverdue } } }"""

QUINTET_LOGIN = """mutation Login($input: LoginInput!) { login(input: $input) {
  session { accessToken refreshToken user { id } } errors { code message } } }"""

QUINTET_CREATE = """mutation CreateTask($input: CreateTaskInput!) { createTask(input: $input) {
  task { id title } errors { code message } } }"""

QUINTET_UPDATE = """mutation UpdateTask($input: UpdateTaskInput!) { updateTask(input: $input) {
  task { id status priority } errors { code message } } }"""

# Only in the cursor check of verification (PROJECT_TASKS).
QUINTET_PROJECT_TASKS = """query ProjectTasks($id: ID!, $first: Int!, $after: String) {
  node(id: $id) { ... on Project { id tasks(first: $first, after: $after) {
    edges { cursor node { id title status dueAt } } pageInfo { hasNextPage endCursor } } } } }"""


def _relay_variables(call: Call) -> dict[str, Any]:
    return {"first": call.first, "after": call.after, "tasks": call.task_page}


def _project_tasks_variables(call: Call) -> dict[str, Any]:
    return {"first": call.first, "after": call.after}


def _status(call: Call) -> str:
    assert call.status is not None
    return call.status


def _priority(call: Call) -> int:
    assert call.priority is not None
    return call.priority


def _quintet_id(value: str) -> uuid.UUID:
    return from_global_id(value)[1]


class Quintet(Peer):
    name = "quintet"
    title = "Quintet (production mode)"
    write_shape = WriteShape(id_key="id", updated_status=UPDATED_STATUS.upper())

    def __init__(self, jwt_private_key: str) -> None:
        self.jwt_private_key = jwt_private_key

    def launch(self, *, port: int, workers: int, dsn: str) -> Launch:
        return Launch(
            argv=[
                sys.executable,
                "app.py",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env={
                "MODE": "production",
                "DATABASE_URL": dsn,
                "JWT_PRIVATE_KEY": self.jwt_private_key,
                "API_KEY_SECRET": secrets.token_urlsafe(48),
                "LOG_LEVEL": "warning",
            },
            ready=HttpRequest("GET", "/readyz", {}),
        )

    def describe(self, workers: int) -> dict[str, Any]:
        return {"workers": workers, "processes": f"app.py serve --workers {workers} (a SO_REUSEPORT socket each)"}

    def id_text(self, task_id: uuid.UUID) -> str:
        return to_global_id("Task", task_id)

    def skips(self, operation: str) -> str | None:
        return None

    def request(self, operation: str, call: Call) -> HttpRequest:
        auth = {"Authorization": f"Bearer {call.token}"}
        if operation == CAMPAIGN_DASHBOARD:
            assert call.campaign_id is not None
            campaign = {"id": to_global_id("Campaign", call.campaign_id)}
            return _post("/graphql", {"query": QUINTET_CAMPAIGN_DASHBOARD, "variables": campaign}, auth)
        if operation == "tree":
            return _post("/graphql", {"query": QUINTET_TREE}, auth)
        if operation == "dashboard":
            return _post("/graphql", {"query": QUINTET_DASHBOARD}, auth)
        if operation == "relay":
            return _post("/graphql", {"query": QUINTET_RELAY, "variables": _relay_variables(call)}, auth)
        if operation == "filtered":
            variables: dict[str, Any] = {
                "status": _status(call).upper(),
                "priority": QUINTET_PRIORITIES[_priority(call)],
            }
            return _post("/graphql", {"query": QUINTET_FILTERED, "variables": variables}, auth)
        if operation == "nodes50":
            ids = [to_global_id("Task", task_id) for task_id in call.task_ids]
            return _post("/graphql", {"query": QUINTET_NODES, "variables": {"ids": ids}}, auth)
        if operation == "login":
            # Through a load balancer, as in production: each client its own address (uvicorn
            # takes X-Forwarded-For from 127.0.0.1), so the sign-in limits count every client
            # apart, as they would, and stay on.
            forwarded = {"X-Forwarded-For": call.address} if call.address else {}
            variables = {"input": {"email": str(call.email), "password": str(call.password)}}
            return _post("/graphql", {"query": QUINTET_LOGIN, "variables": variables}, forwarded)
        if operation == PROJECT_TASKS:
            assert call.project_id is not None
            variables = {"id": to_global_id("Project", call.project_id), **_project_tasks_variables(call)}
            return _post("/graphql", {"query": QUINTET_PROJECT_TASKS, "variables": variables}, auth)
        if operation == CREATE:
            assert call.project_id is not None
            task = {
                "projectId": to_global_id("Project", call.project_id),
                "title": call.title,
                "priority": QUINTET_PRIORITIES[WRITE_PRIORITY],
                "dueAt": WRITE_DUE.isoformat(),
            }
            return _post("/graphql", {"query": QUINTET_CREATE, "variables": {"input": task}}, auth)
        assert call.task_id is not None
        task_id = to_global_id("Task", call.task_id)
        if operation == UPDATE:
            changes = {
                "id": task_id,
                "status": UPDATED_STATUS.upper(),
                "priority": QUINTET_PRIORITIES[UPDATED_PRIORITY],
            }
            return _post("/graphql", {"query": QUINTET_UPDATE, "variables": {"input": changes}}, auth)
        if operation == "node":
            return _post("/graphql", {"query": QUINTET_NODE, "variables": {"id": task_id}}, auth)
        return _post(
            "/graphql", {"query": QUINTET_RENAME, "variables": {"input": {"id": task_id, "title": call.title}}}, auth
        )

    def entries(self, operation: str, body: Any) -> list[Entry]:
        data = _graphql_data(body)
        if operation == CAMPAIGN_DASHBOARD:
            return walk_campaign_dashboard(data["node"], CAMPAIGN_FIELDS, _quintet_id, lower=True)
        if operation == "tree":
            return walk_tree(data["viewer"]["pillars"], Fields(), _quintet_id)
        if operation == "dashboard":
            return walk_dashboard(data["viewer"]["projects"], Fields(), _quintet_id)
        if operation == "relay":
            return walk_relay(self.relay_projects(data), Fields(), _quintet_id)
        if operation == "filtered":
            return walk_filtered(data["viewer"]["tasks"], Fields(), _quintet_id)
        if operation == "nodes50":
            return walk_tasks(data["nodes"], Fields(), _quintet_id)
        if operation == "login":
            session = _payload(data, "login")["session"]
            if not session or not session["accessToken"] or not session["refreshToken"]:
                raise CorrectnessError(f"login gave no tokens: {session}")
            return _login_entries(session["user"], _quintet_id)
        if operation == PROJECT_TASKS:
            return walk_project_tasks(data["node"], Fields(), _quintet_id)
        if operation == "node":
            return _node_entries(data["node"], _quintet_id)
        if operation == CREATE:
            return _renamed_entries(_payload(data, "createTask")["task"], _quintet_id)
        if operation == UPDATE:
            return _updated_entries(_payload(data, "updateTask")["task"], _quintet_id)
        return _renamed_entries(_payload(data, "updateTask")["task"], _quintet_id)

    def refused(self, body: Any) -> bool:
        data = _graphql_data(body)
        payload = data["login"]
        return payload["session"] is None and [e["code"] for e in payload["errors"]] == ["INVALID_CREDENTIALS"]

    def relay_projects(self, data: dict[str, Any]) -> dict[str, Any]:
        projects: dict[str, Any] = data["viewer"]["projects"]
        return projects

    def decode_id(self, value: str) -> uuid.UUID:
        return _quintet_id(value)


class QuintetDocuments(Quintet):
    """Quintet with every operation sent as a trusted document (`documentId`, README "Trusted
    documents"): the same documents as `quintet`, registered as first-party documents before the
    server starts, so that requests carry no text and the server neither parses nor validates."""

    name = "quintet-documents"
    title = "Quintet (production mode), every operation by documentId"

    def launch(self, *, port: int, workers: int, dsn: str) -> Launch:
        launch = super().launch(port=port, workers=workers, dsn=dsn)
        manifest = Path(tempfile.gettempdir()) / f"quintet-bench-documents-{os.getpid()}.json"
        manifest.write_bytes(orjson.dumps(quintet_manifest()))
        steps = [
            [sys.executable, "app.py", "migrate"],
            [sys.executable, "app.py", "documents", "push", "--first-party", str(manifest)],
        ]
        script = " && ".join(f"{shlex.join(step)} >/dev/null" for step in steps) + " && exec " + shlex.join(launch.argv)
        return replace(launch, argv=["/bin/sh", "-c", script])

    def request(self, operation: str, call: Call) -> HttpRequest:
        sent = super().request(operation, call)
        payload = orjson.loads(sent.body)
        text = payload.pop("query")
        return replace(sent, body=orjson.dumps({"documentId": sha256_id(text), **payload}))


def quintet_manifest() -> dict[str, str]:
    """Quintet's documents of the side-by-side, as a manifest (`sha256:<hex>` → text)."""
    texts = (
        QUINTET_TREE,
        QUINTET_DASHBOARD,
        QUINTET_NODE,
        QUINTET_RENAME,
        QUINTET_RELAY,
        QUINTET_FILTERED,
        QUINTET_NODES,
        QUINTET_LOGIN,
        QUINTET_CREATE,
        QUINTET_UPDATE,
        QUINTET_PROJECT_TASKS,
        QUINTET_CAMPAIGN_DASHBOARD,
    )
    return {sha256_id(text): text for text in texts}


# ------------------------------------------------------------------------- PostGraphile

PROGRESS = "progress { percent totalTasks completedTasks }"
BY_POSITION = "orderBy: [POSITION_ASC, PRIMARY_KEY_ASC]"
BY_DUE = "orderBy: [DUE_AT_ASC, PRIMARY_KEY_ASC]"


class QuintetOwner(Quintet):
    """Quintet connected as the tables' owner with no actor settings (`ROW_SECURITY=false`):
    the same server with the database's second wall down, to measure what the wall costs."""

    name = "quintet-owner"
    title = "Quintet (production mode, row-level security bypassed)"

    def launch(self, *, port: int, workers: int, dsn: str) -> Launch:
        launch = super().launch(port=port, workers=workers, dsn=dsn)
        return replace(launch, env={**launch.env, "ROW_SECURITY": "false"})


@dataclass(frozen=True)
class PgNames:
    """Where PostGraphile v4 and v5 name things differently over the same tables: v5 gives the
    Relay global id the name `id` and calls the `id` column `rowId` (and its lookups `…ByRowId`)."""

    id: str
    user: str
    task: str
    project: str
    rename: str
    update: str
    #: the field of `authenticate`'s payload that holds the user (v5 names it `result`)
    signed_in: str

    def fields(self) -> Fields:
        return Fields(
            pillars="pillarsByUserId",
            areas="areasByPillarIdAndUserId",
            projects="projectsByAreaIdAndUserId",
            tasks="tasksByProjectIdAndUserId",
            id=self.id,
        )


PG4_NAMES = PgNames(
    id="id",
    user="userById",
    task="taskByIdAndUserId",
    project="projectByIdAndUserId",
    rename="updateTaskByIdAndUserId",
    update="updateTaskById",
    signed_in="user",
)
PG5_NAMES = PgNames(
    id="rowId",
    user="userByRowId",
    task="taskByRowIdAndUserId",
    project="projectByRowIdAndUserId",
    rename="updateTaskByRowIdAndUserId",
    update="updateTaskByRowId",
    signed_in="result",
)


def postgraphile_documents(n: PgNames) -> dict[str, str]:
    """Each operation's document for PostGraphile with these names; the same shapes for v4 and v5."""
    id_, user = n.id, f"{n.user}({n.id}: $user)"
    task_fields = f"{id_} title status priority dueAt isOverdue"
    return {
        "tree": f"""query Tree($user: UUID!) {{ {user} {{
  pillarsByUserId(first: 20, {BY_POSITION}) {{ nodes {{ {id_} name {PROGRESS}
  areasByPillarIdAndUserId(first: 20, {BY_POSITION}) {{ nodes {{ {id_} name {PROGRESS}
    projectsByAreaIdAndUserId(first: 20, {BY_POSITION}) {{ nodes {{ {id_} name status {PROGRESS}
      tasksByProjectIdAndUserId(first: 50, {BY_POSITION}) {{
        totalCount nodes {{ {task_fields} }} }} }} }} }} }} }} }} }} }}""",
        "dashboard": f"""query Dashboard($user: UUID!, $active: [String!]!, $open: [String!]!) {{ {user} {{
  projectsByUserId(first: 20, {BY_DUE}, filter: {{status: {{in: $active}}}}) {{ nodes {{
    {id_} name status dueAt {PROGRESS}
    tasksByProjectIdAndUserId(first: 10, {BY_DUE}, filter: {{status: {{in: $open}}}}) {{
      nodes {{ {task_fields} }} }} }} }} }} }}""",
        "node": f"""query Node($id: UUID!, $user: UUID!) {{ {n.task}({id_}: $id, userId: $user) {{
  {task_fields} }} }}""",
        "mutation": f"""mutation Rename($id: UUID!, $user: UUID!, $title: String!) {{
  {n.rename}(input: {{{id_}: $id, userId: $user, taskPatch: {{title: $title}}}}) {{ task {{ {id_} title }} }} }}""",
        "relay": f"""query Relay($user: UUID!, $first: Int!, $after: Cursor, $tasks: Int!) {{ {user} {{
  projectsByUserId(first: $first, after: $after, orderBy: [CREATED_AT_DESC, PRIMARY_KEY_DESC]) {{ totalCount
    edges {{ cursor node {{ {id_} name status dueAt {PROGRESS}
      tasksByProjectIdAndUserId(first: $tasks, {BY_POSITION}) {{
        edges {{ cursor node {{ {id_} title status dueAt }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}
    pageInfo {{ hasNextPage endCursor }} }} }} }}""",
        "filtered": f"""query Filtered($user: UUID!, $status: String!, $priority: Int!) {{ {user} {{
  tasksByUserId(first: {FILTERED_TASKS}, {BY_DUE}, condition: {{status: $status, priority: $priority}}) {{
    totalCount nodes {{ {task_fields} }} }} }} }}""",
        # PostGraphile has no `nodes(ids:)`: its client asks for the user's tasks with these ids.
        "nodes50": f"""query Nodes($user: UUID!, $ids: [UUID!]!) {{ {user} {{
  tasksByUserId(filter: {{{id_}: {{in: $ids}}}}, orderBy: PRIMARY_KEY_ASC) {{ nodes {{ {task_fields} }} }} }} }}""",
        "login": f"""mutation Login($email: String!, $password: String!) {{
  authenticate(input: {{email: $email, password: $password}}) {{ {n.signed_in} {{ {id_} }} }} }}""",
        CREATE: f"""mutation CreateTask($task: TaskInput!) {{ createTask(input: {{task: $task}}) {{
  task {{ {id_} title }} }} }}""",
        UPDATE: f"""mutation UpdateTask($id: UUID!, $patch: TaskPatch!) {{
  {n.update}(input: {{{id_}: $id, taskPatch: $patch}}) {{ task {{ {id_} status priority }} }} }}""",
        PROJECT_TASKS: f"""query ProjectTasks($id: UUID!, $user: UUID!, $first: Int!, $after: Cursor) {{
  {n.project}({id_}: $id, userId: $user) {{ {id_}
    tasksByProjectIdAndUserId(first: $first, after: $after, {BY_POSITION}) {{
      edges {{ cursor node {{ {id_} title status dueAt }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}""",
    }


class PostGraphile(Peer):
    """PostGraphile v4: `postgraphile` from npm with its CLI (`--cluster-workers` for N > 1)."""

    name = "postgraphile"
    title = "PostGraphile v4 (no JWT, no RLS)"
    names = PG4_NAMES
    folder = POSTGRAPHILE_DIR
    packages: ClassVar[tuple[str, ...]] = ("postgraphile", "postgraphile-plugin-connection-filter", "pg")
    client_sends_id_and_position = True

    relay_fields = PG4_NAMES.fields()
    write_shape = WriteShape(id_key=PG4_NAMES.id, updated_status=UPDATED_STATUS)

    def __init__(self, no_pgcrypto: str | None = None) -> None:
        self.no_pgcrypto = no_pgcrypto
        self.documents = postgraphile_documents(self.names)

    def launch(self, *, port: int, workers: int, dsn: str) -> Launch:
        argv = [str(self.folder / "node_modules" / ".bin" / "postgraphile"), "--connection", dsn]
        argv += ["--schema", "public", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--disable-graphiql", "--disable-query-log", "--dynamic-json", "--no-setof-functions-contain-nulls"]
        argv += ["--legacy-relations", "omit", "--max-pool-size", "20"]
        plugins = ["postgraphile-plugin-connection-filter", str(self.folder / "single-row-plugin.js")]
        argv += ["--append-plugins", ",".join(plugins)]
        if workers > 1:
            argv += ["--cluster-workers", str(workers)]
        return Launch(
            argv=argv,
            cwd=self.folder,
            env={"NODE_ENV": "production"},
            ready=_post("/graphql", {"query": "{ __typename }"}, {}),
        )

    def describe(self, workers: int) -> dict[str, Any]:
        processes = f"--cluster-workers {workers}" if workers > 1 else "one process"
        return {"workers": workers, "processes": processes, "versions": lock_versions(self.folder, self.packages)}

    def skips(self, operation: str) -> str | None:
        if operation == CAMPAIGN_DASHBOARD:
            return NO_CAMPAIGN_DASHBOARD
        return self.no_pgcrypto if operation == "login" else None

    def request(self, operation: str, call: Call) -> HttpRequest:
        user = str(call.user_id)
        document = self.documents[operation]
        variables: dict[str, Any]
        if operation in {"tree"}:
            variables = {"user": user}
        elif operation == "dashboard":
            variables = {"user": user, "active": list(ACTIVE_PROJECT_STATUSES), "open": list(OPEN_TASK_STATUSES)}
        elif operation == "relay":
            variables = {"user": user, **_relay_variables(call)}
        elif operation == "filtered":
            variables = {"user": user, "status": _status(call), "priority": _priority(call)}
        elif operation == "nodes50":
            variables = {"user": user, "ids": [str(task_id) for task_id in call.task_ids]}
        elif operation == "login":
            variables = {"email": call.email, "password": call.password}
        elif operation == PROJECT_TASKS:
            variables = {"id": str(call.project_id), "user": user, **_project_tasks_variables(call)}
        elif operation == CREATE:
            # The client makes the id and the position (PostGraphile computes neither).
            task = {
                self.names.id: str(call.task_id or uuid.uuid4()),
                "userId": user,
                "projectId": str(call.project_id),
                "title": call.title,
                "status": WRITE_STATUS,
                "priority": WRITE_PRIORITY,
                "dueAt": WRITE_DUE.isoformat(),
                "position": call.position if call.position is not None else 1_000_000,
            }
            variables = {"task": task}
        elif operation == UPDATE:
            variables = {"id": str(call.task_id), "patch": {"status": UPDATED_STATUS, "priority": UPDATED_PRIORITY}}
        elif operation == "node":
            variables = {"id": str(call.task_id), "user": user}
        else:
            variables = {"id": str(call.task_id), "user": user, "title": call.title}
        return _post("/graphql", {"query": document, "variables": variables}, {})

    def entries(self, operation: str, body: Any) -> list[Entry]:
        data = _graphql_data(body)
        n, fields = self.names, self.relay_fields
        if operation == "tree":
            return walk_tree(data[n.user]["pillarsByUserId"], fields, _raw_id)
        if operation == "dashboard":
            return walk_dashboard(data[n.user]["projectsByUserId"], fields, _raw_id)
        if operation == "relay":
            return walk_relay(self.relay_projects(data), fields, _raw_id)
        if operation == "filtered":
            return walk_filtered(data[n.user]["tasksByUserId"], fields, _raw_id)
        if operation == "nodes50":
            return walk_tasks(data[n.user]["tasksByUserId"]["nodes"], fields, _raw_id)
        if operation == "login":
            return _login_entries(data["authenticate"][n.signed_in], _raw_id, n.id)
        if operation == PROJECT_TASKS:
            return walk_project_tasks(data[n.project], fields, _raw_id)
        if operation == "node":
            return _node_entries(data[n.task], _raw_id, n.id)
        if operation == CREATE:
            return _renamed_entries(data["createTask"]["task"], _raw_id, n.id)
        if operation == UPDATE:
            return _updated_entries(data[n.update]["task"], _raw_id, n.id)
        return _renamed_entries(data[n.rename]["task"], _raw_id, n.id)

    def refused(self, body: Any) -> bool:
        return _graphql_data(body)["authenticate"][self.names.signed_in] is None

    def relay_projects(self, data: dict[str, Any]) -> dict[str, Any]:
        projects: dict[str, Any] = data[self.names.user]["projectsByUserId"]
        return projects


class PostGraphile5(PostGraphile):
    """PostGraphile v5: the amber preset with node-postgres (bench/peers/postgraphile5/
    graphile.config.mjs) served by grafserv on node:http (server.mjs; node:cluster workers), on
    the Node.js 22 its lock file installs."""

    name = "postgraphile5"
    title = "PostGraphile v5 (no JWT; no RLS but on the campaign dashboard)"
    names = PG5_NAMES
    relay_fields = PG5_NAMES.fields()
    write_shape = WriteShape(id_key=PG5_NAMES.id, updated_status=UPDATED_STATUS)
    folder = POSTGRAPHILE5_DIR
    packages = ("postgraphile", "postgraphile-plugin-connection-filter", "grafast", "@dataplan/pg", "pg", "node")

    def launch(self, *, port: int, workers: int, dsn: str) -> Launch:
        return Launch(
            # PostGraphile v5 needs Node.js 22 or later: the `node` package of its lock file
            # brings it (the system's Node, 20 on Debian, runs npm and the v4 peer).
            argv=[str(self.folder / "node_modules" / ".bin" / "node"), str(self.folder / "server.mjs")],
            cwd=self.folder,
            env={
                "NODE_ENV": "production",
                "GRAPHILE_ENV": "production",
                "DATABASE_URL": dsn,
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "WORKERS": str(workers),
            },
            ready=_post("/graphql", {"query": "{ __typename }"}, {}),
        )

    def describe(self, workers: int) -> dict[str, Any]:
        processes = f"node:cluster, {workers} workers" if workers > 1 else "one process"
        return {"workers": workers, "processes": processes, "versions": lock_versions(self.folder, self.packages)}

    def skips(self, operation: str) -> str | None:
        return self.no_pgcrypto if operation == "login" else None

    def request(self, operation: str, call: Call) -> HttpRequest:
        if operation != CAMPAIGN_DASHBOARD:
            return super().request(operation, call)
        # Row-level security on (graphile.config.mjs): the user's settings, Quintet's app role.
        user = {"X-Bench-User": str(call.user_id)}
        variables = {"id": str(call.campaign_id)}
        return _post("/graphql", {"query": PG5_CAMPAIGN_DASHBOARD, "variables": variables}, user)

    def entries(self, operation: str, body: Any) -> list[Entry]:
        if operation != CAMPAIGN_DASHBOARD:
            return super().entries(operation, body)
        campaign = _graphql_data(body)["campaignByRowId"]
        return walk_campaign_dashboard(campaign, PG5_CAMPAIGN_FIELDS, _raw_id, lower=False)


# The same fields, pages and order as Quintet's (newest first: created, then id), by v5's names
# and the smart tags of bench/peers/postgraphile/computed_columns.sql; the totals are a computed
# column (a list, as Quintet's).
PG5_CAMPAIGN_DASHBOARD = """query CampaignDashboard($id: UUID!) { campaignByRowId(rowId: $id) {
  office messagesByOrganizationId(first: 20, orderBy: [CREATED_AT_DESC, PRIMARY_KEY_DESC]) { totalCount
    edges { node { rowId title status
      latestVersion { number createdAt analysis { status riskLevel issueCount resonanceScore } } } } }
  donationTotalsList { cycle totalCents contributedCents reversedCents contributions donors } } }"""
PG5_CAMPAIGN_FIELDS = {"messages": "messagesByOrganizationId", "id": "rowId", "totals": "donationTotalsList"}


# ------------------------------------------------------------------------ naive Strawberry

NAIVE_PROGRESS = "progress { percent totalTasks completedTasks }"
NAIVE_TASK = "id title status priority dueAt isOverdue"
NAIVE_TREE = f"""query Tree {{ viewer {{ pillars(first: 20) {{ nodes {{ id name {NAIVE_PROGRESS}
  areas {{ nodes {{ id name {NAIVE_PROGRESS}
    projects {{ nodes {{ id name status {NAIVE_PROGRESS}
      tasks(first: 50) {{ totalCount nodes {{ {NAIVE_TASK} }} }} }} }} }} }} }} }} }} }}"""

NAIVE_DASHBOARD = f"""query Dashboard($active: [String!]!, $open: [String!]!) {{ viewer {{
  projects(first: 20, statuses: $active) {{ nodes {{ id name status dueAt {NAIVE_PROGRESS}
    tasks(first: 10, statuses: $open, orderByDue: true) {{
      nodes {{ {NAIVE_TASK} }} }} }} }} }} }}"""

NAIVE_RELAY = f"""query Relay($first: Int!, $after: String, $tasks: Int!) {{ viewer {{
  projectsConnection(first: $first, after: $after) {{ totalCount
    edges {{ cursor node {{ id name status dueAt {NAIVE_PROGRESS}
      tasksConnection(first: $tasks) {{
        edges {{ cursor node {{ id title status dueAt }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}
    pageInfo {{ hasNextPage endCursor }} }} }} }}"""
NAIVE_RELAY_FIELDS = Fields(tasks="tasksConnection")

NAIVE_PROJECT_TASKS = """query ProjectTasks($id: UUID!, $first: Int!, $after: String) {
  project(id: $id) { id tasksConnection(first: $first, after: $after) {
    edges { cursor node { id title status dueAt } } pageInfo { hasNextPage endCursor } } } }"""

NAIVE_FILTERED = f"""query Filtered($status: String!, $priority: Int!) {{ viewer {{
  tasks(first: {FILTERED_TASKS}, status: $status, priority: $priority) {{
    totalCount nodes {{ {NAIVE_TASK} }} }} }} }}"""

NAIVE_NODE = f"query Node($id: UUID!) {{ task(id: $id) {{ {NAIVE_TASK} }} }}"
NAIVE_NODES = f"query Nodes($ids: [UUID!]!) {{ tasks(ids: $ids) {{ {NAIVE_TASK} }} }}"
NAIVE_RENAME = (
    "mutation Rename($id: UUID!, $title: String!) { updateTask(id: $id, title: $title) { task { id title } } }"
)
NAIVE_LOGIN = (
    "mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { userId } }"
)
NAIVE_CREATE = """mutation CreateTask($project: UUID!, $title: String!, $priority: Int!, $dueAt: DateTime) {
  createTask(projectId: $project, title: $title, priority: $priority, dueAt: $dueAt) { task { id title } } }"""
NAIVE_UPDATE = """mutation UpdateTask($id: UUID!, $status: String!, $priority: Int!) {
  updateTask(id: $id, status: $status, priority: $priority) { task { id status priority } } }"""


class NaiveStrawberry(Peer):
    name = "naive"
    title = "naive Strawberry (N+1, no DataLoaders)"
    relay_fields = NAIVE_RELAY_FIELDS

    def launch(self, *, port: int, workers: int, dsn: str) -> Launch:
        return _uvicorn("bench.peers.naive_strawberry", port=port, workers=workers, dsn=dsn)

    def describe(self, workers: int) -> dict[str, Any]:
        return {"workers": workers, "processes": f"uvicorn --workers {workers}"}

    def request(self, operation: str, call: Call) -> HttpRequest:
        user = {"X-User-Id": str(call.user_id)}
        if operation == "tree":
            return _post("/graphql", {"query": NAIVE_TREE}, user)
        if operation == "dashboard":
            variables: dict[str, Any] = {"active": list(ACTIVE_PROJECT_STATUSES), "open": list(OPEN_TASK_STATUSES)}
            return _post("/graphql", {"query": NAIVE_DASHBOARD, "variables": variables}, user)
        if operation == "relay":
            return _post("/graphql", {"query": NAIVE_RELAY, "variables": _relay_variables(call)}, user)
        if operation == "filtered":
            variables = {"status": _status(call), "priority": _priority(call)}
            return _post("/graphql", {"query": NAIVE_FILTERED, "variables": variables}, user)
        if operation == "nodes50":
            variables = {"ids": [str(task_id) for task_id in call.task_ids]}
            return _post("/graphql", {"query": NAIVE_NODES, "variables": variables}, user)
        if operation == "login":
            variables = {"email": call.email, "password": call.password}
            return _post("/graphql", {"query": NAIVE_LOGIN, "variables": variables}, {})
        if operation == PROJECT_TASKS:
            paging = {"id": str(call.project_id), **_project_tasks_variables(call)}
            return _post("/graphql", {"query": NAIVE_PROJECT_TASKS, "variables": paging}, user)
        if operation == CREATE:
            variables = {
                "project": str(call.project_id),
                "title": call.title,
                "priority": WRITE_PRIORITY,
                "dueAt": WRITE_DUE.isoformat(),
            }
            return _post("/graphql", {"query": NAIVE_CREATE, "variables": variables}, user)
        if operation == UPDATE:
            variables = {"id": str(call.task_id), "status": UPDATED_STATUS, "priority": UPDATED_PRIORITY}
            return _post("/graphql", {"query": NAIVE_UPDATE, "variables": variables}, user)
        if operation == "node":
            return _post("/graphql", {"query": NAIVE_NODE, "variables": {"id": str(call.task_id)}}, user)
        renamed = {"id": str(call.task_id), "title": call.title}
        return _post("/graphql", {"query": NAIVE_RENAME, "variables": renamed}, user)

    def entries(self, operation: str, body: Any) -> list[Entry]:
        data = _graphql_data(body)
        if operation == "tree":
            return walk_tree(data["viewer"]["pillars"], Fields(), _raw_id)
        if operation == "dashboard":
            return walk_dashboard(data["viewer"]["projects"], Fields(), _raw_id)
        if operation == "relay":
            return walk_relay(self.relay_projects(data), NAIVE_RELAY_FIELDS, _raw_id)
        if operation == "filtered":
            return walk_filtered(data["viewer"]["tasks"], Fields(), _raw_id)
        if operation == "nodes50":
            return walk_tasks(data["tasks"], Fields(), _raw_id)
        if operation == "login":
            user_id = data["login"]["userId"]
            return _login_entries({"id": user_id} if user_id else None, _raw_id)
        if operation == PROJECT_TASKS:
            return walk_project_tasks(data["project"], NAIVE_RELAY_FIELDS, _raw_id)
        if operation == "node":
            return _node_entries(data["task"], _raw_id)
        if operation == CREATE:
            return _renamed_entries(data["createTask"]["task"], _raw_id)
        if operation == UPDATE:
            return _updated_entries(data["updateTask"]["task"], _raw_id)
        return _renamed_entries(data["updateTask"]["task"], _raw_id)

    def relay_projects(self, data: dict[str, Any]) -> dict[str, Any]:
        projects: dict[str, Any] = data["viewer"]["projectsConnection"]
        return projects


# ---------------------------------------------------------------------------------- floor


class Floor(Peer):
    name = "floor"
    title = "floor (batched SQL + orjson, no GraphQL)"

    def launch(self, *, port: int, workers: int, dsn: str) -> Launch:
        return _uvicorn("bench.peers.floor", port=port, workers=workers, dsn=dsn)

    def describe(self, workers: int) -> dict[str, Any]:
        return {"workers": workers, "processes": f"uvicorn --workers {workers}"}

    def request(self, operation: str, call: Call) -> HttpRequest:
        user = {"X-User-Id": str(call.user_id)}
        if operation in {"tree", "dashboard"}:
            return _post(f"/{operation}", {}, user)
        if operation == "relay":
            return _post("/relay", _relay_variables(call), user)
        if operation == "filtered":
            return _post("/filtered", {"status": _status(call), "priority": _priority(call)}, user)
        if operation == "nodes50":
            return _post("/nodes", {"ids": [str(task_id) for task_id in call.task_ids]}, user)
        if operation == "login":
            return _post("/login", {"email": call.email, "password": call.password}, {})
        if operation == PROJECT_TASKS:
            return _post("/project-tasks", {"project": str(call.project_id), **_project_tasks_variables(call)}, user)
        if operation == CREATE:
            task = {
                "project": str(call.project_id),
                "title": call.title,
                "priority": WRITE_PRIORITY,
                "dueAt": WRITE_DUE.isoformat(),
            }
            return _post("/create-task", task, user)
        if operation == UPDATE:
            changes = {"id": str(call.task_id), "status": UPDATED_STATUS, "priority": UPDATED_PRIORITY}
            return _post("/edit-task", changes, user)
        if operation == "node":
            return _post("/node", {"id": str(call.task_id)}, user)
        return _post("/update-task", {"id": str(call.task_id), "title": call.title}, user)

    def entries(self, operation: str, body: Any) -> list[Entry]:
        data = _graphql_data(body)
        if operation == "tree":
            return walk_tree(data["viewer"]["pillars"], Fields(), _raw_id)
        if operation == "dashboard":
            return walk_dashboard(data["viewer"]["projects"], Fields(), _raw_id)
        if operation == "relay":
            return walk_relay(self.relay_projects(data), Fields(), _raw_id)
        if operation == "filtered":
            return walk_filtered(data["viewer"]["tasks"], Fields(), _raw_id)
        if operation == "nodes50":
            return walk_tasks(data["tasks"], Fields(), _raw_id)
        if operation == "login":
            return _login_entries(data["login"]["user"], _raw_id)
        if operation == PROJECT_TASKS:
            return walk_project_tasks(data["project"], Fields(), _raw_id)
        if operation == "node":
            return _node_entries(data["task"], _raw_id)
        if operation == CREATE:
            return _renamed_entries(data["createTask"]["task"], _raw_id)
        if operation == UPDATE:
            return _updated_entries(data["updateTask"]["task"], _raw_id)
        return _renamed_entries(data["updateTask"]["task"], _raw_id)

    def relay_projects(self, data: dict[str, Any]) -> dict[str, Any]:
        projects: dict[str, Any] = data["viewer"]["projects"]
        return projects


PEER_NAMES = ("quintet", "postgraphile5", "postgraphile", "naive", "floor")
#: Peers that run only when named: Quintet past its row-level security (what the wall costs), and
#: Quintet sent trusted documents by id instead of their text.
EXTRA_PEER_NAMES = ("quintet-owner", "quintet-documents")
#: The peers that run on Node.js (npm ci from a committed lock file, each in its folder).
NODE_PEERS = {"postgraphile5": POSTGRAPHILE5_DIR, "postgraphile": POSTGRAPHILE_DIR}


def build_peers(names: list[str], *, jwt_private_key: str, no_pgcrypto: str | None = None) -> list[Peer]:
    known: dict[str, Peer] = {
        "quintet": Quintet(jwt_private_key),
        "postgraphile5": PostGraphile5(no_pgcrypto),
        "postgraphile": PostGraphile(no_pgcrypto),
        "naive": NaiveStrawberry(),
        "floor": Floor(),
        "quintet-owner": QuintetOwner(jwt_private_key),
        "quintet-documents": QuintetDocuments(jwt_private_key),
    }
    return [known[name] for name in names]
