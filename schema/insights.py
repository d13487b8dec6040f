"""Aurum Life insights (HRM): rules, insights on the blackboard, preferences, feedback."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from core.relay import to_global_id
from core.sqljson import python_only_type
from loaders.base import PageKey
from models import insights as m
from schema import kit
from schema.aurum.types import Area, Pillar, Task
from schema.common import (
    After,
    Before,
    Connection,
    Ctx,
    First,
    Last,
    MutationError,
    Node,
    connection,
    read_page_args,
)
from schema.identity import User
from schema.jobs import BackgroundJob
from schema.viewer_base import ViewerBase
from services.insights import SUPPRESS_AFTER, Preferences


@strawberry.enum(description="How much an insight asks for attention.")
class InsightSeverity(Enum):
    INFO = strawberry.enum_value(m.Severity.INFO.value, description="Good to know (e.g. a streak).")
    WARNING = strawberry.enum_value(m.Severity.WARNING.value, description="Worth acting on soon.")
    CRITICAL = strawberry.enum_value(m.Severity.CRITICAL.value, description="Needs attention now.")


@strawberry.enum(description="What a rule looks for; each kind is one SQL evaluator with its own parameters.")
class InsightRuleKind(Enum):
    OVERDUE_IN_IMPORTANT_AREA = strawberry.enum_value(
        m.RuleKind.OVERDUE_IN_IMPORTANT_AREA.value,
        description="Overdue open tasks in an area of high importance (`min_importance`, `min_overdue`).",
    )
    INACTIVE_PILLAR = strawberry.enum_value(
        m.RuleKind.INACTIVE_PILLAR.value, description="A pillar where nothing happened for `days` days."
    )
    HIGH_PRIORITY_OVERLOAD = strawberry.enum_value(
        m.RuleKind.HIGH_PRIORITY_OVERLOAD.value,
        description="More than `max_open` open tasks of priority `min_priority` or above.",
    )
    COMPLETION_STREAK = strawberry.enum_value(
        m.RuleKind.COMPLETION_STREAK.value,
        description="Tasks completed on `min_days` or more consecutive days (UTC), up to today or yesterday.",
    )


@strawberry.enum(description="How often the periodic analysis runs for the viewer.")
class InsightFrequency(Enum):
    NEVER = strawberry.enum_value(m.Frequency.NEVER.value, description="Only when asked (`requestInsights`).")
    DAILY = strawberry.enum_value(m.Frequency.DAILY.value, description="Once a day (the default).")
    WEEKLY = strawberry.enum_value(m.Frequency.WEEKLY.value, description="Once a week.")


@strawberry.enum(description="The voice insights are written in.")
class InsightTone(Enum):
    ENCOURAGING = strawberry.enum_value(
        m.Tone.ENCOURAGING.value, description="Warm: acknowledges effort, suggests one small step (the default)."
    )
    DIRECT = strawberry.enum_value(m.Tone.DIRECT.value, description="Brief: the fact and the action.")
    NEUTRAL = strawberry.enum_value(m.Tone.NEUTRAL.value, description="Factual: the situation and the options.")


@strawberry.enum(description="The viewer's verdict on an insight.")
class InsightFeedbackKind(Enum):
    HELPFUL = strawberry.enum_value(
        m.FeedbackKind.HELPFUL.value, description="Keep it; its rule's insights rank higher (+25 % each, up to x2)."
    )
    NOT_HELPFUL = strawberry.enum_value(
        m.FeedbackKind.NOT_HELPFUL.value,
        description=(
            "Hide it; its rule's insights rank lower (halved each), and a rule judged not helpful "
            f"{SUPPRESS_AFTER} times more than helpful is no longer shown nor evaluated."
        ),
    )
    DISMISS = strawberry.enum_value(m.FeedbackKind.DISMISS.value, description="Hide it, without judging its rule.")


@strawberry.enum(description="Orders of insights.")
class InsightOrderBy(Enum):
    RELEVANCE_DESC = strawberry.enum_value(
        "RELEVANCE_DESC", description="Most relevant first: score x rule weight x the viewer's feedback on the rule."
    )
    CREATED_AT_DESC = strawberry.enum_value("CREATED_AT_DESC", description="Newest first.")
    CREATED_AT_ASC = strawberry.enum_value("CREATED_AT_ASC", description="Oldest first.")


@python_only_type(why="Rows computed by the insight engine's statements (the viewer's feedback joined in).")
@strawberry.type(description="A rule of the insight engine, with the viewer's standing towards it.")
class InsightRule(Node):
    pk: strawberry.Private[uuid.UUID]
    key: str = strawberry.field(description="Stable name, e.g. `overdue_in_important_area`.")
    kind: InsightRuleKind = strawberry.field(description="Which evaluator runs it.")
    name: str = strawberry.field(description="Short name for a person.")
    description: str = strawberry.field(description="What it looks for.")
    parameters: JSON = strawberry.field(description="The evaluator's parameters (see `InsightRuleKind`).")
    severity: InsightSeverity = strawberry.field(description="Severity of its insights.")
    weight: float = strawberry.field(description="Weight of its insights in the relevance order.")
    period_days: int = strawberry.field(description="A finding is posted again only in a later period of this length.")
    muted: bool = strawberry.field(description="The viewer muted it in their preferences.")
    suppressed: bool = strawberry.field(description="The viewer's feedback suppressed it (repeatedly not helpful).")
    helpful_count: int = strawberry.field(description="The viewer's insights of this rule marked helpful.")
    not_helpful_count: int = strawberry.field(description="The viewer's insights of this rule marked not helpful.")

    @classmethod
    def from_row(cls, row: Any) -> InsightRule:
        return cls(
            id=strawberry.ID(to_global_id("InsightRule", row.id)),
            pk=row.id,
            key=row.key,
            kind=InsightRuleKind(row.kind),
            name=row.name,
            description=row.description,
            parameters=row.parameters,
            severity=InsightSeverity(row.severity),
            weight=row.weight,
            period_days=row.period_days,
            muted=row.muted,
            suppressed=row.suppressed,
            helpful_count=row.helpful_count,
            not_helpful_count=row.not_helpful_count,
        )


InsightSubject = Annotated[
    Pillar | Area | Task | User, strawberry.union("InsightSubject", description="What an insight is about.")
]


@python_only_type(why="Rows computed by the insight engine's statements (relevance from the viewer's feedback).")
@strawberry.type(description="A finding of a rule about the viewer's data, written up by an AI provider.")
class Insight(Node):
    pk: strawberry.Private[uuid.UUID]
    rule_pk: strawberry.Private[uuid.UUID]
    job_pk: strawberry.Private[uuid.UUID | None]
    subject_type: strawberry.Private[str]
    subject_pk: strawberry.Private[uuid.UUID | None]
    title: str = strawberry.field(description="Headline.")
    body: str = strawberry.field(description="The insight, with a next step.")
    severity: InsightSeverity = strawberry.field(description="How much it asks for attention.")
    score: float = strawberry.field(description="Strength of the finding, from 0 to 1.")
    relevance: float = strawberry.field(description="Score x rule weight x the viewer's feedback on the rule.")
    facts: JSON = strawberry.field(description="The data the rule found (counts, names, dates) that the text is from.")
    provider: str = strawberry.field(description="AI provider that wrote the text (`offline` for templates).")
    model: str = strawberry.field(description="Model (or template set) that wrote the text.")
    feedback: InsightFeedbackKind | None = strawberry.field(description="The viewer's verdict, if any.")
    dismissed_at: datetime | None = strawberry.field(description="When the viewer dismissed it, if they did.")
    created_at: datetime = strawberry.field(description="When it was posted.")

    @strawberry.field(description="Whether the viewer dismissed it (it no longer shows in `viewer.insights`).")
    def is_dismissed(self) -> bool:
        return self.dismissed_at is not None

    @classmethod
    def from_row(cls, row: Any) -> Insight:
        return cls(
            id=strawberry.ID(to_global_id("Insight", row.id)),
            pk=row.id,
            rule_pk=row.rule_id,
            job_pk=row.job_id,
            subject_type=row.subject_type,
            subject_pk=row.subject_id,
            title=row.title,
            body=row.body,
            severity=InsightSeverity(row.severity),
            score=row.score,
            relevance=round(float(row.relevance), 6),
            facts=row.facts,
            provider=row.provider,
            model=row.model,
            feedback=InsightFeedbackKind(row.feedback) if row.feedback else None,
            dismissed_at=row.dismissed_at,
            created_at=row.created_at,
        )

    @strawberry.field(description="The rule that found it.")
    async def rule(self, info: Ctx) -> InsightRule:
        return InsightRule.from_row(await info.context.loaders.insights.insight_rule_by_id.load(self.rule_pk))

    @strawberry.field(description="What it is about: a pillar, an area, a task or the viewer; null once deleted.")
    async def subject(self, info: Ctx) -> InsightSubject | None:
        if self.subject_pk is None:
            return None
        loaders = info.context.loaders
        if self.subject_type == m.SubjectType.PILLAR.value:
            row = await kit.rows_of(loaders, Pillar).load(self.subject_pk)
            return Pillar.from_row(row) if row else None
        if self.subject_type == m.SubjectType.AREA.value:
            row = await kit.rows_of(loaders, Area).load(self.subject_pk)
            return Area.from_row(row) if row else None
        if self.subject_type == m.SubjectType.TASK.value:
            row = await kit.rows_of(loaders, Task).load(self.subject_pk)
            return Task.from_row(row) if row else None
        row = await kit.rows_of(loaders, User).load(self.subject_pk)
        return User.from_row(row) if row else None

    @strawberry.field(description="The analysis job that posted it.")
    async def job(self, info: Ctx) -> BackgroundJob | None:
        if self.job_pk is None:
            return None
        row = await info.context.loaders.jobs.background_job_by_id.load(self.job_pk)
        return BackgroundJob.from_row(row) if row else None


@python_only_type(why="Computed by `services.insights` (defaults until changed).")
@strawberry.type(description="How the viewer wants their insights.")
class InsightPreferences:
    muted_rule_pks: strawberry.Private[tuple[uuid.UUID, ...]]
    frequency: InsightFrequency = strawberry.field(description="How often the periodic analysis runs.")
    tone: InsightTone = strawberry.field(description="The voice insights are written in.")
    last_evaluated_at: datetime | None = strawberry.field(description="When the viewer's data was last analysed.")
    updated_at: datetime | None = strawberry.field(description="When the preferences last changed; null if never.")

    @classmethod
    def of(cls, value: Preferences) -> InsightPreferences:
        return cls(
            muted_rule_pks=value.muted_rule_ids,
            frequency=InsightFrequency(value.frequency.value),
            tone=InsightTone(value.tone.value),
            last_evaluated_at=value.last_evaluated_at,
            updated_at=value.updated_at,
        )

    @strawberry.field(description="Rules whose insights the viewer does not want.")
    async def muted_rules(self, info: Ctx) -> list[InsightRule]:
        loader = info.context.loaders.insights.insight_rule_by_id
        rows = await loader.load_many(list(self.muted_rule_pks))
        return [InsightRule.from_row(row) for row in rows if row is not None]


@python_only_type(why="Read by the insight engine's statements (services/insights).")
@strawberry.type(description="The viewer's Aurum Life insights.")
class InsightViewerFields(ViewerBase):
    @strawberry.field(
        description="The viewer's insights, most relevant first by default; dismissed ones only if asked."
    )
    async def insights(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        include_dismissed: Annotated[
            bool, strawberry.argument(description="Also list dismissed (and not helpful) insights.")
        ] = False,
        order_by: Annotated[
            InsightOrderBy, strawberry.argument(description="Order of the items.")
        ] = InsightOrderBy.RELEVANCE_DESC,
    ) -> Connection[Insight]:
        args = read_page_args(info, first, after, last, before)
        # The members are named after the orderings of services.insights.InsightQuery.sorts.
        key = PageKey(self.user_pk, args, order_by.name, include_dismissed)
        return connection(await info.context.loaders.insights.insights_by_user.load(key), Insight.from_row)

    @strawberry.field(description="Every enabled rule, with the viewer's standing towards it.")
    async def insight_rules(self, info: Ctx) -> list[InsightRule]:
        rows = await info.context.loaders.insights.insight_rules_by_user.load(self.user_pk)
        return [InsightRule.from_row(row) for row in rows]

    @strawberry.field(description="How the viewer wants their insights (defaults until changed).")
    async def insight_preferences(self, info: Ctx) -> InsightPreferences:
        return InsightPreferences.of(await info.context.loaders.insights.insight_preferences_by_user.load(self.user_pk))


# ------------------------------------------------------------------- inputs and payloads


@strawberry.input(description="Start an analysis of the viewer's data.")
class RequestInsightsInput:
    rule_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Only these rules (global IDs of InsightRule); all applicable ones if omitted."
    )


@strawberry.type(
    description="The analysis job: follow it with `node(id:)`; its insights then appear in `viewer.insights`."
)
class RequestInsightsPayload:
    job: BackgroundJob | None = strawberry.field(
        description="The new analysis job, or the viewer's pending one (one analysis runs at a time)."
    )
    errors: list[MutationError] = strawberry.field(description="Why no job was started, if so.")


@strawberry.input(description="Change insight preferences; omitted fields stay as they are.")
class UpdateInsightPreferencesInput:
    frequency: InsightFrequency | None = strawberry.field(
        default=strawberry.UNSET, description="How often the periodic analysis runs."
    )
    tone: InsightTone | None = strawberry.field(default=strawberry.UNSET, description="The voice of insights.")
    muted_rule_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="The complete list of muted rules (global IDs of InsightRule)."
    )


@strawberry.type(description="Result of changing insight preferences.")
class InsightPreferencesPayload:
    preferences: InsightPreferences | None = strawberry.field(description="The preferences after the change.")
    errors: list[MutationError] = strawberry.field(description="Why nothing changed, if so.")


@strawberry.input(description="The viewer's verdict on one of their insights.")
class GiveInsightFeedbackInput:
    insight_id: strawberry.ID = strawberry.field(description="Global ID of the insight.")
    kind: InsightFeedbackKind = strawberry.field(description="Helpful, not helpful, or dismiss.")
    comment: str | None = strawberry.field(default=None, description="Why, in the viewer's words (at most 1000).")


@strawberry.type(description="Result of giving feedback on an insight.")
class InsightFeedbackPayload:
    insight: Insight | None = strawberry.field(description="The insight after the feedback.")
    errors: list[MutationError] = strawberry.field(description="Why nothing was recorded, if so.")
