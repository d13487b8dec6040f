"""argon2 is slow on purpose; it must not stall every other request while it runs."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Literal

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, Type, extract_parameters
from sqlalchemy.ext.asyncio import AsyncSession

from core import security
from core.security import hash_password, password_needs_rehash, verify_password
from tests.identity.conftest import users_with_email
from tests.support import PASSWORD, GraphQLClient


async def test_hashing_round_trip_and_dummy_check() -> None:
    # Given a hash; then the right password verifies, a wrong one and a missing hash do not
    stored = await hash_password(PASSWORD)
    assert stored.startswith("$argon2")
    assert await verify_password(stored, PASSWORD)
    assert not await verify_password(stored, PASSWORD + "!")
    assert not await verify_password(None, PASSWORD)


async def test_sign_ins_do_not_block_the_event_loop(gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Deterministic, not a stopwatch: a hash is held half-way (at argon2's boundary) while the
    # loop is asked to answer other requests.
    me = await gql.sign_up()
    hashing, release = threading.Event(), threading.Event()
    niceness: list[int] = []

    class HeldHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            hashing.set()
            assert release.wait(30), "the hash was never released"
            return super().verify(hash, password)

    monkeypatch.setattr(security, "_hasher", HeldHasher())
    login = "mutation($i: LoginInput!) { login(input: $i) { errors { code } } }"
    # When a sign-in is in the middle of its hash
    signing_in = asyncio.create_task(gql(login, {"i": {"email": me.email, "password": PASSWORD}}))
    assert await asyncio.to_thread(hashing.wait, 30)
    try:
        # Then the event loop still answers other requests meanwhile
        assert (await gql("{ __typename }")).data == {"__typename": "Query"}
        assert not signing_in.done()
    finally:
        release.set()
    assert (await signing_in).data["login"]["errors"] == []
    # And the hash ran below the loop's CPU priority: argon2's lane threads (4 per hash, which
    # inherit it) used to compete as equals with the loop's single thread and stall it
    [hashing_niceness] = niceness
    assert hashing_niceness > os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


async def test_argon2_runs_on_another_thread_than_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []

    class RecordingHasher(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            threads.append(threading.get_ident())
            return super().hash(password, salt=salt)

        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            threads.append(threading.get_ident())
            return super().verify(hash, password)

    monkeypatch.setattr(security, "_hasher", RecordingHasher())
    # When a password is hashed and verified, and an unknown account's dummy check runs
    stored = await hash_password(PASSWORD)
    assert await verify_password(stored, PASSWORD)
    assert not await verify_password(None, PASSWORD)
    # Then argon2 ran three times, never on the event loop's thread
    assert len(threads) == 3
    assert threading.get_ident() not in threads


async def test_hashes_are_made_with_owasps_argon2id_setting() -> None:
    # Given a new hash; then it is argon2id at 19 MiB, 2 passes, 1 lane (OWASP's Password Storage Cheat Sheet)
    parameters = extract_parameters(await hash_password(PASSWORD))
    assert (parameters.type, parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        Type.ID,
        19 * 1024,
        2,
        1,
    )


async def test_a_hash_with_older_parameters_signs_in_and_is_replaced(gql: GraphQLClient, session: AsyncSession) -> None:
    # Given an account whose stored hash was made with argon2-cffi's former defaults (64 MiB, 3 passes, 4 lanes)
    me = await gql.sign_up()
    older = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4).hash(PASSWORD)
    await session.execute(
        sa.text("UPDATE users SET password_hash = :hash WHERE lower(email) = lower(:email)"),
        {"hash": older, "email": me.email},
    )
    await session.commit()
    login = "mutation($i: LoginInput!) { login(input: $i) { errors { code } session { accessToken } } }"
    # When its owner signs in, then a wrong password is still refused and the right one signs in
    wrong = await gql(login, {"i": {"email": me.email, "password": PASSWORD + "!"}})
    assert [e["code"] for e in wrong.data["login"]["errors"]] == ["INVALID_CREDENTIALS"]
    assert (await gql(login, {"i": {"email": me.email, "password": PASSWORD}})).data["login"]["errors"] == []
    # And the stored hash is now one with the current parameters, of the same password
    [row] = await users_with_email(session, me.email)
    assert row.password_hash != older
    assert not password_needs_rehash(row.password_hash)
    assert extract_parameters(row.password_hash).memory_cost == 19 * 1024
    assert await verify_password(row.password_hash, PASSWORD)
