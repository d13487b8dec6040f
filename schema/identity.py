"""Identity: users, sessions and the viewer's own profile."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from core.relay import to_global_id
from core.sqljson import python_only_type
from models.identity import Role
from schema.common import MutationError, Node


@strawberry.enum(description="A user's global role across all products.")
class UserRole(Enum):
    USER = strawberry.enum_value(Role.USER.value, description="A member of any product.")
    CREATOR = strawberry.enum_value(Role.CREATOR.value, description="May publish to marketplaces.")
    ADMIN = strawberry.enum_value(Role.ADMIN.value, description="Operates the platform.")


@python_only_type(why="Its rows are read through `services.identity.readable_users`, not yet a kit read policy.")
@strawberry.type(description="A person with an account; the same account serves every product.")
class User(Node):
    pk: strawberry.Private[uuid.UUID]
    email: str = strawberry.field(description="Sign-in email, as the user typed it.")
    display_name: str = strawberry.field(description="Name shown to others.")
    purpose: str | None = strawberry.field(description="What the user is here for (Aletheia profile).")
    offering: str | None = strawberry.field(description="What the user offers others (Aletheia profile).")
    role: UserRole = strawberry.field(description="Global role.")
    created_at: datetime = strawberry.field(description="When the account was created.")

    @classmethod
    def from_row(cls, row: Any) -> User:
        return cls(
            id=strawberry.ID(to_global_id("User", row.id)),
            pk=row.id,
            email=row.email,
            display_name=row.display_name,
            purpose=row.purpose,
            offering=row.offering,
            role=UserRole(row.role),
            created_at=row.created_at,
        )


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
