-- PostGraphile computed columns for the side-by-side benchmark, applied to the bench database
-- only (bench/dataset.py runs this file on every run; it is idempotent).
--
-- PostGraphile v4 recognises a function as a computed column only when it lives in the same
-- schema as its table (graphile-build-pg's PgComputedColumnsPlugin compares the namespaces), so
-- these functions are in `public` beside Quintet's tables; they add no column, table or trigger.
-- Semantics follow Quintet: progress counts every task but cancelled ones, percent has one
-- decimal (0 when empty), a task is overdue when it is past due and still open.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'bench_progress' AND typnamespace = 'public'::regnamespace) THEN
    CREATE TYPE public.bench_progress AS (total_tasks int, completed_tasks int, percent float8);
  END IF;
END
$$;

COMMENT ON TYPE public.bench_progress IS 'Task completion beneath a pillar, area or project (cancelled tasks excluded).';

CREATE OR REPLACE FUNCTION public.bench_progress_of(total bigint, completed bigint)
RETURNS public.bench_progress LANGUAGE sql IMMUTABLE AS $$
  SELECT total::int, completed::int,
         CASE WHEN total = 0 THEN 0::float8 ELSE round(100.0 * completed / total, 1)::float8 END
$$;
COMMENT ON FUNCTION public.bench_progress_of(bigint, bigint) IS E'@omit';

CREATE OR REPLACE FUNCTION public.projects_progress(p public.projects)
RETURNS public.bench_progress LANGUAGE sql STABLE AS $$
  SELECT public.bench_progress_of(count(*) FILTER (WHERE t.status <> 'cancelled'),
                                  count(*) FILTER (WHERE t.status = 'done'))
  FROM public.tasks t
  WHERE t.project_id = p.id AND t.user_id = p.user_id
$$;

CREATE OR REPLACE FUNCTION public.areas_progress(a public.areas)
RETURNS public.bench_progress LANGUAGE sql STABLE AS $$
  SELECT public.bench_progress_of(count(*) FILTER (WHERE t.status <> 'cancelled'),
                                  count(*) FILTER (WHERE t.status = 'done'))
  FROM public.projects pr
  JOIN public.tasks t ON t.project_id = pr.id AND t.user_id = pr.user_id
  WHERE pr.area_id = a.id AND pr.user_id = a.user_id
$$;

CREATE OR REPLACE FUNCTION public.pillars_progress(p public.pillars)
RETURNS public.bench_progress LANGUAGE sql STABLE AS $$
  SELECT public.bench_progress_of(count(*) FILTER (WHERE t.status <> 'cancelled'),
                                  count(*) FILTER (WHERE t.status = 'done'))
  FROM public.areas a
  JOIN public.projects pr ON pr.area_id = a.id AND pr.user_id = a.user_id
  JOIN public.tasks t ON t.project_id = pr.id AND t.user_id = pr.user_id
  WHERE a.pillar_id = p.id AND a.user_id = p.user_id
$$;

CREATE OR REPLACE FUNCTION public.tasks_is_overdue(t public.tasks)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT t.due_at IS NOT NULL AND t.due_at < now() AND t.status IN ('todo', 'in_progress')
$$;
