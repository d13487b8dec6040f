"""Where Quintet spends its time on the side-by-side operations: pyinstrument, in process.

    uv run python -m bench.profile_quintet                         # 1x data, tree and dashboard
    uv run python -m bench.profile_quintet --operations tree --requests 50 --tree

Uses the side-by-side dataset (bench.dataset; built on first use, reused after), runs Quintet in
production mode in this process through ASGI (no network, no load generator), warms up, then
profiles sequential requests of each operation, rotating over users. Prints the mean latency
and the functions with the most self time (pyinstrument's flat view; `--tree` adds the call
tree), so BENCHMARKS.md can record them before and after a change.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import secrets
import time
from typing import Any

import httpx
from pyinstrument import Profiler
from starlette.applications import Starlette

from app import create_app
from bench.dataset import SCALES, Scale, prepare_dataset, resolve_server
from bench.lineup import CREATE, UPDATE, Call, Quintet
from bench.servers import send
from bench.side_by_side import KEY_PATH, ROOT, build_calls, mint_tokens
from core.security import load_or_create_dev_key
from core.settings import Mode, Settings

PROFILED = ("tree", "dashboard", "node", "mutation", "relay", "filtered", "nodes50", "login", "writes")


def _checked(operation: str, response: httpx.Response) -> httpx.Response:
    if response.status_code != 200 or b'"errors":[{' in response.content:
        raise RuntimeError(f"{operation}: {response.status_code} {response.text[:300]}")
    return response


def _top(text: str, lines: int) -> str:
    """pyinstrument's flat text, cut after `lines` functions."""
    kept = text.splitlines()
    header_end = next((i for i, line in enumerate(kept) if line.strip() and line[:1].isdigit()), 0)
    return "\n".join(kept[: header_end + lines])


@dataclasses.dataclass(frozen=True)
class InProcess:
    """Quintet in production mode on the side-by-side dataset, as an ASGI app of this process
    (not started: run it in `app.router.lifespan_context(app)`), with the requests to send it."""

    scale: Scale
    app: Starlette
    peer: Quintet
    calls: dict[str, list[Call]]


async def in_process_quintet(options: argparse.Namespace, **settings: Any) -> InProcess:
    """`options.scale`'s dataset (built on first use) and the app over it; `settings` are more
    of its settings (a log level...)."""
    scale = SCALES[options.scale]
    server_url, server_kind = resolve_server(options.database_url)
    dataset = await prepare_dataset(scale, server_url=server_url, server_kind=server_kind, database=options.database)
    key = load_or_create_dev_key(KEY_PATH)
    calls = build_calls(dataset, mint_tokens(dataset.users, key))
    app = create_app(
        Settings(
            _env_file=None,
            mode=Mode.PRODUCTION,
            database_url=dataset.sqlalchemy_url,
            data_dir=ROOT / ".data",
            jwt_private_key=key,
            api_key_secret=secrets.token_urlsafe(48),
            **settings,
        )
    )
    return InProcess(scale, app, Quintet(key), calls)


async def profile(options: argparse.Namespace) -> None:
    # In process every sign-in comes from one address (the served bench gives each its own, through
    # X-Forwarded-For): the per-address sign-in limit is lifted so that `login` measures sign-ins.
    lifted = {"auth_rate_limit_per_address": "10000/minute"} if "login" in options.operation_names else {}
    if options.redis_url:
        lifted["redis_url"] = options.redis_url
    quintet = await in_process_quintet(options, **lifted)
    scale, app, peer, calls = quintet.scale, quintet.app, quintet.peer, quintet.calls
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://quintet", timeout=120) as client:
            for operation in options.operation_names:
                sample = calls[operation]

                async def one(index: int, sample: list[Call] = sample, operation: str = operation) -> httpx.Response:
                    call = sample[index % len(sample)]
                    if operation != "writes":
                        return await send(client, peer.request(operation, call))
                    # The write mix: a new task, then a change to the task the answer names.
                    created = await send(client, peer.request(CREATE, dataclasses.replace(call, title=f"p{index}")))
                    _checked(operation, created)
                    task_id = peer.decode_id(created.json()["data"]["createTask"]["task"]["id"])
                    return await send(client, peer.request(UPDATE, dataclasses.replace(call, task_id=task_id)))

                for index in range(5):  # warm-up: pool, prepared statements, caches
                    await one(index)
                profiler = Profiler(interval=options.interval, async_mode="enabled")
                started, cpu = time.perf_counter(), time.process_time()
                profiler.start()
                for index in range(options.requests):
                    response = _checked(operation, await one(index))
                profiler.stop()
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                sent = options.requests * (2 if operation == "writes" else 1)
                print(
                    f"\n=== {operation}: {sent} requests, "
                    f"{elapsed / sent * 1000:.1f} ms each (under the profiler), "
                    f"{cpu / sent * 1000:.2f} ms of this process's CPU each, "
                    f"{len(response.content):,} bytes per response, scale {scale.name}"
                )
                print(_top(profiler.output_text(flat=True, flat_time="self"), options.top))
                if options.tree:
                    print(profiler.output_text(unicode=True, show_all=False))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile_quintet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="1x", help="dataset (default 1x)")
    parser.add_argument("--operations", default="tree,dashboard", help="comma-separated (default tree,dashboard)")
    parser.add_argument("--requests", type=int, default=20, help="profiled requests per operation (default 20)")
    parser.add_argument("--top", type=int, default=30, help="functions shown (default 30)")
    parser.add_argument("--interval", type=float, default=0.0005, help="sampling interval in seconds")
    parser.add_argument("--tree", action="store_true", help="also print the call tree")
    parser.add_argument("--database-url", help="Postgres server (default as bench.side_by_side)")
    parser.add_argument("--database", help="database name (default quintet_bench_<scale>)")
    parser.add_argument("--redis-url", help="REDIS_URL for the app (default none: in-process event bus and limits)")
    options = parser.parse_args(argv)
    options.operation_names = [name.strip() for name in options.operations.split(",") if name.strip()]
    for name in options.operation_names:
        if name not in PROFILED:
            parser.error(f"unknown operation {name!r}; choose among {', '.join(PROFILED)}")
    if options.requests < 1:
        parser.error("--requests must be at least 1")
    asyncio.run(profile(options))


if __name__ == "__main__":
    main()
