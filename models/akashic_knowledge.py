"""Akashic's knowledge base: documents, each cut into chunks that carry an embedding (pgvector)
and a full-text vector (a generated `tsvector`), searched by both at once
(`services.akashic.knowledge`).

A document is a campaign's own (`organization_id`) or part of the shared starter corpus
(`organization_id` NULL, `published_at` set: readable by everyone, like any published row; the
search reads it for a campaign's members only). Read policies, once per table: a campaign's
documents by its members (every campaign role holds `knowledge.read`), published ones by all; a
chunk by its document's. In the database the published rows are read-only (`quintet_read_also`).

Embeddings of several models may coexist while a provider change is being caught up with (the
re-embedding task): each chunk records the `embedding_model` and `embedding_dimensions` that made
it, the column has no fixed dimension, and a search compares only vectors of the model that
embedded its query. The HNSW indexes (cosine distance) are partial expression indexes, one per
known model and dimension (`VECTOR_INDEXES`), which is how pgvector indexes a column of mixed
dimensions; a model without one is searched exactly (a scan), which stays correct.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlmodel import Field, SQLModel

from core.access import Inherited, Members, Published, declare
from models.audit import MEMBERSHIPS_TABLE, redact
from models.base import created_at_field, id_field, timestamp_field

#: The text search configuration of the full-text side (stemming, English stop words).
TEXT_SEARCH_CONFIG = "english"

#: (model, dimensions) -> the partial HNSW index that serves it: the offline provider's hashed
#: embedding and OpenAI's default embedding model (`AI_EMBEDDING_MODEL`).
VECTOR_INDEXES: dict[tuple[str, int], str] = {
    ("hashed-tokens-256", 256): "ix_knowledge_chunks_embedding_hashed_tokens_256",
    ("text-embedding-3-small", 1536): "ix_knowledge_chunks_embedding_text_embedding_3_small",
}


class KnowledgeDocument(SQLModel, table=True):
    __tablename__ = "knowledge_documents"
    __table_args__ = (
        sa.Index("ix_knowledge_documents_organization_id", "organization_id", "created_at"),
        # A starter corpus document is known by its key, so that loading the corpus is idempotent.
        sa.Index("uq_knowledge_documents_corpus_key", "corpus_key", unique=True),
        sa.CheckConstraint("(organization_id IS NULL) = (published_at IS NOT NULL)", name="shared_is_published"),
        sa.CheckConstraint("(organization_id IS NULL) = (corpus_key IS NOT NULL)", name="shared_has_key"),
    )

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True),
    )
    title: str = Field(max_length=200, nullable=False)
    source: str = Field(max_length=500, nullable=False)
    #: The starter corpus's own key for the document (`pew-2021:progressive-left`); NULL for a campaign's.
    corpus_key: str | None = Field(default=None, max_length=80, nullable=True)
    #: SHA-256 of the text: the corpus loader replaces a document whose text changed.
    content_hash: str = Field(max_length=64, nullable=False)
    characters: int = Field(nullable=False)
    chunk_count: int = Field(default=0, nullable=False)
    #: Set for the shared starter corpus (readable by everyone), NULL for a campaign's documents.
    published_at: datetime | None = timestamp_field()
    created_by: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = created_at_field()


class KnowledgeChunk(SQLModel, table=True):
    __tablename__ = "knowledge_chunks"
    __table_args__ = (
        sa.UniqueConstraint("document_id", "position"),
        sa.Index("ix_knowledge_chunks_search", "search", postgresql_using="gin"),
        sa.Index("ix_knowledge_chunks_embedding_model", "embedding_model", "embedding_dimensions"),
        *(
            sa.Index(
                name,
                sa.text(f"(embedding::vector({dimensions}))"),
                postgresql_using="hnsw",
                postgresql_ops={"embedding": "vector_cosine_ops"},
                postgresql_where=sa.text(f"embedding_model = '{model}' AND embedding_dimensions = {dimensions}"),
            )
            for (model, dimensions), name in VECTOR_INDEXES.items()
        ),
    )

    id: uuid.UUID = id_field()
    document_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("knowledge_documents.id", ondelete="CASCADE"), nullable=False)
    )
    position: int = Field(nullable=False)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    #: No fixed dimension: vectors of another model wait here for the re-embedding task.
    embedding: list[float] = Field(sa_column=sa.Column(Vector(), nullable=False))
    embedding_model: str = Field(max_length=120, nullable=False)
    embedding_dimensions: int = Field(nullable=False)
    embedded_at: datetime = created_at_field()
    search: str | None = Field(
        default=None,
        sa_column=sa.Column(
            TSVECTOR, sa.Computed(f"to_tsvector('{TEXT_SEARCH_CONFIG}', text)", persisted=True), nullable=True
        ),
    )


# Every campaign role holds `knowledge.read`, which the search requires (`core.access.requires`):
# the rows are its members', as the database's policy reads them too.
declare(KnowledgeDocument, Published(Members(MEMBERSHIPS_TABLE)))
declare(KnowledgeChunk, Inherited(KnowledgeDocument.__table__, "document_id"))  # type: ignore[attr-defined]
# Floats by the hundred mean nothing in a change record; the chunk's text and model say what changed.
redact(KnowledgeChunk, "embedding", "search")
