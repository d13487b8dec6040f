"""webhook deliveries and Akashic's donations

`webhook_deliveries`: the ids of the processed inbound webhook deliveries, unique per endpoint
(core/webhooks.py); read and written by the system only (its RLS policy admits nobody else).
`akashic_donors`, `akashic_donations`, `akashic_donation_ledger`: a campaign's donors, donations
and the append-only ledger of contributions and reversals (models/akashic_donations.py), each
readable by the campaign's members (RLS: member_of; the application narrows to the roles that
hold `donations.read`). A trigger refuses UPDATE, direct DELETE and TRUNCATE on the ledger.

Revision ID: 3dcbc40f1dc8
Revises: 344d88f6cdef
Create Date: 2026-12-01 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from migrations.rls import disable_rls, enable_rls, member_of

revision: str = "3dcbc40f1dc8"
down_revision: str | None = "344d88f6cdef"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DONATION_TABLES = ("akashic_donors", "akashic_donations", "akashic_donation_ledger")


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("endpoint", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("delivery_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.UniqueConstraint("endpoint", "delivery_id", name="uq_webhook_deliveries_endpoint_delivery_id"),
    )
    op.create_table(
        "akashic_donors",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("first_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("last_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("street", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("zip", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("employer", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("occupation", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("match_key", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_akashic_donors_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_akashic_donors")),
        sa.UniqueConstraint("id", "organization_id", name=op.f("uq_akashic_donors_id_organization_id")),
        sa.UniqueConstraint("organization_id", "match_key", name=op.f("uq_akashic_donors_organization_id_match_key")),
    )
    op.create_table(
        "akashic_donations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("donor_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_akashic_donations_amount_positive")),
        sa.CheckConstraint("cycle % 2 = 0", name=op.f("ck_akashic_donations_cycle_even")),
        sa.CheckConstraint("provider IN ('actblue', 'stripe')", name=op.f("ck_akashic_donations_provider")),
        sa.CheckConstraint(
            "status IN ('received', 'partially_refunded', 'refunded', 'charged_back')",
            name=op.f("ck_akashic_donations_status"),
        ),
        sa.ForeignKeyConstraint(
            ["donor_id", "organization_id"],
            ["akashic_donors.id", "akashic_donors.organization_id"],
            name=op.f("fk_akashic_donations_donor_id_akashic_donors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_akashic_donations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_akashic_donations")),
        sa.UniqueConstraint("id", "organization_id", name=op.f("uq_akashic_donations_id_organization_id")),
        sa.UniqueConstraint("provider", "external_id", name=op.f("uq_akashic_donations_provider_external_id")),
    )
    op.create_index("ix_akashic_donations_donor_id", "akashic_donations", ["donor_id"], unique=False)
    op.create_index(
        "ix_akashic_donations_organization_received", "akashic_donations", ["organization_id", "received_at"]
    )
    op.create_table(
        "akashic_donation_ledger",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("donation_id", sa.Uuid(), nullable=False),
        sa.Column("donor_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(kind = 'contribution' AND amount_cents > 0) OR (kind <> 'contribution' AND amount_cents < 0)",
            name=op.f("ck_akashic_donation_ledger_amount_sign"),
        ),
        sa.CheckConstraint("cycle % 2 = 0", name=op.f("ck_akashic_donation_ledger_cycle_even")),
        sa.CheckConstraint(
            "kind IN ('contribution', 'refund', 'chargeback')", name=op.f("ck_akashic_donation_ledger_kind")
        ),
        sa.ForeignKeyConstraint(
            ["donation_id", "organization_id"],
            ["akashic_donations.id", "akashic_donations.organization_id"],
            name=op.f("fk_akashic_donation_ledger_donation_id_akashic_donations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["donor_id", "organization_id"],
            ["akashic_donors.id", "akashic_donors.organization_id"],
            name=op.f("fk_akashic_donation_ledger_donor_id_akashic_donors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_akashic_donation_ledger_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_akashic_donation_ledger")),
    )
    op.create_index(
        "ix_akashic_donation_ledger_campaign_cycle",
        "akashic_donation_ledger",
        ["organization_id", "cycle", "donor_id"],
    )
    op.create_index("ix_akashic_donation_ledger_donation_id", "akashic_donation_ledger", ["donation_id"])
    op.execute(
        """
        CREATE FUNCTION akashic_donation_ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- A campaign's deletion cascades (the foreign keys' own triggers fire this one nested).
            IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'akashic_donation_ledger is append-only: % is refused', TG_OP
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Reverse an entry with a new one (a refund, a chargeback).';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER akashic_donation_ledger_append_only BEFORE UPDATE OR DELETE ON akashic_donation_ledger "
        "FOR EACH ROW EXECUTE FUNCTION akashic_donation_ledger_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER akashic_donation_ledger_no_truncate BEFORE TRUNCATE ON akashic_donation_ledger "
        "FOR EACH STATEMENT EXECUTE FUNCTION akashic_donation_ledger_refuse_change()"
    )
    # Only the system (the webhook receiver) reads and records deliveries.
    enable_rls(op, "webhook_deliveries", "false")
    for table in DONATION_TABLES:
        enable_rls(op, table, member_of())


def downgrade() -> None:
    for table in (*reversed(DONATION_TABLES), "webhook_deliveries"):
        disable_rls(op, table)
    op.execute("DROP TRIGGER akashic_donation_ledger_no_truncate ON akashic_donation_ledger")
    op.execute("DROP TRIGGER akashic_donation_ledger_append_only ON akashic_donation_ledger")
    op.execute("DROP FUNCTION akashic_donation_ledger_refuse_change()")
    op.drop_index("ix_akashic_donation_ledger_donation_id", table_name="akashic_donation_ledger")
    op.drop_index("ix_akashic_donation_ledger_campaign_cycle", table_name="akashic_donation_ledger")
    op.drop_table("akashic_donation_ledger")
    op.drop_index("ix_akashic_donations_organization_received", table_name="akashic_donations")
    op.drop_index("ix_akashic_donations_donor_id", table_name="akashic_donations")
    op.drop_table("akashic_donations")
    op.drop_table("akashic_donors")
    op.drop_table("webhook_deliveries")
