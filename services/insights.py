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
   offline provider uses the templates below); the insights are posted with the provider and
   model that wrote them.

What the user is shown next depends on their feedback: dismissed (and not-helpful) insights
disappear, a rule's insights rank by score x rule weight x the user's affinity for the rule
(each net helpful +25 %, up to x2; each net not helpful halves it), and a rule suppressed by
repeated not-helpful verdicts is neither shown nor evaluated any more.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.ai import AIFailure, AIProvider, AIProviderError, Completion, StructuredPrompt
from core.context import Actor
from core.errors import NotFound, ValidationFailed
from core.pagination import Sort
from core.ratelimit import RateLimiter
from core.relay import to_global_id
from core.settings import Settings
from models.aurum import Pillar
from models.identity import User
from models.insights import (
    FeedbackKind,
    Frequency,
    HrmFeedback,
    HrmRule,
    HrmUserPreferences,
    Insight,
    RuleKind,
    SubjectType,
    Tone,
)
from models.jobs import ACTIVE_JOB_STATUSES, BackgroundJob
from services import jobs

ANALYSIS_KIND = "aurum.insights"
#: a rule is no longer shown nor evaluated for a user once not-helpful verdicts outnumber helpful ones by this
SUPPRESS_AFTER = 3
#: users whose periodic analysis one sweep enqueues at most
SWEEP_BATCH = 500


def _t(model: type) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined]


RULES = _t(HrmRule)
INSIGHTS = _t(Insight)
PREFERENCES = _t(HrmUserPreferences)
FEEDBACK_LOG = _t(HrmFeedback)
JOBS = _t(BackgroundJob)
USERS = _t(User)
PILLARS = _t(Pillar)


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
        .where(i.c.user_id == actor.user_id, i.c.feedback.is_not(None))
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
        .where(i.c.user_id == actor.user_id)
    )
    return InsightQuery(select=select, relevance=relevance)


def not_dismissed(include_dismissed: bool) -> list[sa.ColumnElement[bool]]:
    return [] if include_dismissed else [INSIGHTS.c.dismissed_at.is_(None)]


INSIGHT_ORDERS = ("RELEVANCE_DESC", "CREATED_AT_DESC", "CREATED_AT_ASC")


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
        .select_from(
            r.outerjoin(feedback, feedback.c.rule_id == r.c.id).outerjoin(
                p, p.c.user_id == sa.literal(actor.user_id, sa.Uuid)
            )
        )
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


# --------------------------------------------------------------------- rule evaluation


@dataclass(frozen=True)
class Finding:
    user_id: uuid.UUID
    rule_id: uuid.UUID
    rule_key: str
    kind: RuleKind
    severity: str
    period_days: int
    subject_type: SubjectType
    subject_id: uuid.UUID | None
    score: float
    facts: dict[str, Any]

    def fingerprint(self, now: datetime) -> str:
        period = int(now.timestamp() // (86400 * self.period_days))
        return f"{self.rule_key}:{self.subject_type.value}:{self.subject_id or '-'}:{period}"


OPEN = "('todo', 'in_progress')"

# One statement per kind. :rules is a JSON array of the kind's rules ({rule_id, ...parameters});
# :user_ids the users analysed; :now the analysis time. Each row is a finding.
RULE_SQL: dict[RuleKind, str] = {
    RuleKind.OVERDUE_IN_IMPORTANT_AREA: f"""
        SELECT a.user_id, r.rule_id, 'area' AS subject_type, a.id AS subject_id,
               LEAST(1.0, count(*) * a.importance / 20.0) AS score,
               jsonb_build_object(
                   'area', a.name, 'pillar', p.name, 'importance', a.importance,
                   'overdue_count', count(*),
                   'oldest_task', (array_agg(t.title ORDER BY t.due_at, t.id))[1],
                   'oldest_days_late', floor(extract(epoch FROM :now - min(t.due_at)) / 86400)::int,
                   'other_tasks', to_jsonb((array_agg(t.title ORDER BY t.due_at, t.id))[2:3]),
                   'urgent_count', count(*) FILTER (WHERE t.priority >= 4)
               ) AS facts
          FROM jsonb_to_recordset(:rules) AS r(rule_id uuid, min_importance int, min_overdue int)
          JOIN areas a ON a.importance >= r.min_importance
          JOIN pillars p ON p.id = a.pillar_id
          JOIN projects pr ON pr.area_id = a.id
          JOIN tasks t ON t.project_id = pr.id
         WHERE a.user_id = ANY(:user_ids) AND t.status IN {OPEN} AND t.due_at < :now
         GROUP BY a.user_id, r.rule_id, r.min_overdue, a.id, a.name, a.importance, p.name
        HAVING count(*) >= r.min_overdue
    """,
    RuleKind.INACTIVE_PILLAR: f"""
        SELECT p.user_id, r.rule_id, 'pillar' AS subject_type, p.id AS subject_id,
               LEAST(1.0, extract(epoch FROM :now - activity.last_at) / 86400 / (3.0 * r.days)) AS score,
               jsonb_build_object(
                   'pillar', p.name,
                   'days_idle', floor(extract(epoch FROM :now - activity.last_at) / 86400)::int,
                   'last_activity_at', activity.last_at,
                   'open_tasks', activity.open_tasks,
                   'next_task', activity.next_task,
                   'threshold_days', r.days
               ) AS facts
          FROM jsonb_to_recordset(:rules) AS r(rule_id uuid, days int)
          JOIN pillars p ON p.user_id = ANY(:user_ids)
          CROSS JOIN LATERAL (
              SELECT GREATEST(p.created_at, max(pr.updated_at), max(t.updated_at), max(t.completed_at)) AS last_at,
                     count(t.id) FILTER (WHERE t.status IN {OPEN}) AS open_tasks,
                     (array_agg(t.title ORDER BY t.priority DESC, t.due_at NULLS LAST, t.id)
                          FILTER (WHERE t.status IN {OPEN}))[1] AS next_task
                FROM areas a
                LEFT JOIN projects pr ON pr.area_id = a.id
                LEFT JOIN tasks t ON t.project_id = pr.id
               WHERE a.pillar_id = p.id
          ) AS activity
         WHERE COALESCE(activity.last_at, p.created_at) < :now - make_interval(days => r.days)
    """,
    RuleKind.HIGH_PRIORITY_OVERLOAD: f"""
        SELECT t.user_id, r.rule_id, 'user' AS subject_type, t.user_id AS subject_id,
               LEAST(1.0, count(*) / (2.0 * r.max_open)) AS score,
               jsonb_build_object(
                   'open_count', count(*),
                   'max_open', r.max_open,
                   'urgent_count', count(*) FILTER (WHERE t.priority >= 4),
                   'overdue_count', count(*) FILTER (WHERE t.due_at < :now),
                   'top_tasks', to_jsonb((array_agg(t.title ORDER BY t.priority DESC, t.due_at NULLS LAST, t.id))[1:3])
               ) AS facts
          FROM jsonb_to_recordset(:rules) AS r(rule_id uuid, max_open int, min_priority int)
          JOIN tasks t ON t.priority >= r.min_priority
         WHERE t.user_id = ANY(:user_ids) AND t.status IN {OPEN}
         GROUP BY t.user_id, r.rule_id, r.max_open
        HAVING count(*) > r.max_open
    """,
    RuleKind.COMPLETION_STREAK: """
        WITH days AS (
            SELECT t.user_id, (t.completed_at AT TIME ZONE 'UTC')::date AS day, count(*) AS done
              FROM tasks t
             WHERE t.user_id = ANY(:user_ids) AND t.status = 'done'
               AND t.completed_at >= :now - interval '120 days' AND t.completed_at <= :now
             GROUP BY 1, 2
        ), islands AS (
            SELECT user_id, day, done,
                   day - (row_number() OVER (PARTITION BY user_id ORDER BY day))::int AS island
              FROM days
        ), streaks AS (
            SELECT user_id, min(day) AS first_day, max(day) AS last_day, count(*) AS length, sum(done) AS done
              FROM islands GROUP BY user_id, island
        )
        SELECT s.user_id, r.rule_id, 'user' AS subject_type, s.user_id AS subject_id,
               LEAST(1.0, s.length / 14.0) AS score,
               jsonb_build_object(
                   'streak_days', s.length, 'since', s.first_day, 'tasks_done', s.done,
                   'through_today', s.last_day = (:now AT TIME ZONE 'UTC')::date
               ) AS facts
          FROM streaks s
          JOIN jsonb_to_recordset(:rules) AS r(rule_id uuid, min_days int) ON s.length >= r.min_days
         WHERE s.last_day >= (:now AT TIME ZONE 'UTC')::date - 1
    """,
}

_RULE_STATEMENTS = {
    kind: sa.text(sql).bindparams(
        sa.bindparam("rules", type_=postgresql.JSONB),
        sa.bindparam("user_ids", type_=postgresql.ARRAY(sa.Uuid)),
        sa.bindparam("now", type_=sa.DateTime(timezone=True)),
    )
    for kind, sql in RULE_SQL.items()
}


def _applicable_rules(user_ids: Sequence[uuid.UUID], only: Sequence[uuid.UUID] | None) -> sa.Select[Any]:
    """(user, rule) pairs to evaluate: enabled, not muted, not suppressed by feedback."""
    users = (
        sa.func.unnest(sa.cast(sa.literal(list(user_ids)), postgresql.ARRAY(sa.Uuid)))
        .table_valued(sa.column("id", sa.Uuid), name="analysed")
        .render_derived()
    )
    r, p, i = RULES, PREFERENCES, INSIGHTS
    feedback = (
        sa.select(
            i.c.user_id,
            i.c.rule_id,
            (
                sa.func.count().filter(i.c.feedback == FeedbackKind.HELPFUL.value)
                - sa.func.count().filter(i.c.feedback == FeedbackKind.NOT_HELPFUL.value)
            ).label("net"),
        )
        .where(i.c.user_id.in_(user_ids), i.c.feedback.is_not(None))
        .group_by(i.c.user_id, i.c.rule_id)
        .subquery("rule_feedback")
    )
    statement = (
        sa.select(users.c.id.label("user_id"), r)
        .select_from(
            users.join(r, r.c.enabled)
            .outerjoin(p, p.c.user_id == users.c.id)
            .outerjoin(feedback, sa.and_(feedback.c.user_id == users.c.id, feedback.c.rule_id == r.c.id))
        )
        .where(
            sa.not_(sa.func.coalesce(r.c.id == sa.func.any(p.c.muted_rule_ids), False)),
            sa.func.coalesce(feedback.c.net, 0) > -SUPPRESS_AFTER,
        )
    )
    if only:
        statement = statement.where(r.c.id.in_(only))
    return statement


async def find(
    conn: AsyncConnection | AsyncSession,
    *,
    user_ids: Sequence[uuid.UUID],
    now: datetime,
    only_rules: Sequence[uuid.UUID] | None = None,
) -> list[Finding]:
    """Every finding of the applicable rules for `user_ids`: one statement per rule kind."""
    applicable = (await conn.execute(_applicable_rules(user_ids, only_rules))).all()
    allowed = {(row.user_id, row.id) for row in applicable}
    rules = {row.id: row for row in applicable}
    by_kind: dict[RuleKind, list[Any]] = {}
    for rule in rules.values():
        by_kind.setdefault(RuleKind(rule.kind), []).append(rule)
    findings: list[Finding] = []
    wanted_users = sorted({user_id for user_id, _ in allowed})
    for kind, kind_rules in sorted(by_kind.items()):
        params = [{"rule_id": str(rule.id), **rule.parameters} for rule in kind_rules]
        result = await conn.execute(_RULE_STATEMENTS[kind], {"rules": params, "user_ids": wanted_users, "now": now})
        for row in result:
            if (row.user_id, row.rule_id) not in allowed:
                continue
            rule = rules[row.rule_id]
            findings.append(
                Finding(
                    user_id=row.user_id,
                    rule_id=rule.id,
                    rule_key=rule.key,
                    kind=kind,
                    severity=rule.severity,
                    period_days=max(1, rule.period_days),
                    subject_type=SubjectType(row.subject_type),
                    subject_id=row.subject_id,
                    score=round(float(row.score), 4),
                    facts=json.loads(json.dumps(row.facts, default=str)),
                )
            )
    return findings


async def already_posted(session: AsyncSession, findings: Sequence[Finding], now: datetime) -> set[str]:
    """Fingerprints of `findings` that are on the blackboard in their current period."""
    if not findings:
        return set()
    pairs = {(f.user_id, f.fingerprint(now)) for f in findings}
    i = INSIGHTS
    statement = sa.select(i.c.fingerprint).where(
        sa.tuple_(i.c.user_id, i.c.fingerprint).in_([sa.tuple_(sa.literal(u), sa.literal(fp)) for u, fp in pairs])
    )
    return set((await session.execute(statement)).scalars())


# ------------------------------------------------------------------------ the writing


class InsightText(pydantic.BaseModel):
    ref: str = pydantic.Field(description="The finding's ref, unchanged.")
    title: str = pydantic.Field(description="A headline of at most 80 characters.")
    body: str = pydantic.Field(description="One to three sentences grounded in the facts, with one concrete next step.")


class InsightTexts(pydantic.BaseModel):
    insights: list[InsightText]


TONE_GUIDE = {
    Tone.ENCOURAGING: "warm and encouraging: acknowledge effort, then suggest one small next step",
    Tone.DIRECT: "direct and brief: state the fact and the action, no cushioning",
    Tone.NEUTRAL: "neutral and factual: describe the situation and the options",
}


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def _quoted(titles: Sequence[str]) -> str:
    quoted = [f"“{t}”" for t in titles]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _overdue_text(facts: dict[str, Any], tone: Tone) -> tuple[str, str]:
    count, area, pillar = facts["overdue_count"], facts["area"], facts["pillar"]
    oldest, late, importance = facts["oldest_task"], facts["oldest_days_late"], facts["importance"]
    days = "less than a day" if late < 1 else _plural(late, "day")
    title = f"{_plural(count, 'overdue task')} in {area}"
    others = facts.get("other_tasks") or []
    also = f" Also waiting: {_quoted(others)}." if others else ""
    if tone is Tone.DIRECT:
        body = (
            f"{area} (importance {importance}/5) has {_plural(count, 'overdue task')}. "
            f"Oldest: “{oldest}”, {days} late. Finish, reschedule or drop it today.{also}"
        )
    elif tone is Tone.NEUTRAL:
        body = (
            f"{area}, in {pillar}, has {_plural(count, 'open task')} past due; the oldest, “{oldest}”, "
            f"is {days} late.{also} Rescheduling or splitting them would bring the area back on track."
        )
    else:
        slipped = "one of its tasks" if count == 1 else f"{count} of its tasks"
        body = (
            f"{area} matters to you (importance {importance}/5), and {slipped} slipped past due. "
            f"Start with one small step on “{oldest}” ({days} late): clearing it makes the rest lighter.{also}"
        )
    return title, body


def _inactive_text(facts: dict[str, Any], tone: Tone) -> tuple[str, str]:
    pillar, idle, open_tasks = facts["pillar"], facts["days_idle"], facts.get("open_tasks", 0)
    title = f"{pillar} has been quiet for {_plural(idle, 'day')}"
    next_task = facts.get("next_task")
    if next_task:
        step = f"“{next_task}” is the obvious next step"
    else:
        step = "it has no open task: add one small one" if open_tasks == 0 else "pick any open task"
    if tone is Tone.DIRECT:
        body = (
            f"Nothing moved in {pillar} for {_plural(idle, 'day')}. "
            f"Decide: act on it this week or pause it. {step[0].upper() + step[1:]}."
        )
    elif tone is Tone.NEUTRAL:
        body = (
            f"No task in {pillar} was created, changed or completed in {_plural(idle, 'day')} "
            f"({_plural(open_tasks, 'open task')}); {step}."
        )
    else:
        body = (
            f"{pillar} is one of your pillars, and it has rested for {_plural(idle, 'day')}. "
            f"A little attention keeps it alive: {step}."
        )
    return title, body


def _overload_text(facts: dict[str, Any], tone: Tone) -> tuple[str, str]:
    count, limit = facts["open_count"], facts["max_open"]
    top = facts.get("top_tasks") or []
    title = f"{count} high-priority tasks at once"
    focus = f" Focus first on {_quoted(top)}." if top else ""
    urgent = f", {facts['urgent_count']} of them urgent" if facts.get("urgent_count") else ""
    if tone is Tone.DIRECT:
        body = (
            f"{count} open high-priority tasks{urgent}: more than {limit} means none is really a priority. "
            f"Downgrade or drop {count - limit}.{focus}"
        )
    elif tone is Tone.NEUTRAL:
        body = (
            f"You have {count} open tasks of high or urgent priority{urgent}, "
            f"above the {limit} that usually stay manageable.{focus}"
        )
    else:
        body = (
            f"You are carrying {count} high-priority tasks{urgent}. That is a lot for anyone: "
            f"choose the few that matter most this week and let the others wait.{focus}"
        )
    return title, body


def _streak_text(facts: dict[str, Any], tone: Tone) -> tuple[str, str]:
    days, done, since = facts["streak_days"], facts["tasks_done"], facts["since"]
    title = f"A {days}-day completion streak"
    keep = "Today counts already." if facts.get("through_today") else "Complete one task today to keep it going."
    if tone is Tone.DIRECT:
        body = f"{_plural(done, 'task')} done over {days} consecutive days since {since}. {keep}"
    elif tone is Tone.NEUTRAL:
        body = f"You completed tasks on {days} consecutive days ({_plural(done, 'task')} since {since}). {keep}"
    else:
        body = (
            f"Well done: {days} days in a row with at least one task completed, "
            f"{_plural(done, 'task')} in all since {since}. {keep}"
        )
    return title, body


TEMPLATES: dict[RuleKind, Callable[[dict[str, Any], Tone], tuple[str, str]]] = {
    RuleKind.OVERDUE_IN_IMPORTANT_AREA: _overdue_text,
    RuleKind.INACTIVE_PILLAR: _inactive_text,
    RuleKind.HIGH_PRIORITY_OVERLOAD: _overload_text,
    RuleKind.COMPLETION_STREAK: _streak_text,
}


def insight_prompt(findings: Sequence[Finding], tone: Tone) -> StructuredPrompt[InsightTexts]:
    refs = [str(n) for n in range(len(findings))]

    def offline() -> InsightTexts:
        texts = []
        for ref, finding in zip(refs, findings, strict=True):
            title, body = TEMPLATES[finding.kind](finding.facts, tone)
            texts.append(InsightText(ref=ref, title=title, body=body))
        return InsightTexts(insights=texts)

    data = [
        {"ref": ref, "rule": f.kind.value, "severity": f.severity, "facts": f.facts}
        for ref, f in zip(refs, findings, strict=True)
    ]
    return StructuredPrompt(
        task="aurum_insights",
        instructions=(
            "You are the insight writer of Aurum Life, a personal life operating system organised as "
            "pillars > areas > projects > tasks. For each finding below, write one insight: a title of at "
            "most 80 characters and a body of one to three sentences that uses only the given facts and ends "
            f"with one concrete next step. Tone: {TONE_GUIDE[tone]}. Return exactly one item per finding, "
            "with the finding's ref unchanged."
        ),
        input=json.dumps({"findings": data}, ensure_ascii=False),
        output=InsightTexts,
        offline=offline,
    )


async def write_insights(
    provider: AIProvider, findings: Sequence[Finding], tone: Tone
) -> tuple[list[tuple[str, str]], Completion[InsightTexts]]:
    """(title, body) for each finding, in order, from the provider; a wrong answer is INVALID_OUTPUT."""
    completion = await provider.complete(insight_prompt(findings, tone))
    by_ref: dict[str, InsightText] = {}
    for text in completion.value.insights:
        by_ref.setdefault(text.ref.strip(), text)
    texts: list[tuple[str, str]] = []
    for n in range(len(findings)):
        found = by_ref.get(str(n))
        if found is None or not found.title.strip() or not found.body.strip():
            raise AIProviderError(
                AIFailure.INVALID_OUTPUT,
                f"no usable text for finding {n} of {len(findings)}",
                provider=completion.provider,
                model=completion.model,
            )
        texts.append((found.title.strip()[:200], found.body.strip()[:4000]))
    return texts, completion


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
    await report(0.4, f"{_plural(len(findings), 'finding')}, {len(new)} new: writing them up")
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
        await report(0.8, f"Posting {_plural(len(rows), 'insight')}")
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


@jobs.handler(ANALYSIS_KIND)
async def run_analysis(run: jobs.JobRun) -> dict[str, Any]:
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
    pending = await jobs.active_job(session, user_id=actor.user_id, kind=ANALYSIS_KIND)
    if pending is not None:
        return pending
    wanted = list(dict.fromkeys(rule_ids or []))
    if wanted:
        known = set(
            (await session.execute(sa.select(RULES.c.id).where(RULES.c.id.in_(wanted), RULES.c.enabled))).scalars()
        )
        if len(known) != len(wanted):
            raise NotFound("No enabled insight rule with one of these ids", field=["input", "ruleIds"])
    await limiter.hit(actor.user_id)
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
    values: dict[str, Any] = {}
    for name in ("frequency", "tone"):
        if name in changes:
            if changes[name] is None:
                raise ValidationFailed(f"{name} can't be cleared", field=["input", name])
            values[name] = getattr(changes[name], "value", changes[name])
    if "muted_rule_ids" in changes:
        muted = list(dict.fromkeys(changes["muted_rule_ids"] or []))
        if len(muted) > 100:
            raise ValidationFailed("At most 100 muted rules", field=["input", "mutedRuleIds"])
        known = set((await session.execute(sa.select(RULES.c.id).where(RULES.c.id.in_(muted)))).scalars())
        if len(known) != len(muted):
            raise NotFound("No insight rule with one of these ids", field=["input", "mutedRuleIds"])
        values["muted_rule_ids"] = muted
    statement = (
        postgresql.insert(PREFERENCES)
        .values(user_id=actor.user_id, **values)
        .on_conflict_do_update(index_elements=["user_id"], set_={**values, "updated_at": _now()})
        .returning(*PREFERENCES.c)
    )
    return preferences_of((await session.execute(statement)).one())


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
    if comment is not None:
        comment = comment.strip() or None
        if comment is not None and len(comment) > 1000:
            raise ValidationFailed("comment must be at most 1000 characters", field=["input", "comment"])
    i = INSIGHTS
    row = (
        await session.execute(
            sa.select(i.c.id, i.c.rule_id, i.c.dismissed_at)
            .where(i.c.id == insight_id, i.c.user_id == actor.user_id)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No insight with this id", field=["input", "insightId"])
    now = _now()
    session.add(
        HrmFeedback(user_id=actor.user_id, insight_id=row.id, rule_id=row.rule_id, kind=kind.value, comment=comment)
    )
    values: dict[str, Any] = {}
    if kind is FeedbackKind.HELPFUL:
        values.update(feedback=kind.value, feedback_at=now)
    elif kind is FeedbackKind.NOT_HELPFUL:
        values.update(feedback=kind.value, feedback_at=now, dismissed_at=row.dismissed_at or now)
    else:
        values.update(dismissed_at=row.dismissed_at or now)
    await session.execute(sa.update(i).where(i.c.id == row.id).values(**values))
    await session.flush()
    return row.id


async def get_insight(session: AsyncSession, *, actor: Actor, insight_id: uuid.UUID) -> Any:
    return (await session.execute(insight_query(actor).select.where(INSIGHTS.c.id == insight_id))).one()
