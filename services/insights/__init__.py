"""Aurum Life insights (the "HRM"): rules evaluated in SQL, the blackboard, preferences, feedback.

An analysis (a background job of kind `aurum.insights`, on request or from the periodic sweep)
runs in four steps:

1. Which rules apply to whom: enabled rules, minus those the user muted and those the user's
   feedback suppressed (marked not helpful `SUPPRESS_AFTER` times more than helpful).
2. Findings: one set-based SQL statement per rule kind, over every rule of that kind and
   every user of the analysis at once (`jsonb_to_recordset` carries the rules' parameters).
3. Findings already on the blackboard in the current period of their rule are dropped
   (`fingerprint` = rule, subject and period): the same finding is never posted twice in it.
4. The AI provider writes a title and a body for each new finding, in the user's tone (the
   offline provider runs the templates of `texts`); the insights are posted with the provider and
   model that wrote them.

What the user is shown next depends on their feedback: dismissed (and not-helpful) insights
disappear, a rule's insights rank by score x rule weight x the user's affinity for the rule
(each net helpful +25 %, up to x2; each net not helpful halves it), and a rule suppressed by
repeated not-helpful verdicts is neither shown nor evaluated any more.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core import access
from core.ai import AIProvider
from core.context import Actor
from core.errors import NotFound, ValidationFailed
from core.pagination import Sort
from core.ratelimit import RateLimiter
from core.relay import to_global_id
from core.settings import Settings
from models.audit import AuditOperation
from models.insights import FeedbackKind, Frequency, HrmFeedback, HrmUserPreferences, Insight, Tone
from models.jobs import ACTIVE_JOB_STATUSES, BackgroundJob
from services import audit, jobs
from services.inputs import clean_text, kept_values
from services.insights.rules import (
    INSIGHTS,
    JOBS,
    PILLARS,
    PREFERENCES,
    RULES,
    SUPPRESS_AFTER,
    USERS,
    Finding,
    already_posted,
    find,
)
from services.insights.texts import TEMPLATES, insight_prompt, plural, write_insights
from services.owned import get_owned

__all__ = [
    "ANALYSIS_KIND",
    "SUPPRESS_AFTER",
    "TEMPLATES",
    "Finding",
    "already_posted",
    "find",
    "insight_prompt",
    "jobs",
    "write_insights",
]

ANALYSIS_KIND = "aurum.insights"
#: users whose periodic analysis one sweep enqueues at most
SWEEP_BATCH = 500


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------- feedback-driven ordering


def affinity(net: sa.ColumnElement[Any]) -> sa.ColumnElement[float]:
    """The user's weight for a rule from its net helpful count: +25 % each up to x2, halved per net not helpful."""
    return sa.case(
        (net >= 0, sa.func.least(2.0, 1.0 + 0.25 * sa.cast(net, sa.Float))),
        else_=sa.func.power(0.5, sa.cast(-net, sa.Float)),
    )


@dataclass(frozen=True)
class InsightQuery:
    """The viewer's insights with their relevance: score x rule weight x the viewer's affinity.

    The select and the orderings share their FROM clause, so build both from one instance.
    """

    select: sa.Select[Any]
    relevance: sa.ColumnElement[float]

    def visible(self) -> sa.Select[Any]:
        """Of an enabled rule the viewer neither muted nor suppressed (dismissal is a separate condition)."""
        columns = self.select.selected_columns
        return self.select.where(RULES.c.enabled, sa.not_(columns.rule_muted), sa.not_(columns.rule_suppressed))

    @property
    def sorts(self) -> dict[str, Sort]:
        return {
            "RELEVANCE_DESC": Sort("relevance_DESC", self.relevance, float, True),
            "CREATED_AT_DESC": Sort("created_DESC", INSIGHTS.c.created_at, datetime, True),
            "CREATED_AT_ASC": Sort("created_ASC", INSIGHTS.c.created_at, datetime, False),
        }


def _rule_feedback_for(actor: Actor) -> sa.Subquery:
    """Per rule: the viewer's insights marked helpful, not helpful, and the net of the two."""
    i = INSIGHTS.alias("rated")
    helpful = sa.func.count().filter(i.c.feedback == FeedbackKind.HELPFUL.value)
    not_helpful = sa.func.count().filter(i.c.feedback == FeedbackKind.NOT_HELPFUL.value)
    return (
        sa.select(
            i.c.rule_id,
            helpful.label("helpful"),
            not_helpful.label("not_helpful"),
            (helpful - not_helpful).label("net"),
        )
        .where(access.readable(i, actor), i.c.feedback.is_not(None))
        .group_by(i.c.rule_id)
        .subquery("rule_feedback")
    )


def insight_query(actor: Actor) -> InsightQuery:
    i, r, p = INSIGHTS, RULES, PREFERENCES
    feedback = _rule_feedback_for(actor)
    net = sa.func.coalesce(feedback.c.net, 0)
    relevance = sa.cast(i.c.score * r.c.weight * affinity(net), sa.Float)
    muted = sa.func.coalesce(i.c.rule_id == sa.func.any(p.c.muted_rule_ids), False)
    select = (
        sa.select(
            i,
            relevance.label("relevance"),
            muted.label("rule_muted"),
            (net <= -SUPPRESS_AFTER).label("rule_suppressed"),
        )
        .select_from(
            i.join(r, r.c.id == i.c.rule_id)
            .outerjoin(feedback, feedback.c.rule_id == i.c.rule_id)
            .outerjoin(p, p.c.user_id == i.c.user_id)
        )
        .where(access.readable(i, actor))
    )
    return InsightQuery(select=select, relevance=relevance)


def not_dismissed(include_dismissed: bool) -> list[sa.ColumnElement[bool]]:
    return [] if include_dismissed else [INSIGHTS.c.dismissed_at.is_(None)]


def rule_rows(actor: Actor, *, enabled_only: bool = True) -> sa.Select[Any]:
    """Rules, with the viewer's verdicts on them, whether muted and whether suppressed."""
    r, p = RULES, PREFERENCES
    feedback = _rule_feedback_for(actor)
    net = sa.func.coalesce(feedback.c.net, 0)
    return (
        sa.select(
            r,
            sa.func.coalesce(feedback.c.helpful, 0).label("helpful_count"),
            sa.func.coalesce(feedback.c.not_helpful, 0).label("not_helpful_count"),
            sa.func.coalesce(r.c.id == sa.func.any(p.c.muted_rule_ids), False).label("muted"),
            (net <= -SUPPRESS_AFTER).label("suppressed"),
        )
        .select_from(r.outerjoin(feedback, feedback.c.rule_id == r.c.id).outerjoin(p, access.readable(p, actor)))
        .where(r.c.enabled if enabled_only else sa.true())
        .order_by(r.c.weight.desc(), r.c.key)
    )


@dataclass(frozen=True)
class Preferences:
    frequency: Frequency
    tone: Tone
    muted_rule_ids: tuple[uuid.UUID, ...]
    last_evaluated_at: datetime | None
    updated_at: datetime | None


DEFAULT_PREFERENCES = Preferences(Frequency.DAILY, Tone.ENCOURAGING, (), None, None)


def preferences_of(row: Any | None) -> Preferences:
    if row is None:
        return DEFAULT_PREFERENCES
    return Preferences(
        frequency=Frequency(row.frequency),
        tone=Tone(row.tone),
        muted_rule_ids=tuple(row.muted_rule_ids),
        last_evaluated_at=row.last_evaluated_at,
        updated_at=row.updated_at,
    )


async def preferences_by_user(conn: AsyncConnection, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Preferences]:
    rows = (await conn.execute(sa.select(PREFERENCES).where(PREFERENCES.c.user_id.in_(user_ids)))).all()
    return {row.user_id: preferences_of(row) for row in rows}


# ----------------------------------------------------------------------- the analysis


@dataclass(frozen=True)
class AnalysisResult:
    findings: int
    insight_ids: list[uuid.UUID]
    provider: str | None
    model: str | None


async def analyse(
    *,
    sessions: Any,
    provider: AIProvider,
    user_id: uuid.UUID,
    now: datetime,
    only_rules: Sequence[uuid.UUID] | None = None,
    job_id: uuid.UUID | None = None,
    progress: Callable[[float, str], Any] | None = None,
) -> AnalysisResult:
    """Evaluate the rules for one user and post the new insights (see the module's docstring)."""

    async def report(fraction: float, message: str) -> None:
        if progress is not None:
            await progress(fraction, message)

    async with sessions() as session:
        findings = await find(session, user_ids=[user_id], now=now, only_rules=only_rules)
        posted = await already_posted(session, findings, now)
        prefs = preferences_of(
            (await session.execute(sa.select(PREFERENCES).where(PREFERENCES.c.user_id == user_id))).one_or_none()
        )
    new = [f for f in findings if f.fingerprint(now) not in posted]
    await report(0.4, f"{plural(len(findings), 'finding')}, {len(new)} new: writing them up")
    provider_name = model = None
    rows: list[dict[str, Any]] = []
    if new:
        texts, completion = await write_insights(provider, new, prefs.tone)
        provider_name, model = completion.provider, completion.model
        rows = [
            {
                "id": uuid.uuid4(),
                "user_id": user_id,
                "rule_id": f.rule_id,
                "job_id": job_id,
                "subject_type": f.subject_type.value,
                "subject_id": f.subject_id,
                "fingerprint": f.fingerprint(now),
                "title": title,
                "body": body,
                "severity": f.severity,
                "score": f.score,
                "facts": f.facts,
                "provider": completion.provider,
                "model": completion.model,
            }
            for f, (title, body) in zip(new, texts, strict=True)
        ]
        await report(0.8, f"Posting {plural(len(rows), 'insight')}")
    async with sessions() as session, session.begin():
        inserted: list[uuid.UUID] = []
        if rows:
            statement = (
                postgresql.insert(INSIGHTS)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["user_id", "fingerprint"])
                .returning(INSIGHTS.c.id)
            )
            inserted = list((await session.execute(statement)).scalars())
        await session.execute(
            postgresql.insert(PREFERENCES)
            .values(user_id=user_id, last_evaluated_at=now)
            .on_conflict_do_update(index_elements=["user_id"], set_={"last_evaluated_at": now})
        )
    return AnalysisResult(findings=len(findings), insight_ids=inserted, provider=provider_name, model=model)


async def run_analysis(run: jobs.JobRun) -> dict[str, Any]:
    """Run an ANALYSIS_KIND job (its handler, registered by `products.insights`)."""
    await run.progress(0.1, "Evaluating your rules")
    only = [uuid.UUID(value) for value in run.params.get("rule_ids") or []]
    result = await analyse(
        sessions=run.runtime.sessions,
        provider=run.runtime.ai,
        user_id=run.user_id,
        now=_now(),
        only_rules=only or None,
        job_id=run.job_id,
        progress=run.progress,
    )
    if result.provider and result.model:
        run.used(result.provider, result.model)
    return {
        "findings": result.findings,
        "created": len(result.insight_ids),
        "insightIds": [to_global_id("Insight", pk) for pk in result.insight_ids],
    }


# ------------------------------------------------------------------ requests and sweeps


async def request_analysis(
    session: AsyncSession,
    *,
    actor: Actor,
    settings: Settings,
    limiter: RateLimiter,
    rule_ids: Sequence[uuid.UUID] | None,
) -> BackgroundJob:
    """Start an analysis for the viewer, or return the one already pending.

    A new analysis counts against the viewer's AI rate limit; joining the pending one does not.
    """
    pending = await jobs.active_job(session, actor=actor, kind=ANALYSIS_KIND)
    if pending is not None:
        return pending
    wanted = list(dict.fromkeys(rule_ids or []))
    if wanted:
        known = set(
            (await session.execute(sa.select(RULES.c.id).where(RULES.c.id.in_(wanted), RULES.c.enabled))).scalars()
        )
        if len(known) != len(wanted):
            raise NotFound("No enabled insight rule with one of these ids", field=["input", "ruleIds"])
    await limiter.hit(access.quota_key(actor))
    return await jobs.enqueue(
        session,
        user_id=actor.user_id,
        kind=ANALYSIS_KIND,
        params={"trigger": "request", "rule_ids": [str(pk) for pk in wanted]},
        max_retries=settings.job_max_retries,
    )


async def schedule_due_analyses(
    session: AsyncSession, *, now: datetime, settings: Settings, limit: int = SWEEP_BATCH
) -> list[BackgroundJob]:
    """Enqueue the periodic analysis of every Aurum Life user whose frequency says it is due."""
    u, p, j, pillars = USERS, PREFERENCES, JOBS, PILLARS
    frequency = sa.func.coalesce(p.c.frequency, Frequency.DAILY.value)
    days = sa.case((frequency == Frequency.WEEKLY.value, 7), else_=1)
    due_before = sa.literal(now, sa.DateTime(timezone=True)) - sa.func.make_interval(0, 0, 0, days)
    statement = (
        sa.select(u.c.id)
        .select_from(u.outerjoin(p, p.c.user_id == u.c.id))
        .where(
            frequency != Frequency.NEVER.value,
            sa.or_(p.c.last_evaluated_at.is_(None), p.c.last_evaluated_at < due_before),
            sa.exists().where(pillars.c.user_id == u.c.id),
            ~sa.exists().where(j.c.user_id == u.c.id, j.c.kind == ANALYSIS_KIND, j.c.status.in_(ACTIVE_JOB_STATUSES)),
        )
        .order_by(p.c.last_evaluated_at.asc().nulls_first(), u.c.id)
        .limit(limit)
    )
    due = list((await session.execute(statement)).scalars())
    return [
        await jobs.enqueue(
            session,
            user_id=user_id,
            kind=ANALYSIS_KIND,
            params={"trigger": "schedule"},
            max_retries=settings.job_max_retries,
        )
        for user_id in due
    ]


# ------------------------------------------------------------- preferences and feedback


async def update_preferences(session: AsyncSession, *, actor: Actor, changes: dict[str, Any]) -> Preferences:
    values = kept_values(changes, ("frequency", "tone"))
    if "muted_rule_ids" in changes:
        muted = list(dict.fromkeys(changes["muted_rule_ids"] or []))
        if len(muted) > 100:
            raise ValidationFailed("At most 100 muted rules", field=["input", "mutedRuleIds"])
        known = set((await session.execute(sa.select(RULES.c.id).where(RULES.c.id.in_(muted)))).scalars())
        if len(known) != len(muted):
            raise NotFound("No insight rule with one of these ids", field=["input", "mutedRuleIds"])
        values["muted_rule_ids"] = muted
    # The values before, for the audit trail (locked: the upsert below changes what was read).
    earlier = (
        await session.execute(sa.select(PREFERENCES).where(access.readable(PREFERENCES, actor)).with_for_update())
    ).one_or_none()
    statement = (
        postgresql.insert(PREFERENCES)
        .values(user_id=actor.user_id, **values)
        .on_conflict_do_update(index_elements=["user_id"], set_={**values, "updated_at": _now()})
        .returning(*PREFERENCES.c)
        .execution_options(**audit.RECORDED)
    )
    stored = (await session.execute(statement)).one()
    row = dict(stored._mapping)
    if earlier is None:
        audit.record(session, HrmUserPreferences, AuditOperation.CREATE, row=row)
    else:
        audit.record(session, HrmUserPreferences, AuditOperation.UPDATE, row=row, before=earlier._mapping, after=row)
    return preferences_of(stored)


async def give_feedback(
    session: AsyncSession,
    *,
    actor: Actor,
    insight_id: uuid.UUID,
    kind: FeedbackKind,
    comment: str | None,
) -> uuid.UUID:
    """Log the verdict; helpful keeps the insight and boosts its rule, not helpful hides the
    insight and weakens its rule, dismiss hides it without judging."""
    comment = clean_text(comment, field="comment", max_length=1000, required=False)
    row = await get_owned(session, Insight, actor, insight_id, field="insightId", lock=True)
    now = _now()
    session.add(
        HrmFeedback(user_id=actor.user_id, insight_id=row.id, rule_id=row.rule_id, kind=kind.value, comment=comment)
    )
    if kind is FeedbackKind.HELPFUL:
        row.feedback, row.feedback_at = kind.value, now
    elif kind is FeedbackKind.NOT_HELPFUL:
        row.feedback, row.feedback_at, row.dismissed_at = kind.value, now, row.dismissed_at or now
    else:
        row.dismissed_at = row.dismissed_at or now
    await session.flush()
    return row.id


async def get_insight(session: AsyncSession, *, actor: Actor, insight_id: uuid.UUID) -> Any:
    return (await session.execute(insight_query(actor).select.where(INSIGHTS.c.id == insight_id))).one()
