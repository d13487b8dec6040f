"""`serve --workers N`: uvicorn's supervisor, with a listening socket of each worker's own.

uvicorn's multi-process mode binds one socket in the parent and shares it: every worker waits
on the same accept queue, and with keep-alive clients (a frontend's pool, a load balancer's
upstream connections) the worker that happens to be awake takes most or all of them; CPU splits
of 1.00 / 0.00 between two workers were measured. Here each worker binds its own socket to the
same address with `SO_REUSEPORT`, and the kernel spreads new connections over the group by a
hash of the connection's addresses. A worker that dies takes its socket out of the group, so
no connection waits in the queue of a dead process; its replacement binds a new one.

How: the parent hands uvicorn's supervisor a `ReusePortListener` where it expects the shared
socket. It is pickled to each worker process (uvicorn spawns them), and unpickling it in the
worker binds that worker's own socket. The rest (health checks, restarts, signals, graceful
shutdown) is uvicorn's, unchanged.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import uvicorn

#: Whether this platform balances connections over sockets bound with SO_REUSEPORT (Linux does;
#: macOS and the BSDs accept the option but give every connection to one socket).
BALANCES = hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def bind_reuseport(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket on (host, port) in the address's SO_REUSEPORT group."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


@dataclass(frozen=True)
class ReusePortListener:
    """Stands in for the shared socket in the parent; becomes a socket of its own in a worker."""

    host: str
    port: int
    backlog: int

    def __reduce__(self) -> tuple[object, tuple[str, int, int]]:
        return (bind_reuseport, (self.host, self.port, self.backlog))


def run_workers(config: uvicorn.Config) -> None:
    """Run `config.workers` uvicorn worker processes, each accepting on its own socket."""
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        """uvicorn's supervisor, with the parent's copy of each started worker's end of its
        health-check pipe closed. uvicorn's health check sends a ping and waits for the answer
        for `timeout_worker_healthcheck` (120 s here: a worker's start-up under load takes more
        than the default 5 s); a worker that died while the supervisor waited left it waiting the
        whole time, replacing no worker and handling no signal, because the parent's own copy of
        the worker's end kept the pipe open. With it closed, the worker's death is the pipe's
        end: the wait returns at once and the worker is replaced."""

        def init_processes(self) -> None:
            super().init_processes()
            self.close_worker_ends()

        def restart_all(self) -> None:
            super().restart_all()
            self.close_worker_ends()

        def keep_subprocess_alive(self) -> None:
            super().keep_subprocess_alive()
            self.close_worker_ends()

        def close_worker_ends(self) -> None:
            for worker in self.processes:
                if worker.process.pid is not None and not worker.child_conn.closed:
                    worker.child_conn.close()  # the started worker holds its own copy

    listener = ReusePortListener(config.host, config.port, config.backlog)
    Supervisor(config, sockets=[cast(socket.socket, listener)]).run()
