"""The line-up of the side-by-side benchmark: how each peer is started, asked and read.

- `quintet`: this repository in production mode (`app.py serve`), ES256 access tokens.
- `postgraphile`: PostGraphile v4 from npm over the same tables, no JWT and no row-level security.
- `naive`: a day-one Strawberry server with per-parent SQL and no DataLoaders (naive_strawberry.py).
- `floor`: batched SQL and orjson behind plain Starlette routes, no GraphQL (floor.py).

Every peer answers the same operations with the same data (checked by bench.checks); the
module docstring of bench.side_by_side says what each operation asks.
"""

from __future__ import annotations

import sys
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
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
    walk_dashboard,
    walk_filtered,
    walk_project_tasks,
    walk_relay,
    walk_tree,
)
from bench.dataset import ACTIVE_PROJECT_STATUSES, OPEN_TASK_STATUSES
from core.relay import from_global_id, to_global_id

ROOT = Path(__file__).resolve().parent.parent
POSTGRAPHILE_DIR = ROOT / "bench" / "peers" / "postgraphile"
OPERATIONS = ("tree", "dashboard", "node", "mutation", "relay", "filtered")
#: One project's tasks after a cursor: sent only by the cursor checks of verification, never measured.
PROJECT_TASKS = "project_tasks"
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@dataclass(frozen=True)
class Call:
    """The arguments of one request: who asks; for `node`/`mutation` which task (and title);
    for `filtered` which task status (the database's value, e.g. `in_progress`); for `relay`
    the page: `first` projects (each with `task_page` tasks) after the peer's own cursor
    `after`, which follows the `skipped` newest projects (what the answer is checked against:
    the cursor itself is opaque); for PROJECT_TASKS the same of one project's tasks."""

    user_id: uuid.UUID
    token: str
    task_id: uuid.UUID | None = None
    title: str | None = None
    status: str | None = None
    first: int = RELAY_PROJECTS
    after: str | None = None
    skipped: int = 0
    task_page: int = RELAY_TASKS
    project_id: uuid.UUID | None = None


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


def _node_entries(task: dict[str, Any] | None, decode: Any) -> list[Entry]:
    if task is None:
        raise CorrectnessError("the task came back null")
    if not task.get("title"):
        raise CorrectnessError(f"the task has no title: {task}")
    return [("task", decode(task["id"]))]


def _renamed_entries(task: dict[str, Any] | None, decode: Any) -> list[Entry]:
    if task is None:
        raise CorrectnessError("the mutation returned no task")
    return [("task", decode(task["id"]), task["title"])]


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


class Peer(ABC):
    name: ClassVar[str]
    title: ClassVar[str]

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

    #: How the peer's `relay` document names a project's tasks.
    relay_fields: ClassVar[Fields] = Fields()

    def decode_id(self, value: str) -> uuid.UUID:
        return _raw_id(value)

    def relay_cursors(self, body: Any) -> RelayCursors:
        projects = self.relay_projects(_graphql_data(body))
        first = projects["edges"][0]["node"] if projects["edges"] else None
        return RelayCursors(
            end=projects["pageInfo"]["endCursor"],
            project_id=self.decode_id(first["id"]) if first else None,
            project_tasks_end=first[self.relay_fields.tasks]["pageInfo"]["endCursor"] if first else None,
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

QUINTET_FILTERED = f"""query Filtered($status: TaskStatus!) {{ viewer {{
  tasks(first: {FILTERED_TASKS}, orderBy: DUE_AT_ASC, filter: {{status: [$status]}}) {{
    totalCount nodes {{ id title status priority dueAt isOverdue }} }} }} }}"""

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


def _quintet_id(value: str) -> uuid.UUID:
    return from_global_id(value)[1]


class Quintet(Peer):
    name = "quintet"
    title = "Quintet (production mode)"

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
                "LOG_LEVEL": "warning",
            },
            ready=HttpRequest("GET", "/readyz", {}),
        )

    def request(self, operation: str, call: Call) -> HttpRequest:
        auth = {"Authorization": f"Bearer {call.token}"}
        if operation == "tree":
            return _post("/graphql", {"query": QUINTET_TREE}, auth)
        if operation == "dashboard":
            return _post("/graphql", {"query": QUINTET_DASHBOARD}, auth)
        if operation == "relay":
            return _post("/graphql", {"query": QUINTET_RELAY, "variables": _relay_variables(call)}, auth)
        if operation == "filtered":
            variables = {"status": _status(call).upper()}
            return _post("/graphql", {"query": QUINTET_FILTERED, "variables": variables}, auth)
        if operation == PROJECT_TASKS:
            assert call.project_id is not None
            variables = {"id": to_global_id("Project", call.project_id), **_project_tasks_variables(call)}
            return _post("/graphql", {"query": QUINTET_PROJECT_TASKS, "variables": variables}, auth)
        assert call.task_id is not None
        task_id = to_global_id("Task", call.task_id)
        if operation == "node":
            return _post("/graphql", {"query": QUINTET_NODE, "variables": {"id": task_id}}, auth)
        return _post(
            "/graphql", {"query": QUINTET_RENAME, "variables": {"input": {"id": task_id, "title": call.title}}}, auth
        )

    def entries(self, operation: str, body: Any) -> list[Entry]:
        data = _graphql_data(body)
        if operation == "tree":
            return walk_tree(data["viewer"]["pillars"], Fields(), _quintet_id)
        if operation == "dashboard":
            return walk_dashboard(data["viewer"]["projects"], Fields(), _quintet_id)
        if operation == "relay":
            return walk_relay(self.relay_projects(data), Fields(), _quintet_id)
        if operation == "filtered":
            return walk_filtered(data["viewer"]["tasks"], _quintet_id)
        if operation == PROJECT_TASKS:
            return walk_project_tasks(data["node"], Fields(), _quintet_id)
        if operation == "node":
            return _node_entries(data["node"], _quintet_id)
        payload = data["updateTask"]
        if payload["errors"]:
            raise CorrectnessError(f"updateTask errors: {payload['errors']}")
        return _renamed_entries(payload["task"], _quintet_id)

    def relay_projects(self, data: dict[str, Any]) -> dict[str, Any]:
        projects: dict[str, Any] = data["viewer"]["projects"]
        return projects

    def decode_id(self, value: str) -> uuid.UUID:
        return _quintet_id(value)


# ------------------------------------------------------------------------- PostGraphile

PROGRESS = "progress { percent totalTasks completedTasks }"
BY_POSITION = "orderBy: [POSITION_ASC, PRIMARY_KEY_ASC]"
BY_DUE = "orderBy: [DUE_AT_ASC, PRIMARY_KEY_ASC]"
PG_FIELDS = Fields(
    pillars="pillarsByUserId",
    areas="areasByPillarIdAndUserId",
    projects="projectsByAreaIdAndUserId",
    tasks="tasksByProjectIdAndUserId",
)

POSTGRAPHILE_TREE = f"""query Tree($user: UUID!) {{ userById(id: $user) {{
  pillarsByUserId(first: 20, {BY_POSITION}) {{ nodes {{ id name {PROGRESS}
  areasByPillarIdAndUserId(first: 20, {BY_POSITION}) {{ nodes {{ id name {PROGRESS}
    projectsByAreaIdAndUserId(first: 20, {BY_POSITION}) {{ nodes {{ id name status {PROGRESS}
      tasksByProjectIdAndUserId(first: 50, {BY_POSITION}) {{
        totalCount nodes {{ id title status priority dueAt isOverdue }} }} }} }} }} }} }} }} }} }}"""

POSTGRAPHILE_DASHBOARD = f"""query Dashboard($user: UUID!, $active: [String!]!, $open: [String!]!) {{
  userById(id: $user) {{
  projectsByUserId(first: 20, {BY_DUE}, filter: {{status: {{in: $active}}}}) {{ nodes {{
    id name status dueAt {PROGRESS}
    tasksByProjectIdAndUserId(first: 10, {BY_DUE}, filter: {{status: {{in: $open}}}}) {{
      nodes {{ id title status priority dueAt isOverdue }} }} }} }} }} }}"""

POSTGRAPHILE_NODE = """query Node($id: UUID!, $user: UUID!) { taskByIdAndUserId(id: $id, userId: $user) {
  id title status priority dueAt isOverdue } }"""

POSTGRAPHILE_RENAME = """mutation Rename($id: UUID!, $user: UUID!, $title: String!) {
  updateTaskByIdAndUserId(input: {id: $id, userId: $user, taskPatch: {title: $title}}) { task { id title } } }"""


POSTGRAPHILE_RELAY = f"""query Relay($user: UUID!, $first: Int!, $after: Cursor, $tasks: Int!) {{ userById(id: $user) {{
  projectsByUserId(first: $first, after: $after, orderBy: [CREATED_AT_DESC, PRIMARY_KEY_DESC]) {{ totalCount
    edges {{ cursor node {{ id name status dueAt {PROGRESS}
      tasksByProjectIdAndUserId(first: $tasks, {BY_POSITION}) {{
        edges {{ cursor node {{ id title status dueAt }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}
    pageInfo {{ hasNextPage endCursor }} }} }} }}"""

POSTGRAPHILE_FILTERED = f"""query Filtered($user: UUID!, $status: String!) {{ userById(id: $user) {{
  tasksByUserId(first: {FILTERED_TASKS}, {BY_DUE}, condition: {{status: $status}}) {{
    totalCount nodes {{ id title status priority dueAt isOverdue }} }} }} }}"""


POSTGRAPHILE_PROJECT_TASKS = f"""query ProjectTasks($id: UUID!, $user: UUID!, $first: Int!, $after: Cursor) {{
  projectByIdAndUserId(id: $id, userId: $user) {{ id
    tasksByProjectIdAndUserId(first: $first, after: $after, {BY_POSITION}) {{
      edges {{ cursor node {{ id title status dueAt }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}"""


class PostGraphile(Peer):
    name = "postgraphile"
    title = "PostGraphile v4 (no JWT, no RLS)"
    relay_fields = PG_FIELDS

    def launch(self, *, port: int, workers: int, dsn: str) -> Launch:
        argv = [str(POSTGRAPHILE_DIR / "node_modules" / ".bin" / "postgraphile"), "--connection", dsn]
        argv += ["--schema", "public", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--disable-graphiql", "--disable-query-log", "--dynamic-json", "--no-setof-functions-contain-nulls"]
        argv += ["--legacy-relations", "omit", "--max-pool-size", "20"]
        argv += ["--append-plugins", "postgraphile-plugin-connection-filter"]
        if workers > 1:
            argv += ["--cluster-workers", str(workers)]
        return Launch(
            argv=argv,
            cwd=POSTGRAPHILE_DIR,
            env={"NODE_ENV": "production"},
            ready=_post("/graphql", {"query": "{ __typename }"}, {}),
        )

    def request(self, operation: str, call: Call) -> HttpRequest:
        user = str(call.user_id)
        if operation == "tree":
            return _post("/graphql", {"query": POSTGRAPHILE_TREE, "variables": {"user": user}}, {})
        if operation == "dashboard":
            variables = {"user": user, "active": list(ACTIVE_PROJECT_STATUSES), "open": list(OPEN_TASK_STATUSES)}
            return _post("/graphql", {"query": POSTGRAPHILE_DASHBOARD, "variables": variables}, {})
        if operation == "relay":
            variables = {"user": user, **_relay_variables(call)}
            return _post("/graphql", {"query": POSTGRAPHILE_RELAY, "variables": variables}, {})
        if operation == "filtered":
            variables = {"user": user, "status": _status(call)}
            return _post("/graphql", {"query": POSTGRAPHILE_FILTERED, "variables": variables}, {})
        if operation == PROJECT_TASKS:
            variables = {"id": str(call.project_id), "user": user, **_project_tasks_variables(call)}
            return _post("/graphql", {"query": POSTGRAPHILE_PROJECT_TASKS, "variables": variables}, {})
        variables = {"id": str(call.task_id), "user": user}
        if operation == "node":
            return _post("/graphql", {"query": POSTGRAPHILE_NODE, "variables": variables}, {})
        return _post("/graphql", {"query": POSTGRAPHILE_RENAME, "variables": {**variables, "title": call.title}}, {})

    def entries(self, operation: str, body: Any) -> list[Entry]:
        data = _graphql_data(body)
        if operation == "tree":
            return walk_tree(data["userById"]["pillarsByUserId"], PG_FIELDS, _raw_id)
        if operation == "dashboard":
            return walk_dashboard(data["userById"]["projectsByUserId"], PG_FIELDS, _raw_id)
        if operation == "relay":
            return walk_relay(self.relay_projects(data), PG_FIELDS, _raw_id)
        if operation == "filtered":
            return walk_filtered(data["userById"]["tasksByUserId"], _raw_id)
        if operation == PROJECT_TASKS:
            return walk_project_tasks(data["projectByIdAndUserId"], PG_FIELDS, _raw_id)
        if operation == "node":
            return _node_entries(data["taskByIdAndUserId"], _raw_id)
        return _renamed_entries(data["updateTaskByIdAndUserId"]["task"], _raw_id)

    def relay_projects(self, data: dict[str, Any]) -> dict[str, Any]:
        projects: dict[str, Any] = data["userById"]["projectsByUserId"]
        return projects


# ------------------------------------------------------------------------ naive Strawberry

NAIVE_PROGRESS = "progress { percent totalTasks completedTasks }"
NAIVE_TREE = f"""query Tree {{ viewer {{ pillars(first: 20) {{ nodes {{ id name {NAIVE_PROGRESS}
  areas {{ nodes {{ id name {NAIVE_PROGRESS}
    projects {{ nodes {{ id name status {NAIVE_PROGRESS}
      tasks(first: 50) {{ totalCount nodes {{ id title status priority dueAt isOverdue }} }} }} }} }} }} }} }} }} }}"""

NAIVE_DASHBOARD = f"""query Dashboard($active: [String!]!, $open: [String!]!) {{ viewer {{
  projects(first: 20, statuses: $active) {{ nodes {{ id name status dueAt {NAIVE_PROGRESS}
    tasks(first: 10, statuses: $open, orderByDue: true) {{
      nodes {{ id title status priority dueAt isOverdue }} }} }} }} }} }}"""

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

NAIVE_FILTERED = f"""query Filtered($status: String!) {{ viewer {{
  tasks(first: {FILTERED_TASKS}, status: $status) {{
    totalCount nodes {{ id title status priority dueAt isOverdue }} }} }} }}"""

NAIVE_NODE = "query Node($id: UUID!) { task(id: $id) { id title status priority dueAt isOverdue } }"
NAIVE_RENAME = (
    "mutation Rename($id: UUID!, $title: String!) { updateTask(id: $id, title: $title) { task { id title } } }"
)


class NaiveStrawberry(Peer):
    name = "naive"
    title = "naive Strawberry (N+1, no DataLoaders)"
    relay_fields = NAIVE_RELAY_FIELDS

    def launch(self, *, port: int, workers: int, dsn: str) -> Launch:
        return _uvicorn("bench.peers.naive_strawberry", port=port, workers=workers, dsn=dsn)

    def request(self, operation: str, call: Call) -> HttpRequest:
        user = {"X-User-Id": str(call.user_id)}
        if operation == "tree":
            return _post("/graphql", {"query": NAIVE_TREE}, user)
        if operation == "dashboard":
            variables = {"active": list(ACTIVE_PROJECT_STATUSES), "open": list(OPEN_TASK_STATUSES)}
            return _post("/graphql", {"query": NAIVE_DASHBOARD, "variables": variables}, user)
        if operation == "relay":
            return _post("/graphql", {"query": NAIVE_RELAY, "variables": _relay_variables(call)}, user)
        if operation == "filtered":
            return _post("/graphql", {"query": NAIVE_FILTERED, "variables": {"status": _status(call)}}, user)
        if operation == PROJECT_TASKS:
            paging = {"id": str(call.project_id), **_project_tasks_variables(call)}
            return _post("/graphql", {"query": NAIVE_PROJECT_TASKS, "variables": paging}, user)
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
            return walk_filtered(data["viewer"]["tasks"], _raw_id)
        if operation == PROJECT_TASKS:
            return walk_project_tasks(data["project"], NAIVE_RELAY_FIELDS, _raw_id)
        if operation == "node":
            return _node_entries(data["task"], _raw_id)
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

    def request(self, operation: str, call: Call) -> HttpRequest:
        user = {"X-User-Id": str(call.user_id)}
        if operation in {"tree", "dashboard"}:
            return _post(f"/{operation}", {}, user)
        if operation == "relay":
            return _post("/relay", _relay_variables(call), user)
        if operation == "filtered":
            return _post("/filtered", {"status": _status(call)}, user)
        if operation == PROJECT_TASKS:
            return _post("/project-tasks", {"project": str(call.project_id), **_project_tasks_variables(call)}, user)
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
            return walk_filtered(data["viewer"]["tasks"], _raw_id)
        if operation == PROJECT_TASKS:
            return walk_project_tasks(data["project"], Fields(), _raw_id)
        if operation == "node":
            return _node_entries(data["task"], _raw_id)
        return _renamed_entries(data["updateTask"]["task"], _raw_id)

    def relay_projects(self, data: dict[str, Any]) -> dict[str, Any]:
        projects: dict[str, Any] = data["viewer"]["projects"]
        return projects


PEER_NAMES = ("quintet", "postgraphile", "naive", "floor")


def build_peers(names: list[str], *, jwt_private_key: str) -> list[Peer]:
    known: dict[str, Peer] = {
        "quintet": Quintet(jwt_private_key),
        "postgraphile": PostGraphile(),
        "naive": NaiveStrawberry(),
        "floor": Floor(),
    }
    return [known[name] for name in names]
