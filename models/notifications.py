"""Notifications: one shared table every product writes to."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from core.access import OWNED, declare
from models.aurum import owner_column
from models.base import created_at_field, id_field, timestamp_field


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_user_created", "user_id", "created_at"),
        # Unread counts are the hot query: a partial index keeps them cheap.
        sa.Index("ix_notifications_user_unread", "user_id", postgresql_where=sa.text("read_at IS NULL")),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = owner_column()
    product: str = Field(max_length=32, nullable=False)
    kind: str = Field(max_length=64, nullable=False)
    title: str = Field(max_length=200, nullable=False)
    body: str | None = Field(default=None, max_length=4000)
    data: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default="{}"),
    )
    read_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()


# Read policy (core.access): a notification is its recipient's.
declare(Notification, OWNED)
