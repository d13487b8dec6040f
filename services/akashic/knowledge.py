"""Akashic's knowledge base: a campaign's documents and the shared starter corpus, chunked,
embedded through `core.ai`, and searched by meaning and by words at once.

- **Chunks**: `chunk_text` cuts a text at its semantic boundaries (paragraphs, then sentences,
  then words) into chunks of `CHUNK_CHARACTERS` characters with `CHUNK_OVERLAP` characters of
  overlap, with `semantic-text-splitter` (a maintained Rust splitter, rather than a hand-written one).
- **Writes** (`add_document`, `remove_document`: `knowledge.write`): a document is chunked and
  embedded inline, in its mutation's transaction (at most `MAX_TEXT_CHARACTERS`, so at most
  about 170 chunks, embedded in batches of `EMBED_BATCH`): the document is searchable the moment
  the mutation answers, and a failed embedding leaves nothing behind.
- **Search** (`search_knowledge`: `knowledge.read`): one SQL statement: the nearest chunks by
  cosine distance among those embedded by the query's model (an HNSW index serves the known
  models), the best chunks by full text (`websearch_to_tsquery`, ranked by `ts_rank_cd`), both
  limited to the campaign's documents and the starter corpus, fused by reciprocal rank fusion
  (`RRF_K`). Each hit carries its score and its rank on each side.
- **Re-embedding** (`reembed_stale_chunks`, the periodic task `akashic.reembed_knowledge`):
  chunks whose model or dimensions are not the configured provider's are embedded again, in
  batches, so a provider change catches up without mixing two models in one search.
- **The starter corpus** (`data/akashic/*.json`, our own summaries of public facts, sources
  named there) is loaded by the migration that creates the tables (`load_starter_corpus`, with
  the offline embedding; idempotent by key and content hash): every database has it, the test
  template included, and the re-embedding task moves it to another provider's model.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from semantic_text_splitter import TextSplitter
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.access import quota_key, readable, requires
from core.ai import OFFLINE_PROVIDER, AIProvider, hashed_embedding
from core.context import Actor
from core.errors import NotFound, ValidationFailed
from core.ratelimit import RateLimiter
from models.akashic_knowledge import TEXT_SEARCH_CONFIG, VECTOR_INDEXES, KnowledgeChunk, KnowledgeDocument
from services.akashic import CAMPAIGN, KNOWLEDGE_READ, KNOWLEDGE_WRITE

#: A chunk is 400 to 900 characters: a few sentences, enough context to cite.
CHUNK_CHARACTERS = (400, 900)
#: Characters a chunk repeats of the one before, so a sentence cut at a boundary is found whole.
CHUNK_OVERLAP = 120
MAX_TITLE_CHARACTERS = 200
MAX_SOURCE_CHARACTERS = 500
#: The longest document added in one mutation (about 25 pages of prose, 170 chunks).
MAX_TEXT_CHARACTERS = 100_000
MAX_QUERY_CHARACTERS = 500
MAX_RESULTS = 50
#: Texts per embedding request.
EMBED_BATCH = 64
#: Reciprocal rank fusion's constant: a hit's score is the sum over the sides of 1 / (RRF_K + rank).
RRF_K = 60
#: Candidates each side hands to the fusion.
CANDIDATES = 50
#: The vector side keeps chunks at least this similar (cosine) to the query: with the offline
#: hashed embedding, texts that share no word score about 0 (a hashing collision about 0.1), and
#: with OpenAI's models unrelated texts score below about 0.2, so unrelated chunks stay out.
MIN_SIMILARITY = 0.2

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "akashic"
REEMBED_TASK = "akashic.reembed_knowledge"


# ---------------------------------------------------------------------------------- chunks


@cache
def _splitter() -> TextSplitter:
    return TextSplitter(CHUNK_CHARACTERS, overlap=CHUNK_OVERLAP, trim=True)


def chunk_text(text: str) -> list[str]:
    """The text cut into chunks at paragraph, sentence or word boundaries (see module doc)."""
    return [chunk for chunk in _splitter().chunks(text) if chunk.strip()]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class StarterDocument:
    key: str
    title: str
    source: str
    text: str


def _pew(data: dict[str, Any]) -> list[StarterDocument]:
    source = "; ".join(data["sources"])
    return [
        StarterDocument(
            key=f"pew-typology-2021:{group['key']}",
            title=f"{group['name']} (Pew political typology, 2021)",
            source=source,
            text=f"{group['name']} is one of the nine groups of the Pew Research Center's 2021 political typology, "
            f"{group['side']}, about {group['share_of_adults']}% of U.S. adults. {group['summary']}",
        )
        for group in data["groups"]
    ]


def _nations(data: dict[str, Any]) -> list[StarterDocument]:
    source = "; ".join(data["sources"])
    return [
        StarterDocument(
            key=f"american-nations:{nation['key']}",
            title=f"{nation['name']} (American Nations)",
            source=source,
            text=f"{nation['name']} is one of the eleven regional cultures of Colin Woodard's American Nations "
            f"(2011). Territory: {nation['territory']}. {nation['summary']}",
        )
        for nation in data["nations"]
    ]


def _percent(value: float) -> str:
    return f"{value:.1f}%"


def election_text(election: dict[str, Any]) -> str:
    """One election's result as prose (what the search and the analysis cite)."""
    candidates = election["candidates"]
    winner = max(candidates, key=lambda c: c["electoral_votes"])
    year = election["year"]
    lines = [
        f"United States presidential election of {year}: {winner['name']} ({winner['party']}) won with "
        f"{winner['electoral_votes']} of {election['total_electoral_votes']} electoral votes and "
        f"{_percent(winner['popular_vote_percent'])} of the popular vote."
    ]
    others = [c for c in candidates if c is not winner]
    described = []
    for candidate in others:
        parts = []
        if candidate["popular_vote_percent"] > 0:
            parts.append(f"{_percent(candidate['popular_vote_percent'])} of the popular vote")
        if candidate["electoral_votes"]:
            parts.append(f"{candidate['electoral_votes']} electoral votes")
        described.append(f"{candidate['name']} ({candidate['party']}): {', '.join(parts)}")
    if described:
        lines.append("Other candidates: " + "; ".join(described) + ".")
    if election.get("abstentions"):
        lines.append(f"Electors who abstained: {election['abstentions']}.")
    if election.get("notes"):
        lines.append(election["notes"])
    return " ".join(lines)


def _elections(data: dict[str, Any]) -> list[StarterDocument]:
    source = "; ".join(data["sources"])
    return [
        StarterDocument(
            key=f"us-presidential-elections:{election['year']}",
            title=f"{election['year']} United States presidential election",
            source=source,
            text=election_text(election),
        )
        for election in data["elections"]
    ]


def read_corpus_file(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA_DIR / name).read_text(encoding="utf-8"))
    return loaded


def starter_documents() -> list[StarterDocument]:
    """The shared starter corpus, from the data files."""
    return [
        *_pew(read_corpus_file("pew_typology_2021.json")),
        *_nations(read_corpus_file("american_nations.json")),
        *_elections(read_corpus_file("presidential_elections.json")),
    ]


_documents = sa.table(
    "knowledge_documents",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("title"),
    sa.column("source"),
    sa.column("corpus_key"),
    sa.column("content_hash"),
    sa.column("characters"),
    sa.column("chunk_count"),
    sa.column("published_at", sa.DateTime(timezone=True)),
)
_chunks = sa.table(
    "knowledge_chunks",
    sa.column("id", sa.Uuid()),
    sa.column("document_id", sa.Uuid()),
    sa.column("position"),
    sa.column("text"),
    sa.column("embedding", Vector()),
    sa.column("embedding_model"),
    sa.column("embedding_dimensions"),
)


def load_starter_corpus(connection: sa.Connection, *, embedding_model: str, embed: Any = hashed_embedding) -> int:
    """Load (or bring up to date) the starter corpus on a synchronous connection as the tables'
    owner (the migration's): a document whose key is unknown is added, one whose text changed is
    replaced, the others are left alone. Embedded offline (`hashed_embedding`): no network at
    migration time; the re-embedding task moves the chunks to the configured model. Returns how
    many documents were written."""
    known = {
        row.corpus_key: row
        for row in connection.execute(
            sa.select(_documents.c.corpus_key, _documents.c.id, _documents.c.content_hash).where(
                _documents.c.corpus_key.is_not(None)
            )
        )
    }
    now = datetime.now(UTC)
    written = 0
    for document in starter_documents():
        digest = content_hash(document.title + "\n" + document.source + "\n" + document.text)
        existing = known.get(document.key)
        if existing is not None and existing.content_hash == digest:
            continue
        if existing is not None:
            connection.execute(sa.delete(_documents).where(_documents.c.id == existing.id))
        chunks = chunk_text(document.text)
        pk = uuid.uuid4()
        connection.execute(
            sa.insert(_documents).values(
                id=pk,
                organization_id=None,
                title=document.title,
                source=document.source[:MAX_SOURCE_CHARACTERS],
                corpus_key=document.key,
                content_hash=digest,
                characters=len(document.text),
                chunk_count=len(chunks),
                published_at=now,
            )
        )
        rows = []
        for position, chunk in enumerate(chunks):
            vector = embed(chunk)
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "document_id": pk,
                    "position": position,
                    "text": chunk,
                    "embedding": vector,
                    "embedding_model": embedding_model,
                    "embedding_dimensions": len(vector),
                }
            )
        connection.execute(sa.insert(_chunks), rows)
        written += 1
    return written


# ----------------------------------------------------------------------------- embedding


@dataclass(frozen=True)
class Embedded:
    vectors: list[list[float]]
    model: str
    dimensions: int


async def embed_texts(provider: AIProvider, texts: Sequence[str]) -> Embedded:
    """The texts' embeddings, in batches, all of one model and dimension (else the provider is
    inconsistent, which is refused rather than stored)."""
    vectors: list[list[float]] = []
    model: str | None = None
    for start in range(0, len(texts), EMBED_BATCH):
        result = await provider.embed(texts[start : start + EMBED_BATCH])
        if model is not None and (result.model != model):
            raise ValueError(f"the provider switched embedding models mid-document ({model} -> {result.model})")
        model = result.model
        vectors.extend(result.vectors)
    dimensions = {len(vector) for vector in vectors}
    if len(dimensions) > 1:
        raise ValueError(f"the provider returned vectors of several dimensions: {sorted(dimensions)}")
    return Embedded(vectors, model or provider.embedding_model, dimensions.pop() if dimensions else 0)


# --------------------------------------------------------------------------------- writes


def _required(value: str, field: str, limit: int, what: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise ValidationFailed(f"The {what} is empty", field=["input", field])
    if len(cleaned) > limit:
        raise ValidationFailed(
            f"The {what} is too long: {len(cleaned)} characters, at most {limit}", field=["input", field]
        )
    return cleaned


async def _spend(limiter: RateLimiter | None, provider: AIProvider, actor: Actor) -> None:
    """Count a call to a remote provider against the actor's `AI_RATE_LIMIT` (the offline
    provider costs nothing and is not counted); beyond it `RateLimited`."""
    if limiter is not None and provider.name != OFFLINE_PROVIDER:
        await limiter.hit(quota_key(actor))


def _campaign_only(kind_name: str) -> None:
    if kind_name != CAMPAIGN.name:
        raise NotFound("No campaign with this `campaignId`", field=["input", "campaignId"])


@requires(KNOWLEDGE_WRITE, organization="campaign_id", field="campaignId", noun="campaign")
async def add_document(
    session: AsyncSession,
    *,
    actor: Actor,
    campaign_id: uuid.UUID,
    title: str,
    source: str,
    text: str,
    provider: AIProvider,
    limiter: RateLimiter | None = None,
    authorized: Any = None,
) -> KnowledgeDocument:
    """Add a document to the campaign's knowledge base, chunked and embedded inline (in the
    mutation's transaction: searchable as soon as it commits)."""
    if authorized is not None:
        _campaign_only(authorized.kind.name)
    title = _required(title, "title", MAX_TITLE_CHARACTERS, "title")
    source = _required(source, "source", MAX_SOURCE_CHARACTERS, "source")
    text = _required(text, "text", MAX_TEXT_CHARACTERS, "text")
    chunks = chunk_text(text)
    if not chunks:
        raise ValidationFailed("The text has nothing to index", field=["input", "text"])
    await _spend(limiter, provider, actor)
    embedded = await embed_texts(provider, chunks)
    document = KnowledgeDocument(
        organization_id=campaign_id,
        title=title,
        source=source,
        content_hash=content_hash(title + "\n" + source + "\n" + text),
        characters=len(text),
        chunk_count=len(chunks),
        created_by=actor.user_id,
    )
    session.add(document)
    await session.flush()
    session.add_all(
        KnowledgeChunk(
            document_id=document.id,
            position=position,
            text=chunk,
            embedding=vector,
            embedding_model=embedded.model,
            embedding_dimensions=embedded.dimensions,
        )
        for position, (chunk, vector) in enumerate(zip(chunks, embedded.vectors, strict=True))
    )
    await session.flush()
    return document


@requires(KNOWLEDGE_WRITE, organization="document_id", via=KnowledgeDocument, field="id", noun="knowledge document")
async def remove_document(session: AsyncSession, *, actor: Actor, document_id: uuid.UUID) -> uuid.UUID:
    """Remove a campaign's document with its chunks (the starter corpus is nobody's to remove:
    it has no organization, so it answers NOT_FOUND)."""
    document = await session.get(KnowledgeDocument, document_id)
    if document is None:  # pragma: no cover - the permission check found it in this transaction
        raise NotFound("No knowledge document with this `id`", field=["input", "id"])
    await session.delete(document)
    await session.flush()
    return document_id


# --------------------------------------------------------------------------------- search


@dataclass(frozen=True)
class KnowledgeHit:
    """One chunk of a search's answer, with what cites it: the chunk's and document's ids."""

    chunk_id: uuid.UUID
    document_id: uuid.UUID
    position: int
    text: str
    title: str
    source: str
    #: None for the shared starter corpus.
    organization_id: uuid.UUID | None
    score: float
    #: Its rank by meaning (vector similarity) among the candidates, None when not among them.
    semantic_rank: int | None
    #: Its rank by words (full text), None when the text search did not match it.
    lexical_rank: int | None
    #: Cosine similarity to the query (None when not among the vector side's candidates).
    similarity: float | None


@cache
def _search_sql(dimensions: int) -> str:
    """The hybrid search, one statement, with `{readable}` where the documents' read policy goes;
    `dimensions` is written into the casts (a type's modifier can't be a parameter), so that the
    partial HNSW index of the query's model serves the vector side."""
    if not 0 < dimensions <= 16000:
        raise ValueError(f"not a vector dimension: {dimensions!r}")
    vector = f"c.embedding::vector({dimensions})"
    query_vector = f"CAST(CAST(:query_vector AS text) AS vector({dimensions}))"
    return f"""
        WITH documents AS (
            SELECT d.id FROM knowledge_documents AS d
            WHERE (d.organization_id = :campaign_id OR d.organization_id IS NULL) AND ({{readable}})
        ),
        nearest AS (
            SELECT c.id, {vector} <=> {query_vector} AS distance
            FROM knowledge_chunks AS c
            WHERE c.embedding_model = :model AND c.embedding_dimensions = :dimensions
              AND c.document_id IN (SELECT id FROM documents)
            ORDER BY {vector} <=> {query_vector}
            LIMIT :candidates
        ),
        semantic AS (
            SELECT id, 1 - distance AS similarity, row_number() OVER (ORDER BY distance, id) AS rank
            FROM nearest WHERE 1 - distance >= :min_similarity
        ),
        lexical AS (
            SELECT id, row_number() OVER (ORDER BY relevance DESC, id) AS rank
            FROM (
                SELECT c.id, ts_rank_cd(c.search, q.query) AS relevance
                FROM knowledge_chunks AS c,
                     websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', CAST(:query_text AS text)) AS q(query)
                WHERE c.search @@ q.query AND c.document_id IN (SELECT id FROM documents)
                ORDER BY relevance DESC, c.id
                LIMIT :candidates
            ) AS matched
        ),
        fused AS (
            SELECT coalesce(s.id, l.id) AS id, s.rank AS semantic_rank, l.rank AS lexical_rank, s.similarity,
                   coalesce(1.0 / (:rrf_k + s.rank), 0) + coalesce(1.0 / (:rrf_k + l.rank), 0) AS score
            FROM semantic AS s FULL OUTER JOIN lexical AS l ON l.id = s.id
        )
        SELECT f.id AS chunk_id, c.document_id, c.position, c.text, d.title, d.source, d.organization_id,
               CAST(f.score AS double precision) AS score, CAST(f.semantic_rank AS integer) AS semantic_rank,
               CAST(f.lexical_rank AS integer) AS lexical_rank, CAST(f.similarity AS double precision) AS similarity
        FROM fused AS f
        JOIN knowledge_chunks AS c ON c.id = f.id
        JOIN knowledge_documents AS d ON d.id = c.document_id
        ORDER BY f.score DESC, least(f.semantic_rank, f.lexical_rank), f.id
        LIMIT :first
    """


def _readable_documents(actor: Actor) -> tuple[str, dict[str, Any]]:
    """The documents' read policy (`core.access.readable`) on the alias `d`, as SQL with named
    parameters, and their values for `actor`."""
    columns: tuple[sa.ColumnClause[Any], ...] = (
        sa.column("id"),
        sa.column("organization_id"),
        sa.column("published_at"),
    )
    condition = readable(sa.table("knowledge_documents", *columns).alias("d"), actor, table=KnowledgeDocument)
    compiled = condition.compile(
        dialect=postgresql.dialect(paramstyle="named"), compile_kwargs={"render_postcompile": True}
    )
    # The dialect writes `:name::UUID`, which `text()` would not read as a parameter.
    return re.sub(r"(:\w+)::(\w+)", r"CAST(\1 AS \2)", str(compiled)), dict(compiled.params)


@requires(KNOWLEDGE_READ, organization="campaign_id", field="campaignId", noun="campaign")
async def search_knowledge(
    session: AsyncSession,
    *,
    actor: Actor,
    campaign_id: uuid.UUID,
    query: str,
    limit: int,
    provider: AIProvider,
    limiter: RateLimiter | None = None,
    authorized: Any = None,
) -> list[KnowledgeHit]:
    """The chunks of the campaign's documents and of the starter corpus that best answer
    `query`, by meaning and by words fused into one ranking (see module doc); each with the ids
    an analysis cites. `knowledge.read` in the campaign (a non-member: NOT_FOUND)."""
    if authorized is not None:
        _campaign_only(authorized.kind.name)
    text = query.strip()
    if not text:
        raise ValidationFailed("The query is empty", field=["query"])
    if len(text) > MAX_QUERY_CHARACTERS:
        raise ValidationFailed(
            f"The query is too long: {len(text)} characters, at most {MAX_QUERY_CHARACTERS}", field=["query"]
        )
    if not 1 <= limit <= MAX_RESULTS:
        raise ValidationFailed(f"`first` must be between 1 and {MAX_RESULTS} (got {limit})", field=["first"])
    await _spend(limiter, provider, actor)
    embedded = await embed_texts(provider, [text])
    condition, params = _readable_documents(actor)
    # An HNSW scan hands over `hnsw.ef_search` (40) candidates before the campaign's filter: with
    # many campaigns in one index a campaign's own chunks could all be filtered away. pgvector 0.8's
    # iterative scan goes on until enough rows pass (the order refined by the statement itself).
    await session.execute(sa.text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
    statement = sa.text(_search_sql(embedded.dimensions).replace("{readable}", condition))
    rows = await session.execute(
        statement,
        {
            **params,
            "campaign_id": campaign_id,
            "query_vector": _vector_text(embedded.vectors[0]),
            "model": embedded.model,
            "dimensions": embedded.dimensions,
            "candidates": CANDIDATES,
            "min_similarity": MIN_SIMILARITY,
            "query_text": text,
            "rrf_k": RRF_K,
            "first": limit,
        },
    )
    return [KnowledgeHit(**row._mapping) for row in rows]


def _vector_text(vector: Sequence[float]) -> str:
    """pgvector's text form of a vector (`[1.0,2.5]`)."""
    return "[" + ",".join(repr(float(value)) for value in vector) + "]"


# ---------------------------------------------------------------------------- re-embedding


async def reembed_stale_chunks(
    sessions: async_sessionmaker[AsyncSession], provider: AIProvider, *, batch: int = EMBED_BATCH
) -> int:
    """Embed again every chunk that the provider's current model did not make (a provider or
    model change), batch by batch, each batch its own transaction; returns how many. The search
    reads only the query's model meanwhile, so two models' vectors are never compared."""
    probe = await embed_texts(provider, ["knowledge"])
    c = KnowledgeChunk.__table__  # type: ignore[attr-defined]
    stale = sa.or_(c.c.embedding_model != probe.model, c.c.embedding_dimensions != probe.dimensions)
    done = 0
    while True:
        async with sessions() as session:
            rows = (await session.execute(sa.select(c.c.id, c.c.text).where(stale).order_by(c.c.id).limit(batch))).all()
        if not rows:
            return done
        embedded = await embed_texts(provider, [row.text for row in rows])
        if embedded.model != probe.model or embedded.dimensions != probe.dimensions:
            raise ValueError("the provider's embedding model changed during re-embedding")
        async with sessions() as session, session.begin():
            for row, vector in zip(rows, embedded.vectors, strict=True):
                await session.execute(
                    sa.update(c)
                    .where(c.c.id == row.id, stale)
                    .values(
                        embedding=vector,
                        embedding_model=embedded.model,
                        embedding_dimensions=embedded.dimensions,
                        embedded_at=sa.func.now(),
                    )
                )
        done += len(rows)


def indexed(model: str, dimensions: int) -> bool:
    """Whether an HNSW index serves searches of this model (else they scan, exactly)."""
    return (model, dimensions) in VECTOR_INDEXES
