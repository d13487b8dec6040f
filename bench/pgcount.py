"""Count the SQL statements a server sends to Postgres, on the wire.

A small TCP proxy between a peer and Postgres that reads the frontend side of the protocol
(https://www.postgresql.org/docs/current/protocol-message-formats.html) and counts each
statement execution: a simple `Query` message, or an extended-protocol `Execute` (whose text
comes from the `Parse` it was bound from). It works with every driver (asyncpg, node-postgres)
and any Postgres server, needs no extension nor server setting, and sees transaction control
(BEGIN/COMMIT/ROLLBACK) as what it is: round trips too. It offers no TLS (it answers `N` to an
SSLRequest, so clients carry on in plain text on loopback).

Only the harness's verification phase goes through it; measured runs connect to Postgres
directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
from collections import Counter
from dataclasses import dataclass, field

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
# Transaction control, session settings (also as `SELECT set_config(...)`/`current_setting(...)`,
# which SQLAlchemy's asyncpg dialect sends once per new connection), asyncpg's pool reset (run
# when a connection goes back to its pool) and its type introspection (once per connection and
# type): round trips that read or write no data.
CONTROL = re.compile(
    r"^\s*(?:(?:BEGIN|START|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE|SET|RESET|SHOW|DISCARD|DEALLOCATE|LISTEN|UNLISTEN)\b"
    r"|SELECT pg_advisory_unlock_all\(\)"
    r"|SELECT (?:current_setting|set_config)\('?\w*'?(?:, [^)]*)?\)(?: AS \w+)?(?:, set_config\([^)]*\) AS \w+)?\s*$"
    r"|WITH RECURSIVE typeinfo_tree\()",
    re.IGNORECASE,
)


@dataclass
class Counts:
    """Statements executed since the last reset: data statements, and control (see CONTROL)."""

    queries: int = 0
    control: int = 0
    texts: Counter[str] = field(default_factory=Counter)

    def record(self, text: str) -> None:
        if CONTROL.match(text):
            self.control += 1
        else:
            self.queries += 1
        self.texts[" ".join(text.split())[:120]] += 1


@dataclass
class _Session:
    """One client connection's prepared statements and portals, to name what an Execute runs."""

    counts: Counts
    statements: dict[bytes, str] = field(default_factory=dict)
    portals: dict[bytes, bytes] = field(default_factory=dict)

    def observe(self, kind: bytes, payload: bytes) -> None:
        if kind == b"Q":
            self.counts.record(payload.rstrip(b"\0").decode(errors="replace"))
        elif kind == b"P":
            name, _, rest = payload.partition(b"\0")
            self.statements[name] = rest.partition(b"\0")[0].decode(errors="replace")
        elif kind == b"B":
            portal, _, rest = payload.partition(b"\0")
            self.portals[portal] = rest.partition(b"\0")[0]
        elif kind == b"E":
            portal = payload.partition(b"\0")[0]
            self.counts.record(self.statements.get(self.portals.get(portal, b""), "?"))
        elif kind == b"C" and payload[:1] == b"S":  # Close of a prepared statement
            self.statements.pop(payload[1:].rstrip(b"\0"), None)


class CountingProxy:
    """Listens on 127.0.0.1:<port>, forwards to Postgres at `host:port` or a Unix socket."""

    def __init__(self, *, host: str | None = None, port: int = 5432, unix_socket: str | None = None) -> None:
        self.upstream_host, self.upstream_port, self.unix_socket = host, port, unix_socket
        self.counts = Counts()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def reset(self) -> Counts:
        """The counts so far; counting starts again from zero."""
        counts, self.counts = self.counts, Counts()
        return counts

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.unix_socket:
            return await asyncio.open_unix_connection(self.unix_socket)
        return await asyncio.open_connection(self.upstream_host, self.upstream_port)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        pipe: asyncio.Task[None] | None = None
        try:
            startup = await self._startup(client_reader, client_writer)
            if startup is None:
                return
            upstream_reader, upstream_writer = await self._open_upstream()
            upstream_writer.write(startup)
            pipe = asyncio.create_task(_copy(upstream_reader, client_writer))
            session = _Session(self.counts)
            while True:
                kind = await client_reader.readexactly(1)
                header = await client_reader.readexactly(4)
                (length,) = struct.unpack("!i", header)
                payload = await client_reader.readexactly(length - 4)
                session.counts = self.counts  # follow resets
                session.observe(kind, payload)
                upstream_writer.write(kind + header + payload)
                await upstream_writer.drain()
                if kind == b"X":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            if pipe is not None:
                pipe.cancel()
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    writer.close()
            self._tasks.discard(task)

    @staticmethod
    async def _startup(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes | None:
        """The client's startup message, after refusing TLS and GSS encryption requests."""
        while True:
            header = await reader.readexactly(8)
            length, code = struct.unpack("!ii", header)
            rest = await reader.readexactly(length - 8)
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                writer.write(b"N")
                await writer.drain()
                continue
            return header + rest  # a startup or cancel message: forwarded as it is


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    writer.close()
