"""akashic opt-outs and fec committee id

A delivery may be `skipped` (never sent: its contact had opted out of the channel, by an
unsubscribe link, SendGrid's unsubscribe or spam report, or an SMS STOP), with no provider id;
a campaign has its FEC committee id (`C` and 8 digits), the filer id of its Schedule A.

Revision ID: b4f1c7e2a9d3
Revises: 995afe997d52
Create Date: 2026-12-02 03:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "b4f1c7e2a9d3"
down_revision: str | None = "995afe997d52"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = "'queued', 'sent', 'delivered', 'opened', 'clicked', 'bounced', 'failed'"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_message_deliveries_status"), "message_deliveries", type_="check")
    op.create_check_constraint(
        op.f("ck_message_deliveries_status"), "message_deliveries", f"status IN ({_STATUSES}, 'skipped')"
    )
    op.drop_constraint(op.f("ck_message_deliveries_provider_message_id"), "message_deliveries", type_="check")
    op.create_check_constraint(
        op.f("ck_message_deliveries_provider_message_id"),
        "message_deliveries",
        "(status IN ('queued', 'skipped') AND provider_message_id IS NULL) OR status = 'failed' "
        "OR (status NOT IN ('queued', 'skipped') AND provider_message_id IS NOT NULL)",
    )
    op.add_column("campaigns", sa.Column("fec_committee_id", sqlmodel.sql.sqltypes.AutoString(length=9), nullable=True))
    op.create_check_constraint(
        op.f("ck_campaigns_fec_committee_id"), "campaigns", "fec_committee_id ~ '^C[0-9]{8}$'"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_campaigns_fec_committee_id"), "campaigns", type_="check")
    op.drop_column("campaigns", "fec_committee_id")
    op.execute("DELETE FROM message_deliveries WHERE status = 'skipped'")
    op.drop_constraint(op.f("ck_message_deliveries_provider_message_id"), "message_deliveries", type_="check")
    op.create_check_constraint(
        op.f("ck_message_deliveries_provider_message_id"),
        "message_deliveries",
        "(status = 'queued' AND provider_message_id IS NULL) OR status = 'failed' "
        "OR (status <> 'queued' AND provider_message_id IS NOT NULL)",
    )
    op.drop_constraint(op.f("ck_message_deliveries_status"), "message_deliveries", type_="check")
    op.create_check_constraint(op.f("ck_message_deliveries_status"), "message_deliveries", f"status IN ({_STATUSES})")
