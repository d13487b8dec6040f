"""akashic campaigns and messages

Akashic's campaigns (an organization of kind `campaign` plus its details, keyed by the
organization's id), their messages, every saved version of a message (one line: unique
`(message_id, number)` and `parent_version_id`) and their workflow transitions; each table read
by the campaign's members (row-level security, `member_of`).

Revision ID: 344d88f6cdef
Revises: 5e0a1c7d2b93
Create Date: 2026-12-01 20:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.rls import disable_rls, enable_rls, member_of

revision: str = "344d88f6cdef"
down_revision: str | None = "5e0a1c7d2b93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "'draft', 'in_review', 'approved', 'scheduled', 'sent'"


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("office", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("jurisdiction", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("election_date", sa.Date(), nullable=False),
        sa.Column("party", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("election_cycle", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("election_cycle BETWEEN 1788 AND 9999", name=op.f("ck_campaigns_election_cycle")),
        sa.CheckConstraint("length(trim(office)) > 0", name=op.f("ck_campaigns_office")),
        sa.ForeignKeyConstraint(
            ["id"], ["organizations.id"], name=op.f("fk_campaigns_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("audience_segments", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("paid", sa.Boolean(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("latest_version_id", sa.Uuid(), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'social_post', 'speech', 'press_release')", name=op.f("ck_messages_channel")
        ),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_messages_status")),
        sa.CheckConstraint(
            "(status = 'scheduled') = (scheduled_for IS NOT NULL)", name=op.f("ck_messages_scheduled_for")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_messages_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["campaigns.id"],
            name=op.f("fk_messages_organization_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("id", "organization_id", name=op.f("uq_messages_id_organization_id")),
    )
    op.create_index("ix_messages_organization_created", "messages", ["organization_id", "created_at"], unique=False)
    op.create_table(
        "message_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("parent_version_id", sa.Uuid(), nullable=True),
        sa.Column("restored_from_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("number >= 1", name=op.f("ck_message_versions_number")),
        sa.CheckConstraint("(number = 1) = (parent_version_id IS NULL)", name=op.f("ck_message_versions_parent")),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_message_versions_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["message_id", "organization_id"],
            ["messages.id", "messages.organization_id"],
            name=op.f("fk_message_versions_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_version_id"],
            ["message_versions.id"],
            name=op.f("fk_message_versions_parent_version_id_message_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["restored_from_id"],
            ["message_versions.id"],
            name=op.f("fk_message_versions_restored_from_id_message_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_versions")),
        sa.UniqueConstraint("message_id", "number", name=op.f("uq_message_versions_message_id_number")),
        sa.UniqueConstraint("id", "message_id", name=op.f("uq_message_versions_id_message_id")),
        sa.UniqueConstraint("parent_version_id", name=op.f("uq_message_versions_parent_version_id")),
    )
    op.create_foreign_key(
        "fk_messages_latest_version_id_message_versions",
        "messages",
        "message_versions",
        ["latest_version_id", "id"],
        ["id", "message_id"],
    )
    op.create_table(
        "message_transitions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("to_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(f"from_status IN ({STATUSES})", name=op.f("ck_message_transitions_from_status")),
        sa.CheckConstraint(f"to_status IN ({STATUSES})", name=op.f("ck_message_transitions_to_status")),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_message_transitions_actor_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["message_id", "organization_id"],
            ["messages.id", "messages.organization_id"],
            name=op.f("fk_message_transitions_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_transitions")),
    )
    op.create_index(
        "ix_message_transitions_message_at", "message_transitions", ["message_id", "at"], unique=False
    )
    enable_rls(op, "campaigns", member_of("id"))
    for table in ("messages", "message_versions", "message_transitions"):
        enable_rls(op, table, member_of())


def downgrade() -> None:
    for table in ("message_transitions", "message_versions", "messages", "campaigns"):
        disable_rls(op, table)
    op.drop_index("ix_message_transitions_message_at", table_name="message_transitions")
    op.drop_table("message_transitions")
    op.drop_constraint("fk_messages_latest_version_id_message_versions", "messages", type_="foreignkey")
    op.drop_table("message_versions")
    op.drop_index("ix_messages_organization_created", table_name="messages")
    op.drop_table("messages")
    op.drop_table("campaigns")
