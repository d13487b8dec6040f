"""procrastinate queue

The job queue's tables, types, functions and triggers, from the schema that the installed
procrastinate ships (`procrastinate/sql/schema.sql`), so that `app.py migrate` sets up
everything. The schema is at procrastinate's migration level 03.04.00 (unchanged from
procrastinate 3.4 to 3.10); tests/test_jobs.py fails when an upgrade of the library moves
it, which is the moment to add a revision that applies the library's new migration files
(`procrastinate/sql/migrations/*.sql`) in order.

Revision ID: 7c1e0f3a9b24
Revises: 58cf99bfe195
Create Date: 2026-11-25 09:00:00
"""

from collections.abc import Sequence

from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.util import await_only

revision: str = "7c1e0f3a9b24"
down_revision: str | None = "58cf99bfe195"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROP_SCHEMA = r"""
DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
    procrastinate_workers CASCADE;
DO $$
DECLARE
    item record;
BEGIN
    FOR item IN
        SELECT p.oid::regprocedure AS signature
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\_%'
    LOOP
        EXECUTE 'DROP FUNCTION IF EXISTS ' || item.signature || ' CASCADE';
    END LOOP;
    FOR item IN
        SELECT t.typname
          FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\_%' AND t.typtype IN ('e', 'c')
    LOOP
        EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
    END LOOP;
END;
$$;
"""


def _run_script(script: str) -> None:
    # A script of many statements (with $$-quoted function bodies) can't be a prepared
    # statement: send it as one simple query on the driver's own connection.
    driver_connection = op.get_bind().connection.driver_connection
    await_only(driver_connection.execute(script))


def upgrade() -> None:
    _run_script(SchemaManager.get_schema())


def downgrade() -> None:
    _run_script(DROP_SCHEMA)
