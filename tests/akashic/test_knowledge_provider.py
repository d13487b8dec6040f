"""The knowledge base through an OpenAI-compatible provider (the real `openai` client against the
scripted fake on loopback): chunks record the model and dimensions the server answered with, and a
search compares the query only with vectors of that model."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from core.ai import OpenAIProvider
from core.context import Actor
from core.errors import RateLimited
from core.ratelimit import RateLimiter
from models.organizations import Membership, Organization
from products import REGISTRY
from services.akashic import knowledge
from tests.factories import create_users, insert_rows
from tests.fake_openai import EmbeddingReply, FakeOpenAI


async def test_a_remote_models_vectors_are_recorded_and_searched_apart(
    engine: AsyncEngine, fake_openai: FakeOpenAI
) -> None:
    assert "campaign" in REGISTRY.organization_kinds  # the kinds the permission checks read
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    campaign = uuid.uuid4()
    async with sessions() as session, session.begin():
        (user,) = await create_users(session, 1, name="Remote")
        await insert_rows(
            session,
            Organization,
            [{"id": campaign, "name": "Remote", "slug": f"campaign-{campaign.hex[:16]}", "kind": "campaign"}],
        )
        await insert_rows(
            session,
            Membership,
            [{"id": uuid.uuid4(), "organization_id": campaign, "user_id": user, "role": "communications_director"}],
        )
    actor = Actor(user_id=user, role="user")
    provider = OpenAIProvider(
        api_key="test-key",
        base_url=fake_openai.base_url,
        chat_model="scripted-chat",
        embedding_model="fake-embedding-1",
        timeout=5.0,
        max_retries=0,
    )
    try:
        fake_openai.embeddings(EmbeddingReply([[0.6, 0.8, 0.0, 0.0]]))
        async with sessions() as session, session.begin():
            document = await knowledge.add_document(
                session,
                actor=actor,
                campaign_id=campaign,
                title="Remote",
                source="memo",
                text="Door knocking in the river wards.",
                provider=provider,
            )
        async with sessions() as session:
            stored = (
                await session.execute(
                    sa.text(
                        "SELECT embedding_model, embedding_dimensions FROM knowledge_chunks WHERE document_id = :d"
                    ),
                    {"d": document.id},
                )
            ).all()
        assert [tuple(row) for row in stored] == [("fake-embedding-1", 4)]
        (request,) = fake_openai.received("/embeddings")
        assert request.body["input"] == ["Door knocking in the river wards."]

        fake_openai.embeddings(EmbeddingReply([[0.6, 0.8, 0.0, 0.0]]))
        async with sessions() as session, session.begin():
            hits = await knowledge.search_knowledge(
                session, actor=actor, campaign_id=campaign, query="canvassing", limit=10, provider=provider
            )
        # The starter corpus (offline vectors of 256 dimensions) is never compared with this query.
        semantic = [hit for hit in hits if hit.semantic_rank is not None]
        assert [hit.document_id for hit in semantic] == [document.id]
        assert semantic[0].similarity is not None
        assert abs(semantic[0].similarity - 1.0) < 1e-6

        # A remote provider's calls count against AI_RATE_LIMIT; beyond it, nothing is asked.
        limiter = RateLimiter(limit="1/minute", storage="async+memory://", namespace=f"kb-{uuid.uuid4().hex}")
        fake_openai.embeddings(EmbeddingReply([[0.6, 0.8, 0.0, 0.0]]))
        asked = len(fake_openai.received("/embeddings"))
        for attempt in range(2):
            async with sessions() as session, session.begin():
                search = knowledge.search_knowledge(
                    session,
                    actor=actor,
                    campaign_id=campaign,
                    query="canvassing",
                    limit=10,
                    provider=provider,
                    limiter=limiter,
                )
                if attempt == 0:
                    assert await search
                else:
                    with pytest.raises(RateLimited):
                        await search
        assert len(fake_openai.received("/embeddings")) == asked + 1
    finally:
        await provider.close()
