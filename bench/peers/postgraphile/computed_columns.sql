-- PostGraphile computed columns for the side-by-side benchmark (v4 and v5 read the same
-- functions), applied to the bench database only: bench/dataset.py runs this file on every run;
-- it is idempotent.
--
-- PostGraphile v4 recognises a function as a computed column only when it lives in the same
-- schema as its table (graphile-build-pg's PgComputedColumnsPlugin compares the namespaces), so
-- these functions are in `public` beside Quintet's tables; they add no column, table or trigger.
-- Semantics follow Quintet: progress counts every task but cancelled ones, percent has one
-- decimal (0 when empty), a task is overdue when it is past due and still open.
--
-- The peer's best shape: each progress value is ONE SQL function that Postgres inlines into
-- the query that calls it (LANGUAGE sql, STABLE, a single SELECT, no SECURITY DEFINER, no SET
-- clause, not STRICT), with nothing nested to call. Both PostGraphiles call a computed column in
-- FROM (`... JOIN projects_progress(p) ON TRUE`, `FROM projects_progress(p) AS x`), where
-- Postgres inlines only a function declared to return a set (`inline_set_returning_function`:
-- a non-SETOF one stays a Function Scan, each call run apart; EXPLAIN VERBOSE shows which). So
-- the functions are `RETURNS SETOF ... ROWS 1` (an aggregate without GROUP BY gives exactly one
-- row), and the `@singleRow` smart tag has PostGraphile expose them as one object, as before:
-- bench/peers/postgraphile/single-row-plugin.js (v4) and the plugin in
-- bench/peers/postgraphile5/graphile.config.mjs (v5). An earlier version wrapped the counts in
-- a second function (`bench_progress_of`, not inlinable either: it returns three columns), so
-- every progress value cost two nested function calls.
--
-- Rounding: Quintet rounds the percent half to even at one decimal, exactly, in integers
-- (services/aurum/progress.py `Progress.percent`, core/sqljson.py `one_decimal`); numeric
-- round() would round half away from zero (31.25 -> 31.3 where Quintet gives 31.2). The same
-- integer arithmetic here gives the same value for every count: tenths = 1000 * done / total
-- (integer division), rounded up when the remainder is more than half the total, or exactly half
-- and the tenths are odd; percent = tenths / 10 as float8 (Python's `tenths / 10`, the same IEEE
-- division). bench/dataset.py checks it on every run (`check_progress_rounding`), and
-- bench/checks.py compares every percent the peers answer exactly.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'bench_progress' AND typnamespace = 'public'::regnamespace) THEN
    CREATE TYPE public.bench_progress AS (total_tasks int, completed_tasks int, percent float8);
  END IF;
END
$$;

COMMENT ON TYPE public.bench_progress IS 'Task completion beneath a pillar, area or project (cancelled tasks excluded).';

-- The second function of earlier versions, and the functions whose return type changed.
DROP FUNCTION IF EXISTS public.bench_progress_of(bigint, bigint);
DROP FUNCTION IF EXISTS public.projects_progress(public.projects);
DROP FUNCTION IF EXISTS public.areas_progress(public.areas);
DROP FUNCTION IF EXISTS public.pillars_progress(public.pillars);

CREATE FUNCTION public.projects_progress(p public.projects)
RETURNS SETOF public.bench_progress LANGUAGE sql STABLE ROWS 1 AS $$
  SELECT c.total::int, c.done::int,
         CASE WHEN c.total = 0 THEN 0::float8
         ELSE (1000 * c.done / c.total
               + CASE WHEN 2 * (1000 * c.done % c.total) > c.total
                        OR (2 * (1000 * c.done % c.total) = c.total AND 1000 * c.done / c.total % 2 = 1)
                      THEN 1 ELSE 0 END)::float8 / 10
         END
  FROM (SELECT count(*) FILTER (WHERE t.status <> 'cancelled') AS total,
               count(*) FILTER (WHERE t.status = 'done') AS done
        FROM public.tasks t
        WHERE t.project_id = p.id AND t.user_id = p.user_id) c
$$;
COMMENT ON FUNCTION public.projects_progress(public.projects) IS E'@singleRow\nCompletion of the tasks of the project.';

CREATE FUNCTION public.areas_progress(a public.areas)
RETURNS SETOF public.bench_progress LANGUAGE sql STABLE ROWS 1 AS $$
  SELECT c.total::int, c.done::int,
         CASE WHEN c.total = 0 THEN 0::float8
         ELSE (1000 * c.done / c.total
               + CASE WHEN 2 * (1000 * c.done % c.total) > c.total
                        OR (2 * (1000 * c.done % c.total) = c.total AND 1000 * c.done / c.total % 2 = 1)
                      THEN 1 ELSE 0 END)::float8 / 10
         END
  FROM (SELECT count(*) FILTER (WHERE t.status <> 'cancelled') AS total,
               count(*) FILTER (WHERE t.status = 'done') AS done
        FROM public.projects pr
        JOIN public.tasks t ON t.project_id = pr.id AND t.user_id = pr.user_id
        WHERE pr.area_id = a.id AND pr.user_id = a.user_id) c
$$;
COMMENT ON FUNCTION public.areas_progress(public.areas) IS E'@singleRow\nCompletion of the tasks of the projects of the area.';

CREATE FUNCTION public.pillars_progress(p public.pillars)
RETURNS SETOF public.bench_progress LANGUAGE sql STABLE ROWS 1 AS $$
  SELECT c.total::int, c.done::int,
         CASE WHEN c.total = 0 THEN 0::float8
         ELSE (1000 * c.done / c.total
               + CASE WHEN 2 * (1000 * c.done % c.total) > c.total
                        OR (2 * (1000 * c.done % c.total) = c.total AND 1000 * c.done / c.total % 2 = 1)
                      THEN 1 ELSE 0 END)::float8 / 10
         END
  FROM (SELECT count(*) FILTER (WHERE t.status <> 'cancelled') AS total,
               count(*) FILTER (WHERE t.status = 'done') AS done
        FROM public.areas a
        JOIN public.projects pr ON pr.area_id = a.id AND pr.user_id = a.user_id
        JOIN public.tasks t ON t.project_id = pr.id AND t.user_id = pr.user_id
        WHERE a.pillar_id = p.id AND a.user_id = p.user_id) c
$$;
COMMENT ON FUNCTION public.pillars_progress(public.pillars) IS E'@singleRow\nCompletion of the tasks beneath the pillar.';

CREATE OR REPLACE FUNCTION public.tasks_is_overdue(t public.tasks)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT t.due_at IS NOT NULL AND t.due_at < now() AND t.status IN ('todo', 'in_progress')
$$;

-- The campaign dashboard's donation totals per FEC cycle, the latest first: a computed column
-- of `campaigns` (v5 only), summed from the ledger as Quintet sums it
-- (services/akashic/donation_reports.py `ledger_sums`). It runs as the caller, so the ledger's
-- row-level security applies: with the peer's per-request settings (the campaign dashboard's
-- `X-Bench-User`, graphile.config.mjs), only a member's campaign has rows. Postgres inlines it.
DROP FUNCTION IF EXISTS public.campaigns_donation_totals(public.campaigns);
DROP TYPE IF EXISTS public.bench_donation_totals;
CREATE TYPE public.bench_donation_totals AS (
  cycle int, total_cents bigint, contributed_cents bigint, reversed_cents bigint, contributions int, donors int
);
CREATE FUNCTION public.campaigns_donation_totals(c public.campaigns)
RETURNS SETOF public.bench_donation_totals LANGUAGE sql STABLE AS $$
  SELECT l.cycle, coalesce(sum(l.amount_cents), 0)::bigint,
         coalesce(sum(l.amount_cents) FILTER (WHERE l.amount_cents > 0), 0)::bigint,
         coalesce(-sum(l.amount_cents) FILTER (WHERE l.amount_cents < 0), 0)::bigint,
         (count(*) FILTER (WHERE l.kind = 'contribution'))::int,
         count(DISTINCT l.donor_id)::int
  FROM public.akashic_donation_ledger l
  WHERE l.organization_id = c.id
  GROUP BY l.cycle
  ORDER BY l.cycle DESC
$$;
COMMENT ON FUNCTION public.campaigns_donation_totals(public.campaigns) IS
  E'@behavior -connection +list\nThe donation totals per FEC cycle, the latest first.';

-- The peers expose the tables the workloads read and write, and no other: the other products'
-- tables (Akashic's message versions, with two foreign keys that PostGraphile v5 names alike,
-- made its `User` type fail to build, and `userByRowId` with it). `@omit` is v4's smart tag,
-- `@behavior -*` v5's; Quintet reads no comment.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
          AND c.relname NOT IN ('users', 'pillars', 'areas', 'projects', 'tasks')
    LOOP
        EXECUTE format('COMMENT ON TABLE public.%I IS %L', t.relname, E'@omit\n@behavior -*');
    END LOOP;
END
$$;

-- The campaign dashboard (v5; v4 omits them): the Akashic tables it reads, read-only, and only
-- the relations it follows: a campaign's messages, a message's latest version, a version's
-- analysis (one per version: `version_id` is unique, so the pair of the foreign key is too).
-- The relations to `users` and between versions stay hidden (they are what broke `User`).
COMMENT ON TABLE public.campaigns IS E'@omit\n@behavior -insert -update -delete';
COMMENT ON TABLE public.messages IS E'@omit\n@behavior -insert -update -delete';
COMMENT ON TABLE public.message_versions IS E'@omit\n@behavior -insert -update -delete';
COMMENT ON TABLE public.message_analyses IS
  E'@omit\n@behavior -insert -update -delete\n@unique version_id,message_id';
COMMENT ON CONSTRAINT fk_campaigns_id_organizations ON public.campaigns IS E'@behavior -*';
COMMENT ON CONSTRAINT fk_messages_created_by_users ON public.messages IS E'@behavior -*';
COMMENT ON CONSTRAINT fk_messages_latest_version_id_message_versions ON public.messages IS
  E'@fieldName latestVersion\n@behavior -manyRelation';
COMMENT ON CONSTRAINT fk_message_versions_author_id_users ON public.message_versions IS E'@behavior -*';
COMMENT ON CONSTRAINT fk_message_versions_message_id_messages ON public.message_versions IS E'@behavior -*';
COMMENT ON CONSTRAINT fk_message_versions_parent_version_id_message_versions ON public.message_versions IS
  E'@behavior -*';
COMMENT ON CONSTRAINT fk_message_versions_restored_from_id_message_versions ON public.message_versions IS
  E'@behavior -*';
COMMENT ON CONSTRAINT fk_message_analyses_job_id_background_jobs ON public.message_analyses IS E'@behavior -*';
COMMENT ON CONSTRAINT fk_message_analyses_requested_by_users ON public.message_analyses IS E'@behavior -*';
COMMENT ON CONSTRAINT fk_message_analyses_message_id_organization_id_messages ON public.message_analyses IS
  E'@behavior -*';
COMMENT ON CONSTRAINT fk_message_analyses_version_id_message_id_message_versions ON public.message_analyses IS
  E'@foreignFieldName analysis';
