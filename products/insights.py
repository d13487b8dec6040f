"""Insights (a platform part, today Aurum Life's): rules, insights, the analysis job and its
periodic sweep."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor, AuditScope, run_in_transaction
from core.products import NodeType, PeriodicTask, Product
from loaders import Loaders
from loaders.insights import InsightLoaders
from resolvers.insights import InsightMutation
from schema.insights import Insight, InsightRule, InsightViewerFields
from services import insights
from services.jobs import JobRuntime

SWEEP_TASK = "aurum.sweep_insights"


async def sweep(runtime: JobRuntime, at: datetime) -> int:
    """Enqueue an analysis for every user who is due one (INSIGHTS_SCHEDULE)."""

    async def work(session: AsyncSession) -> int:
        return len(await insights.schedule_due_analyses(session, now=at, settings=runtime.settings))

    # The jobs it enqueues are the system's changes to each user's data: in the audit trail.
    return await run_in_transaction(runtime.sessions, work, audit=AuditScope(Actor.system(SWEEP_TASK)))


INSIGHTS = Product(
    name="insights",
    mutation=InsightMutation,
    viewer=InsightViewerFields,
    types=(Insight, InsightRule),
    node_types={
        "Insight": NodeType[Loaders](
            lambda loaders: loaders.insights.insight_by_id, Insight.from_row, table="insights"
        ),
        "InsightRule": NodeType[Loaders](
            lambda loaders: loaders.insights.insight_rule_by_id, InsightRule.from_row, table="hrm_rules"
        ),
    },
    loaders={"insights": InsightLoaders},
    jobs={insights.ANALYSIS_KIND: insights.run_analysis},
    periodic=(PeriodicTask(SWEEP_TASK, sweep, lambda settings: settings.insights_schedule),),
)
