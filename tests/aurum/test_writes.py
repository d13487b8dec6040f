"""The one-statement writes of tasks (services/writes.py) against the ORM path they replaced.

The reference is the ORM path as `services/aurum/hierarchy.py` had it (before issue 14's
writes): a lookup of the parent or the row, the next position, `session.add` or attribute
changes, a flush, and the audit event from the flush's `before_flush` listener. The same change
made both ways to twin rows must leave the same row, the same answer and the same audit event
(the columns that hold a new id or the time of the write excepted, whose values are checked
against the row instead). Then what each mutation costs is pinned, and where its statement runs.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.context import Actor, AuditScope, run_unit_of_work
from core.db import SqlStats, current_sql_stats
from core.errors import NotFound, ValidationFailed
from core.events import BusNotice, Envelope, InProcessBus, user_channel
from core.relay import from_global_id, to_global_id
from models.aurum import Priority, Project, Task, TaskStatus
from schema.aurum.types import Task as TaskNode
from services import aurum
from services.audit import json_value
from services.owned import apply_changes, get_owned, moved_to_parent, next_position
from tests.audit.conftest import raw_events
from tests.factories import Tree, create_tree
from tests.support import GraphQLClient

#: Columns whose value is made by the write itself (a new id, the time of the write).
MADE_BY_THE_WRITE = {"id", "created_at", "updated_at", "completed_at"}
#: What differs between twin rows by construction: their project.
TWINNED = {"project_id"}


# ------------------------------------------------------------------ the ORM path, as it was


def _completion(status: str, previous: datetime | None) -> datetime | None:
    if status == TaskStatus.DONE.value:
        return previous or datetime.now(UTC)
    return None


async def orm_create_task(session: AsyncSession, actor: Actor, project_id: uuid.UUID, values: dict[str, Any]) -> Task:
    await get_owned(session, Project, actor, project_id, field="projectId")
    task = Task(
        user_id=actor.user_id,
        project_id=project_id,
        **values,
        completed_at=_completion(values["status"], None),
        position=await next_position(session, Task, "project_id", project_id),
    )
    session.add(task)
    await session.flush()
    return task


async def orm_update_task(
    session: AsyncSession, actor: Actor, task_id: uuid.UUID, values: dict[str, Any], move_to: uuid.UUID | None
) -> Task:
    task = await get_owned(session, Task, actor, task_id)
    values = dict(values)
    if "status" in values:
        values["completed_at"] = _completion(values["status"], task.completed_at)
    changes = {"project_id": move_to} if move_to is not None else {}
    values.update(
        await moved_to_parent(
            session, task, actor, changes, parent_model=Project, parent_column="project_id", field="projectId"
        )
    )
    apply_changes(task, values)
    await session.flush()
    return task


# ----------------------------------------------------------------------------- helpers


class World:
    """A user with two twin projects of three tasks each, and a third, empty project."""

    def __init__(self, engine: AsyncEngine, actor: Actor, tree: Tree) -> None:
        self.engine = engine
        self.actor = actor
        self.tree = tree
        self.sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @property
    def fast_project(self) -> uuid.UUID:
        return self.tree.projects[0]

    @property
    def orm_project(self) -> uuid.UUID:
        return self.tree.projects[1]

    async def run(self, work: Any, operation: str) -> tuple[Any, int]:
        """`work(session)` as a mutation runs it, recorded as the actor's; its value and statements."""
        stats = SqlStats()

        def counted(*_: Any) -> None:  # what SQLAlchemy runs (the app's engine counts the same way)
            stats.statements += 1

        token = current_sql_stats.set(stats)  # what the write shapes run
        sa.event.listen(self.engine.sync_engine, "before_cursor_execute", counted)
        try:
            outcome = await run_unit_of_work(
                self.sessions, InProcessBus(), work, audit=AuditScope(self.actor, "req-writes", operation)
            )
        finally:
            sa.event.remove(self.engine.sync_engine, "before_cursor_execute", counted)
            current_sql_stats.reset(token)
        assert outcome.errors == [], outcome.errors
        return outcome.value, stats.statements

    async def row(self, task_id: uuid.UUID) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            found = (await conn.execute(sa.select(Task).where(Task.id == task_id))).mappings().one()  # type: ignore[arg-type]
        return dict(found)

    async def event_of(self, task_id: uuid.UUID) -> list[dict[str, Any]]:
        return [e for e in await raw_events(self.engine, self.actor.user_id) if e["target_id"] == str(task_id)]


@pytest.fixture
async def world(engine: AsyncEngine, gql: GraphQLClient, session: AsyncSession) -> World:
    me = await gql.sign_up()
    user_id = from_global_id(me.user_id)[1]
    tree = await create_tree(
        session, user_id=user_id, pillars=1, areas_per_pillar=1, projects_per_area=3, tasks_per_project=3
    )
    tasks = Task.__table__  # type: ignore[attr-defined]
    await session.execute(sa.delete(tasks).where(tasks.c.project_id == tree.projects[2]))
    # Twins: the tasks at the same position of the first two projects hold the same values
    await session.execute(
        sa.update(tasks)
        .where(tasks.c.project_id.in_(tree.projects[:2]))
        .values(
            title="Task " + sa.cast(tasks.c.position, sa.Text),
            description=None,
            status=TaskStatus.TODO.value,
            priority=int(Priority.MEDIUM),
            due_at=datetime(2029, 1, 1, 12, 0, 0, 5, tzinfo=UTC),
            completed_at=None,
        )
    )
    await session.commit()
    return World(engine, Actor(user_id=user_id, role="user"), tree)


def assert_same_row(fast: dict[str, Any], orm: dict[str, Any]) -> None:
    kept = set(fast) - MADE_BY_THE_WRITE - TWINNED
    assert {k: fast[k] for k in kept} == {k: orm[k] for k in kept}
    assert (fast["completed_at"] is None) == (orm["completed_at"] is None)


def assert_same_event(
    fast: dict[str, Any], orm: dict[str, Any], fast_row: dict[str, Any], orm_row: dict[str, Any]
) -> None:
    """The same event but for the values the write makes, each of which must be its row's
    value as the trail writes it (`json_value`, the ORM path's formatting)."""
    for column in ("actor_kind", "actor_user_id", "actor_label", "user_id", "organization_id", "action", "operation"):
        assert fast[column] == orm[column], column
    assert (fast["target_table"], fast["target_id"], fast["request_id"]) == ("tasks", str(fast_row["id"]), "req-writes")
    assert set(fast["changes"]) == set(orm["changes"])
    for column, change in fast["changes"].items():
        twin = orm["changes"][column]
        if column in MADE_BY_THE_WRITE | TWINNED:
            assert change["after"] == json_value(fast_row[column]), column
            assert twin["after"] == json_value(orm_row[column]), column
            assert (change["before"] is None) == (twin["before"] is None), column
        else:
            assert change == twin, column
    assert fast["at"] is not None
    assert fast["id"] != orm["id"]


# ------------------------------------------------------------------------------- create


@pytest.mark.parametrize(
    ("status", "due_at", "description"),
    [
        (TaskStatus.TODO, datetime(2031, 5, 17, 8, 30, 0, 123456, tzinfo=UTC), "  With some text  "),
        (TaskStatus.DONE, datetime(2020, 1, 1, tzinfo=UTC), None),  # no microseconds: isoformat drops them
        (TaskStatus.IN_PROGRESS, None, " "),
    ],
)
async def test_create_task_writes_what_the_orm_wrote(
    world: World, status: TaskStatus, due_at: datetime | None, description: str | None
) -> None:
    # Given the same task created in twin projects, in one statement and on the ORM path
    async def fast(session: AsyncSession) -> Any:
        return await aurum.create_task(
            session,
            actor=world.actor,
            project_id=world.fast_project,
            title=" Stretch ",
            description=description,
            status=status,
            priority=Priority.URGENT,
            due_at=due_at,
        )

    cleaned = {
        "title": "Stretch",
        "description": (description or "").strip() or None,
        "status": status.value,
        "priority": int(Priority.URGENT),
        "due_at": due_at,
    }

    async def orm(session: AsyncSession) -> Any:
        return await orm_create_task(session, world.actor, world.orm_project, cleaned)

    fast_task, fast_statements = await world.run(fast, "createTask")
    orm_task, orm_statements = await world.run(orm, "createTask")
    # Then the rows are the same, last among three
    fast_row, orm_row = await world.row(fast_task.id), await world.row(orm_task.id)
    assert_same_row(fast_row, orm_row)
    assert fast_row["position"] == 3
    assert fast_row["project_id"] == world.fast_project
    # And so are the answers the payload is made from
    fast_answer, orm_answer = TaskNode.from_row(fast_task), TaskNode.from_row(orm_task)
    for field in ("title", "description", "status", "priority", "due_at", "position", "is_overdue"):
        assert getattr(fast_answer, field) == getattr(orm_answer, field), field
    assert fast_answer.id == to_global_id("Task", fast_task.id)
    # And the audit events
    [fast_event], [orm_event] = await world.event_of(fast_task.id), await world.event_of(orm_task.id)
    assert_same_event(fast_event, orm_event, fast_row, orm_row)
    assert set(fast_event["changes"]) == {c.name for c in Task.__table__.columns}  # type: ignore[attr-defined]
    # In one statement, where the ORM took four
    assert (fast_statements, orm_statements) == (1, 4)


async def test_create_task_under_a_missing_or_foreign_project_is_not_found(world: World, gql: GraphQLClient) -> None:
    other = await gql.sign_up()
    async with world.sessions() as session:
        theirs = await create_tree(
            session,
            user_id=from_global_id(other.user_id)[1],
            pillars=1,
            areas_per_pillar=1,
            projects_per_area=1,
            tasks_per_project=0,
        )
        await session.commit()
    for project_id in (uuid.uuid4(), theirs.projects[0]):

        async def work(session: AsyncSession, project_id: uuid.UUID = project_id) -> Any:
            return await aurum.create_task(
                session,
                actor=world.actor,
                project_id=project_id,
                title="x" * 301,  # invalid too: the missing project is what is reported
                description=None,
                status=TaskStatus.TODO,
                priority=Priority.LOW,
                due_at=None,
            )

        outcome = await run_unit_of_work(world.sessions, InProcessBus(), work, audit=AuditScope(world.actor))
        [error] = outcome.errors
        assert isinstance(error, NotFound)
        assert (error.message, error.field) == ("No project with this id", ["input", "projectId"])


# ------------------------------------------------------------------------------- update

UPDATES: list[tuple[dict[str, Any], bool]] = [
    ({"title": "Renamed", "priority": int(Priority.HIGH)}, False),
    ({"status": TaskStatus.DONE.value}, False),
    ({"status": TaskStatus.TODO.value, "description": None, "due_at": None}, False),
    ({"due_at": datetime(2030, 2, 3, 4, 5, 6, 700000, tzinfo=UTC)}, True),  # and moved to the empty project
    ({}, False),  # nothing but the update's time
]


@pytest.mark.parametrize(("values", "moves"), UPDATES)
async def test_update_task_writes_what_the_orm_wrote(world: World, values: dict[str, Any], moves: bool) -> None:
    # Given twin tasks (the first of each twin project: the same title, status and due time)
    fast_id, orm_id = world.tree.tasks[0], world.tree.tasks[3]
    assert_same_row(await world.row(fast_id), await world.row(orm_id))
    target = world.tree.projects[2] if moves else None

    async def fast(session: AsyncSession) -> Any:
        changes = {**values, **({"project_id": target} if target else {})}
        return await aurum.update_task(session, actor=world.actor, task_id=fast_id, changes=changes)

    async def orm(session: AsyncSession) -> Any:
        return await orm_update_task(session, world.actor, orm_id, values, target)

    # When each is changed the same way, in one statement and on the ORM path
    fast_task, fast_statements = await world.run(fast, "updateTask")
    orm_task, orm_statements = await world.run(orm, "updateTask")
    # Then the rows are the same (moved last under the empty project: position 0, then 1)
    fast_row, orm_row = await world.row(fast_id), await world.row(orm_id)
    assert_same_row({**fast_row, "position": None}, {**orm_row, "position": None})
    if moves:
        assert (fast_row["project_id"], fast_row["position"]) == (target, 0)
        assert (orm_row["project_id"], orm_row["position"]) == (target, 1)
    # And so are the answers
    for field in ("title", "description", "status", "priority", "due_at", "is_overdue"):
        assert getattr(TaskNode.from_row(fast_task), field) == getattr(TaskNode.from_row(orm_task), field), field
    # And the audit events: the changed columns, before and after
    [fast_event], [orm_event] = await world.event_of(fast_id), await world.event_of(orm_id)
    if moves:  # their positions differ by construction: 0 (as it was: no change) and 1
        assert "position" not in fast_event["changes"]
        assert orm_event["changes"].pop("position") == {"before": 0, "after": 1}
    assert_same_event(fast_event, orm_event, fast_row, orm_row)
    assert "updated_at" in fast_event["changes"]
    # In one statement, where the ORM took the lookup, the update and the event (with a move, the
    # new parent's lookup and its next position too)
    assert fast_statements == 1
    assert orm_statements == (5 if moves else 3)


async def test_update_task_errors_are_the_ones_of_the_orm_path(world: World, gql: GraphQLClient) -> None:
    task = world.tree.tasks[0]
    cases: list[tuple[uuid.UUID, dict[str, Any], type[Exception], str, list[str]]] = [
        (uuid.uuid4(), {"title": "ok"}, NotFound, "No task with this id", ["input", "id"]),
        # a missing task is reported before a fault of the input
        (uuid.uuid4(), {"title": None}, NotFound, "No task with this id", ["input", "id"]),
        (task, {"title": None}, ValidationFailed, "title is required", ["input", "title"]),
        (
            task,
            {"project_id": None},
            ValidationFailed,
            "projectId can't be null: pass the new parent's ID",
            ["input", "projectId"],
        ),
        (task, {"project_id": uuid.uuid4()}, NotFound, "No project with this id", ["input", "projectId"]),
    ]
    before = await world.row(task)
    for pk, changes, kind, message, field in cases:

        async def work(session: AsyncSession, pk: uuid.UUID = pk, changes: dict[str, Any] = changes) -> Any:
            return await aurum.update_task(session, actor=world.actor, task_id=pk, changes=changes)

        outcome = await run_unit_of_work(world.sessions, InProcessBus(), work, audit=AuditScope(world.actor))
        [error] = outcome.errors
        assert (type(error), error.message, error.field) == (kind, message, field)
    # And nothing was written, nor any event
    assert await world.row(task) == before
    assert await world.event_of(task) == []


# ------------------------------------------------------------------ the transaction and the trail


async def test_the_statement_runs_in_the_unit_of_works_transaction(world: World) -> None:
    # Given work that creates and changes a task in one statement each, then fails
    created: list[uuid.UUID] = []

    async def then_refused(session: AsyncSession) -> None:
        task = await aurum.create_task(
            session,
            actor=world.actor,
            project_id=world.fast_project,
            title="Never",
            description=None,
            status=TaskStatus.TODO,
            priority=Priority.LOW,
            due_at=None,
        )
        created.append(task.id)
        await aurum.update_task(session, actor=world.actor, task_id=world.tree.tasks[0], changes={"title": "Never"})
        raise ValidationFailed("refused after the writes")

    before = await world.row(world.tree.tasks[0])
    outcome = await run_unit_of_work(world.sessions, InProcessBus(), then_refused, audit=AuditScope(world.actor))
    # Then it is rolled back: no task, no change, no event
    assert [e.message for e in outcome.errors] == ["refused after the writes"]
    async with world.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).where(Task.id == created[0]))).scalar_one() == 0  # type: ignore[arg-type]
    assert await world.row(world.tree.tasks[0]) == before
    assert await world.event_of(created[0]) == []
    assert await world.event_of(world.tree.tasks[0]) == []


async def test_with_orm_changes_pending_the_change_joins_them_and_merges(world: World) -> None:
    # Given a unit of work whose ORM change (a pillar) is pending when the task is created, then changed
    async def work(session: AsyncSession) -> uuid.UUID:
        await aurum.create_pillar(session, actor=world.actor, name="First", description=None, color=None, icon=None)
        task = await aurum.create_task(
            session,
            actor=world.actor,
            project_id=world.fast_project,
            title="One",
            description=None,
            status=TaskStatus.TODO,
            priority=Priority.LOW,
            due_at=None,
        )
        await aurum.update_task(session, actor=world.actor, task_id=task.id, changes={"title": "Two"})
        return task.id

    task_id, statements = await world.run(work, "createTask")
    # Then its events are written with the pillar's, in order: the task's one create, final values
    events = [e for e in await raw_events(world.engine, world.actor.user_id) if e["operation"] == "createTask"]
    assert [e["action"] for e in events] == ["Pillar.create", "Task.create"]
    assert events[1]["target_id"] == str(task_id)
    assert events[1]["changes"]["title"] == {"before": None, "after": "Two"}
    row = await world.row(task_id)
    assert events[1]["changes"]["updated_at"]["after"] == json_value(row["updated_at"])
    # Pillar: next position + insert; task: one statement each; then the events, together
    assert statements == 2 + 1 + 1 + 1


async def test_changes_of_a_row_after_its_event_was_written_are_an_event_of_their_own(world: World) -> None:
    # Given a task created in one statement (its event with it), then changed in the same unit of work
    async def work(session: AsyncSession) -> uuid.UUID:
        task = await aurum.create_task(
            session,
            actor=world.actor,
            project_id=world.fast_project,
            title="One",
            description=None,
            status=TaskStatus.TODO,
            priority=Priority.LOW,
            due_at=None,
        )
        await aurum.update_task(session, actor=world.actor, task_id=task.id, changes={"title": "Two"})
        return task.id

    task_id, statements = await world.run(work, "createTask")
    # Then the trail holds both, in order (the first is written already: the trail is append-only)
    events = await world.event_of(task_id)
    assert [e["action"] for e in events] == ["Task.create", "Task.update"]
    assert events[0]["changes"]["title"] == {"before": None, "after": "One"}
    assert events[1]["changes"]["title"] == {"before": "One", "after": "Two"}
    assert statements == 2


# ------------------------------------------------------------------------------ budgets

CREATE = """mutation($input: CreateTaskInput!) { createTask(input: $input) {
  task { id title status priority position } errors { code field } } }"""
UPDATE = """mutation($input: UpdateTaskInput!) { updateTask(input: $input) {
  task { id title status position completedAt } errors { code field } } }"""


async def test_create_and_update_task_cost_one_statement_each(gql: GraphQLClient, session: AsyncSession) -> None:
    me = await gql.sign_up()
    tree = await create_tree(
        session,
        user_id=from_global_id(me.user_id)[1],
        pillars=1,
        areas_per_pillar=1,
        projects_per_area=2,
        tasks_per_project=3,
    )
    await session.commit()
    project, other = (to_global_id("Project", p) for p in tree.projects)
    created = await gql(CREATE, {"input": {"projectId": project, "title": "New", "priority": "HIGH"}}, token=me.token)
    assert created.data["createTask"]["errors"] == []
    task = created.data["createTask"]["task"]["id"]
    costs = {"createTask": created.statements}
    for name, changes in (
        ("rename", {"title": "Renamed"}),
        ("done", {"status": "DONE"}),
        ("move", {"projectId": other}),
        ("everything", {"title": "All", "description": "d", "status": "TODO", "priority": "LOW", "dueAt": None}),
    ):
        updated = await gql(UPDATE, {"input": {"id": task, **changes}}, token=me.token)
        assert updated.data["updateTask"]["errors"] == [], name
        costs[name] = updated.statements
    assert costs == {"createTask": 1, "rename": 1, "done": 1, "move": 1, "everything": 1}
    assert updated.data["updateTask"]["task"]["position"] == 3  # moved last under the other project


async def test_the_changes_are_published_after_commit_as_before(world: World) -> None:
    bus = InProcessBus()
    await bus.start()
    project, other = world.tree.projects[0], world.tree.projects[2]

    async def create(session: AsyncSession) -> Any:
        return await aurum.create_task(
            session,
            actor=world.actor,
            project_id=project,
            title="Heard",
            description=None,
            status=TaskStatus.TODO,
            priority=Priority.LOW,
            due_at=None,
        )

    async def refused(session: AsyncSession) -> None:
        await create(session)
        raise ValidationFailed("refused")

    try:
        async with bus.subscribe(user_channel(world.actor.user_id), max_queue=10) as subscription:
            deliveries = aiter(subscription)
            assert isinstance(await anext(deliveries), BusNotice)  # STARTED
            sessions = world.sessions
            # A create: the task and its project
            task = (await run_unit_of_work(sessions, bus, create, audit=AuditScope(world.actor))).value
            assert task is not None
            created = await asyncio.wait_for(anext(deliveries), 5)
            assert isinstance(created, Envelope)
            assert {k: created.event[k] for k in ("topic", "type", "id", "change", "parents")} == {
                "topic": aurum.HIERARCHY_TOPIC,
                "type": "Task",
                "id": str(task.id),
                "change": "CREATED",
                "parents": [str(project)],
            }

            # A move: the new parent and the one it left
            async def move(session: AsyncSession) -> Any:
                return await aurum.update_task(
                    session, actor=world.actor, task_id=task.id, changes={"project_id": other}
                )

            await run_unit_of_work(sessions, bus, move, audit=AuditScope(world.actor))
            moved = await asyncio.wait_for(anext(deliveries), 5)
            assert isinstance(moved, Envelope)
            assert (moved.event["change"], moved.event["parents"]) == ("UPDATED", [str(other), str(project)])
            # A refused unit of work publishes nothing
            outcome = await run_unit_of_work(sessions, bus, refused, audit=AuditScope(world.actor))
            assert outcome.errors
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(deliveries), 0.5)
    finally:
        await bus.close()


async def test_the_system_writes_any_users_rows_and_an_api_client_none(world: World) -> None:
    system = Actor.system("test.writes")
    client = Actor.api_client("partner", uuid.uuid4())

    def create_as(actor: Actor) -> Any:
        async def work(session: AsyncSession) -> Any:
            return await aurum.create_task(
                session,
                actor=actor,
                project_id=world.fast_project,
                title=f"By {actor.kind}",
                description=None,
                status=TaskStatus.TODO,
                priority=Priority.LOW,
                due_at=None,
            )

        return work

    # The system reads every row: its task is created in the user's project, and recorded as the system's
    outcome = await run_unit_of_work(world.sessions, InProcessBus(), create_as(system), audit=AuditScope(system))
    assert outcome.errors == []
    assert outcome.value is not None
    row = await world.row(outcome.value.id)
    assert (row["user_id"], row["project_id"], row["position"]) == (world.actor.user_id, world.fast_project, 3)
    [event] = await world.event_of(outcome.value.id)
    assert (event["actor_kind"], event["actor_label"], event["user_id"]) == (
        "system",
        "test.writes",
        world.actor.user_id,
    )
    # An API client reads no user's rows: the project is not found, as on the ORM path
    outcome = await run_unit_of_work(world.sessions, InProcessBus(), create_as(client), audit=AuditScope(client))
    [error] = outcome.errors
    assert isinstance(error, NotFound)
    assert error.field == ["input", "projectId"]
