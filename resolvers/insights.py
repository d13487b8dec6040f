"""Aurum Life insight mutations: request an analysis, preferences, feedback."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor
from core.cost import Cost
from models.insights import FeedbackKind
from resolvers.support import input_id, input_ids
from schema.common import Ctx, InputArg, changes_of, mutation_errors, raw, report_rate_limits
from schema.insights import (
    GiveInsightFeedbackInput,
    Insight,
    InsightFeedbackPayload,
    InsightPreferences,
    InsightPreferencesPayload,
    RequestInsightsInput,
    RequestInsightsPayload,
    UpdateInsightPreferencesInput,
)
from schema.jobs import BackgroundJob
from services import insights

#: The `@cost` of `requestInsights`: one analysis calls the AI provider.
AI_ANALYSIS_WEIGHT = 100


async def request_insights(info: Ctx, input: Annotated[RequestInsightsInput, InputArg]) -> RequestInsightsPayload:
    context = info.context

    async def work(session: AsyncSession, actor: Actor) -> BackgroundJob:
        rule_ids = input_ids(input.rule_ids, "InsightRule", "ruleIds") if input.rule_ids is not None else None
        job = await insights.request_analysis(
            session, actor=actor, settings=context.settings, limiter=context.ai_limiter, rule_ids=rule_ids
        )
        return BackgroundJob.from_row(job)

    outcome = await context.actor_unit_of_work(work)
    report_rate_limits(info, outcome.errors)
    return RequestInsightsPayload(job=outcome.value, errors=mutation_errors(outcome.errors))


async def update_insight_preferences(
    info: Ctx, input: Annotated[UpdateInsightPreferencesInput, InputArg]
) -> InsightPreferencesPayload:
    async def work(session: AsyncSession, actor: Actor) -> InsightPreferences:
        changes: dict[str, Any] = changes_of(input, skip=())
        if changes.get("muted_rule_ids") is not None:
            changes["muted_rule_ids"] = input_ids(changes["muted_rule_ids"], "InsightRule", "mutedRuleIds")
        for name in ("frequency", "tone"):
            if changes.get(name) is not None:
                changes[name] = raw(changes[name])
        return InsightPreferences.of(await insights.update_preferences(session, actor=actor, changes=changes))

    outcome = await info.context.actor_unit_of_work(work)
    return InsightPreferencesPayload(preferences=outcome.value, errors=mutation_errors(outcome.errors))


async def give_insight_feedback(
    info: Ctx, input: Annotated[GiveInsightFeedbackInput, InputArg]
) -> InsightFeedbackPayload:
    async def work(session: AsyncSession, actor: Actor) -> Insight:
        insight_id = await insights.give_feedback(
            session,
            actor=actor,
            insight_id=input_id(input.insight_id, "Insight", "insightId"),
            kind=FeedbackKind(raw(input.kind)),
            comment=input.comment,
        )
        return Insight.from_row(await insights.get_insight(session, actor=actor, insight_id=insight_id))

    outcome = await info.context.actor_unit_of_work(work)
    return InsightFeedbackPayload(insight=outcome.value, errors=mutation_errors(outcome.errors))


@strawberry.type(description="Aurum Life insight mutations.")
class InsightMutation:
    request_insights: RequestInsightsPayload = strawberry.mutation(
        resolver=request_insights,
        description=(
            "Start an analysis of the viewer's data; returns at once with the job. New insights appear in "
            "`viewer.insights` when it succeeds. Limited per user (RATE_LIMITED says when to retry)."
        ),
        # An analysis asks the AI provider: it weighs what a large page of reads does.
        directives=[Cost(weight=AI_ANALYSIS_WEIGHT)],
    )
    update_insight_preferences: InsightPreferencesPayload = strawberry.mutation(
        resolver=update_insight_preferences, description="Change which rules, how often, and the tone of insights."
    )
    give_insight_feedback: InsightFeedbackPayload = strawberry.mutation(
        resolver=give_insight_feedback,
        description="Mark an insight helpful, not helpful or dismissed; this changes what the viewer is shown next.",
    )
