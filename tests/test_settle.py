"""`core.fastpath.settle`: gather(return_exceptions=True) semantics without a task per coroutine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.fastpath import settle


async def test_results_in_order_with_errors_returned_not_raised() -> None:
    loop = asyncio.get_running_loop()
    late: asyncio.Future[str] = loop.create_future()
    early: asyncio.Future[str] = loop.create_future()

    async def waits_for(future: asyncio.Future[str], suffix: str) -> str:
        return (await future) + suffix

    async def fails() -> None:
        await asyncio.sleep(0)  # a bare yield first
        raise ValueError("no")

    async def plain() -> int:
        return 7

    loop.call_later(0.02, late.set_result, "late")
    loop.call_soon(early.set_result, "early")
    results = await settle([waits_for(late, "!"), fails(), plain(), waits_for(early, "?"), early])
    assert results[0] == "late!"
    assert isinstance(results[1], ValueError)
    assert results[2:] == [7, "early?", "early"]


async def test_a_coroutine_awaiting_several_futures_in_turn_finishes() -> None:
    loop = asyncio.get_running_loop()

    async def chain(n: int) -> int:
        total = 0
        for i in range(n):
            future: asyncio.Future[int] = loop.create_future()
            loop.call_soon(future.set_result, i)
            total += await future
        return total

    assert await settle([chain(3), chain(5), chain(0)]) == [3, 10, 0]


async def test_a_failed_or_cancelled_future_is_the_awaiters_error() -> None:
    loop = asyncio.get_running_loop()
    broken: asyncio.Future[Any] = loop.create_future()
    cancelled: asyncio.Future[Any] = loop.create_future()
    loop.call_soon(broken.set_exception, KeyError("k"))
    loop.call_soon(cancelled.cancel)

    async def awaits(future: asyncio.Future[Any]) -> Any:
        return await future

    first, second = await settle([awaits(broken), awaits(cancelled)])
    assert isinstance(first, KeyError)
    assert isinstance(second, asyncio.CancelledError)


async def test_cancelling_the_caller_closes_the_coroutines_it_holds() -> None:
    loop = asyncio.get_running_loop()
    never: asyncio.Future[None] = loop.create_future()
    closed: list[str] = []

    async def stuck(name: str) -> None:
        try:
            await never
        finally:
            closed.append(name)

    caller = asyncio.ensure_future(settle([stuck("a"), stuck("b")]))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert sorted(closed) == ["a", "b"]
    assert not never.cancelled()  # a shared future is left alone: only its awaiters stop
