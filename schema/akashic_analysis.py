"""Akashic's AI analyses in the graph: the summary a dashboard shows of a message version's
analysis (`MessageVersion.analysis`), declared with the kit so that it reads in the one
statement; read as the messages are (`models.akashic_analysis`)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from models import akashic_analysis as m
from schema import kit
from schema.akashic.types import MessageVersion
from schema.common import Node


@strawberry.enum(description="Where an analysis stands.")
class MessageAnalysisStatus(Enum):
    QUEUED = strawberry.enum_value(m.AnalysisStatus.QUEUED.value, description="Waiting for a worker.")
    RUNNING = strawberry.enum_value(m.AnalysisStatus.RUNNING.value, description="Being written by the AI provider.")
    SUCCEEDED = strawberry.enum_value(m.AnalysisStatus.SUCCEEDED.value, description="Done: its summary is there.")
    FAILED = strawberry.enum_value(m.AnalysisStatus.FAILED.value, description="Gave up; request it again.")


@strawberry.enum(description="How risky an analysis judged a message's text (compliance, backlash).")
class MessageAnalysisRiskLevel(Enum):
    LOW = strawberry.enum_value(m.RiskLevel.LOW.value, description="Nothing that needs a change.")
    MEDIUM = strawberry.enum_value(m.RiskLevel.MEDIUM.value, description="Issues worth a second look.")
    HIGH = strawberry.enum_value(m.RiskLevel.HIGH.value, description="Fix before it goes out.")


@kit.node(
    model=m.MessageAnalysis,
    key="MessageAnalysis",
    description="The AI analysis of one message version: where it stands and its summary; read by the campaign's "
    "members who read its messages.",
)
class MessageAnalysis(Node, kit.FromRow):
    status: MessageAnalysisStatus = kit.column(description="Where it stands.")
    risk_level: MessageAnalysisRiskLevel | None = kit.column(description="Its overall risk, once it succeeded.")
    issue_count: int | None = kit.column(description="How many issues it found, once it succeeded.")
    resonance_score: float | None = kit.column(
        description="Predicted resonance with the message's audience, from 0 to 1, once it succeeded."
    )
    completed_at: datetime | None = kit.column(description="When it succeeded or failed.")
    version: MessageVersion = kit.parent("version_id", description="The version it analyses.")


TYPES = (MessageAnalysis,)
