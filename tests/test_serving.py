"""`serve --workers N` spreads keep-alive connections over the workers (core.serving)."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from core.serving import BALANCES, ReusePortListener
from tests.conftest import create_database, drop_database
from tests.support import free_port
from tests.test_cli_serve import ROOT

CONNECTIONS = 128


def test_a_listener_becomes_a_socket_of_its_own_in_each_process() -> None:
    # Given the listener the parent hands to uvicorn's supervisor
    port = free_port()
    listener = ReusePortListener("127.0.0.1", port, 16)
    # When it is unpickled twice (as in two worker processes)
    first, second = pickle.loads(pickle.dumps(listener)), pickle.loads(pickle.dumps(listener))
    try:
        # Then each is a distinct listening socket on the same address, in one SO_REUSEPORT group
        assert isinstance(first, socket.socket)
        assert isinstance(second, socket.socket)
        assert first.fileno() != second.fileno()
        assert first.getsockname() == second.getsockname() == ("127.0.0.1", port)
        assert first.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert first.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
    finally:
        first.close()
        second.close()


def _wait_for_startups(server: subprocess.Popen[str], log: Path, count: int, timeout: float = 180) -> None:
    """Until the server's log shows `count` worker start-ups (or fail, showing the log)."""
    deadline = time.monotonic() + timeout
    while log.read_text().count("Application startup complete") < count:
        if server.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{count} worker start-ups not logged:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)


def _listening_workers(pid: int, port: int) -> list[psutil.Process]:
    """The child processes of `pid` that listen on `port`."""
    return [
        child
        for child in psutil.Process(pid).children()
        if any(c.laddr.port == port and c.status == psutil.CONN_LISTEN for c in child.net_connections("tcp"))
    ]


def _listening_socket(worker: psutil.Process, port: int) -> str:
    """The kernel's identity (`socket:[inode]`) of the socket `worker` listens on at `port`."""
    (listening,) = (c for c in worker.net_connections("tcp") if c.laddr.port == port and c.status == psutil.CONN_LISTEN)
    return os.readlink(f"/proc/{worker.pid}/fd/{listening.fd}")


def _get(sock: socket.socket, port: int) -> bytes:
    sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


@pytest.mark.skipif(not BALANCES, reason="SO_REUSEPORT balancing is Linux's")
def test_keep_alive_connections_are_spread_over_the_workers(server_url: str, tmp_path: Path) -> None:
    # Given `serve --workers 2` on a database of its own
    url = asyncio.run(create_database(server_url))
    env = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_URL", "MODE"}}
    env.update(DATABASE_URL=url, DATA_DIR=str(tmp_path), JOBS_IN_PROCESS="false")
    port = free_port()
    log_path = tmp_path / "serve.log"
    log = log_path.open("w")
    server = subprocess.Popen(
        [sys.executable, "app.py", "serve", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=env,
        # A file, not a pipe: nothing reads a pipe once the markers are seen, and a full pipe
        # would block the server's writes (and its exit).
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    clients: list[socket.socket] = []
    try:
        _wait_for_startups(server, log_path, 2)
        workers = _listening_workers(server.pid, port)
        # Two workers, each listening on a socket of its own (uvicorn's own mode shares one)
        assert len(workers) == 2
        assert len({_listening_socket(worker, port) for worker in workers}) == 2
        # When a client opens 128 keep-alive connections at once (as a pool or wrk does), then
        # sends a request on each and keeps them open
        clients.extend(socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(CONNECTIONS))
        for client in clients:
            assert _get(client, port).startswith(b"HTTP/1.1 200")
        client_ports = {client.getsockname()[1] for client in clients}
        # Then both workers hold a fair share of them (a shared accept queue gave one worker all)
        held: Counter[int] = Counter()
        for worker in workers:
            for connection in worker.net_connections("tcp"):
                if connection.status == psutil.CONN_ESTABLISHED and connection.raddr.port in client_ports:
                    held[worker.pid] += 1
        assert sum(held.values()) == CONNECTIONS
        # Binomial(128, 1/2): fewer than 40 on one side is a 4.2-sigma event (about 1 in 40,000)
        assert min(held.get(worker.pid, 0) for worker in workers) >= 40, held
        # And a worker that dies takes its socket with it: every new connection is answered by
        # the other one (none waits in a dead process's queue) until its replacement is up. It
        # dies while the supervisor waits for its answer to a health check (stopped first, so
        # that the check hangs): the supervisor notices at once, not after the check's 120 s.
        workers[0].send_signal(signal.SIGSTOP)
        time.sleep(1.5)  # the supervisor checks each worker every 0.5 s
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(30)  # reaped by the supervisor
        for _ in range(16):
            with socket.create_connection(("127.0.0.1", port), timeout=60) as late:
                assert _get(late, port).startswith(b"HTTP/1.1 200")
        # And its replacement binds a socket of its own (waited for before stopping: until the
        # new worker answers the supervisor's health check, the supervisor handles no signal)
        _wait_for_startups(server, log_path, 3)
        replaced = _listening_workers(server.pid, port)
        assert len(replaced) == 2
        assert workers[0].pid not in {worker.pid for worker in replaced}
        assert len({_listening_socket(worker, port) for worker in replaced}) == 2
    finally:
        for client in clients:
            client.close()
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=120)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
                raise AssertionError(
                    f"serve did not exit within 120 s of SIGINT:\n{log_path.read_text()[-4000:]}"
                ) from None
        log.close()
        asyncio.run(drop_database(server_url, url))
