"""api client keys: each client's secret keys, stored as their keyed hash

A client has several keys while a rotation's grace period lasts; each has its own expiry,
revocation and last use. The composite foreign key `(client_id, organization_id)` keeps a key in
its client's organization, which its read policy and row-level security read.

Revision ID: 50cdad6b8cf0
Revises: 91152370e5cf
Create Date: 2026-12-01 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.rls import disable_rls, enable_rls, member_of

revision: str = "50cdad6b8cf0"
down_revision: str | None = "91152370e5cf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_unique_constraint(op.f("uq_api_clients_id_organization_id"), "api_clients", ["id", "organization_id"])
    op.create_table(
        "api_client_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id", "organization_id"],
            ["api_clients.id", "api_clients.organization_id"],
            name="fk_api_client_keys_client_id_organization_id_api_clients",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_api_client_keys_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_api_client_keys_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_client_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_client_keys_key_hash")),
    )
    op.create_index("ix_api_client_keys_client_id", "api_client_keys", ["client_id"], unique=False)
    enable_rls(op, "api_client_keys", member_of())


def downgrade() -> None:
    disable_rls(op, "api_client_keys")
    op.drop_index("ix_api_client_keys_client_id", table_name="api_client_keys")
    op.drop_table("api_client_keys")
    op.drop_constraint(op.f("uq_api_clients_id_organization_id"), "api_clients", type_="unique")
