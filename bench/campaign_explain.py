"""The campaign dashboard's statements in Postgres: EXPLAIN (ANALYZE, BUFFERS) of Quintet's one
statement and of PostGraphile v5's, on the bench data, their planning and execution times.

    uv run python -m bench.campaign_explain --database quintet_bench_1x --repeats 60
    uv run python -m bench.campaign_explain --plan quintet     # one plan, as text

Quintet's statement is the one the app sends: the app runs in this process (production mode,
httpx's ASGI transport), answers one `campaign_dashboard` request per call and the statement it
fetches is recorded with its arguments. PostGraphile v5's is its statement as it sends it (taken
from the log of a side-by-side run, `PG5_DASHBOARD` below), run as it runs it: as `quintet_app`
with the caller's actor settings, so the database's row-level security applies to both.

Each statement is PREPAREd once on one connection and then run as `EXPLAIN (ANALYZE, BUFFERS)
EXECUTE`, the calls alternating (campaigns and callers), as a server's pooled connection runs
it: the plan cache chooses custom or generic plans as it does for the servers' prepared
statements. Warm-up runs first; the figures are medians. Execution time, not throughput: it
moves little with the load of a shared machine. The statements write nothing, but the app
migrates the database as it starts: on a branch with a migration, point `--database` at a copy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from app import create_app
from bench.dataset import SCALES, prepare_dataset, resolve_server
from bench.lineup import CAMPAIGN_DASHBOARD, Call, Quintet
from bench.side_by_side import KEY_PATH, build_calls, mint_tokens
from core.rls import APP_ROLE, RlsConnection
from core.security import load_or_create_dev_key
from core.settings import Mode, Settings

#: PostGraphile v5's statement for the dashboard (graphile.config.mjs, `campaignByRowId`), as
#: its log shows it (two long lines broken); `$1` is the campaign. It sends a second one, the
#: `set_config`s of the role and the actor, before it in the same transaction (`_actor_sql`).
PG5_DASHBOARD = """select
__campaigns__."office" as "0",
array(select array[
__messages__."id",
__messages__."title",
__messages__."status",
__message_versions__."number"::text,
to_char(__message_versions__."created_at", 'YYYY-MM-DD"T"HH24:MI:SS.USTZH:TZM'::text),
__message_analyses__."status",
__message_analyses__."risk_level",
__message_analyses__."issue_count"::text,
__message_analyses__."resonance_score"::text
]::text[]
from "public"."messages" as __messages__
left outer join "public"."message_versions" as __message_versions__
on (
/* WHERE becoming ON */
(__message_versions__."id" = __messages__."latest_version_id")
and (__message_versions__."message_id" = __messages__."id"))
left outer join "public"."message_analyses" as __message_analyses__
on (
/* WHERE becoming ON */
(__message_analyses__."version_id" = __message_versions__."id")
and (__message_analyses__."message_id" = __message_versions__."message_id"))
where (__messages__."organization_id" = __campaigns__."id")
order by __messages__."created_at" desc, __messages__."id" desc
limit 20)::text as "1",
array(select array[
(count(*))::text
]::text[]
from "public"."messages" as __messages__
where (__messages__."organization_id" = __campaigns__."id"))::text as "2",
array(select array[
__campaigns_donation_totals__."cycle"::text,
__campaigns_donation_totals__."total_cents"::text,
__campaigns_donation_totals__."contributed_cents"::text,
__campaigns_donation_totals__."reversed_cents"::text,
__campaigns_donation_totals__."contributions"::text,
__campaigns_donation_totals__."donors"::text,
(not (__campaigns_donation_totals__ is null))::text
]::text[]
from "public"."campaigns_donation_totals"(__campaigns__) as __campaigns_donation_totals__)::text as "3"
from "public"."campaigns" as __campaigns__
where (__campaigns__."id" = $1::"uuid")"""

Statement = tuple[str, tuple[Any, ...]]


@contextlib.contextmanager
def recording(into: list[Statement]) -> Iterator[None]:
    """Record each statement the app's connections fetch (text and arguments)."""
    original = RlsConnection.fetch

    async def fetch(self: RlsConnection, query: str, *args: Any, **kwargs: Any) -> list[Any]:
        into.append((query, args))
        return await original(self, query, *args, **kwargs)

    RlsConnection.fetch = fetch
    try:
        yield
    finally:
        RlsConnection.fetch = original


async def quintet_statements(url: str, key: str, calls: list[Call]) -> list[Statement]:
    """The statement Quintet sends for each call."""
    settings = Settings(
        _env_file=None,
        mode=Mode.PRODUCTION,
        database_url=url,
        jwt_private_key=key,
        api_key_secret=secrets.token_urlsafe(48),
        insights_schedule="",
        jobs_in_process=False,
        db_pool_size=1,
        db_max_overflow=0,
    )
    peer = Quintet(key)
    application = create_app(settings)
    found: list[Statement] = []
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for call in calls:
                request = peer.request(CAMPAIGN_DASHBOARD, call)
                seen: list[Statement] = []
                for _turn in range(2):  # a document's first request compiles its plan; the resolvers answer it
                    seen.clear()
                    with recording(seen):
                        answer = await client.request(
                            request.method, request.path, headers=request.headers, content=request.body
                        )
                    if answer.status_code != 200 or answer.json().get("errors"):
                        raise RuntimeError(f"{answer.status_code} {answer.text[:300]}")
                dashboards = [s for s in seen if "FROM campaigns" in s[0]]
                if len(dashboards) != 1:
                    raise RuntimeError(
                        f"expected one statement of the campaign, the app sent {[s[:300] for s, _ in seen]}"
                    )
                found.append(dashboards[0])
    return found


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _actor_sql(user_id: uuid.UUID) -> str:
    """What PostGraphile's transaction sets first (graphile.config.mjs `pgSettings`)."""
    return (
        f"SELECT set_config('role', '{APP_ROLE}', true), set_config('quintet.actor_kind', 'user', true), "
        f"set_config('quintet.user_id', '{user_id}', true)"
    )


async def explain(
    conn: asyncpg.Connection, name: str, sql: str, runs: list[tuple[tuple[Any, ...], uuid.UUID | None]]
) -> list[dict[str, Any]]:
    """`EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) EXECUTE` of `sql` for each run's arguments, each in
    its own transaction as the app role (with the actor's settings when `runs` names a user)."""
    await conn.execute(f"PREPARE {name} AS {sql}")
    plans = []
    for arguments, user in runs:
        async with conn.transaction():
            await conn.execute(_actor_sql(user) if user else f"SET LOCAL ROLE {APP_ROLE}")
            listed = ", ".join(_literal(a) for a in arguments)
            text = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) EXECUTE {name}({listed})")
            plans.append(json.loads(text)[0])
    return plans


async def explain_text(conn: asyncpg.Connection, sql: str, arguments: tuple[Any, ...], user: uuid.UUID | None) -> str:
    async with conn.transaction():
        await conn.execute(_actor_sql(user) if user else f"SET LOCAL ROLE {APP_ROLE}")
        await conn.execute(f"PREPARE shown AS {sql}")
        listed = ", ".join(_literal(a) for a in arguments)
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE shown({listed})")
        await conn.execute("DEALLOCATE shown")
    return "\n".join(row[0] for row in rows)


TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


async def backend_cpu_ms(
    conn: asyncpg.Connection, name: str, runs: list[tuple[tuple[Any, ...], uuid.UUID | None]]
) -> float:
    """The backend's CPU time per `EXECUTE` of the prepared `name` (no EXPLAIN: what a server's
    request costs Postgres), over `runs`, each in its own transaction as in `explain`. Needs the
    server on this machine (its /proc)."""
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    before = _cpu_seconds(pid)
    for arguments, user in runs:
        async with conn.transaction():
            await conn.execute(_actor_sql(user) if user else f"SET LOCAL ROLE {APP_ROLE}")
            listed = ", ".join(_literal(a) for a in arguments)
            await conn.execute(f"EXECUTE {name}({listed})")
    return (_cpu_seconds(pid) - before) * 1000 / len(runs)


def _buffers(plan: dict[str, Any]) -> int:
    top = plan["Plan"]
    return int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0))


def summary(plans: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "planning_ms": statistics.median(p.get("Planning Time", 0.0) for p in plans),
        "execution_ms": statistics.median(p["Execution Time"] for p in plans),
        "buffers": statistics.median(_buffers(p) for p in plans),
    }


async def run(options: argparse.Namespace) -> None:
    server_url, kind = resolve_server(options.database_url)
    dataset = await prepare_dataset(
        SCALES[options.scale], server_url=server_url, server_kind=kind, database=options.database
    )
    key = load_or_create_dev_key(KEY_PATH)
    calls = build_calls(dataset, mint_tokens(dataset.users, key))[CAMPAIGN_DASHBOARD]
    statements = await quintet_statements(dataset.url, key, calls)
    texts = {sql for sql, _ in statements}
    if len(texts) != 1:
        raise RuntimeError(f"Quintet sent {len(texts)} different statement texts for the calls")
    (quintet_sql,) = texts
    quintet_runs: list[tuple[tuple[Any, ...], uuid.UUID | None]] = [(args, None) for _, args in statements]
    pg5_runs: list[tuple[tuple[Any, ...], uuid.UUID | None]] = [((c.campaign_id,), c.user_id) for c in calls]
    plain = make_url(dataset.url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(plain)
    try:
        if options.plan:
            sql, runs = (quintet_sql, quintet_runs) if options.plan == "quintet" else (PG5_DASHBOARD, pg5_runs)
            for _ in range(options.warmup):
                await explain_text(conn, sql, *runs[0])
            print(await explain_text(conn, sql, *runs[0]))
            return
        print(
            f"{len(calls)} calls, {options.warmup} warm-up and {options.repeats} measured runs each "
            f"(database {make_url(dataset.url).database})"
        )
        print("| statement | planning ms | execution ms | total ms | buffers | backend CPU ms per EXECUTE |")
        print("|---|---|---|---|---|---|")
        for label, sql, runs in (("Quintet", quintet_sql, quintet_runs), ("PostGraphile v5", PG5_DASHBOARD, pg5_runs)):
            name = "campaign_dashboard"
            chosen = [runs[n % len(runs)] for n in range(options.warmup + options.repeats)]
            plans = (await explain(conn, name, sql, chosen))[options.warmup :]
            figures = summary(plans)
            total = figures["planning_ms"] + figures["execution_ms"]
            cpu = await backend_cpu_ms(conn, name, [runs[n % len(runs)] for n in range(options.cpu_runs)])
            await conn.execute(f"DEALLOCATE {name}")
            print(
                f"| {label} | {figures['planning_ms']:.3f} | {figures['execution_ms']:.3f} | {total:.3f} "
                f"| {figures['buffers']:.0f} | {cpu:.2f} |"
            )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="1x")
    parser.add_argument("--database-url", help="the Postgres server (default as bench.side_by_side)")
    parser.add_argument("--database", help="the dataset's database (default quintet_bench_<scale>)")
    parser.add_argument("--repeats", type=int, default=60, help="measured runs per statement (default 60)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured runs first (default 10)")
    parser.add_argument("--cpu-runs", type=int, default=400, help="EXECUTEs timed by CPU (default 400)")
    parser.add_argument("--plan", choices=("quintet", "postgraphile5"), help="print one plan as text instead")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
