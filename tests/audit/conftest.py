"""Audit trail fixtures and helpers: the viewer's trail over GraphQL, and the table's raw rows.

Only fixtures named `audit_*` live here."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from core.relay import from_global_id
from tests.support import GraphQLClient, Viewer

TRAIL = """
query Trail($first: Int, $after: String, $filter: AuditEventFilterInput, $order: AuditEventOrderBy! = TIME_DESC) {
  viewer { auditTrail(first: $first, after: $after, filter: $filter, orderBy: $order) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id at actorKind actorUserId actorLabel action operation targetTable targetKey targetId changes
      requestId }
  } }
}
"""


def pk(global_id: str) -> uuid.UUID:
    return from_global_id(global_id)[1]


async def trail(gql: GraphQLClient, viewer: Viewer, **filter: Any) -> list[dict[str, Any]]:
    """The viewer's audit trail, newest first (at most 100 events), filtered by `filter`."""
    data = (await gql(TRAIL, {"first": 100, "filter": filter or None}, token=viewer.token)).data
    events: list[dict[str, Any]] = data["viewer"]["auditTrail"]["nodes"]
    assert data["viewer"]["auditTrail"]["totalCount"] == len(events)
    return events


def by_operation(events: list[dict[str, Any]], operation: str) -> list[dict[str, Any]]:
    return [event for event in events if event["operation"] == operation]


async def raw_events(engine: AsyncEngine, user_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """The rows of audit_events (about one user), oldest first."""
    statement = "SELECT * FROM audit_events" + (" WHERE user_id = :user" if user_id else "") + " ORDER BY at, id"
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.text(statement), {"user": user_id})).mappings().all()
    return [dict(row) for row in rows]
