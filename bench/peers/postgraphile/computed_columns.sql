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
-- The peer's best shape: each progress value is ONE SQL function (LANGUAGE sql, STABLE, a single
-- SELECT, no SECURITY DEFINER, no SET clause, not STRICT), with nothing nested to call. An earlier
-- version wrapped the counts in a second function (`bench_progress_of`) that Postgres could not
-- inline (it returns three columns), so every progress value cost two nested calls.
--
-- Rounding: Quintet rounds the percent half to even at one decimal, exactly, in integers
-- (services/aurum/progress.py `Progress.percent`, core/sqljson.py `one_decimal`); numeric
-- round() would round half away from zero (31.25 -> 31.3 where Quintet gives 31.2). The same
-- integer arithmetic here gives the same value for every count: tenths = 1000 * done / total
-- (integer division), rounded up when the remainder is more than half the total, or exactly half
-- and the tenths are odd; percent = tenths / 10 as float8 (Python's `tenths / 10`, the same IEEE
-- division). bench/checks.py compares every percent exactly.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'bench_progress' AND typnamespace = 'public'::regnamespace) THEN
    CREATE TYPE public.bench_progress AS (total_tasks int, completed_tasks int, percent float8);
  END IF;
END
$$;

COMMENT ON TYPE public.bench_progress IS 'Task completion beneath a pillar, area or project (cancelled tasks excluded).';

-- Dropped with the functions that called it (CREATE OR REPLACE below redefines them).
DROP FUNCTION IF EXISTS public.bench_progress_of(bigint, bigint);

CREATE OR REPLACE FUNCTION public.projects_progress(p public.projects)
RETURNS public.bench_progress LANGUAGE sql STABLE AS $$
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

CREATE OR REPLACE FUNCTION public.areas_progress(a public.areas)
RETURNS public.bench_progress LANGUAGE sql STABLE AS $$
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

CREATE OR REPLACE FUNCTION public.pillars_progress(p public.pillars)
RETURNS public.bench_progress LANGUAGE sql STABLE AS $$
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

CREATE OR REPLACE FUNCTION public.tasks_is_overdue(t public.tasks)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT t.due_at IS NOT NULL AND t.due_at < now() AND t.status IN ('todo', 'in_progress')
$$;
