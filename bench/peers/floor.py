"""The floor: the same data as Quintet's operations with no GraphQL at all.

A plain Starlette app: each operation runs batched SQL with asyncpg (one statement per level
of the tree, children fetched with `WHERE parent = ANY($1)`, progress aggregated in the same
statement) and writes the same JSON shape as the GraphQL peers with orjson. It is what the
database and the network cost; whatever a GraphQL server adds comes on top of it.

`nodes` answers the tasks of a list of ids with one `= ANY($1)`; `login` verifies the argon2
hash as Quintet does (argon2-cffi's defaults, off the event loop) and makes no token;
`create-task` computes the new task's position in the statement that inserts it.

`relay` pages with keyset cursors of its own (the base64 of the row's sort value and id, as
JSON), asking one row more than the page to know whether another page follows; `totalCount`
and progress come with the page, in the same statement.

The user is taken from the `X-User-Id` header: no token is checked (Quintet verifies an ES256
JWT on every request).

    BENCH_PEER_DSN=postgresql://… uvicorn bench.peers.floor:app --workers 2 --loop uvloop --http httptools
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.peers.rounding import percent

OPEN = ["todo", "in_progress"]
ACTIVE_PROJECTS = ["not_started", "in_progress"]

# Progress of every node of one level, from one grouped scan of the user's tasks.
PILLARS = """
SELECT p.id, p.name, coalesce(g.total, 0) AS total, coalesce(g.done, 0) AS done
FROM pillars p
LEFT JOIN (
  SELECT a.pillar_id AS key,
         count(*) FILTER (WHERE t.status <> 'cancelled') AS total,
         count(*) FILTER (WHERE t.status = 'done') AS done
  FROM tasks t JOIN projects pr ON pr.id = t.project_id JOIN areas a ON a.id = pr.area_id
  WHERE t.user_id = $1
  GROUP BY a.pillar_id
) g ON g.key = p.id
WHERE p.user_id = $1
ORDER BY p.position, p.id
LIMIT 20
"""

AREAS = """
SELECT a.id, a.pillar_id AS parent, a.name, coalesce(g.total, 0) AS total, coalesce(g.done, 0) AS done
FROM (
  SELECT *, row_number() OVER (PARTITION BY pillar_id ORDER BY position, id) AS n
  FROM areas WHERE user_id = $1 AND pillar_id = ANY($2::uuid[])
) a
LEFT JOIN (
  SELECT pr.area_id AS key,
         count(*) FILTER (WHERE t.status <> 'cancelled') AS total,
         count(*) FILTER (WHERE t.status = 'done') AS done
  FROM tasks t JOIN projects pr ON pr.id = t.project_id
  WHERE t.user_id = $1
  GROUP BY pr.area_id
) g ON g.key = a.id
WHERE a.n <= 20
ORDER BY a.pillar_id, a.n
"""

PROJECTS = """
SELECT pr.id, pr.area_id AS parent, pr.name, pr.status, coalesce(g.total, 0) AS total, coalesce(g.done, 0) AS done
FROM (
  SELECT *, row_number() OVER (PARTITION BY area_id ORDER BY position, id) AS n
  FROM projects WHERE user_id = $1 AND area_id = ANY($2::uuid[])
) pr
LEFT JOIN (
  SELECT t.project_id AS key,
         count(*) FILTER (WHERE t.status <> 'cancelled') AS total,
         count(*) FILTER (WHERE t.status = 'done') AS done
  FROM tasks t
  WHERE t.user_id = $1
  GROUP BY t.project_id
) g ON g.key = pr.id
WHERE pr.n <= 20
ORDER BY pr.area_id, pr.n
"""

TREE_TASKS = """
SELECT id, project_id AS parent, title, status, priority, due_at, total
FROM (
  SELECT id, project_id, title, status, priority, due_at,
         row_number() OVER (PARTITION BY project_id ORDER BY position, id) AS n,
         count(*) OVER (PARTITION BY project_id) AS total
  FROM tasks WHERE user_id = $1 AND project_id = ANY($2::uuid[])
) t
WHERE n <= 50
ORDER BY project_id, n
"""

DASHBOARD_PROJECTS = """
SELECT pr.id, pr.name, pr.status, pr.due_at, coalesce(g.total, 0) AS total, coalesce(g.done, 0) AS done
FROM (
  SELECT * FROM projects
  WHERE user_id = $1 AND status = ANY($2::text[])
  ORDER BY coalesce(due_at, 'infinity'), id
  LIMIT 20
) pr
LEFT JOIN LATERAL (
  SELECT count(*) FILTER (WHERE t.status <> 'cancelled') AS total,
         count(*) FILTER (WHERE t.status = 'done') AS done
  FROM tasks t WHERE t.project_id = pr.id AND t.user_id = $1
) g ON true
ORDER BY coalesce(pr.due_at, 'infinity'), pr.id
"""

DASHBOARD_TASKS = """
SELECT id, project_id AS parent, title, status, priority, due_at
FROM (
  SELECT id, project_id, title, status, priority, due_at,
         row_number() OVER (PARTITION BY project_id ORDER BY coalesce(due_at, 'infinity'), id) AS n
  FROM tasks WHERE user_id = $1 AND project_id = ANY($2::uuid[]) AND status = ANY($3::text[])
) t
WHERE n <= 10
ORDER BY project_id, n
"""

# The page of projects, newest first, after a cursor or not, with the count of all of them: the
# count is the outer row, so an empty page still has one (with a null id).
RELAY_PROJECTS = """
SELECT c.total_count, pr.id, pr.name, pr.status, pr.due_at, pr.created_at,
       coalesce(g.total, 0) AS total, coalesce(g.done, 0) AS done
FROM (SELECT count(*) AS total_count FROM projects WHERE user_id = $1) c
LEFT JOIN LATERAL (
  SELECT id, name, status, due_at, created_at FROM projects
  WHERE user_id = $1 {after}
  ORDER BY created_at DESC, id DESC
  LIMIT $2
) pr ON true
LEFT JOIN LATERAL (
  SELECT count(*) FILTER (WHERE t.status <> 'cancelled') AS total,
         count(*) FILTER (WHERE t.status = 'done') AS done
  FROM tasks t WHERE t.project_id = pr.id AND t.user_id = $1
) g ON true
ORDER BY pr.created_at DESC, pr.id DESC
"""
RELAY_FIRST_PAGE = RELAY_PROJECTS.format(after="")
RELAY_NEXT_PAGE = RELAY_PROJECTS.format(after="AND (created_at, id) < ($3::timestamptz, $4::uuid)")

RELAY_TASKS = """
SELECT id, project_id AS parent, title, status, due_at, position
FROM (
  SELECT id, project_id, title, status, due_at, position,
         row_number() OVER (PARTITION BY project_id ORDER BY position, id) AS n
  FROM tasks WHERE user_id = $1 AND project_id = ANY($2::uuid[])
) t
WHERE n <= $3
ORDER BY project_id, n
"""

PROJECT_TASKS = """
SELECT p.id AS project_id, t.id, t.title, t.status, t.due_at, t.position
FROM projects p
LEFT JOIN LATERAL (
  SELECT id, title, status, due_at, position FROM tasks
  WHERE project_id = p.id AND user_id = $2 {after}
  ORDER BY position, id
  LIMIT $3
) t ON true
WHERE p.id = $1 AND p.user_id = $2
ORDER BY t.position, t.id
"""
PROJECT_TASKS_FIRST_PAGE = PROJECT_TASKS.format(after="")
PROJECT_TASKS_NEXT_PAGE = PROJECT_TASKS.format(after="AND (position, id) > ($4::int, $5::uuid)")

FILTERED_TASKS = """
SELECT c.total_count, t.id, t.title, t.status, t.priority, t.due_at
FROM (SELECT count(*) AS total_count FROM tasks WHERE user_id = $1 AND status = $2 AND priority = $3) c
LEFT JOIN LATERAL (
  SELECT id, title, status, priority, due_at FROM tasks
  WHERE user_id = $1 AND status = $2 AND priority = $3
  ORDER BY coalesce(due_at, 'infinity'), id
  LIMIT 50
) t ON true
ORDER BY coalesce(t.due_at, 'infinity'), t.id
"""
TASK_STATUSES = ("todo", "in_progress", "done", "cancelled")
PRIORITIES = (1, 2, 3, 4)
STATUS_AND_PRIORITY = f"`status` must be one of {', '.join(TASK_STATUSES)}, and `priority` from 1 to 4"
MAX_PAGE = 100
MAX_IDS = 100

TASK = "SELECT id, title, status, priority, due_at FROM tasks WHERE id = $1 AND user_id = $2"
TASKS = "SELECT id, title, status, priority, due_at FROM tasks WHERE user_id = $1 AND id = ANY($2::uuid[])"

ACCOUNT = "SELECT id, password_hash FROM users WHERE lower(email) = lower($1)"

# The position is computed in the statement that inserts (after the project's last task), and
# only into a project of the user's.
CREATE_TASK = """
INSERT INTO tasks (id, user_id, project_id, title, status, priority, due_at, position, created_at, updated_at)
SELECT $1, p.user_id, p.id, $4, 'todo', $5, $6,
       coalesce((SELECT max(t.position) + 1 FROM tasks t WHERE t.project_id = p.id), 0), now(), now()
FROM projects p WHERE p.id = $3 AND p.user_id = $2
RETURNING id, title
"""

EDIT_TASK = """
UPDATE tasks SET status = $3::text, priority = $4, updated_at = now(),
       completed_at = CASE WHEN $3::text = 'done' THEN coalesce(completed_at, now()) END
WHERE id = $1 AND user_id = $2
RETURNING id, status, priority
"""
_hasher = PasswordHasher()

UPDATE_TASK = """
UPDATE tasks SET title = $3, updated_at = now()
WHERE id = $1 AND user_id = $2
RETURNING id, title
"""


def _progress(row: asyncpg.Record) -> dict[str, Any]:
    total, done = row["total"], row["done"]
    return {
        "percent": percent(done, total),
        "totalTasks": total,
        "completedTasks": done,
    }


def _task(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    due_at = row["due_at"]
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "status": row["status"],
        "priority": row["priority"],
        "dueAt": due_at.isoformat() if due_at else None,
        "isOverdue": due_at is not None and due_at < now and row["status"] in OPEN,
    }


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _user(request: Request) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.headers.get("x-user-id", ""))
    except ValueError:
        return None


def _children(rows: list[asyncpg.Record]) -> dict[uuid.UUID, list[asyncpg.Record]]:
    by_parent: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for row in rows:
        by_parent.setdefault(row["parent"], []).append(row)
    return by_parent


async def tree(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return _json({"errors": [{"message": "X-User-Id header is required"}]}, 400)
    now = datetime.now(UTC)
    async with request.app.state.pool.acquire() as conn:
        pillars = await conn.fetch(PILLARS, user)
        areas = await conn.fetch(AREAS, user, [p["id"] for p in pillars])
        projects = await conn.fetch(PROJECTS, user, [a["id"] for a in areas])
        tasks = await conn.fetch(TREE_TASKS, user, [p["id"] for p in projects])
    areas_of, projects_of, tasks_of = _children(areas), _children(projects), _children(tasks)

    def project(row: asyncpg.Record) -> dict[str, Any]:
        own = tasks_of.get(row["id"], [])
        return {
            "id": str(row["id"]),
            "name": row["name"],
            "status": row["status"],
            "progress": _progress(row),
            "tasks": {"totalCount": own[0]["total"] if own else 0, "nodes": [_task(t, now) for t in own]},
        }

    def area(row: asyncpg.Record) -> dict[str, Any]:
        own = projects_of.get(row["id"], [])
        return {
            "id": str(row["id"]),
            "name": row["name"],
            "progress": _progress(row),
            "projects": {"nodes": [project(p) for p in own]},
        }

    nodes = [
        {
            "id": str(p["id"]),
            "name": p["name"],
            "progress": _progress(p),
            "areas": {"nodes": [area(a) for a in areas_of.get(p["id"], [])]},
        }
        for p in pillars
    ]
    return _json({"data": {"viewer": {"pillars": {"nodes": nodes}}}})


async def dashboard(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return _json({"errors": [{"message": "X-User-Id header is required"}]}, 400)
    now = datetime.now(UTC)
    async with request.app.state.pool.acquire() as conn:
        projects = await conn.fetch(DASHBOARD_PROJECTS, user, ACTIVE_PROJECTS)
        tasks = await conn.fetch(DASHBOARD_TASKS, user, [p["id"] for p in projects], OPEN)
    tasks_of = _children(tasks)
    nodes = [
        {
            "id": str(p["id"]),
            "name": p["name"],
            "status": p["status"],
            "dueAt": p["due_at"].isoformat() if p["due_at"] else None,
            "progress": _progress(p),
            "tasks": {"nodes": [_task(t, now) for t in tasks_of.get(p["id"], [])]},
        }
        for p in projects
    ]
    return _json({"data": {"viewer": {"projects": {"nodes": nodes}}}})


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(parts)).decode()


def _cursor_parts(cursor: str) -> list[Any]:
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("`after` is not a cursor of this list") from exc
    if not isinstance(parts, list) or len(parts) != 2:
        raise ValueError("`after` is not a cursor of this list")
    return parts


def _page(rows: list[Any], first: int, cursor_of: Any, node_of: Any) -> dict[str, Any]:
    """A connection from `first` + 1 rows at most: the extra one only says that more follow."""
    edges = [{"cursor": cursor_of(row), "node": node_of(row)} for row in rows[:first]]
    return {
        "edges": edges,
        "pageInfo": {"hasNextPage": len(rows) > first, "endCursor": edges[-1]["cursor"] if edges else None},
    }


def _relay_task(row: asyncpg.Record) -> dict[str, Any]:
    due_at = row["due_at"]
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "status": row["status"],
        "dueAt": due_at.isoformat() if due_at else None,
    }


def _task_cursor(row: asyncpg.Record) -> str:
    return _cursor(row["position"], str(row["id"]))


def _first(body: dict[str, Any]) -> int | None:
    first = body.get("first")
    return first if isinstance(first, int) and 1 <= first <= MAX_PAGE else None


async def relay(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return _json({"errors": [{"message": "X-User-Id header is required"}]}, 400)
    body = await _body(request)
    first, after, task_page = _first(body), body.get("after"), body.get("tasks")
    if first is None or not isinstance(task_page, int) or not 1 <= task_page <= MAX_PAGE:
        return _json({"errors": [{"message": f"`first` and `tasks` must be integers from 1 to {MAX_PAGE}"}]}, 400)
    try:
        bound = None if after is None else _cursor_parts(str(after))
        bound_values = () if bound is None else (datetime.fromisoformat(str(bound[0])), uuid.UUID(str(bound[1])))
    except ValueError:
        return _json({"errors": [{"message": "`after` is not a cursor of this list"}]}, 400)
    async with request.app.state.pool.acquire() as conn:
        statement = RELAY_FIRST_PAGE if bound is None else RELAY_NEXT_PAGE
        rows = await conn.fetch(statement, user, first + 1, *bound_values)
        projects = [row for row in rows if row["id"] is not None]
        tasks = await conn.fetch(RELAY_TASKS, user, [p["id"] for p in projects[:first]], task_page + 1)
    tasks_of = _children(tasks)

    def project(row: asyncpg.Record) -> dict[str, Any]:
        return {
            "id": str(row["id"]),
            "name": row["name"],
            "status": row["status"],
            "dueAt": row["due_at"].isoformat() if row["due_at"] else None,
            "progress": _progress(row),
            "tasks": _page(tasks_of.get(row["id"], []), task_page, _task_cursor, _relay_task),
        }

    page = _page(projects, first, lambda p: _cursor(p["created_at"].isoformat(), str(p["id"])), project)
    return _json({"data": {"viewer": {"projects": {"totalCount": rows[0]["total_count"], **page}}}})


async def project_tasks(request: Request) -> Response:
    """One project's tasks after a cursor (the harness's cursor check)."""
    user = _user(request)
    body = await _body(request)
    first, after = _first(body), body.get("after")
    if first is None:
        return _json({"errors": [{"message": f"`first` must be an integer from 1 to {MAX_PAGE}"}]}, 400)
    try:
        project_id = uuid.UUID(str(body.get("project")))
        bound = None if after is None else _cursor_parts(str(after))
        bound_values = () if bound is None else (int(bound[0]), uuid.UUID(str(bound[1])))
    except (ValueError, TypeError):
        return _json({"errors": [{"message": "`project` must be a UUID and `after` a cursor of this list"}]}, 400)
    statement = PROJECT_TASKS_FIRST_PAGE if bound is None else PROJECT_TASKS_NEXT_PAGE
    rows = await request.app.state.pool.fetch(statement, project_id, user, first + 1, *bound_values)
    if not rows:
        return _json({"data": {"project": None}})
    tasks = [row for row in rows if row["id"] is not None]
    project = {"id": str(project_id), "tasks": _page(tasks, first, _task_cursor, _relay_task)}
    return _json({"data": {"project": project}})


async def filtered(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return _json({"errors": [{"message": "X-User-Id header is required"}]}, 400)
    body = await _body(request)
    status, priority = body.get("status"), body.get("priority")
    if status not in TASK_STATUSES or priority not in PRIORITIES:
        return _json({"errors": [{"message": STATUS_AND_PRIORITY}]}, 400)
    now = datetime.now(UTC)
    rows = await request.app.state.pool.fetch(FILTERED_TASKS, user, status, priority)
    nodes = [_task(row, now) for row in rows if row["id"] is not None]
    return _json({"data": {"viewer": {"tasks": {"totalCount": rows[0]["total_count"], "nodes": nodes}}}})


async def _body(request: Request) -> dict[str, Any]:
    data = orjson.loads(await request.body())
    return data if isinstance(data, dict) else {}


async def node(request: Request) -> Response:
    user = _user(request)
    body = await _body(request)
    try:
        task_id = uuid.UUID(str(body.get("id")))
    except ValueError:
        return _json({"errors": [{"message": "`id` must be a UUID"}]}, 400)
    row = await request.app.state.pool.fetchrow(TASK, task_id, user)
    return _json({"data": {"task": _task(row, datetime.now(UTC)) if row else None}})


async def nodes(request: Request) -> Response:
    """The user's tasks with these ids, in the order asked (null for one that is not theirs)."""
    user = _user(request)
    ids = (await _body(request)).get("ids")
    try:
        if not isinstance(ids, list) or len(ids) > MAX_IDS:
            raise ValueError
        task_ids = [uuid.UUID(str(task_id)) for task_id in ids]
    except ValueError:
        return _json({"errors": [{"message": f"`ids` must be a list of at most {MAX_IDS} UUIDs"}]}, 400)
    now = datetime.now(UTC)
    found = {row["id"]: row for row in await request.app.state.pool.fetch(TASKS, user, task_ids)}
    tasks = [_task(found[task_id], now) if task_id in found else None for task_id in task_ids]
    return _json({"data": {"tasks": tasks}})


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def login(request: Request) -> Response:
    """The account whose argon2 hash the password matches (verified off the event loop, as
    Quintet does); no token is made."""
    body = await _body(request)
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or not isinstance(password, str):
        return _json({"errors": [{"message": "`email` and `password` must be strings"}]}, 400)
    row = await request.app.state.pool.fetchrow(ACCOUNT, email)
    verified = row is not None and await asyncio.to_thread(_verify, row["password_hash"], password)
    user = {"id": str(row["id"])} if row is not None and verified else None
    return _json({"data": {"login": {"user": user}}})


async def create_task(request: Request) -> Response:
    user = _user(request)
    body = await _body(request)
    title, priority, due = body.get("title"), body.get("priority"), body.get("dueAt")
    if not isinstance(title, str) or not title.strip() or priority not in PRIORITIES:
        return _json({"errors": [{"message": "`title` must be a non-blank string and `priority` 1-4"}]}, 400)
    try:
        project = uuid.UUID(str(body.get("project")))
        due_at = datetime.fromisoformat(due) if isinstance(due, str) else None
    except ValueError:
        return _json({"errors": [{"message": "`project` must be a UUID and `dueAt` an ISO 8601 time"}]}, 400)
    row = await request.app.state.pool.fetchrow(
        CREATE_TASK, uuid.uuid4(), user, project, title.strip(), priority, due_at
    )
    task = {"id": str(row["id"]), "title": row["title"]} if row else None
    return _json({"data": {"createTask": {"task": task}}})


async def edit_task(request: Request) -> Response:
    user = _user(request)
    body = await _body(request)
    status, priority = body.get("status"), body.get("priority")
    if status not in TASK_STATUSES or priority not in PRIORITIES:
        return _json({"errors": [{"message": STATUS_AND_PRIORITY}]}, 400)
    try:
        task_id = uuid.UUID(str(body.get("id")))
    except ValueError:
        return _json({"errors": [{"message": "`id` must be a UUID"}]}, 400)
    row = await request.app.state.pool.fetchrow(EDIT_TASK, task_id, user, status, priority)
    task = {"id": str(row["id"]), "status": row["status"], "priority": row["priority"]} if row else None
    return _json({"data": {"updateTask": {"task": task}}})


async def update_task(request: Request) -> Response:
    user = _user(request)
    body = await _body(request)
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        return _json({"errors": [{"message": "`title` must be a non-blank string"}]}, 400)
    try:
        task_id = uuid.UUID(str(body.get("id")))
    except ValueError:
        return _json({"errors": [{"message": "`id` must be a UUID"}]}, 400)
    row = await request.app.state.pool.fetchrow(UPDATE_TASK, task_id, user, title.strip())
    task = {"id": str(row["id"]), "title": row["title"]} if row else None
    return _json({"data": {"updateTask": {"task": task}}})


async def healthz(request: Request) -> Response:
    return _json({"status": "ok"})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_PEER_DSN"], min_size=2, max_size=20)
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/tree", tree, methods=["POST"]),
        Route("/dashboard", dashboard, methods=["POST"]),
        Route("/relay", relay, methods=["POST"]),
        Route("/filtered", filtered, methods=["POST"]),
        Route("/project-tasks", project_tasks, methods=["POST"]),
        Route("/node", node, methods=["POST"]),
        Route("/nodes", nodes, methods=["POST"]),
        Route("/login", login, methods=["POST"]),
        Route("/create-task", create_task, methods=["POST"]),
        Route("/edit-task", edit_task, methods=["POST"]),
        Route("/update-task", update_task, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ],
    lifespan=lifespan,
)
