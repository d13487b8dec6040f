"""Content negotiation (core/accept.py): the Accept header's qualities, then the client's order."""

from __future__ import annotations

import pytest
from graphql import OperationType

from core.accept import (
    EVENT_STREAM,
    GRAPHQL_RESPONSE,
    JSON,
    MULTIPART,
    Accept,
    Delivery,
    MediaType,
    inspect_operation,
    parse_accept,
)

URQL = (
    "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed"
)
URQL_SUBSCRIPTION = "text/event-stream, multipart/mixed"
APOLLO = "application/graphql-response+json,application/json;q=0.9"
APOLLO_DEFER = "multipart/mixed;incrementalSpec=v0.2,application/graphql-response+json,application/json;q=0.9"
APOLLO_OLD_DEFER = "multipart/mixed;deferSpec=20220824,application/graphql-response+json,application/json;q=0.9"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def choose(header: str | None, delivery: Delivery) -> MediaType | None:
    return Accept.of(header).choose(delivery)


@pytest.mark.parametrize(
    ("header", "delivery", "expected"),
    [
        # The clients people use, with their defaults.
        (URQL, Delivery.SINGLE, GRAPHQL_RESPONSE),
        (URQL, Delivery.SUBSCRIPTION, EVENT_STREAM),
        # urql lists text/event-stream before multipart/mixed: its incremental results stream as events.
        (URQL, Delivery.INCREMENTAL, EVENT_STREAM),
        (URQL_SUBSCRIPTION, Delivery.SUBSCRIPTION, EVENT_STREAM),
        (APOLLO, Delivery.SINGLE, GRAPHQL_RESPONSE),
        (APOLLO_DEFER, Delivery.INCREMENTAL, MULTIPART),
        (APOLLO_DEFER, Delivery.SINGLE, GRAPHQL_RESPONSE),
        ("text/event-stream", Delivery.SINGLE, EVENT_STREAM),  # graphql-sse's distinct connections
        (BROWSER, Delivery.SINGLE, JSON),
        # No header, or a blank one, is application/json (GraphQL over HTTP, "Accept").
        (None, Delivery.SINGLE, JSON),
        ("  ", Delivery.SINGLE, JSON),
        # Wildcards: application/json until the spec's watershed, whatever their order.
        ("*/*", Delivery.SINGLE, JSON),
        ("application/*", Delivery.SINGLE, JSON),
        ("*", Delivery.SINGLE, JSON),
        ("*/*", Delivery.SUBSCRIPTION, EVENT_STREAM),
        ("*/*", Delivery.INCREMENTAL, MULTIPART),
        # Qualities first, then the client's order.
        ("application/json, application/graphql-response+json", Delivery.SINGLE, JSON),
        ("application/json;q=0.5, application/graphql-response+json", Delivery.SINGLE, GRAPHQL_RESPONSE),
        ("application/graphql-response+json;q=0.2, application/json;q=0.3", Delivery.SINGLE, JSON),
        ("text/event-stream, multipart/mixed", Delivery.INCREMENTAL, EVENT_STREAM),
        ("text/event-stream;q=0.5, multipart/mixed", Delivery.INCREMENTAL, MULTIPART),
        # One result prefers a JSON type even when a stream is listed first...
        ("text/event-stream, application/json", Delivery.SINGLE, JSON),
        # ...and streams only when no JSON type is acceptable.
        ("text/event-stream, application/json;q=0", Delivery.SINGLE, EVENT_STREAM),
        ("text/*", Delivery.SINGLE, EVENT_STREAM),
        # The most specific range gives a type its quality: q=0 on it refuses it under */*.
        ("*/*, application/json;q=0", Delivery.SINGLE, GRAPHQL_RESPONSE),
        ("application/*;q=0.1, application/graphql-response+json;q=0, */*", Delivery.SINGLE, JSON),
        # Parameters must be the type's own: charset utf-8 (any spelling) is, utf-16 is not.
        ("application/json; charset=UTF-8", Delivery.SINGLE, JSON),
        ("application/json;charset=utf8", Delivery.SINGLE, JSON),
        ('application/json; charset="utf-8"', Delivery.SINGLE, JSON),
        (
            "application/json; charset=utf-16, application/graphql-response+json;q=0.1",
            Delivery.SINGLE,
            GRAPHQL_RESPONSE,
        ),
        # Case does not matter in types and parameter names; boundary says nothing of the reader.
        ("Application/JSON", Delivery.SINGLE, JSON),
        ('multipart/mixed; boundary="-"', Delivery.INCREMENTAL, MULTIPART),
        # Malformed elements are skipped, the rest still counts.
        ("application/json;q=2, text/event-stream", Delivery.SINGLE, EVENT_STREAM),
        ("application/json;q=abc, application/graphql-response+json", Delivery.SINGLE, GRAPHQL_RESPONSE),
        ("garbage, /json, application/graphql-response+json", Delivery.SINGLE, GRAPHQL_RESPONSE),
        # A comma inside a quoted parameter value does not split the element.
        ('multipart/mixed; note="a, b", application/json;q=0.1', Delivery.INCREMENTAL, None),
    ],
)
def test_the_client_preference_picks_the_media_type(
    header: str | None, delivery: Delivery, expected: MediaType | None
) -> None:
    assert choose(header, delivery) == expected


@pytest.mark.parametrize(
    ("header", "delivery"),
    [
        ("application/json", Delivery.SUBSCRIPTION),
        ("application/json", Delivery.INCREMENTAL),
        (APOLLO, Delivery.INCREMENTAL),
        # Apollo's older incremental format (deferSpec=20220824) is not the one we send.
        (APOLLO_OLD_DEFER, Delivery.INCREMENTAL),
        ("multipart/mixed", Delivery.SUBSCRIPTION),
        ("text/html", Delivery.SINGLE),
        ("image/png, text/html", Delivery.SINGLE),
        ("application/json;q=0, application/graphql-response+json;q=0.000", Delivery.SINGLE),
        ("*/*;q=0", Delivery.SINGLE),
    ],
)
def test_nothing_is_chosen_when_nothing_acceptable_can_answer(header: str, delivery: Delivery) -> None:
    assert choose(header, delivery) is None


def test_refusals_take_the_single_result_type_the_client_reads() -> None:
    assert Accept.of(URQL).single_result == GRAPHQL_RESPONSE
    assert Accept.of("application/graphql-response+json").single_result == GRAPHQL_RESPONSE
    assert Accept.of("text/event-stream").single_result == JSON
    assert Accept.of("text/html").single_result == JSON


def test_parsing_keeps_order_parameters_and_qualities() -> None:
    [first, second, third] = parse_accept("multipart/mixed;incrementalSpec=v0.2;q=0.5;ext=1, text/*, */*;q=.2")
    assert (first.type, first.subtype, first.params, first.q, first.position) == (
        "multipart",
        "mixed",
        (("incrementalspec", "v0.2"),),
        0.5,
        0,
    )
    assert (second.type, second.subtype, second.q, second.position) == ("text", "*", 1.0, 1)
    assert (third.type, third.subtype, third.q, third.position) == ("*", "*", 0.2, 2)


@pytest.mark.parametrize(
    ("query", "variables", "delivery"),
    [
        ("{ viewer { user { id } } }", None, Delivery.SINGLE),
        ("mutation { __typename }", None, Delivery.SINGLE),
        ("subscription { notificationChanges { __typename } }", None, Delivery.SUBSCRIPTION),
        ("{ viewer { ... @defer { user { id } } } }", None, Delivery.INCREMENTAL),
        ("{ viewer { pillars { nodes @stream(initialCount: 1) { id } } } }", None, Delivery.INCREMENTAL),
        # Hidden in a fragment (even one spread from another fragment), or with space after "@".
        (
            "{ ...A } fragment A on Query { ...B } fragment B on Query { viewer { ... @ defer { user { id } } } }",
            None,
            Delivery.INCREMENTAL,
        ),
        # Turned off, by a literal, a variable, or a variable's default.
        ("{ viewer { ... @defer(if: false) { user { id } } } }", None, Delivery.SINGLE),
        ("query Q($d: Boolean!) { viewer { ... @defer(if: $d) { user { id } } } }", {"d": False}, Delivery.SINGLE),
        ("query Q($d: Boolean! = false) { viewer { ... @defer(if: $d) { user { id } } } }", None, Delivery.SINGLE),
        (
            "query Q($d: Boolean! = false) { viewer { ... @defer(if: $d) { user { id } } } }",
            {"d": True},
            Delivery.INCREMENTAL,
        ),
        # A field or fragment that merely has the word in its name is not incremental.
        ("{ viewer { ...streamed } } fragment streamed on Viewer { user { id } }", None, Delivery.SINGLE),
        # A document that doesn't parse is one result: execution reports the syntax error.
        ("subscription {", None, Delivery.SINGLE),
    ],
)
def test_the_operation_says_how_its_results_travel(
    query: str, variables: dict[str, bool] | None, delivery: Delivery
) -> None:
    assert inspect_operation(query, None, variables, 5000, always=False)[0] is delivery


def test_an_operation_is_picked_by_name_and_parsed_within_the_token_limit() -> None:
    document = "query A { __typename } subscription B { notificationChanges { __typename } }"
    assert inspect_operation(document, "A", None, 5000, always=False) == (Delivery.SINGLE, OperationType.QUERY)
    assert inspect_operation(document, "B", None, 5000, always=False) == (
        Delivery.SUBSCRIPTION,
        OperationType.SUBSCRIPTION,
    )
    assert inspect_operation(document, "C", None, 5000, always=False) == (Delivery.SINGLE, None)
    # Too many tokens: not parsed here (the MAX_TOKENS limit refuses it with its own error).
    assert inspect_operation(document, "B", None, 5, always=False) == (Delivery.SINGLE, None)
    # Without the words, nothing is parsed unless asked (GET must know a mutation from a query).
    assert inspect_operation("mutation { __typename }", None, None, 5000, always=False) == (Delivery.SINGLE, None)
    assert inspect_operation("mutation { __typename }", None, None, 5000, always=True) == (
        Delivery.SINGLE,
        OperationType.MUTATION,
    )
