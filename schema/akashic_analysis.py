"""Akashic's AI analyses in the graph: `MessageAnalysis` (a node, declared with the kit: its summary
columns, its version, message and requester; `MessageVersion.analysis` is its kit `child`), the
typed parts of its `result` (findings, resonance per typology group, rewrites, citations), and
the `requestMessageAnalysis` input and payload (`resolvers/akashic_analysis.py`).

The parts read from the JSONB `result` are resolved in Python (`kit.python_only`); citations are
filtered again, when read, through the knowledge chunks' read policy: a chunk the viewer can't
read (removed since) is not shown."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from core.access import access_params
from core.reads import Shape
from core.relay import to_global_id
from core.sqljson import python_only_type
from loaders.base import rows_by_id
from models import akashic_analysis as m
from schema import kit
from schema.akashic.types import Message, MessageVersion
from schema.common import Ctx, MutationError, Node
from schema.identity import User
from schema.jobs import BackgroundJob
from services.akashic import analysis as svc
from services.akashic import analysis_rules as rules

ERRORS = "Why nothing was done (empty otherwise)."


@strawberry.enum(description="Where an analysis of a message version stands.")
class MessageAnalysisStatus(Enum):
    QUEUED = strawberry.enum_value(m.AnalysisStatus.QUEUED.value, description="Waiting for a worker (or a retry).")
    RUNNING = strawberry.enum_value(m.AnalysisStatus.RUNNING.value, description="A worker is analysing it.")
    SUCCEEDED = strawberry.enum_value(m.AnalysisStatus.SUCCEEDED.value, description="Done: its findings are here.")
    FAILED = strawberry.enum_value(m.AnalysisStatus.FAILED.value, description="Gave up: `error` says why.")


@strawberry.enum(description="How risky a message version is to send as it is: its findings' highest severity.")
class MessageRiskLevel(Enum):
    LOW = strawberry.enum_value(m.RiskLevel.LOW.value, description="Nothing, or minor polish.")
    MEDIUM = strawberry.enum_value(m.RiskLevel.MEDIUM.value, description="Worth fixing before it goes out.")
    HIGH = strawberry.enum_value(m.RiskLevel.HIGH.value, description="Fix before it goes out (compliance, attacks).")


@strawberry.enum(description="How serious one finding is.")
class MessageFindingSeverity(Enum):
    LOW = strawberry.enum_value(rules.Severity.LOW.value, description="Minor.")
    MEDIUM = strawberry.enum_value(rules.Severity.MEDIUM.value, description="Worth fixing.")
    HIGH = strawberry.enum_value(rules.Severity.HIGH.value, description="Fix before sending.")


@strawberry.enum(description="What kind of issue a finding is.")
class MessageFindingCode(Enum):
    UNSUPPORTED_CLAIM = strawberry.enum_value(
        rules.FindingCode.UNSUPPORTED_CLAIM.value,
        description="A superlative, an absolute or a guarantee that invites a fact check.",
    )
    UNSOURCED_NUMBER = strawberry.enum_value(
        rules.FindingCode.UNSOURCED_NUMBER.value, description="A figure without its source in the sentence."
    )
    ALL_CAPS = strawberry.enum_value(
        rules.FindingCode.ALL_CAPS.value, description="Words in capitals (read as shouting)."
    )
    EXCLAMATION = strawberry.enum_value(rules.FindingCode.EXCLAMATION.value, description="Too many exclamation marks.")
    ATTACK_LANGUAGE = strawberry.enum_value(
        rules.FindingCode.ATTACK_LANGUAGE.value, description="A personal attack word."
    )
    MISSING_DISCLAIMER = strawberry.enum_value(
        rules.FindingCode.MISSING_DISCLAIMER.value, description="Paid communication without its `Paid for by` line."
    )
    SMS_LENGTH = strawberry.enum_value(
        rules.FindingCode.SMS_LENGTH.value, description="An SMS over one segment (160 GSM-7 or 70 UCS-2 characters)."
    )
    POST_LENGTH = strawberry.enum_value(
        rules.FindingCode.POST_LENGTH.value, description="A social post over 280 characters."
    )
    SUBJECT_LENGTH = strawberry.enum_value(
        rules.FindingCode.SUBJECT_LENGTH.value,
        description="An email subject (a first line `Subject: ...`) over 60 characters.",
    )
    READING_LEVEL = strawberry.enum_value(
        rules.FindingCode.READING_LEVEL.value,
        description="Harder to read (Flesch-Kincaid grade) than the channel's readers read with ease.",
    )


@strawberry.enum(description="The family of a finding.")
class MessageFindingCategory(Enum):
    CLAIMS = strawberry.enum_value(rules.FindingCategory.CLAIMS.value, description="What the text asserts.")
    TONE = strawberry.enum_value(rules.FindingCategory.TONE.value, description="How it sounds.")
    COMPLIANCE = strawberry.enum_value(rules.FindingCategory.COMPLIANCE.value, description="What the law requires.")
    CHANNEL = strawberry.enum_value(rules.FindingCategory.CHANNEL.value, description="What the channel allows.")
    READABILITY = strawberry.enum_value(rules.FindingCategory.READABILITY.value, description="How easy it reads.")


@python_only_type(why="Read from the analysis's JSONB `result` (services/akashic/analysis.py).")
@strawberry.type(description="One compliance or risk issue of a message version, with where it is and how to fix it.")
class MessageAnalysisFinding:
    code: MessageFindingCode = strawberry.field(description="What kind of issue.")
    category: MessageFindingCategory = strawberry.field(description="Its family.")
    severity: MessageFindingSeverity = strawberry.field(description="How serious.")
    message: str = strawberry.field(description="What is wrong, for a person to read.")
    quote: str = strawberry.field(description="The words concerned, from the text (empty for something missing).")
    start: int = strawberry.field(description="Where the quote starts in the text (a character offset).")
    end: int = strawberry.field(description="Where it ends (exclusive).")
    fix: str = strawberry.field(description="How to fix it.")


@python_only_type(why="Read from the analysis's JSONB `result` (services/akashic/analysis.py).")
@strawberry.type(description="The predicted response of one group of Pew's 2021 political typology, with the reasons.")
class MessageTypologyResonance:
    group: str = strawberry.field(description="The group's key, e.g. `progressive-left`.")
    name: str = strawberry.field(description="The group's name, e.g. `Progressive Left`.")
    score: float = strawberry.field(description="From 0 (turns them away) to 1 (speaks to them); 0.5 is neutral.")
    reasons: list[str] = strawberry.field(description="Why: the words that draw or repel the group.")


@python_only_type(why="Read from the analysis's JSONB `result` (services/akashic/analysis.py).")
@strawberry.type(description="A suggested rewrite of the text: concrete text that fixes the findings it names.")
class MessageRewrite:
    title: str = strawberry.field(description="What it changes.")
    text: str = strawberry.field(description="The rewritten text (save it as a new version to use it).")
    fixes: list[MessageFindingCode] = strawberry.field(description="The codes of the findings it fixes.")


@python_only_type(why="Read from the analysis's JSONB `result`, each chunk checked through its read policy.")
@strawberry.type(description="A knowledge chunk the analysis drew on (`knowledgeSearch` finds the same chunk ids).")
class MessageAnalysisCitation:
    chunk_id: strawberry.ID = strawberry.field(description="The chunk's ID.")
    document_id: strawberry.ID = strawberry.field(description="Its document's ID.")
    title: str = strawberry.field(description="Its document's title.")
    source: str = strawberry.field(description="Its document's source.")
    shared: bool = strawberry.field(description="True for the shared starter corpus, false for the campaign's own.")
    excerpt: str = strawberry.field(description="The start of the chunk's text.")
    score: float = strawberry.field(description="Its reciprocal rank fusion score in the analysis's search.")


def _result(analysis: MessageAnalysis) -> dict[str, Any]:
    found: dict[str, Any] = analysis.row.result or {}
    return found


def _findings(self: MessageAnalysis) -> list[MessageAnalysisFinding] | None:
    if self.row.result is None:
        return None
    found = []
    for item in _result(self)["findings"]:
        code = rules.FindingCode(item["code"])
        found.append(
            MessageAnalysisFinding(
                code=MessageFindingCode(code.value),
                category=MessageFindingCategory(rules.CATEGORY[code].value),
                severity=MessageFindingSeverity(item["severity"]),
                message=item["message"],
                quote=item["quote"],
                start=item["start"],
                end=item["end"],
                fix=item["fix"],
            )
        )
    return found


def _resonance(self: MessageAnalysis) -> list[MessageTypologyResonance] | None:
    if self.row.result is None:
        return None
    return [
        MessageTypologyResonance(
            group=item["group"],
            name=rules.TYPOLOGY_BY_KEY[item["group"]].name,
            score=item["score"],
            reasons=item["reasons"],
        )
        for item in _result(self)["resonance"]
    ]


def _rewrites(self: MessageAnalysis) -> list[MessageRewrite] | None:
    if self.row.result is None:
        return None
    return [
        MessageRewrite(title=item["title"], text=item["text"], fixes=[MessageFindingCode(c) for c in item["fixes"]])
        for item in _result(self)["rewrites"]
    ]


#: The ids of the knowledge chunks the actor of a run may read.
READABLE_CHUNK_IDS = Shape(svc.readable_chunk_ids())


async def _citations(self: MessageAnalysis, info: Ctx) -> list[MessageAnalysisCitation] | None:
    if self.row.result is None:
        return None
    cited = _result(self)["citations"]
    actor = info.context.actor
    if actor is None or not cited:
        return []
    loader = rows_by_id(info.context.engine, READABLE_CHUNK_IDS, access_params(actor))
    found = await loader.load_many([uuid.UUID(item["chunkId"]) for item in cited])
    return [
        MessageAnalysisCitation(
            chunk_id=strawberry.ID(to_global_id(svc.CHUNK_KEY, uuid.UUID(item["chunkId"]))),
            document_id=strawberry.ID(to_global_id(svc.DOCUMENT_KEY, uuid.UUID(item["documentId"]))),
            title=item["title"],
            source=item["source"],
            shared=item["shared"],
            excerpt=item["excerpt"],
            score=item["score"],
        )
        for item, row in zip(cited, found, strict=True)
        if row is not None
    ]


def _reading_grade(self: MessageAnalysis) -> float | None:
    return None if self.row.result is None else _result(self)["readingGrade"]


def _sms_segments(self: MessageAnalysis) -> int | None:
    return None if self.row.result is None else _result(self)["smsSegments"]


async def _job(self: MessageAnalysis, info: Ctx) -> BackgroundJob | None:
    if self.row.job_id is None:
        return None
    row = await info.context.loaders.jobs.background_job_by_id.load(self.row.job_id)
    return None if row is None else BackgroundJob.from_row(row)


_JSON = "read from the analysis's JSONB result"


@kit.node(
    model=m.MessageAnalysis,
    key="MessageAnalysis",
    description="The AI analysis of one message version (one per version; a new request runs it again): compliance "
    "and risk findings, predicted resonance per voter typology, suggested rewrites and the knowledge it cited. Read "
    "by the campaign's members who read its messages.",
)
class MessageAnalysis(Node, kit.FromRow):
    status: MessageAnalysisStatus = kit.column(description="Where it stands.")
    risk_level: MessageRiskLevel | None = kit.column(
        description="Its findings' highest severity (low without any), once succeeded."
    )
    issue_count: int | None = kit.column(description="How many findings, once succeeded.")
    resonance_score: float | None = kit.column(
        description="Overall predicted resonance, 0 to 1: the mean over the typology groups the message's audience "
        "segments name (all nine when they name none), once succeeded."
    )
    error: str | None = kit.column(description="Why it failed (or why the last attempt did, while retrying).")
    model: str | None = kit.column(description="The AI provider and model that wrote it (`offline/templates-v1`).")
    duration_ms: int | None = kit.column(description="How long the run took, in milliseconds, once finished.")
    created_at: datetime = kit.column(description="When it was first requested.")
    completed_at: datetime | None = kit.column(description="When it succeeded or failed.")
    version: MessageVersion = kit.parent("version_id", description="The version analysed.")
    message: Message = kit.parent("message_id", description="Its message.")
    requested_by: User | None = kit.parent(
        "requested_by", description="Who requested the latest run, while a co-member."
    )
    job: BackgroundJob | None = kit.python_only(
        _job,
        why="background jobs are their owner's and not a kit type",
        description="The background job of the latest run (`backgroundJobUpdates` follows it); null to everyone but "
        "its requester.",
    )
    findings: list[MessageAnalysisFinding] | None = kit.python_only(
        _findings, why=_JSON, description="The compliance and risk findings, in the order of the text."
    )
    resonance: list[MessageTypologyResonance] | None = kit.python_only(
        _resonance, why=_JSON, description="Predicted resonance for each of the nine typology groups, with reasons."
    )
    rewrites: list[MessageRewrite] | None = kit.python_only(
        _rewrites, why=_JSON, description="Suggested rewrites, each fixing the findings it names."
    )
    citations: list[MessageAnalysisCitation] | None = kit.python_only(
        _citations,
        why="read from the JSONB result, each chunk checked through its read policy",
        description="The knowledge chunks it drew on, those the viewer may read.",
    )
    reading_grade: float | None = kit.python_only(
        _reading_grade, why=_JSON, description="The text's Flesch-Kincaid grade level."
    )
    sms_segments: int | None = kit.python_only(
        _sms_segments, why=_JSON, description="For an SMS, the segments it takes; null for other channels."
    )


# ----------------------------------------------------------------------------- mutation


@strawberry.input(description="The message version to analyse.")
class RequestMessageAnalysisInput:
    version_id: strawberry.ID = strawberry.field(description="The `MessageVersion`.")


@strawberry.type(description="Result of `requestMessageAnalysis`.")
class RequestMessageAnalysisPayload:
    analysis: MessageAnalysis | None = strawberry.field(
        description="The version's analysis: queued, or as it is while already queued or running."
    )
    job: BackgroundJob | None = strawberry.field(
        description="Its background job (follow it with `backgroundJobUpdates`); null when the running one is "
        "another member's."
    )
    errors: list[MutationError] = strawberry.field(description=ERRORS)


TYPES = (MessageAnalysis,)
