"""DATABASE_REPLICA_URL against a real streaming replica (tests/replication.py): queries read from
the hot standby, a writer reads its own writes at once (in one process, and across processes with
Redis), a user who just registered reads their account, and a replica that is down sends reads to
the primary with no error.

The proof that a read came from the replica: its replay is paused (`pg_wal_replay_pause()`), a row
is changed on the primary behind the app's back, and the read still shows the old value.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from app import create_app
from core.migrations import upgrade
from core.replicas import LocalMarks, ReadRouting, RedisMarks, parse_lsn, user_mark
from core.runtime import Runtime
from tests.aurum.conftest import AurumFactory
from tests.conftest import make_settings
from tests.live.conftest import Feed, serve, ws_session
from tests.live.test_websocket import CHANGES, event, started
from tests.replication import StreamingPair
from tests.support import GraphQLClient, Viewer, free_port

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NAME = "{ viewer { user { displayName } } }"


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingPair]:
    """A migrated primary and a hot standby of it, for this module."""
    servers = StreamingPair()
    try:
        try:
            servers.start_primary()
            asyncio.run(_sql(servers.primary.libpq(), "CREATE DATABASE quintet"))
            upgrade(servers.primary.url("quintet"))
            servers.start_replica()
        except Exception as error:
            raise AssertionError(f"the servers did not start: {error}\n{servers.logs()}") from error
        yield servers
    finally:
        servers.stop()


async def _sql(url: str, statement: str, *args: object) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(statement, *args)
    finally:
        await conn.close()


@asynccontextmanager
async def _app(pair: StreamingPair, data_dir: Path, **overrides: object) -> AsyncIterator[GraphQLClient]:
    settings = make_settings(
        pair.primary.url("quintet"),
        data_dir,
        database_replica_url=pair.replica.url("quintet"),
        **{"database_replica_retry_seconds": 30.0, "database_replica_max_lag_seconds": 60.0, **overrides},
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            gql = GraphQLClient(client)
            gql.app = application  # type: ignore[attr-defined]
            yield gql


def _routing(gql: GraphQLClient) -> ReadRouting:
    application: Starlette = gql.app  # type: ignore[attr-defined]
    runtime: Runtime = application.state.runtime
    assert runtime.routing is not None
    return runtime.routing


async def _caught_up(pair: StreamingPair) -> None:
    """Replay resumed and the replica as far as the primary is now."""
    replica = pair.replica.libpq("quintet")
    await _sql(replica, "SELECT pg_wal_replay_resume()")
    target = parse_lsn(str(await _sql(pair.primary.libpq("quintet"), "SELECT pg_current_wal_insert_lsn()::text")))
    for _ in range(400):
        replayed = await _sql(replica, "SELECT pg_last_wal_replay_lsn()::text")
        if replayed and parse_lsn(str(replayed)) >= target:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"the replica did not catch up\n{pair.logs()}")


async def _pause(pair: StreamingPair) -> None:
    replica = pair.replica.libpq("quintet")
    await _sql(replica, "SELECT pg_wal_replay_pause()")
    for _ in range(200):
        if await _sql(replica, "SELECT pg_get_wal_replay_pause_state()") == "paused":
            return
        await asyncio.sleep(0.025)
    raise AssertionError("replay did not pause")


async def _rename_behind_the_app(pair: StreamingPair, viewer: Viewer, name: str) -> None:
    await _sql(pair.primary.libpq("quintet"), "UPDATE users SET display_name = $1 WHERE email = $2", name, viewer.email)


async def _user_id(pair: StreamingPair, viewer: Viewer) -> uuid.UUID:
    found = await _sql(pair.primary.libpq("quintet"), "SELECT id FROM users WHERE email = $1", viewer.email)
    assert isinstance(found, uuid.UUID)
    return found


async def _name(gql: GraphQLClient, viewer: Viewer) -> str:
    response = await gql(NAME, token=viewer.token)
    return str(response.data["viewer"]["user"]["displayName"])


async def test_the_replica_is_a_hot_standby(pair: StreamingPair) -> None:
    assert await _sql(pair.replica.libpq("quintet"), "SELECT pg_is_in_recovery()") is True
    assert await _sql(pair.primary.libpq("quintet"), "SELECT pg_is_in_recovery()") is False


async def test_queries_read_the_replica_and_a_writer_its_own_writes(pair: StreamingPair, data_dir: Path) -> None:
    async with _app(pair, data_dir) as gql:
        assert isinstance(_routing(gql).marks, LocalMarks)
        writer, other = await gql.sign_up(display_name="Writer"), await gql.sign_up(display_name="Other")
        await _caught_up(pair)
        await _pause(pair)
        try:
            # Changed on the primary by someone else: the replica, paused, still has the old name.
            await _rename_behind_the_app(pair, other, "Other, renamed")
            for _ in range(3):  # the first run through graphql-core, then the compiled plan
                assert await _name(gql, other) == "Other"

            # The writer's own change is there at once, though the replica is paused before it.
            await gql.mutate("updateProfile", {"displayName": "Writer, renamed"}, "user { id }", token=writer.token)
            routing = _routing(gql)
            mark = await routing.marks.get(user_mark(await _user_id(pair, writer)))
            assert mark is not None
            assert mark > routing.replayed
            for _ in range(3):
                assert await _name(gql, writer) == "Writer, renamed"
            # ... and others still read the replica.
            assert await _name(gql, other) == "Other"
        finally:
            await _caught_up(pair)
        assert await _name(gql, other) == "Other, renamed"

        # Once the replica has replayed the write, the writer reads from it again.
        await _pause(pair)
        try:
            await _rename_behind_the_app(pair, writer, "Writer, renamed twice")
            assert await _name(gql, writer) == "Writer, renamed"
        finally:
            await _caught_up(pair)
        assert await _name(gql, writer) == "Writer, renamed twice"


async def test_a_new_account_reads_itself_at_once(pair: StreamingPair, data_dir: Path) -> None:
    async with _app(pair, data_dir) as gql:
        await _caught_up(pair)
        await _pause(pair)
        try:
            viewer = await gql.sign_up(display_name="Newcomer")
            assert await _name(gql, viewer) == "Newcomer"  # not "the account no longer exists"
        finally:
            await _caught_up(pair)


async def test_across_processes_the_marks_are_shared_through_redis(pair: StreamingPair, data_dir: Path) -> None:
    async with _app(pair, data_dir, redis_url=REDIS_URL) as first, _app(pair, data_dir, redis_url=REDIS_URL) as second:
        assert isinstance(_routing(first).marks, RedisMarks)
        writer, other = await first.sign_up(display_name="Writer"), await first.sign_up(display_name="Other")
        await _caught_up(pair)
        await _pause(pair)
        try:
            await _rename_behind_the_app(pair, other, "Other, renamed")
            await first.mutate("updateProfile", {"displayName": "Writer, renamed"}, "user { id }", token=writer.token)
            # The other process has never seen this writer: its mark comes from Redis.
            assert await _name(second, writer) == "Writer, renamed"
            assert await _name(second, other) == "Other"
        finally:
            await _caught_up(pair)


async def test_a_subscriber_reads_the_change_its_event_announces(pair: StreamingPair, data_dir: Path) -> None:
    # Subscriptions read from the primary: an event follows its commit at once, which a replica
    # (here paused) may not have replayed.
    async with _app(pair, data_dir) as gql:
        application: Starlette = gql.app  # type: ignore[attr-defined]
        viewer = await gql.sign_up(display_name="Watcher")
        aurum = AurumFactory(gql)
        tree = await aurum.tree(viewer.token)
        await _caught_up(pair)
        async with serve(application) as server, ws_session(server.ws, viewer.token) as session:
            feed = Feed(session, CHANGES)
            try:
                await started(feed)
                await _pause(pair)
                try:
                    task = await aurum.task(viewer.token, tree.project, "Seen at once")
                    created = event(await feed.next())
                finally:
                    await _caught_up(pair)
            finally:
                await feed.close()
        assert created["nodeId"] == task
        assert created["node"]["title"] == "Seen at once"
        assert created["ancestors"][0]["progress"]["totalTasks"] == 1


async def test_a_replica_too_far_behind_serves_nobody_until_it_catches_up(pair: StreamingPair, data_dir: Path) -> None:
    async with _app(pair, data_dir, database_replica_max_lag_seconds=1.0) as gql:
        routing = _routing(gql)
        reader = await gql.sign_up(display_name="Reader")
        await _caught_up(pair)
        await _pause(pair)
        try:
            await _rename_behind_the_app(pair, reader, "Reader, renamed")
            assert await _name(gql, reader) == "Reader"  # behind, but by less than a second so far
            for _ in range(200):
                if routing.lagging:
                    break
                await asyncio.sleep(0.05)
            assert routing.lagging
            assert await _name(gql, reader) == "Reader, renamed"  # from the primary
        finally:
            await _caught_up(pair)
        for _ in range(200):
            if not routing.lagging:
                break
            await asyncio.sleep(0.05)
        assert not routing.lagging
        assert await routing.engine_for(None) is routing.replica


async def test_marks_that_cannot_be_read_send_signed_in_reads_to_the_primary(
    pair: StreamingPair, data_dir: Path
) -> None:
    async with _app(pair, data_dir) as gql:
        viewer = await gql.sign_up(display_name="Reader")
        routing = _routing(gql)
        await _caught_up(pair)
        await routing.marks.close()
        routing.marks = RedisMarks(f"redis://127.0.0.1:{free_port()}/0", ttl=60)  # nothing listens there
        await _pause(pair)
        try:
            await _rename_behind_the_app(pair, viewer, "Reader, renamed")
            response = await gql(NAME, token=viewer.token)
            assert "errors" not in response.body, response.body
            assert response.data["viewer"]["user"]["displayName"] == "Reader, renamed"  # the primary's
            assert await routing.engine_for(None) is routing.replica  # anonymous reads need no mark
        finally:
            await _caught_up(pair)


async def test_a_replica_that_is_down_sends_reads_to_the_primary(pair: StreamingPair, data_dir: Path) -> None:
    async with _app(pair, data_dir) as gql:
        viewer = await gql.sign_up(display_name="Reader")
        await _caught_up(pair)
        assert await _name(gql, viewer) == "Reader"  # a pooled connection to the replica now exists
        # The name is changed while the replica is down; then only the primary has it.
        pair.replica.stop()
        try:
            await _rename_behind_the_app(pair, viewer, "Reader, renamed")
            for _ in range(3):
                response = await gql(NAME, token=viewer.token)
                assert "errors" not in response.body, response.body
                assert response.data["viewer"]["user"]["displayName"] == "Reader, renamed"
            assert not _routing(gql).replica_usable
        finally:
            pair.replica.start()
