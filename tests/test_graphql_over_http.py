"""GraphQL over HTTP: the media type negotiated from Accept, and the status codes each answers with.

`application/graphql-response+json` says with the status whether the operation ran: 200 when it
did (field errors included), 400 for a request that fails before execution (syntax, validation,
variables, a limit). `application/json`, for legacy clients, answers those with 200 and the errors.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import GraphQLClient

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
URQL = (
    "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed"
)


async def post(
    http: httpx.AsyncClient, accept: str | None, query: str, variables: dict[str, Any] | None = None, **extra: Any
) -> httpx.Response:
    headers = {} if accept is None else {"Accept": accept}
    headers.update(extra.pop("headers", {}))
    return await http.post("/graphql", json={"query": query, "variables": variables, **extra}, headers=headers)


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (URQL, GRAPHQL_RESPONSE),
        (JSON, JSON),
        ("*/*", JSON),
        (None, JSON),
        ("application/json, application/graphql-response+json", JSON),
        ("application/json;q=0.9, application/graphql-response+json", GRAPHQL_RESPONSE),
    ],
)
async def test_a_query_answers_in_the_media_type_the_client_prefers(
    http: httpx.AsyncClient, accept: str | None, content_type: str
) -> None:
    response = await post(http, accept, "{ __typename }")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    # Accept, and Origin where CORS applies (dev mode allows localhost origins by default)
    assert [part.strip() for part in response.headers["vary"].split(",")] == ["Accept", "Origin"]
    body = response.json()
    assert body["data"] == {"__typename": "Query"}
    assert "errors" not in body
    assert body["extensions"]["sql"]["statements"] == 0  # dev mode's statistics in either type


REQUEST_ERRORS = [
    pytest.param("{", None, "GRAPHQL_PARSE_FAILED", id="syntax"),
    pytest.param("{ noSuchField }", None, "GRAPHQL_VALIDATION_FAILED", id="validation"),
    pytest.param(
        "query Q($id: ID!) { node(id: $id) { id } }", {"id": None}, "GRAPHQL_VALIDATION_FAILED", id="variables"
    ),
    pytest.param(
        "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }", None, "TOO_MANY_ALIASES", id="a limit"
    ),
]


@pytest.mark.parametrize(("query", "variables", "code"), REQUEST_ERRORS)
async def test_a_request_error_is_a_400_without_data_in_graphql_response_json(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None, code: str
) -> None:
    response = await post(http, GRAPHQL_RESPONSE, query, variables)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == code


@pytest.mark.parametrize(("query", "variables", "code"), REQUEST_ERRORS)
async def test_a_request_error_stays_a_200_in_application_json(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None, code: str
) -> None:
    response = await post(http, JSON, query, variables)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == code


async def test_a_field_error_is_a_200_with_data_in_graphql_response_json(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    me = await gql.sign_up()
    response = await post(
        http,
        GRAPHQL_RESPONSE,
        "{ viewer { pillars(first: 1000) { totalCount } } }",
        headers={"Authorization": f"Bearer {me.token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == {"viewer": None}
    assert body["errors"][0]["path"] == ["viewer", "pillars"]
    assert body["errors"][0]["extensions"]["code"] == "PAGE_SIZE_EXCEEDED"


async def test_refusals_of_the_request_use_the_negotiated_type(http: httpx.AsyncClient) -> None:
    bad_json = await http.post(
        "/graphql", content=b'{"not json', headers={"Content-Type": JSON, "Accept": GRAPHQL_RESPONSE}
    )
    assert (bad_json.status_code, bad_json.headers["content-type"]) == (400, GRAPHQL_RESPONSE)
    assert bad_json.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    by_get = await http.get("/graphql", params={"query": "mutation { __typename }"}, headers={"Accept": URQL})
    assert (by_get.status_code, by_get.headers["content-type"], by_get.headers["allow"]) == (
        405,
        GRAPHQL_RESPONSE,
        "POST",
    )
    assert by_get.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_a_get_query_with_urqls_accept_header_is_answered(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": "{ __typename }"}, headers={"Accept": URQL})
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize("extensions", ["a string", 0, False, ["array"]])
async def test_extensions_must_be_an_object(http: httpx.AsyncClient, extensions: Any) -> None:
    response = await post(http, None, "{ __typename }", extensions=extensions)
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "message": "`extensions` must be a JSON object",
        "extensions": {"code": "BAD_REQUEST"},
    }
    by_get = await http.get("/graphql", params={"query": "{ __typename }", "extensions": "[1]"})
    assert by_get.status_code == 400
    assert by_get.json()["errors"][0]["message"] == "`extensions` must be a JSON object"


async def test_extensions_as_an_object_or_null_are_accepted(http: httpx.AsyncClient) -> None:
    for extensions in ({"persistedQuery": None}, None):
        response = await post(http, None, "{ __typename }", extensions=extensions)
        assert (response.status_code, response.json()["data"]) == (200, {"__typename": "Query"})


async def test_nothing_acceptable_is_a_406(http: httpx.AsyncClient) -> None:
    response = await post(http, "text/html", "{ __typename }")
    assert response.status_code == 406
    assert response.headers["content-type"] == JSON
    [error] = response.json()["errors"]
    assert error["extensions"] == {
        "code": "NOT_ACCEPTABLE",
        "accepted": [
            "application/json; charset=utf-8",
            "application/graphql-response+json; charset=utf-8",
            "text/event-stream; charset=utf-8",
            "multipart/mixed; incrementalSpec=v0.2",
        ],
    }


async def test_a_subscription_without_an_event_stream_in_accept_is_a_406(http: httpx.AsyncClient) -> None:
    response = await post(http, JSON, "subscription { notificationChanges { __typename } }")
    assert response.status_code == 406
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "NOT_ACCEPTABLE", "accepted": ["text/event-stream; charset=utf-8"]}
    assert "text/event-stream" in error["message"]
