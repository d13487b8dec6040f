"""argon2 is slow on purpose; it must not stall every other request while it runs."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Literal

import pytest
from argon2 import PasswordHasher

import core.security
from core.security import hash_password, verify_password
from tests.support import PASSWORD, GraphQLClient


async def test_hashing_round_trip_and_dummy_check() -> None:
    # Given a hash; then the right password verifies, a wrong one and a missing hash do not
    stored = await hash_password(PASSWORD)
    assert stored.startswith("$argon2")
    assert await verify_password(stored, PASSWORD)
    assert not await verify_password(stored, PASSWORD + "!")
    assert not await verify_password(None, PASSWORD)


async def test_sign_ins_do_not_block_the_event_loop(gql: GraphQLClient) -> None:
    # Given an account
    me = await gql.sign_up()
    login = "mutation($i: LoginInput!) { login(input: $i) { errors { code } } }"
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    # When four sign-ins (each ~150 ms of argon2) run while a 5 ms ticker runs
    tick = asyncio.create_task(ticker())
    results = await asyncio.gather(*(gql(login, {"i": {"email": me.email, "password": PASSWORD}}) for _ in range(4)))
    done.set()
    await tick
    # Then they all succeed and the loop never stalled for a whole hash
    assert all(r.data["login"]["errors"] == [] for r in results)
    assert len(gaps) > 10
    assert max(gaps) < 0.1, f"event loop stalled for {max(gaps) * 1000:.0f} ms"


async def test_argon2_runs_on_another_thread_than_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []

    class RecordingHasher(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            threads.append(threading.get_ident())
            return super().hash(password, salt=salt)

        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            threads.append(threading.get_ident())
            return super().verify(hash, password)

    monkeypatch.setattr(core.security, "_hasher", RecordingHasher())
    # When a password is hashed and verified, and an unknown account's dummy check runs
    stored = await hash_password(PASSWORD)
    assert await verify_password(stored, PASSWORD)
    assert not await verify_password(None, PASSWORD)
    # Then argon2 ran three times, never on the event loop's thread
    assert len(threads) == 3
    assert threading.get_ident() not in threads
