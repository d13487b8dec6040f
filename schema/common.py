"""Conventions every domain follows: Node, connections, page arguments, mutation errors."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from enum import Enum
from typing import Annotated, Any, Generic, NewType, TypeVar, cast

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from core.context import Context
from core.errors import DomainError, ErrorCode, Forbidden, LastOwner, RateLimited
from core.pagination import Page, Sort
from core.relay import PageArgs, page_args, to_global_id
from loaders import Loaders

E = TypeVar("E", bound=Enum)
NodeT = TypeVar("NodeT")
#: What resolvers take as `info`: the request context, with the application's loader container.
Ctx = Info[Context[Loaders], None]


MAX_SAFE_INTEGER = 2**53 - 1

# A scalar's parser must raise a GraphQLError for a value it refuses: graphql-core reports that
# as the client's mistake (a literal fails validation, a variable its coercion); anything else
# it raises while parsing a literal becomes an internal error.


def _parse_big_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_SAFE_INTEGER:
        raise GraphQLError(f"BigInt must be a whole number within ±{MAX_SAFE_INTEGER}")
    return value


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise GraphQLError("DateTime must be an ISO 8601 string, e.g. 2030-01-31T09:00:00Z")
    try:
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        raise GraphQLError(f"DateTime cannot represent {value!r}: not an ISO 8601 date and time") from None
    if parsed.tzinfo is not None:
        # Times are compared and stored in UTC: one that falls outside years 1 to 9999 there
        # (0001-01-01T00:00:00+01:00) is refused here rather than overflowing later.
        try:
            parsed.astimezone(UTC)
        except OverflowError:
            raise GraphQLError(f"DateTime {value!r} falls outside years 1 to 9999 in UTC; send it in UTC (Z)") from None
    return parsed


def _parse_date(value: Any) -> date:
    if not isinstance(value, str):
        raise GraphQLError("Date must be an ISO 8601 date string, e.g. 2030-11-05")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise GraphQLError(f"Date cannot represent {value!r}: not an ISO 8601 date (YYYY-MM-DD)") from None


BigInt = NewType("BigInt", int)

SCALARS: dict[object, Any] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        description="A whole number beyond Int's 32 bits, up to ±(2^53 - 1) so JavaScript reads it exactly.",
        serialize=int,
        parse_value=_parse_big_int,
    ),
    # strawberry's own DateTime, whose parser also refuses times that can't be expressed in UTC.
    datetime: strawberry.scalar(
        name="DateTime",
        description="Date with time (isoformat)",
        serialize=datetime.isoformat,
        parse_value=_parse_datetime,
    ),
    # strawberry's own Date, whose parser refuses a bad value as the client's error (not an internal one).
    date: strawberry.scalar(
        name="Date",
        description="Date (isoformat)",
        serialize=date.isoformat,
        parse_value=_parse_date,
    ),
}


@strawberry.interface(description="An object with an opaque, globally unique ID that encodes its type.")
class Node:
    id: strawberry.ID = strawberry.field(
        description="Global ID: pass it to `node` or to any argument that expects this type."
    )


@strawberry.type(description="Where a page sits in its connection (Relay cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(description="More items precede this page.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item of the page.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item of the page.")


@strawberry.type(description="One item of a page and the cursor that points at it.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Pass as `after` or `before` to page from this item.")
    node: NodeT = strawberry.field(description="The item.")


@strawberry.type(description="A page of items with Relay-style cursors.")
class Connection(Generic[NodeT]):
    page: strawberry.Private[Page]
    nodes: list[NodeT] = strawberry.field(description="The items of the page, without cursors.")
    total_count: int = strawberry.field(description="How many items the connection holds across all pages.")

    # Edges and cursors are built only when asked for: most clients read `nodes`.
    @strawberry.field(description="The items of the page, with their cursors.")
    def edges(self) -> list[Edge[NodeT]]:
        return [Edge(cursor=cursor, node=node) for cursor, node in zip(self.page.cursors, self.nodes, strict=True)]

    @strawberry.field(description="Cursors and whether more pages exist.")
    def page_info(self) -> PageInfo:
        cursors = self.page.cursors
        return PageInfo(
            has_next_page=self.page.has_next_page,
            has_previous_page=self.page.has_previous_page,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        )


def raw(member: Enum) -> Any:
    """The stored value behind a GraphQL enum member."""
    return member.value


def by_value(enum: type[E]) -> Callable[[Any], E]:
    """`enum(value)` as a dictionary lookup: for members made once per row of large results."""
    members: dict[Any, E] = {member.value: member for member in enum}

    def member(value: Any) -> E:
        found = members.get(value)
        return found if found is not None else enum(value)

    return member


def connection(page: Page, to_node: Callable[[Any], NodeT]) -> Connection[NodeT]:
    return Connection(page=page, nodes=[to_node(row) for row in page.rows], total_count=page.total_count)


InputArg = strawberry.argument(description="What to do; see the input type.")

First = Annotated[
    int | None,
    strawberry.argument(description="Items from the start of the list (at most 100; default 20)."),
]
After = Annotated[str | None, strawberry.argument(description="Only items after this cursor.")]
Last = Annotated[int | None, strawberry.argument(description="Items from the end of the list (at most 100).")]
Before = Annotated[str | None, strawberry.argument(description="Only items before this cursor.")]


def read_page_args(info: Ctx, first: int | None, after: str | None, last: int | None, before: str | None) -> PageArgs:
    settings = info.context.settings
    return page_args(
        first=first,
        after=after,
        last=last,
        before=before,
        max_size=settings.max_page_size,
        default_size=settings.default_page_size,
    )


def order_enum(name: str, sorts: dict[str, Sort], what: str) -> Any:
    """A GraphQL enum of the orderings a connection supports, described value by value."""
    members = {}
    for key, sort in sorts.items():
        field_name = key.rsplit("_", 1)[0].lower().replace("_", " ")
        direction = "descending" if sort.descending else "ascending"
        members[key] = strawberry.enum_value(key, description=f"By {field_name}, {direction}.")
    ordering: Any = strawberry.enum(cast(type[Enum], Enum(name, members)), description=f"Orders of {what}.")
    # The kit's `children` fields read the orderings of their `order` enum from it.
    ordering.__sorts__ = sorts
    return ordering


# ------------------------------------------------------------------------ mutation errors


@strawberry.interface(description="An expected failure of a mutation; nothing was changed.")
class MutationError:
    code: ErrorCode = strawberry.field(description="What went wrong, for a client to switch on.")
    message: str = strawberry.field(description="A sentence for a person to read.")
    field: list[str] | None = strawberry.field(description='Path to the input value at fault, e.g. ["input", "title"].')


@strawberry.type(description="An input value is invalid.")
class ValidationError(MutationError):
    pass


@strawberry.type(description="The object does not exist or the viewer may not see it.")
class NotFoundError(MutationError):
    pass


@strawberry.type(description="The viewer may see the object but not change it this way.")
class ForbiddenError(MutationError):
    permission: str | None = strawberry.field(
        default=None, description="The permission the viewer's role lacks (e.g. `members.invite`), if that is why."
    )
    roles: list[str] = strawberry.field(
        default_factory=list, description="The roles that may do it there, strongest first (none: not about a role)."
    )


@strawberry.type(description="Signing in is required, or the credentials or tokens were refused.")
class AuthenticationError(MutationError):
    pass


@strawberry.type(description="The change conflicts with the state of the data.")
class ConflictError(MutationError):
    pass


@strawberry.type(
    description="The last owner can't do this (`LAST_OWNER`): it names the organizations that would be left "
    "without one, until another member is made an owner or the organization is deleted."
)
class LastOwnerError(MutationError):
    organization_ids: list[strawberry.ID] = strawberry.field(description="The organizations (global IDs).")
    organization_slugs: list[str] = strawberry.field(description="Their slugs, in the same order.")


@strawberry.type(description="Too many requests of this kind; try again after `retryAfterSeconds`.")
class RateLimitedError(MutationError):
    retry_after_seconds: int = strawberry.field(description="Seconds to wait before the next request can succeed.")
    limit: str = strawberry.field(description="The limit that was reached, e.g. `10 per 1 minute`.")


#: The global-id key of `Organization` (schema/organizations.py), which `LastOwnerError` names.
ORGANIZATION_KEY = "Organization"

_ERROR_TYPES: dict[ErrorCode, type[MutationError]] = {
    ErrorCode.VALIDATION: ValidationError,
    ErrorCode.NOT_FOUND: NotFoundError,
    ErrorCode.FORBIDDEN: ForbiddenError,
    ErrorCode.UNAUTHENTICATED: AuthenticationError,
    ErrorCode.INVALID_CREDENTIALS: AuthenticationError,
    ErrorCode.REFRESH_TOKEN_INVALID: AuthenticationError,
    ErrorCode.REFRESH_TOKEN_REUSED: AuthenticationError,
    ErrorCode.EMAIL_TAKEN: ConflictError,
    ErrorCode.CONFLICT: ConflictError,
    ErrorCode.LAST_OWNER: LastOwnerError,
    ErrorCode.INVITATION_EXPIRED: ConflictError,
    ErrorCode.INVITATION_USED: ConflictError,
    ErrorCode.INVITATION_EMAIL_MISMATCH: ForbiddenError,
    # A product that carries more (Akashic's conflicts: the current version, a merge) maps its own.
    ErrorCode.VERSION_CONFLICT: ConflictError,
    ErrorCode.INVALID_TRANSITION: ConflictError,
    ErrorCode.NOT_CONFIGURED: ConflictError,
    ErrorCode.UNSUPPORTED_CHANNEL: ConflictError,
}

ERROR_TYPES: list[type] = [*dict.fromkeys(_ERROR_TYPES.values()), RateLimitedError]


def _mutation_error(error: DomainError) -> MutationError:
    if isinstance(error, RateLimited):
        return RateLimitedError(
            code=error.code,
            message=error.message,
            field=error.field,
            retry_after_seconds=error.retry_after_seconds,
            limit=error.limit,
        )
    if isinstance(error, LastOwner):
        return LastOwnerError(
            code=error.code,
            message=error.message,
            field=error.field,
            organization_ids=[strawberry.ID(to_global_id(ORGANIZATION_KEY, pk)) for pk, _ in error.organizations],
            organization_slugs=[slug for _, slug in error.organizations],
        )
    if isinstance(error, Forbidden):
        return ForbiddenError(
            code=error.code,
            message=error.message,
            field=error.field,
            permission=error.permission,
            roles=list(error.roles),
        )
    return _ERROR_TYPES[error.code](code=error.code, message=error.message, field=error.field)


def mutation_errors(errors: Iterable[DomainError]) -> list[MutationError]:
    return [_mutation_error(error) for error in errors]


def report_rate_limits(info: Info[Context, None], errors: Iterable[DomainError]) -> None:
    """Also say when to retry in the response's `extensions`, where every client can see it."""
    for error in errors:
        if isinstance(error, RateLimited):
            info.context.extensions["rateLimit"] = {
                "code": error.code.value,
                "retryAfterSeconds": error.retry_after_seconds,
                "limit": error.limit,
            }


@strawberry.type(description="Result of deleting an object.")
class DeletePayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="Global ID of the deleted object.")
    errors: list[MutationError] = strawberry.field(description="Why nothing was deleted, if so.")


def changes_of(data: object, *, skip: Iterable[str] = ("id",)) -> dict[str, Any]:
    """The fields an update input actually carries (omitted ones stay UNSET)."""
    skipped = set(skip)
    return {name: value for name, value in vars(data).items() if name not in skipped and value is not strawberry.UNSET}
