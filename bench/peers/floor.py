"""The floor: the same data as Quintet's operations with no GraphQL at all.

A plain Starlette app: each operation runs batched SQL with asyncpg (one statement per level
of the tree, children fetched with `WHERE parent = ANY($1)`, progress aggregated in the same
statement) and writes the same JSON shape as the GraphQL peers with orjson. It is what the
database and the network cost; whatever a GraphQL server adds comes on top of it.

The user is taken from the `X-User-Id` header: no token is checked (Quintet verifies an ES256
JWT on every request).

    BENCH_PEER_DSN=postgresql://… uvicorn bench.peers.floor:app --workers 2 --loop uvloop --http httptools
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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

TASK = "SELECT id, title, status, priority, due_at FROM tasks WHERE id = $1 AND user_id = $2"

UPDATE_TASK = """
UPDATE tasks SET title = $3, updated_at = now()
WHERE id = $1 AND user_id = $2
RETURNING id, title
"""


def _progress(row: asyncpg.Record) -> dict[str, Any]:
    total, done = row["total"], row["done"]
    return {
        "percent": round(100.0 * done / total, 1) if total else 0.0,
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
        Route("/node", node, methods=["POST"]),
        Route("/update-task", update_task, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ],
    lifespan=lifespan,
)
