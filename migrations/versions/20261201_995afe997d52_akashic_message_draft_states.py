"""akashic message draft states

The Yjs state of each version a co-edited draft saved (`version_id` its key, written with the
version), from which a draft room opens so that it shares the history of the rooms still open on
other processes; read by the campaign's members (row-level security, `member_of`).

Revision ID: 995afe997d52
Revises: 33669e117160
Create Date: 2026-12-01 23:11:24.158413
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.rls import disable_rls, enable_rls, member_of


revision: str = "995afe997d52"
down_revision: str | None = "33669e117160"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_draft_states",
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id", "organization_id"],
            ["messages.id", "messages.organization_id"],
            name=op.f("fk_message_draft_states_message_id_organization_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id", "message_id"],
            ["message_versions.id", "message_versions.message_id"],
            name=op.f("fk_message_draft_states_version_id_message_id_message_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_message_draft_states")),
    )
    enable_rls(op, "message_draft_states", member_of())


def downgrade() -> None:
    disable_rls(op, "message_draft_states")
    op.drop_table("message_draft_states")
