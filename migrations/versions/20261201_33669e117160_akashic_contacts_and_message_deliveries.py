"""akashic contacts and message deliveries

A campaign's contacts (name, email in lower case and/or E.164 phone, segments, per-channel opt-out
times; one per email and per phone in a campaign) and one delivery row per recipient of a sent
message (address, channel, provider and its message id, forward-only status and the time of each
step); both in their campaign by composite foreign keys, read by its members (row-level security,
`member_of`; the roles are the application's).

Revision ID: 33669e117160
Revises: 0154c4015840
Create Date: 2026-12-01 23:00:19.529767
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.rls import disable_rls, enable_rls, member_of

revision: str = "33669e117160"
down_revision: str | None = "0154c4015840"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "akashic_contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("segments", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("email_opted_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sms_opted_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("phone ~ '^\\+[1-9][0-9]{6,14}$'", name=op.f("ck_akashic_contacts_phone_e164")),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_akashic_contacts_email_lower")),
        sa.CheckConstraint("email IS NOT NULL OR phone IS NOT NULL", name=op.f("ck_akashic_contacts_reachable")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["campaigns.id"],
            name=op.f("fk_akashic_contacts_organization_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_akashic_contacts")),
        sa.UniqueConstraint("id", "organization_id", name=op.f("uq_akashic_contacts_id_organization_id")),
        sa.UniqueConstraint("organization_id", "email", name=op.f("uq_akashic_contacts_organization_id_email")),
        sa.UniqueConstraint("organization_id", "phone", name=op.f("uq_akashic_contacts_organization_id_phone")),
    )
    op.create_table(
        "message_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("provider_message_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(status = 'queued' AND provider_message_id IS NULL) OR status = 'failed' "
            "OR (status <> 'queued' AND provider_message_id IS NOT NULL)",
            name=op.f("ck_message_deliveries_provider_message_id"),
        ),
        sa.CheckConstraint("channel IN ('email', 'sms')", name=op.f("ck_message_deliveries_channel")),
        sa.CheckConstraint("provider IN ('sendgrid', 'twilio')", name=op.f("ck_message_deliveries_provider")),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'delivered', 'opened', 'clicked', 'bounced', 'failed')",
            name=op.f("ck_message_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id", "organization_id"],
            ["akashic_contacts.id", "akashic_contacts.organization_id"],
            name=op.f("fk_message_deliveries_contact_id_organization_id_akashic_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id", "organization_id"],
            ["messages.id", "messages.organization_id"],
            name=op.f("fk_message_deliveries_message_id_organization_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_deliveries")),
        sa.UniqueConstraint("message_id", "contact_id", name=op.f("uq_message_deliveries_message_id_contact_id")),
        sa.UniqueConstraint(
            "provider", "provider_message_id", name=op.f("uq_message_deliveries_provider_provider_message_id")
        ),
    )
    enable_rls(op, "akashic_contacts", member_of())
    enable_rls(op, "message_deliveries", member_of())


def downgrade() -> None:
    disable_rls(op, "message_deliveries")
    disable_rls(op, "akashic_contacts")
    op.drop_table("message_deliveries")
    op.drop_table("akashic_contacts")
