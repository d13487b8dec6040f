"""Accounts and sessions: registration, sign-in, refresh-token rotation, sign-out."""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from core import access
from core.access import table_of
from core.context import ACCOUNT_GONE, Actor
from core.errors import DomainError, ErrorCode, LastOwner, Unauthenticated, ValidationFailed
from core.security import (
    TokenService,
    hash_password,
    hash_refresh_secret,
    new_refresh_secret,
    password_needs_rehash,
    verify_password,
)
from core.writes import WriteShape
from models.audit import AuditOperation
from models.identity import RefreshToken, Role, User
from services import audit
from services.inputs import clean_text

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256


class InvalidCredentials(DomainError):
    code = ErrorCode.INVALID_CREDENTIALS


class EmailTaken(DomainError):
    code = ErrorCode.EMAIL_TAKEN


class RefreshTokenInvalid(DomainError):
    code = ErrorCode.REFRESH_TOKEN_INVALID


class RefreshTokenReused(DomainError):
    code = ErrorCode.REFRESH_TOKEN_REUSED
    keep_changes = True  # the revocation of the family must survive the error


@dataclass(frozen=True)
class Session:
    """What a successful sign-in or refresh hands the client."""

    user: User
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime


def normalize_email(email: str) -> str:
    return email.strip()


def account_key(email: str) -> str:
    """The account an email names, as sign-in finds it (case-insensitively): the key of its rate limits."""
    return normalize_email(email).lower()


@functools.cache
def _refresh_token_insert(audited: bool) -> WriteShape:
    """The INSERT of a refresh token, with its audit event in the same statement when `audited`
    (`audit.how_to_record`): one round trip, and no ORM object or flush, per sign-in."""
    rows = table_of(RefreshToken)
    inserted = (
        sa.insert(rows)
        .values({column.name: sa.bindparam(column.name, type_=column.type) for column in rows.columns})
        .returning(*rows.columns)
        .cte("written")
    )
    statement = sa.select(*(inserted.c[column.name] for column in rows.columns))
    if audited:
        statement = statement.add_cte(audit.event_in_statement(RefreshToken, AuditOperation.CREATE, new=inserted))
    return WriteShape(statement)


async def _issue_session(
    session: AsyncSession,
    tokens: TokenService,
    user: User,
    *,
    refresh_ttl: timedelta,
    family_id: uuid.UUID | None = None,
) -> Session:
    secret = new_refresh_secret()
    now = datetime.now(UTC)
    expires_at = now + refresh_ttl
    refresh: dict[str, Any] = {
        "id": uuid.uuid4(),
        "user_id": user.id,
        "family_id": family_id or uuid.uuid4(),
        "token_hash": hash_refresh_secret(secret),
        "created_at": now,
        "expires_at": expires_at,
        "used_at": None,
        "revoked_at": None,
    }
    # The unit of work's changes so far (a rehashed password, a used refresh token) are written
    # first: their events then come before this one's (`audit.how_to_record`).
    await session.flush()
    how = audit.how_to_record(session)
    params = dict(refresh)
    if how is audit.Audit.IN_STATEMENT:
        params.update(audit.event_params(session))
    [row] = await _refresh_token_insert(how is audit.Audit.IN_STATEMENT).fetch(session, params)
    if how is audit.Audit.RECORD:
        audit.record(session, RefreshToken, AuditOperation.CREATE, row=dict(row.items()))
    access, expires = tokens.issue(user_id=user.id, role=user.role)
    return Session(
        user=user,
        access_token=access,
        access_token_expires_at=datetime.fromtimestamp(expires, UTC),
        refresh_token=secret,
        refresh_token_expires_at=expires_at,
    )


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    # By the id the database's `quintet_account_id` finds (as the owner): under row-level security
    # the index on lower(email) can't serve `lower(email) = ...` (migrations/rls.py).
    account = sa.select(sa.func.quintet_account_id(account_key(email))).scalar_subquery()
    statement = sa.select(User).where(col(User.id) == account)
    return (await session.execute(statement)).scalar_one_or_none()


async def register(
    session: AsyncSession,
    *,
    tokens: TokenService,
    refresh_ttl: timedelta,
    email: str,
    password: str,
    display_name: str,
    purpose: str | None = None,
    offering: str | None = None,
) -> Session:
    email = normalize_email(email)
    if not EMAIL_PATTERN.match(email) or len(email) > 320:
        raise ValidationFailed("Enter a valid email address", field=["input", "email"])
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"Password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            field=["input", "password"],
        )
    name = display_name.strip()
    if not 1 <= len(name) <= 120:
        raise ValidationFailed("Display name must be 1 to 120 characters", field=["input", "displayName"])
    user = User(
        email=email,
        display_name=name,
        purpose=clean_text(purpose, field="purpose", max_length=2000, required=False),
        offering=clean_text(offering, field="offering", max_length=2000, required=False),
        role=Role.USER.value,
        password_hash=await hash_password(password),
    )
    # ON CONFLICT keeps a concurrent duplicate from surfacing as an integrity error.
    inserted = await session.execute(_insert_user_statement(user))
    if inserted.scalar_one_or_none() is None:
        raise EmailTaken("An account with this email cannot be created", field=["input", "email"])
    stored = await session.get_one(User, user.id)
    audit.act_as(session, audit.signed_in(stored.id, stored.role, "password"))
    audit.record(session, User, AuditOperation.CREATE, row=_columns(stored))
    return await _issue_session(session, tokens, stored, refresh_ttl=refresh_ttl)


def _columns(row: User) -> dict[str, Any]:
    return {column.name: getattr(row, column.name) for column in User.__table__.columns}  # type: ignore[attr-defined]


def _insert_user_statement(user: User) -> sa.Insert:
    from sqlalchemy.dialects.postgresql import insert

    return (
        insert(User)
        .values(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            purpose=user.purpose,
            offering=user.offering,
            role=user.role,
            password_hash=user.password_hash,
        )
        .on_conflict_do_nothing()
        .returning(col(User.id))
        .execution_options(**audit.RECORDED)
    )


async def login(
    session: AsyncSession,
    *,
    tokens: TokenService,
    refresh_ttl: timedelta,
    email: str,
    password: str,
) -> Session:
    user = await find_user_by_email(session, email)
    # verify_password runs argon2 even for an unknown email, so timing does not tell.
    if not await verify_password(user.password_hash if user else None, password) or user is None:
        raise InvalidCredentials("Email or password is incorrect")
    audit.act_as(session, audit.signed_in(user.id, user.role, "password"))
    if password_needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
    return await _issue_session(session, tokens, user, refresh_ttl=refresh_ttl)


async def _revoke(session: AsyncSession, condition: sa.ColumnElement[bool]) -> int:
    """Revoke the live refresh tokens that `condition` names (recorded in the audit trail); how many."""
    revoked = await session.execute(
        sa.update(RefreshToken)
        .where(condition, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=sa.func.now())
        .returning(col(RefreshToken.id), col(RefreshToken.user_id), col(RefreshToken.revoked_at))
        .execution_options(**audit.RECORDED)
    )
    rows = revoked.mappings().all()
    for row in rows:
        audit.record(
            session,
            RefreshToken,
            AuditOperation.UPDATE,
            row=row,
            before={"revoked_at": None},
            after={"revoked_at": row["revoked_at"]},
        )
    return len(rows)


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await _revoke(session, col(RefreshToken.family_id) == family_id)


async def refresh(
    session: AsyncSession,
    *,
    tokens: TokenService,
    refresh_ttl: timedelta,
    refresh_token: str,
) -> Session:
    statement = (
        sa.select(RefreshToken)
        .where(col(RefreshToken.token_hash) == hash_refresh_secret(refresh_token))
        .with_for_update()
    )
    stored = (await session.execute(statement)).scalar_one_or_none()
    now = datetime.now(UTC)
    if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
        raise RefreshTokenInvalid("Refresh token is not valid; sign in again")
    user = await session.get_one(User, stored.user_id)
    audit.act_as(session, audit.signed_in(user.id, user.role, "refresh_token"))
    if stored.used_at is not None:
        await _revoke_family(session, stored.family_id)
        raise RefreshTokenReused("Refresh token was already used; all sessions of this sign-in are revoked")
    stored.used_at = now
    return await _issue_session(session, tokens, user, refresh_ttl=refresh_ttl, family_id=stored.family_id)


async def logout(
    session: AsyncSession,
    *,
    actor: Actor,
    refresh_token: str | None,
    everywhere: bool,
) -> int:
    """Revoke the refresh token's family, or every family of the actor; returns how many."""
    condition: sa.ColumnElement[bool]
    if everywhere:
        condition = access.readable(RefreshToken, actor)
    elif refresh_token:
        family = (
            sa.select(col(RefreshToken.family_id))
            .where(
                col(RefreshToken.token_hash) == hash_refresh_secret(refresh_token),
                access.readable(RefreshToken, actor),
            )
            .scalar_subquery()
        )
        condition = col(RefreshToken.family_id) == family
    else:
        raise ValidationFailed("Pass the refresh token to end, or `everywhere: true`", field=["input", "refreshToken"])
    revoked = await _revoke(session, condition)
    if revoked == 0 and await session.get(User, actor.user_id) is None:
        raise Unauthenticated(ACCOUNT_GONE)
    return revoked


async def update_profile(
    session: AsyncSession,
    *,
    actor: Actor,
    changes: dict[str, str | None],
) -> User:
    """Apply the given profile changes; a `None` value clears an optional field."""
    user = await session.get(User, actor.user_id)
    if user is None:
        raise Unauthenticated(ACCOUNT_GONE)
    if "display_name" in changes:
        name = (changes["display_name"] or "").strip()
        if not 1 <= len(name) <= 120:
            raise ValidationFailed("Display name must be 1 to 120 characters", field=["input", "displayName"])
        user.display_name = name
    for name in ("purpose", "offering"):
        if name in changes:
            setattr(user, name, clean_text(changes[name], field=name, max_length=2000, required=False))
    user.updated_at = datetime.now(UTC)
    await session.flush()
    return user


async def delete_account(session: AsyncSession, *, actor: Actor, password: str) -> uuid.UUID:
    """Delete the actor's account, with everything that is theirs (the foreign keys to `users`
    cascade: memberships, sessions, every product's rows; who invited or created keeps NULL).

    The password is asked again. The last owner of an organization may not leave it ownerless:
    `LAST_OWNER` names every such organization, until ownership is handed over
    (`changeMemberRole` to the owner role) or the organization is deleted (`deleteOrganization`).
    The audit trail records the deletion (its events stay: they have no foreign key)."""
    from services import organizations  # it imports this module (emails, account keys)

    user = await session.get(User, actor.user_id)
    if user is None:
        raise Unauthenticated(ACCOUNT_GONE)
    if not await verify_password(user.password_hash, password):
        raise InvalidCredentials("The password is incorrect", field=["input", "password"])
    owned = await organizations.solely_owned(session, actor=actor)
    if owned:
        slugs = ", ".join(o.slug for o in owned)
        raise LastOwner(
            f"You are the last owner of {slugs}: make another member an owner, or delete the organization, first",
            organizations=[(o.id, o.slug) for o in owned],
        )
    await organizations.left_everywhere(session, actor=actor)
    await session.delete(user)
    await session.flush()
    return user.id
