"""Akashic knowledge base: documents and chunks with pgvector embeddings and full text

The pgvector extension; `knowledge_documents` (a campaign's, or the shared starter corpus's:
organization NULL, published) and `knowledge_chunks` (text, an embedding of no fixed dimension
with the model and dimensions that made it, a generated tsvector), with a GIN index on the
full text and a partial HNSW index (cosine ops) per known embedding model; row-level security
(a campaign's documents by its members, published ones by all, a chunk by its document's); and
the starter corpus itself (`services.akashic.knowledge.load_starter_corpus`, offline embedding).

Revision ID: 91152370e5cf
Revises: 3dcbc40f1dc8
Create Date: 2026-12-01 20:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

from migrations.rls import disable_rls, enable_rls, inherited, member_of

revision: str = "91152370e5cf"
down_revision: str | None = "3dcbc40f1dc8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (index, model, dimensions): as `models.akashic_knowledge.VECTOR_INDEXES` at this revision.
VECTOR_INDEXES = (
    ("ix_knowledge_chunks_embedding_hashed_tokens_256", "hashed-tokens-256", 256),
    ("ix_knowledge_chunks_embedding_text_embedding_3_small", "text-embedding-3-small", 1536),
)


def upgrade() -> None:
    # Never skipped: without pgvector this migration fails, saying so.
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "knowledge_documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("corpus_key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("characters", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(organization_id IS NULL) = (published_at IS NOT NULL)",
            name=op.f("ck_knowledge_documents_shared_is_published"),
        ),
        sa.CheckConstraint(
            "(organization_id IS NULL) = (corpus_key IS NOT NULL)", name=op.f("ck_knowledge_documents_shared_has_key")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_knowledge_documents_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_knowledge_documents_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_documents")),
    )
    op.create_index(
        "ix_knowledge_documents_organization_id", "knowledge_documents", ["organization_id", "created_at"], unique=False
    )
    op.create_index("uq_knowledge_documents_corpus_key", "knowledge_documents", ["corpus_key"], unique=True)
    op.create_table(
        "knowledge_chunks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedding", Vector(), nullable=False),
        sa.Column("embedding_model", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("embedding_dimensions", sa.Integer(), nullable=False),
        sa.Column("embedded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector('english', text)", persisted=True),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["knowledge_documents.id"],
            name=op.f("fk_knowledge_chunks_document_id_knowledge_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_chunks")),
        sa.UniqueConstraint("document_id", "position", name=op.f("uq_knowledge_chunks_document_id_position")),
    )
    op.create_index(
        "ix_knowledge_chunks_embedding_model",
        "knowledge_chunks",
        ["embedding_model", "embedding_dimensions"],
        unique=False,
    )
    op.create_index("ix_knowledge_chunks_search", "knowledge_chunks", ["search"], unique=False, postgresql_using="gin")
    for name, model, dimensions in VECTOR_INDEXES:
        op.execute(
            f"CREATE INDEX {name} ON knowledge_chunks USING hnsw ((embedding::vector({dimensions})) vector_cosine_ops) "
            f"WHERE embedding_model = '{model}' AND embedding_dimensions = {dimensions}"
        )
    # The shared corpus (published) is read by everyone and written by no one but the owner (its
    # loader, this migration): a read-only policy of its own, as for the co-members' accounts.
    enable_rls(op, "knowledge_documents", member_of(), readable_also="published_at IS NOT NULL")
    enable_rls(op, "knowledge_chunks", inherited("knowledge_documents", "document_id", table="knowledge_chunks"))

    from core.ai import OFFLINE_EMBEDDING_MODEL
    from services.akashic.knowledge import load_starter_corpus

    load_starter_corpus(op.get_bind(), embedding_model=OFFLINE_EMBEDDING_MODEL)


def downgrade() -> None:
    disable_rls(op, "knowledge_chunks")
    disable_rls(op, "knowledge_documents")
    for name, _, _ in VECTOR_INDEXES:
        op.drop_index(name, table_name="knowledge_chunks")
    op.drop_index("ix_knowledge_chunks_search", table_name="knowledge_chunks", postgresql_using="gin")
    op.drop_index("ix_knowledge_chunks_embedding_model", table_name="knowledge_chunks")
    op.drop_table("knowledge_chunks")
    op.drop_index("uq_knowledge_documents_corpus_key", table_name="knowledge_documents")
    op.drop_index("ix_knowledge_documents_organization_id", table_name="knowledge_documents")
    op.drop_table("knowledge_documents")
    # The extension stays: another database object may use it, and it holds no data of ours.
