"""Sign-in and registration limits: per client address, per account from one address, per account
from every address; refused before any password is hashed; counted in memory or in Redis (shared
by every app that uses it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette

import core.security
from app import create_app
from tests.aurum.test_insight_platform import REDIS_URL, redis_or_skip
from tests.conftest import make_settings
from tests.identity.conftest import SESSION, new_email
from tests.support import PASSWORD, GraphQLClient

ERRORS = "errors { __typename code message ... on RateLimitedError { retryAfterSeconds limit } }"
LOGIN = f"mutation($i: LoginInput!) {{ login(input: $i) {{ session {{ accessToken }} {ERRORS} }} }}"
REGISTER = f"mutation($i: RegisterInput!) {{ register(input: $i) {{ {SESSION} {ERRORS} }} }}"


class CountingHasher(PasswordHasher):
    """The real argon2 hasher, counting how often it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.runs += 1
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.runs += 1
        return super().verify(hash, password)


@pytest.fixture
def argon2(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    hasher = CountingHasher()
    monkeypatch.setattr(core.security, "_hasher", hasher)
    return hasher


@pytest.fixture(params=["memory", "redis"])
async def redis_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "redis":
        await redis_or_skip()
        return REDIS_URL
    return None


def new_address() -> str:
    """A client address of our own: counts left in Redis by other tests and runs never meet it."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


class Clients:
    """One app; a GraphQL client per client address."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.open: list[httpx.AsyncClient] = []

    def at(self, address: str) -> GraphQLClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self.open.append(http)
        return GraphQLClient(http)


@asynccontextmanager
async def limited_app(database_url: str, data_dir: Path, **limits: Any) -> AsyncIterator[Clients]:
    app = create_app(make_settings(database_url, data_dir, **limits))
    async with app.router.lifespan_context(app):
        clients = Clients(app)
        try:
            yield clients
        finally:
            for http in clients.open:
                await http.aclose()


async def login(gql: GraphQLClient, email: str, password: str) -> tuple[dict[str, Any], dict[str, Any]]:
    response = await gql(LOGIN, {"i": {"email": email, "password": password}})
    return response.data["login"], response.body.get("extensions", {})


async def register(gql: GraphQLClient, email: str) -> dict[str, Any]:
    input = {"email": email, "password": PASSWORD, "displayName": "Limited"}
    payload: dict[str, Any] = (await gql(REGISTER, {"i": input})).data["register"]
    return payload


def assert_rate_limited(payload: dict[str, Any], limit: str, *, result: str = "session") -> None:
    assert payload[result] is None
    [error] = payload["errors"]
    assert (error["__typename"], error["code"], error["limit"]) == ("RateLimitedError", "RATE_LIMITED", limit)
    assert 1 <= error["retryAfterSeconds"] <= 60
    assert f"try again in {error['retryAfterSeconds']} s" in error["message"]


async def test_failed_sign_ins_to_one_account_from_one_address_are_limited_before_hashing(
    database_url: str, data_dir: Path, redis_url: str | None, argon2: CountingHasher
) -> None:
    async with limited_app(
        database_url, data_dir, redis_url=redis_url, auth_rate_limit_per_account="3/minute"
    ) as clients:
        attacker, owner = clients.at(new_address()), clients.at(new_address())
        email = new_email("victim")
        assert (await register(owner, email))["errors"] == []
        # Given three wrong passwords from one address (each checked by argon2)
        for _ in range(3):
            payload, _ = await login(attacker, email, "wrong password!")
            assert [e["code"] for e in payload["errors"]] == ["INVALID_CREDENTIALS"]
        runs = argon2.runs
        # When it tries again, with a wrong password or even the right one
        for password in ("wrong password!", PASSWORD):
            payload, extensions = await login(attacker, email, password)
            # Then it is refused, saying when to retry, and no password was hashed
            assert_rate_limited(payload, "3 per 1 minute")
            assert extensions["rateLimit"]["code"] == "RATE_LIMITED"
        assert argon2.runs == runs
        # The same email in another case is the same account
        payload, _ = await login(attacker, email.upper(), PASSWORD)
        assert_rate_limited(payload, "3 per 1 minute")
        # While the owner, at another address, still signs in (no lockout by others' failures)
        payload, _ = await login(owner, email, PASSWORD)
        assert payload["errors"] == []
        assert payload["session"]["accessToken"]


async def test_failed_sign_ins_to_one_account_from_many_addresses_are_limited_together(
    database_url: str, data_dir: Path, redis_url: str | None, argon2: CountingHasher
) -> None:
    async with limited_app(
        database_url, data_dir, redis_url=redis_url, auth_rate_limit_per_account_total="3/minute"
    ) as clients:
        email = new_email("spread")
        assert (await register(clients.at(new_address()), email))["errors"] == []
        # Given three failures from three addresses
        for _ in range(3):
            payload, _ = await login(clients.at(new_address()), email, "wrong password!")
            assert [e["code"] for e in payload["errors"]] == ["INVALID_CREDENTIALS"]
        runs = argon2.runs
        # When a fourth address tries, then it is refused before hashing
        payload, _ = await login(clients.at(new_address()), email, "wrong password!")
        assert_rate_limited(payload, "3 per 1 minute")
        assert argon2.runs == runs
        # Successful sign-ins do not count: another account is unaffected
        other = new_email("other")
        assert (await register(clients.at(new_address()), other))["errors"] == []
        payload, _ = await login(clients.at(new_address()), other, PASSWORD)
        assert payload["errors"] == []


async def test_attempts_from_one_address_are_limited_for_login_and_register(
    database_url: str, data_dir: Path, redis_url: str | None, argon2: CountingHasher
) -> None:
    async with limited_app(
        database_url, data_dir, redis_url=redis_url, auth_rate_limit_per_address="3/minute"
    ) as clients:
        address = new_address()
        flooder = clients.at(address)
        email = new_email("flood")
        # Given a registration and two sign-ins (successful ones count too) from one address
        assert (await register(flooder, email))["errors"] == []
        for _ in range(2):
            payload, _ = await login(flooder, email, PASSWORD)
            assert payload["errors"] == []
        runs = argon2.runs
        # When it registers or signs in again, then both are refused before hashing
        assert_rate_limited(await register(flooder, new_email()), "3 per 1 minute")
        payload, _ = await login(flooder, email, PASSWORD)
        assert_rate_limited(payload, "3 per 1 minute")
        assert argon2.runs == runs
        # While another address is not
        payload, _ = await login(clients.at(new_address()), email, PASSWORD)
        assert payload["errors"] == []


async def test_an_ipv6_client_is_counted_by_its_64_network(
    database_url: str, data_dir: Path, argon2: CountingHasher
) -> None:
    prefix = f"2001:db8:{uuid.uuid4().int % 65536:x}:{uuid.uuid4().int % 65536:x}"
    async with limited_app(database_url, data_dir, auth_rate_limit_per_address="2/minute") as clients:
        email = new_email("six")
        assert (await register(clients.at(f"{prefix}::1"), email))["errors"] == []
        payload, _ = await login(clients.at(f"{prefix}::2"), email, PASSWORD)
        assert payload["errors"] == []
        # A third address of the same /64 shares the count
        payload, _ = await login(clients.at(f"{prefix}:ffff:ffff:ffff:ffff"), email, PASSWORD)
        assert_rate_limited(payload, "2 per 1 minute")


async def test_two_apps_on_one_redis_share_the_counts(database_url: str, data_dir: Path) -> None:
    await redis_or_skip()
    limits = {"redis_url": REDIS_URL, "auth_rate_limit_per_address": "2/minute"}
    async with (
        limited_app(database_url, data_dir, **limits) as one,
        limited_app(database_url, data_dir, **limits) as two,
    ):
        address, email = new_address(), new_email("shared")
        # Given one attempt on each app from the same address
        assert (await register(one.at(address), email))["errors"] == []
        payload, _ = await login(two.at(address), email, PASSWORD)
        assert payload["errors"] == []
        # Then the next one, on either, is refused
        payload, _ = await login(one.at(address), email, PASSWORD)
        assert_rate_limited(payload, "2 per 1 minute")


async def test_delete_account_password_guesses_are_limited_per_account(
    database_url: str, data_dir: Path, argon2: CountingHasher
) -> None:
    # A stolen access token can't be used to guess the password through deleteAccount either
    async with limited_app(database_url, data_dir, auth_rate_limit_per_account="3/minute") as clients:
        thief = clients.at(new_address())
        owner = await thief.sign_up(display_name="Victim")
        delete = f"mutation($i: DeleteAccountInput!) {{ deleteAccount(input: $i) {{ deletedId {ERRORS} }} }}"
        for _ in range(3):
            payload = (await thief(delete, {"i": {"password": "wrong password!"}}, token=owner.token)).data
            assert [e["code"] for e in payload["deleteAccount"]["errors"]] == ["INVALID_CREDENTIALS"]
        runs = argon2.runs
        for password in ("wrong password!", PASSWORD):
            payload = (await thief(delete, {"i": {"password": password}}, token=owner.token)).data["deleteAccount"]
            assert_rate_limited(payload, "3 per 1 minute", result="deletedId")
        assert argon2.runs == runs
        # The account is still there
        assert (await thief("{ viewer { user { displayName } } }", token=owner.token)).data["viewer"]["user"] == {
            "displayName": "Victim"
        }
