"""The breadth limit: operations that could return too many objects are refused up front."""

from __future__ import annotations

import uuid

from graphql import parse

from core.limits import node_count, requested_nodes
from core.settings import Settings
from schema import build_schema
from tests.support import GraphQLClient

SETTINGS = Settings(_env_file=None, database_url="postgresql://unused/unused")

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


async def test_a_compiled_document_counts_each_requests_variables(gql: GraphQLClient) -> None:
    # Given the broad document compiled by a first request with small pages (its count made then)
    me = await gql.sign_up()
    document = TOO_BROAD.replace("first: 100", "first: $m").replace("$n: Int", "$n: Int, $m: Int")
    document = document.replace("Broad", f"Broad{uuid.uuid4().hex}")
    assert (await gql(document, {"n": 2, "m": 3}, token=me.token)).data == {"viewer": {"pillars": {"nodes": []}}}
    # When it is sent again with pages that multiply past the limit, each variable counted where it is used
    for n, m in ((100, 100), (1, 100), (100, 50)):
        result = await gql(document, {"n": n, "m": m}, token=me.token)
        # Then the compiled path refuses it before any SQL, with the total for these values
        assert result.error_codes == ["TOO_MANY_NODES"]
        assert result.errors[0]["extensions"]["requested"] == n + n * m + n * m**2 + n * m**3
        assert result.statements == 0
    # And values under the limit still run
    assert (await gql(document, {"n": 5, "m": 5}, token=me.token)).data == {"viewer": {"pillars": {"nodes": []}}}


def test_the_node_count_is_a_formula_of_the_variables() -> None:
    # Given a document with literal and variable page sizes, `nodes(ids:)`, fragments and an omitted size
    schema = build_schema(SETTINGS)._schema
    document = parse(
        """
        query($ids: [ID!]!, $first: Int, $last: Int = 7) {
          nodes(ids: $ids) { id }
          viewer { ...P  projects(last: $last) { nodes { tasks { totalCount } } } }
        }
        fragment P on Viewer { pillars(first: $first) { nodes { ... on Pillar { areas(first: 3) { totalCount } } } } }
        """
    )
    count = node_count(schema, document, None)
    assert count is not None
    default = SETTINGS.default_page_size
    # When it is evaluated for several values, then each connection multiplies its parents' sizes
    for ids, first, last in ((["a", "b"], 10, 2), (["a"], None, 0), ([], 4, 7)):
        pillars = first if first is not None else default
        expected = (len(ids) if len(ids) != 1 else 0) + pillars + pillars * 3 + last + last * default
        assert count.total({"ids": ids, "first": first, "last": last}, default) == expected
        # And it agrees with the count from the raw variables (coerced, defaults applied)
        assert requested_nodes(schema, document, None, {"ids": ids, "first": first, "last": last}, default) == expected
    # And the operation default applies when the variable is not given
    assert requested_nodes(schema, document, None, {"ids": []}, default) == default + default * 3 + 7 + 7 * default
