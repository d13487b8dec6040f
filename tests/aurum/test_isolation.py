"""Tenant isolation: another user's object is indistinguishable from one that never existed.

Two users, Alice and Bob, each own one object of every node type. Whatever Bob does with
Alice's IDs (read them with `node`/`nodes`, list his own data, or pass them to any mutation)
answers exactly as a random ID of that type would, and leaves Alice's data untouched. Below
the API, composite foreign keys make the database refuse a child under another user's parent.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import SQLModel

from core.relay import from_global_id, to_global_id
from models.aurum import Area, Project, Resource, Task
from services.aurum import table
from services.notifications import notify
from tests.support import GraphQLClient, Viewer

NODE_TYPES = [
    "User",
    "Notification",
    "Pillar",
    "Area",
    "Project",
    "Task",
    "JournalEntry",
    "JournalTemplate",
    "Resource",
]

# Every field a mutation could change, per type; aliases keep fields of different types apart.
SNAPSHOT = """
query Snapshot($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename
    id
    ... on User { email displayName purpose offering role }
    ... on Notification { title isRead readAt }
    ... on Pillar { name description color icon position updatedAt areas { totalCount nodes { id } } }
    ... on Area {
      name description importance position updatedAt areaPillar: pillar { id } projects { totalCount nodes { id } }
    }
    ... on Project {
      name description projectStatus: status priority dueAt position updatedAt projectArea: area { id }
      tasks { totalCount nodes { id } } resources { totalCount nodes { id } }
    }
    ... on Task {
      title description taskStatus: status priority dueAt completedAt position updatedAt
      taskProject: project { id } resources { totalCount nodes { id } }
    }
    ... on JournalEntry { title body mood tags updatedAt template { id } }
    ... on JournalTemplate { name description prompts updatedAt }
    ... on Resource { title url updatedAt resourceProject: project { id } resourceTask: task { id } }
  }
  viewer {
    pillars { totalCount nodes { id } }
    areas { totalCount nodes { id } }
    projects { totalCount nodes { id } }
    tasks { totalCount nodes { id } }
    journalEntries { totalCount nodes { id } }
    journalTemplates { totalCount nodes { id } }
    resources { totalCount nodes { id } }
    notifications { totalCount nodes { id } }
    unreadNotificationCount
  }
}
"""

LISTS = """
{ viewer {
    pillars { nodes { id } } areas { nodes { id } } projects { nodes { id } } tasks { nodes { id } }
    journalEntries { nodes { id } } journalTemplates { nodes { id } } resources { nodes { id } }
    notifications { nodes { id } } unreadNotificationCount
} }
"""

LIST_TYPES = {
    "pillars": "Pillar",
    "areas": "Area",
    "projects": "Project",
    "tasks": "Task",
    "journalEntries": "JournalEntry",
    "journalTemplates": "JournalTemplate",
    "resources": "Resource",
    "notifications": "Notification",
}

NODE = "query Node($id: ID!) { node(id: $id) { __typename id } }"
NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"


@dataclass(frozen=True)
class World:
    """A user and the one object of every node type they own, by global ID."""

    viewer: Viewer
    ids: dict[str, str]

    @property
    def token(self) -> str:
        return self.viewer.token

    def pk(self, type_name: str) -> uuid.UUID:
        return from_global_id(self.ids[type_name])[1]


def random_id(type_name: str) -> str:
    """The global ID of an object of this type that never existed."""
    return to_global_id(type_name, uuid.uuid4())


def without_extensions(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "extensions"}


async def build_world(gql: GraphQLClient, session: AsyncSession, name: str) -> World:
    """Sign a user up and create one object of every node type through the public API."""
    viewer = await gql.sign_up(display_name=name)
    token = viewer.token

    async def create(mutation: str, input: dict[str, Any], key: str) -> str:
        payload = await gql.mutate(mutation, input, f"{key} {{ id }}", token=token)
        return str(payload[key]["id"])

    pillar = await create("createPillar", {"name": f"{name}'s pillar"}, "pillar")
    area = await create("createArea", {"pillarId": pillar, "name": f"{name}'s area"}, "area")
    project = await create("createProject", {"areaId": area, "name": f"{name}'s project"}, "project")
    task = await create("createTask", {"projectId": project, "title": f"{name}'s task"}, "task")
    template = await create(
        "createJournalTemplate", {"name": f"{name}'s template", "prompts": ["How was today?"]}, "journalTemplate"
    )
    entry = await create(
        "createJournalEntry",
        {"title": f"{name}'s entry", "body": "Private thoughts", "mood": 7, "tags": ["secret"], "templateId": template},
        "journalEntry",
    )
    resource = await create(
        "createResource",
        {"kind": "LINK", "title": f"{name}'s link", "url": "https://example.com/private", "taskId": task},
        "resource",
    )
    _, user_pk = from_global_id(viewer.user_id)
    notification = await notify(session, user_id=user_pk, product="aurum", kind="task_due", title=f"For {name}")
    await session.commit()
    return World(
        viewer=viewer,
        ids={
            "User": viewer.user_id,
            "Notification": to_global_id("Notification", notification.id),
            "Pillar": pillar,
            "Area": area,
            "Project": project,
            "Task": task,
            "JournalEntry": entry,
            "JournalTemplate": template,
            "Resource": resource,
        },
    )


@dataclass(frozen=True)
class Pair:
    alice: World
    bob: World


@pytest.fixture(scope="module")
async def readers(http: httpx.AsyncClient, engine: AsyncEngine) -> Pair:
    """Alice and Bob shared by the tests of this module that only read (and by none that write)."""
    gql = GraphQLClient(http)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        return Pair(alice=await build_world(gql, session, "Alice"), bob=await build_world(gql, session, "Bob"))


@pytest.fixture
async def alice(gql: GraphQLClient, session: AsyncSession) -> World:
    """A fresh Alice, for tests that attempt writes."""
    return await build_world(gql, session, "Alice")


@pytest.fixture
async def bob(gql: GraphQLClient, session: AsyncSession) -> World:
    return await build_world(gql, session, "Bob")


async def snapshot(gql: GraphQLClient, world: World) -> dict[str, Any]:
    """Everything the user can see of their objects and lists, read as that user."""
    data: dict[str, Any] = (await gql(SNAPSHOT, {"ids": list(world.ids.values())}, token=world.token)).data
    assert all(node is not None for node in data["nodes"]), data["nodes"]
    return data


# ------------------------------------------------------------------------------ reading


@pytest.mark.parametrize("type_name", NODE_TYPES)
async def test_node_of_another_user_is_null_exactly_like_a_missing_id(
    gql: GraphQLClient, readers: Pair, type_name: str
) -> None:
    alice, bob = readers.alice, readers.bob
    # Given Alice's object of this type, and an ID of this type that never existed
    theirs = alice.ids[type_name]
    # When Bob asks for each, Alice asks for hers, and an anonymous client asks for it
    as_bob = await gql(NODE, {"id": theirs}, token=bob.token)
    missing = await gql(NODE, {"id": random_id(type_name)}, token=bob.token)
    as_alice = await gql(NODE, {"id": theirs}, token=alice.token)
    anonymous = await gql(NODE, {"id": theirs})
    # Then Bob gets null, in a response identical to the one for the missing ID
    assert as_bob.data == {"node": None}
    assert without_extensions(as_bob.body) == without_extensions(missing.body)
    # And Alice gets her object, while the anonymous client gets null
    assert as_alice.data == {"node": {"__typename": type_name, "id": theirs}}
    assert anonymous.data == {"node": None}


@pytest.mark.parametrize("type_name", NODE_TYPES)
async def test_nodes_of_another_user_are_null_in_place_among_own_objects(
    gql: GraphQLClient, readers: Pair, type_name: str
) -> None:
    alice, bob = readers.alice, readers.bob
    # Given IDs of this type: Alice's, Bob's, a missing one, and Alice's again
    ids = [alice.ids[type_name], bob.ids[type_name], random_id(type_name), alice.ids[type_name]]
    # When Bob fetches them together
    result = await gql(NODES, {"ids": ids}, token=bob.token)
    # Then only his own is returned, in its position; the others are null
    assert result.data["nodes"] == [None, {"__typename": type_name, "id": bob.ids[type_name]}, None, None]


async def test_nodes_of_every_type_mixed_keep_their_positions(gql: GraphQLClient, readers: Pair) -> None:
    alice, bob = readers.alice, readers.bob
    # Given every one of Alice's and Bob's objects, interleaved
    ids = [world.ids[type_name] for type_name in NODE_TYPES for world in (alice, bob)]
    # When Bob fetches them all, and Alice fetches the same list
    as_bob = (await gql(NODES, {"ids": ids}, token=bob.token)).data["nodes"]
    as_alice = (await gql(NODES, {"ids": ids}, token=alice.token)).data["nodes"]
    # Then each sees exactly their own objects, with nulls where the other's are
    expected_bob: list[dict[str, str] | None] = []
    expected_alice: list[dict[str, str] | None] = []
    for type_name in NODE_TYPES:
        expected_bob += [None, {"__typename": type_name, "id": bob.ids[type_name]}]
        expected_alice += [{"__typename": type_name, "id": alice.ids[type_name]}, None]
    assert as_bob == expected_bob
    assert as_alice == expected_alice


async def test_viewer_lists_hold_only_the_viewers_own_data(gql: GraphQLClient, readers: Pair) -> None:
    alice, bob = readers.alice, readers.bob
    # Given Alice and Bob with one object of each type and one unread notification each
    # When each reads every list of theirs
    for me, other in ((bob, alice), (alice, bob)):
        viewer = (await gql(LISTS, token=me.token)).data["viewer"]
        # Then every list holds exactly their own object and none of the other's
        for field, type_name in LIST_TYPES.items():
            ids = [node["id"] for node in viewer[field]["nodes"]]
            assert ids == [me.ids[type_name]], field
            assert other.ids[type_name] not in ids
        # And the unread count counts only their own notification
        assert viewer["unreadNotificationCount"] == 1


async def test_anonymous_client_sees_no_viewer(gql: GraphQLClient, readers: Pair) -> None:
    alice = readers.alice
    # Given Alice's data
    # When a client without a token asks for the viewer and all of Alice's IDs
    result = await gql(
        "query($ids: [ID!]!) { viewer { user { id } } nodes(ids: $ids) { id } }", {"ids": list(alice.ids.values())}
    )
    # Then there is no viewer and every node is null
    assert result.data == {"viewer": None, "nodes": [None] * len(alice.ids)}


# ---------------------------------------------------------------------------- mutations


Build = Callable[[World, str], dict[str, Any]]


@dataclass(frozen=True)
class Attempt:
    """Bob runs `mutation` with the input `build(bob, target)`, `target` being an ID of `target_type`."""

    mutation: str
    target_type: str
    build: Build
    label: str
    #: What a random ID answers; for IDs in a reorder list that is VALIDATION (see test docstring).
    code: str = "NOT_FOUND"

    @property
    def id(self) -> str:
        return f"{self.mutation}-{self.label}"

    @property
    def field(self) -> list[str]:
        """The input field the error names: the label's last word (`move-to-pillarId` -> pillarId)."""
        return ["input", self.label.rsplit("-", 1)[-1]]


def link(**parent: str) -> dict[str, Any]:
    return {"kind": "LINK", "title": "Planted link", "url": "https://example.com/x", **parent}


ATTEMPTS = [
    # Pillar
    Attempt("updatePillar", "Pillar", lambda me, t: {"id": t, "name": "Hijacked"}, "id"),
    Attempt("deletePillar", "Pillar", lambda me, t: {"id": t}, "id"),
    Attempt("createArea", "Pillar", lambda me, t: {"pillarId": t, "name": "Planted"}, "pillarId"),
    Attempt("reorderAreas", "Pillar", lambda me, t: {"pillarId": t, "ids": []}, "pillarId"),
    Attempt("updateArea", "Pillar", lambda me, t: {"id": me.ids["Area"], "pillarId": t}, "move-to-pillarId"),
    Attempt("reorderPillars", "Pillar", lambda me, t: {"ids": [me.ids["Pillar"], t]}, "ids", code="VALIDATION"),
    # Area
    Attempt("updateArea", "Area", lambda me, t: {"id": t, "name": "Hijacked"}, "id"),
    Attempt("deleteArea", "Area", lambda me, t: {"id": t}, "id"),
    Attempt("createProject", "Area", lambda me, t: {"areaId": t, "name": "Planted"}, "areaId"),
    Attempt("reorderProjects", "Area", lambda me, t: {"areaId": t, "ids": []}, "areaId"),
    Attempt("updateProject", "Area", lambda me, t: {"id": me.ids["Project"], "areaId": t}, "move-to-areaId"),
    Attempt(
        "reorderAreas",
        "Area",
        lambda me, t: {"pillarId": me.ids["Pillar"], "ids": [me.ids["Area"], t]},
        "ids",
        code="VALIDATION",
    ),
    # Project
    Attempt("updateProject", "Project", lambda me, t: {"id": t, "name": "Hijacked", "status": "CANCELLED"}, "id"),
    Attempt("deleteProject", "Project", lambda me, t: {"id": t}, "id"),
    Attempt("createTask", "Project", lambda me, t: {"projectId": t, "title": "Planted"}, "projectId"),
    Attempt("reorderTasks", "Project", lambda me, t: {"projectId": t, "ids": []}, "projectId"),
    Attempt("updateTask", "Project", lambda me, t: {"id": me.ids["Task"], "projectId": t}, "move-to-projectId"),
    Attempt("createResource", "Project", lambda me, t: link(projectId=t), "projectId"),
    Attempt(
        "reorderProjects",
        "Project",
        lambda me, t: {"areaId": me.ids["Area"], "ids": [me.ids["Project"], t]},
        "ids",
        code="VALIDATION",
    ),
    # Task
    Attempt("updateTask", "Task", lambda me, t: {"id": t, "title": "Hijacked", "status": "CANCELLED"}, "id"),
    Attempt("completeTask", "Task", lambda me, t: {"id": t}, "id"),
    Attempt("deleteTask", "Task", lambda me, t: {"id": t}, "id"),
    Attempt("createResource", "Task", lambda me, t: link(taskId=t), "taskId"),
    Attempt(
        "reorderTasks",
        "Task",
        lambda me, t: {"projectId": me.ids["Project"], "ids": [me.ids["Task"], t]},
        "ids",
        code="VALIDATION",
    ),
    # Journal
    Attempt("updateJournalEntry", "JournalEntry", lambda me, t: {"id": t, "body": "Read you"}, "id"),
    Attempt("deleteJournalEntry", "JournalEntry", lambda me, t: {"id": t}, "id"),
    Attempt("updateJournalTemplate", "JournalTemplate", lambda me, t: {"id": t, "name": "Hijacked"}, "id"),
    Attempt("deleteJournalTemplate", "JournalTemplate", lambda me, t: {"id": t}, "id"),
    Attempt(
        "createJournalEntry",
        "JournalTemplate",
        lambda me, t: {"title": "Mine", "body": "Using your template", "templateId": t},
        "templateId",
    ),
    # Resource
    Attempt("updateResource", "Resource", lambda me, t: {"id": t, "title": "Hijacked"}, "id"),
    Attempt("deleteResource", "Resource", lambda me, t: {"id": t}, "id"),
    # Notification: alone, and mixed with one of Bob's own (which must stay unread)
    Attempt("markNotificationsRead", "Notification", lambda me, t: {"ids": [t]}, "ids"),
    Attempt("markNotificationsRead", "Notification", lambda me, t: {"ids": [me.ids["Notification"], t]}, "mixed-ids"),
]


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=lambda a: a.id)
async def test_mutation_on_another_users_object_fails_like_a_missing_id_and_changes_nothing(
    gql: GraphQLClient, alice: World, bob: World, attempt: Attempt
) -> None:
    """Bob's mutation naming Alice's object gets the payload error a random ID of that type gets.

    That is NOT_FOUND wherever the ID names one object. For an ID inside a reorder list the
    answer is VALIDATION ("list every one of the parent's children"), for a missing ID as for
    another user's: either way, nothing tells Bob that Alice's object exists.
    """
    # Given everything Alice and Bob can see of their data
    alice_before = await snapshot(gql, alice)
    bob_before = await snapshot(gql, bob)
    # When Bob runs the mutation against Alice's object, and against an ID that never existed
    theirs = await gql.call(
        attempt.mutation, attempt.build(bob, alice.ids[attempt.target_type]), "__typename", token=bob.token
    )
    missing = await gql.call(
        attempt.mutation, attempt.build(bob, random_id(attempt.target_type)), "__typename", token=bob.token
    )
    # Then both fail with the same error: same type, code, message and field
    assert theirs["errors"] == missing["errors"]
    assert [error["code"] for error in theirs["errors"]] == [attempt.code]
    expected_type = "NotFoundError" if attempt.code == "NOT_FOUND" else "ValidationError"
    assert theirs["errors"][0]["__typename"] == expected_type
    assert theirs["errors"][0]["field"] == attempt.field
    # And neither Alice's data nor Bob's changed
    assert await snapshot(gql, alice) == alice_before
    assert await snapshot(gql, bob) == bob_before


# ------------------------------------------------------------------------- malformed ids


@dataclass(frozen=True)
class WrongType:
    """The caller's own object of `given` where the mutation expects another type at `field`."""

    mutation: str
    build: Build
    given: str
    field: str

    @property
    def id(self) -> str:
        return f"{self.mutation}-{self.field}-given-{self.given}"


WRONG_TYPES = [
    WrongType("createArea", lambda me, t: {"pillarId": t, "name": "Nope"}, "Task", "pillarId"),
    WrongType("updateProject", lambda me, t: {"id": t, "name": "Nope"}, "Task", "id"),
    WrongType("createProject", lambda me, t: {"areaId": t, "name": "Nope"}, "User", "areaId"),
    WrongType("createTask", lambda me, t: {"projectId": t, "title": "Nope"}, "Area", "projectId"),
    WrongType("deletePillar", lambda me, t: {"id": t}, "Area", "id"),
    WrongType("completeTask", lambda me, t: {"id": t}, "Project", "id"),
    WrongType("updateArea", lambda me, t: {"id": me.ids["Area"], "pillarId": t}, "Project", "pillarId"),
    WrongType("createResource", lambda me, t: link(taskId=t), "Project", "taskId"),
    WrongType(
        "createJournalEntry",
        lambda me, t: {"title": "Nope", "body": "Nope", "templateId": t},
        "JournalEntry",
        "templateId",
    ),
    WrongType("deleteJournalTemplate", lambda me, t: {"id": t}, "JournalEntry", "id"),
    WrongType("markNotificationsRead", lambda me, t: {"ids": [me.ids["Notification"], t]}, "Task", "ids"),
    WrongType("reorderTasks", lambda me, t: {"projectId": me.ids["Project"], "ids": [t]}, "Pillar", "ids"),
]


@pytest.mark.parametrize("case", WRONG_TYPES, ids=lambda c: c.id)
async def test_id_of_the_wrong_type_is_a_validation_error_and_creates_nothing(
    gql: GraphQLClient, alice: World, case: WrongType
) -> None:
    # Given Alice's data
    before = await snapshot(gql, alice)
    # When she passes one of her own IDs of another type where the mutation expects `field`
    payload = await gql.call(case.mutation, case.build(alice, alice.ids[case.given]), "__typename", token=alice.token)
    # Then it is a validation error naming that input field
    assert payload["errors"] == [
        {
            "__typename": "ValidationError",
            "code": "VALIDATION",
            "message": payload["errors"][0]["message"],
            "field": ["input", case.field],
        }
    ]
    # And nothing was created or changed
    assert await snapshot(gql, alice) == before


@pytest.mark.parametrize(
    "value",
    [
        "not a global id!",
        "",
        base64.urlsafe_b64encode(b"Pillar:not-a-uuid").decode().rstrip("="),
        base64.urlsafe_b64encode(b"no separator").decode().rstrip("="),
        base64.urlsafe_b64encode(b":" + str(uuid.uuid4()).encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(b"\xff\xfe:\x00").decode(),
    ],
    ids=["not-base64", "empty", "bad-uuid", "no-separator", "no-type", "not-utf8"],
)
async def test_malformed_global_id_in_node_is_an_invalid_id_error(
    gql: GraphQLClient, readers: Pair, value: str
) -> None:
    alice = readers.alice
    # Given a value that is not one of our global IDs
    # When Alice asks for it with `node` and within `nodes`
    single = await gql(NODE, {"id": value}, token=alice.token)
    many = await gql(NODES, {"ids": [alice.ids["Pillar"], value]}, token=alice.token)
    # Then both are GraphQL errors with code INVALID_ID naming the argument
    assert single.error_codes == ["INVALID_ID"]
    assert single.errors[0]["extensions"]["argument"] == "id"
    assert single.body["data"] == {"node": None}
    assert "INVALID_ID" in many.error_codes
    assert many.errors[0]["extensions"]["argument"] == "ids"


async def test_nodes_refuses_more_than_100_ids(gql: GraphQLClient, readers: Pair) -> None:
    alice = readers.alice
    # Given 101 IDs (100 is the limit)
    ids = [alice.ids["Task"]] * 101
    # When Alice asks for them all, and for exactly 100
    too_many = await gql(NODES, {"ids": ids}, token=alice.token)
    at_limit = await gql(NODES, {"ids": ids[:100]}, token=alice.token)
    # Then 101 is refused with the limit and its value, and 100 is served
    assert too_many.error_codes == ["TOO_MANY_IDS"]
    extensions = too_many.errors[0]["extensions"]
    assert (extensions["limit"], extensions["value"], extensions["argument"]) == ("maxNodes", 100, "ids")
    assert at_limit.data["nodes"] == [{"__typename": "Task", "id": alice.ids["Task"]}] * 100


@pytest.mark.parametrize("forged_type", ["Secret", "pillar", "users", "Viewer", "Node"])
async def test_global_id_of_a_type_that_does_not_exist_is_null(
    gql: GraphQLClient, readers: Pair, forged_type: str
) -> None:
    alice = readers.alice
    # Given a well-formed global ID whose type is not a node type, around Alice's own pillar's key
    forged = to_global_id(forged_type, alice.pk("Pillar"))
    # When Alice asks for it
    result = await gql(NODE, {"id": forged}, token=alice.token)
    # Then it is simply null (no error)
    assert result.data == {"node": None}


async def test_global_id_of_another_node_type_over_a_real_key_is_null(gql: GraphQLClient, readers: Pair) -> None:
    alice = readers.alice
    # Given Alice's pillar's key wrapped as an Area, Task and Resource ID
    forged = [to_global_id(type_name, alice.pk("Pillar")) for type_name in ("Area", "Task", "Resource")]
    # When Alice asks for them
    result = await gql(NODES, {"ids": forged}, token=alice.token)
    # Then none of them finds the pillar
    assert result.data["nodes"] == [None, None, None]


# ------------------------------------------------------------------------- database guard


@dataclass(frozen=True)
class Planted:
    """A child row under one of Alice's parents (`parent_type` via `column`)."""

    model: type[SQLModel]
    parent_type: str
    column: str
    values: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{table(self.model).name}.{self.column}"


LINK_ROW = {"kind": "link", "title": "Planted", "url": "https://example.com/x"}

PLANTED = [
    Planted(Area, "Pillar", "pillar_id", {"name": "Planted", "importance": 3, "position": 0}),
    Planted(Project, "Area", "area_id", {"name": "Planted", "status": "not_started", "priority": 2, "position": 0}),
    Planted(Task, "Project", "project_id", {"title": "Planted", "status": "todo", "priority": 2, "position": 0}),
    Planted(Resource, "Project", "project_id", LINK_ROW),
    Planted(Resource, "Task", "task_id", LINK_ROW),
]


@pytest.mark.parametrize("planted", PLANTED, ids=lambda p: p.id)
async def test_database_refuses_a_child_under_another_users_parent(
    session: AsyncSession, alice: World, bob: World, planted: Planted
) -> None:
    # Given a child row pointing at Alice's parent
    parent_pk = alice.pk(planted.parent_type)
    insert = sa.insert(table(planted.model))

    def row(owner: World) -> dict[str, Any]:
        _, user_pk = from_global_id(owner.viewer.user_id)
        return {"id": uuid.uuid4(), "user_id": user_pk, planted.column: parent_pk, **planted.values}

    # When it is inserted owned by Bob, bypassing every service
    with pytest.raises(IntegrityError) as refused:
        await session.execute(insert.values(**row(bob)))
    await session.rollback()
    # Then the composite foreign key refuses it
    assert f"fk_{table(planted.model).name}_{planted.column}_user_id" in str(refused.value)
    # And the same row owned by Alice is accepted (then rolled back)
    await session.execute(insert.values(**row(alice)))
    await session.rollback()
