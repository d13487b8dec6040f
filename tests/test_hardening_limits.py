"""Limits found by the attack audit (issue 10): the cost of validation, and page sizes from variable defaults.

graphql-core's OverlappingFieldsCanBeMerged compares every pair of selections of one response key
at one place: one field repeated 700 times held the event loop for seconds. The selection limits
refuse such documents in a pass linear in what they count, before graphql-core validates anything.
"""

from __future__ import annotations

import cProfile
import pstats
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from graphql import DocumentNode, GraphQLSyntaxError, parse, specified_rules
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter

from core.limits import (
    SelectionLimits,
    count_selections,
    requested_nodes,
    selection_limit_error,
    validate_document,
)
from core.settings import Settings
from schema import build_schema
from tests.conftest import make_settings
from tests.support import GraphQLClient

SETTINGS = Settings(_env_file=None, database_url="postgresql://unused/unused")
LIMITS = SelectionLimits(max_selections=SETTINGS.max_selections, max_overlaps=SETTINGS.max_overlapping_selections)


def repeated(times: int, selection: str = "viewer { user { id } }") -> str:
    """One selection `times` over, unique per call (as an attacker would send it, past every cache)."""
    return f"query Q{uuid.uuid4().hex} {{ " + " ".join([selection] * times) + " }"


# ----------------------------------------------------------------------------- over HTTP


async def test_one_field_repeated_hundreds_of_times_is_refused_before_validation(gql: GraphQLClient) -> None:
    # Given the audit's document: one selection 700 times (18 KB, under the token and body limits)
    me = await gql.sign_up()
    document = repeated(700)
    assert 15_000 < len(document) < SETTINGS.max_body_bytes
    # When it is sent, twice (unique documents pass every cache; the same one must be refused again)
    for _ in range(2):
        result = await gql(document, token=me.token)
        # Then it is refused with one error naming the limit, not graphql-core's "Validation aborted"
        [error] = result.errors
        assert error["extensions"] == {
            "code": "TOO_MANY_SELECTIONS",
            "limit": "maxOverlappingSelections",
            "value": SETTINGS.max_overlapping_selections,
        }
        assert "`viewer`" in error["message"]
        assert result.statements == 0


async def test_the_refusal_applies_to_get_too(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": repeated(700, "__typename")})
    [error] = response.json()["errors"]
    assert error["extensions"]["limit"] == "maxOverlappingSelections"


async def test_a_document_seen_before_is_refused_on_every_request(gql: GraphQLClient) -> None:
    # Given a document that runs (and is compiled), and one past the limit
    me = await gql.sign_up()
    fits = repeated(20)
    assert (await gql(fits, token=me.token)).data == (await gql(fits, token=me.token)).data
    refused = repeated(100)
    # When the refused one is sent again and again, then it is refused each time: never compiled
    for _ in range(3):
        assert (await gql(refused, token=me.token)).error_codes == ["TOO_MANY_SELECTIONS"]


async def test_fragments_count_at_each_spread(gql: GraphQLClient) -> None:
    # Given fragments that each spread the next one twice: 2^11 selections from a 700-byte document
    me = await gql.sign_up()
    doubling = "query { viewer { ...D0 } } " + " ".join(
        f"fragment D{i} on Viewer {{ ...D{i + 1} ... on Viewer {{ ...D{i + 1} }} }}" for i in range(11)
    )
    doubling += " fragment D11 on Viewer { __typename }"
    count = count_selections(parse(doubling), SelectionLimits(max_selections=10**6, max_overlaps=10**9))
    assert count.selections > SETTINGS.max_selections
    # When it is sent, then it is refused, naming the limit
    result = await gql(doubling, token=me.token)
    assert result.error_codes == ["TOO_MANY_SELECTIONS"]
    assert result.errors[0]["extensions"]["limit"] in {"maxSelections", "maxOverlappingSelections"}
    assert result.statements == 0


async def test_the_selection_limit_names_itself(database_url: str, data_dir: Path) -> None:
    from tests.test_protections import serve

    async with serve(make_settings(database_url, data_dir, max_selections=10)) as (_, client):
        wide = "{ viewer { user { id displayName email createdAt } pillars { totalCount nodes { id name } } } }"
        response = await client.post("/graphql", json={"query": wide})
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "TOO_MANY_SELECTIONS", "limit": "maxSelections", "value": 10}


async def test_the_headline_and_a_fragment_heavy_client_document_fit(gql: GraphQLClient) -> None:
    # A client composing 20 components' fragments on the viewer, each reading the same connection
    me = await gql.sign_up()
    fragments = " ".join(
        f"fragment C{i} on Viewer {{ pillars(first: 20) {{ totalCount nodes {{ id name }} }} }}" for i in range(20)
    )
    spreads = " ".join(f"...C{i}" for i in range(20))
    result = await gql(f"query Page {{ viewer {{ {spreads} }} }} {fragments}", token=me.token)
    assert result.data["viewer"]["pillars"] == {"totalCount": 0, "nodes": []}


# ----------------------------------------------------------------------------- the worst documents allowed


WIDE = (
    "pillars(first: 5) { totalCount nodes { id name description position createdAt updatedAt "
    "areas { totalCount nodes { id name description position createdAt updatedAt "
    "projects { totalCount nodes { id name description status createdAt updatedAt "
    "tasks { totalCount nodes { id title description status priority dueAt completedAt position createdAt "
    "updatedAt isOverdue } } } } } } } }"
)
CHAIN = "viewer { pillars { nodes { areas { nodes { pillar { areas { nodes { projects { nodes { id } } } } } } } } } }"

#: Document shapes by size; each is grown to the largest size the default limits let through.
SHAPES: dict[str, Callable[[int], str]] = {
    "one field repeated": lambda n: "{ " + "__typename " * n + "}",
    "a nested field repeated": lambda n: "{ " + " ".join([CHAIN] * n) + " }",
    "one field with differing arguments": lambda n: (
        "{ "
        + " ".join(
            f'node(id: "x{i}") {{ id ... on Pillar {{ areas(first: {i}) {{ totalCount }} }} }}' for i in range(n)
        )
        + " }"
    ),
    "repeats inside repeats": lambda n: "{ " + " ".join(["viewer { " + "user { id } " * n + "}"] * n) + " }",
    "distinct aliases over wide trees": lambda n: (
        "{ "
        + " ".join(f"a{i}: viewer {{ {WIDE} }}" for i in range(min(n, 30)))
        + " viewer { " * (n > 30)
        + " ".join(f"b{i}: user {{ id }}" for i in range(max(0, n - 30)))
        + " }" * (n > 30)
        + " }"
    ),
    "many fragments at one place": lambda n: (
        "{ viewer { "
        + " ".join(f"...F{i}" for i in range(n))
        + " } } "
        + " ".join(f"fragment F{i} on Viewer {{ user {{ id }} }}" for i in range(n))
    ),
    "one fragment at many places": lambda n: (
        "{ "
        + " ".join(f"a{i}: viewer {{ ...W }}" for i in range(min(n, 30)))
        + f" }} fragment W on Viewer {{ {WIDE} {'user { id } ' * max(0, n - 30)} }}"
    ),
}


def calls_made(profile: cProfile.Profile) -> int:
    return int(pstats.Stats(profile).total_calls)  # type: ignore[attr-defined]


def allowed(shape: Callable[[int], str], size: int) -> DocumentNode | None:
    """The shape at `size` if it parses within the token limit and passes the selection limits."""
    try:
        document = parse(shape(size), max_tokens=SETTINGS.max_tokens)
    except GraphQLSyntaxError:
        return None
    return document if selection_limit_error(document, LIMITS) is None else None


def largest_allowed(shape: Callable[[int], str]) -> DocumentNode:
    """The shape at the largest size the limits allow (a shape grows with its size, so the sizes
    allowed are 1 up to some bound: found by doubling, then bisection, and checked on both sides)."""
    low, high = 1, 2  # allowed(low), not allowed(high) once the doubling stops
    assert allowed(shape, low) is not None
    while allowed(shape, high) is not None:
        low, high = high, 2 * high
        assert high < 5000, "the limits allow this shape at any size"
    while high - low > 1:
        middle = (low + high) // 2
        if allowed(shape, middle) is not None:
            low = middle
        else:
            high = middle
    best = allowed(shape, low)
    assert best is not None
    assert allowed(shape, low + 1) is None
    return best


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_the_worst_documents_the_limits_allow_validate_quickly(shape: str) -> None:
    schema = build_schema(SETTINGS)._schema
    rules = (
        *specified_rules,
        *QueryDepthLimiter(max_depth=SETTINGS.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=SETTINGS.max_aliases).validation_rules,
    )
    document = largest_allowed(SHAPES[shape])
    validate = validate_document.__wrapped__  # not the cache
    validate(schema, parse("{ viewer { user { id } } }"), rules, LIMITS, True)  # warm the schema's caches
    # The work, counted in Python function calls (deterministic): a plain document of 2,000
    # distinct fields makes about 580,000, the worst repeats about 110,000; the audit's document
    # made millions before it gave up.
    profile = cProfile.Profile()
    profile.runcall(validate, schema, document, rules, LIMITS, True)
    # (No clock is read: a loaded machine, other test workers included, would make it flaky.)
    calls = calls_made(profile)
    assert calls < 1_000_000, calls


def test_the_audit_document_would_have_cost_millions_of_calls() -> None:
    # The measure above tells the two apart: 200 repeats (under a third of the audit's), unlimited
    schema = build_schema(SETTINGS)._schema
    document = parse(repeated(200))
    unlimited = SelectionLimits(max_selections=10**6, max_overlaps=10**9)
    profile = cProfile.Profile()
    profile.runcall(validate_document.__wrapped__, schema, document, tuple(specified_rules), unlimited, True)
    assert calls_made(profile) > 1_000_000
    assert selection_limit_error(document, LIMITS) is not None


def test_a_recursion_error_in_validation_is_a_clean_client_error() -> None:
    # Fragments nested beyond the interpreter's stack: graphql-core aborts with "Validation aborted."
    depth = 260
    fragments = " ".join(
        f"fragment N{i} on Pillar {{ areas {{ nodes {{ pillar {{ ...N{i + 1} }} }} }} }}" for i in range(depth)
    )
    document = parse(
        "{ viewer { pillars { nodes { ...N0 } } } } " + fragments + f" fragment N{depth} on Pillar {{ id }}"
    )
    schema = build_schema(SETTINGS)._schema
    errors = validate_document.__wrapped__(
        schema, document, tuple(specified_rules), SelectionLimits(10**6, 10**9), True
    )
    aborted = [e for e in errors if "nests too deeply" in e.message]
    assert len(aborted) == 1
    assert aborted[0].extensions == {"code": "GRAPHQL_VALIDATION_FAILED", "reason": "TOO_DEEP_TO_VALIDATE"}
    assert not any(e.message == "Validation aborted." for e in errors)


# ----------------------------------------------------------------------------- maxNodes and variable defaults

DEFAULTED = """
query Broad($n: Int = 100) { viewer { pillars(first: $n) { nodes { areas(first: $n) { nodes {
    projects(first: $n) { nodes { tasks(first: $n) { nodes { id } } } } } } } } } }
"""
REQUESTED = 100 + 100**2 + 100**3 + 100**4


@pytest.mark.parametrize("variables", [None, {}, {"n": 100}], ids=["no variables", "empty", "given"])
async def test_page_sizes_from_variable_defaults_count(gql: GraphQLClient, variables: dict[str, int] | None) -> None:
    # Given the broad document with its page size as a variable default, or given as a value
    me = await gql.sign_up()
    document = DEFAULTED.replace("Broad", f"Broad{uuid.uuid4().hex}")
    # When it is sent, then it is refused alike, before any SQL
    result = await gql(document, variables, token=me.token)
    assert result.error_codes == ["TOO_MANY_NODES"]
    assert result.errors[0]["extensions"]["requested"] == REQUESTED
    assert result.statements == 0


async def test_page_sizes_from_variable_defaults_count_on_the_compiled_path(gql: GraphQLClient) -> None:
    # Given the document compiled by a first request with small pages
    me = await gql.sign_up()
    document = DEFAULTED.replace("Broad", f"Broad{uuid.uuid4().hex}")
    assert (await gql(document, {"n": 2}, token=me.token)).data == {"viewer": {"pillars": {"nodes": []}}}
    # When it is sent again without variables (its default then applies) or with a null
    variables: dict[str, int] | None
    for variables in (None, {}):
        result = await gql(document, variables, token=me.token)
        # Then the compiled path counts the default too, and the operation is refused before any SQL
        assert result.error_codes == ["TOO_MANY_NODES"]
        assert result.errors[0]["extensions"]["requested"] == REQUESTED
        assert result.statements == 0
    # And a small default runs on both paths
    small = document.replace("= 100", "= 5")
    for _ in range(2):
        assert (await gql(small, token=me.token)).data == {"viewer": {"pillars": {"nodes": []}}}


def test_counting_nodes_stops_at_the_first_variable_that_does_not_coerce() -> None:
    # Given 20,000 values that are not IDs in one variable (160 KB, under the body limit): graphql-core
    # refuses the operation after 50 errors, but the count of nodes coerced them all, building one error
    # (message, path, inspected value) per item, twice per request (about 1.5 s for 20,000, 3 s for 60,000)
    schema = build_schema(SETTINGS)._schema
    document = parse("query($ids: [ID!]!) { nodes(ids: $ids) { id } }")
    variables = {"ids": [True] * 20_000}
    # When the operation's nodes are counted
    profile = cProfile.Profile()
    total = profile.runcall(requested_nodes, schema, document, None, variables, SETTINGS.default_page_size)
    # Then the count gives up at the first error (graphql-core reports them): what is left is graphql-core's
    # linear check of the value's nesting, about 160,000 calls (1.28 million with an error per item)
    assert total == 0
    assert calls_made(profile) < 400_000, calls_made(profile)
