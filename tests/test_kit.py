"""The product kit (schema/kit.py): one declaration per field, and what derives from it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
import strawberry
from sqlalchemy.ext.asyncio import AsyncEngine

import schema as graph
from core.relay import from_global_id
from core.sqljson import Leaf
from models import aurum as m
from products import PRODUCTS
from schema import kit
from schema.aurum.types import Task
from schema.common import Node
from schema.compiled import SQL_TYPES, kit_types
from services.aurum import IS_OVERDUE, OPEN_TASK_STATUSES


def _full_schema() -> strawberry.Schema:
    return strawberry.Schema(**graph.schema_parts())


def test_every_field_a_query_reaches_has_a_sql_form_or_is_declared_python_only() -> None:
    assert kit.undeclared_fields(_full_schema()._schema, SQL_TYPES) == []


@strawberry.type
class Loose:
    plain: int


@strawberry.type
class Root:
    @strawberry.field
    def loose(self) -> Loose:
        return Loose(plain=1)

    @strawberry.field
    def task(self) -> Task | None:
        return None


def test_the_coverage_check_names_a_field_that_is_neither() -> None:
    schema = strawberry.Schema(query=Root, types=[Task], config=graph.CONFIG)
    missing = kit.undeclared_fields(schema._schema, SQL_TYPES)
    # Root and Loose have no SQL form and no marker; Task's fields all have one.
    assert missing == ["Loose.plain", "Root.loose", "Root.task"]
    marked = kit.undeclared_fields(schema._schema, {**SQL_TYPES, "Root": SQL_TYPES["Query"]})
    assert "Root.task" in marked  # a SqlType without the field still counts as undeclared


def test_global_ids_encode_the_declared_key_not_the_graphql_name() -> None:
    # A later rename of the GraphQL type (name="Chore") keeps the key, so IDs stay valid.
    @kit.node(model=m.Task, key="Task", name="Chore", description="A renamed task type.")
    class Chore(Node, kit.FromRow):
        title: str = kit.column(description="What to do.")

    pk = uuid.uuid4()
    row = SimpleNamespace(id=pk, title="Buy shoes")
    chore = Chore.from_row(row)
    assert from_global_id(chore.id) == ("Task", pk)
    assert (
        chore.id
        == Task.from_row(
            SimpleNamespace(
                id=pk,
                title="t",
                description=None,
                status="todo",
                priority=2,
                due_at=None,
                completed_at=None,
                position=0,
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        ).id
    )
    assert kit.spec_of(Chore).graphql_name == "Chore"
    parts = graph.schema_parts()
    schema = strawberry.Schema(**{**parts, "types": [Chore, *parts["types"]]})
    assert schema._schema.get_type("Chore") is not None
    # The node table is keyed by the stable key; two types may not claim one key.
    assert set(kit.node_types([Chore])) == {"Task"}
    with pytest.raises(TypeError, match="'Task'"):
        kit.node_types([Chore, Task])


def test_every_kit_node_type_has_a_unique_key() -> None:
    types = kit_types(PRODUCTS)
    keys = [kit.spec_of(cls).key for cls in types if kit.spec_of(cls).key is not None]
    assert len(keys) == len(set(keys)) == 22
    assert set(kit.node_types(types)) == set(keys)


def test_from_row_maps_every_declared_column_and_converts_enums_and_lists() -> None:
    now = datetime.now(UTC)
    row = SimpleNamespace(
        id=uuid.uuid4(),
        title="Buy shoes",
        description=None,
        status="in_progress",
        priority=3,
        due_at=now - timedelta(days=1),
        completed_at=None,
        position=4,
        created_at=now,
        updated_at=now,
    )
    task = Task.from_row(row)
    assert (task.title, task.status.name, task.priority.name, task.position) == ("Buy shoes", "IN_PROGRESS", "HIGH", 4)
    assert task.is_overdue is True
    assert task.pk == row.id
    assert task.row is row
    # Every column and expression of the type is declared once and mapped.
    declared = kit.spec_of(Task).fields
    columns = [attr for attr, d in declared.items() if isinstance(d, kit.ColumnField | kit.ExpressionField)]
    assert all(hasattr(task, attr) for attr in columns)
    assert set(SQL_TYPES["Task"].fields) >= {kit.graphql_name(attr) for attr in columns} | {"id"}


async def test_is_overdue_is_the_same_value_in_python_and_in_sql(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    cases = [
        (due, status)
        for due in (None, now - timedelta(days=3), now - timedelta(seconds=5), now + timedelta(hours=2))
        for status in ("todo", "in_progress", "done", "cancelled")
    ]
    values = sa.values(sa.column("due_at", sa.DateTime(timezone=True)), sa.column("status", sa.Text), name="t").data(
        cases
    )
    statement = sa.select(values.c.due_at, values.c.status, IS_OVERDUE.sql(values))
    async with engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
    assert len(rows) == len(cases)
    overdue = 0
    for due_at, status, in_sql in rows:
        in_python = IS_OVERDUE.python(SimpleNamespace(due_at=due_at, status=status))
        assert bool(in_sql) is in_python, (due_at, status)
        overdue += in_python
    assert overdue == 2 * len(OPEN_TASK_STATUSES)  # two past due times, two open statuses


def test_a_kit_field_without_an_annotation_is_refused() -> None:
    with pytest.raises(TypeError, match="needs its type annotation"):

        @kit.node(model=m.Task, key="Task", description="d")
        class Broken(Node, kit.FromRow):
            title = kit.column(description="What to do.")


def test_the_sql_form_of_a_column_is_derived_from_its_type() -> None:
    rules = SQL_TYPES["Task"].fields
    assert all(isinstance(rules[name], Leaf) for name in ("title", "status", "dueAt", "isOverdue", "id"))
