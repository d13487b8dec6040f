"""akashic ledger totals: the campaign-cycle index covers the sums

`ix_akashic_donation_ledger_campaign_cycle` (organization_id, cycle, donor_id) also holds
`amount_cents` and `kind` (INCLUDE), what a campaign's totals per cycle sum and count
(`services.akashic.donation_reports.ledger_sums`, the campaign dashboard's one statement): Postgres
reads them from the index alone, in cycle order, where it read each entry's heap page (a bitmap
heap scan of ~100 pages per campaign) and sorted them. The ledger is append-only, so its pages
stay all-visible once vacuumed and the scan fetches no heap page.

Revision ID: 61abcc7c0ce6
Revises: b4f1c7e2a9d3
Create Date: 2026-12-02 04:05:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "61abcc7c0ce6"
down_revision: str | None = "b4f1c7e2a9d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_akashic_donation_ledger_campaign_cycle"
TABLE = "akashic_donation_ledger"
COLUMNS = ["organization_id", "cycle", "donor_id"]


def upgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(INDEX, TABLE, COLUMNS, postgresql_include=["amount_cents", "kind"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(INDEX, TABLE, COLUMNS)
