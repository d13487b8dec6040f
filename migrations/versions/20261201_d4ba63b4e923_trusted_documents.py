"""trusted documents: the documents API clients and first-party apps run by id

And the SDLs they were validated against (`schema_versions`).

Revision ID: d4ba63b4e923
Revises: 50cdad6b8cf0
Create Date: 2026-12-01 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.rls import disable_rls, enable_rls, member_of

revision: str = "d4ba63b4e923"
down_revision: str | None = "50cdad6b8cf0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schema_versions",
        sa.Column("sdl_hash", sa.String(length=64), nullable=False),
        sa.Column("sdl", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("sdl_hash", name=op.f("pk_schema_versions")),
    )
    op.create_table(
        "trusted_documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("api_client_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("document_id", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("operation_names", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("sdl_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("use_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latency_buckets", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.CheckConstraint(
            "(api_client_id IS NULL) = (organization_id IS NULL)",
            name=op.f("ck_trusted_documents_client_organization"),
        ),
        sa.CheckConstraint("length(document_id) > 0", name=op.f("ck_trusted_documents_document_id")),
        sa.ForeignKeyConstraint(
            ["api_client_id"],
            ["api_clients.id"],
            name=op.f("fk_trusted_documents_api_client_id_api_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_trusted_documents_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sdl_hash"], ["schema_versions.sdl_hash"], name=op.f("fk_trusted_documents_sdl_hash_schema_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusted_documents")),
        sa.UniqueConstraint(
            "api_client_id", "document_id", name=op.f("uq_trusted_documents_api_client_id_document_id")
        ),
    )
    op.create_index(
        "uq_trusted_documents_first_party_document_id",
        "trusted_documents",
        ["document_id"],
        unique=True,
        postgresql_where=sa.text("api_client_id IS NULL"),
    )
    enable_rls(op, "trusted_documents", member_of())


def downgrade() -> None:
    disable_rls(op, "trusted_documents")
    op.drop_index("uq_trusted_documents_first_party_document_id", table_name="trusted_documents")
    op.drop_table("trusted_documents")
    op.drop_table("schema_versions")
