"""Who may read which rows: one read policy per table, and the one function that applies it.

Every table whose rows belong to someone declares its policy once, next to its model
(`declare(Model, OWNED)`), and every read (the kit's loaders, a service's lookup before a
write, the one-statement SQL form, `node`/`nodes`, live channels) takes its condition from
`readable(rows, actor)`. Nothing else compares a `user_id` or an `organization_id` with the
actor: a test (tests/test_access.py) fails on a file that does.

Policies:
- `Owned(column)`: a user's own rows (the column is the viewer's id).
- `Members(memberships, column, roles)`: rows of the organizations the viewer is a member of,
  in one of `roles` when given, and the rows of an API client's own organization. Membership is
  read in the same statement (a semi-join on `memberships`), so a removed member loses access
  at once, with no cache to expire and no extra round trip.
- `Published(column, otherwise)`: published rows (the column is not null) for everyone, the rest
  by `otherwise`.
- `Inherited(parent, key)`: a row is readable when its parent row (by `key`) is.
- `AnyOf(*policies)`: a row is readable when any of the policies allows it.

Actors (`core.context.Actor.kind`): a signed-in user reads by the policies; an API client reads
its organization's rows (`Members`) and no user's (`Owned`); a verified webhook sender reads
nothing through a policy (its handler looks up the rows the verified payload names, as the
system); the system (jobs, cron) reads every row: its statements name their own rows.

The condition comes in two forms: `readable(rows, actor)` binds the actor's values, for a
statement built per call; `readable(rows)` uses the named bind parameters `VIEWER` and
`CLIENT_ORGANIZATION`, for a statement rendered once per shape (`core.reads.Shape`), whose runs
take their values from `access_params(actor)`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from core.context import Actor, ActorKind
from core.reads import Shape

#: The bind parameter that carries the viewer's (a signed-in user's) id in shapes.
VIEWER = "viewer_id"
#: The bind parameter that carries an API client's organization in shapes.
CLIENT_ORGANIZATION = "client_organization_id"


def viewer_param() -> sa.BindParameter[Any]:
    """The viewer's id as a bind parameter (`VIEWER`), given with each run."""
    return sa.bindparam(VIEWER, type_=sa.Uuid())


def client_organization_param() -> sa.BindParameter[Any]:
    return sa.bindparam(CLIENT_ORGANIZATION, type_=sa.Uuid())


@dataclass(frozen=True)
class Who:
    """The actor as SQL values: the signed-in user's id and an API client's organization
    (either may be NULL, which matches no row)."""

    user_id: sa.ColumnElement[Any]
    organization_id: sa.ColumnElement[Any]


def _bound() -> Who:
    return Who(viewer_param(), client_organization_param())


def _of(actor: Actor) -> Who:
    user = actor.user_id if actor.kind is ActorKind.USER else None
    organization = actor.organization_id if actor.kind is ActorKind.API_CLIENT else None
    return Who(sa.literal(user, sa.Uuid()), sa.literal(organization, sa.Uuid()))


class Policy(Protocol):
    """The rows of a table an actor may read, as a condition on a row of it."""

    def condition(self, rows: Any, who: Who) -> sa.ColumnElement[bool]: ...


@dataclass(frozen=True)
class Owned:
    """A user's own rows: `column` is the viewer's id."""

    column: str = "user_id"

    def condition(self, rows: Any, who: Who) -> sa.ColumnElement[bool]:
        return rows.c[self.column] == who.user_id


@dataclass(frozen=True)
class Members:
    """Rows of the organizations the viewer is a member of (in one of `roles`, when given), and
    of an API client's own organization."""

    memberships: sa.Table
    column: str = "organization_id"
    roles: frozenset[str] | None = None

    def organizations(self, who: Who) -> sa.Select[Any]:
        """The organizations whose rows `who` reads, as a one-column SELECT."""
        m = self.memberships
        member = sa.select(m.c.organization_id).where(m.c.user_id == who.user_id)
        if self.roles is not None:
            member = member.where(m.c.role.in_(sorted(self.roles)))
        return member

    def condition(self, rows: Any, who: Who) -> sa.ColumnElement[bool]:
        column = rows.c[self.column]
        return sa.or_(column.in_(self.organizations(who)), column == who.organization_id)


@dataclass(frozen=True)
class Published:
    """Published rows (`column` not null) for everyone; the rest by `otherwise`."""

    otherwise: Policy
    column: str = "published_at"

    def condition(self, rows: Any, who: Who) -> sa.ColumnElement[bool]:
        return sa.or_(rows.c[self.column].is_not(None), self.otherwise.condition(rows, who))


@dataclass(frozen=True)
class Inherited:
    """Readable when the parent row that `key` names is."""

    parent: sa.Table
    key: str
    parent_key: str = "id"

    def condition(self, rows: Any, who: Who) -> sa.ColumnElement[bool]:
        parent = self.parent.alias()
        readable_parent = policy_of(self.parent).condition(parent, who)
        return sa.exists().where(parent.c[self.parent_key] == rows.c[self.key], readable_parent)


@dataclass(frozen=True, init=False)
class AnyOf:
    """Readable when any of `policies` allows it (the audit trail: its user's own events, and
    its organization's for the organization's admins)."""

    policies: tuple[Policy, ...]

    def __init__(self, *policies: Policy) -> None:
        if not policies:
            raise ValueError("AnyOf needs at least one policy")
        object.__setattr__(self, "policies", policies)

    def condition(self, rows: Any, who: Who) -> sa.ColumnElement[bool]:
        return sa.or_(*(policy.condition(rows, who) for policy in self.policies))


#: The policies of the tables, by table (declared once, next to each model).
_POLICIES: dict[sa.Table, Policy] = {}


def _table(model_or_table: Any) -> sa.Table:
    table = getattr(model_or_table, "__table__", model_or_table)
    if not isinstance(table, sa.Table):
        raise TypeError(f"{model_or_table!r} is not a table or a table model")
    return table


def declare(model_or_table: Any, policy: Policy) -> Policy:
    """Declare the read policy of a table (once); returns it."""
    table = _table(model_or_table)
    known = _POLICIES.get(table)
    if known is not None and known != policy:
        raise ValueError(f"the table {table.name} already has the read policy {known!r}")
    _POLICIES[table] = policy
    return policy


def policy_of(model_or_table: Any) -> Policy:
    table = _table(model_or_table)
    try:
        return _POLICIES[table]
    except KeyError:
        raise LookupError(f"the table {table.name} declares no read policy (core.access.declare)") from None


def declared() -> Mapping[sa.Table, Policy]:
    return dict(_POLICIES)


def _table_of(rows: Any) -> sa.Table:
    """The table behind `rows`: a table, a model, or an alias of either."""
    if isinstance(rows, sa.Table):
        return rows
    element = getattr(rows, "element", None)  # sa.Alias
    if isinstance(element, sa.Table):
        return element
    return _table(rows)


def readable(rows: Any, actor: Actor | None = None, *, table: Any = None) -> sa.ColumnElement[bool]:
    """The condition on `rows` (a table, a model's table, or an alias) of the rows the actor may
    read, by the table's declared policy. With no actor: the form with bind parameters
    (`access_params`), for shapes rendered once. `table` names the table when `rows` is a
    derived selectable."""
    policy = policy_of(table if table is not None else _table_of(rows))
    columns = rows if hasattr(rows, "c") else _table(rows)
    if actor is None:
        return policy.condition(columns, _bound())
    if actor.kind is ActorKind.SYSTEM:
        return sa.true()
    if actor.kind is ActorKind.WEBHOOK:
        return sa.false()
    return policy.condition(columns, _of(actor))


@functools.cache
def readable_rows(table: sa.Table) -> Shape:
    """Every column of the table's rows that the actor of a run may read (built once per table)."""
    return Shape(sa.select(table).where(readable(table)))


def access_params(actor: Actor) -> dict[str, Any]:
    """The values of the bind parameters of `readable(rows)` for `actor`."""
    return {
        VIEWER: actor.user_id if actor.kind is ActorKind.USER else None,
        CLIENT_ORGANIZATION: actor.organization_id if actor.kind is ActorKind.API_CLIENT else None,
    }


def undeclared(
    tables: Iterable[sa.Table], scoping_columns: Iterable[str] = ("user_id", "organization_id")
) -> list[str]:
    """The names of the tables with a scoping column but no declared policy."""
    columns = set(scoping_columns)
    return sorted(t.name for t in tables if columns & set(t.c.keys()) and t not in _POLICIES)


#: The policy of most tables: the rows of the signed-in user (`user_id`).
OWNED = Owned()


def quota_key(actor: Actor) -> str:
    """Whose budget a request spends (rate limits, connection caps): the user's id for a user
    (as before actor kinds), the client for an API client, the sender for a webhook."""
    if actor.kind is ActorKind.USER:
        return str(actor.user_id)
    return f"{actor.kind.value}:{actor.label or ''}"
