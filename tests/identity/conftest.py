"""Identity fixtures: accounts and sessions through the public mutations, rows read back from Postgres."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.relay import parse_global_id
from tests.support import PASSWORD, GraphQLClient

SESSION = """session {
  accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt
  user { id email displayName purpose offering role }
}"""

VIEWER = "{ viewer { user { id email displayName purpose offering role } } }"


def new_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def user_pk(global_id: str) -> uuid.UUID:
    return parse_global_id(global_id, "User")


class Accounts:
    """Register, sign in, rotate and end sessions over GraphQL; every call returns the payload."""

    def __init__(self, gql: GraphQLClient) -> None:
        self.gql = gql

    async def register(
        self,
        *,
        email: str | None = None,
        password: str = PASSWORD,
        display_name: str = "Tester",
        **profile: str | None,
    ) -> dict[str, Any]:
        input = {"email": email or new_email(), "password": password, "displayName": display_name, **profile}
        return await self.gql.call("register", input, SESSION, token=None)

    async def session(self, **fields: Any) -> dict[str, Any]:
        """A new account's session (asserting the registration succeeded)."""
        payload = await self.register(**fields)
        assert payload["errors"] == [], payload["errors"]
        session: dict[str, Any] = payload["session"]
        return session

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        return await self.gql.call("login", {"email": email, "password": password}, SESSION, token=None)

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        return await self.gql.call("refreshToken", {"refreshToken": refresh_token}, SESSION, token=None)

    async def logout(self, token: str | None, **input: Any) -> dict[str, Any]:
        return await self.gql.call("logout", input, "revokedSessions", token=token)

    async def update_profile(self, token: str | None, **input: Any) -> dict[str, Any]:
        return await self.gql.call(
            "updateProfile", input, "user { id email displayName purpose offering role }", token=token
        )

    async def viewer(self, token: str | None) -> dict[str, Any] | None:
        viewer: dict[str, Any] | None = (await self.gql(VIEWER, token=token)).data["viewer"]
        return viewer


@pytest.fixture
def accounts(gql: GraphQLClient) -> Accounts:
    return Accounts(gql)


async def users_with_email(session: AsyncSession, email: str) -> list[sa.Row[Any]]:
    """Every users row whose email matches regardless of case."""
    result = await session.execute(
        sa.text("SELECT id, email, password_hash, purpose, offering FROM users WHERE lower(email) = lower(:email)"),
        {"email": email},
    )
    return list(result.all())
