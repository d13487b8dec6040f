"""Work after the commit (publishing events) cannot turn a committed unit of work into an error."""

from __future__ import annotations

import asyncio
import logging

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.context import after_commit, run_in_transaction, run_unit_of_work
from core.events import (
    Envelope,
    InProcessBus,
    publish_after_commit,
    register_process_bus,
    unregister_process_bus,
)


async def test_a_failing_after_commit_callback_is_logged_and_the_outcome_stands(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    ran: list[str] = []

    async def unpublishable() -> None:
        raise ConnectionError("the event bus is gone")

    async def then() -> None:
        ran.append("next callback")

    async def work(session: AsyncSession) -> int:
        after_commit(session, unpublishable)
        after_commit(session, then)
        return int((await session.execute(sa.text("SELECT 41 + 1"))).scalar_one())

    caplog.set_level(logging.ERROR, logger="quintet.context")
    # Given / when a unit of work (a mutation's, a job's) whose first after-commit callback fails
    outcome = await run_unit_of_work(sessions, InProcessBus(), work)
    value = await run_in_transaction(sessions, work)
    # Then both answer their value, the later callbacks still run, and the failure is logged
    assert (outcome.value, outcome.errors, value) == (42, [], 42)
    assert ran == ["next callback", "next callback"]
    failures = [r for r in caplog.records if "after-commit" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.exc_info is not None for r in failures)


async def test_outside_a_request_services_publish_through_the_process_bus_after_commit(engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    bus = InProcessBus()
    register_process_bus(bus)
    try:
        async with bus.subscribe("outside", max_queue=10) as subscription:

            async def committed(session: AsyncSession) -> None:
                publish_after_commit(session, "outside", {"topic": "test", "n": 1})

            async def rolled_back(session: AsyncSession) -> None:
                publish_after_commit(session, "outside", {"topic": "test", "n": 2})
                raise RuntimeError("the work failed")

            # Given the process's bus, when a job's transaction publishes and one that fails does too
            await run_in_transaction(sessions, committed)
            with pytest.raises(RuntimeError):
                await run_in_transaction(sessions, rolled_back)
            # Then only the committed one's event went out, through the process's bus
            await run_in_transaction(sessions, committed)
            events: list[object] = []
            while len(events) < 2:  # the subscription's own notices (started) aside
                item = await asyncio.wait_for(anext(subscription), 10)
                if isinstance(item, Envelope):
                    events.append(item.event["n"])
    finally:
        unregister_process_bus(bus)
    assert events == [1, 1]
