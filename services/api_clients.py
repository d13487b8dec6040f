"""API clients: a partner's application, created, rotated, changed and revoked by the members of
its organization whose role holds `api_clients.manage` (declared on each service); its keys.

A key (`core.api_keys`: `qnt_…`, random, with a checksum) is returned once, by `create_api_client`
and `rotate_api_client_key`; only its HMAC-SHA256 under API_KEY_SECRET is stored. Rotation makes a
new key and keeps the client's other usable keys valid for a grace period (default 24 hours, at
most 30 days; 0 ends them at once), after which they are refused as expired. Revoking a client
revokes every key of it. Each change is recorded in the audit trail (the hash redacted) and,
after commit, makes every process forget the client's verified keys (`core.api_keys.
invalidate_after_commit`), so a revoked key is refused by the very next request anywhere.

`find_key` and `touch_key` are what `core.api_keys.ApiKeys` is given: the look-up of a key by its
hash (one statement, as the system: nobody is signed in yet) and the write of its last use.
Writes flush and never commit (the resolver's unit of work does).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from core.access import MANAGE_CLIENTS, requires
from core.api_keys import KeyRecord, display_prefix, hash_key, invalidate_after_commit, new_key
from core.context import Actor
from core.db import reader
from core.errors import Conflict, NotFound, ValidationFailed
from core.pagination import Sort
from core.reads import Shape
from core.rls import acting_as_system
from models.api_clients import DOCUMENT_POLICIES, SCOPE_PATTERN, ApiClient, ApiClientKey
from models.organizations import Organization
from services.inputs import required_text, utcnow

#: How long the keys a rotation replaces stay valid, unless it says otherwise, and at most.
DEFAULT_GRACE_SECONDS = 24 * 3600
MAX_GRACE_SECONDS = 30 * 24 * 3600
#: Keys of one client that may be usable at once (rotations within one grace period).
MAX_USABLE_KEYS = 10
_SCOPE = re.compile(SCOPE_PATTERN)

_clients = ApiClient.__table__  # type: ignore[attr-defined]
_keys = ApiClientKey.__table__  # type: ignore[attr-defined]

#: The orders of an organization's API clients and of a client's keys.
CLIENT_SORTS = {
    "CREATED_AT_ASC": Sort("created_at_asc", _clients.c.created_at, datetime, False),
    "CREATED_AT_DESC": Sort("created_at_desc", _clients.c.created_at, datetime, True),
    "NAME_ASC": Sort("name_asc", _clients.c.name, str, False),
}
KEY_SORTS = {
    "CREATED_AT_DESC": Sort("created_at_desc", _keys.c.created_at, datetime, True),
    "CREATED_AT_ASC": Sort("created_at_asc", _keys.c.created_at, datetime, False),
}


def valid_scopes() -> list[str]:
    """Every scope a client may hold: `<product>:read` and `<product>:write` of each registered
    product that gives the graph a root field, a viewer field or a node type."""
    from products import PRODUCTS  # the registrations import this module's callers

    names = sorted(
        p.name
        for p in PRODUCTS
        if p.query is not None or p.mutation is not None or p.subscription is not None or p.viewer or p.node_types
    )
    return [f"{name}:{verb}" for name in names for verb in ("read", "write")]


def clean_scopes(scopes: list[str], field: str = "scopes") -> list[str]:
    known = set(valid_scopes())
    cleaned: list[str] = []
    for scope in scopes:
        value = scope.strip().lower()
        if not _SCOPE.match(value) or value not in known:
            raise ValidationFailed(
                f"Unknown scope {scope!r}: a scope is a product and read or write, one of {', '.join(sorted(known))}",
                field=["input", field],
            )
        if value not in cleaned:
            cleaned.append(value)
    return sorted(cleaned)


def clean_policy(policy: str, field: str = "documentPolicy") -> str:
    value = policy.strip().lower()
    if value not in DOCUMENT_POLICIES:
        raise ValidationFailed(
            f"A document policy is one of {', '.join(DOCUMENT_POLICIES)}; not {policy!r}", field=["input", field]
        )
    return value


def _grace(seconds: int | None) -> timedelta:
    value = DEFAULT_GRACE_SECONDS if seconds is None else seconds
    if not 0 <= value <= MAX_GRACE_SECONDS:
        raise ValidationFailed(
            f"The grace period is 0 to {MAX_GRACE_SECONDS} seconds (30 days)", field=["input", "graceSeconds"]
        )
    return timedelta(seconds=value)


@dataclass(frozen=True)
class IssuedKey:
    """A client with a key just made: the key exists nowhere else (only its hash is stored)."""

    client: ApiClient
    key: ApiClientKey
    secret: str


def _issue(session: AsyncSession, client: ApiClient, actor: Actor, secret: bytes) -> tuple[ApiClientKey, str]:
    plain = new_key()
    key = ApiClientKey(
        client_id=client.id,
        organization_id=client.organization_id,
        prefix=display_prefix(plain),
        key_hash=hash_key(secret, plain),
        created_by=actor.user_id if actor.is_user else None,
    )
    session.add(key)
    return key, plain


async def _insert_client(session: AsyncSession, client: ApiClient) -> None:
    try:
        async with session.begin_nested():
            session.add(client)
            await session.flush()
    except IntegrityError as error:
        if "uq_api_clients_organization_id_name" not in str(error.orig):
            raise
        raise Conflict("This organization already has an API client of this name", field=["input", "name"]) from None


@requires(MANAGE_CLIENTS, organization="organization_id", field="organizationId")
async def create_api_client(
    session: AsyncSession,
    *,
    actor: Actor,
    organization_id: uuid.UUID,
    name: str,
    scopes: list[str],
    document_policy: str,
    secret: bytes,
) -> IssuedKey:
    """A new client of the organization, with its first key."""
    client = ApiClient(
        organization_id=organization_id,
        name=required_text(name, field="name", max_length=100),
        scopes=clean_scopes(scopes),
        document_policy=clean_policy(document_policy),
        created_by=actor.user_id if actor.is_user else None,
    )
    await _insert_client(session, client)
    key, plain = _issue(session, client, actor, secret)
    await session.flush()
    return IssuedKey(client, key, plain)


async def _client(session: AsyncSession, client_id: uuid.UUID) -> ApiClient:
    """The client (locked: one change at a time), found by the guard already."""
    client = await session.get(ApiClient, client_id, with_for_update=True)
    if client is None:  # the guard found it: deleted with its organization meanwhile
        raise NotFound("No API client has this id", field=["input", "clientId"])
    return client


def _still_active(client: ApiClient) -> None:
    if client.revoked_at is not None:
        raise Conflict("This API client was revoked: create a new one", field=["input", "clientId"])


async def _usable_keys(session: AsyncSession, client_id: uuid.UUID, now: datetime) -> list[ApiClientKey]:
    statement = (
        sa.select(ApiClientKey)
        .where(
            col(ApiClientKey.client_id) == client_id,
            col(ApiClientKey.revoked_at).is_(None),
            sa.or_(col(ApiClientKey.expires_at).is_(None), col(ApiClientKey.expires_at) > now),
        )
        .order_by(col(ApiClientKey.created_at))
        .with_for_update()
    )
    return list((await session.execute(statement)).scalars())


@requires(MANAGE_CLIENTS, organization="client_id", via=ApiClient, field="clientId", noun="API client")
async def rotate_api_client_key(
    session: AsyncSession, *, actor: Actor, client_id: uuid.UUID, grace_seconds: int | None, secret: bytes
) -> IssuedKey:
    """A new key; the client's other usable keys stay valid for the grace period, then expire."""
    grace = _grace(grace_seconds)
    client = await _client(session, client_id)
    _still_active(client)
    now = utcnow()
    usable = await _usable_keys(session, client_id, now)
    ends = now + grace
    if len([k for k in usable if grace.total_seconds() > 0]) >= MAX_USABLE_KEYS:
        raise Conflict(
            f"This client already has {MAX_USABLE_KEYS} usable keys: rotate with a shorter grace period "
            "(graceSeconds: 0 ends the old keys now)",
            field=["input", "graceSeconds"],
        )
    for old in usable:
        if old.expires_at is None or old.expires_at > ends:
            old.expires_at = ends
    key, plain = _issue(session, client, actor, secret)
    await session.flush()
    invalidate_after_commit(session, client.id)
    return IssuedKey(client, key, plain)


@requires(MANAGE_CLIENTS, organization="client_id", via=ApiClient, field="clientId", noun="API client")
async def revoke_api_client(session: AsyncSession, *, actor: Actor, client_id: uuid.UUID) -> ApiClient:
    """Revoke the client and every key of it, at once (a revoked client stays, for the record)."""
    client = await _client(session, client_id)
    _still_active(client)
    now = utcnow()
    client.revoked_at = now
    keys = (
        await session.execute(
            sa.select(ApiClientKey)
            .where(col(ApiClientKey.client_id) == client_id, col(ApiClientKey.revoked_at).is_(None))
            .with_for_update()
        )
    ).scalars()
    for key in keys:
        key.revoked_at = now
    await session.flush()
    invalidate_after_commit(session, client.id)
    return client


@requires(MANAGE_CLIENTS, organization="client_id", via=ApiClient, field="clientId", noun="API client")
async def update_api_client(
    session: AsyncSession,
    *,
    actor: Actor,
    client_id: uuid.UUID,
    name: str | None = None,
    scopes: list[str] | None = None,
    document_policy: str | None = None,
) -> ApiClient:
    """Change the given ones of a client's name, scopes and document policy (its keys act with
    the new scopes from the next request on)."""
    client = await _client(session, client_id)
    _still_active(client)
    if name is not None:
        client.name = required_text(name, field="name", max_length=100)
    if scopes is not None:
        client.scopes = clean_scopes(scopes)
    if document_policy is not None:
        client.document_policy = clean_policy(document_policy)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        if "uq_api_clients_organization_id_name" not in str(error.orig):
            raise
        raise Conflict("This organization already has an API client of this name", field=["input", "name"]) from None
    invalidate_after_commit(session, client.id)
    return client


async def clients_of(session: AsyncSession, organization_id: uuid.UUID) -> list[tuple[ApiClient, list[ApiClientKey]]]:
    """Every client of an organization with its keys (the command line's `clients list`, as the system)."""
    clients = (
        await session.execute(
            sa.select(ApiClient)
            .where(col(ApiClient.organization_id) == organization_id)
            .order_by(col(ApiClient.created_at))
        )
    ).scalars()
    listed = []
    for client in clients:
        keys = (
            await session.execute(
                sa.select(ApiClientKey)
                .where(col(ApiClientKey.client_id) == client.id)
                .order_by(col(ApiClientKey.created_at))
            )
        ).scalars()
        listed.append((client, list(keys)))
    return listed


async def organization_by_slug(session: AsyncSession, slug: str) -> Organization | None:
    statement = sa.select(Organization).where(col(Organization.slug) == slug.strip().lower())
    return (await session.execute(statement)).scalar_one_or_none()


async def client_by_name_or_id(session: AsyncSession, organization_id: uuid.UUID, name_or_id: str) -> ApiClient | None:
    try:
        pk: uuid.UUID | None = uuid.UUID(name_or_id)
    except ValueError:
        pk = None
    condition = col(ApiClient.name) == name_or_id.strip()
    if pk is not None:
        condition = sa.or_(condition, col(ApiClient.id) == pk)
    statement = sa.select(ApiClient).where(col(ApiClient.organization_id) == organization_id, condition)
    return (await session.execute(statement)).scalars().first()


# --------------------------------------------------------------------- authentication


#: A key and its client by the key's hash (one statement, on the hash's unique index).
_FIND = Shape(
    sa.select(
        _keys.c.id.label("key_id"),
        _keys.c.key_hash,
        _keys.c.client_id,
        _keys.c.organization_id,
        _keys.c.expires_at,
        _keys.c.revoked_at,
        _keys.c.last_used_at,
        sa.func.array_to_string(_clients.c.scopes, " ").label("scopes"),
        _clients.c.document_policy,
        _clients.c.revoked_at.label("client_revoked_at"),
    )
    .select_from(_keys.join(_clients, _clients.c.id == _keys.c.client_id))
    .where(_keys.c.key_hash == sa.bindparam("key_hash", type_=sa.LargeBinary()))
)


def key_finder(engine: AsyncEngine) -> Any:
    """`core.api_keys.Lookup` on `engine`: the key of a hash, read as the system (nobody is
    signed in yet: the key is what says who is)."""

    async def find_key(key_hash: bytes) -> KeyRecord | None:
        with acting_as_system():
            async with reader(engine).connect() as conn:
                rows = await _FIND.fetch(conn, {"key_hash": key_hash})
        if not rows:
            return None
        row = rows[0]
        return KeyRecord(
            key_id=row.key_id,
            key_hash=bytes(row.key_hash),
            client_id=row.client_id,
            organization_id=row.organization_id,
            scopes=frozenset(row.scopes.split()) if row.scopes else frozenset(),
            trusted_documents_only=row.document_policy != "any",
            expires_at=row.expires_at,
            revoked=row.revoked_at is not None,
            client_revoked=row.client_revoked_at is not None,
            last_used_at=row.last_used_at,
        )

    return find_key


def key_toucher(engine: AsyncEngine) -> Any:
    """`core.api_keys.Touch` on `engine`: a key's and its client's `last_used_at` set to now,
    unless another process did within the minute (one statement; bookkeeping, not audited)."""
    fresh = sa.text("now() - interval '60 seconds'")

    async def touch_key(key_id: uuid.UUID) -> None:
        touched = (
            sa.update(_keys)
            .where(_keys.c.id == key_id, sa.or_(_keys.c.last_used_at.is_(None), _keys.c.last_used_at < fresh))
            .values(last_used_at=sa.func.now())
            .returning(_keys.c.client_id)
            .cte("touched")
        )
        statement = (
            sa.update(_clients)
            .where(
                _clients.c.id.in_(sa.select(touched.c.client_id)),
                sa.or_(_clients.c.last_used_at.is_(None), _clients.c.last_used_at < fresh),
            )
            .values(last_used_at=sa.func.now())
        )
        with acting_as_system():
            async with engine.begin() as conn:
                await conn.execute(statement)

    return touch_key
