"""What the database's second wall costs, in CPU per request: the application's and Postgres's.

    uv run python -m bench.rls_cost --database quintet_bench_rls_1x --requests 400 --rounds 4

Runs the app in this process (production mode, through httpx's ASGI transport: no network, no
load generator) once as shipped (`ROW_SECURITY=true`: the app role, the actor's settings with
each BEGIN and in each single read, the policies) and once past the wall (`ROW_SECURITY=false`:
the owner's login, no settings), on the side-by-side's dataset (bench.dataset, built by
`bench.side_by_side` or here) with its calls (tree, dashboard, node, mutation), one request at a
time. For each it counts this process's CPU time and the CPU time of the Postgres backends
that served it (from /proc: the server must run on this machine, and this user must be able to
read its processes' stat files), per request. Rounds alternate the two (ABBA...), and the
figures are the medians over rounds: CPU time, unlike throughput, barely moves with the load of
a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from app import create_app
from bench.dataset import SCALES, prepare_dataset, resolve_server
from bench.lineup import Quintet
from bench.side_by_side import KEY_PATH, build_calls, mint_tokens
from core.security import load_or_create_dev_key
from core.settings import Mode, Settings

OPERATIONS = ("tree", "dashboard", "node", "mutation")
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


async def _backends(url: str, database: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'quintet'", database
        )
    finally:
        await conn.close()
    return [row["pid"] for row in rows]


async def measure(
    url: str, key: str, calls: dict[str, list[Any]], *, row_security: bool, requests: int, offset: int
) -> dict[str, tuple[float, float]]:
    """Per operation: (app CPU ms, backend CPU ms) per request."""
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    database = str(make_url(url).database)
    settings = Settings(
        _env_file=None,
        mode=Mode.PRODUCTION,
        database_url=url,
        jwt_private_key=key,
        api_key_secret=secrets.token_urlsafe(48),
        row_security=row_security,
        insights_schedule="",
        jobs_in_process=False,
        db_pool_size=2,
        db_max_overflow=0,
        auth_rate_limit_per_address="1000000/minute",
    )
    peer = Quintet(key)
    application = create_app(settings)
    found: dict[str, tuple[float, float]] = {}
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for operation in OPERATIONS:
                pool = calls[operation]
                chosen = [pool[(offset + n) % len(pool)] for n in range(requests)]
                for call in chosen[:20]:  # warm: connections, prepared statements, caches
                    request = peer.request(operation, call)
                    await client.request(request.method, request.path, headers=request.headers, content=request.body)
                pids = await _backends(plain, database)
                backend_before = sum(_cpu_seconds(pid) for pid in pids)
                app_before = time.process_time()
                for call in chosen:
                    request = peer.request(operation, call)
                    answer = await client.request(
                        request.method, request.path, headers=request.headers, content=request.body
                    )
                    if answer.status_code != 200 or answer.json().get("errors"):
                        raise RuntimeError(f"{operation}: {answer.status_code} {answer.text[:300]}")
                app_ms = (time.process_time() - app_before) * 1000 / requests
                pids = sorted(set(pids) | set(await _backends(plain, database)))
                backend_ms = (sum(_cpu_seconds(pid) for pid in pids) - backend_before) * 1000 / requests
                found[operation] = (app_ms, backend_ms)
    return found


async def run(options: argparse.Namespace) -> None:
    server_url, kind = resolve_server(options.database_url)
    dataset = await prepare_dataset(
        SCALES[options.scale], server_url=server_url, server_kind=kind, database=options.database
    )
    key = load_or_create_dev_key(KEY_PATH)
    calls = build_calls(dataset, mint_tokens(dataset.users, key))
    figures: dict[bool, dict[str, list[tuple[float, float]]]] = {True: {}, False: {}}
    order = [True, False]
    for round_ in range(options.rounds):
        for row_security in order if round_ % 2 == 0 else order[::-1]:
            got = await measure(
                dataset.url, key, calls, row_security=row_security, requests=options.requests, offset=round_ * 97
            )
            for operation, pair in got.items():
                figures[row_security].setdefault(operation, []).append(pair)
            shown = ", ".join(f"{op} {a:.2f}+{b:.2f}" for op, (a, b) in got.items())
            print(
                f"round {round_ + 1} {'RLS on ' if row_security else 'RLS off'}: {shown} (app+backend CPU ms/request)"
            )
    print()
    print(
        "| operation | app CPU ms, off | app CPU ms, on | backend CPU ms, off | backend CPU ms, on | total, on / off |"
    )
    print("|---|---|---|---|---|---|")
    for operation in OPERATIONS:
        on, off = figures[True][operation], figures[False][operation]
        app_on, app_off = statistics.median(p[0] for p in on), statistics.median(p[0] for p in off)
        db_on, db_off = statistics.median(p[1] for p in on), statistics.median(p[1] for p in off)
        ratio = (app_on + db_on) / (app_off + db_off)
        print(
            f"| {operation} | {app_off:.2f} | {app_on:.2f} | {db_off:.3f} | {db_on:.3f} | "
            f"{ratio:.3f} ({(ratio - 1) * 100:+.1f} %) |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="1x")
    parser.add_argument("--database-url", help="the Postgres server (default as bench.side_by_side)")
    parser.add_argument("--database", help="the dataset's database (default quintet_bench_<scale>)")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per operation and round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds, alternating RLS on and off")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
