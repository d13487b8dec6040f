"""Who may read which rows: one read policy per table, and the one function that applies it.

Every table whose rows belong to someone declares its policy once, next to its model
(`declare(Model, OWNED)`), and every read (the kit's loaders, a service's lookup before a
write, the one-statement SQL form, `node`/`nodes`, live channels) takes its condition from
`readable(rows, actor)`. Nothing else compares a `user_id` or an `organization_id` with the
actor: a test (tests/test_access.py) fails on a file that does. Postgres's row-level security is
the second wall, should a read forget this one: each declared table has the database policy
`migrations.rls.condition_for` gives (core/rls.py tells Postgres the actor).

Policies:
- `Owned(column)`: a user's own rows (the column is the viewer's id).
- `Members(memberships, column, roles)`: rows of the organizations the viewer is a member of,
  in one of `roles` when given, and (without roles) the rows of an API client's own organization. Membership is
  read in the same statement (a semi-join on `memberships`), so a removed member loses access
  at once, with no cache to expire and no extra round trip.
- `Published(column, otherwise)`: published rows (the column is not null) for everyone, the rest
  by `otherwise`.
- `Inherited(parent, key)`: a row is readable when its parent row (by `key`) is.
- `Referenced(table, key, policy)`: a row is readable when a row of `table` naming it by `key`
  is readable (by `policy`, else by `table`'s own): a co-member's account, by the memberships.
- `AnyOf(*policies)`: a row is readable when any of the policies allows it.

A table may also hide some columns from some of the actors who read its rows
(`declare(User, policy, columns={"email": ...})`): each such column has a policy of its own, and
reads NULL to the others. `shown(rows, column)` is its value for the actor (the SQL form, a
loader's columns) and `readable_rows(table)` reads every column so.

Actors (`core.context.Actor.kind`): a signed-in user reads by the policies; an API client reads
its organization's rows (`Members`) and no user's (`Owned`); a verified webhook sender reads
nothing through a policy (its handler looks up the rows the verified payload names, as the
system); the system (jobs, cron) reads every row: its statements name their own rows.

The condition comes in two forms: `readable(rows, actor)` binds the actor's values, for a
statement built per call; `readable(rows)` uses the named bind parameters `VIEWER` and
`CLIENT_ORGANIZATION`, for a statement rendered once per shape (`core.reads.Shape`), whose runs
take their values from `access_params(actor)`.

Organizations: each kind (`OrganizationKind`: its roles, strongest first, and the roles that hold
each permission) is declared by the product that owns it and registered with its registration
(`core.products.Product.organization_kinds` -> `register_kinds`). `Members(..., permission=...)`
reads the rows of the organizations where the viewer's role holds a permission. Writes declare
their permission on the service (`requires`), which `authorize` checks in the unit of work's
transaction before the service runs: `NotFound` for a non-member (as for a missing row),
`Forbidden` with the permission and the roles that hold it for a member whose role lacks it.
"""

from __future__ import annotations

import functools
import inspect
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import sqlalchemy as sa

from core.context import Actor, ActorKind
from core.errors import Forbidden, NotFound
from core.reads import Shape

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

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
    """Rows of the organizations the viewer is a member of (in one of `roles`, when given), and,
    when the policy names no roles, of an API client's own organization."""

    memberships: sa.Table
    column: str = "organization_id"
    roles: frozenset[str] | None = None

    #: Instead of `roles`: the roles that hold this permission (`OrganizationKind.permissions`),
    #: in whichever kind of organization (see `roles_with_permission`).
    permission: str | None = None

    def __post_init__(self) -> None:
        if self.roles is not None and self.permission is not None:
            raise ValueError("Members takes `roles` or `permission`, not both")
        if self.permission is not None:
            _check_read_permissions(_KINDS, {*_READ_PERMISSIONS, self.permission})
            _READ_PERMISSIONS.add(self.permission)

    def organizations(self, who: Who) -> sa.Select[Any]:
        """The organizations whose rows `who` reads, as a one-column SELECT."""
        m = self.memberships
        # Never correlated: on the memberships table itself (its own policy), a correlated
        # subquery would compare each row's own `user_id` with the viewer's.
        member = sa.select(m.c.organization_id).where(m.c.user_id == who.user_id).correlate(None)
        roles = self.roles if self.permission is None else frozenset(roles_with_permission(self.permission))
        if roles is not None:
            member = member.where(m.c.role.in_(sorted(roles)))
        return member

    def condition(self, rows: Any, who: Who) -> sa.ColumnElement[bool]:
        column = rows.c[self.column]
        if self.roles is not None or self.permission is not None:
            # An API client holds no role: what an organization keeps for some roles (its
            # invitations, members' emails, audit trail, API clients and their keys) no client
            # reads, whatever its scopes.
            return column.in_(self.organizations(who))
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


@dataclass(frozen=True)
class Referenced:
    """Readable when a row of `table` that names it (by its column `key`) is readable, by
    `policy` or else by `table`'s own policy: a member's account, through the memberships the
    viewer reads (its co-members'), and with `Members(..., permission=...)` only where the
    viewer's role holds a permission."""

    table: sa.Table
    key: str
    policy: Policy | None = None
    column: str = "id"

    def condition(self, rows: Any, who: Who) -> sa.ColumnElement[bool]:
        naming = self.table.alias()
        policy = self.policy if self.policy is not None else policy_of(self.table)
        found = sa.select(naming.c[self.key]).where(policy.condition(naming, who)).correlate(None)
        return rows.c[self.column].in_(found)


#: The policies of the tables, by table (declared once, next to each model).
_POLICIES: dict[sa.Table, Policy] = {}


def table_of(rows: Any) -> sa.Table:
    """The table behind `rows`: a table, a table model, or an alias of either."""
    if isinstance(rows, sa.Table):
        return rows
    for behind in (getattr(rows, "element", None), getattr(rows, "__table__", None)):  # an alias; a model
        if isinstance(behind, sa.Table):
            return behind
    raise TypeError(f"{rows!r} is not a table, a table model or an alias of one")


#: Per table, the columns that some actors who read the row may not see, and who may (`declare`).
_COLUMN_POLICIES: dict[sa.Table, Mapping[str, Policy]] = {}


def declare(model_or_table: Any, policy: Policy, *, columns: Mapping[str, Policy] | None = None) -> Policy:
    """Declare the read policy of a table (once); returns it.

    `columns`: the columns that not every reader of a row may see, each with the policy of the
    rows whose value it shows (a member's email: to themself and the roles that may read it);
    to anyone else the column reads NULL, in every read (`shown`, `readable_rows`)."""
    table = table_of(model_or_table)
    known = _POLICIES.get(table)
    if known is not None and known != policy:
        raise ValueError(f"the table {table.name} already has the read policy {known!r}")
    hidden = MappingProxyType(dict(columns or {}))
    unknown = sorted(set(hidden) - set(table.c.keys()))
    if unknown:
        raise ValueError(f"the table {table.name} has no column {', '.join(unknown)}")
    if set(hidden) & {column.name for column in table.primary_key}:
        raise ValueError(f"the primary key of {table.name} can't be hidden: it identifies the readable rows")
    known_columns = _COLUMN_POLICIES.get(table)
    if known_columns is not None and dict(known_columns) != dict(hidden):
        raise ValueError(f"the table {table.name} already declares the policies of its columns")
    _POLICIES[table] = policy
    if hidden:
        _COLUMN_POLICIES[table] = hidden
    return policy


def policy_of(model_or_table: Any) -> Policy:
    table = table_of(model_or_table)
    try:
        return _POLICIES[table]
    except KeyError:
        raise LookupError(f"the table {table.name} declares no read policy (core.access.declare)") from None


def column_policies(model_or_table: Any) -> Mapping[str, Policy]:
    """The policies of a table's hidden columns, by column (none: every reader sees every column)."""
    return _COLUMN_POLICIES.get(table_of(model_or_table), MappingProxyType({}))


def declared() -> Mapping[sa.Table, Policy]:
    return dict(_POLICIES)


def _condition(policy: Policy, rows: Any, actor: Actor | None) -> sa.ColumnElement[bool]:
    """`policy` on `rows` for `actor`; with no actor, the form with bind parameters."""
    if actor is None:
        return policy.condition(rows, _bound())
    if actor.kind is ActorKind.SYSTEM:
        return sa.true()
    if actor.kind is ActorKind.WEBHOOK:
        return sa.false()
    return policy.condition(rows, _of(actor))


def readable(rows: Any, actor: Actor | None = None, *, table: Any = None) -> sa.ColumnElement[bool]:
    """The condition on `rows` (a table, a model's table, or an alias) of the rows the actor may
    read, by the table's declared policy. With no actor: the form with bind parameters
    (`access_params`), for shapes rendered once. `table` names the table when `rows` is a
    derived selectable."""
    policy = policy_of(table if table is not None else table_of(rows))
    return _condition(policy, rows if hasattr(rows, "c") else table_of(rows), actor)


def holds(
    rows: Any, memberships: sa.Table, permission: str, *, column: str = "organization_id"
) -> sa.ColumnElement[bool]:
    """The condition that the viewer's role, in the organization the row's `column` names, holds
    `permission`, with bind parameters (`access_params`): for a field of a readable row that only
    some of its readers may see, in the one-statement form (null to the others, as its resolver
    answers). An API client holds no role, so it is false for one."""
    return Members(memberships, column=column, permission=permission).condition(rows, _bound())


def shown(rows: Any, column: str, actor: Actor | None = None, *, table: Any = None) -> sa.ColumnElement[Any]:
    """The value of `column` of a readable row of `rows` as the actor may see it: the column, or
    NULL where its declared column policy (`declare(..., columns=...)`) hides it from the actor."""
    source = table_of(table if table is not None else rows)
    columns = rows if hasattr(rows, "c") else source
    policy = column_policies(source).get(column)
    if policy is None:
        return cast(sa.ColumnElement[Any], columns.c[column])
    value = columns.c[column]
    return sa.case((_condition(policy, columns, actor), value), else_=sa.null())


@functools.cache
def readable_rows(table: sa.Table) -> Shape:
    """The rows of the table that the actor of a run may read, each column as the actor may see
    it (`shown`), built once per table."""
    hidden = column_policies(table)
    columns = [shown(table, column.name).label(column.name) if column.name in hidden else column for column in table.c]
    return Shape(sa.select(*columns).where(readable(table)))


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


# ----------------------------------------------------------------------------- organization kinds

#: The platform's permissions on memberships: every kind of organization says who holds them.
INVITE = "members.invite"
REMOVE = "members.remove"
CHANGE_ROLE = "members.change_role"
READ_EMAIL = "members.read_email"
AUDIT_READ = "audit.read"
DELETE = "organization.delete"
MANAGE_CLIENTS = "api_clients.manage"
#: What each platform permission allows (the README's permission matrix shows them).
MEMBERSHIP_PERMISSIONS: Mapping[str, str] = MappingProxyType(
    {
        INVITE: "invite people by email, read the organization's invitations (`Organization.invitations`, "
        "`node`), revoke them",
        REMOVE: "remove a member",
        CHANGE_ROLE: "change a member's role",
        READ_EMAIL: "see the members' email addresses (`User.email`; others see null, and each member their own)",
        AUDIT_READ: "read the organization's audit trail (`Organization.auditTrail`)",
        DELETE: "delete the organization, its memberships and invitations (`deleteOrganization`)",
        MANAGE_CLIENTS: "create, change, rotate and revoke the organization's API clients and their keys, read "
        "them (`Organization.apiClients`, `node`)",
    }
)

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_PERMISSION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True)
class OrganizationKind:
    """One kind of organization, declared by the product that owns it and registered with its
    `core.products.Product.organization_kinds`: its roles, strongest first (the first is the
    owner role, which the last-owner rule protects), and the roles that hold each permission.

    Every kind says who holds the platform's `MEMBERSHIP_PERMISSIONS`; the owner role holds
    every permission of its kind, so that an organization can never lock its owners out.
    A member may act only on members of a role no stronger than their own, and give only such a
    role (so an admin can neither remove an owner nor make themself one).
    """

    name: str
    roles: tuple[str, ...]
    #: permission -> the roles that hold it (kept in the order of `roles`)
    permissions: Mapping[str, tuple[str, ...]]
    description: str = ""
    #: Whether `createOrganization` makes organizations of this kind; a product whose
    #: organizations need more than a name creates them through its own mutation.
    creatable: bool = True
    #: What each of the kind's own permissions (beyond the platform's `MEMBERSHIP_PERMISSIONS`)
    #: allows, for the README's permission matrix: every such permission must say.
    meanings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"organization kind {self.name!r}"
        if not _NAME.match(self.name):
            raise ValueError(f"{where}: a name is lower-case letters, digits and _ (at most 32)")
        if not self.roles or len(set(self.roles)) != len(self.roles):
            raise ValueError(f"{where}: roles must be given, each once")
        for role in self.roles:
            if not _NAME.match(role):
                raise ValueError(f"{where}: the role {role!r} is not lower-case letters, digits and _ (at most 32)")
        missing = sorted(set(MEMBERSHIP_PERMISSIONS) - set(self.permissions))
        if missing:
            raise ValueError(f"{where}: it must say which roles hold {', '.join(missing)}")
        normalized: dict[str, tuple[str, ...]] = {}
        for permission, holders in self.permissions.items():
            if not _PERMISSION.match(permission):
                raise ValueError(f"{where}: the permission {permission!r} is not dotted lower-case names")
            unknown = sorted(set(holders) - set(self.roles))
            if unknown:
                raise ValueError(f"{where}: {permission} names roles it does not have: {', '.join(unknown)}")
            if self.owner not in holders:
                raise ValueError(f"{where}: the owner role {self.owner!r} must hold {permission}")
            normalized[permission] = tuple(role for role in self.roles if role in holders)
        unexplained = sorted(set(normalized) - set(MEMBERSHIP_PERMISSIONS) - set(self.meanings))
        if unexplained:
            raise ValueError(f"{where}: it must say what {', '.join(unexplained)} allows (`meanings`)")
        object.__setattr__(self, "permissions", MappingProxyType(normalized))

    def __hash__(self) -> int:
        return hash((self.name, self.roles, tuple(sorted(self.permissions.items()))))

    def meaning(self, permission: str) -> str:
        """What `permission` allows, as the matrix says it."""
        return MEMBERSHIP_PERMISSIONS.get(permission) or self.meanings.get(permission, "")

    @property
    def owner(self) -> str:
        """The owner role: the first, the strongest."""
        return self.roles[0]

    def roles_with(self, permission: str) -> tuple[str, ...]:
        """The roles that hold `permission`, strongest first (none: the kind does not know it)."""
        return self.permissions.get(permission, ())

    def allows(self, role: str, permission: str) -> bool:
        return role in self.roles_with(permission)

    def rank(self, role: str) -> int:
        """0 for the owner role, 1 for the next..."""
        return self.roles.index(role)


#: The registered kinds, by name (`register_kinds`, from the product registrations).
_KINDS: dict[str, OrganizationKind] = {}
#: The permissions a read policy names (`Members(permission=...)`).
_READ_PERMISSIONS: set[str] = set()


def register_kinds(kinds: Iterable[OrganizationKind]) -> None:
    """Make kinds known (`core.products.Registry` registers its products'); registering an equal
    kind again changes nothing, another kind of a known name is refused."""
    registered = dict(_KINDS)
    for kind in kinds:
        known = registered.get(kind.name)
        if known is not None and known != kind:
            raise ValueError(f"two different organization kinds are named {kind.name!r}")
        registered[kind.name] = kind
    _check_read_permissions(registered, _READ_PERMISSIONS)
    _KINDS.update(registered)


def organization_kind(name: str) -> OrganizationKind | None:
    return _KINDS.get(name)


def organization_kinds() -> Mapping[str, OrganizationKind]:
    return MappingProxyType(_KINDS)


def roles_with_permission(permission: str) -> tuple[str, ...]:
    """Every role name that holds `permission` in some registered kind (sorted).

    Reads check a role by name alone (in the statement's semi-join on `memberships`, and in the
    database's policies), not by kind: so a role name that two kinds share must hold a permission
    that a read policy names in both or in neither (`register_kinds` refuses otherwise)."""
    return _holders(_KINDS, permission)


def _holders(kinds: Mapping[str, OrganizationKind], permission: str) -> tuple[str, ...]:
    return tuple(sorted({role for kind in kinds.values() for role in kind.roles_with(permission)}))


def _check_read_permissions(kinds: Mapping[str, OrganizationKind], permissions: Iterable[str]) -> None:
    for permission in sorted(permissions):
        holders = set(_holders(kinds, permission))
        for kind in kinds.values():
            wrong = sorted((holders & set(kind.roles)) - set(kind.roles_with(permission)))
            if wrong:
                raise ValueError(
                    f"organization kind {kind.name!r}: its role(s) {', '.join(wrong)} lack {permission}, which "
                    "the same role names hold in another kind; reads check roles by name, so rename them"
                )


# ----------------------------------------------------------------------------- write permissions


@dataclass(frozen=True)
class MembershipTables:
    """The platform's organizations (`id`, `kind`) and memberships (`organization_id`,
    `user_id`, `role`), which permission checks read."""

    organizations: sa.Table
    memberships: sa.Table


_MEMBERSHIP_TABLES: list[MembershipTables] = []


def declare_memberships(organizations: Any, memberships: Any) -> None:
    """Name the organizations and memberships tables (once, next to their models)."""
    tables = MembershipTables(table_of(organizations), table_of(memberships))
    if _MEMBERSHIP_TABLES and _MEMBERSHIP_TABLES[0] != tables:
        raise ValueError("the membership tables are already declared")
    _MEMBERSHIP_TABLES[:] = [tables]


def membership_tables() -> MembershipTables:
    if not _MEMBERSHIP_TABLES:
        raise LookupError("no membership tables are declared (core.access.declare_memberships)")
    return _MEMBERSHIP_TABLES[0]


def own_memberships(rows: Any, actor: Actor) -> sa.ColumnElement[bool]:
    """The condition on memberships `rows` of the actor's own (not every membership it reads:
    those of its co-members too); none for an actor that is no signed-in user."""
    return rows.c.user_id == _of(actor).user_id


@dataclass(frozen=True)
class Authorized:
    """What a permission check found: the organization, its kind, the actor's membership and role
    in it (None for the system) and the row the check went through (`via`; else the organization)."""

    organization_id: uuid.UUID
    kind: OrganizationKind
    role: str | None
    target_id: uuid.UUID
    membership_id: uuid.UUID | None = None

    def outranks(self, role: str) -> bool:
        """Whether the actor's role is stronger than `role` (the system outranks every role)."""
        return self.role is None or self.kind.rank(self.role) < self.kind.rank(role)

    def may_act_on(self, role: str) -> bool:
        """Whether the actor may act on a member of `role`, or give it: not a stronger role."""
        return self.role is None or self.kind.rank(self.role) <= self.kind.rank(role)


async def authorize(
    session: AsyncSession,
    actor: Actor,
    permission: str | None,
    pk: uuid.UUID,
    *,
    field: str,
    via: Any = None,
    lock: bool = False,
    noun: str = "organization",
) -> Authorized:
    """Check that `actor` is a member of the organization `pk` names (the organization itself, or
    a row of the table `via` by its `organization_id`) whose role holds `permission` (None: any
    member), in the unit of work's transaction, and return what it found.

    A missing row and another organization's row are the same `NotFound` (field `field`); a
    member whose role lacks the permission gets `Forbidden` naming it and the roles that hold
    it. Only a signed-in user holds roles; the system passes every check, an API client or a
    webhook none. `lock` locks the organization's row until the transaction ends, so that
    membership changes of one organization happen one after the other (the last-owner rule
    would otherwise let two owners demote each other at once).
    """
    tables = membership_tables()
    # Aliased: `via` may be the memberships table itself (a member to remove).
    o, m = tables.organizations, tables.memberships.alias("actor_membership")
    user = actor.user_id if actor.kind is ActorKind.USER else None
    own_membership = sa.and_(m.c.organization_id == o.c.id, m.c.user_id == sa.literal(user, sa.Uuid()))
    if via is None:
        source: Any = o
        key = o.c.id
    else:
        target = table_of(via)
        source = target.join(o, o.c.id == target.c.organization_id)
        key = target.c.id
    statement = (
        sa.select(
            key.label("target_id"), o.c.id.label("organization_id"), o.c.kind, m.c.role, m.c.id.label("membership_id")
        )
        .select_from(source.outerjoin(m, own_membership))
        .where(key == pk)
    )
    if lock:
        statement = statement.with_for_update(of=o)
    row = (await session.execute(statement)).one_or_none()
    missing = NotFound(f"No {noun} with this `{field}`", field=["input", field])
    if row is None:
        raise missing
    kind = _KINDS.get(row.kind)
    if kind is None:
        raise LookupError(f"no registered product declares the organization kind {row.kind!r}")
    if actor.kind is ActorKind.SYSTEM:
        return Authorized(row.organization_id, kind, None, row.target_id)
    if row.role is None:
        raise missing  # another organization's row answers exactly like a missing one
    if permission is not None and not kind.allows(row.role, permission):
        holders = kind.roles_with(permission)
        raise Forbidden(
            f"Your role here ({row.role}) does not hold the permission {permission}; "
            f"{', '.join(holders) if holders else 'no role'} do(es)",
            permission=permission,
            roles=holders,
        )
    return Authorized(row.organization_id, kind, row.role, row.target_id, row.membership_id)


@dataclass(frozen=True)
class Requirement:
    """What a guarded service requires (`requires`): the permission (None: membership alone) in
    the organization its keyword argument `argument` names (or names a row of `via` of)."""

    permission: str | None
    argument: str
    field: str
    via: sa.Table | None = None
    lock: bool = False


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

#: The attribute of a guarded service that holds its `Requirement`.
REQUIREMENT = "__requires__"


def requires(
    permission: str | None,
    *,
    organization: str,
    field: str,
    via: Any = None,
    lock: bool = False,
    noun: str = "organization",
) -> Callable[[F], F]:
    """Declare a service's write permission where the mutation is: before the service runs (in
    the same transaction), `authorize` checks that the actor's role in the organization that the
    keyword argument `organization` names (an organization's id, or with `via` the id of a row of
    that table) holds `permission`; None asks for membership alone.

    The service then gets what the check found as its keyword argument `authorized`, if it has
    one (give it the default None, for the type checker's sake; `granted` reads it).
    """
    requirement = Requirement(permission, organization, field, None if via is None else table_of(via), lock)

    def decorate(function: F) -> F:
        parameters = inspect.signature(function).parameters
        if organization not in parameters:
            raise TypeError(f"{function.__qualname__} has no argument {organization!r} to check")
        injects = "authorized" in parameters

        @functools.wraps(function)
        async def guarded(session: AsyncSession, *args: Any, actor: Actor, **kwargs: Any) -> Any:
            authorized = await authorize(
                session, actor, permission, kwargs[organization], field=field, via=via, lock=lock, noun=noun
            )
            if injects:
                kwargs["authorized"] = authorized
            return await function(session, *args, actor=actor, **kwargs)

        setattr(guarded, REQUIREMENT, requirement)
        return cast(F, guarded)

    return decorate


def requirement_of(function: Any) -> Requirement | None:
    """The `Requirement` a service was declared with, if any."""
    found: Requirement | None = getattr(function, REQUIREMENT, None)
    return found


def granted(authorized: Authorized | None) -> Authorized:
    """The `authorized` a guarded service was given (a service called without its guard has none)."""
    if authorized is None:
        raise RuntimeError("called without its permission check (core.access.requires)")
    return authorized
