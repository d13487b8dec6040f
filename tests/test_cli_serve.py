"""`uv run app.py serve` with no configuration: embedded Postgres, migrations, demo, GraphiQL."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app import jobs_in_process
from core.settings import Mode, Settings
from services.demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.conftest import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """Collect the process's output until a line holds `marker` (or fail after `timeout`)."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not selector.select(timeout=0.5):
            continue
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} not printed within {timeout}s; output was:\n{''.join(seen)}")


def test_serve_without_configuration_serves_the_demo(tmp_path: Path) -> None:
    # Given no configuration at all: no DATABASE_URL, a fresh data directory
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_URL", "MODE"}}
    env["DATA_DIR"] = str(tmp_path / "data")
    # When `app.py serve` starts
    process = subprocess.Popen(
        [sys.executable, "app.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = _read_until(process, "Application startup complete", timeout=120)
        # Then it printed the demo login and the GraphiQL address, and serves both
        assert f"Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}" in output
        assert f"GraphiQL: open http://localhost:{port}/graphql" in output
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/readyz").json() == {"status": "ready", "database": "ok"}
        ide = httpx.get(f"{base}/graphql", headers={"Accept": "text/html"})
        assert ide.status_code == 200
        assert "graphiql" in ide.text.lower()
        login = httpx.post(
            f"{base}/graphql",
            json={
                "query": "mutation($i: LoginInput!) { login(input: $i) { session { accessToken } errors { code } } }",
                "variables": {"i": {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}},
            },
        ).json()["data"]["login"]
        assert login["errors"] == []
        tree = httpx.post(
            f"{base}/graphql",
            json={"query": "{ viewer { pillars { totalCount } tasks(filter: {overdue: true}) { totalCount } } }"},
            headers={"Authorization": f"Bearer {login['session']['accessToken']}"},
        ).json()["data"]["viewer"]
        assert tree["pillars"]["totalCount"] == 3
        assert tree["tasks"]["totalCount"] >= 1
        assert (tmp_path / "data" / "postgres" / "postmaster.pid").exists()
    finally:
        # When it is stopped with Ctrl+C
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    # Then the embedded Postgres it started stops with it
    assert process.returncode == 0
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()


async def test_migrate_command_upgrades_and_downgrades(server_url: str) -> None:
    # Given a fresh, empty database
    url = await create_database(server_url)
    env = {**os.environ, "DATABASE_URL": url}

    def migrate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "app.py", "migrate", *args], cwd=ROOT, env=env, capture_output=True, text=True
        )

    try:
        # When the CLI upgrades, downgrades to base and upgrades again
        first, down, again = migrate(), migrate("--downgrade", "base"), migrate()
    finally:
        await drop_database(server_url, url)
    # Then each step succeeds and says what it did
    assert first.returncode == 0, first.stderr
    assert "upgraded to head" in first.stdout
    assert down.returncode == 0, down.stderr
    assert "downgraded to base" in down.stdout
    assert again.returncode == 0, again.stderr


def test_production_without_required_settings_says_what_to_set(tmp_path: Path) -> None:
    # Given production mode with nothing else configured
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_URL", "JWT_PRIVATE_KEY"}}
    env = {**base, "MODE": "production", "DATA_DIR": str(tmp_path)}

    def serve(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "app.py", "serve"], cwd=ROOT, env={**env, **extra}, capture_output=True, text=True
        )

    # When it is started without a signing key, then it names the missing key (no traceback)
    no_key = serve({})
    assert no_key.returncode == 2
    assert "error: JWT_PRIVATE_KEY is required in production mode" in no_key.stderr
    assert "Traceback" not in no_key.stderr
    # When the key is there but no database, then it names DATABASE_URL
    key = subprocess.run([sys.executable, "app.py", "generate-key"], cwd=ROOT, capture_output=True, text=True).stdout
    no_database = serve({"JWT_PRIVATE_KEY": key})
    assert no_database.returncode == 2
    assert "error: DATABASE_URL is required in production mode" in no_database.stderr
    assert "Traceback" not in no_database.stderr


#: Optional settings that a .env or compose file may give as `NAME=` to mean "unset".
EMPTY_SETTINGS = (
    "MODE",
    "DATABASE_URL",
    "DB_POOL_SIZE",
    "REDIS_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "JWT_PRIVATE_KEY",
    "JWT_EXTRA_PUBLIC_KEYS",
    "JOBS_IN_PROCESS",
    "INTROSPECTION",
    "GRAPHIQL",
    "CORS_ORIGINS",
)


@pytest.mark.parametrize("source", ["environment", ".env"])
def test_settings_given_as_empty_strings_are_unset(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given every optional setting as an empty string, in the environment or in a .env file
    for name in EMPTY_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}=\n" for name in EMPTY_SETTINGS))
    if source == "environment":
        for name in EMPTY_SETTINGS:
            monkeypatch.setenv(name, "")
    # When the settings are read
    settings = Settings(_env_file=env_file if source == ".env" else None)
    # Then each is at its default, as if unset: dev mode on the embedded database, with its worker
    assert settings.mode is Mode.DEV
    assert settings.database_url is None
    assert settings.db_pool_size == 10
    assert settings.redis_url is None
    assert settings.openai_api_key is None
    assert settings.openai_base_url is None
    assert settings.jwt_private_key is None
    assert settings.jwt_extra_public_keys is None
    assert settings.jobs_in_process is None
    assert settings.introspection is None
    assert settings.graphiql is None
    assert settings.cors_origins == []
    assert jobs_in_process(settings)
