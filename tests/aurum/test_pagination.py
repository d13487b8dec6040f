"""Relay cursor pagination over Aurum Life connections: walking pages both ways, page info,
totalCount, cursor checks, page-size limits and nested connections paged independently."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.context import Actor
from core.relay import PageArgs, from_global_id
from loaders.base import DERIVED, PageKey
from loaders.kit import KitLoaders
from schema import kit
from schema.aurum.filters import TASK_FILTER, TaskFilterInput
from schema.aurum.types import Project
from tests.aurum.conftest import AurumFactory
from tests.support import GraphQLClient, Response

PROJECT_TASKS = """
query Page($id: ID!, $first: Int, $after: String, $last: Int, $before: String, $orderBy: TaskOrderBy! = POSITION_ASC) {
  node(id: $id) { ... on Project {
    tasks(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
      totalCount
      edges { cursor node { title } }
      nodes { title }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    } } }
}
"""

VIEWER_TASKS = """
query Page($first: Int, $after: String, $last: Int, $before: String, $orderBy: TaskOrderBy! = DUE_AT_ASC) {
  viewer { tasks(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
    totalCount
    edges { cursor node { title } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  } }
}
"""

TITLES = [f"task {i}" for i in range(7)]


async def seven_tasks(gql: GraphQLClient, aurum_factory: AurumFactory) -> tuple[str, str]:
    """A user with a project of seven tasks, `task 0` … `task 6` in position order."""
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    await aurum_factory.tasks(me.token, tree.project, [{"title": t} for t in TITLES])
    return me.token, tree.project


async def project_page(gql: GraphQLClient, token: str, project: str, **arguments: Any) -> Response:
    return await gql(PROJECT_TASKS, {"id": project, **arguments}, token=token)


def tasks_of(response: Response) -> Any:
    return response.data["node"]["tasks"]


def titles(connection: Any) -> list[str]:
    return [edge["node"]["title"] for edge in connection["edges"]]


def error_of(response: Response) -> dict[str, Any]:
    [error] = response.errors
    return error


async def test_walking_forward_visits_every_item_once_in_order(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given seven tasks
    token, project = await seven_tasks(gql, aurum_factory)
    seen: list[str] = []
    pages: list[Any] = []
    after: str | None = None
    # When pages of three are fetched, each after the previous page's endCursor, until there is no next page
    while True:
        page = tasks_of(await project_page(gql, token, project, first=3, after=after))
        pages.append(page)
        seen.extend(titles(page))
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert len(pages) < 10, "pagination does not terminate"
    # Then every task came exactly once, in order, on pages of 3, 3 and 1
    assert seen == TITLES
    assert [len(p["edges"]) for p in pages] == [3, 3, 1]
    # And the page info and totalCount are right on every page
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True]
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, False]
    assert [p["totalCount"] for p in pages] == [7, 7, 7]
    for p in pages:
        assert p["pageInfo"]["startCursor"] == p["edges"][0]["cursor"]
        assert p["pageInfo"]["endCursor"] == p["edges"][-1]["cursor"]
        assert [n["title"] for n in p["nodes"]] == titles(p)


async def test_walking_backward_visits_every_item_once_in_order(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given seven tasks
    token, project = await seven_tasks(gql, aurum_factory)
    pages: list[Any] = []
    before: str | None = None
    # When pages of the last three are fetched, each before the previous page's startCursor
    while True:
        page = tasks_of(await project_page(gql, token, project, last=3, before=before))
        pages.append(page)
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
        assert len(pages) < 10, "pagination does not terminate"
    # Then the pages are the last three, the three before, then the first one, each in forward order
    assert [titles(p) for p in pages] == [TITLES[4:], TITLES[1:4], TITLES[:1]]
    assert [t for p in reversed(pages) for t in titles(p)] == TITLES
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [True, True, False]
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [False, True, True]
    assert [p["totalCount"] for p in pages] == [7, 7, 7]


async def test_cursors_of_one_page_walk_to_the_neighbouring_items(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given seven tasks and the cursors of all of them
    token, project = await seven_tasks(gql, aurum_factory)
    everything = tasks_of(await project_page(gql, token, project, first=7))
    cursors = [edge["cursor"] for edge in everything["edges"]]
    assert titles(everything) == TITLES
    assert everything["pageInfo"]["hasNextPage"] is False
    # When paging after item 1 and before item 5 together
    between = tasks_of(await project_page(gql, token, project, first=10, after=cursors[1], before=cursors[5]))
    # Then exactly items 2, 3, 4 come back, with more on both sides
    assert titles(between) == TITLES[2:5]
    assert between["pageInfo"]["hasPreviousPage"] is True
    assert between["pageInfo"]["hasNextPage"] is True
    # When paging the last two before item 4, then items 2 and 3
    last_two = tasks_of(await project_page(gql, token, project, last=2, before=cursors[4]))
    assert titles(last_two) == TITLES[2:4]
    # And a cursor yields the same neighbours when reused later
    again = tasks_of(await project_page(gql, token, project, first=2, after=cursors[1]))
    assert titles(again) == TITLES[2:4]
    assert again["edges"][0]["cursor"] == cursors[2]


async def test_after_the_last_item_is_an_empty_page_with_the_full_count(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given seven tasks and the cursor of the last and of the first
    token, project = await seven_tasks(gql, aurum_factory)
    everything = tasks_of(await project_page(gql, token, project, first=7))
    last_cursor = everything["pageInfo"]["endCursor"]
    first_cursor = everything["pageInfo"]["startCursor"]
    # When asking for items after the last one
    empty = tasks_of(await project_page(gql, token, project, first=3, after=last_cursor))
    # Then the page is empty, totalCount is still 7, and there is nothing further
    assert empty["edges"] == []
    assert empty["nodes"] == []
    assert empty["totalCount"] == 7
    assert empty["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": None,
        "endCursor": None,
    }
    # And asking for items before the first one is empty the other way
    before_start = tasks_of(await project_page(gql, token, project, last=3, before=first_cursor))
    assert before_start["edges"] == []
    assert before_start["totalCount"] == 7
    assert before_start["pageInfo"]["hasPreviousPage"] is False
    assert before_start["pageInfo"]["hasNextPage"] is True


async def test_first_zero_gives_no_edges_but_the_total(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given seven tasks
    token, project = await seven_tasks(gql, aurum_factory)
    # When zero items are requested
    page = tasks_of(await project_page(gql, token, project, first=0))
    # Then there are no edges, but totalCount says how many there are
    assert page["edges"] == []
    assert page["totalCount"] == 7
    assert page["pageInfo"]["startCursor"] is None
    assert page["pageInfo"]["hasPreviousPage"] is False


async def test_default_page_size_is_twenty(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given 25 tasks
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    created = [f"t{i:02d}" for i in range(25)]
    await aurum_factory.tasks(me.token, tree.project, [{"title": t} for t in created])
    # When neither first nor last is given
    page = tasks_of(await project_page(gql, me.token, tree.project))
    # Then the first 20 come back, with a next page
    assert titles(page) == created[:20]
    assert page["totalCount"] == 25
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["pageInfo"]["hasPreviousPage"] is False
    # And the rest follow after the page's end cursor, also with the default size
    rest = tasks_of(await project_page(gql, me.token, tree.project, after=page["pageInfo"]["endCursor"]))
    assert titles(rest) == created[20:]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_an_empty_connection(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given a project without tasks
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    # When its tasks are paged either way, then the page is empty with a zero count
    for arguments in ({"first": 5}, {"last": 5}, {}):
        page = tasks_of(await project_page(gql, me.token, tree.project, **arguments))
        assert page == {
            "totalCount": 0,
            "edges": [],
            "nodes": [],
            "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None},
        }


async def test_walking_a_sort_with_undated_items_and_ties(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given tasks across two projects: several sharing a due time, several undated, equal titles and priorities
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    other = await aurum_factory.project(me.token, tree.area, "Other")
    shared = datetime(2030, 1, 1, tzinfo=UTC)
    await aurum_factory.tasks(
        me.token,
        tree.project,
        [
            {"title": "same", "dueAt": shared.isoformat(), "priority": "HIGH"},
            {"title": "same"},
            {"title": "Same", "dueAt": (shared - timedelta(days=1)).isoformat(), "priority": "HIGH"},
            {"title": "same", "dueAt": shared.isoformat()},
        ],
    )
    await aurum_factory.tasks(
        me.token,
        other,
        [{"title": "same", "priority": "HIGH"}, {"title": "other", "dueAt": shared.isoformat()}, {"title": "same"}],
    )
    for order in ("DUE_AT_ASC", "DUE_AT_DESC", "TITLE_ASC", "TITLE_DESC", "PRIORITY_DESC", "CREATED_AT_DESC"):
        reference = (await gql(VIEWER_TASKS, {"first": 100, "orderBy": order}, token=me.token)).data["viewer"]["tasks"]
        expected = [edge["cursor"] for edge in reference["edges"]]
        assert len(expected) == 7
        # When the viewer's tasks are walked two at a time in that order, forward and then backward
        forward: list[str] = []
        after: str | None = None
        for _ in range(10):
            page = (await gql(VIEWER_TASKS, {"first": 2, "after": after, "orderBy": order}, token=me.token)).data
            connection = page["viewer"]["tasks"]
            assert connection["totalCount"] == 7
            forward.extend(edge["cursor"] for edge in connection["edges"])
            if not connection["pageInfo"]["hasNextPage"]:
                break
            after = connection["pageInfo"]["endCursor"]
        backward: list[str] = []
        before: str | None = None
        for _ in range(10):
            page = (await gql(VIEWER_TASKS, {"last": 2, "before": before, "orderBy": order}, token=me.token)).data
            connection = page["viewer"]["tasks"]
            backward[:0] = [edge["cursor"] for edge in connection["edges"]]
            if not connection["pageInfo"]["hasPreviousPage"]:
                break
            before = connection["pageInfo"]["startCursor"]
        # Then both walks visit every task exactly once, in the same order as one big page
        assert forward == expected, order
        assert backward == expected, order


async def test_a_cursor_from_another_order_is_invalid(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given a cursor from the tasks in title order
    token, project = await seven_tasks(gql, aurum_factory)
    by_title = tasks_of(await project_page(gql, token, project, first=2, orderBy="TITLE_ASC"))
    cursor = by_title["pageInfo"]["endCursor"]
    # When it is used with the position order, as after or as before
    for arguments in ({"first": 2, "after": cursor}, {"last": 2, "before": cursor}):
        response = await project_page(gql, token, project, **arguments)
        # Then the request fails with INVALID_CURSOR naming the argument
        error = error_of(response)
        assert error["extensions"]["code"] == "INVALID_CURSOR"
        assert error["extensions"]["argument"] in {"after", "before"}
        assert error["path"][-1] == "tasks"
    # And the same cursor with its own order still works
    following = tasks_of(await project_page(gql, token, project, first=2, after=cursor, orderBy="TITLE_ASC"))
    assert titles(following) == TITLES[2:4]
    # And the descending version of the same order is another order
    response = await project_page(gql, token, project, first=2, after=cursor, orderBy="TITLE_DESC")
    assert response.error_codes == ["INVALID_CURSOR"]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "",
        "!!!not-base64!!!",
        base64.urlsafe_b64encode(b'["position_ASC", "x", "not-a-uuid"]').decode(),
        base64.urlsafe_b64encode(b'["position_ASC", 1]').decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        base64.urlsafe_b64encode(b'["position_ASC", "x", "5e5ba425-976a-4eda-8e07-79ce4b93cf46"]').decode(),
    ],
)
async def test_a_garbage_cursor_is_invalid(gql: GraphQLClient, aurum_factory: AurumFactory, cursor: str) -> None:
    # Given seven tasks
    token, project = await seven_tasks(gql, aurum_factory)
    # When a cursor that is not one of ours is passed
    response = await project_page(gql, token, project, first=2, after=cursor)
    # Then the request fails with INVALID_CURSOR, not an internal error
    error = error_of(response)
    assert error["extensions"]["code"] == "INVALID_CURSOR"
    assert error["extensions"]["argument"] == "after"
    assert response.body["data"]["node"] is None


async def test_a_forged_cursor_holding_a_nul_character_is_invalid(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given seven tasks, and a forged cursor of the title ordering whose value holds a NUL character
    token, project = await seven_tasks(gql, aurum_factory)
    forged = base64.urlsafe_b64encode(b'["title_ASC", "a\\u0000", "5e5ba425-976a-4eda-8e07-79ce4b93cf46"]').decode()
    # When it is used in that ordering
    response = await project_page(gql, token, project, first=2, after=forged, orderBy="TITLE_ASC")
    # Then it is refused as INVALID_CURSOR, not an internal error
    assert response.error_codes == ["INVALID_CURSOR"]


@pytest.mark.parametrize("argument", ["first", "last"])
async def test_a_page_above_the_maximum_is_refused(
    gql: GraphQLClient, aurum_factory: AurumFactory, argument: str
) -> None:
    # Given seven tasks
    token, project = await seven_tasks(gql, aurum_factory)
    # When 101 items are requested
    response = await project_page(gql, token, project, **{argument: 101})
    # Then the error names the limit and its value
    error = error_of(response)
    assert error["extensions"]["code"] == "PAGE_SIZE_EXCEEDED"
    assert error["extensions"]["limit"] == "maxPageSize"
    assert error["extensions"]["value"] == 100
    assert error["extensions"]["argument"] == argument
    # And exactly the maximum is fine
    assert tasks_of(await project_page(gql, token, project, **{argument: 100}))["totalCount"] == 7


@pytest.mark.parametrize(
    "arguments",
    [{"first": 2, "last": 2}, {"first": -1}, {"last": -3}],
)
async def test_bad_page_arguments_are_bad_user_input(
    gql: GraphQLClient, aurum_factory: AurumFactory, arguments: dict[str, int]
) -> None:
    # Given seven tasks
    token, project = await seven_tasks(gql, aurum_factory)
    # When first and last are combined, or either is negative
    response = await project_page(gql, token, project, **arguments)
    # Then the request fails with BAD_USER_INPUT
    assert response.error_codes == ["BAD_USER_INPUT"]
    assert response.body["data"]["node"] is None


async def test_page_arguments_are_checked_on_viewer_connections_too(gql: GraphQLClient) -> None:
    # Given a user; when every kind of viewer connection is asked for 101 items
    me = await gql.sign_up()
    for field in ("pillars", "areas", "projects", "tasks", "journalEntries", "journalTemplates", "resources"):
        response = await gql(f"{{ viewer {{ {field}(first: 101) {{ totalCount }} }} }}", token=me.token)
        # Then each refuses with PAGE_SIZE_EXCEEDED
        assert response.error_codes == ["PAGE_SIZE_EXCEEDED"], field
        garbage = await gql(f'{{ viewer {{ {field}(after: "nope") {{ totalCount }} }} }}', token=me.token)
        assert garbage.error_codes == ["INVALID_CURSOR"], field


async def test_nested_connections_are_paged_independently(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given an area with two projects of five and three tasks
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    second = await aurum_factory.project(me.token, tree.area, "Second")
    await aurum_factory.tasks(me.token, tree.project, [{"title": f"a{i}"} for i in range(5)])
    await aurum_factory.tasks(me.token, second, [{"title": f"b{i}"} for i in range(3)])
    nested = """query($id: ID!) { node(id: $id) { ... on Area { projects { nodes { name
        tasks(first: 2) { totalCount edges { cursor node { title } } pageInfo { hasNextPage endCursor } } } } } } }"""
    # When both projects' first two tasks are read in one query
    projects = (await gql(nested, {"id": tree.area}, token=me.token)).data["node"]["projects"]["nodes"]
    # Then each project has its own page, count and cursors
    first_page, second_page = (p["tasks"] for p in projects)
    assert titles(first_page) == ["a0", "a1"]
    assert titles(second_page) == ["b0", "b1"]
    assert (first_page["totalCount"], second_page["totalCount"]) == (5, 3)
    assert first_page["pageInfo"]["hasNextPage"] is True
    assert second_page["pageInfo"]["hasNextPage"] is True
    # When each continues from its own end cursor, in one query with different page sizes
    following = """query($a: ID!, $b: ID!, $ca: String, $cb: String) {
        a: node(id: $a) { ... on Project {
            tasks(first: 2, after: $ca) { edges { node { title } } pageInfo { hasNextPage } } } }
        b: node(id: $b) { ... on Project {
            tasks(first: 5, after: $cb) { edges { node { title } } pageInfo { hasNextPage } } } }
    }"""
    variables = {
        "a": tree.project,
        "b": second,
        "ca": first_page["pageInfo"]["endCursor"],
        "cb": second_page["pageInfo"]["endCursor"],
    }
    data = (await gql(following, variables, token=me.token)).data
    # Then each gets its own next items
    assert titles(data["a"]["tasks"]) == ["a2", "a3"]
    assert data["a"]["tasks"]["pageInfo"]["hasNextPage"] is True
    assert titles(data["b"]["tasks"]) == ["b2"]
    assert data["b"]["tasks"]["pageInfo"]["hasNextPage"] is False


async def test_same_nested_arguments_batch_per_parent(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given three projects of 4, 0 and 2 tasks
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    await aurum_factory.project(me.token, tree.area, "Empty")
    small = await aurum_factory.project(me.token, tree.area, "Small")
    await aurum_factory.tasks(me.token, tree.project, [{"title": f"a{i}"} for i in range(4)])
    await aurum_factory.tasks(me.token, small, [{"title": f"c{i}"} for i in range(2)])
    # When their last two tasks are read together
    query = """{ viewer { projects(orderBy: POSITION_ASC) { nodes { name
        tasks(last: 2) { totalCount nodes { title } pageInfo { hasPreviousPage hasNextPage } } } } } }"""
    projects = (await gql(query, token=me.token)).data["viewer"]["projects"]["nodes"]
    # Then each project's page is its own last two, with its own counts and page info
    by_name = {p["name"]: p["tasks"] for p in projects}
    assert [t["title"] for t in by_name["Run a 10k"]["nodes"]] == ["a2", "a3"]
    assert by_name["Run a 10k"]["totalCount"] == 4
    assert by_name["Run a 10k"]["pageInfo"] == {"hasPreviousPage": True, "hasNextPage": False}
    assert by_name["Empty"] == {
        "totalCount": 0,
        "nodes": [],
        "pageInfo": {"hasPreviousPage": False, "hasNextPage": False},
    }
    assert [t["title"] for t in by_name["Small"]["nodes"]] == ["c0", "c1"]
    assert by_name["Small"]["pageInfo"] == {"hasPreviousPage": False, "hasNextPage": False}


async def test_an_empty_page_of_size_zero_still_reports_the_items_beyond_it(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given seven tasks
    token, project = await seven_tasks(gql, aurum_factory)
    # When zero items are requested from the start, or from the end
    forward = tasks_of(await project_page(gql, token, project, first=0))
    backward = tasks_of(await project_page(gql, token, project, last=0))
    # Then the page info says that items follow (resp. precede) the empty page, as PageInfo documents
    # ("More items follow this page") and as the Relay algorithm defines (edges beyond `first` exist)
    assert forward["pageInfo"]["hasNextPage"] is True
    assert backward["pageInfo"]["hasPreviousPage"] is True


async def test_loaders_batch_by_filter_value_and_keep_one_statement_per_filter_shape(
    gql: GraphQLClient, aurum_factory: AurumFactory, engine: AsyncEngine
) -> None:
    # Given two projects of tasks with distinct words in their titles
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    other = await aurum_factory.project(me.token, tree.area, "Other")
    await aurum_factory.tasks(me.token, tree.project, [{"title": t} for t in ("qrx one", "qrx two", "vlm one")])
    await aurum_factory.tasks(me.token, other, [{"title": t} for t in ("qrx three", "vlm two")])
    loaders = KitLoaders(engine, Actor(user_id=from_global_id(me.user_id)[1], role="user"))
    tasks_of_project = loaders.pages(kit.relation_of(kit.spec_of(Project), "tasks"))
    args, projects = PageArgs(first=10), [from_global_id(tree.project)[1], from_global_id(other)[1]]

    # When both projects' tasks are loaded with one search, and with another, in one batch
    def key(project: uuid.UUID, text: str) -> PageKey:
        return PageKey(project, args, "TITLE_ASC", TASK_FILTER.values(TaskFilterInput(search=text)))

    keys = [key(project, text) for text in ("QRX", "vlm") for project in projects]
    pages = await tasks_of_project.load_many(keys)

    # Then each key gets its own filtered page
    assert [[row.title for row in page.rows] for page in pages] == [
        ["qrx one", "qrx two"],
        ["qrx three"],
        ["vlm one"],
        ["vlm two"],
    ]
    assert [page.total_count for page in pages] == [2, 1, 1, 1]
    # And the two searches share one page statement (the same shape), with neither text in it
    searched = [
        shape
        for key, shape in DERIVED._shapes.items()
        if isinstance(key, tuple) and key[1][:3] == ("project_id", "TITLE_ASC", ("search",))
    ]
    assert len(searched) == 1, searched
    text = searched[0].rendered(engine.dialect).sql
    assert "qrx" not in text.lower()
    assert "vlm" not in text.lower()
    assert "ILIKE" in text
