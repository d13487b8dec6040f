"""Aurum Life insights (the "HRM"): declarative rules, the blackboard, preferences, feedback.

* `hrm_rules`: what to look for. Shared by every user; a rule is a `kind` (which SQL
  evaluator runs it) with `parameters`, a `weight` in the ordering, and `enabled`.
* `insights`: the blackboard. One row per finding of a rule about a subject (a pillar, an
  area, a task, or the user), with the text an AI provider wrote for it. `fingerprint`
  makes a finding unique per period, so the same finding is never posted twice in it.
* `hrm_user_preferences`: which rules a user muted, how often the periodic analysis runs
  for them, and the tone of the text.
* `hrm_feedback_log`: every helpful / not helpful / dismiss, as given. The insight keeps
  the latest verdict (`feedback`), from which the ordering and the suppression of rules
  are computed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from core.access import OWNED, declare
from models.aurum import owner_column
from models.base import created_at_field, id_field, one_of, timestamp_field


class RuleKind(StrEnum):
    OVERDUE_IN_IMPORTANT_AREA = "overdue_in_important_area"
    INACTIVE_PILLAR = "inactive_pillar"
    HIGH_PRIORITY_OVERLOAD = "high_priority_overload"
    COMPLETION_STREAK = "completion_streak"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Frequency(StrEnum):
    NEVER = "never"
    DAILY = "daily"
    WEEKLY = "weekly"


class Tone(StrEnum):
    ENCOURAGING = "encouraging"
    DIRECT = "direct"
    NEUTRAL = "neutral"


class FeedbackKind(StrEnum):
    HELPFUL = "helpful"
    NOT_HELPFUL = "not_helpful"
    DISMISS = "dismiss"


class SubjectType(StrEnum):
    PILLAR = "pillar"
    AREA = "area"
    TASK = "task"
    USER = "user"


class HrmRule(SQLModel, table=True):
    __tablename__ = "hrm_rules"
    __table_args__ = (
        sa.UniqueConstraint("key"),
        one_of("kind", [k.value for k in RuleKind], "kind"),
        one_of("severity", [s.value for s in Severity], "severity"),
        sa.CheckConstraint("weight > 0", name="weight"),
    )

    id: uuid.UUID = id_field()
    key: str = Field(max_length=64, nullable=False)
    kind: str = Field(max_length=64, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    description: str = Field(max_length=1000, nullable=False)
    parameters: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default="{}")
    )
    severity: str = Field(default=Severity.WARNING.value, max_length=16, nullable=False)
    weight: float = Field(default=1.0, nullable=False)
    #: a finding is posted again only in a later period of this many days
    period_days: int = Field(default=7, nullable=False)
    enabled: bool = Field(default=True, nullable=False)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Insight(SQLModel, table=True):
    __tablename__ = "insights"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "fingerprint"),
        sa.UniqueConstraint("id", "user_id"),
        sa.Index("ix_insights_user_created", "user_id", "created_at"),
        sa.Index("ix_insights_rule_id", "rule_id"),
        sa.ForeignKeyConstraint(["rule_id"], ["hrm_rules.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["background_jobs.id"], ondelete="SET NULL"),
        one_of("severity", [s.value for s in Severity], "severity"),
        one_of("subject_type", [s.value for s in SubjectType], "subject_type"),
        sa.CheckConstraint("feedback IS NULL OR feedback IN ('helpful', 'not_helpful')", name="feedback"),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = owner_column()
    rule_id: uuid.UUID = Field(nullable=False)
    job_id: uuid.UUID | None = Field(default=None)
    subject_type: str = Field(max_length=16, nullable=False)
    subject_id: uuid.UUID | None = Field(default=None)
    fingerprint: str = Field(max_length=200, nullable=False)
    title: str = Field(max_length=200, nullable=False)
    body: str = Field(max_length=4000, nullable=False)
    severity: str = Field(max_length=16, nullable=False)
    score: float = Field(nullable=False)
    facts: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default="{}")
    )
    provider: str = Field(max_length=64, nullable=False)
    model: str = Field(max_length=128, nullable=False)
    feedback: str | None = Field(default=None, max_length=16)
    feedback_at: datetime | None = timestamp_field()
    dismissed_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()


class HrmUserPreferences(SQLModel, table=True):
    __tablename__ = "hrm_user_preferences"
    __table_args__ = (
        one_of("frequency", [f.value for f in Frequency], "frequency"),
        one_of("tone", [t.value for t in Tone], "tone"),
        # "Whose periodic analysis is due?" is asked by the sweep.
        sa.Index("ix_hrm_user_preferences_frequency_evaluated", "frequency", "last_evaluated_at"),
    )

    user_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    frequency: str = Field(
        default=Frequency.DAILY.value,
        max_length=16,
        nullable=False,
        sa_column_kwargs={"server_default": Frequency.DAILY.value},
    )
    tone: str = Field(
        default=Tone.ENCOURAGING.value,
        max_length=16,
        nullable=False,
        sa_column_kwargs={"server_default": Tone.ENCOURAGING.value},
    )
    muted_rule_ids: list[uuid.UUID] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Uuid), nullable=False, server_default="{}"),
    )
    last_evaluated_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class HrmFeedback(SQLModel, table=True):
    __tablename__ = "hrm_feedback_log"
    __table_args__ = (
        sa.Index("ix_hrm_feedback_log_user_created", "user_id", "created_at"),
        sa.Index("ix_hrm_feedback_log_insight_id", "insight_id"),
        # Feedback on another user's insight is refused by the database itself.
        sa.ForeignKeyConstraint(["insight_id", "user_id"], ["insights.id", "insights.user_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["rule_id"], ["hrm_rules.id"], ondelete="CASCADE"),
        one_of("kind", [k.value for k in FeedbackKind], "kind"),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = owner_column()
    insight_id: uuid.UUID = Field(nullable=False)
    rule_id: uuid.UUID = Field(nullable=False)
    kind: str = Field(max_length=16, nullable=False)
    comment: str | None = Field(default=None, max_length=1000)
    created_at: datetime = created_at_field()


# Read policies (core.access): insights, preferences and feedback are their user's; the rules
# (HrmRule) are a catalogue every user reads and have no owner.
for _model in (Insight, HrmUserPreferences, HrmFeedback):
    declare(_model, OWNED)
