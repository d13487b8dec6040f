"""Identity: users, sessions and the viewer's own profile."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from models import identity as models
from models.identity import Role
from schema import kit
from schema.common import MutationError, Node


@strawberry.enum(description="A user's global role across all products.")
class UserRole(Enum):
    USER = strawberry.enum_value(Role.USER.value, description="A member of any product.")
    CREATOR = strawberry.enum_value(Role.CREATOR.value, description="May publish to marketplaces.")
    ADMIN = strawberry.enum_value(Role.ADMIN.value, description="Operates the platform.")


@kit.node(
    model=models.User,
    key="User",
    description="A person with an account; the same account serves every product. Readable by themself and by "
    "the members of the organizations they are in, who see what the fields say.",
)
class User(Node, kit.FromRow):
    email: str | None = kit.column(
        description="Sign-in email, as the user typed it: shown to the user and to the members whose role holds "
        "`members.read_email` in an organization they share; null to anyone else."
    )
    display_name: str = kit.column(description="Name shown to others.")
    purpose: str | None = kit.column(description="What the user is here for (Aletheia profile).")
    offering: str | None = kit.column(description="What the user offers others (Aletheia profile).")
    role: UserRole | None = kit.column(description="Global role: shown to the user only, null to anyone else.")
    created_at: datetime = kit.column(description="When the account was created.")


@strawberry.type(description="Tokens for a signed-in session.")
class AuthSession:
    user: User = strawberry.field(description="The signed-in user.")
    access_token: str = strawberry.field(description="Short-lived JWT: send as `Authorization: Bearer …`.")
    access_token_expires_at: datetime = strawberry.field(description="When the access token expires.")
    refresh_token: str = strawberry.field(
        description="Single-use secret for `refreshToken`; keep it private. Reusing one revokes the sign-in."
    )
    refresh_token_expires_at: datetime = strawberry.field(description="When the refresh token expires.")


@strawberry.type(description="Result of `register`, `login` and `refreshToken`.")
class AuthPayload:
    session: AuthSession | None = strawberry.field(description="The new session, unless `errors`.")
    errors: list[MutationError] = strawberry.field(description="Why no session was started.")


@strawberry.input(description="A new account.")
class RegisterInput:
    email: str = strawberry.field(description="Sign-in email; unique regardless of case.")
    password: str = strawberry.field(description="At least 10 characters.")
    display_name: str = strawberry.field(description="Name shown to others.")
    purpose: str | None = strawberry.field(default=None, description="Optional profile purpose.")
    offering: str | None = strawberry.field(default=None, description="Optional profile offering.")


@strawberry.input(description="Email and password.")
class LoginInput:
    email: str = strawberry.field(description="Sign-in email (any case).")
    password: str = strawberry.field(description="The account's password.")


@strawberry.input(description="A refresh token to exchange for a new session.")
class RefreshTokenInput:
    refresh_token: str = strawberry.field(description="The refresh token from the last session.")


@strawberry.input(description="End a session, or all of them.")
class LogoutInput:
    refresh_token: str | None = strawberry.field(
        default=None, description="Refresh token of the session to end (its whole sign-in is ended)."
    )
    everywhere: bool = strawberry.field(default=False, description="End every session of the viewer.")


@strawberry.type(description="Result of `logout`.")
class LogoutPayload:
    revoked_sessions: int = strawberry.field(description="How many refresh tokens were revoked.")
    errors: list[MutationError] = strawberry.field(description="Why nothing was revoked, if so.")


@strawberry.input(description="Changes to the viewer's profile; omitted fields stay as they are.")
class UpdateProfileInput:
    display_name: str | None = strawberry.field(default=strawberry.UNSET, description="New display name.")
    purpose: str | None = strawberry.field(default=strawberry.UNSET, description="New purpose; null clears it.")
    offering: str | None = strawberry.field(default=strawberry.UNSET, description="New offering; null clears it.")


@strawberry.type(description="Result of `updateProfile`.")
class UpdateProfilePayload:
    user: User | None = strawberry.field(description="The updated user.")
    errors: list[MutationError] = strawberry.field(description="Why nothing changed, if so.")


@strawberry.input(description="Delete the viewer's account.")
class DeleteAccountInput:
    password: str = strawberry.field(description="The account's password, asked again.")
