"""The breadth limit: operations that could return too many objects are refused up front."""

from __future__ import annotations

from tests.support import GraphQLClient

HEADLINE = """
{ viewer { pillars(first: 20) { nodes { areas { nodes { projects { nodes {
    tasks(first: 50) { nodes { id } } } } } } } } } }
"""

TOO_BROAD = """
query Broad($n: Int) { viewer { pillars(first: $n) { nodes { areas(first: 100) { nodes {
    projects(first: 100) { nodes { tasks(first: 100) { nodes { id } } } } } } } } } }
"""


async def test_headline_query_fits_the_limit(gql: GraphQLClient) -> None:
    # Given a user; when they send the documented nested query (20 x 20 x 20 x 50 = 408,420 at most)
    me = await gql.sign_up()
    result = await gql(HEADLINE, token=me.token)
    # Then it runs
    assert result.data["viewer"]["pillars"]["nodes"] == []


async def test_too_broad_query_is_refused_before_any_sql(gql: GraphQLClient) -> None:
    # Given a user; when four nested connections of 100 each are requested through a variable
    me = await gql.sign_up()
    result = await gql(TOO_BROAD, {"n": 100}, token=me.token)
    # Then the operation is refused, naming the limit, its value and what was asked for
    [error] = result.errors
    assert error["extensions"]["code"] == "TOO_MANY_NODES"
    assert error["extensions"]["limit"] == "maxNodes"
    assert error["extensions"]["value"] == 500_000
    assert error["extensions"]["requested"] == 100 + 100**2 + 100**3 + 100**4
    assert "data" not in result.body or result.body["data"] is None
    assert result.statements == 0


async def test_small_variable_makes_the_same_document_acceptable(gql: GraphQLClient) -> None:
    # Given the broad document; when the outer page is 1 (1 + 100 + 10^4 + 10^6 > limit still)
    me = await gql.sign_up()
    refused = await gql(TOO_BROAD, {"n": 1}, token=me.token)
    assert refused.error_codes == ["TOO_MANY_NODES"]
    assert refused.errors[0]["extensions"]["requested"] == 1 + 100 + 100**2 + 100**3
    # When the inner pages shrink instead, it runs
    small = TOO_BROAD.replace("first: 100", "first: 10")
    result = await gql(small, {"n": 10}, token=me.token)
    assert result.data["viewer"]["pillars"]["nodes"] == []


async def test_fragments_count_like_inline_selections(gql: GraphQLClient) -> None:
    # Given a broad query hidden in fragments
    me = await gql.sign_up()
    query = """
    query { viewer { ...P } }
    fragment P on Viewer { pillars(first: 100) { nodes { ...A } } }
    fragment A on Pillar { areas(first: 100) { nodes { ... on Area { projects(first: 100) { nodes { ...T } } } } } }
    fragment T on Project { tasks(first: 100) { totalCount } }
    """
    # When it is sent, then it is refused like the inline version
    result = await gql(query, token=me.token)
    assert result.error_codes == ["TOO_MANY_NODES"]
    assert result.errors[0]["extensions"]["requested"] == 100 + 100**2 + 100**3 + 100**4


async def test_several_operations_need_an_operation_name(gql: GraphQLClient) -> None:
    # Given a document with two operations
    me = await gql.sign_up()
    document = "query A { viewer { user { id } } } query B { viewer { pillars { totalCount } } }"
    # When it is sent without operationName, then it is refused and nothing runs
    refused = await gql(document, token=me.token)
    assert refused.error_codes == ["OPERATION_NAME_REQUIRED"]
    assert refused.statements == 0
    # When it names one, then exactly that one runs
    response = await gql.http.post(
        "/graphql",
        json={"query": document, "operationName": "B"},
        headers={"Authorization": f"Bearer {me.token}"},
    )
    assert response.json()["data"] == {"viewer": {"pillars": {"totalCount": 0}}}
