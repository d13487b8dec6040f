"""row-level security: the app role and a policy per tenant- or user-scoped table

The application's role `quintet_app` (no login, owns nothing, no BYPASSRLS) with the privileges
it needs (audit events: read and append only), the SQL functions that read the transaction's
actor settings, and one policy per table (migrations/rls.py). Unset settings match no row.

Revision ID: d1c7b231b89b
Revises: 24c808477ac4
Create Date: 2026-12-01 17:05:00
"""

from collections.abc import Sequence

from alembic import op

from migrations.rls import (
    APP_ROLE,
    allow_own_records,
    create_app_role,
    create_functions,
    disable_rls,
    drop_app_role_privileges,
    drop_functions,
    enable_rls,
    member_of,
    owned,
)

revision: str = "d1c7b231b89b"
down_revision: str | None = "24c808477ac4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables whose rows are a user's (core.access.Owned on `user_id`).
OWNED_TABLES = (
    # Aurum Life
    "pillars",
    "areas",
    "projects",
    "tasks",
    "journal_templates",
    "journal_entries",
    "resources",
    # its insights
    "insights",
    "hrm_user_preferences",
    "hrm_feedback_log",
    # the platform's
    "refresh_tokens",
    "notifications",
    "background_jobs",
)
#: The tables whose rows are an organization's (core.access.Members on `organization_id`).
MEMBER_TABLES = ("memberships", "invitations")


def upgrade() -> None:
    create_app_role(op)
    create_functions(op)
    # Appended to, never changed (its trigger refuses it too).
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM {APP_ROLE}")
    for table in OWNED_TABLES:
        enable_rls(op, table, owned())
    for table in MEMBER_TABLES:
        enable_rls(op, table, member_of())
    enable_rls(op, "organizations", member_of("id"))
    # A user reads their own row and the rows of the members of their organizations (their names
    # on a members list), and writes only their own.
    enable_rls(op, "users", owned("id"), readable_also="id IN (SELECT quintet_co_members())")
    enable_rls(op, "audit_events", f"({owned()} OR {member_of()})")
    # The event of an action that ends the actor's own reach (deleting an organization) is still theirs to write.
    allow_own_records(op, "audit_events")


def downgrade() -> None:
    for table in ("audit_events", "users", "organizations", *MEMBER_TABLES, *OWNED_TABLES):
        disable_rls(op, table)
    drop_functions(op)
    drop_app_role_privileges(op)
