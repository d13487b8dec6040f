"""The demo (`serve --demo`) adds Akashic's campaign: the demo user its campaign manager, staff in
the other roles, and messages with several versions and a workflow history."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from core.db import to_async_url
from core.settings import Settings
from products import PRODUCTS
from services.akashic import ROLES
from services.demo import DEMO_EMAIL, load_demo
from tests.conftest import RunDatabases, create_database, drop_database


@pytest.fixture
async def akashic_demo_engine(run_databases: RunDatabases) -> AsyncIterator[AsyncEngine]:
    """A migrated database of its own (the demo's slugs and emails are fixed)."""
    url = await create_database(run_databases.url, template=run_databases.template, prefix="quintet_demo")
    engine = create_async_engine(to_async_url(url))
    try:
        yield engine
    finally:
        await engine.dispose()
        await drop_database(run_databases.url, url)


async def test_the_demo_has_a_campaign_with_staff_and_message_history(
    akashic_demo_engine: AsyncEngine, settings: Settings
) -> None:
    sessions = async_sessionmaker(akashic_demo_engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        assert await load_demo(session, settings, PRODUCTS) is not None
    async with akashic_demo_engine.connect() as conn:
        staff = await conn.execute(
            sa.text(
                """SELECT m.role, u.email FROM memberships m JOIN users u ON u.id = m.user_id
                   JOIN organizations o ON o.id = m.organization_id JOIN campaigns c ON c.id = o.id
                   WHERE o.kind = 'campaign' ORDER BY m.role"""
            )
        )
        roles = {row.role: row.email for row in staff}
        assert set(roles) == set(ROLES)
        assert roles["campaign_manager"] == DEMO_EMAIL
        messages = await conn.execute(
            sa.text(
                """SELECT m.title, m.status,
                     (SELECT count(*) FROM message_versions v WHERE v.message_id = m.id) AS versions,
                     (SELECT count(*) FROM message_transitions t WHERE t.message_id = m.id) AS moves
                   FROM messages m ORDER BY m.title"""
            )
        )
        assert [tuple(row) for row in messages] == [
            ("Campaign launch", "approved", 2, 2),
            ("Friday deadline", "in_review", 2, 3),
            ("Saturday rally", "sent", 3, 4),
        ]
