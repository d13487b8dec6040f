"""Akashic's AI analysis of message versions: requested by a member, run as a background job.

**Requesting** (`request_analysis`, `messages.draft`: who drafts messages, the approvers among
them): one analysis per version (`message_analyses.version_id` is unique). The first request
writes it, queued, with a job of kind `ANALYSIS_KIND` owned by the requester (its progress is
the `backgroundJobUpdates` subscription's); a request while it is queued or running returns it
as it is; a request of a finished one (succeeded or failed) runs it again in place, with a new
job. With a remote provider a run counts against `AI_RATE_LIMIT`.

**Running** (`run_analysis`, the job's handler): the version's text, its message's channel,
`paid` flag and audience segments; the knowledge base searched for the text's key words
(`knowledge.search_knowledge`, as the requester: only chunks they may read); then one
`core.ai.complete` of `AnalysisOutput` (`analysis_rules`): a model is given the text and the
retrieved chunks, with their ids to cite; the offline provider runs the rules of
`analysis_rules` and cites the chunks it drew on. Whatever answered, the findings decide the
risk level (their highest severity) and the issue count, scores are clamped to 0..1, unknown
typology groups are dropped (a missing one takes the rules' score), and only chunk ids that the
search returned are kept as citations.

**Failing**: an attempt that fails and will be retried (the platform's `JOB_MAX_RETRIES`, unless
the error says retrying can't help) leaves the analysis queued with the attempt's error; the
last one leaves it `failed` with the error. A job whose analysis was re-requested since (another
job) or deleted with its version does nothing.

Every committed change of an analysis's status is published on the campaign's channel as a
message change (`ANALYSIS_CHANGED`, ids only). `result` (JSONB) holds `findings`, `resonance`,
`rewrites`, `citations` (chunk, document, title, source, an excerpt), `readingGrade`,
`smsSegments`, `query` and `provider`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from core.access import quota_key, readable, requires
from core.ai import AIProvider, AIProviderError, StructuredPrompt
from core.context import Actor, run_in_transaction
from core.errors import DomainError
from core.events import organization_channel, publish_after_commit
from core.jobs import is_retryable
from core.ratelimit import RateLimiter
from core.relay import to_global_id
from core.settings import Settings
from models.akashic import Message, MessageVersion
from models.akashic_analysis import AnalysisStatus, MessageAnalysis
from models.akashic_knowledge import KnowledgeChunk
from models.audit import AuditOperation
from models.jobs import ACTIVE_JOB_STATUSES, BackgroundJob
from models.organizations import Organization
from services import audit, jobs
from services.akashic import MESSAGES_DRAFT, analysis_rules
from services.akashic.analysis_rules import TYPOLOGY, TYPOLOGY_BY_KEY, AnalysisOutput, TypologyResonance
from services.akashic.knowledge import KnowledgeHit, search_knowledge
from services.akashic.messages import MESSAGES_TOPIC, MessageChange
from services.inputs import utcnow

logger = logging.getLogger("quintet.akashic.analysis")

ANALYSIS_KIND = "akashic.analyze_message"
ACTIVE = (AnalysisStatus.QUEUED.value, AnalysisStatus.RUNNING.value)
#: Chunks of the knowledge base an analysis reads (and may cite).
RETRIEVED_CHUNKS = 5
#: Words of the text the knowledge base is searched for.
QUERY_WORDS = 12
#: Characters of a chunk a citation keeps.
EXCERPT_CHARACTERS = 300
CHUNK_KEY = "KnowledgeChunk"
DOCUMENT_KEY = "KnowledgeDocument"

INSTRUCTIONS = """You review a political campaign's message before it goes out. Answer in the JSON schema.
findings: each compliance or risk issue, with `code` (UNSUPPORTED_CLAIM: superlatives, absolutes, guarantees;
UNSOURCED_NUMBER: a figure without its source; ALL_CAPS, EXCLAMATION, ATTACK_LANGUAGE: tone; MISSING_DISCLAIMER:
paid communication without a "Paid for by" line; SMS_LENGTH, POST_LENGTH, SUBJECT_LENGTH: channel limits;
READING_LEVEL: harder to read than the channel's audience reads with ease), `severity` (low, medium, high),
`message`, `quote` (the exact words, copied from the text), `start` and `end` (their character offsets) and `fix`.
resonance: for each of the nine Pew typology groups listed (by `group` key), a `score` from 0 (turns them away)
to 1 (speaks to them), 0.5 neutral, and `reasons` naming the words that move them. rewrites: concrete texts that
fix the findings they list in `fixes`. reading_grade: the Flesch-Kincaid grade. sms_segments: for an SMS, the
segments it takes (160 GSM-7 or 70 UCS-2 characters in one, 153 or 67 per part), else null. cited_chunk_ids: the
ids of the knowledge chunks you relied on, only from those given."""

_STOPWORD_TEXT = (
    "a about after again all also an and any are as at be because been but by can could do for from get had has "
    "have he her here him his how i if in into is it its just let like make me more most my no not now of on one "
    "only or our out over own said she so some than that the their them then there these they this those through "
    "to too up us very was we were what when where which while who will with would you your paid"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


# ------------------------------------------------------------------------------ events


def _event(analysis: Any, message_status: str) -> dict[str, Any]:
    return {
        "topic": MESSAGES_TOPIC,
        "organization": str(analysis.organization_id),
        "message": str(analysis.message_id),
        "version": str(analysis.version_id),
        "change": MessageChange.ANALYSIS_CHANGED.value,
        "status": message_status,
        "analysis": str(analysis.id),
        "analysisStatus": analysis.status,
        "at": utcnow().isoformat(),
    }


def _announce(session: AsyncSession, analysis: Any, message_status: str) -> None:
    """Publish a change of an analysis once the session's transaction commits."""
    publish_after_commit(session, organization_channel(analysis.organization_id), _event(analysis, message_status))


# ---------------------------------------------------------------------------- requests


@requires(MESSAGES_DRAFT, organization="version_id", via=MessageVersion, field="versionId", noun="message version")
async def request_analysis(
    session: AsyncSession,
    *,
    actor: Actor,
    version_id: uuid.UUID,
    settings: Settings,
    limiter: RateLimiter | None = None,
) -> tuple[MessageAnalysis, BackgroundJob | None]:
    """The version's analysis, queued (or as it is, while queued or running), and its job when
    the actor may read it (the job is its requester's)."""
    version = await session.get_one(MessageVersion, version_id)
    table = MessageAnalysis.__table__  # type: ignore[attr-defined]
    # Written first, whoever asks at the same time (unique per version), then locked and read.
    inserted = await session.execute(
        postgresql.insert(table)
        .values(
            id=uuid.uuid4(),
            organization_id=version.organization_id,
            message_id=version.message_id,
            version_id=version.id,
            status=AnalysisStatus.QUEUED.value,
            requested_by=actor.user_id,
        )
        .on_conflict_do_nothing(index_elements=["version_id"])
        .returning(*table.c)
        .execution_options(**audit.RECORDED)
    )
    created = inserted.one_or_none()
    if created is not None:
        audit.record(session, MessageAnalysis, AuditOperation.CREATE, row=created._mapping)
    statement = (
        sa.select(MessageAnalysis)
        .where(col(MessageAnalysis.version_id) == version.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    analysis = (await session.execute(statement)).scalar_one()
    if analysis.status in ACTIVE and analysis.job_id is not None:
        job = await _readable_job(session, actor, analysis.job_id)
        if job is None or job.status in ACTIVE_JOB_STATUSES:
            return analysis, job
    if limiter is not None and settings.openai_api_key is not None and settings.openai_api_key.get_secret_value():
        await limiter.hit(quota_key(actor))
    job = await jobs.enqueue(
        session,
        user_id=actor.user_id,
        kind=ANALYSIS_KIND,
        params={"analysis_id": str(analysis.id)},
        max_retries=settings.job_max_retries,
    )
    analysis.status = AnalysisStatus.QUEUED.value
    analysis.job_id = job.id
    analysis.requested_by = actor.user_id
    analysis.risk_level = analysis.issue_count = analysis.resonance_score = None
    analysis.result = analysis.error = analysis.model = analysis.duration_ms = analysis.completed_at = None
    await session.flush()
    message = await session.get_one(Message, version.message_id)
    publish_after_commit(session, organization_channel(analysis.organization_id), _event(analysis, message.status))
    return analysis, job


async def _readable_job(session: AsyncSession, actor: Actor, job_id: uuid.UUID) -> BackgroundJob | None:
    statement = sa.select(BackgroundJob).where(col(BackgroundJob.id) == job_id, readable(BackgroundJob, actor))
    return (await session.execute(statement)).scalar_one_or_none()


# ------------------------------------------------------------------------------ retrieval


def search_words(text: str, limit: int = QUERY_WORDS) -> list[str]:
    """The text's key words for the knowledge search: its longest distinct words that are not
    stopwords, in the order they first appear."""
    seen: dict[str, int] = {}
    for index, word in enumerate(re.findall(r"[A-Za-z][A-Za-z-]{2,}", text)):
        lowered = word.lower()
        if lowered not in _STOPWORDS and lowered not in seen:
            seen[lowered] = index
    return sorted(sorted(seen, key=lambda w: (-len(w), seen[w]))[:limit], key=lambda w: seen[w])


def search_query(text: str) -> str | None:
    """A web-search query (`websearch_to_tsquery`) matching any of the key words."""
    chosen = search_words(text)
    return " or ".join(chosen) if chosen else None


def readable_chunk_ids() -> sa.Select[Any]:
    """The ids of the knowledge chunks the actor of a run may read (a citation is shown to those)."""
    chunks = KnowledgeChunk.__table__  # type: ignore[attr-defined]
    return sa.select(chunks.c.id).where(readable(chunks))


def _cited(hit: KnowledgeHit) -> dict[str, Any]:
    return {
        "chunkId": str(hit.chunk_id),
        "documentId": str(hit.document_id),
        "title": hit.title,
        "source": hit.source,
        "shared": hit.organization_id is None,
        "excerpt": hit.text[:EXCERPT_CHARACTERS],
        "score": hit.score,
    }


# ------------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class Subject:
    """What an analysis reads: the version's text and its message's settings."""

    text: str
    channel: str
    paid: bool
    audience_segments: list[str]
    committee: str


def offline_answer(subject: Subject, hits: Sequence[KnowledgeHit]) -> AnalysisOutput:
    """The rules' analysis, with the retrieved chunks it draws on: a typology group's own chunk
    of the starter corpus backs its reasons, and every retrieved chunk is cited."""
    answer = analysis_rules.analyse_text(
        subject.text, channel=subject.channel, paid=subject.paid, committee=subject.committee
    )
    for scored in answer.resonance:
        name = TYPOLOGY_BY_KEY[scored.group].name
        for hit in hits:
            if hit.title.startswith(name):
                scored.reasons.append(f"Pew's description of the group (cited: {hit.title}).")
    answer.cited_chunk_ids = [to_global_id(CHUNK_KEY, hit.chunk_id) for hit in hits]
    return answer


def analysis_prompt(subject: Subject, hits: Sequence[KnowledgeHit]) -> StructuredPrompt[AnalysisOutput]:
    payload = {
        "text": subject.text,
        "channel": subject.channel,
        "paid": subject.paid,
        "audience_segments": subject.audience_segments,
        "committee": subject.committee,
        "typology_groups": [{"group": g.key, "name": g.name} for g in TYPOLOGY],
        "knowledge": [
            {"chunk_id": to_global_id(CHUNK_KEY, hit.chunk_id), "title": hit.title, "text": hit.text} for hit in hits
        ],
    }
    return StructuredPrompt(
        task="akashic_message_analysis",
        instructions=INSTRUCTIONS,
        input=json.dumps(payload, ensure_ascii=False),
        output=AnalysisOutput,
        offline=lambda: offline_answer(subject, hits),
        temperature=0.2,
    )


def settle(answer: AnalysisOutput, subject: Subject, hits: Sequence[KnowledgeHit]) -> dict[str, Any]:
    """What is stored of an answer, whoever gave it: the summary from the findings, scores in
    0..1 for the nine known groups (the rules' for one missing), citations among the hits."""
    rules = {r.group: r for r in analysis_rules.resonance(subject.text)}
    scored: dict[str, TypologyResonance] = {}
    for item in answer.resonance:
        if item.group in TYPOLOGY_BY_KEY and item.group not in scored:
            score = min(1.0, max(0.0, float(item.score))) if math.isfinite(item.score) else 0.5
            scored[item.group] = TypologyResonance(group=item.group, score=round(score, 3), reasons=item.reasons[:10])
    resonance = [scored.get(g.key) or rules[g.key] for g in TYPOLOGY]
    by_id = {to_global_id(CHUNK_KEY, hit.chunk_id): hit for hit in hits} | {str(hit.chunk_id): hit for hit in hits}
    cited = list(dict.fromkeys(by_id[i].chunk_id for i in answer.cited_chunk_ids if i in by_id))
    hits_by_chunk = {hit.chunk_id: hit for hit in hits}
    findings = sorted(answer.findings, key=lambda f: (f.start, f.end, f.code.value))
    return {
        "risk_level": analysis_rules.risk_level(findings).value,
        "issue_count": len(findings),
        "resonance_score": analysis_rules.overall_resonance(resonance, subject.audience_segments),
        "result": {
            "findings": [f.model_dump(mode="json") for f in findings],
            "resonance": [r.model_dump(mode="json") for r in resonance],
            "rewrites": [r.model_dump(mode="json") for r in answer.rewrites],
            "citations": [_cited(hits_by_chunk[chunk]) for chunk in cited],
            "readingGrade": round(float(answer.reading_grade), 1),
            "smsSegments": answer.sms_segments,
        },
    }


async def analyse(
    session: AsyncSession, *, actor: Actor, provider: AIProvider, subject: Subject, campaign_id: uuid.UUID
) -> tuple[dict[str, Any], str, str]:
    """Retrieve, ask, settle: (the values to store, the provider, the model)."""
    query = search_query(subject.text)
    hits: list[KnowledgeHit] = []
    if query is not None:
        hits = await search_knowledge(
            session, actor=actor, campaign_id=campaign_id, query=query, limit=RETRIEVED_CHUNKS, provider=provider
        )
    completion = await provider.complete(analysis_prompt(subject, hits))
    values = settle(completion.value, subject, hits)
    values["result"]["query"] = query
    values["result"]["provider"] = completion.provider
    return values, completion.provider, completion.model


# ------------------------------------------------------------------------------- the job


def _changed(analysis_id: uuid.UUID, job_id: uuid.UUID, values: dict[str, Any], only_if: Sequence[str]) -> Any:
    table = MessageAnalysis.__table__  # type: ignore[attr-defined]
    return (
        sa.update(table)
        .where(table.c.id == analysis_id, table.c.job_id == job_id, table.c.status.in_(only_if))
        .values(**values)
        .returning(*table.c)
    )


async def _change(
    sessions: async_sessionmaker[AsyncSession],
    analysis_id: uuid.UUID,
    job_id: uuid.UUID,
    values: dict[str, Any],
    *,
    only_if: Sequence[str],
) -> Any | None:
    """Change the analysis while it is this job's and in one of `only_if`, commit, announce."""

    async def work(session: AsyncSession) -> Any | None:
        row = (await session.execute(_changed(analysis_id, job_id, values, only_if))).one_or_none()
        if row is None:
            return None
        message = await session.get_one(Message, row.message_id)
        _announce(session, row, message.status)
        return row

    return await run_in_transaction(sessions, work)


async def _start(
    sessions: async_sessionmaker[AsyncSession], analysis_id: uuid.UUID, job_id: uuid.UUID
) -> tuple[Any, Subject] | None:
    """The analysis, running (while it is this job's), and what it reads, in one transaction."""
    running = {"status": AnalysisStatus.RUNNING.value, "error": None}

    async def work(session: AsyncSession) -> tuple[Any, Subject] | None:
        row = (await session.execute(_changed(analysis_id, job_id, running, ACTIVE))).one_or_none()
        if row is None:
            return None
        version = await session.get_one(MessageVersion, row.version_id)
        message = await session.get_one(Message, row.message_id)
        organization = await session.get_one(Organization, row.organization_id)
        subject = Subject(
            text=version.body,
            channel=message.channel,
            paid=message.paid,
            audience_segments=list(message.audience_segments),
            committee=organization.name,
        )
        _announce(session, row, message.status)
        return row, subject

    return await run_in_transaction(sessions, work)


def _error_text(error: BaseException) -> str:
    if isinstance(error, AIProviderError | jobs.JobFailed):
        return f"{error.code}: {error.message}"
    if isinstance(error, DomainError):
        return f"{error.code.name}: {error.message}"
    if isinstance(error, pydantic.ValidationError):
        return "AI_INVALID_OUTPUT: the answer does not match the schema"
    return f"INTERNAL: {type(error).__name__} (see the job's error)"


async def analysis_lost(session: AsyncSession, job: jobs.JobState) -> None:
    """An analysis whose job was lost for good (its worker died on the last attempt, so
    `run_analysis` never settled it): FAILED with the job's error, in the job's own transaction,
    so that it is never left "running" and anyone who may request it can run it again."""
    error = f"{job.error_code}: {job.error_message}" if job.error_code else "The analysis's job was lost"
    analysis_id = uuid.UUID(job.params["analysis_id"])
    failed = {"status": AnalysisStatus.FAILED.value, "error": error[:1000], "completed_at": utcnow()}
    row = (await session.execute(_changed(analysis_id, job.id, failed, ACTIVE))).one_or_none()
    if row is None:  # re-requested since, or gone with its version
        return
    message = await session.get_one(Message, row.message_id)
    _announce(session, row, message.status)


async def run_analysis(run: jobs.JobRun) -> dict[str, Any]:
    """Run an ANALYSIS_KIND job (its handler, registered by `products.akashic`)."""
    sessions, settings = run.runtime.sessions, run.runtime.settings
    analysis_id = uuid.UUID(run.params["analysis_id"])
    began = time.perf_counter()
    started = await _start(sessions, analysis_id, run.job_id)
    if started is None:  # re-requested since (another job runs it) or deleted with its version
        return {"analysisId": to_global_id("MessageAnalysis", analysis_id), "skipped": True}
    row, subject = started
    try:
        await run.progress(0.3, "Searching the knowledge base")
        requester = Actor(user_id=run.user_id, role="user")
        async with sessions() as session, session.begin():
            try:
                values, provider, model = await analyse(
                    session, actor=requester, provider=run.runtime.ai, subject=subject, campaign_id=row.organization_id
                )
            except DomainError as error:  # the requester left the campaign since
                raise jobs.JobFailed(error.code.name, error.message, retryable=False) from error
        run.used(provider, model)
    except Exception as error:
        final = not is_retryable(error) or run.attempt - 1 >= settings.job_max_retries
        text = _error_text(error)
        await _change(
            sessions,
            analysis_id,
            run.job_id,
            {
                "status": AnalysisStatus.FAILED.value if final else AnalysisStatus.QUEUED.value,
                "error": (text if final else f"Attempt {run.attempt} failed, retrying: {text}")[:1000],
                "completed_at": utcnow() if final else None,
                "duration_ms": int((time.perf_counter() - began) * 1000) if final else None,
            },
            only_if=(AnalysisStatus.RUNNING.value,),
        )
        raise
    saved = await _change(
        sessions,
        analysis_id,
        run.job_id,
        {
            **values,
            "status": AnalysisStatus.SUCCEEDED.value,
            "model": f"{provider}/{model}"[:200],
            "duration_ms": int((time.perf_counter() - began) * 1000),
            "completed_at": utcnow(),
        },
        only_if=(AnalysisStatus.RUNNING.value,),
    )
    return {
        "analysisId": to_global_id("MessageAnalysis", analysis_id),
        "skipped": saved is None,
        "riskLevel": values["risk_level"],
        "issueCount": values["issue_count"],
        "resonanceScore": values["resonance_score"],
    }
