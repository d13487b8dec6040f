"""Row-level security for migrations: the app's role, its grants, and one line per table.

The database's second wall (README "Access"): the application connects as `APP_ROLE`, which
owns nothing and does not bypass RLS, and every table that holds a user's or an organization's
rows gets a policy keyed on the transaction's settings (`quintet.actor_kind`, `quintet.user_id`,
`quintet.organization_id`, which core/rls.py sets with each transaction's BEGIN, or in the same
statement for a single autocommit read). Unset settings match no row: the wall fails closed.

A migration declares each table's policy in one line (`enable_rls(op, "tasks", owned())`); the
conditions mirror `core.access`'s policies (`Owned` -> `owned`, `Members` -> `member_of`...), and
tests/test_rls.py checks that every table with a declared read policy has RLS enabled with the
condition `condition_for(its policy)` gives, so the two walls can't drift apart unnoticed.

Roles are the database's: what `Members(permission=...)` narrows to some roles, the database
reads as membership of the organization (any role). The tenant's wall is the database's; a
role's reach within its own organization is the application's.

The tables are ENABLEd, not FORCEd: the table owner (the migrations' role) is not subject to
them, which is what lets the policies' SECURITY DEFINER helpers read `memberships` without
recursing into its own policy; `core.rls.check_app_database` refuses an application connection
that owns the tables, is a superuser or bypasses RLS.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core.access import AnyOf, Inherited, Members, Owned, Policy, Published, policy_of

#: The role the application runs as (`core.rls.APP_ROLE` is the same name).
APP_ROLE = "quintet_app"
#: The settings as SQL, written into the policies as scalar sub-SELECTs: Postgres makes each an
#: InitPlan, evaluated once per statement, where a bare `current_setting(...)` (or a SQL function
#: wrapping it, whose body Postgres would also inline again at every planning) is evaluated for
#: every row (a tree of 1,000 tasks: 1,000 setting look-ups and uuid parses). Comparing a column
#: with an InitPlan's value is leakproof, so the query's own index conditions still apply first.
#: The user id is set only for a user actor (core/rls.py).
USER_ID = "(SELECT CAST(nullif(current_setting('quintet.user_id', true), '') AS uuid))"
IS_SYSTEM = "(SELECT current_setting('quintet.actor_kind', true) = 'system')"
#: The name of the one policy per table (`FOR ALL`: reads, and the rows a write may leave).
ROWS_POLICY = "quintet_rows"


def owned(column: str = "user_id") -> str:
    """A user's own rows (`core.access.Owned`)."""
    return f"{column} = {USER_ID}"


def member_of(column: str = "organization_id") -> str:
    """The rows of the organizations the user is a member of, or an API client's own
    (`core.access.Members`)."""
    return f"{column} IN (SELECT quintet_member_organizations())"


def published(column: str, otherwise: str) -> str:
    """`core.access.Published`."""
    return f"({column} IS NOT NULL OR {otherwise})"


def inherited(parent: str, key: str, parent_key: str = "id", *, table: str) -> str:
    """`core.access.Inherited`: the parent row is readable (its own policy applies inside)."""
    return f"EXISTS (SELECT 1 FROM {parent} AS parent WHERE parent.{parent_key} = {table}.{key})"


def condition_for(policy: Policy, table: str) -> str:
    """The database's condition for a `core.access` policy of `table` (what tests/test_rls.py
    compares with the policy a migration created)."""
    if isinstance(policy, Owned):
        return owned(policy.column)
    if isinstance(policy, Members):
        return member_of(policy.column)
    if isinstance(policy, Published):
        return published(policy.column, condition_for(policy.otherwise, table))
    if isinstance(policy, Inherited):
        return inherited(policy.parent.name, policy.key, policy.parent_key, table=table)
    if isinstance(policy, AnyOf):
        return "(" + " OR ".join(condition_for(p, table) for p in policy.policies) + ")"
    raise TypeError(f"no database condition for the policy {policy!r}")


def declared_condition(model_or_table: Any) -> str:
    table = getattr(model_or_table, "__table__", model_or_table)
    return condition_for(policy_of(table), table.name)


def rows_condition(condition: str) -> str:
    """What `enable_rls` writes: the system reads and writes every row, the others by `condition`."""
    return f"{IS_SYSTEM} OR {condition}"


def enable_rls(op: Any, table: str, condition: str, *, readable_also: str | None = None) -> None:
    """Enable RLS on `table` with its policy: rows are read, and written, by `condition` (and by
    the system actor). `readable_also` adds rows that may be read but not written (a user reads
    the co-members' names, and changes only their own)."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    expression = rows_condition(condition)
    op.execute(f"CREATE POLICY {ROWS_POLICY} ON {table} FOR ALL USING ({expression}) WITH CHECK ({expression})")
    if readable_also is not None:
        op.execute(f"CREATE POLICY quintet_read_also ON {table} FOR SELECT USING ({readable_also})")


#: The policy that lets an actor append the record of its own action (`allow_own_records`).
OWN_RECORDS_POLICY = "quintet_own_records"


def allow_own_records(op: Any, table: str, actor: str = "actor_user_id", about: str = "user_id") -> None:
    """Rows a user may insert though they may not read them: the record of their own action
    (`actor` is them) about no other user's data (`about` is them or null), such as the audit
    event of an organization they have just deleted, written after its memberships are gone.
    Reads stay by the table's policy."""
    check = f"{actor} = {USER_ID} AND ({about} IS NULL OR {about} = {USER_ID})"
    op.execute(f"CREATE POLICY {OWN_RECORDS_POLICY} ON {table} FOR INSERT WITH CHECK ({check})")


def disable_rls(op: Any, table: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS {OWN_RECORDS_POLICY} ON {table}")
    op.execute(f"DROP POLICY IF EXISTS quintet_read_also ON {table}")
    op.execute(f"DROP POLICY IF EXISTS {ROWS_POLICY} ON {table}")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def create_app_role(op: Any) -> None:
    """The application's role (cluster-wide, so maybe made already by another database's
    migration, perhaps at this very moment), its privileges in this database, now and for the
    tables later migrations create, and the migrations' role's right to act as it."""
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database's migration created it meanwhile
        END
        $$
        """
    )
    # The owner logs in and becomes the app role by its startup setting (`role`), which needs
    # membership; a superuser needs none.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
               AND NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
                EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
            END IF;
        END
        $$
        """
    )
    schema = _schema(op)
    for grant in (
        f"GRANT USAGE ON SCHEMA {schema} TO {APP_ROLE}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {APP_ROLE}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {APP_ROLE}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schema} TO {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT EXECUTE ON FUNCTIONS TO {APP_ROLE}",
        # The migrations' bookkeeping is theirs alone.
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {APP_ROLE}",
    ):
        op.execute(grant)


def _schema(op: Any) -> str:
    """This database's schema (the migrations' `current_schema()`), quoted."""
    bind = op.get_bind()
    name = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    return str(bind.dialect.identifier_preparer.quote_identifier(name))


def drop_app_role_privileges(op: Any) -> None:
    """Undo `create_app_role` in this database (the role itself stays: other databases of the
    cluster may use it)."""
    schema = _schema(op)
    for revoke in (
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON TABLES FROM {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON SEQUENCES FROM {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON FUNCTIONS FROM {APP_ROLE}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {APP_ROLE}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {APP_ROLE}",
        f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {schema} FROM {APP_ROLE}",
        f"REVOKE ALL ON SCHEMA {schema} FROM {APP_ROLE}",
    ):
        op.execute(revoke)


def create_functions(op: Any) -> None:
    """The settings as SQL functions (for the membership functions and for people reading the
    database; the policies write the settings out, `USER_ID` and `IS_SYSTEM`), and the
    SECURITY DEFINER ones the policies call for memberships: they read `memberships` as its
    owner, so that the policy of `memberships` itself does not recurse."""
    op.execute(
        """
        CREATE FUNCTION quintet_actor_kind() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT nullif(pg_catalog.current_setting('quintet.actor_kind', true), '')
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION quintet_is_system() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT pg_catalog.current_setting('quintet.actor_kind', true) IS NOT DISTINCT FROM 'system'
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION quintet_user_id() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT CASE WHEN pg_catalog.current_setting('quintet.actor_kind', true) = 'user'
                        THEN CAST(nullif(pg_catalog.current_setting('quintet.user_id', true), '') AS uuid)
                   END
        $$
        """
    )
    schema = _schema(op)
    op.execute(
        f"""
        CREATE FUNCTION quintet_member_organizations() RETURNS SETOF uuid
        LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
            SELECT organization_id FROM {schema}.memberships WHERE user_id = {schema}.quintet_user_id()
            UNION ALL
            SELECT CAST(nullif(current_setting('quintet.organization_id', true), '') AS uuid)
            WHERE current_setting('quintet.actor_kind', true) = 'api_client'
        $$
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION quintet_co_members() RETURNS SETOF uuid
        LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
            SELECT user_id FROM {schema}.memberships
            WHERE organization_id IN (SELECT {schema}.quintet_member_organizations())
        $$
        """
    )
    # Signing in finds an account by its email as the system, but under RLS the unique index on
    # lower(email) can't serve the lookup (lower() is not leakproof: Postgres may not apply it
    # before the policy): this finds the id, which the pk then serves (`find_user_by_email`).
    op.execute(
        f"""
        CREATE FUNCTION quintet_account_id(email text) RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
            SELECT id FROM {schema}.users WHERE lower(users.email) = lower($1)
        $$
        """
    )
    # Nobody but the policies (and the app role that they run as) needs them.
    for function in ("quintet_member_organizations()", "quintet_co_members()", "quintet_account_id(text)"):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {APP_ROLE}")


def drop_functions(op: Any) -> None:
    for function in (
        "quintet_account_id(text)",
        "quintet_co_members()",
        "quintet_member_organizations()",
        "quintet_user_id()",
        "quintet_is_system()",
        "quintet_actor_kind()",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
