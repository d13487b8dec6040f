"""The pillar → area → project → task hierarchy over GraphQL: CRUD, update semantics, validation,
cascading deletes, moves, reordering, task status, filters, sort orders and progress rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.relay import from_global_id
from tests.aurum.conftest import AurumFactory
from tests.support import GraphQLClient

COUNTS = "{ viewer { pillars { totalCount } areas { totalCount } projects { totalCount } tasks { totalCount } } }"

TASK_FIELDS = "id title description status priority dueAt completedAt position isOverdue"


def iso(moment: datetime) -> str:
    return moment.isoformat()


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def node(gql: GraphQLClient, token: str, id: str, fields: str) -> Any:
    """The object behind a global ID (null if absent), with `fields` selected on its type."""
    type_name, _ = from_global_id(id)
    result = await gql(
        f"query N($id: ID!) {{ node(id: $id) {{ __typename ... on {type_name} {{ {fields} }} }} }}",
        {"id": id},
        token=token,
    )
    return result.data["node"]


async def counts(gql: GraphQLClient, token: str) -> dict[str, int]:
    viewer = (await gql(COUNTS, token=token)).data["viewer"]
    return {name: connection["totalCount"] for name, connection in viewer.items()}


async def viewer_task_titles(gql: GraphQLClient, token: str, arguments: str) -> list[str]:
    result = await gql(f"{{ viewer {{ tasks({arguments}) {{ nodes {{ title }} }} }} }}", token=token)
    return [t["title"] for t in result.data["viewer"]["tasks"]["nodes"]]


# --------------------------------------------------------------------------------- create


async def test_create_returns_saved_fields_and_places_each_child_last(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given a user
    me = await gql.sign_up()
    # When they create two pillars, and an area, a project and a task with every optional field
    first = await gql.mutate(
        "createPillar",
        {"name": "  Health  ", "description": "Body and mind", "color": "#00AA00", "icon": "heart"},
        "pillar { id name description color icon position }",
        token=me.token,
    )
    second = await gql.mutate("createPillar", {"name": "Career"}, "pillar { position description }", token=me.token)
    area = await gql.mutate(
        "createArea",
        {"pillarId": first["pillar"]["id"], "name": "Fitness", "importance": 5},
        "area { id importance position pillar { id } }",
        token=me.token,
    )
    due = datetime(2031, 5, 1, 9, 30, tzinfo=UTC)
    project = await gql.mutate(
        "createProject",
        {
            "areaId": area["area"]["id"],
            "name": "Marathon",
            "status": "IN_PROGRESS",
            "priority": "HIGH",
            "dueAt": iso(due),
        },
        "project { id name status priority dueAt position area { id } }",
        token=me.token,
    )
    task = await gql.mutate(
        "createTask",
        {"projectId": project["project"]["id"], "title": "Buy shoes", "description": "Trail", "priority": "URGENT"},
        f"task {{ {TASK_FIELDS} project {{ id }} }}",
        token=me.token,
    )
    # Then every field reads back as saved, names trimmed and defaults applied
    assert first["pillar"]["name"] == "Health"
    assert first["pillar"]["description"] == "Body and mind"
    assert (first["pillar"]["color"], first["pillar"]["icon"]) == ("#00AA00", "heart")
    assert (first["pillar"]["position"], second["pillar"]["position"]) == (0, 1)
    assert second["pillar"]["description"] is None
    assert area["area"]["importance"] == 5
    assert area["area"]["pillar"]["id"] == first["pillar"]["id"]
    assert project["project"]["status"] == "IN_PROGRESS"
    assert project["project"]["priority"] == "HIGH"
    assert parse(project["project"]["dueAt"]) == due
    assert project["project"]["area"]["id"] == area["area"]["id"]
    saved = task["task"]
    assert (saved["status"], saved["priority"], saved["description"]) == ("TODO", "URGENT", "Trail")
    assert saved["dueAt"] is None
    assert saved["completedAt"] is None
    assert saved["position"] == 0
    assert saved["project"]["id"] == project["project"]["id"]
    # And a second task in the same project goes after the first
    second_task = await aurum_factory.task(me.token, project["project"]["id"], "Run")
    assert (await node(gql, me.token, second_task, "position"))["position"] == 1


async def test_create_defaults_area_importance_and_project_status(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given a pillar
    me = await gql.sign_up()
    pillar = await aurum_factory.pillar(me.token)
    # When an area and a project are created without the optional fields
    area = await gql.mutate("createArea", {"pillarId": pillar, "name": "A"}, "area { id importance }", token=me.token)
    project = await gql.mutate(
        "createProject",
        {"areaId": area["area"]["id"], "name": "P"},
        "project { status priority dueAt }",
        token=me.token,
    )
    # Then the documented defaults apply
    assert area["area"]["importance"] == 3
    assert project["project"] == {"status": "NOT_STARTED", "priority": "MEDIUM", "dueAt": None}


@pytest.mark.parametrize(
    ("mutation", "values", "field"),
    [
        ("createPillar", {"name": "   "}, "name"),
        ("createPillar", {"name": "x" * 121}, "name"),
        ("createPillar", {"name": "Ok", "color": "x" * 17}, "color"),
        ("createArea", {"name": ""}, "name"),
        ("createArea", {"name": "Fitness", "importance": 0}, "importance"),
        ("createArea", {"name": "Fitness", "importance": 6}, "importance"),
        ("createProject", {"name": "x" * 201}, "name"),
        ("createProject", {"name": "Ok", "description": "x" * 8001}, "description"),
        ("createTask", {"title": " \t "}, "title"),
        ("createTask", {"title": "x" * 301}, "title"),
    ],
)
async def test_invalid_create_is_a_typed_validation_error_and_creates_nothing(
    gql: GraphQLClient, aurum_factory: AurumFactory, mutation: str, values: dict[str, Any], field: str
) -> None:
    # Given a pillar → area → project chain
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    parents = {
        "createPillar": {},
        "createArea": {"pillarId": tree.pillar},
        "createProject": {"areaId": tree.area},
        "createTask": {"projectId": tree.project},
    }
    before = await counts(gql, me.token)
    # When an invalid object is created
    payload = await gql.call(mutation, {**parents[mutation], **values}, "__typename", token=me.token)
    # Then the payload carries one VALIDATION error naming the field, and nothing was created
    [error] = payload["errors"]
    assert error["__typename"] == "ValidationError"
    assert error["code"] == "VALIDATION"
    assert error["field"] == ["input", field]
    assert error["message"]
    assert await counts(gql, me.token) == before


async def test_longest_allowed_names_are_accepted(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given a user; when names of exactly the maximum length are used
    me = await gql.sign_up()
    pillar = await gql.mutate("createPillar", {"name": "p" * 120}, "pillar { id name }", token=me.token)
    area = await aurum_factory.area(me.token, pillar["pillar"]["id"], "a" * 120, importance=1)
    project = await aurum_factory.project(me.token, area, "j" * 200)
    task = await gql.mutate("createTask", {"projectId": project, "title": "t" * 300}, "task { title }", token=me.token)
    # Then they are saved whole
    assert pillar["pillar"]["name"] == "p" * 120
    assert task["task"]["title"] == "t" * 300


async def test_parent_of_the_wrong_type_or_unknown_is_refused(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given a chain
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    # When a task is created under an area's ID (wrong type), then it is a validation error on projectId
    wrong = await gql.call("createTask", {"projectId": tree.area, "title": "T"}, "task { id }", token=me.token)
    assert [(e["code"], e["field"]) for e in wrong["errors"]] == [("VALIDATION", ["input", "projectId"])]
    assert wrong["task"] is None
    # When a project's ID that no longer exists is used, then it is NOT_FOUND on projectId
    await gql.mutate("deleteProject", {"id": tree.project}, "deletedId", token=me.token)
    gone = await gql.call("createTask", {"projectId": tree.project, "title": "T"}, "task { id }", token=me.token)
    assert [(e["__typename"], e["code"], e["field"]) for e in gone["errors"]] == [
        ("NotFoundError", "NOT_FOUND", ["input", "projectId"])
    ]
    assert (await counts(gql, me.token))["tasks"] == 0


# --------------------------------------------------------------------------------- update


async def test_update_pillar_leaves_omitted_fields_and_null_clears(gql: GraphQLClient) -> None:
    # Given a pillar with every field set
    me = await gql.sign_up()
    created = await gql.mutate(
        "createPillar",
        {"name": "Health", "description": "Body", "color": "#00AA00", "icon": "heart"},
        "pillar { id updatedAt }",
        token=me.token,
    )
    pillar_id = created["pillar"]["id"]
    selection = "pillar { name description color icon updatedAt }"
    # When only the name changes
    renamed = await gql.mutate("updatePillar", {"id": pillar_id, "name": "Wellbeing"}, selection, token=me.token)
    # Then the other fields stay and updatedAt moves on
    assert renamed["pillar"]["name"] == "Wellbeing"
    assert (renamed["pillar"]["description"], renamed["pillar"]["color"], renamed["pillar"]["icon"]) == (
        "Body",
        "#00AA00",
        "heart",
    )
    assert parse(renamed["pillar"]["updatedAt"]) > parse(created["pillar"]["updatedAt"])
    # When description and icon are set to null
    cleared = await gql.mutate(
        "updatePillar", {"id": pillar_id, "description": None, "icon": None}, selection, token=me.token
    )
    # Then those are cleared, the rest unchanged, and a re-read agrees
    assert cleared["pillar"]["description"] is None
    assert cleared["pillar"]["icon"] is None
    assert cleared["pillar"]["color"] == "#00AA00"
    assert cleared["pillar"]["name"] == "Wellbeing"
    stored = await node(gql, me.token, pillar_id, "name description color icon")
    assert stored == {
        "__typename": "Pillar",
        "name": "Wellbeing",
        "description": None,
        "color": "#00AA00",
        "icon": None,
    }


async def test_update_task_leaves_omitted_fields_and_null_clears_description_and_due(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given a task with a description, a priority and a due time
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    due = datetime(2032, 1, 2, 3, 4, 5, tzinfo=UTC)
    task = await aurum_factory.task(
        me.token, tree.project, "Stretch", description="Ten minutes", priority="HIGH", dueAt=iso(due)
    )
    # When only the title changes
    renamed = await gql.mutate(
        "updateTask", {"id": task, "title": "Stretch well"}, f"task {{ {TASK_FIELDS} }}", token=me.token
    )
    # Then everything else is as before
    assert renamed["task"]["title"] == "Stretch well"
    assert renamed["task"]["description"] == "Ten minutes"
    assert renamed["task"]["priority"] == "HIGH"
    assert parse(renamed["task"]["dueAt"]) == due
    # When description and dueAt are sent as null
    cleared = await gql.mutate(
        "updateTask", {"id": task, "description": None, "dueAt": None}, f"task {{ {TASK_FIELDS} }}", token=me.token
    )
    # Then both are cleared; title and priority stay
    assert cleared["task"]["description"] is None
    assert cleared["task"]["dueAt"] is None
    assert (cleared["task"]["title"], cleared["task"]["priority"]) == ("Stretch well", "HIGH")


async def test_update_area_and_project_fields(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given an area with a description and a project with a deadline
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    await gql.mutate("updateArea", {"id": tree.area, "description": "Move more"}, "area { id }", token=me.token)
    due = datetime(2030, 6, 1, tzinfo=UTC)
    await gql.mutate("updateProject", {"id": tree.project, "dueAt": iso(due)}, "project { id }", token=me.token)
    # When the area's importance changes and the project's status and priority change
    area = await gql.mutate(
        "updateArea", {"id": tree.area, "importance": 1}, "area { importance description }", token=me.token
    )
    project = await gql.mutate(
        "updateProject",
        {"id": tree.project, "status": "ON_HOLD", "priority": "LOW"},
        "project { status priority dueAt name }",
        token=me.token,
    )
    # Then only those change
    assert area["area"] == {"importance": 1, "description": "Move more"}
    assert project["project"]["status"] == "ON_HOLD"
    assert project["project"]["priority"] == "LOW"
    assert parse(project["project"]["dueAt"]) == due
    assert project["project"]["name"] == "Run a 10k"
    # When the project's deadline is set to null, then it is removed
    cleared = await gql.mutate(
        "updateProject", {"id": tree.project, "dueAt": None}, "project { dueAt }", token=me.token
    )
    assert cleared["project"]["dueAt"] is None


@pytest.mark.parametrize(
    ("mutation", "target", "values", "field"),
    [
        ("updatePillar", "pillar", {"name": None}, "name"),
        ("updatePillar", "pillar", {"name": "  "}, "name"),
        ("updatePillar", "pillar", {"name": "x" * 121}, "name"),
        ("updateArea", "area", {"name": None}, "name"),
        ("updateArea", "area", {"importance": None}, "importance"),
        ("updateArea", "area", {"importance": 9}, "importance"),
        ("updateArea", "area", {"pillarId": None}, "pillarId"),
        ("updateProject", "project", {"name": None}, "name"),
        ("updateProject", "project", {"status": None}, "status"),
        ("updateProject", "project", {"priority": None}, "priority"),
        ("updateProject", "project", {"areaId": None}, "areaId"),
        ("updateTask", "task", {"title": None}, "title"),
        ("updateTask", "task", {"title": "x" * 301}, "title"),
        ("updateTask", "task", {"status": None}, "status"),
        ("updateTask", "task", {"projectId": None}, "projectId"),
    ],
)
async def test_invalid_update_is_a_validation_error_and_changes_nothing(
    gql: GraphQLClient,
    aurum_factory: AurumFactory,
    mutation: str,
    target: str,
    values: dict[str, Any],
    field: str,
) -> None:
    # Given a chain with a task
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    task = await aurum_factory.task(me.token, tree.project)
    ids = {"pillar": tree.pillar, "area": tree.area, "project": tree.project, "task": task}
    fields = {
        "pillar": "name updatedAt",
        "area": "name importance updatedAt pillar { id }",
        "project": "name status priority updatedAt area { id }",
        "task": "title status updatedAt project { id }",
    }[target]
    before = await node(gql, me.token, ids[target], fields)
    # When the update sends null for a required field, or an invalid value, together with a valid change
    extra = {"description": "would change"}
    payload = await gql.call(mutation, {"id": ids[target], **extra, **values}, "__typename", token=me.token)
    # Then it is a VALIDATION error naming that field, and the object is untouched
    assert [(e["__typename"], e["code"], e["field"]) for e in payload["errors"]] == [
        ("ValidationError", "VALIDATION", ["input", field])
    ]
    assert await node(gql, me.token, ids[target], fields) == before
    assert (await node(gql, me.token, ids[target], "description"))["description"] is None


async def test_update_with_an_id_of_another_type_or_a_deleted_id(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given a chain
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    # When updatePillar gets an area's ID, then it is a validation error on id
    wrong = await gql.call("updatePillar", {"id": tree.area, "name": "X"}, "pillar { id }", token=me.token)
    assert [(e["code"], e["field"]) for e in wrong["errors"]] == [("VALIDATION", ["input", "id"])]
    assert wrong["pillar"] is None
    # When the area is deleted and then updated, then it is NOT_FOUND
    await gql.mutate("deleteArea", {"id": tree.area}, "deletedId", token=me.token)
    gone = await gql.call("updateArea", {"id": tree.area, "name": "X"}, "area { id }", token=me.token)
    assert [(e["__typename"], e["code"]) for e in gone["errors"]] == [("NotFoundError", "NOT_FOUND")]


# --------------------------------------------------------------------------------- delete


async def test_deleting_a_pillar_cascades_to_everything_beneath_it(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given two pillars, the first with two areas, a project with tasks, and the second with its own chain
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    second_area = await aurum_factory.area(me.token, tree.pillar, "Sleep")
    tasks = await aurum_factory.tasks(me.token, tree.project, [{"title": "a"}, {"title": "b", "status": "DONE"}])
    other = await aurum_factory.tree(me.token)
    other_task = await aurum_factory.task(me.token, other.project, "Keep me")
    doomed = [tree.pillar, tree.area, second_area, tree.project, *tasks]
    # When the first pillar is deleted
    payload = await gql.mutate("deletePillar", {"id": tree.pillar}, "deletedId", token=me.token)
    # Then its ID is returned, and it and everything beneath it are gone
    assert payload["deletedId"] == tree.pillar
    for object_id in doomed:
        assert await node(gql, me.token, object_id, "id") is None, object_id
    result = await gql("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": doomed}, token=me.token)
    assert result.data["nodes"] == [None] * len(doomed)
    # And the other pillar's chain is intact
    assert await counts(gql, me.token) == {"pillars": 1, "areas": 1, "projects": 1, "tasks": 1}
    assert (await node(gql, me.token, other_task, "title"))["title"] == "Keep me"


async def test_deleting_areas_projects_and_tasks(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given a chain with two tasks and a second project
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    keep, drop = await aurum_factory.tasks(me.token, tree.project, [{"title": "keep"}, {"title": "drop"}])
    other_project = await aurum_factory.project(me.token, tree.area, "Other")
    other_task = await aurum_factory.task(me.token, other_project)
    # When a task is deleted, then only it is gone
    deleted = await gql.mutate("deleteTask", {"id": drop}, "deletedId", token=me.token)
    assert deleted["deletedId"] == drop
    assert await node(gql, me.token, drop, "id") is None
    assert await node(gql, me.token, keep, "id") == {"__typename": "Task", "id": keep}
    # When it is deleted again, then it is NOT_FOUND
    again = await gql.call("deleteTask", {"id": drop}, "deletedId", token=me.token)
    assert again["deletedId"] is None
    assert [(e["code"], e["field"]) for e in again["errors"]] == [("NOT_FOUND", ["input", "id"])]
    # When a project is deleted, then its tasks go with it
    await gql.mutate("deleteProject", {"id": tree.project}, "deletedId", token=me.token)
    assert await node(gql, me.token, keep, "id") is None
    assert await node(gql, me.token, other_task, "id") is not None
    # When the area is deleted, then the other project and its task go too
    await gql.mutate("deleteArea", {"id": tree.area}, "deletedId", token=me.token)
    assert await node(gql, me.token, other_project, "id") is None
    assert await node(gql, me.token, other_task, "id") is None
    assert await counts(gql, me.token) == {"pillars": 1, "areas": 0, "projects": 0, "tasks": 0}


# ----------------------------------------------------------------------------------- moves


async def test_moving_an_area_to_another_pillar_places_it_last(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given pillar A with areas a1, a2 and pillar B with areas b1, b2
    me = await gql.sign_up()
    pillar_a = await aurum_factory.pillar(me.token, "A")
    pillar_b = await aurum_factory.pillar(me.token, "B")
    a1 = await aurum_factory.area(me.token, pillar_a, "a1")
    await aurum_factory.area(me.token, pillar_a, "a2")
    await aurum_factory.area(me.token, pillar_b, "b1")
    await aurum_factory.area(me.token, pillar_b, "b2")
    project = await aurum_factory.project(me.token, a1)
    # When a1 moves to B
    moved = await gql.mutate(
        "updateArea", {"id": a1, "pillarId": pillar_b}, "area { position pillar { id name } }", token=me.token
    )
    # Then it is last in B, gone from A, and keeps its projects
    assert moved["area"]["pillar"] == {"id": pillar_b, "name": "B"}
    assert moved["area"]["position"] == 2
    query = "query($id: ID!) { node(id: $id) { ... on Pillar { areas { nodes { name projects { totalCount } } } } } }"
    in_b = (await gql(query, {"id": pillar_b}, token=me.token)).data["node"]["areas"]["nodes"]
    in_a = (await gql(query, {"id": pillar_a}, token=me.token)).data["node"]["areas"]["nodes"]
    assert [a["name"] for a in in_b] == ["b1", "b2", "a1"]
    assert in_b[2]["projects"]["totalCount"] == 1
    assert [a["name"] for a in in_a] == ["a2"]
    assert (await node(gql, me.token, project, "area { pillar { id } }"))["area"]["pillar"]["id"] == pillar_b


async def test_moving_a_project_and_a_task_places_them_last(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given two areas with a project each, and each project with tasks
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    other_area = await aurum_factory.area(me.token, tree.pillar, "Other area")
    target_project = await aurum_factory.project(me.token, other_area, "Target")
    mover, _ = await aurum_factory.tasks(me.token, tree.project, [{"title": "mover", "status": "DONE"}, {"title": "x"}])
    await aurum_factory.tasks(me.token, target_project, [{"title": "t0"}, {"title": "t1"}, {"title": "t2"}])
    # When a task moves to the other project
    task = await gql.mutate(
        "updateTask", {"id": mover, "projectId": target_project}, "task { position project { id } }", token=me.token
    )
    # Then it is last there and progress follows it
    assert task["task"] == {"position": 3, "project": {"id": target_project}}
    query = """query($id: ID!) { node(id: $id) { ... on Project {
        tasks { nodes { title } } progress { totalTasks completedTasks } } } }"""
    target = (await gql(query, {"id": target_project}, token=me.token)).data["node"]
    source = (await gql(query, {"id": tree.project}, token=me.token)).data["node"]
    assert [t["title"] for t in target["tasks"]["nodes"]] == ["t0", "t1", "t2", "mover"]
    assert target["progress"] == {"totalTasks": 4, "completedTasks": 1}
    assert [t["title"] for t in source["tasks"]["nodes"]] == ["x"]
    # When the first project moves to the other area
    project = await gql.mutate(
        "updateProject", {"id": tree.project, "areaId": other_area}, "project { position area { id } }", token=me.token
    )
    # Then it is placed after the area's existing project
    assert project["project"] == {"position": 1, "area": {"id": other_area}}
    area_query = "query($id: ID!) { node(id: $id) { ... on Area { projects { nodes { name } } } } }"
    listed = (await gql(area_query, {"id": other_area}, token=me.token)).data["node"]["projects"]["nodes"]
    assert [p["name"] for p in listed] == ["Target", "Run a 10k"]


async def test_moving_to_another_users_parent_is_not_found(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given my task, and someone else's project
    me = await gql.sign_up()
    them = await gql.sign_up()
    mine = await aurum_factory.tree(me.token)
    task = await aurum_factory.task(me.token, mine.project)
    theirs = await aurum_factory.tree(them.token)
    # When I move my task (or my area) into their hierarchy
    task_move = await gql.call("updateTask", {"id": task, "projectId": theirs.project}, "task { id }", token=me.token)
    area_move = await gql.call(
        "updateArea", {"id": mine.area, "pillarId": theirs.pillar}, "area { id }", token=me.token
    )
    # Then it is NOT_FOUND on the parent field, and nothing moved
    assert [(e["code"], e["field"]) for e in task_move["errors"]] == [("NOT_FOUND", ["input", "projectId"])]
    assert [(e["code"], e["field"]) for e in area_move["errors"]] == [("NOT_FOUND", ["input", "pillarId"])]
    assert (await node(gql, me.token, task, "project { id }"))["project"]["id"] == mine.project
    assert (await node(gql, me.token, mine.area, "pillar { id }"))["pillar"]["id"] == mine.pillar
    assert (await counts(gql, them.token))["tasks"] == 0


# -------------------------------------------------------------------------------- reorder


async def test_reorder_each_level_sets_the_default_order(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given three pillars; three areas in the first; three projects in its first area; three tasks in that project
    me = await gql.sign_up()
    pillars = [await aurum_factory.pillar(me.token, f"P{i}") for i in range(3)]
    areas = [await aurum_factory.area(me.token, pillars[0], f"A{i}") for i in range(3)]
    projects = [await aurum_factory.project(me.token, areas[0], f"J{i}") for i in range(3)]
    tasks = await aurum_factory.tasks(me.token, projects[0], [{"title": f"T{i}"} for i in range(3)])
    # When each level is reordered
    reordered = {
        "reorderPillars": await gql.mutate(
            "reorderPillars", {"ids": [pillars[2], pillars[0], pillars[1]]}, "pillars { name position }", token=me.token
        ),
        "reorderAreas": await gql.mutate(
            "reorderAreas",
            {"pillarId": pillars[0], "ids": [areas[1], areas[2], areas[0]]},
            "areas { name position }",
            token=me.token,
        ),
        "reorderProjects": await gql.mutate(
            "reorderProjects",
            {"areaId": areas[0], "ids": [projects[2], projects[1], projects[0]]},
            "projects { name position }",
            token=me.token,
        ),
        "reorderTasks": await gql.mutate(
            "reorderTasks",
            {"projectId": projects[0], "ids": [tasks[1], tasks[0], tasks[2]]},
            "tasks { title position }",
            token=me.token,
        ),
    }
    # Then each payload lists the children in the new order with positions 0, 1, 2
    assert reordered["reorderPillars"]["pillars"] == [
        {"name": "P2", "position": 0},
        {"name": "P0", "position": 1},
        {"name": "P1", "position": 2},
    ]
    assert [a["name"] for a in reordered["reorderAreas"]["areas"]] == ["A1", "A2", "A0"]
    assert [p["name"] for p in reordered["reorderProjects"]["projects"]] == ["J2", "J1", "J0"]
    assert [t["title"] for t in reordered["reorderTasks"]["tasks"]] == ["T1", "T0", "T2"]
    assert [t["position"] for t in reordered["reorderTasks"]["tasks"]] == [0, 1, 2]
    # And the connections return the new order by default
    result = await gql(
        """{ viewer { pillars { nodes { name areas { nodes { name projects { nodes { name
             tasks { nodes { title } } } } } } } } } }""",
        token=me.token,
    )
    tree = result.data["viewer"]["pillars"]["nodes"]
    assert [p["name"] for p in tree] == ["P2", "P0", "P1"]
    p0 = tree[1]
    assert [a["name"] for a in p0["areas"]["nodes"]] == ["A1", "A2", "A0"]
    a0 = p0["areas"]["nodes"][2]
    assert [p["name"] for p in a0["projects"]["nodes"]] == ["J2", "J1", "J0"]
    assert [t["title"] for t in a0["projects"]["nodes"][2]["tasks"]["nodes"]] == ["T1", "T0", "T2"]
    # And a task created afterwards goes last
    await aurum_factory.task(me.token, projects[0], "T3")
    query = "query($id: ID!) { node(id: $id) { ... on Project { tasks { nodes { title } } } } }"
    listed = (await gql(query, {"id": projects[0]}, token=me.token)).data["node"]["tasks"]["nodes"]
    assert [t["title"] for t in listed] == ["T1", "T0", "T2", "T3"]


@pytest.mark.parametrize("bad_list", ["missing", "duplicate", "foreign", "other_users"])
async def test_reorder_tasks_with_a_bad_list_changes_nothing(
    gql: GraphQLClient, aurum_factory: AurumFactory, bad_list: str
) -> None:
    # Given a project with three tasks, another project with a task, and another user's task
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    a, b, c = await aurum_factory.tasks(me.token, tree.project, [{"title": "a"}, {"title": "b"}, {"title": "c"}])
    elsewhere = await aurum_factory.task(me.token, await aurum_factory.project(me.token, tree.area, "Other"))
    them = await gql.sign_up()
    their_task = await aurum_factory.task(them.token, (await aurum_factory.tree(them.token)).project)
    ids = {
        "missing": [c, b],
        "duplicate": [c, b, a, a],
        "foreign": [c, b, a, elsewhere],
        "other_users": [c, b, a, their_task],
    }[bad_list]
    # When the project's tasks are reordered with that list
    payload = await gql.call("reorderTasks", {"projectId": tree.project, "ids": ids}, "tasks { id }", token=me.token)
    # Then it is a VALIDATION error on ids, and the order is unchanged
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("VALIDATION", ["input", "ids"])]
    assert payload["tasks"] == []
    query = "query($id: ID!) { node(id: $id) { ... on Project { tasks { nodes { title position } } } } }"
    listed = (await gql(query, {"id": tree.project}, token=me.token)).data["node"]["tasks"]["nodes"]
    assert listed == [{"title": "a", "position": 0}, {"title": "b", "position": 1}, {"title": "c", "position": 2}]


async def test_reorder_pillars_and_areas_with_bad_lists_change_nothing(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given two pillars, the first with two areas and the second with one
    me = await gql.sign_up()
    p0 = await aurum_factory.pillar(me.token, "P0")
    p1 = await aurum_factory.pillar(me.token, "P1")
    a0 = await aurum_factory.area(me.token, p0, "A0")
    a1 = await aurum_factory.area(me.token, p0, "A1")
    other = await aurum_factory.area(me.token, p1, "B0")
    them = await gql.sign_up()
    their_pillar = await aurum_factory.pillar(them.token)
    # When pillars are reordered with a missing one, a duplicate, another user's pillar, or an area's ID
    attempts = [
        await gql.call("reorderPillars", {"ids": [p1]}, "pillars { id }", token=me.token),
        await gql.call("reorderPillars", {"ids": [p1, p0, p1]}, "pillars { id }", token=me.token),
        await gql.call("reorderPillars", {"ids": [p1, p0, their_pillar]}, "pillars { id }", token=me.token),
        await gql.call("reorderPillars", {"ids": [p1, a0]}, "pillars { id }", token=me.token),
        # and areas with one of another pillar's areas, or one missing
        await gql.call("reorderAreas", {"pillarId": p0, "ids": [a1, a0, other]}, "areas { id }", token=me.token),
        await gql.call("reorderAreas", {"pillarId": p0, "ids": [a1]}, "areas { id }", token=me.token),
    ]
    # Then every attempt is a VALIDATION error on ids
    for payload in attempts:
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [("VALIDATION", ["input", "ids"])]
    # And nothing moved
    result = await gql("{ viewer { pillars { nodes { name areas { nodes { name } } } } } }", token=me.token)
    pillars = result.data["viewer"]["pillars"]["nodes"]
    assert [(p["name"], [a["name"] for a in p["areas"]["nodes"]]) for p in pillars] == [
        ("P0", ["A0", "A1"]),
        ("P1", ["B0"]),
    ]


async def test_reorder_under_another_users_parent_is_not_found(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given another user's area with a project
    me = await gql.sign_up()
    them = await gql.sign_up()
    theirs = await aurum_factory.tree(them.token)
    # When I reorder their area's projects
    payload = await gql.call(
        "reorderProjects", {"areaId": theirs.area, "ids": [theirs.project]}, "projects { id }", token=me.token
    )
    # Then it is NOT_FOUND on areaId
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NOT_FOUND", ["input", "areaId"])]


# ---------------------------------------------------------------------------- task status


async def test_done_sets_completed_at_and_reopening_clears_it(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given an open task
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    task = await aurum_factory.task(me.token, tree.project)
    selection = "task { status completedAt }"
    # When it is marked DONE
    started = datetime.now(UTC)
    done = await gql.mutate("updateTask", {"id": task, "status": "DONE"}, selection, token=me.token)
    # Then completedAt is set to about now
    assert done["task"]["status"] == "DONE"
    completed_at = parse(done["task"]["completedAt"])
    assert started - timedelta(seconds=5) <= completed_at <= datetime.now(UTC) + timedelta(seconds=5)
    # When another field changes, or it is marked DONE again, then completedAt keeps its value
    retitled = await gql.mutate("updateTask", {"id": task, "title": "Renamed"}, selection, token=me.token)
    assert parse(retitled["task"]["completedAt"]) == completed_at
    again = await gql.mutate("updateTask", {"id": task, "status": "DONE"}, selection, token=me.token)
    assert parse(again["task"]["completedAt"]) == completed_at
    # When it goes back to TODO, then completedAt is cleared
    reopened = await gql.mutate("updateTask", {"id": task, "status": "TODO"}, selection, token=me.token)
    assert reopened["task"] == {"status": "TODO", "completedAt": None}
    # And IN_PROGRESS or CANCELLED after DONE clear it too
    for status in ("IN_PROGRESS", "CANCELLED"):
        await gql.mutate("updateTask", {"id": task, "status": "DONE"}, selection, token=me.token)
        changed = await gql.mutate("updateTask", {"id": task, "status": status}, selection, token=me.token)
        assert changed["task"] == {"status": status, "completedAt": None}


async def test_complete_task_and_create_done(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given an in-progress task, and a task created as DONE
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    task = await aurum_factory.task(me.token, tree.project, status="IN_PROGRESS")
    created_done = await gql.mutate(
        "createTask",
        {"projectId": tree.project, "title": "Done already", "status": "DONE"},
        "task { completedAt }",
        token=me.token,
    )
    # When the first is completed
    payload = await gql.mutate("completeTask", {"id": task}, "task { id status completedAt }", token=me.token)
    # Then it is DONE with completedAt; the one created DONE has completedAt too
    assert payload["task"]["id"] == task
    assert payload["task"]["status"] == "DONE"
    assert payload["task"]["completedAt"] is not None
    assert created_done["task"]["completedAt"] is not None
    # And completing a deleted task is NOT_FOUND
    await gql.mutate("deleteTask", {"id": task}, "deletedId", token=me.token)
    gone = await gql.call("completeTask", {"id": task}, "task { id }", token=me.token)
    assert [e["code"] for e in gone["errors"]] == ["NOT_FOUND"]


@pytest.mark.parametrize(
    ("status", "due_in_hours", "overdue"),
    [
        ("TODO", -1, True),
        ("IN_PROGRESS", -48, True),
        ("DONE", -1, False),
        ("CANCELLED", -1, False),
        ("TODO", 1, False),
        ("TODO", None, False),
    ],
)
async def test_is_overdue_only_for_open_tasks_past_due(
    gql: GraphQLClient, aurum_factory: AurumFactory, status: str, due_in_hours: int | None, overdue: bool
) -> None:
    # Given a task with that status and due time
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    due = None if due_in_hours is None else iso(datetime.now(UTC) + timedelta(hours=due_in_hours))
    task = await aurum_factory.task(me.token, tree.project, status=status, dueAt=due)
    # When it is read, then isOverdue says whether it is open and past due
    assert (await node(gql, me.token, task, "isOverdue"))["isOverdue"] is overdue
    # And the overdue filter agrees with the field
    assert await viewer_task_titles(gql, me.token, "filter: {overdue: true}") == (["Buy shoes"] if overdue else [])
    assert await viewer_task_titles(gql, me.token, "filter: {overdue: false}") == ([] if overdue else ["Buy shoes"])


# -------------------------------------------------------------------------------- filters


async def filter_fixture(gql: GraphQLClient, aurum_factory: AurumFactory, token: str) -> tuple[str, str]:
    """Two projects; tasks with assorted statuses, priorities and due times. Returns the project IDs."""
    now = datetime.now(UTC)
    tree = await aurum_factory.tree(token)
    other = await aurum_factory.project(token, tree.area, "Other")
    await aurum_factory.tasks(
        token,
        tree.project,
        [
            {"title": "Late open", "status": "TODO", "priority": "HIGH", "dueAt": iso(now - timedelta(days=2))},
            {
                "title": "Late working",
                "status": "IN_PROGRESS",
                "priority": "URGENT",
                "dueAt": iso(now - timedelta(days=1)),
            },
            {"title": "Late done", "status": "DONE", "priority": "LOW", "dueAt": iso(now - timedelta(days=3))},
            {"title": "Soon", "status": "TODO", "priority": "MEDIUM", "dueAt": iso(now + timedelta(days=2))},
            {"title": "Someday", "status": "CANCELLED", "priority": "LOW"},
        ],
    )
    await aurum_factory.tasks(
        token,
        other,
        [
            {"title": "Later", "status": "TODO", "priority": "HIGH", "dueAt": iso(now + timedelta(days=10))},
            {"title": "Undated", "status": "IN_PROGRESS", "priority": "MEDIUM"},
        ],
    )
    return tree.project, other


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ("{status: [TODO]}", {"Late open", "Soon", "Later"}),
        ("{status: [DONE, CANCELLED]}", {"Late done", "Someday"}),
        ("{priority: [HIGH, URGENT]}", {"Late open", "Late working", "Later"}),
        ("{priority: [LOW]}", {"Late done", "Someday"}),
        ("{overdue: true}", {"Late open", "Late working"}),
        ("{overdue: false}", {"Late done", "Soon", "Someday", "Later", "Undated"}),
        ("{status: [TODO], priority: [HIGH]}", {"Late open", "Later"}),
        ("{overdue: true, priority: [URGENT]}", {"Late working"}),
        ('{search: "LATE"}', {"Late open", "Late working", "Late done", "Later"}),
        ('{search: "  soon "}', {"Soon"}),
        ("{status: []}", {"Late open", "Late working", "Late done", "Soon", "Someday", "Later", "Undated"}),
        ("{}", {"Late open", "Late working", "Late done", "Soon", "Someday", "Later", "Undated"}),
    ],
)
async def test_viewer_task_filters(
    gql: GraphQLClient, aurum_factory: AurumFactory, filter_: str, expected: set[str]
) -> None:
    # Given tasks across two projects
    me = await gql.sign_up()
    await filter_fixture(gql, aurum_factory, me.token)
    # When viewer.tasks is filtered
    result = await gql(
        f"{{ viewer {{ tasks(filter: {filter_}) {{ totalCount nodes {{ title }} }} }} }}", token=me.token
    )
    tasks = result.data["viewer"]["tasks"]
    # Then exactly the matching tasks come back, and totalCount counts only them
    assert {t["title"] for t in tasks["nodes"]} == expected
    assert tasks["totalCount"] == len(expected)


async def test_due_range_filter_is_inclusive_below_and_exclusive_above(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given tasks due at exactly the range's two bounds, inside, outside, and undated
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    start = datetime(2031, 3, 1, tzinfo=UTC)
    end = datetime(2031, 3, 8, tzinfo=UTC)
    await aurum_factory.tasks(
        me.token,
        tree.project,
        [
            {"title": "at start", "dueAt": iso(start)},
            {"title": "inside", "dueAt": iso(start + timedelta(days=3))},
            {"title": "at end", "dueAt": iso(end)},
            {"title": "before", "dueAt": iso(start - timedelta(seconds=1))},
            {"title": "undated"},
        ],
    )
    variables = {"after": iso(start), "before": iso(end)}
    query = """query($after: DateTime, $before: DateTime) { viewer {
        both: tasks(filter: {dueAfter: $after, dueBefore: $before}) { nodes { title } }
        from: tasks(filter: {dueAfter: $after}) { nodes { title } }
        until: tasks(filter: {dueBefore: $before}) { nodes { title } } } }"""
    # When filtered by the range, by its start only and by its end only
    viewer = (await gql(query, variables, token=me.token)).data["viewer"]
    # Then the start is included, the end excluded, and undated tasks never match
    assert [t["title"] for t in viewer["both"]["nodes"]] == ["at start", "inside"]
    assert [t["title"] for t in viewer["from"]["nodes"]] == ["at start", "inside", "at end"]
    assert [t["title"] for t in viewer["until"]["nodes"]] == ["before", "at start", "inside"]


async def test_search_treats_percent_and_underscore_literally(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given titles with and without the LIKE wildcard characters
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    await aurum_factory.tasks(
        me.token,
        tree.project,
        [
            {"title": "Save 100% effort"},
            {"title": "Save 100 effort"},
            {"title": "file_name check"},
            {"title": "filename check"},
            {"title": "path\\to\\thing"},
            {"title": "pathtothing"},
        ],
    )

    async def search(text: str) -> set[str]:
        result = await gql(
            "query($s: String) { viewer { tasks(filter: {search: $s}) { nodes { title } } } }",
            {"s": text},
            token=me.token,
        )
        return {t["title"] for t in result.data["viewer"]["tasks"]["nodes"]}

    # When searching for text containing % or _ or a backslash, then only literal matches come back
    assert await search("100%") == {"Save 100% effort"}
    assert await search("%") == {"Save 100% effort"}
    assert await search("_") == {"file_name check"}
    assert await search("FILE_") == {"file_name check"}
    assert await search("e_n") == {"file_name check"}
    assert await search("h\\t") == {"path\\to\\thing"}
    # And an ordinary search still matches any case, anywhere in the title
    assert await search("SAVE") == {"Save 100% effort", "Save 100 effort"}
    assert await search("zzz") == set()


async def test_project_tasks_filter_is_scoped_to_the_project(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given tasks in two projects
    me = await gql.sign_up()
    first, other = await filter_fixture(gql, aurum_factory, me.token)
    open_tasks = "tasks(filter: {status: [TODO, IN_PROGRESS]}) { totalCount nodes { title } }"
    query = f"""query($a: ID!, $b: ID!) {{
        a: node(id: $a) {{ ... on Project {{ {open_tasks} }} }}
        b: node(id: $b) {{ ... on Project {{ {open_tasks} }} }}
        o: node(id: $a) {{ ... on Project {{
            tasks(filter: {{overdue: true, search: "open"}}) {{ nodes {{ title }} }} }} }}
    }}"""
    # When each project's tasks are filtered in one query
    data = (await gql(query, {"a": first, "b": other}, token=me.token)).data
    # Then each project returns only its own matches, in position order
    assert [t["title"] for t in data["a"]["tasks"]["nodes"]] == ["Late open", "Late working", "Soon"]
    assert data["a"]["tasks"]["totalCount"] == 3
    assert [t["title"] for t in data["b"]["tasks"]["nodes"]] == ["Later", "Undated"]
    assert [t["title"] for t in data["o"]["tasks"]["nodes"]] == ["Late open"]


async def test_viewer_projects_status_filter(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given projects in several statuses across two areas
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    other_area = await aurum_factory.area(me.token, tree.pillar, "Other")
    await aurum_factory.project(me.token, tree.area, "Active", status="IN_PROGRESS")
    await aurum_factory.project(me.token, other_area, "Paused", status="ON_HOLD")
    await aurum_factory.project(me.token, other_area, "Finished", status="COMPLETED")
    query = "query($s: [ProjectStatus!]) { viewer { projects(filter: {status: $s}) { totalCount nodes { name } } } }"

    async def names(statuses: list[str]) -> set[str]:
        projects = (await gql(query, {"s": statuses}, token=me.token)).data["viewer"]["projects"]
        assert projects["totalCount"] == len(projects["nodes"])
        return {p["name"] for p in projects["nodes"]}

    # When filtered by status, then only projects in those statuses come back
    assert await names(["IN_PROGRESS", "ON_HOLD"]) == {"Active", "Paused"}
    assert await names(["NOT_STARTED"]) == {"Run a 10k"}
    assert await names(["CANCELLED"]) == set()
    # And area.projects takes the same filter
    area_query = """query($id: ID!) { node(id: $id) { ... on Area {
        projects(filter: {status: [COMPLETED, NOT_STARTED]}) { nodes { name } } } } }"""
    listed = (await gql(area_query, {"id": other_area}, token=me.token)).data["node"]["projects"]["nodes"]
    assert [p["name"] for p in listed] == ["Finished"]


# ---------------------------------------------------------------------------------- sorts


async def test_due_sorts_put_undated_tasks_last_ascending_and_first_descending(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given dated and undated tasks, created out of due order
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    base = datetime(2030, 1, 1, tzinfo=UTC)
    await aurum_factory.tasks(
        me.token,
        tree.project,
        [
            {"title": "undated 1"},
            {"title": "day 3", "dueAt": iso(base + timedelta(days=3))},
            {"title": "day 1", "dueAt": iso(base + timedelta(days=1))},
            {"title": "undated 2"},
            {"title": "day 2", "dueAt": iso(base + timedelta(days=2))},
        ],
    )
    # When sorted by due time each way (ascending is viewer.tasks' default)
    ascending = await viewer_task_titles(gql, me.token, "orderBy: DUE_AT_ASC")
    default = await viewer_task_titles(gql, me.token, "first: 20")
    descending = await viewer_task_titles(gql, me.token, "orderBy: DUE_AT_DESC")
    # Then undated tasks come after every dated one ascending, and before them descending
    assert ascending[:3] == ["day 1", "day 2", "day 3"]
    assert set(ascending[3:]) == {"undated 1", "undated 2"}
    assert default == ascending
    assert set(descending[:2]) == {"undated 1", "undated 2"}
    assert descending[2:] == ["day 3", "day 2", "day 1"]


async def test_priority_title_and_created_sorts(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given tasks whose titles differ in case, created in a known order with distinct priorities
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    await aurum_factory.tasks(
        me.token,
        tree.project,
        [
            {"title": "banana", "priority": "LOW"},
            {"title": "Cherry", "priority": "URGENT"},
            {"title": "apple", "priority": "MEDIUM"},
            {"title": "Date", "priority": "HIGH"},
        ],
    )
    # When sorted each way
    by_priority = await viewer_task_titles(gql, me.token, "orderBy: PRIORITY_DESC")
    by_priority_asc = await viewer_task_titles(gql, me.token, "orderBy: PRIORITY_ASC")
    by_title = await viewer_task_titles(gql, me.token, "orderBy: TITLE_ASC")
    by_title_desc = await viewer_task_titles(gql, me.token, "orderBy: TITLE_DESC")
    newest = await viewer_task_titles(gql, me.token, "orderBy: CREATED_AT_DESC")
    oldest = await viewer_task_titles(gql, me.token, "orderBy: CREATED_AT_ASC")
    position_desc = await viewer_task_titles(gql, me.token, "orderBy: POSITION_DESC")
    # Then each order holds, titles compared without regard to case
    assert by_priority == ["Cherry", "Date", "apple", "banana"]
    assert by_priority_asc == ["banana", "apple", "Date", "Cherry"]
    assert by_title == ["apple", "banana", "Cherry", "Date"]
    assert by_title_desc == ["Date", "Cherry", "banana", "apple"]
    assert newest == ["Date", "apple", "Cherry", "banana"]
    assert oldest == ["banana", "Cherry", "apple", "Date"]
    assert position_desc == newest


async def test_project_and_pillar_sorts(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given pillars and projects named out of alphabetical order, projects with due times
    me = await gql.sign_up()
    zeta = await aurum_factory.pillar(me.token, "zeta")
    await aurum_factory.pillar(me.token, "Alpha")
    await aurum_factory.pillar(me.token, "beta")
    area = await aurum_factory.area(me.token, zeta)
    base = datetime(2030, 1, 1, tzinfo=UTC)
    await aurum_factory.project(me.token, area, "late", dueAt=iso(base + timedelta(days=9)), priority="LOW")
    await aurum_factory.project(me.token, area, "none", priority="URGENT")
    await aurum_factory.project(me.token, area, "early", dueAt=iso(base), priority="HIGH")
    query = """{ viewer {
        byName: pillars(orderBy: NAME_ASC) { nodes { name } }
        newest: pillars(orderBy: CREATED_AT_DESC) { nodes { name } }
        projects { nodes { name } }
        byDueDesc: projects(orderBy: DUE_AT_DESC) { nodes { name } }
        byPriority: projects(orderBy: PRIORITY_DESC) { nodes { name } } } }"""
    # When read in those orders
    viewer = (await gql(query, token=me.token)).data["viewer"]
    # Then names sort without regard to case, and projects default to due time with undated last
    assert [p["name"] for p in viewer["byName"]["nodes"]] == ["Alpha", "beta", "zeta"]
    assert [p["name"] for p in viewer["newest"]["nodes"]] == ["beta", "Alpha", "zeta"]
    assert [p["name"] for p in viewer["projects"]["nodes"]] == ["early", "late", "none"]
    assert [p["name"] for p in viewer["byDueDesc"]["nodes"]] == ["none", "late", "early"]
    assert [p["name"] for p in viewer["byPriority"]["nodes"]] == ["none", "early", "late"]


# ------------------------------------------------------------------------------- progress

PROGRESS = "progress { totalTasks completedTasks percent }"


async def test_progress_rollups_are_task_weighted_and_exclude_cancelled(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given area A with project P1 (1 of 2 done, plus a cancelled task) and P2 (3 of 3 done),
    # and area B in the same pillar with project P3 (0 of 1 done)
    me = await gql.sign_up()
    pillar = await aurum_factory.pillar(me.token)
    area_a = await aurum_factory.area(me.token, pillar, "A")
    area_b = await aurum_factory.area(me.token, pillar, "B")
    p1 = await aurum_factory.project(me.token, area_a, "P1")
    p2 = await aurum_factory.project(me.token, area_a, "P2")
    p3 = await aurum_factory.project(me.token, area_b, "P3")
    await aurum_factory.tasks(
        me.token, p1, [{"title": "done", "status": "DONE"}, {"title": "open"}, {"title": "x", "status": "CANCELLED"}]
    )
    await aurum_factory.tasks(me.token, p2, [{"title": f"d{i}", "status": "DONE"} for i in range(3)])
    await aurum_factory.task(me.token, p3, "working", status="IN_PROGRESS")
    # When progress is read at every level
    result = await gql(
        f"""{{ viewer {{ pillars {{ nodes {{ {PROGRESS} areas {{ nodes {{ name {PROGRESS}
             projects {{ nodes {{ name {PROGRESS} }} }} }} }} }} }} }} }}""",
        token=me.token,
    )
    [pillar_node] = result.data["viewer"]["pillars"]["nodes"]
    a_node, b_node = pillar_node["areas"]["nodes"]
    # Then projects count their own tasks, cancelled ones excluded
    assert [p["progress"] for p in a_node["projects"]["nodes"]] == [
        {"totalTasks": 2, "completedTasks": 1, "percent": 50.0},
        {"totalTasks": 3, "completedTasks": 3, "percent": 100.0},
    ]
    # And areas and pillars weigh every task equally (4/5 = 80%, not the mean of 50% and 100%)
    assert a_node["progress"] == {"totalTasks": 5, "completedTasks": 4, "percent": 80.0}
    assert b_node["progress"] == {"totalTasks": 1, "completedTasks": 0, "percent": 0.0}
    assert pillar_node["progress"] == {"totalTasks": 6, "completedTasks": 4, "percent": 66.7}


async def test_progress_of_empty_and_all_cancelled_nodes_is_zero(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given an empty pillar, an area with an empty project, and a project whose only task is cancelled
    me = await gql.sign_up()
    empty_pillar = await aurum_factory.pillar(me.token, "Empty")
    tree = await aurum_factory.tree(me.token)
    cancelled_project = await aurum_factory.project(me.token, tree.area, "Cancelled only")
    await aurum_factory.task(me.token, cancelled_project, status="CANCELLED")
    zero = {"totalTasks": 0, "completedTasks": 0, "percent": 0.0}
    # When their progress is read, then every one is 0 of 0 and 0.0 percent
    for object_id in (empty_pillar, tree.pillar, tree.area, tree.project, cancelled_project):
        assert (await node(gql, me.token, object_id, PROGRESS))["progress"] == zero, object_id


async def test_progress_percent_is_rounded_to_one_decimal_and_follows_changes(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given a project with three tasks, one done
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    first, second, _ = await aurum_factory.tasks(
        me.token, tree.project, [{"title": "a", "status": "DONE"}, {"title": "b"}, {"title": "c"}]
    )
    # When progress is read, then 1/3 is 33.3
    assert (await node(gql, me.token, tree.project, PROGRESS))["progress"] == {
        "totalTasks": 3,
        "completedTasks": 1,
        "percent": 33.3,
    }
    # When another is completed and the first deleted, then 1/2 is 50.0 for the project and its ancestors
    await gql.mutate("completeTask", {"id": second}, "task { id }", token=me.token)
    await gql.mutate("deleteTask", {"id": first}, "deletedId", token=me.token)
    expected = {"totalTasks": 2, "completedTasks": 1, "percent": 50.0}
    for object_id in (tree.project, tree.area, tree.pillar):
        assert (await node(gql, me.token, object_id, PROGRESS))["progress"] == expected
    # And two of three done is 66.7
    await gql.mutate(
        "createTask", {"projectId": tree.project, "title": "d", "status": "DONE"}, "task { id }", token=me.token
    )
    assert (await node(gql, me.token, tree.pillar, PROGRESS))["progress"]["percent"] == 66.7


# --------------------------------------------------------------------- input edge cases


@pytest.mark.parametrize("mutation", ["createTask", "updateTask"])
async def test_a_due_time_without_offset_is_not_an_internal_error(
    gql: GraphQLClient, aurum_factory: AurumFactory, mutation: str
) -> None:
    # Given a task
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    task = await aurum_factory.task(me.token, tree.project, "existing")
    values = {"projectId": tree.project, "title": "naive"} if mutation == "createTask" else {"id": task}
    # When a due time without a UTC offset (in the past) is sent, and the payload asks for isOverdue
    response = await gql(
        f"""mutation($input: {mutation[0].upper() + mutation[1:]}Input!) {{ {mutation}(input: $input) {{
            task {{ id dueAt isOverdue }} errors {{ code field }} }} }}""",
        {"input": {**values, "dueAt": "2020-01-01T00:00:00"}},
        token=me.token,
    )
    # Then the request either refuses the value (VALIDATION on dueAt) or saves it as UTC and answers
    # consistently with a later read; it never fails with an internal error after committing
    assert "errors" not in response.body, response.body["errors"]
    payload = response.body["data"][mutation]
    if payload["errors"]:
        assert payload["errors"] == [{"code": "VALIDATION", "field": ["input", "dueAt"]}]
        return
    saved = payload["task"]
    assert parse(saved["dueAt"]) == datetime(2020, 1, 1, tzinfo=UTC)
    assert saved["isOverdue"] is True
    assert await node(gql, me.token, saved["id"], "dueAt isOverdue") == {
        "__typename": "Task",
        "dueAt": saved["dueAt"],
        "isOverdue": True,
    }


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        ("mutation($n: String!) { createPillar(input: {name: $n}) { pillar { id } } }", {"n": "Health\u0000"}),
        ("query($s: String) { viewer { tasks(filter: {search: $s}) { totalCount } } }", {"s": "a\u0000"}),
        ('mutation { createPillar(input: {name: "Health\\u0000"}) { pillar { id } } }', None),
    ],
    ids=["variable-in-mutation", "variable-in-search", "literal-in-document"],
)
async def test_a_nul_character_is_refused_before_anything_runs(
    gql: GraphQLClient, document: str, variables: dict[str, str] | None
) -> None:
    # Given a user
    me = await gql.sign_up()
    # When text holds a NUL character (which Postgres text cannot store)
    response = await gql(document, variables, token=me.token, expect_status=400)
    # Then the request is refused as bad input, not an internal error, and nothing was created
    assert response.error_codes == ["BAD_USER_INPUT"]
    assert "NUL" in response.errors[0]["message"]
    assert (await counts(gql, me.token))["pillars"] == 0
