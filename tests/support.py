"""Helpers for tests: GraphQL over HTTP, signing up users, ports for servers a test starts."""

from __future__ import annotations

import random
import socket
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from filelock import FileLock, Timeout

PASSWORD = "correct horse battery staple"


@dataclass
class Response:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> Any:
        assert "errors" not in self.body, self.body.get("errors")
        return self.body["data"]

    @property
    def errors(self) -> list[dict[str, Any]]:
        assert self.body.get("errors"), f"expected errors, got {self.body}"
        return self.body["errors"]

    @property
    def error_codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.errors]

    @property
    def statements(self) -> int:
        return int(self.body["extensions"]["sql"]["statements"])


@dataclass
class Viewer:
    token: str
    refresh_token: str
    user_id: str
    email: str


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def __call__(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        expect_status: int = 200,
    ) -> Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
        assert response.status_code == expect_status, response.text
        return Response(response.status_code, response.json())

    async def mutate(self, name: str, input: dict[str, Any], selection: str, *, token: str | None) -> dict[str, Any]:
        """Run `name(input:)` and return its payload, asserting there are no payload errors."""
        result = await self.call(name, input, selection, token=token)
        assert result["errors"] == [], result["errors"]
        return result

    async def call(self, name: str, input: dict[str, Any], selection: str, *, token: str | None) -> dict[str, Any]:
        """Run `name(input:)` and return its payload, errors included."""
        query = f"""
            mutation Run($input: {_input_type(name)}!) {{
              {name}(input: $input) {{
                {selection}
                errors {{ __typename code message field }}
              }}
            }}
        """
        return (await self(query, {"input": input}, token=token)).data[name]

    async def sign_up(self, *, display_name: str = "Tester", email: str | None = None) -> Viewer:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        payload = await self.mutate(
            "register",
            {"email": email, "password": PASSWORD, "displayName": display_name},
            "session { accessToken refreshToken user { id } }",
            token=None,
        )
        session = payload["session"]
        return Viewer(session["accessToken"], session["refreshToken"], session["user"]["id"], email)


_SPECIAL_INPUTS = {
    "deletePillar": "DeleteInput",
    "deleteArea": "DeleteInput",
    "deleteProject": "DeleteInput",
    "deleteTask": "DeleteInput",
    "deleteJournalEntry": "DeleteInput",
    "deleteJournalTemplate": "DeleteInput",
    "deleteResource": "DeleteInput",
}


def _input_type(mutation: str) -> str:
    return _SPECIAL_INPUTS.get(mutation, mutation[0].upper() + mutation[1:] + "Input")


# ------------------------------------------------------------------ ports

#: Lock files of the ports reserved by the test processes of this machine (every worker, every run).
PORT_LOCKS = Path(tempfile.gettempdir()) / "quintet-test-ports"
#: Below the kernel's ephemeral range (32768-60999 on Linux), so that no `bind(("", 0))` and no
#: outgoing connection is handed a port that a test reserved.
PORT_RANGE = range(20000, 32768)
_reserved: list[FileLock] = []


def free_port() -> int:
    """A loopback TCP port for a server that a test starts (a subprocess, a redis-server it
    restarts), or for a URL that must be refused: reserved for this process until it exits.

    Binding port 0 and releasing it leaves a window in which another process (another xdist
    worker, another run) may be given the same port. Instead the port comes from outside the
    ephemeral range and is claimed with a lock file that every test process respects; the lock
    is the kernel's (flock), so a killed process frees its ports.
    """
    PORT_LOCKS.mkdir(exist_ok=True)
    start = random.randrange(len(PORT_RANGE))
    for offset in range(len(PORT_RANGE)):
        port = PORT_RANGE[(start + offset) % len(PORT_RANGE)]
        lock = FileLock(PORT_LOCKS / f"{port}.lock", thread_local=False)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue
        _reserved.append(lock)  # held even when the port is in use by something else: skip it for good
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port left in {PORT_RANGE}")
