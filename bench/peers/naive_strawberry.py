"""The naive peer: the Strawberry server a team writes on day one.

Its own small schema over the same tables. Every resolver asks the database for its own
parent's children (one statement per parent: the N+1 pattern), through an asyncpg pool, with
no DataLoaders and no caching; progress is one more statement per node. Its Relay-style
connections (`projectsConnection`, `tasksConnection`) page by offset, as strawberry's own
`ListConnection` does: a cursor is the base64 of `offset:<n>`, and one row more than the page
tells whether another follows; `totalCount` is one more statement. The user is taken from
the `X-User-Id` header: no token is checked (Quintet verifies an ES256 JWT on every request).
Every statement is still scoped to that user, as Quintet's are. `tasks(ids:)` asks once per id;
`createTask` looks the project up, finds its last position and inserts (three statements);
`login` verifies the argon2 hash on the event loop, and makes no token.

    BENCH_PEER_DSN=postgresql://… uvicorn bench.peers.naive_strawberry:app --workers 2 --loop uvloop --http httptools
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import strawberry
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from bench.peers.rounding import percent

OPEN = ("todo", "in_progress")


@dataclass
class NaiveContext:
    pool: asyncpg.Pool
    user_id: uuid.UUID | None


Info = strawberry.Info[NaiveContext, None]

TASK_COLUMNS = "id, title, status, priority, due_at"
MAX_PAGE = 100


@strawberry.type(description="Task completion beneath a node, cancelled tasks excluded.")
class Progress:
    total_tasks: int
    completed_tasks: int
    percent: float


def _progress(row: asyncpg.Record | None) -> Progress:
    total = int(row["total"]) if row else 0
    done = int(row["done"]) if row else 0
    return Progress(total_tasks=total, completed_tasks=done, percent=percent(done, total))


PROGRESS_COUNTS = (
    "count(*) FILTER (WHERE t.status <> 'cancelled') AS total, count(*) FILTER (WHERE t.status = 'done') AS done"
)


@strawberry.type(description="A task.")
class Task:
    id: uuid.UUID
    title: str
    status: str
    priority: int
    due_at: datetime | None

    @strawberry.field(description="Past due and still open.")
    def is_overdue(self) -> bool:
        return self.due_at is not None and self.due_at < datetime.now(UTC) and self.status in OPEN

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Task:
        return cls(
            id=row["id"], title=row["title"], status=row["status"], priority=row["priority"], due_at=row["due_at"]
        )


OFFSET_PREFIX = "offset:"


def _offset_cursor(offset: int) -> str:
    return base64.b64encode(f"{OFFSET_PREFIX}{offset}".encode()).decode()


def _offset_after(cursor: str | None) -> int:
    """How many rows precede the page that starts after `cursor`."""
    if cursor is None:
        return 0
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        offset = int(text.removeprefix(OFFSET_PREFIX)) if text.startswith(OFFSET_PREFIX) else -1
    except (binascii.Error, UnicodeDecodeError, ValueError):
        offset = -1
    if offset < 0:
        raise ValueError("`after` is not a cursor of this connection")
    return offset + 1


def _first(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        raise ValueError(f"`first` must be from 1 to {MAX_PAGE}")
    return first


@strawberry.type(description="Where a page sits in its connection.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def _page_info(rows: list[asyncpg.Record], first: int, offset: int) -> PageInfo:
    shown = min(len(rows), first)
    return PageInfo(has_next_page=len(rows) > first, end_cursor=_offset_cursor(offset + shown - 1) if shown else None)


@strawberry.type(description="A task and its cursor.")
class TaskEdge:
    cursor: str
    node: Task


@strawberry.type(description="A page of tasks with cursors.")
class TaskConnection:
    edges: list[TaskEdge]
    page_info: PageInfo


@strawberry.type(description="A page of tasks.")
class TaskList:
    nodes: list[Task]
    project_id: strawberry.Private[uuid.UUID]
    statuses: strawberry.Private[list[str] | None]

    @strawberry.field(description="Tasks in the project (matching the filter).")
    async def total_count(self, info: Info) -> int:
        ctx = info.context
        if self.statuses:
            count = await ctx.pool.fetchval(
                "SELECT count(*) FROM tasks WHERE project_id = $1 AND user_id = $2 AND status = ANY($3::text[])",
                self.project_id,
                ctx.user_id,
                self.statuses,
            )
        else:
            count = await ctx.pool.fetchval(
                "SELECT count(*) FROM tasks WHERE project_id = $1 AND user_id = $2", self.project_id, ctx.user_id
            )
        return int(count)


@strawberry.type(description="A project.")
class Project:
    id: uuid.UUID
    name: str
    status: str
    due_at: datetime | None

    @strawberry.field(description="Completion of the project's tasks.")
    async def progress(self, info: Info) -> Progress:
        row = await info.context.pool.fetchrow(
            f"SELECT {PROGRESS_COUNTS} FROM tasks t WHERE t.project_id = $1 AND t.user_id = $2",
            self.id,
            info.context.user_id,
        )
        return _progress(row)

    @strawberry.field(description="The project's tasks, by position or by due date.")
    async def tasks(
        self, info: Info, first: int = 20, statuses: list[str] | None = None, order_by_due: bool = False
    ) -> TaskList:
        order = "coalesce(due_at, 'infinity'), id" if order_by_due else "position, id"
        if statuses:
            rows = await info.context.pool.fetch(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE project_id = $1 AND user_id = $2 AND status = ANY($4::text[])"
                f" ORDER BY {order} LIMIT $3",
                self.id,
                info.context.user_id,
                first,
                statuses,
            )
        else:
            rows = await info.context.pool.fetch(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE project_id = $1 AND user_id = $2 ORDER BY {order} LIMIT $3",
                self.id,
                info.context.user_id,
                first,
            )
        return TaskList(nodes=[Task.from_row(row) for row in rows], project_id=self.id, statuses=statuses)

    @strawberry.field(description="The project's tasks by position, a page at a time.")
    async def tasks_connection(self, info: Info, first: int = 20, after: str | None = None) -> TaskConnection:
        offset, first = _offset_after(after), _first(first)
        rows = await info.context.pool.fetch(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE project_id = $1 AND user_id = $2"
            " ORDER BY position, id OFFSET $3 LIMIT $4",
            self.id,
            info.context.user_id,
            offset,
            first + 1,
        )
        edges = [TaskEdge(cursor=_offset_cursor(offset + n), node=Task.from_row(row)) for n, row in enumerate(rows)]
        return TaskConnection(edges=edges[:first], page_info=_page_info(rows, first, offset))

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Project:
        return cls(id=row["id"], name=row["name"], status=row["status"], due_at=row["due_at"])


@strawberry.type(description="A page of projects.")
class ProjectList:
    nodes: list[Project]


# ----------------------------------------------------------------- Relay-style connections


@strawberry.type(description="A project and its cursor.")
class ProjectEdge:
    cursor: str
    node: Project


@strawberry.type(description="A page of the user's projects with cursors.")
class ProjectConnection:
    edges: list[ProjectEdge]
    page_info: PageInfo
    user_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The user's projects on every page.")
    async def total_count(self, info: Info) -> int:
        return int(await info.context.pool.fetchval("SELECT count(*) FROM projects WHERE user_id = $1", self.user_id))


@strawberry.type(description="A page of the user's tasks.")
class UserTaskList:
    nodes: list[Task]
    user_id: strawberry.Private[uuid.UUID]
    status: strawberry.Private[str | None]
    priority: strawberry.Private[int | None]

    @strawberry.field(description="The user's tasks (with the status and priority) on every page.")
    async def total_count(self, info: Info) -> int:
        count = await info.context.pool.fetchval(
            "SELECT count(*) FROM tasks WHERE user_id = $1 AND ($2::text IS NULL OR status = $2)"
            " AND ($3::int IS NULL OR priority = $3)",
            self.user_id,
            self.status,
            self.priority,
        )
        return int(count)


@strawberry.type(description="An area.")
class Area:
    id: uuid.UUID
    name: str

    @strawberry.field(description="Completion of the area's tasks.")
    async def progress(self, info: Info) -> Progress:
        row = await info.context.pool.fetchrow(
            f"SELECT {PROGRESS_COUNTS} FROM projects p JOIN tasks t ON t.project_id = p.id"
            " WHERE p.area_id = $1 AND p.user_id = $2",
            self.id,
            info.context.user_id,
        )
        return _progress(row)

    @strawberry.field(description="The area's projects.")
    async def projects(self, info: Info, first: int = 20) -> ProjectList:
        rows = await info.context.pool.fetch(
            "SELECT id, name, status, due_at FROM projects WHERE area_id = $1 AND user_id = $2"
            " ORDER BY position, id LIMIT $3",
            self.id,
            info.context.user_id,
            first,
        )
        return ProjectList(nodes=[Project.from_row(row) for row in rows])


@strawberry.type(description="A page of areas.")
class AreaList:
    nodes: list[Area]


@strawberry.type(description="A pillar.")
class Pillar:
    id: uuid.UUID
    name: str

    @strawberry.field(description="Completion of the pillar's tasks.")
    async def progress(self, info: Info) -> Progress:
        row = await info.context.pool.fetchrow(
            f"SELECT {PROGRESS_COUNTS} FROM areas a JOIN projects p ON p.area_id = a.id"
            " JOIN tasks t ON t.project_id = p.id WHERE a.pillar_id = $1 AND a.user_id = $2",
            self.id,
            info.context.user_id,
        )
        return _progress(row)

    @strawberry.field(description="The pillar's areas.")
    async def areas(self, info: Info, first: int = 20) -> AreaList:
        rows = await info.context.pool.fetch(
            "SELECT id, name FROM areas WHERE pillar_id = $1 AND user_id = $2 ORDER BY position, id LIMIT $3",
            self.id,
            info.context.user_id,
            first,
        )
        return AreaList(nodes=[Area(id=row["id"], name=row["name"]) for row in rows])


@strawberry.type(description="A page of pillars.")
class PillarList:
    nodes: list[Pillar]


@strawberry.type(description="The signed-in user's data.")
class Viewer:
    user_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The user's pillars.")
    async def pillars(self, info: Info, first: int = 20) -> PillarList:
        rows = await info.context.pool.fetch(
            "SELECT id, name FROM pillars WHERE user_id = $1 ORDER BY position, id LIMIT $2", self.user_id, first
        )
        return PillarList(nodes=[Pillar(id=row["id"], name=row["name"]) for row in rows])

    @strawberry.field(description="The user's projects with these statuses, soonest due first.")
    async def projects(self, info: Info, first: int = 20, statuses: list[str] | None = None) -> ProjectList:
        rows = await info.context.pool.fetch(
            "SELECT id, name, status, due_at FROM projects WHERE user_id = $1"
            " AND ($3::text[] IS NULL OR status = ANY($3::text[]))"
            " ORDER BY coalesce(due_at, 'infinity'), id LIMIT $2",
            self.user_id,
            first,
            statuses,
        )
        return ProjectList(nodes=[Project.from_row(row) for row in rows])

    @strawberry.field(description="The user's projects, newest first, a page at a time.")
    async def projects_connection(self, info: Info, first: int = 20, after: str | None = None) -> ProjectConnection:
        offset, first = _offset_after(after), _first(first)
        rows = await info.context.pool.fetch(
            "SELECT id, name, status, due_at FROM projects WHERE user_id = $1"
            " ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT $3",
            self.user_id,
            offset,
            first + 1,
        )
        edges = [
            ProjectEdge(cursor=_offset_cursor(offset + n), node=Project.from_row(row)) for n, row in enumerate(rows)
        ]
        return ProjectConnection(edges=edges[:first], page_info=_page_info(rows, first, offset), user_id=self.user_id)

    @strawberry.field(description="The user's tasks (with this status and priority), soonest due first.")
    async def tasks(
        self, info: Info, first: int = 20, status: str | None = None, priority: int | None = None
    ) -> UserTaskList:
        rows = await info.context.pool.fetch(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE user_id = $1 AND ($3::text IS NULL OR status = $3)"
            " AND ($4::int IS NULL OR priority = $4) ORDER BY coalesce(due_at, 'infinity'), id LIMIT $2",
            self.user_id,
            _first(first),
            status,
            priority,
        )
        return UserTaskList(
            nodes=[Task.from_row(row) for row in rows], user_id=self.user_id, status=status, priority=priority
        )


@strawberry.type(description="Result of changing a task.")
class UpdateTaskPayload:
    task: Task | None


@strawberry.type(description="Result of creating a task.")
class CreateTaskPayload:
    task: Task | None


@strawberry.type(description="Result of signing in: the account, unless the password was wrong.")
class LoginPayload:
    user_id: uuid.UUID | None


_hasher = PasswordHasher()


def _verified(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@strawberry.type(description="Reads.")
class Query:
    @strawberry.field(description="The user named by the X-User-Id header.")
    def viewer(self, info: Info) -> Viewer | None:
        return Viewer(user_id=info.context.user_id) if info.context.user_id else None

    @strawberry.field(description="One of the user's projects.")
    async def project(self, info: Info, id: uuid.UUID) -> Project | None:
        row = await info.context.pool.fetchrow(
            "SELECT id, name, status, due_at FROM projects WHERE id = $1 AND user_id = $2", id, info.context.user_id
        )
        return Project.from_row(row) if row else None

    @strawberry.field(description="One of the user's tasks.")
    async def task(self, info: Info, id: uuid.UUID) -> Task | None:
        row = await info.context.pool.fetchrow(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2", id, info.context.user_id
        )
        return Task.from_row(row) if row else None

    @strawberry.field(description="The user's tasks with these ids, in order (null where not theirs).")
    async def tasks(self, info: Info, ids: list[uuid.UUID]) -> list[Task | None]:
        found = []
        for task_id in ids[:MAX_PAGE]:  # one statement per id, as `task` does
            row = await info.context.pool.fetchrow(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2", task_id, info.context.user_id
            )
            found.append(Task.from_row(row) if row else None)
        return found


@strawberry.type(description="Writes.")
class Mutation:
    @strawberry.mutation(description="Change one of the user's tasks: its title, status or priority.")
    async def update_task(
        self,
        info: Info,
        id: uuid.UUID,
        title: str | None = None,
        status: str | None = None,
        priority: int | None = None,
    ) -> UpdateTaskPayload:
        row = await info.context.pool.fetchrow(
            "UPDATE tasks SET title = coalesce($3, title), status = coalesce($4, status),"
            " priority = coalesce($5, priority), updated_at = now()"
            f" WHERE id = $1 AND user_id = $2 RETURNING {TASK_COLUMNS}",
            id,
            info.context.user_id,
            title,
            status,
            priority,
        )
        return UpdateTaskPayload(task=Task.from_row(row) if row else None)

    @strawberry.mutation(description="Add a task after the project's others.")
    async def create_task(
        self, info: Info, project_id: uuid.UUID, title: str, priority: int = 2, due_at: datetime | None = None
    ) -> CreateTaskPayload:
        pool, user_id = info.context.pool, info.context.user_id
        # Day one: look the project up, find the last position, insert; three statements, no transaction.
        if not await pool.fetchval("SELECT 1 FROM projects WHERE id = $1 AND user_id = $2", project_id, user_id):
            return CreateTaskPayload(task=None)
        position = await pool.fetchval(
            "SELECT coalesce(max(position) + 1, 0) FROM tasks WHERE project_id = $1", project_id
        )
        row = await pool.fetchrow(
            "INSERT INTO tasks (id, user_id, project_id, title, status, priority, due_at, position)"
            f" VALUES ($1, $2, $3, $4, 'todo', $5, $6, $7) RETURNING {TASK_COLUMNS}",
            uuid.uuid4(),
            user_id,
            project_id,
            title,
            priority,
            due_at,
            position,
        )
        return CreateTaskPayload(task=Task.from_row(row))

    @strawberry.mutation(description="Sign in with an email and a password (argon2, as Quintet verifies).")
    async def login(self, info: Info, email: str, password: str) -> LoginPayload:
        row = await info.context.pool.fetchrow(
            "SELECT id, password_hash FROM users WHERE lower(email) = lower($1)", email
        )
        # Day one: the hash is verified on the event loop, which waits for it.
        verified = row is not None and _verified(row["password_hash"], password)
        return LoginPayload(user_id=row["id"] if row is not None and verified else None)


schema = strawberry.Schema(query=Query, mutation=Mutation)


class NaiveGraphQL(GraphQL[NaiveContext, None]):
    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> NaiveContext:
        try:
            user_id: uuid.UUID | None = uuid.UUID(request.headers.get("x-user-id", ""))
        except ValueError:
            user_id = None
        return NaiveContext(pool=request.app.state.pool, user_id=user_id)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_PEER_DSN"], min_size=2, max_size=20)
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/graphql", NaiveGraphQL(schema, graphql_ide=None), methods=["GET", "POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ],
    lifespan=lifespan,
)
