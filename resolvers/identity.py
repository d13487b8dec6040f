"""Identity resolvers: register, login, refreshToken, logout, updateProfile (`viewer` is the
platform's: schema/viewer.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor
from core.errors import RateLimited
from core.ratelimit import client_address
from core.replicas import user_mark
from resolvers.support import output_id
from schema.common import Ctx, DeletePayload, InputArg, changes_of, mutation_errors, report_rate_limits
from schema.identity import (
    AuthPayload,
    AuthSession,
    DeleteAccountInput,
    LoginInput,
    LogoutInput,
    LogoutPayload,
    RefreshTokenInput,
    RegisterInput,
    UpdateProfileInput,
    UpdateProfilePayload,
    User,
)
from services import identity
from services.identity import Session


def _auth_payload(outcome_value: Session | None, errors: list) -> AuthPayload:
    if outcome_value is None:
        return AuthPayload(session=None, errors=mutation_errors(errors))
    return AuthPayload(
        session=AuthSession(
            user=User.from_row(outcome_value.user),
            access_token=outcome_value.access_token,
            access_token_expires_at=outcome_value.access_token_expires_at,
            refresh_token=outcome_value.refresh_token,
            refresh_token_expires_at=outcome_value.refresh_token_expires_at,
        ),
        errors=[],
    )


def _refresh_ttl(info: Ctx) -> timedelta:
    return timedelta(seconds=info.context.settings.refresh_token_ttl_seconds)


async def _refused(info: Ctx, *, account: str | None) -> AuthPayload | None:
    """The RATE_LIMITED payload when this client (or this account) tried too often; None otherwise.
    Checked before any password is hashed."""
    try:
        await info.context.auth_limits.attempt(address=client_address(info.context.request), account=account)
    except RateLimited as refused:
        report_rate_limits(info, [refused])
        return _auth_payload(None, [refused])
    return None


async def register(info: Ctx, input: Annotated[RegisterInput, InputArg]) -> AuthPayload:
    ctx = info.context
    if refused := await _refused(info, account=None):
        return refused

    async def work(session: AsyncSession) -> Session:
        return await identity.register(
            session,
            tokens=ctx.tokens,
            refresh_ttl=_refresh_ttl(info),
            email=input.email,
            password=input.password,
            display_name=input.display_name,
            purpose=input.purpose,
            offering=input.offering,
        )

    # Nobody is signed in yet: the system finds the account (by its email, its token).
    outcome = await ctx.system_unit_of_work(work, label="register")
    if outcome.value is not None:  # the new user's first reads come right after (a read replica)
        ctx.wrote_for.add(user_mark(outcome.value.user.id))
    return _auth_payload(outcome.value, outcome.errors)


async def login(info: Ctx, input: Annotated[LoginInput, InputArg]) -> AuthPayload:
    ctx = info.context
    account = identity.account_key(input.email)
    if refused := await _refused(info, account=account):
        return refused

    async def work(session: AsyncSession) -> Session:
        return await identity.login(
            session, tokens=ctx.tokens, refresh_ttl=_refresh_ttl(info), email=input.email, password=input.password
        )

    # Nobody is signed in yet: the system finds the account (by its email, its token).
    outcome = await ctx.system_unit_of_work(work, label="login")
    if any(isinstance(error, identity.InvalidCredentials) for error in outcome.errors):
        await ctx.auth_limits.failed(address=client_address(ctx.request), account=account)
    return _auth_payload(outcome.value, outcome.errors)


async def refresh_token(info: Ctx, input: Annotated[RefreshTokenInput, InputArg]) -> AuthPayload:
    ctx = info.context

    async def work(session: AsyncSession) -> Session:
        return await identity.refresh(
            session, tokens=ctx.tokens, refresh_ttl=_refresh_ttl(info), refresh_token=input.refresh_token
        )

    # Nobody is signed in yet: the system finds the account (by its email, its token).
    outcome = await ctx.system_unit_of_work(work, label="refreshToken")
    return _auth_payload(outcome.value, outcome.errors)


async def logout(info: Ctx, input: Annotated[LogoutInput, InputArg]) -> LogoutPayload:
    async def work(session: AsyncSession, actor: Actor) -> int:
        return await identity.logout(
            session, actor=actor, refresh_token=input.refresh_token, everywhere=input.everywhere
        )

    outcome = await info.context.actor_unit_of_work(work)
    return LogoutPayload(revoked_sessions=outcome.value or 0, errors=mutation_errors(outcome.errors))


async def update_profile(info: Ctx, input: Annotated[UpdateProfileInput, InputArg]) -> UpdateProfilePayload:
    changes = changes_of(input, skip=())

    async def work(session: AsyncSession, actor: Actor) -> User:
        return User.from_row(await identity.update_profile(session, actor=actor, changes=changes))

    outcome = await info.context.actor_unit_of_work(work)
    return UpdateProfilePayload(user=outcome.value, errors=mutation_errors(outcome.errors))


async def delete_account(info: Ctx, input: Annotated[DeleteAccountInput, InputArg]) -> DeletePayload:
    ctx = info.context
    # The password is asked again: under the sign-in limits, per address and per account (by id:
    # the viewer's email is not read before the unit of work).
    account = None if ctx.actor is None else f"user:{ctx.actor.user_id}"
    if account is not None and (refused := await _refused(info, account=account)):
        return DeletePayload(deleted_id=None, errors=refused.errors)

    async def work(session: AsyncSession, actor: Actor) -> strawberry.ID:
        deleted = await identity.delete_account(session, actor=actor, password=input.password)
        return strawberry.ID(output_id(User, deleted))

    outcome = await ctx.actor_unit_of_work(work)
    if account is not None and any(isinstance(error, identity.InvalidCredentials) for error in outcome.errors):
        await ctx.auth_limits.failed(address=client_address(ctx.request), account=account)
    return DeletePayload(deleted_id=outcome.value, errors=mutation_errors(outcome.errors))


@strawberry.type(description="Identity mutations.")
class IdentityMutation:
    register: AuthPayload = strawberry.mutation(
        resolver=register,
        description=(
            "Create an account and sign in to it. Limited per client address (RATE_LIMITED says when to retry)."
        ),
    )
    login: AuthPayload = strawberry.mutation(
        resolver=login,
        description=(
            "Sign in. A wrong password and an unknown email give the same INVALID_CREDENTIALS error. Limited per "
            "client address and failed sign-ins per account (RATE_LIMITED says when to retry)."
        ),
    )
    refresh_token: AuthPayload = strawberry.mutation(
        resolver=refresh_token,
        description="Exchange a refresh token for a new session; the old token is spent.",
    )
    logout: LogoutPayload = strawberry.mutation(
        resolver=logout, description="End a session (its refresh token family) or all of them."
    )
    update_profile: UpdateProfilePayload = strawberry.mutation(
        resolver=update_profile, description="Change the viewer's profile."
    )
    delete_account: DeletePayload = strawberry.mutation(
        resolver=delete_account,
        description="Delete the viewer's account and everything that is theirs, after asking the password again "
        "(under the sign-in limits, RATE_LIMITED says when to retry). Refused with LAST_OWNER while the viewer is "
        "the last owner of an organization: hand ownership over (`changeMemberRole`) or delete it "
        "(`deleteOrganization`) first.",
    )
