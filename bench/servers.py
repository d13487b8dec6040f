"""Start a peer's server as its own process group on a free loopback port, and stop it again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
import uuid
from pathlib import Path
from types import TracebackType

import httpx
import psutil

from bench.lineup import HttpRequest, Launch
from core.relay import from_global_id

READY_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def send(client: httpx.AsyncClient, request: HttpRequest) -> httpx.Response:
    return await client.request(request.method, request.path, headers=request.headers, content=request.body or None)


REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { session { accessToken user { id } } } }"


async def register_user(client: httpx.AsyncClient, *, display_name: str = "Bench") -> tuple[dict[str, str], uuid.UUID]:
    """A new user signed up through the API: its Authorization header and its user id."""
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    registered = await client.post(
        "/graphql",
        json={
            "query": REGISTER,
            "variables": {"i": {"email": email, "password": "benchmark-password", "displayName": display_name}},
        },
    )
    session = registered.json()["data"]["register"]["session"]
    return {"Authorization": f"Bearer {session['accessToken']}"}, from_global_id(session["user"]["id"])[1]


class ServerProcess:
    """`async with ServerProcess(launch, port, log)`: the server is up and answering inside the block."""

    def __init__(self, launch: Launch, port: int, log_path: Path) -> None:
        self.launch = launch
        self.port = port
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ServerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            # A session of its own: the server's workers (uvicorn, node cluster) share its
            # process group, so stopping the group stops exactly what this object started.
            self.process = await asyncio.create_subprocess_exec(
                *self.launch.argv,
                cwd=self.launch.cwd,
                env={**os.environ, **self.launch.env},
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()

    def cpu_seconds(self) -> dict[int, float]:
        """CPU time (user + system) so far of each process of the server: its leader and every
        descendant (uvicorn's workers, node's cluster), by pid; processes that are gone are left out."""
        if self.process is None:
            return {}
        try:
            leader = psutil.Process(self.process.pid)
            processes = [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            return {}
        seconds: dict[int, float] = {}
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = process.cpu_times()
                seconds[process.pid] = times.user + times.system
        return seconds

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        ready = self.launch.ready
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(
                        f"{self.launch.argv[0]} exited with {self.process.returncode} before it was ready; "
                        f"log {self.log_path}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    response = await send(client, ready)
                    if response.status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"not ready within {READY_TIMEOUT_S:.0f}s; log {self.log_path}:\n{self.log_tail()}")

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        # Workers of a group whose leader already exited (node cluster, uvicorn) go too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
