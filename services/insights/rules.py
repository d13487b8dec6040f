"""Insight rules evaluated in SQL: one set-based statement per rule kind.

`find` evaluates the applicable rules (enabled, not muted, not suppressed by feedback) for many
users at once: each kind's statement takes every rule of that kind (their parameters through
`jsonb_to_recordset`) and every user, and returns one row per finding with the facts the text
is written from.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from models.aurum import Pillar
from models.identity import User
from models.insights import FeedbackKind, HrmRule, HrmUserPreferences, Insight, RuleKind, SubjectType
from models.jobs import BackgroundJob
from services.owned import table

#: a rule is no longer shown nor evaluated for a user once not-helpful verdicts outnumber helpful ones by this
SUPPRESS_AFTER = 3


RULES = table(HrmRule)
INSIGHTS = table(Insight)
PREFERENCES = table(HrmUserPreferences)
JOBS = table(BackgroundJob)
USERS = table(User)
PILLARS = table(Pillar)


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
