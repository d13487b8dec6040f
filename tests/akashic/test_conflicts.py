"""Two people saving on the same base version: the second gets `VERSION_CONFLICT` with the current
version and a three-way merge proposal, and nothing is lost or overwritten; under concurrency
the message's row lock makes the second wait for the first and see it, and the unique parent is
the database's own refusal of a second child."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from core.context import Actor
from core.relay import parse_global_id
from models.akashic import MessageVersion
from services.akashic import messages
from tests.akashic.support import AkashicFactory
from tests.support import GraphQLClient

VERSIONS = "query V($id: ID!) { node(id: $id) { ... on Message { versions { nodes { number body } } } } }"


async def test_the_second_save_on_a_base_gets_the_current_version_and_a_clean_merge(
    gql: GraphQLClient, akashic_factory: AkashicFactory
) -> None:
    campaign = await akashic_factory.campaign()
    alice = campaign.manager
    bob, _ = await akashic_factory.staff(campaign, "communications_director")
    message = await akashic_factory.message(campaign, "Join us Saturday at the park.\nBring a friend.\n")
    # Both edit version 1: Alice the first line, Bob the second
    first = await akashic_factory.save(
        message, message.version, "Join us Sunday at the park.\nBring a friend.\n", alice.token
    )
    assert first["errors"] == []
    second = await akashic_factory.save(
        message, message.version, "Join us Saturday at the park.\nBring two friends.\n", bob.token
    )
    assert second["version"] is None
    (error,) = second["errors"]
    assert (error["__typename"], error["code"], error["field"]) == (
        "MessageVersionConflictError",
        "VERSION_CONFLICT",
        ["input", "baseVersionId"],
    )
    assert error["currentVersion"] == first["version"]
    assert error["baseVersion"] == {"id": message.version, "number": 1}
    assert error["proposal"] == {
        "base": "Join us Saturday at the park.\nBring a friend.\n",
        "theirs": "Join us Sunday at the park.\nBring a friend.\n",
        "mine": "Join us Saturday at the park.\nBring two friends.\n",
        "merged": "Join us Sunday at the park.\nBring two friends.\n",
        "clean": True,
        "conflicts": [],
    }
    # Nothing was overwritten; Bob saves the merge on the current version
    versions = (await gql(VERSIONS, {"id": message.id}, token=bob.token)).data["node"]["versions"]["nodes"]
    assert [v["number"] for v in versions] == [2, 1]
    merged = await akashic_factory.save(message, error["currentVersion"]["id"], error["proposal"]["merged"], bob.token)
    assert (merged["errors"], merged["version"]["number"]) == ([], 3)


async def test_a_clash_is_marked_and_listed(akashic_factory: AkashicFactory) -> None:
    campaign = await akashic_factory.campaign()
    message = await akashic_factory.message(campaign, "Rally on Saturday at noon.")
    token = campaign.manager.token
    await akashic_factory.save(message, message.version, "Rally on Sunday at noon.", token)
    refused = await akashic_factory.save(message, message.version, "Rally on Friday at noon.", token)
    proposal = refused["errors"][0]["proposal"]
    assert proposal["clean"] is False
    assert proposal["conflicts"] == [{"base": "Saturday ", "theirs": "Sunday ", "mine": "Friday "}]
    assert proposal["merged"] == (
        "Rally on \n<<<<<<< theirs (current version)\nSunday \n=======\nFriday \n>>>>>>> mine\nat noon."
    )


async def test_concurrent_saves_on_one_base_write_one_version(akashic_factory: AkashicFactory) -> None:
    campaign = await akashic_factory.campaign()
    message = await akashic_factory.message(campaign, "Base text")
    saves = [akashic_factory.save(message, message.version, f"Text {n}", campaign.manager.token) for n in range(4)]
    results = await asyncio.gather(*saves)
    written = [r for r in results if r["errors"] == []]
    assert len(written) == 1
    assert written[0]["version"]["number"] == 2
    for refused in (r for r in results if r["errors"]):
        assert [e["code"] for e in refused["errors"]] == ["VERSION_CONFLICT"]
        assert refused["errors"][0]["currentVersion"]["id"] == written[0]["version"]["id"]


async def _waiting_on_a_lock(engine: AsyncEngine, pid: int) -> None:
    """Until the backend `pid` waits for a lock (a generous deadline: the machine is shared)."""
    async with asyncio.timeout(60), engine.connect() as conn:
        while True:
            waiting = await conn.execute(
                sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
            if waiting.scalar_one_or_none() == "Lock":
                return
            await conn.rollback()
            await asyncio.sleep(0.05)


async def test_two_transactions_at_once_the_second_waits_and_gets_the_conflict(
    engine: AsyncEngine, akashic_factory: AkashicFactory
) -> None:
    campaign = await akashic_factory.campaign()
    made = await akashic_factory.message(campaign, "Base text")
    actor = Actor(user_id=parse_global_id(campaign.manager.user_id, "User"), role="user")
    message_id, base_id = parse_global_id(made.id, "Message"), parse_global_id(made.version, "MessageVersion")
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as first, sessions() as second:
        # The first transaction saves on the base and has not committed yet
        await first.begin()
        _, mine = await messages.save_message_version(
            first, actor=actor, message_id=message_id, base_version_id=base_id, body="First", summary=None
        )
        await second.begin()
        pid = (await second.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()

        async def save_second() -> None:
            await messages.save_message_version(
                second, actor=actor, message_id=message_id, base_version_id=base_id, body="Second", summary=None
            )

        # The second, on the same base, waits for the first's lock on the message...
        racing = asyncio.create_task(save_second())
        await _waiting_on_a_lock(engine, pid)
        assert not racing.done()
        await first.commit()
        # ...then sees the first's version: a conflict that carries it, and its own text
        with pytest.raises(messages.VersionConflict) as conflict:
            await racing
        await second.rollback()
    assert conflict.value.current.id == mine.id
    assert (conflict.value.proposal.theirs, conflict.value.proposal.mine) == ("First", "Second")
    async with engine.connect() as conn:
        bodies = await conn.execute(
            sa.select(MessageVersion.body)  # type: ignore[call-overload]
            .where(MessageVersion.message_id == message_id)
            .order_by(MessageVersion.number)
        )
        assert [row[0] for row in bodies] == ["Base text", "First"]


async def test_the_database_refuses_a_second_child_of_a_version(
    engine: AsyncEngine, akashic_factory: AkashicFactory
) -> None:
    campaign = await akashic_factory.campaign()
    made = await akashic_factory.message(campaign, "Base text")
    second = (await akashic_factory.save(made, made.version, "Next", campaign.manager.token))["version"]["id"]
    organization_id = parse_global_id(campaign.id, "Campaign")
    row = {
        "organization_id": organization_id,
        "message_id": parse_global_id(made.id, "Message"),
        "body": "A second child",
        "summary": "s",
    }
    table = MessageVersion.__table__  # type: ignore[attr-defined]
    # A second child of version 1, numbered 3; a child of version 2 numbered 2 again
    cases = (
        (3, made.version, "uq_message_versions_parent_version_id"),
        (2, second, "uq_message_versions_message_id_number"),
    )
    for number, parent, constraint in cases:
        values = {**row, "number": number, "parent_version_id": parse_global_id(parent, "MessageVersion")}
        async with engine.begin() as conn:
            with pytest.raises(IntegrityError, match=constraint):
                await conn.execute(sa.insert(table).values(id=uuid.uuid4(), **values))
