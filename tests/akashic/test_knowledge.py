"""The knowledge base over HTTP: hybrid search (by words, by meaning, fused), who sees what,
the document mutations and their typed errors, and re-embedding after a model change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.ai import OfflineProvider
from services.akashic import CAMPAIGN, KNOWLEDGE_WRITE, knowledge
from tests.akashic.conftest import Campaign, CampaignFactory
from tests.support import GraphQLClient, Viewer

SEARCH = """
query Search($campaignId: ID!, $query: String!, $first: Int) {
  knowledgeSearch(campaignId: $campaignId, query: $query, first: $first) {
    chunkId documentId title source shared text score semanticRank lexicalRank similarity
  }
}
"""
DOCUMENT = "document { id title source shared chunkCount characters }"

Users = Callable[[], Awaitable[Viewer]]


async def search(gql: GraphQLClient, viewer: Viewer, campaign: Campaign, query: str, first: int = 10) -> Any:
    return await gql(SEARCH, {"campaignId": campaign.id, "query": query, "first": first}, token=viewer.token)


async def hits(gql: GraphQLClient, viewer: Viewer, campaign: Campaign, query: str, first: int = 10) -> list[Any]:
    response = await search(gql, viewer, campaign, query, first)
    assert "errors" not in response.body, response.body
    found: list[Any] = response.data["knowledgeSearch"]
    return found


async def add(gql: GraphQLClient, viewer: Viewer, campaign: Campaign, title: str, text: str) -> Any:
    return await gql.call(
        "addKnowledgeDocument",
        {"campaignId": campaign.id, "title": title, "source": "field notes", "text": text},
        DOCUMENT,
        token=viewer.token,
    )


async def added(gql: GraphQLClient, viewer: Viewer, campaign: Campaign, title: str, text: str) -> Any:
    payload = await add(gql, viewer, campaign, title, text)
    assert payload["errors"] == [], payload["errors"]
    return payload["document"]


async def test_a_query_matched_by_words_only_ranks_by_the_full_text_side(
    gql: GraphQLClient, akashic_user: Users, akashic_campaign: CampaignFactory
) -> None:
    manager = await akashic_user()
    campaign = await akashic_campaign({"campaign_manager": manager})
    doc = await added(gql, manager, campaign, "Glorp report", "Precinct captains reported the glorping of yard signs.")
    # "glorped" and "glorping" share their English stem (glorp), not their hashed tokens.
    found = await hits(gql, manager, campaign, "glorped")
    assert found[0]["documentId"] == doc["id"]
    assert found[0]["lexicalRank"] == 1
    assert found[0]["semanticRank"] is None
    assert found[0]["score"] == 1 / (knowledge.RRF_K + 1)


async def test_a_query_matched_by_meaning_only_ranks_by_the_vector_side(
    gql: GraphQLClient, akashic_user: Users, akashic_campaign: CampaignFactory
) -> None:
    manager = await akashic_user()
    campaign = await akashic_campaign({"campaign_manager": manager})
    doc = await added(
        gql, manager, campaign, "Tarnwick", "Frimble voters in Tarnwick prefer quiet grassroots outreach over ads."
    )
    # Not every word is in the chunk, so the full text (all words required) misses it; the
    # embedding of the shared words finds it.
    found = await hits(gql, manager, campaign, "frimble voters Tarnwick outreach budget")
    assert found[0]["documentId"] == doc["id"]
    assert found[0]["semanticRank"] == 1
    assert found[0]["lexicalRank"] is None
    assert found[0]["similarity"] > knowledge.MIN_SIMILARITY


async def test_fusion_puts_a_hit_of_both_sides_above_a_hit_of_one(
    gql: GraphQLClient, akashic_user: Users, akashic_campaign: CampaignFactory
) -> None:
    manager = await akashic_user()
    campaign = await akashic_campaign({"campaign_manager": manager})
    both = await added(gql, manager, campaign, "Both", "Plonkish wuzzle volunteers canvassed the riverside wards.")
    one = await added(gql, manager, campaign, "One", "Plonkish turnout rose.")
    found = await hits(gql, manager, campaign, "plonkish wuzzle")
    by_document = {hit["documentId"]: hit for hit in found}
    assert found[0]["documentId"] == both["id"]
    assert found[0]["semanticRank"] == 1
    assert found[0]["lexicalRank"] == 1
    assert by_document[one["id"]]["lexicalRank"] is None
    assert by_document[one["id"]]["semanticRank"] > 1
    for hit in found:  # every score is reciprocal rank fusion's, in descending order
        expected = sum(1 / (knowledge.RRF_K + rank) for rank in (hit["semanticRank"], hit["lexicalRank"]) if rank)
        assert abs(hit["score"] - expected) < 1e-9
    assert [hit["score"] for hit in found] == sorted((hit["score"] for hit in found), reverse=True)


async def test_members_search_their_campaign_and_the_starter_corpus_never_another_campaign(
    gql: GraphQLClient, akashic_user: Users, akashic_campaign: CampaignFactory
) -> None:
    manager, volunteer, rival, outsider = [await akashic_user() for _ in range(4)]
    campaign = await akashic_campaign({"campaign_manager": manager, "volunteer": volunteer})
    other = await akashic_campaign({"campaign_manager": rival})
    secret = await added(gql, rival, other, "Rival plan", "Quendrix strategy memo: target the Snorbel suburbs first.")
    # A volunteer reads (knowledge.read), the starter corpus included; the rival's document never.
    found = await hits(gql, volunteer, campaign, "Quendrix strategy memo Snorbel", first=50)
    assert secret["id"] not in {hit["documentId"] for hit in found}
    assert all(hit["shared"] for hit in found)
    assert (await hits(gql, rival, other, "Quendrix Snorbel"))[0]["documentId"] == secret["id"]
    starter = await hits(gql, volunteer, campaign, "Faith and Flag Conservatives")
    assert starter[0]["shared"]
    assert starter[0]["title"].startswith("Faith and Flag Conservatives")
    election = await hits(gql, volunteer, campaign, "1960 presidential election Kennedy")
    assert election[0]["title"] == "1960 United States presidential election"
    # A non-member, another campaign's staff and a volunteer writing: NOT_FOUND / FORBIDDEN.
    for stranger in (outsider, rival):
        response = await search(gql, stranger, campaign, "Kennedy")
        assert response.errors[0]["extensions"]["code"] == "NOT_FOUND"
    payload = await add(gql, volunteer, campaign, "Notes", "Volunteers may read, not write.")
    assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"]
    assert payload["document"] is None


async def test_removing_a_document_takes_its_chunks_and_the_starter_corpus_stays(
    gql: GraphQLClient, akashic_user: Users, akashic_campaign: CampaignFactory, session: AsyncSession
) -> None:
    manager, rival = await akashic_user(), await akashic_user()
    campaign = await akashic_campaign({"campaign_manager": manager})
    other = await akashic_campaign({"campaign_manager": rival})
    doc = await added(gql, manager, campaign, "Temporary", "Blivet canvass results for the Ortho ward.")
    assert (await hits(gql, manager, campaign, "Blivet Ortho"))[0]["documentId"] == doc["id"]
    # Another campaign's manager can't remove it (it answers like a missing one).
    denied = await gql.call("removeKnowledgeDocument", {"id": doc["id"]}, "removedDocumentId", token=rival.token)
    assert [e["code"] for e in denied["errors"]] == ["NOT_FOUND"]
    removed = await gql.mutate("removeKnowledgeDocument", {"id": doc["id"]}, "removedDocumentId", token=manager.token)
    assert removed["removedDocumentId"] == doc["id"]
    assert doc["id"] not in {hit["documentId"] for hit in await hits(gql, manager, campaign, "Blivet Ortho")}
    chunks = await session.execute(
        sa.text(
            "SELECT count(*) FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.document_id "
            "WHERE d.title = 'Temporary' AND d.organization_id = :o"
        ),
        {"o": campaign.pk},
    )
    assert chunks.scalar_one() == 0
    starter = (await hits(gql, manager, campaign, "Yankeedom"))[0]
    refused = await gql.call(
        "removeKnowledgeDocument", {"id": starter["documentId"]}, "removedDocumentId", token=manager.token
    )
    assert [e["code"] for e in refused["errors"]] == ["NOT_FOUND"]
    assert other.id  # the rival's campaign exists: the refusal was about the document


async def test_bad_input_gets_typed_errors_and_changes_nothing(
    gql: GraphQLClient, akashic_user: Users, akashic_campaign: CampaignFactory
) -> None:
    manager = await akashic_user()
    campaign = await akashic_campaign({"campaign_manager": manager})
    empty = await add(gql, manager, campaign, "Empty", "   \n ")
    assert [(e["code"], e["field"]) for e in empty["errors"]] == [("VALIDATION", ["input", "text"])]
    long = await add(gql, manager, campaign, "Long", "word " * (knowledge.MAX_TEXT_CHARACTERS // 4))
    assert [(e["code"], e["field"]) for e in long["errors"]] == [("VALIDATION", ["input", "text"])]
    assert "at most 100000" in long["errors"][0]["message"]
    untitled = await add(gql, manager, campaign, "", "Some text.")
    assert [e["field"] for e in untitled["errors"]] == [["input", "title"]]
    for query, first in (("  ", 5), ("Kennedy", 0), ("Kennedy", 51), ("x" * 501, 5)):
        response = await search(gql, manager, campaign, query, first)
        assert response.errors[0]["extensions"]["code"] == "VALIDATION", (query[:10], first)
    response = await gql(SEARCH, {"campaignId": "not-an-id", "query": "Kennedy"}, token=manager.token)
    assert response.errors[0]["extensions"]["code"] == "INVALID_ID"
    response = await gql(SEARCH, {"campaignId": campaign.id, "query": "Kennedy"})
    assert response.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_chunks_of_another_model_are_never_compared_and_are_re_embedded(
    gql: GraphQLClient, akashic_user: Users, akashic_campaign: CampaignFactory, engine: AsyncEngine
) -> None:
    manager = await akashic_user()
    campaign = await akashic_campaign({"campaign_manager": manager})
    doc = await added(gql, manager, campaign, "Model change", "Snargle households respond to door knocks.")
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        # As if another provider had embedded it: three dimensions, another model.
        await session.execute(
            sa.text(
                "UPDATE knowledge_chunks SET embedding = '[1,0,0]', embedding_model = 'other-model', "
                "embedding_dimensions = 3 WHERE document_id = (SELECT id FROM knowledge_documents "
                "WHERE title = 'Model change' AND organization_id = :o)"
            ),
            {"o": campaign.pk},
        )
    found = await hits(gql, manager, campaign, "Snargle households respond")
    ours = [hit for hit in found if hit["documentId"] == doc["id"]]
    assert ours
    assert ours[0]["semanticRank"] is None
    assert ours[0]["lexicalRank"] == 1
    assert await knowledge.reembed_stale_chunks(sessions, OfflineProvider()) >= 1
    found = await hits(gql, manager, campaign, "Snargle households respond")
    assert found[0]["documentId"] == doc["id"]
    assert found[0]["semanticRank"] == 1
    assert await knowledge.reembed_stale_chunks(sessions, OfflineProvider()) == 0


async def test_every_campaign_role_reads_and_only_the_writers_write(
    gql: GraphQLClient, akashic_user: Users, akashic_campaign: CampaignFactory
) -> None:
    staff = {role: await akashic_user() for role in CAMPAIGN.roles}
    campaign = await akashic_campaign(staff)
    for role, viewer in staff.items():
        assert await hits(gql, viewer, campaign, "Yankeedom"), role  # knowledge.read: every role
        payload = await add(gql, viewer, campaign, f"By {role}", f"Notes written by the {role}.")
        if CAMPAIGN.allows(role, KNOWLEDGE_WRITE):
            assert payload["errors"] == [], role
            removed = await gql.call(
                "removeKnowledgeDocument", {"id": payload["document"]["id"]}, "removedDocumentId", token=viewer.token
            )
            assert removed["errors"] == [], role
        else:
            assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"], role
    assert {role for role in CAMPAIGN.roles if CAMPAIGN.allows(role, KNOWLEDGE_WRITE)} == {
        "campaign_manager",
        "communications_director",
    }
