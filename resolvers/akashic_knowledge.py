"""Akashic's knowledge base: `knowledgeSearch` and the document mutations (thin: parse ids, run
one guarded service call, map the result or its typed errors)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from core.ai import AIProvider, build_provider
from core.context import Actor
from core.errors import ClientError, DomainError, RateLimited
from core.relay import to_global_id
from core.settings import Settings
from core.sqljson import python_only_type
from resolvers.akashic_ids import campaign_pk
from resolvers.support import input_id
from schema.akashic_knowledge import (
    AddKnowledgeDocumentInput,
    AddKnowledgeDocumentPayload,
    KnowledgeDocument,
    KnowledgeSearchHit,
    RemoveKnowledgeDocumentInput,
    RemoveKnowledgeDocumentPayload,
)
from schema.common import Ctx, InputArg, mutation_errors, report_rate_limits
from schema.organizations import Organization
from services.akashic import knowledge

DOCUMENT_KEY = "KnowledgeDocument"
CHUNK_KEY = "KnowledgeChunk"
DEFAULT_HITS = 10


@contextlib.asynccontextmanager
async def _provider(settings: Settings) -> AsyncIterator[AIProvider]:
    """The configured AI provider for one request (its client closed after)."""
    provider = build_provider(settings)
    try:
        yield provider
    finally:
        await provider.close()


def document_of(row: Any) -> KnowledgeDocument:
    return KnowledgeDocument(
        id=strawberry.ID(to_global_id(DOCUMENT_KEY, row.id)),
        title=row.title,
        source=row.source,
        shared=row.organization_id is None,
        chunk_count=row.chunk_count,
        characters=row.characters,
        created_at=row.created_at,
    )


def hit_of(hit: knowledge.KnowledgeHit) -> KnowledgeSearchHit:
    return KnowledgeSearchHit(
        chunk_id=strawberry.ID(to_global_id(CHUNK_KEY, hit.chunk_id)),
        text=hit.text,
        position=hit.position,
        document_id=strawberry.ID(to_global_id(DOCUMENT_KEY, hit.document_id)),
        title=hit.title,
        source=hit.source,
        shared=hit.organization_id is None,
        score=hit.score,
        semantic_rank=hit.semantic_rank,
        lexical_rank=hit.lexical_rank,
        similarity=hit.similarity,
    )


async def knowledge_search(
    info: Ctx, campaign_id: strawberry.ID, query: str, first: int | None
) -> list[KnowledgeSearchHit]:
    context = info.context
    actor = context.actor
    if actor is None:
        raise ClientError("Sign in to search a campaign's knowledge", "UNAUTHENTICATED")
    pk = campaign_pk(campaign_id)
    try:
        async with _provider(context.settings) as provider, context.sessions() as session, session.begin():
            hits = await knowledge.search_knowledge(
                session,
                actor=actor,
                campaign_id=pk,
                query=query,
                limit=DEFAULT_HITS if first is None else first,
                provider=provider,
                limiter=context.ai_limiter,
            )
    except RateLimited as error:
        report_rate_limits(info, [error])
        raise ClientError(
            error.message, error.code.name, retryAfterSeconds=error.retry_after_seconds, limit=error.limit
        ) from error
    except DomainError as error:
        argument = error.field[-1] if error.field else None
        raise ClientError(error.message, error.code.name, argument=argument) from error
    return [hit_of(hit) for hit in hits]


async def add_knowledge_document(
    info: Ctx, input: Annotated[AddKnowledgeDocumentInput, InputArg]
) -> AddKnowledgeDocumentPayload:
    context = info.context

    async def work(session: AsyncSession, actor: Actor) -> KnowledgeDocument:
        async with _provider(context.settings) as provider:
            document = await knowledge.add_document(
                session,
                actor=actor,
                campaign_id=input_id(input.campaign_id, Organization, "campaignId"),
                title=input.title,
                source=input.source,
                text=input.text,
                provider=provider,
                limiter=context.ai_limiter,
            )
        await session.refresh(document)
        return document_of(document)

    outcome = await context.actor_unit_of_work(work)
    report_rate_limits(info, outcome.errors)
    return AddKnowledgeDocumentPayload(document=outcome.value, errors=mutation_errors(outcome.errors))


async def remove_knowledge_document(
    info: Ctx, input: Annotated[RemoveKnowledgeDocumentInput, InputArg]
) -> RemoveKnowledgeDocumentPayload:
    async def work(session: AsyncSession, actor: Actor) -> strawberry.ID:
        pk = input_id(input.id, DOCUMENT_KEY, "id")
        removed = await knowledge.remove_document(session, actor=actor, document_id=pk)
        return strawberry.ID(to_global_id(DOCUMENT_KEY, removed))

    outcome = await info.context.actor_unit_of_work(work)
    return RemoveKnowledgeDocumentPayload(removed_document_id=outcome.value, errors=mutation_errors(outcome.errors))


@python_only_type(
    why="The hybrid search is one hand-written statement over pgvector and full text, after an AI embedding."
)
@strawberry.type(description="Akashic's knowledge base.")
class KnowledgeQuery:
    @strawberry.field(
        description="Search a campaign's knowledge base and the shared starter corpus (Pew's 2021 political "
        "typology, Woodard's American Nations, U.S. presidential elections 1912-2024): by meaning (embeddings) and "
        "by words (full text) at once, fused into one ranking (reciprocal rank fusion). Requires `knowledge.read` "
        "in the campaign; another campaign answers NOT_FOUND, as a missing one."
    )
    async def knowledge_search(
        self,
        info: Ctx,
        campaign_id: Annotated[strawberry.ID, strawberry.argument(description="The campaign (its Organization ID).")],
        query: Annotated[str, strawberry.argument(description="Words or a question, 1 to 500 characters.")],
        first: Annotated[
            int | None, strawberry.argument(description="How many hits, 1 to 50 (default 10).")
        ] = DEFAULT_HITS,
    ) -> list[KnowledgeSearchHit]:
        return await knowledge_search(info, campaign_id, query, first)


@strawberry.type
class KnowledgeMutation:
    add_knowledge_document: AddKnowledgeDocumentPayload = strawberry.mutation(
        resolver=add_knowledge_document,
        description="Add a document to a campaign's knowledge base (`knowledge.write`): chunked and embedded inline, "
        "searchable when this answers. Empty or too long a title, source or text is a VALIDATION error naming it.",
    )
    remove_knowledge_document: RemoveKnowledgeDocumentPayload = strawberry.mutation(
        resolver=remove_knowledge_document,
        description="Remove a campaign's document and its chunks (`knowledge.write`); the shared starter corpus "
        "can't be removed (NOT_FOUND).",
    )
