"""Errors: expected ones a client can act on, and the policy that masks the rest.

Two kinds of expected failure:

* `DomainError` (and subclasses) is raised by services. Mutations turn it into a typed
  entry of their payload's `errors` list; the transaction is rolled back first.
* `ClientError` is raised while reading (bad pagination arguments, a malformed ID, no
  signed-in user where one is required). It becomes a GraphQL error whose `extensions`
  carry a `code` and the details (e.g. the limit that was hit and its value).

A lost database connection (`core.db.lost_connection`) is not masked: its code says what a
client can do, `DATABASE_UNAVAILABLE` (nothing was changed: try again later) or, for a
connection lost while a mutation committed, `COMMIT_OUTCOME_UNKNOWN` (read the data again
before retrying). Both are logged with the `errorId` the client gets.

Anything else is unexpected: it is logged with an id, and outside dev mode the client sees
only "Internal server error" and that id.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from core.db import CommitOutcomeUnknown, DatabaseUnavailable, lost_connection
from core.observability import note_error_id

logger = logging.getLogger("quintet.errors")


@strawberry.enum(description="What went wrong, for a client to switch on.")
class ErrorCode(Enum):
    VALIDATION = strawberry.enum_value("VALIDATION", description="An input value is invalid; `field` says which.")
    NOT_FOUND = strawberry.enum_value(
        "NOT_FOUND", description="No such object, or one the viewer may not see (the two look the same)."
    )
    FORBIDDEN = strawberry.enum_value("FORBIDDEN", description="The viewer may see the object but not do this to it.")
    UNAUTHENTICATED = strawberry.enum_value("UNAUTHENTICATED", description="A signed-in user is required.")
    INVALID_CREDENTIALS = strawberry.enum_value(
        "INVALID_CREDENTIALS", description="The email and password do not match an account."
    )
    EMAIL_TAKEN = strawberry.enum_value("EMAIL_TAKEN", description="An account with this email cannot be created.")
    REFRESH_TOKEN_INVALID = strawberry.enum_value(
        "REFRESH_TOKEN_INVALID", description="The refresh token is unknown, expired or revoked: sign in again."
    )
    REFRESH_TOKEN_REUSED = strawberry.enum_value(
        "REFRESH_TOKEN_REUSED",
        description="The refresh token was already used; every session of that login is now revoked.",
    )
    CONFLICT = strawberry.enum_value("CONFLICT", description="The change conflicts with the current state.")
    RATE_LIMITED = strawberry.enum_value(
        "RATE_LIMITED", description="Too many requests of this kind; `retryAfterSeconds` says when to try again."
    )
    LAST_OWNER = strawberry.enum_value(
        "LAST_OWNER",
        description="The organization's last owner can't leave, be removed, be given another role or delete "
        "their account: make another member an owner first (`changeMemberRole`), or delete the organization.",
    )
    INVITATION_EXPIRED = strawberry.enum_value(
        "INVITATION_EXPIRED", description="The invitation has expired: ask for a new one."
    )
    INVITATION_USED = strawberry.enum_value(
        "INVITATION_USED",
        description="The invitation was already accepted, declined or revoked (tokens are single-use).",
    )
    INVITATION_EMAIL_MISMATCH = strawberry.enum_value(
        "INVITATION_EMAIL_MISMATCH",
        description="The invitation is for another email address than the signed-in account's.",
    )
    VERSION_CONFLICT = strawberry.enum_value(
        "VERSION_CONFLICT",
        description="Someone saved a newer version since the one this change was based on: nothing was saved; "
        "the error carries the current version and a merge proposal to save on it.",
    )
    INVALID_TRANSITION = strawberry.enum_value(
        "INVALID_TRANSITION",
        description="The object's workflow does not allow this move (or this edit) from where it stands now.",
    )
    NOT_CONFIGURED = strawberry.enum_value(
        "NOT_CONFIGURED",
        description="An outside service this needs is not configured on the server; the message names the settings.",
    )
    UNSUPPORTED_CHANNEL = strawberry.enum_value(
        "UNSUPPORTED_CHANNEL", description="The server can't deliver through this object's channel itself."
    )


class DomainError(Exception):
    """An expected failure of a service call; becomes a typed payload error."""

    code: ErrorCode = ErrorCode.VALIDATION
    #: Commit what the unit of work did before reporting the error (e.g. revoking a token family).
    keep_changes: bool = False

    def __init__(self, message: str, *, field: list[str] | None = None, id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.id = id


class ValidationFailed(DomainError):
    code = ErrorCode.VALIDATION


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class Forbidden(DomainError):
    """The actor may see the object but not do this to it; `permission` names what it lacks and
    `roles` the roles that hold it there (empty when the refusal is not about a permission)."""

    code = ErrorCode.FORBIDDEN

    def __init__(
        self,
        message: str,
        *,
        field: list[str] | None = None,
        permission: str | None = None,
        roles: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, field=field)
        self.permission = permission
        self.roles = roles


class Unauthenticated(DomainError):
    code = ErrorCode.UNAUTHENTICATED


class Conflict(DomainError):
    code = ErrorCode.CONFLICT


class LastOwner(Conflict):
    """The actor (or the member acted on) is the last owner of these organizations: `(id, slug)`
    of each, which the payload's `LastOwnerError` names."""

    code = ErrorCode.LAST_OWNER

    def __init__(
        self, message: str, *, organizations: Sequence[tuple[uuid.UUID, str]], field: list[str] | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.organizations = tuple(organizations)


class RateLimited(DomainError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after_seconds: int, limit: str) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
        self.limit = limit


class ClientError(Exception):
    """An expected failure while executing a query: a GraphQL error with a code."""

    def __init__(self, message: str, code: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


_LIMIT_PATTERNS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"exceeds maximum operation depth of (\d+)"), "QUERY_TOO_DEEP", "maxDepth"),
    (re.compile(r"aliases found\. Allowed: (\d+)"), "TOO_MANY_ALIASES", "maxAliases"),
    (re.compile(r"more than (\d+) tokens"), "TOO_MANY_TOKENS", "maxTokens"),
]


def classify(error: GraphQLError) -> dict[str, Any]:
    """Extensions for a GraphQL error that did not come from a resolver."""
    for pattern, code, limit in _LIMIT_PATTERNS:
        match = pattern.search(error.message)
        if match:
            return {"code": code, "limit": limit, "value": int(match.group(1))}
    if "introspection has been disabled" in error.message:
        return {"code": "INTROSPECTION_DISABLED", "limit": "introspection", "value": False}
    if error.message.startswith("Syntax Error"):
        return {"code": "GRAPHQL_PARSE_FAILED"}
    return {"code": "GRAPHQL_VALIDATION_FAILED"}


def _rebuild(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={**(error.extensions or {}), **extensions},
    )


def shape_error(error: GraphQLError, *, mask: bool) -> GraphQLError:
    original = error.original_error
    if isinstance(original, ClientError):
        return _rebuild(error, error.message, {"code": original.code, **original.details})
    if isinstance(original, InvalidOperationTypeError):
        return _rebuild(error, error.message, {"code": "METHOD_NOT_ALLOWED"})
    if isinstance(original, CannotGetOperationTypeError):
        return _rebuild(error, error.message, {"code": "OPERATION_NOT_FOUND"})
    if original is None or isinstance(original, GraphQLError):
        # Parse and validation errors, and coercion errors of variables and arguments;
        # our own limit errors arrive with their code already.
        if (error.extensions or {}).get("code"):
            return error
        return _rebuild(error, error.message, classify(error))
    error_id = uuid.uuid4().hex[:16]
    note_error_id(error_id)  # the request's log line lists it too
    if lost_connection(original):
        logger.warning(
            "database connection lost %s at %s: %r (cause: %r)",
            error_id,
            ".".join(str(p) for p in error.path or []),
            original,
            original.__cause__,
            extra={"error_id": error_id},
        )
        lost = CommitOutcomeUnknown if isinstance(original, CommitOutcomeUnknown) else DatabaseUnavailable
        return _rebuild(error, lost.message, {"code": lost.code, "errorId": error_id})
    logger.error(
        "unexpected error %s at %s: %s",
        error_id,
        ".".join(str(p) for p in error.path or []),
        error.message,
        exc_info=original,
        extra={"error_id": error_id},
    )
    message = "Internal server error" if mask else error.message
    return _rebuild(error, message, {"code": "INTERNAL_SERVER_ERROR", "errorId": error_id})


def result_payload(result: Any, *, mask: bool) -> dict[str, Any]:
    """A streamed result as the `payload` of a WebSocket `next` or the data of an SSE `next` event."""
    body: dict[str, Any] = {}
    errors = getattr(result, "errors", None)
    if errors:
        # Errors raised before execution (parse errors) skip the ErrorPolicy extension.
        body["errors"] = [
            (e if (e.extensions or {}).get("code") else shape_error(e, mask=mask)).formatted for e in errors
        ]
    data = getattr(result, "data", None)
    if data is not None or not errors:
        body["data"] = data
    if getattr(result, "extensions", None):
        body["extensions"] = result.extensions
    return body


class ErrorPolicy(SchemaExtension):
    """Adds a `code` to every error; logs and (outside dev mode) masks unexpected ones."""

    def __init__(self, *, mask: bool) -> None:
        self.mask = mask
        self.streamed = False

    def on_operation(self) -> Iterator[None]:
        yield
        if self.streamed:  # each streamed result was shaped on its way out
            return
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [shape_error(e, mask=self.mask) for e in errors]

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Subscriptions (and operations over WebSocket or SSE) yield results one by one; the
        later payloads of incremental delivery carry their errors in `incremental` and `completed`."""
        self.streamed = True
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [shape_error(e, mask=self.mask) for e in errors]
        for entry in [*(getattr(result, "incremental", None) or ()), *(getattr(result, "completed", None) or ())]:
            if entry.errors:
                entry.errors = [shape_error(e, mask=self.mask) for e in entry.errors]
        yield
