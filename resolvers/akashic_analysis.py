"""Akashic's AI analyses: `requestMessageAnalysis` (thin: parse the id, run the guarded service
in one unit of work, map the analysis and its job or the typed errors)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor
from core.cost import Cost
from resolvers.insights import AI_ANALYSIS_WEIGHT
from resolvers.support import described, input_id
from schema.akashic.types import MessageVersion
from schema.akashic_analysis import MessageAnalysis, RequestMessageAnalysisInput, RequestMessageAnalysisPayload
from schema.common import Ctx, InputArg, mutation_errors, report_rate_limits
from schema.jobs import BackgroundJob
from services.akashic import analysis


async def request_message_analysis(
    info: Ctx, input: Annotated[RequestMessageAnalysisInput, InputArg]
) -> RequestMessageAnalysisPayload:
    context = info.context

    async def work(session: AsyncSession, actor: Actor) -> tuple[MessageAnalysis, BackgroundJob | None]:
        pk = input_id(input.version_id, MessageVersion, "versionId")
        found, job = await analysis.request_analysis(
            session, actor=actor, version_id=pk, settings=context.settings, limiter=context.ai_limiter
        )
        return MessageAnalysis.from_row(found), None if job is None else BackgroundJob.from_row(job)

    outcome = await context.actor_unit_of_work(work)
    report_rate_limits(info, outcome.errors)
    made: Any = outcome.value or (None, None)
    return RequestMessageAnalysisPayload(analysis=made[0], job=made[1], errors=mutation_errors(outcome.errors))


@strawberry.type(description="Akashic mutations: AI analyses of message versions.")
class AnalysisMutation:
    request_message_analysis: RequestMessageAnalysisPayload = strawberry.mutation(
        resolver=request_message_analysis,
        description=described(
            analysis.request_analysis,
            "Analyse a message version in the background (compliance and risk, resonance per voter typology, "
            "rewrites, citations of the knowledge base); returns at once with the analysis, queued, and its job. "
            "While one is queued or running it is returned as it is; a finished one runs again. A version the "
            "viewer can't read is NOT_FOUND.",
            where="the campaign",
        ),
        # An analysis asks the AI provider: it weighs what a large page of reads does.
        directives=[Cost(weight=AI_ANALYSIS_WEIGHT)],
    )
