"""akashic message analyses

One AI analysis per message version (`version_id` unique; a re-run replaces it): its state, the
background job that runs it, its summary (risk level, issue count, resonance score) and its whole
findings (`result`); read by the campaign's members (row-level security, `member_of`).

Revision ID: 0154c4015840
Revises: d4ba63b4e923
Create Date: 2026-12-01 22:43:46.530915
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.rls import disable_rls, enable_rls, member_of

revision: str = "0154c4015840"
down_revision: str | None = "d4ba63b4e923"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_analyses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("risk_level", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("issue_count", sa.Integer(), nullable=True),
        sa.Column("resonance_score", sa.Float(), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'succeeded') = (risk_level IS NOT NULL AND issue_count IS NOT NULL AND result IS NOT NULL)",
            name=op.f("ck_message_analyses_summary"),
        ),
        sa.CheckConstraint("risk_level IN ('low', 'medium', 'high')", name=op.f("ck_message_analyses_risk_level")),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f("ck_message_analyses_status")
        ),
        sa.CheckConstraint("issue_count IS NULL OR issue_count >= 0", name=op.f("ck_message_analyses_issue_count")),
        sa.CheckConstraint(
            "resonance_score IS NULL OR resonance_score BETWEEN 0 AND 1",
            name=op.f("ck_message_analyses_resonance_score"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["background_jobs.id"],
            name=op.f("fk_message_analyses_job_id_background_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["message_id", "organization_id"],
            ["messages.id", "messages.organization_id"],
            name=op.f("fk_message_analyses_message_id_organization_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_message_analyses_requested_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["version_id", "message_id"],
            ["message_versions.id", "message_versions.message_id"],
            name=op.f("fk_message_analyses_version_id_message_id_message_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_analyses")),
        sa.UniqueConstraint("version_id", name=op.f("uq_message_analyses_version_id")),
    )
    op.create_index("ix_message_analyses_message", "message_analyses", ["message_id"], unique=False)
    enable_rls(op, "message_analyses", member_of())


def downgrade() -> None:
    disable_rls(op, "message_analyses")
    op.drop_index("ix_message_analyses_message", table_name="message_analyses")
    op.drop_table("message_analyses")
