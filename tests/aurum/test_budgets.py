"""SQL statement budgets: every field costs a fixed number of statements, whatever the data.

`Response.statements` counts the SQL statements one request ran. Each read is measured for
two users whose data differ tenfold (bulk-inserted by `tests.factories`); both must cost
exactly the pinned number, so a field that issued one statement per parent (N+1) would fail.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import create_app
from core.relay import from_global_id, to_global_id
from tests.conftest import make_settings
from tests.factories import (
    Journal,
    Tree,
    create_journal,
    create_notifications,
    create_resources,
    create_tree,
)
from tests.support import GraphQLClient, Response, Viewer


@dataclass(frozen=True)
class Dataset:
    """One user's bulk data: a tree, a journal, resources on every project and task, notifications."""

    scale: int
    viewer: Viewer
    tree: Tree
    journal: Journal
    resources: list[uuid.UUID]
    notifications: list[uuid.UUID]


async def build_dataset(http: httpx.AsyncClient, engine: AsyncEngine, scale: int) -> Dataset:
    """Scale 1: 2 pillars, 2 areas each, 2 projects each, 3 tasks each (24 tasks); scale 10: 20 pillars."""
    viewer = await GraphQLClient(http).sign_up(display_name=f"Scale {scale}")
    _, user_id = from_global_id(viewer.user_id)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        tree = await create_tree(
            session, user_id=user_id, pillars=2 * scale, areas_per_pillar=2, projects_per_area=2, tasks_per_project=3
        )
        journal = await create_journal(session, user_id=user_id, templates=2 * scale, entries=5 * scale)
        resources = await create_resources(
            session, user_id=user_id, project_ids=tree.projects, task_ids=tree.tasks, unattached=scale
        )
        notifications = await create_notifications(session, user_id=user_id, count=3 * scale)
        await session.commit()
    return Dataset(scale, viewer, tree, journal, resources, notifications)


@pytest.fixture(scope="module")
async def http(database_url: str, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """These budgets pin the resolvers' batching (loaders), with or without the compiled plans:
    an app without the one-statement SQL form, which costs 1 statement (tests/test_sqljson.py)."""
    app = create_app(make_settings(database_url, data_dir, compiled_sql=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture(scope="module")
async def small(http: httpx.AsyncClient, engine: AsyncEngine) -> Dataset:
    return await build_dataset(http, engine, 1)


@pytest.fixture(scope="module")
async def large(http: httpx.AsyncClient, engine: AsyncEngine) -> Dataset:
    return await build_dataset(http, engine, 10)


def objects_in(value: Any) -> int:
    """How many JSON objects a response holds: grows with the number of parents returned."""
    if isinstance(value, dict):
        return 1 + sum(objects_in(v) for v in value.values())
    if isinstance(value, list):
        return sum(objects_in(v) for v in value)
    return 0


async def measure(
    gql: GraphQLClient, query: str, dataset: Dataset, variables: dict[str, Any] | None = None
) -> Response:
    result = await gql(query, variables, token=dataset.viewer.token)
    assert "errors" not in result.body, result.body["errors"]
    return result


# ------------------------------------------------------------------------- the headline

HEADLINE = """
{ viewer { pillars(first: 20) { nodes { areas { nodes { projects { nodes {
    tasks(first: 50) { totalCount nodes { id title status } }
} } } } } } } }
"""

HEADLINE_WITH_PROGRESS = """
{ viewer { pillars(first: 20) { nodes { id progress { percent }
    areas { nodes { id progress { percent }
      projects { nodes { id progress { percent }
        tasks(first: 50) { totalCount nodes { id title status } }
} } } } } } } }
"""


def walk_projects(viewer: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        project
        for pillar in viewer["pillars"]["nodes"]
        for area in pillar["areas"]["nodes"]
        for project in area["projects"]["nodes"]
    ]


async def test_headline_tree_costs_4_statements_at_any_scale(
    gql: GraphQLClient, small: Dataset, large: Dataset
) -> None:
    # Given two users, one with ten times the other's hierarchy
    # When each reads pillars → areas → projects → tasks
    costs: dict[int, int] = {}
    for dataset in (small, large):
        result = await measure(gql, HEADLINE, dataset)
        costs[dataset.scale] = result.statements
        # Then every task comes back, each project with its task count
        projects = walk_projects(result.data["viewer"])
        assert len(projects) == len(dataset.tree.projects)
        assert sum(p["tasks"]["totalCount"] for p in projects) == len(dataset.tree.tasks)
        returned = {from_global_id(t["id"])[1] for p in projects for t in p["tasks"]["nodes"]}
        assert returned == set(dataset.tree.tasks)
    # And both cost one statement per level: 4, the same at 1x and at 10x
    assert costs == {1: 4, 10: 4}


async def test_headline_tree_with_progress_costs_7_statements_at_any_scale(
    gql: GraphQLClient, small: Dataset, large: Dataset
) -> None:
    # Given two users, one with ten times the other's hierarchy (task statuses mixed)
    # When each reads the tree with progress on every pillar, area and project
    costs: dict[int, int] = {}
    for dataset in (small, large):
        result = await measure(gql, HEADLINE_WITH_PROGRESS, dataset)
        costs[dataset.scale] = result.statements
        viewer = result.data["viewer"]
        # Then every progress matches the inserted statuses (neither 0 nor 100 everywhere)
        nodes = [
            *viewer["pillars"]["nodes"],
            *(area for pillar in viewer["pillars"]["nodes"] for area in pillar["areas"]["nodes"]),
            *walk_projects(viewer),
        ]
        assert len(nodes) == len(dataset.tree.pillars) + len(dataset.tree.areas) + len(dataset.tree.projects)
        for node in nodes:
            expected = dataset.tree.progress(from_global_id(node["id"])[1])
            assert node["progress"]["percent"] == expected.percent, node["id"]
        assert len({node["progress"]["percent"] for node in nodes}) > 1
    # And both cost 4 statements for the levels plus one per progress level: 7 at 1x and at 10x
    assert costs == {1: 7, 10: 7}


# ------------------------------------------------------------------------ field budgets


@dataclass(frozen=True)
class Budget:
    """`query` costs exactly `statements`; `grows`: the larger user's answer holds more objects."""

    name: str
    query: str
    statements: int
    grows: bool = True


BUDGETS = [
    # Viewer lists: one statement each.
    Budget("viewer.pillars", "{ viewer { pillars(first: 100) { totalCount nodes { id name } } } }", 1),
    Budget("viewer.areas", "{ viewer { areas(first: 100) { totalCount nodes { id name } } } }", 1),
    Budget("viewer.projects", "{ viewer { projects(first: 100) { totalCount nodes { id name } } } }", 1),
    Budget("viewer.tasks", "{ viewer { tasks(first: 100) { totalCount nodes { id title } } } }", 1),
    Budget(
        "viewer.tasks(filter)",
        "{ viewer { tasks(first: 100, filter: {status: [TODO, IN_PROGRESS], overdue: false}, orderBy: PRIORITY_DESC)"
        " { totalCount nodes { id title } } } }",
        1,
    ),
    Budget("viewer.journalEntries", "{ viewer { journalEntries(first: 100) { totalCount nodes { id title } } } }", 1),
    Budget(
        "viewer.journalTemplates", "{ viewer { journalTemplates(first: 100) { totalCount nodes { id name } } } }", 1
    ),
    Budget("viewer.resources", "{ viewer { resources(first: 100) { totalCount nodes { id title } } } }", 1),
    Budget("viewer.notifications", "{ viewer { notifications(first: 100) { totalCount nodes { id title } } } }", 1),
    Budget(
        "viewer.notifications(unreadOnly)",
        "{ viewer { notifications(first: 100, unreadOnly: true) { totalCount nodes { id } } } }",
        1,
    ),
    Budget("viewer.unreadNotificationCount", "{ viewer { unreadNotificationCount } }", 1, grows=False),
    Budget("viewer.user", "{ viewer { user { id email displayName } } }", 1, grows=False),
    # Children pages under many parents: one statement for the parents, one for all the children.
    Budget("pillar.areas", "{ viewer { pillars(first: 100) { nodes { id areas { totalCount nodes { id } } } } } }", 2),
    Budget(
        "area.projects", "{ viewer { areas(first: 100) { nodes { id projects { totalCount nodes { id } } } } } }", 2
    ),
    Budget(
        "area.projects(filter)",
        "{ viewer { areas(first: 100) { nodes { id projects(filter: {status: [IN_PROGRESS]}) { totalCount } } } } }",
        2,
    ),
    Budget(
        "project.tasks", "{ viewer { projects(first: 100) { nodes { id tasks { totalCount nodes { id } } } } } }", 2
    ),
    Budget(
        "project.tasks(filter)",
        "{ viewer { projects(first: 100) { nodes { id tasks(filter: {status: [DONE]}, orderBy: TITLE_ASC)"
        " { totalCount nodes { id } } } } } }",
        2,
    ),
    Budget(
        "project.resources",
        "{ viewer { projects(first: 100) { nodes { id resources { totalCount nodes { id } } } } } }",
        2,
    ),
    Budget(
        "task.resources", "{ viewer { tasks(first: 100) { nodes { id resources { totalCount nodes { id } } } } } }", 2
    ),
    # To-one fields: one statement for the parents, one for all their targets.
    Budget("area.pillar", "{ viewer { areas(first: 100) { nodes { id pillar { id name } } } } }", 2),
    Budget("project.area", "{ viewer { projects(first: 100) { nodes { id area { id name } } } } }", 2),
    Budget("task.project", "{ viewer { tasks(first: 100) { nodes { id project { id name } } } } }", 2),
    Budget(
        "journalEntry.template", "{ viewer { journalEntries(first: 100) { nodes { id template { id name } } } } }", 2
    ),
    Budget(
        "resource.project+task",
        "{ viewer { resources(first: 100) { nodes { id project { id name } task { id title } } } } }",
        3,
    ),
    Budget(
        "task.project.area.pillar",
        "{ viewer { tasks(first: 50) { nodes { id project { area { pillar { name } } } } } } }",
        4,
    ),
    # Progress: one grouped statement per level, whatever the number of nodes.
    Budget("pillar.progress", "{ viewer { pillars(first: 100) { nodes { id progress { percent totalTasks } } } } }", 2),
    Budget("area.progress", "{ viewer { areas(first: 100) { nodes { id progress { percent totalTasks } } } } }", 2),
    Budget(
        "project.progress", "{ viewer { projects(first: 100) { nodes { id progress { percent totalTasks } } } } }", 2
    ),
    Budget(
        "every progress",
        "{ viewer { pillars(first: 100) { nodes { progress { percent } areas { nodes { progress { percent }"
        " projects { nodes { progress { percent } } } } } } } } }",
        6,
    ),
    # Everything at once: each loader runs once, whatever asks for it.
    Budget(
        "viewer lists together",
        "{ viewer { user { id } unreadNotificationCount pillars { totalCount } areas { totalCount }"
        " projects { totalCount } tasks { totalCount } journalEntries { totalCount } journalTemplates { totalCount }"
        " resources { totalCount } notifications { totalCount } } }",
        10,
        grows=False,
    ),
]


@pytest.mark.parametrize("budget", BUDGETS, ids=lambda b: b.name)
async def test_field_costs_a_fixed_number_of_statements(
    gql: GraphQLClient, small: Dataset, large: Dataset, budget: Budget
) -> None:
    # Given two users, one with ten times the other's data
    # When each runs the same query
    at_1x = await measure(gql, budget.query, small)
    at_10x = await measure(gql, budget.query, large)
    # Then both cost exactly the pinned number of statements
    assert (at_1x.statements, at_10x.statements) == (budget.statements, budget.statements)
    # Though the larger user's answer holds more objects (parents and children alike)
    if budget.grows:
        assert objects_in(at_10x.data) > objects_in(at_1x.data)


NODE_QUERY = """
query($id: ID!) { node(id: $id) { id ... on Pillar { name } } }
"""

NODE_WITH_CHILDREN = """
query($id: ID!) { node(id: $id) { id ... on Pillar { name progress { percent }
  areas { nodes { id projects { nodes { id tasks { nodes { id } } } } } } } } }
"""


async def test_node_costs_one_statement_and_one_per_level_below(
    gql: GraphQLClient, small: Dataset, large: Dataset
) -> None:
    costs: list[tuple[int, int]] = []
    for dataset in (small, large):
        # Given the user's first pillar
        pillar = to_global_id("Pillar", dataset.tree.pillars[0])
        # When they fetch it alone, and with its subtree and progress
        alone = await measure(gql, NODE_QUERY, dataset, {"id": pillar})
        subtree = await measure(gql, NODE_WITH_CHILDREN, dataset, {"id": pillar})
        # Then they get it
        assert alone.data["node"]["id"] == pillar
        assert len(subtree.data["node"]["areas"]["nodes"]) == 2
        costs.append((alone.statements, subtree.statements))
    # And it costs 1 statement alone, 1 + progress + areas + projects + tasks with the subtree
    assert costs == [(1, 5), (1, 5)]


def mixed_ids(dataset: Dataset, count: int, types: int) -> list[str]:
    """`count` of the user's IDs cycling over the first `types` of the nine node types."""
    tree, journal = dataset.tree, dataset.journal
    pools: list[tuple[str, list[uuid.UUID]]] = [
        ("Pillar", tree.pillars),
        ("Area", tree.areas),
        ("Project", tree.projects),
        ("Task", tree.tasks),
        ("JournalEntry", journal.entries),
        ("JournalTemplate", journal.templates),
        ("Resource", dataset.resources),
        ("Notification", dataset.notifications),
        ("User", [from_global_id(dataset.viewer.user_id)[1]]),
    ][:types]
    ids: list[str] = []
    for i in range(count):
        type_name, pool = pools[i % types]
        ids.append(to_global_id(type_name, pool[(i // types) % len(pool)]))
    return ids


NODES_QUERY = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"


@pytest.mark.parametrize(("count", "types"), [(30, 9), (30, 3), (9, 9), (1, 1)])
async def test_nodes_cost_one_statement_per_distinct_type(
    gql: GraphQLClient, small: Dataset, large: Dataset, count: int, types: int
) -> None:
    costs: list[int] = []
    for dataset in (small, large):
        # Given `count` of the user's IDs spread over `types` node types
        ids = mixed_ids(dataset, count, types)
        # When they fetch them all at once
        result = await measure(gql, NODES_QUERY, dataset, {"ids": ids})
        # Then every one comes back, in order
        assert [node["id"] for node in result.data["nodes"]] == ids
        costs.append(result.statements)
    # And the request costs one statement per type
    assert costs == [types, types]


# ------------------------------------------------------------------------------ mutations

CREATE_TASK = """
mutation($input: CreateTaskInput!) { createTask(input: $input) {
  task { id title status position } errors { code message }
} }
"""


async def test_create_task_costs_a_fixed_number_of_statements(gql: GraphQLClient, session: AsyncSession) -> None:
    # Given a user with a project of 3 tasks and a project of 300
    me = await gql.sign_up()
    _, user_id = from_global_id(me.user_id)
    few = await create_tree(
        session, user_id=user_id, pillars=1, areas_per_pillar=1, projects_per_area=1, tasks_per_project=3
    )
    many = await create_tree(
        session, user_id=user_id, pillars=1, areas_per_pillar=1, projects_per_area=1, tasks_per_project=300
    )
    await session.commit()
    costs: list[int] = []
    for tree in (few, many):
        # When they create a task in each
        project = to_global_id("Project", tree.projects[0])
        result = await gql(CREATE_TASK, {"input": {"projectId": project, "title": "Measured"}}, token=me.token)
        payload = result.data["createTask"]
        # Then it is created last
        assert payload["errors"] == []
        assert payload["task"]["position"] == len(tree.tasks)
        costs.append(result.statements)
    # And each costs 1 statement: the insert checks the project, computes the position and writes
    # the audit event itself (services/writes.py), in the mutation's transaction
    assert costs == [1, 1]
