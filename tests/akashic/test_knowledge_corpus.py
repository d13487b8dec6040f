"""The starter corpus: its facts checked against each other, and loaded in every database."""

from __future__ import annotations

import itertools

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.ai import OFFLINE_EMBEDDING_DIMENSIONS, OFFLINE_EMBEDDING_MODEL
from services.akashic import knowledge


def test_every_election_from_1912_to_2024_adds_up() -> None:
    elections = knowledge.read_corpus_file("presidential_elections.json")["elections"]
    assert [e["year"] for e in elections] == list(range(1912, 2025, 4))
    for election in elections:
        year, total = election["year"], election["total_electoral_votes"]
        # 531 electors from 1912 to 1956, 537 in 1960 (Alaska, Hawaii), 538 since 1964 (the District).
        assert total == (531 if year <= 1956 else 537 if year == 1960 else 538), year
        cast = sum(c["electoral_votes"] for c in election["candidates"])
        assert cast + election["abstentions"] == total, (year, cast, election["abstentions"])
        winner = max(election["candidates"], key=lambda c: c["electoral_votes"])
        assert winner["electoral_votes"] * 2 > total, year
        assert sum(c["popular_vote_percent"] for c in election["candidates"]) <= 100.0, year
        # Every electoral vote for someone who was on no ballot (popular 0) is a faithless or unpledged one.
        strays = [c for c in election["candidates"] if c["popular_vote_percent"] == 0 and c["electoral_votes"]]
        assert not strays or "faithless" in election["notes"] or "unpledged" in election["notes"], year
    by_year = {e["year"]: e for e in elections}
    assert max(by_year[2016]["candidates"], key=lambda c: c["electoral_votes"])["name"] == "Donald Trump"
    assert max(by_year[2000]["candidates"], key=lambda c: c["popular_vote_percent"])["name"] == "Al Gore"
    assert by_year[2000]["abstentions"] == 1


def test_the_typology_has_nine_groups_and_woodard_eleven_nations() -> None:
    pew = knowledge.read_corpus_file("pew_typology_2021.json")
    assert len(pew["groups"]) == 9
    assert sum(group["share_of_adults"] for group in pew["groups"]) == 100
    nations = knowledge.read_corpus_file("american_nations.json")["nations"]
    assert len(nations) == 11
    assert {n["name"] for n in nations} >= {"Yankeedom", "Greater Appalachia", "El Norte", "First Nation"}
    for data in (pew, nations and knowledge.read_corpus_file("american_nations.json")):
        assert data["sources"], "every file names its sources"


def test_an_election_reads_as_a_sentence_with_its_numbers() -> None:
    elections = knowledge.read_corpus_file("presidential_elections.json")["elections"]
    text = knowledge.election_text(next(e for e in elections if e["year"] == 1960))
    assert text.startswith("United States presidential election of 1960: John F. Kennedy (Democratic) won with 303")
    assert "of 537 electoral votes" in text
    assert "Harry F. Byrd" in text
    assert "faithless" in text


async def test_the_migrated_database_holds_the_corpus_embedded_offline(session: AsyncSession) -> None:
    documents = knowledge.starter_documents()
    assert len(documents) == 9 + 11 + 29
    rows = (
        await session.execute(
            sa.text(
                "SELECT d.corpus_key, d.chunk_count, count(c.id) AS chunks, "
                "array_agg(DISTINCT c.embedding_model) AS models, array_agg(DISTINCT c.embedding_dimensions) AS dims "
                "FROM knowledge_documents d JOIN knowledge_chunks c ON c.document_id = d.id "
                "WHERE d.organization_id IS NULL GROUP BY d.id"
            )
        )
    ).all()
    assert {row.corpus_key for row in rows} == {document.key for document in documents}
    for row in rows:
        assert row.chunks == row.chunk_count >= 1
        assert row.models == [OFFLINE_EMBEDDING_MODEL]
        assert row.dims == [OFFLINE_EMBEDDING_DIMENSIONS]


def test_loading_the_corpus_again_changes_nothing(database_url: str) -> None:
    engine = sa.create_engine(database_url.replace("+asyncpg", "+psycopg"))
    try:
        with engine.begin() as connection:
            assert knowledge.load_starter_corpus(connection, embedding_model=OFFLINE_EMBEDDING_MODEL) == 0
    finally:
        engine.dispose()


def test_chunks_respect_the_size_limit_and_overlap() -> None:
    sentence = "The campaign knocked on doors in every precinct of the county before the primary. "
    chunks = knowledge.chunk_text((sentence * 12 + "\n\n") * 4)
    assert len(chunks) > 1
    assert all(len(chunk) <= knowledge.CHUNK_CHARACTERS[1] for chunk in chunks)
    # Consecutive chunks share text (the overlap), so no sentence is lost at a boundary.
    assert all(a[-40:].split(".")[0].strip() in b for a, b in itertools.pairwise(chunks))


async def test_the_vector_side_can_use_the_models_hnsw_index(session: AsyncSession) -> None:
    # The corpus is small enough that Postgres scans; forbidding the scan (and the sort another
    # index's rows would need: with other tests' chunks in the table the planner chose one) shows
    # that the partial expression index matches the search's own expression and conditions.
    sql = knowledge._search_sql(OFFLINE_EMBEDDING_DIMENSIONS).replace("{readable}", "true")
    nearest = sql[sql.index("SELECT c.id, c.embedding") : sql.index("LIMIT :candidates") + len("LIMIT :candidates")]
    nearest = nearest.replace("c.document_id IN (SELECT id FROM documents)", "true")
    for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
        await session.execute(sa.text(f"SET LOCAL {setting} = off"))
    plan = await session.execute(
        sa.text("EXPLAIN " + nearest),
        {
            "query_vector": "[" + ",".join(["0.0625"] * OFFLINE_EMBEDDING_DIMENSIONS) + "]",
            "model": OFFLINE_EMBEDDING_MODEL,
            "dimensions": OFFLINE_EMBEDDING_DIMENSIONS,
            "candidates": 5,
        },
    )
    text = "\n".join(row[0] for row in plan)
    assert "ix_knowledge_chunks_embedding_hashed_tokens_256" in text, text
    await session.rollback()
