"""Akashic's AI analyses of message versions.

One analysis per version (`version_id` is unique; a re-run replaces its row in place): it is
queued as a background job of the member who asked (`job_id`, their `background_jobs` row shows
its progress), run by the worker through `core/ai.py`, and its findings are written here, on the
version, where every member who reads the campaign's messages reads them.

The summary columns (`risk_level`, `issue_count`, `resonance_score`) are what a dashboard shows
of an analysis without opening it; `result` holds the whole of it: the compliance and risk
findings, the predicted resonance per voter typology with its reasons, the suggested rewrites and
the knowledge chunks it cited (`services.akashic.analysis` writes and documents its shape).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from core import access
from models.base import created_at_field, id_field, one_of, timestamp_field
from models.organizations import Membership
from services.akashic import MESSAGES_READ


class AnalysisStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class MessageAnalysis(SQLModel, table=True):
    """The analysis of one message version: its state, its summary and its findings."""

    __tablename__ = "message_analyses"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["message_id", "organization_id"], ["messages.id", "messages.organization_id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id", "message_id"], ["message_versions.id", "message_versions.message_id"], ondelete="CASCADE"
        ),
        sa.UniqueConstraint("version_id"),
        sa.Index("ix_message_analyses_message", "message_id"),
        one_of("status", [s.value for s in AnalysisStatus], "status"),
        one_of("risk_level", [r.value for r in RiskLevel], "risk_level"),
        sa.CheckConstraint("issue_count IS NULL OR issue_count >= 0", name="issue_count"),
        sa.CheckConstraint("resonance_score IS NULL OR resonance_score BETWEEN 0 AND 1", name="resonance_score"),
        # A finished analysis has its summary; an unfinished one has none.
        sa.CheckConstraint(
            "(status = 'succeeded') = (risk_level IS NOT NULL AND issue_count IS NOT NULL AND result IS NOT NULL)",
            name="summary",
        ),
    )

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    message_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    version_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    status: str = Field(default=AnalysisStatus.QUEUED.value, max_length=16, nullable=False)
    job_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("background_jobs.id", ondelete="SET NULL"), nullable=True),
    )
    requested_by: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    )
    risk_level: str | None = Field(default=None, max_length=16)
    issue_count: int | None = Field(default=None)
    resonance_score: float | None = Field(default=None)
    result: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB, nullable=True))
    error: str | None = Field(default=None, max_length=1000)
    model: str | None = Field(default=None, max_length=200, description="the AI model that wrote it")
    duration_ms: int | None = Field(default=None)
    created_at: datetime = created_at_field()
    completed_at: datetime | None = timestamp_field()


_memberships = Membership.__table__  # type: ignore[attr-defined]

# Read as the messages are: by the members whose role holds `messages.read`.
access.declare(MessageAnalysis, access.Members(_memberships, permission=MESSAGES_READ))
