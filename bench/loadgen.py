"""Drive wrk (the HTTP load generator from Debian's `wrk` package) and read its results."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.lineup import HttpRequest

LUA_SCRIPT = Path(__file__).resolve().parent / "wrk_rotate.lua"
WRITES_SCRIPT = Path(__file__).resolve().parent / "wrk_writes.lua"
INSTALL_WRK = (
    "wrk is not installed. It is the load generator of the side-by-side benchmark: "
    "`apt-get install -y wrk` (Debian/Ubuntu; .ci/run does this), `brew install wrk` (macOS)."
)


class ToolMissing(RuntimeError):
    """A program the benchmark needs is not on PATH; the message says how to install it."""


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise ToolMissing(INSTALL_WRK)
    return path


def raw_request(request: HttpRequest, host: str) -> bytes:
    headers = {"Host": host, **request.headers}
    if request.method != "GET" or request.body:
        headers["Content-Length"] = str(len(request.body))
    head = f"{request.method} {request.path} HTTP/1.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return head.encode() + b"\r\n" + request.body


def write_requests(path: Path, requests: list[HttpRequest], host: str) -> None:
    """The file wrk_rotate.lua reads: each raw request after a line with its length."""
    with path.open("wb") as out:
        for request in requests:
            raw = raw_request(request, host)
            out.write(f"{len(raw)}\n".encode())
            out.write(raw)


def _head(request: HttpRequest, host: str) -> bytes:
    """The request line and headers, without Content-Length and the blank line (wrk_writes.lua adds them)."""
    headers = {"Host": host, **request.headers}
    head = f"{request.method} {request.path} HTTP/1.1\r\n"
    return (head + "".join(f"{name}: {value}\r\n" for name, value in headers.items())).encode()


def write_templates(path: Path, pairs: list[tuple[HttpRequest, HttpRequest]], host: str) -> None:
    """The file wrk_writes.lua reads: per entry the create's head and body, then the update's."""
    with path.open("wb") as out:
        for create, update in pairs:
            for chunk in (_head(create, host), create.body, _head(update, host), update.body):
                out.write(f"{len(chunk)}\n".encode())
                out.write(chunk)


@dataclass
class WrkResult:
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non_200: int
    graphql_errors: int
    socket_errors: dict[str, int]
    bytes_per_response: int
    #: wrk_writes.lua's counts (creates and updates sent, answered, queued at the end)
    writes: dict[str, int] | None = None

    @property
    def errors(self) -> int:
        malformed = self.writes["malformed"] if self.writes else 0
        return self.non_200 + self.graphql_errors + sum(self.socket_errors.values()) + malformed

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "errors": self.errors}


def parse_result(output: str) -> WrkResult:
    line = next((line for line in output.splitlines() if line.startswith("WRK_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result line; its output was:\n{output}")
    raw = orjson.loads(line.removeprefix("WRK_RESULT "))
    seconds = raw["duration_us"] / 1e6
    latency = raw["latency_us"]
    return WrkResult(
        requests=raw["requests"],
        seconds=round(seconds, 3),
        requests_per_second=round(raw["requests"] / seconds, 2) if seconds else 0.0,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p95_ms=latency["p95"] / 1000,
        p99_ms=latency["p99"] / 1000,
        mean_ms=round(latency["mean"] / 1000, 3),
        max_ms=latency["max"] / 1000,
        non_200=raw["non_200"],
        graphql_errors=raw["graphql_errors"],
        socket_errors=raw["socket_errors"],
        bytes_per_response=raw["bytes"] // raw["requests"] if raw["requests"] else 0,
        writes=raw.get("writes"),
    )


async def run_wrk(
    url: str,
    requests_file: Path,
    *,
    seconds: float,
    connections: int,
    threads: int,
    timeout_s: int = 60,
    script: Path = LUA_SCRIPT,
    script_args: tuple[str, ...] = (),
) -> WrkResult:
    wrk = require_wrk()
    argv = [wrk, f"-t{threads}", f"-c{max(connections, threads)}", f"-d{max(1, round(seconds))}s"]
    argv += [f"--timeout={timeout_s}s", "-s", str(script), url, "--", str(requests_file), *script_args]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    stdout, _ = await process.communicate()
    output = stdout.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited with {process.returncode}:\n{output}")
    return parse_result(output)
