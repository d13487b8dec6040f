"""Shapes: read statements rendered once and run on asyncpg, against the same statements run by
SQLAlchemy, on the real Postgres."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.access import VIEWER, readable_rows
from core.db import SqlStats, current_sql_stats
from core.pagination import PageShape, page_statement
from core.reads import NotRenderable, Row, Shape, ShapeCache, render
from models.aurum import JournalEntry, Project, Task
from schema.aurum.filters import TASK_FILTER
from services import aurum
from tests.factories import create_tree
from tests.support import GraphQLClient
from tests.test_jobs import new_user

TASKS = aurum.table(Task)
OWN_TASKS = readable_rows(TASKS)


async def both(engine: AsyncEngine, shape: Shape, params: dict[str, object]) -> tuple[list[tuple], list[tuple]]:
    """The rows of `shape` run raw and run by SQLAlchemy, as tuples."""
    async with engine.connect() as conn:
        raw = await shape.fetch(conn, params)
        by_sqlalchemy = (await conn.execute(shape.statement, params)).all()
    return [tuple(row) for row in raw], [tuple(row) for row in by_sqlalchemy]


async def test_a_shape_answers_what_sqlalchemy_answers_for_each_viewer(
    gql: GraphQLClient, engine: AsyncEngine, session: AsyncSession
) -> None:
    # Given two users with trees, and one shape of "my tasks" shared by every request
    _, alice = await new_user(gql)
    _, bob = await new_user(gql)
    await create_tree(session, user_id=alice, pillars=1, areas_per_pillar=1, projects_per_area=2, tasks_per_project=3)
    await create_tree(session, user_id=bob, pillars=1, areas_per_pillar=1, projects_per_area=1, tasks_per_project=2)
    await session.commit()
    shape = OWN_TASKS
    # When each runs it, then each gets their own rows, exactly as SQLAlchemy returns them
    for viewer, count in ((alice, 6), (bob, 2)):
        raw, expected = await both(engine, shape, {VIEWER: viewer})
        assert sorted(raw) == sorted(expected)
        assert len(raw) == count
        assert {row[1] for row in raw} == {viewer}  # user_id
    # And the rows read as attributes, like SQLAlchemy's
    async with engine.connect() as conn:
        (row, *_) = await shape.fetch(conn, {VIEWER: bob})
    assert isinstance(row, Row)
    assert isinstance(type(row).title, property)  # read by position, no lookup by name
    assert (row.user_id, row.title) == (row["user_id"], row["title"])
    with pytest.raises(AttributeError):
        _ = row.no_such_column


async def test_page_statements_with_filters_cursors_and_constants_match_sqlalchemy(
    gql: GraphQLClient, engine: AsyncEngine, session: AsyncSession
) -> None:
    _, viewer = await new_user(gql)
    tree = await create_tree(
        session, user_id=viewer, pillars=1, areas_per_pillar=1, projects_per_area=2, tasks_per_project=5
    )
    await session.commit()
    project_ids = list(tree.projects)
    # A page by due date (a sentinel date is a constant of the text), filtered by statuses
    # (an IN list expanded into the text) and after a cursor (bind parameters)
    query = OWN_TASKS.statement.where(TASKS.c.status.in_(("todo", "done")))
    statement = page_statement(
        query, parent_column="project_id", sort=aurum.TASK_SORTS["DUE_AT_ASC"], shape=PageShape(True, False, False)
    )
    params = {
        VIEWER: viewer,
        "page_parent_ids": project_ids,
        "page_limit": 3,
        "page_after_value": datetime(2000, 1, 1, tzinfo=UTC),
        "page_after_id": uuid.UUID(int=0),
    }
    raw, expected = await both(engine, Shape(statement), params)
    assert raw == expected
    assert raw  # the case is not empty


def test_rendering_keeps_constants_and_names_the_per_run_values() -> None:
    dialect = _asyncpg_dialect()
    query = OWN_TASKS.statement.where(TASKS.c.status.in_(("todo", "done")))
    rendered = render(query, dialect)
    assert rendered.sql.count("$") == len(rendered.names)
    assert VIEWER in rendered.names
    assert sorted(value for name, value in rendered.constants.items()) == ["done", "todo"]
    with pytest.raises(KeyError, match="viewer_id"):
        rendered.arguments({})


async def test_a_callable_parameter_is_evaluated_on_every_run(engine: AsyncEngine) -> None:
    # "now" in a kept statement must not be the time it was rendered at
    calls: list[int] = []

    def clock() -> datetime:  # a year later on every call
        calls.append(1)
        return datetime(2000 + len(calls), 1, 1, tzinfo=UTC)

    now = sa.bindparam("now", callable_=clock, type_=sa.DateTime(timezone=True), unique=True)
    statement = cast("sa.Select[Any]", sa.select(now.label("at"), sa.bindparam("n", type_=sa.Integer()).label("n")))
    shape = Shape(statement)
    async with engine.connect() as conn:
        first = await shape.fetch(conn, {"n": 1})
        second = await shape.fetch(conn, {"n": 2})
    (a,), (b,) = first, second
    assert (a.n, b.n) == (1, 2)
    assert b.at.year == a.at.year + 1
    assert b.at.year == 2000 + len(calls)  # the value of the latest call


async def test_columns_that_need_sqlalchemy_are_run_by_sqlalchemy(
    gql: GraphQLClient, engine: AsyncEngine, session: AsyncSession
) -> None:
    # Journal entries have an array column, converted by SQLAlchemy: the shape is refused and
    # run through SQLAlchemy, with the same result
    _, viewer = await new_user(gql)
    shape = readable_rows(aurum.table(JournalEntry))
    with pytest.raises(NotRenderable, match="tags"):
        shape.rendered(_asyncpg_dialect())
    await session.execute(
        sa.insert(aurum.table(JournalEntry)).values(user_id=viewer, title="t", body="b", tags=["a", "b"])
    )
    await session.commit()
    async with engine.connect() as conn:
        (row,) = await shape.fetch(conn, {VIEWER: viewer})
    assert row.tags == ["a", "b"]


async def test_runs_count_as_statements_of_the_request(engine: AsyncEngine) -> None:
    shape = Shape(sa.select(sa.func.cardinality(sa.bindparam("ids", type_=ARRAY(sa.Uuid()))).label("n")))
    stats = SqlStats()
    token = current_sql_stats.set(stats)
    try:
        async with engine.connect() as conn:
            rows = await shape.fetch(conn, {"ids": [uuid.uuid4(), uuid.uuid4()]})
            await shape.fetch(conn, {"ids": []})
    finally:
        current_sql_stats.reset(token)
    assert rows[0].n == 2
    assert stats.statements == 2
    assert stats.seconds > 0


def test_the_hot_shapes_are_rendered_not_run_by_sqlalchemy() -> None:
    # The tree's and dashboard's statements take the fast path; if a SQLAlchemy upgrade or a
    # new column made them fall back, this says so instead of a silent slowdown.
    dialect = _asyncpg_dialect()
    for model in (Task, Project):
        render(readable_rows(aurum.table(model)).statement, dialect)
    for level in ("project", "area", "pillar"):
        render(aurum.progress_shape(level).statement, dialect)
    overdue = OWN_TASKS.statement.where(*TASK_FILTER.conditions(TASKS.c, ("overdue",), "f_"))
    render(
        page_statement(
            overdue,
            parent_column="project_id",
            sort=aurum.TASK_SORTS["DUE_AT_DESC"],
            shape=PageShape(False, True, True),
        ),
        dialect,
    )


def test_the_cache_of_derived_shapes_is_bounded_and_keeps_recent_ones() -> None:
    cache: ShapeCache[Shape] = ShapeCache(size=2)
    built: list[str] = []

    def build(name: str) -> sa.Select[tuple[int]]:
        built.append(name)
        return sa.select(sa.literal(1))

    a = cache.get("a", lambda: build("a"))
    cache.get("b", lambda: build("b"))
    assert cache.get("a", lambda: build("a")) is a  # kept, and now the most recent
    cache.get("c", lambda: build("c"))  # evicts b
    cache.get("b", lambda: build("b"))
    assert built == ["a", "b", "c", "b"]
    assert len(cache) == 2


def _asyncpg_dialect() -> sa.engine.Dialect:
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    return dialect()
