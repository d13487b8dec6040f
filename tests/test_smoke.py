"""The demo-style flow end to end: sign up, build a small tree, read it back."""

from __future__ import annotations

from tests.support import GraphQLClient


async def test_sign_up_build_and_read_tree(gql: GraphQLClient) -> None:
    # Given a new user
    me = await gql.sign_up(display_name="Ada")
    # When they create a pillar, an area, a project and two tasks, completing one
    pillar = (await gql.mutate("createPillar", {"name": "Health"}, "pillar { id }", token=me.token))["pillar"]
    area = (
        await gql.mutate("createArea", {"pillarId": pillar["id"], "name": "Fitness"}, "area { id }", token=me.token)
    )["area"]
    project = (
        await gql.mutate("createProject", {"areaId": area["id"], "name": "Run"}, "project { id }", token=me.token)
    )["project"]
    first = (
        await gql.mutate("createTask", {"projectId": project["id"], "title": "Shoes"}, "task { id }", token=me.token)
    )["task"]
    await gql.mutate("createTask", {"projectId": project["id"], "title": "Run 5k"}, "task { id }", token=me.token)
    done = await gql.mutate("completeTask", {"id": first["id"]}, "task { status completedAt }", token=me.token)
    # Then the tree and its progress read back
    result = await gql(
        """{ viewer { user { displayName } pillars { totalCount nodes {
             name progress { percent completedTasks totalTasks }
             areas { nodes { name projects { nodes { name
               tasks { totalCount nodes { title status } } } } } } } } } }""",
        token=me.token,
    )
    viewer = result.data["viewer"]
    assert done["task"]["status"] == "DONE"
    assert done["task"]["completedAt"] is not None
    assert viewer["user"]["displayName"] == "Ada"
    pillar_node = viewer["pillars"]["nodes"][0]
    assert pillar_node["progress"] == {"percent": 50.0, "completedTasks": 1, "totalTasks": 2}
    tasks = pillar_node["areas"]["nodes"][0]["projects"]["nodes"][0]["tasks"]
    assert [t["title"] for t in tasks["nodes"]] == ["Shoes", "Run 5k"]
    assert tasks["totalCount"] == 2
