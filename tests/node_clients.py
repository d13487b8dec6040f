"""The JavaScript clients our users run (urql, Apollo Client, graphql-ws, graphql-sse,
graphql-http), installed from the committed lock file and driven against the running server.

`run_script(path, env=...)` runs one ES module under `tests/clients/` with Node.js and returns
the JSON object it printed last on stdout. The packages are installed once per machine into
`tests/clients/node_modules` (`npm ci`, guarded by a file lock so that xdist workers share one
install). Node.js and npm are required: in CI a missing Node.js is a failure, never a skip
(`.ci/run` installs it where it can).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

CLIENTS = Path(__file__).resolve().parent / "clients"
SCRIPT_SECONDS = 60.0


def _require_node() -> None:
    if shutil.which("node") and shutil.which("npm"):
        return
    reason = "Node.js and npm are needed for the client tests (apt-get install -y nodejs npm)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set: these tests must run")
    pytest.skip(reason)


def ensure_installed() -> None:
    """`npm ci` in tests/clients once: again only when the lock file changed since."""
    _require_node()
    lock = CLIENTS / "package-lock.json"
    marker = CLIENTS / "node_modules" / ".installed-lock.json"
    with FileLock(str(CLIENTS / ".npm-install.lock")):
        if marker.exists() and marker.read_bytes() == lock.read_bytes():
            return
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=CLIENTS,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci in {CLIENTS} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        marker.write_bytes(lock.read_bytes())


async def run_script(script: str, *, env: dict[str, str], seconds: float = SCRIPT_SECONDS) -> dict[str, Any]:
    """Run `tests/clients/<script>` with `env` added to the environment; its last JSON line.

    A script reports by printing one JSON object as its last line of stdout and exits 0; a
    non-zero exit, a timeout or no JSON fails the calling test with the script's output.
    """
    # In a thread: `npm ci`, or waiting on another worker's, must not stall the event loop (a
    # stalled loop fires every running timeout of the test at once when it resumes).
    await asyncio.to_thread(ensure_installed)
    process = await asyncio.create_subprocess_exec(
        "node",
        str(CLIENTS / script),
        cwd=CLIENTS,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), seconds)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        pytest.fail(f"{script} did not finish in {seconds:.0f} s:\n{out.decode()}\n{err.decode()}")
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    if process.returncode != 0:
        pytest.fail(f"{script} exited {process.returncode}:\n{stdout}\n{stderr}")
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        pytest.fail(f"{script} printed nothing:\n{stderr}")
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError:
        pytest.fail(f"{script}'s last line is not JSON:\n{stdout}\n{stderr}")
    if not isinstance(result, dict):
        pytest.fail(f"{script} printed {result!r}, not a JSON object")
    return result
