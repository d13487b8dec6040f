"""Content negotiation for the GraphQL endpoint: which media type answers a request.

The `Accept` header is read as RFC 9110 (§12.5.1) says: each media range has a quality (`q`,
default 1; 0 means "not acceptable"), and a media type takes the quality of the *most specific*
range that matches it (`application/json` over `application/*` over `*/*`; a range's parameters
must all be the media type's own). Among the types an operation can be answered with, the one of
highest quality wins, then the one whose range the client listed first, then the server's order:
for `*/*`, `application/json` before `application/graphql-response+json`, as the GraphQL-over-HTTP
spec asks until its "watershed".

What can answer an operation depends on it (`Delivery`): one result (a query or mutation) prefers
the single-result JSON types and streams only when the client accepts no JSON type; a subscription
needs `text/event-stream`; a query with `@defer`/`@stream` needs `multipart/mixed` or
`text/event-stream` (`inspect_operation` tells which, parsing only documents that contain one of
the words "subscription", "defer" or "stream"). No library parses Accept this way (werkzeug and
python-mimeparse break ties by the server's list, not the client's order, and neither is a
dependency), hence this module; tests/test_accept.py pins it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property, lru_cache
from typing import Any

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    get_operation_ast,
    parse,
    visit,
)
from graphql.language import Visitor

#: What a request without an Accept header is taken to accept (GraphQL-over-HTTP, "Accept").
DEFAULT_ACCEPT = "application/json"


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    params: tuple[tuple[str, str], ...]
    q: float
    position: int

    def matches(self, offer: MediaType) -> bool:
        return (
            self.type in ("*", offer.type)
            and self.subtype in ("*", offer.subtype)
            and all(offer.param(name) == value for name, value in self.params)
        )

    @property
    def specificity(self) -> tuple[int, int, int]:
        return (self.type != "*", self.subtype != "*", len(self.params))


@dataclass(frozen=True)
class MediaType:
    """A media type the server can produce, with the parameters it is produced with."""

    type: str
    subtype: str
    params: tuple[tuple[str, str], ...] = field(default=())

    def param(self, name: str) -> str | None:
        """A parameter's value by its name (parameter names are case-insensitive)."""
        return next((value for key, value in self.params if key.lower() == name), None)

    @property
    def essence(self) -> str:
        return f"{self.type}/{self.subtype}"

    def __str__(self) -> str:
        return self.essence + "".join(f"; {name}={value}" for name, value in self.params)


# A media range: type/subtype, then `; name=value` parameters (a value may be a quoted string).
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PARAM = re.compile(rf"\s*;\s*({_TOKEN})\s*=\s*({_TOKEN}|{_QUOTED})")
_RANGE = re.compile(rf"\s*({_TOKEN})(?:/({_TOKEN}))?")
_ELEMENTS = re.compile(rf'(?:{_QUOTED}|[^,"])+')
_QVALUE = re.compile(r"(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?|\.\d{1,3})")
#: Parameters that say nothing about what a client can read.
_IGNORED = frozenset({"boundary"})


def _unquote(value: str) -> str:
    if value.startswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_accept(header: str) -> list[MediaRange]:
    """The media ranges of an Accept header in the client's order; malformed elements are skipped."""
    ranges: list[MediaRange] = []
    for position, element in enumerate(_ELEMENTS.findall(header)):
        match = _RANGE.match(element)
        if match is None:
            continue
        type_, subtype = match.group(1).lower(), (match.group(2) or "").lower()
        if not subtype:
            if type_ != "*":  # a bare `*` (old Java clients) means `*/*`; `text` alone is nothing
                continue
            subtype = "*"
        if type_ == "*" and subtype != "*":
            continue
        rest = element[match.end() :]
        params: list[tuple[str, str]] = []
        q = 1.0
        malformed = False
        while rest.strip():
            param = _PARAM.match(rest)
            if param is None:
                malformed = True
                break
            name, value = param.group(1).lower(), _unquote(param.group(2))
            rest = rest[param.end() :]
            if name == "q":
                if not _QVALUE.fullmatch(value):
                    malformed = True
                    break
                q = float(value)
                break  # what follows q is accept-ext, not media type parameters
            if name == "charset":
                value = "utf-8" if value.lower() in ("utf-8", "utf8") else value.lower()
            if name not in _IGNORED:
                params.append((name, value))
        if malformed:
            continue
        ranges.append(MediaRange(type_, subtype, tuple(params), q, position))
    return ranges


def quality(offer: MediaType, ranges: Sequence[MediaRange]) -> tuple[float, int]:
    """The quality the client gives `offer` and the position of the range that gave it
    ((0, 0) when no range matches)."""
    matching = [r for r in ranges if r.matches(offer)]
    if not matching:
        return 0.0, 0
    best = max(matching, key=lambda r: (r.specificity, -r.position))
    return best.q, best.position


def best(offers: Sequence[MediaType], ranges: Sequence[MediaRange]) -> MediaType | None:
    """The acceptable offer the client prefers (quality, then its order, then ours), if any."""
    chosen: MediaType | None = None
    chosen_key: tuple[float, int] | None = None
    for offer in offers:  # in the server's order: a later offer must be strictly better
        q, position = quality(offer, ranges)
        if q <= 0:
            continue
        key = (q, -position)
        if chosen_key is None or key > chosen_key:
            chosen, chosen_key = offer, key
    return chosen


# ----------------------------------------------------------------------------- GraphQL's media types

UTF8 = (("charset", "utf-8"),)
JSON = MediaType("application", "json", UTF8)
GRAPHQL_RESPONSE = MediaType("application", "graphql-response+json", UTF8)
EVENT_STREAM = MediaType("text", "event-stream", UTF8)
#: Incremental delivery in graphql-core 3.3's format (graphql-js 17: `pending`, `incremental`
#: entries with an `id` and `subPath`, `completed`), which Apollo names `incrementalSpec=v0.2`.
MULTIPART = MediaType("multipart", "mixed", (("incrementalSpec", "v0.2"),))
SINGLE_RESULT_TYPES = (JSON, GRAPHQL_RESPONSE)


class Delivery(Enum):
    """How an operation's results travel."""

    SINGLE = "one result"
    INCREMENTAL = "incremental delivery (@defer, @stream)"
    SUBSCRIPTION = "a subscription"


#: For each delivery, groups of media types in the server's order of preference: the first group
#: with an acceptable type answers.
OFFERS: dict[Delivery, tuple[tuple[MediaType, ...], ...]] = {
    Delivery.SINGLE: (SINGLE_RESULT_TYPES, (EVENT_STREAM, MULTIPART)),
    Delivery.INCREMENTAL: ((MULTIPART, EVENT_STREAM),),
    Delivery.SUBSCRIPTION: ((EVENT_STREAM,),),
}


@dataclass(frozen=True)
class Accept:
    """A request's Accept header, parsed once."""

    ranges: tuple[MediaRange, ...]

    @classmethod
    def of(cls, header: str | None) -> Accept:
        if header is None or not header.strip():
            header = DEFAULT_ACCEPT
        return _parsed(header)

    def choose(self, delivery: Delivery) -> MediaType | None:
        return self._chosen[delivery]

    # Worked out once per header: `of` hands every request with the same header the same object.
    @cached_property
    def _chosen(self) -> dict[Delivery, MediaType | None]:
        chosen: dict[Delivery, MediaType | None] = {}
        for delivery, groups in OFFERS.items():
            chosen[delivery] = next(
                (found for found in (best(group, self.ranges) for group in groups) if found is not None), None
            )
        return chosen

    @cached_property
    def single_result(self) -> MediaType:
        """The media type of a single JSON answer (refusals included): application/json unless
        the client accepts only application/graphql-response+json or prefers it."""
        return best(SINGLE_RESULT_TYPES, self.ranges) or JSON


@lru_cache(maxsize=64)
def _parsed(header: str) -> Accept:
    # A client sends the same header with every request: parse each one once (64 of them at most).
    return Accept(tuple(parse_accept(header)))


def not_acceptable_message(delivery: Delivery) -> str:
    wanted = " or ".join(offer.essence for group in OFFERS[delivery] for offer in group)
    if delivery is Delivery.INCREMENTAL:
        return (
            f"An operation with @defer or @stream is answered as {wanted}: add one to Accept "
            f"(multipart/mixed parts follow {MULTIPART.param('incrementalspec')} of incremental delivery, "
            "graphql-js 17's format; Apollo Client needs GraphQL17Alpha9Handler)"
        )
    if delivery is Delivery.SUBSCRIPTION:
        return f"A subscription streams its results as {wanted}: add it to Accept, or subscribe over the WebSocket"
    return f"The result can be sent as {wanted}, none of which Accept allows"


# ----------------------------------------------------------------------------- what an operation needs

#: Words without which a document can be neither a subscription nor use @defer/@stream: a
#: document without them is not parsed here (strawberry parses it, through its cache).
_STREAMING_WORDS = ("subscription", "defer", "stream")
INCREMENTAL_DIRECTIVES = frozenset({"defer", "stream"})


def inspect_operation(
    query: str, operation_name: str | None, variables: dict[str, Any] | None, max_tokens: int, *, always: bool
) -> tuple[Delivery, OperationType | None]:
    """How the operation's results travel, and its type when the document was parsed for it
    (only when it may stream, or `always`). A document that doesn't parse or has no such
    operation is a single result: execution reports why."""
    if not always and not any(word in query for word in _STREAMING_WORDS):
        return Delivery.SINGLE, None
    try:
        document = parse(query, no_location=True, max_tokens=max_tokens)
    except GraphQLError:
        return Delivery.SINGLE, None
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return Delivery.SINGLE, None
    if operation.operation is OperationType.SUBSCRIPTION:
        return Delivery.SUBSCRIPTION, operation.operation
    if defers(document, operation, variables or {}):
        return Delivery.INCREMENTAL, operation.operation
    return Delivery.SINGLE, operation.operation


def defers(document: DocumentNode, operation: OperationDefinitionNode, variables: dict[str, Any]) -> bool:
    """Whether the operation (or a fragment it spreads) has a @defer or @stream not turned off by
    `if: false` (a literal, or a variable given as false or defaulting to false)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    seen: set[str] = set()
    found = False

    class Find(Visitor):
        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            nonlocal found
            if node.name.value not in INCREMENTAL_DIRECTIVES:
                return
            condition = next((a.value for a in node.arguments or () if a.name.value == "if"), None)
            if isinstance(condition, BooleanValueNode) and not condition.value:
                return
            if isinstance(condition, VariableNode) and _value_of(condition, operation, variables) is False:
                return
            found = True

        def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
            name = node.name.value
            if name not in seen and name in fragments:
                seen.add(name)
                visit(fragments[name], self)

    visit(operation, Find())
    return found


def _value_of(variable: VariableNode, operation: OperationDefinitionNode, variables: dict[str, Any]) -> Any:
    """A Boolean variable's value as given, else its literal default (None if neither)."""
    name = variable.name.value
    if name in variables:
        return variables[name]
    for definition in operation.variable_definitions or ():
        if definition.variable.name.value == name and isinstance(definition.default_value, BooleanValueNode):
            return definition.default_value.value
    return None
