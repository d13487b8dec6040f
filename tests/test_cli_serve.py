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
from sqlalchemy.engine import make_url

from app import jobs_in_process
from core.settings import ConfigurationError, Mode, Settings, get_settings
from services.demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.conftest import create_database, drop_database
from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent


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


def _start_serve(port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    """`app.py serve` on `port`, its output (stderr included) readable from `stdout`."""
    return subprocess.Popen(
        [sys.executable, "app.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_serve_without_configuration_serves_the_demo(tmp_path: Path) -> None:
    # Given no configuration at all: no DATABASE_URL, a fresh data directory
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_URL", "MODE"}}
    env["DATA_DIR"] = str(tmp_path / "data")
    # (and periodic tasks that can't come due during the test: the defaults, the insight sweep at
    # minute 17 of every hour, Akashic's re-embedding every ten minutes and its scheduled sends
    # every minute, queued a job that the check of an empty queue below then saw whenever the test
    # ran across such a minute)
    env["INSIGHTS_SCHEDULE"] = "0 0 1 1 *"
    env["KNOWLEDGE_REEMBED_SCHEDULE"] = "0 0 1 1 *"
    env["AKASHIC_SEND_SCHEDULE"] = "0 0 1 1 *"
    # When `app.py serve` starts
    process = _start_serve(port, env)
    try:
        output = _read_until(process, "Application startup complete", timeout=120)
        # Then it printed the demo login and the GraphiQL address, and serves both
        assert f"Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}" in output
        assert f"GraphiQL: open http://localhost:{port}/graphql" in output
        # and nothing else but uvicorn's lines and the migrations it ran: no alembic plugin lines,
        # no alembic context lines, no platformdirs warning, no procrastinate registrations (dev
        # mode's log lines are structlog's console lines, the logger's name last)
        ours = ("Demo login: ", "Quintet (dev mode) on ", "GraphiQL: open ")
        lines = [line for line in output.splitlines() if line.strip()]
        migrations = [line for line in lines if "Running upgrade" in line and "[alembic.runtime.migration]" in line]
        assert len(migrations) >= 3, output  # a fresh database: every migration, each said once
        uvicorn = [line for line in lines if line.rstrip().endswith("[uvicorn.error]")]
        assert uvicorn, output
        others = [line for line in lines if not line.startswith(ours) and line not in migrations + uvicorn]
        assert others == [], output
        assert not any("plugin" in line for line in lines), output
        base = f"http://127.0.0.1:{port}"
        ready = httpx.get(f"{base}/readyz").json()
        assert (ready["status"], ready["database"], ready["jobs"]["queued"]) == ("ready", "ok", 0)
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
    unset = {"DATABASE_URL", "TEST_DATABASE_URL", "JWT_PRIVATE_KEY", "API_KEY_SECRET"}
    base = {k: v for k, v in os.environ.items() if k not in unset}
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
    # When the key is there but not the API keys' secret, then it names API_KEY_SECRET
    key = subprocess.run([sys.executable, "app.py", "generate-key"], cwd=ROOT, capture_output=True, text=True).stdout
    no_secret = serve({"JWT_PRIVATE_KEY": key})
    assert no_secret.returncode == 2
    assert "error: API_KEY_SECRET is required in production mode" in no_secret.stderr
    assert "Traceback" not in no_secret.stderr
    # When both are there but no database, then it names DATABASE_URL
    no_database = serve({"JWT_PRIVATE_KEY": key, "API_KEY_SECRET": "s" * 40})
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
    "API_KEY_SECRET",
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
    assert settings.api_key_secret is None
    assert settings.jobs_in_process is None
    assert settings.introspection is None
    assert settings.graphiql is None
    assert settings.cors_origins == []
    assert jobs_in_process(settings)


def _env_without_database(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_URL", "MODE"}}
    env["DATA_DIR"] = str(data_dir)
    return env


def _postmaster_pid(data_dir: Path) -> int | None:
    """The pid of the embedded Postgres running on `data_dir`, or None when none runs."""
    pid_file = data_dir / "postgres" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def _stop(process: subprocess.Popen[str], sig: signal.Signals) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"the process did not exit within 60s of {sig.name}") from None


def test_sigterm_stops_serve_and_the_embedded_postgres_with_its_last_user(tmp_path: Path) -> None:
    # Given `serve` on the embedded Postgres, and a worker that uses the same server
    data_dir = tmp_path / "data"
    env = _env_without_database(data_dir)
    port = free_port()
    server = _start_serve(port, env)
    worker: subprocess.Popen[str] | None = None
    try:
        _read_until(server, "Application startup complete", timeout=120)
        postgres = _postmaster_pid(data_dir)
        assert postgres is not None
        worker = subprocess.Popen(
            [sys.executable, "app.py", "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _read_until(worker, "Starting worker", timeout=120)
        # When the worker is stopped with SIGTERM, then it exits and the server keeps Postgres
        assert _stop(worker, signal.SIGTERM) == 0
        assert _postmaster_pid(data_dir) == postgres
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["database"] == "ok"
        # When `serve`, its last user, is stopped with SIGTERM (kill, systemd, Docker, Kubernetes)
        assert _stop(server, signal.SIGTERM) == 0
    finally:
        for process in (worker, server):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    # Then the embedded Postgres has stopped with it
    assert _postmaster_pid(data_dir) is None
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


def test_serve_on_a_taken_port_exits_at_once_with_one_line(tmp_path: Path) -> None:
    # Given a port another process listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # When `serve` is started on it in dev mode
        result = subprocess.run(
            [sys.executable, "app.py", "serve", "--port", str(port)],
            cwd=ROOT,
            env=_env_without_database(tmp_path / "data"),
            capture_output=True,
            text=True,
            timeout=120,
        )
    # Then it exits with one line naming the address, before it started anything
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: cannot listen on 127.0.0.1:{port}: address already in use"]
    assert _postmaster_pid(tmp_path / "data") is None


EXPECTED_URL = "(expected postgresql://user:password@host:5432/database)"


def test_bad_settings_and_unreachable_databases_are_one_line_each(server_url: str, tmp_path: Path) -> None:
    # Given settings out of range or malformed, and databases that can't be reached for each reason
    secret = "s3cret-pw"
    refused = f"postgresql://quintet:{secret}@127.0.0.1:{free_port()}/quintet"
    server = make_url(server_url).set(drivername="postgresql")
    unknown_role = server.set(username="quintet_no_such_role", password=secret).render_as_string(hide_password=False)
    unknown_database = server.set(database="quintet_no_such_database").render_as_string(hide_password=False)
    cases: list[tuple[list[str], dict[str, str], str]] = [
        (["migrate"], {"DB_POOL_SIZE": "0"}, "error: DB_POOL_SIZE: Input should be greater than or equal to 1 (got 0)"),
        (["serve", "--port", str(free_port())], {"DATABASE_URL": refused}, "connection refused"),
        (["worker"], {"DATABASE_URL": unknown_role}, 'role "quintet_no_such_role" does not exist'),
        (["demo"], {"DATABASE_URL": unknown_database}, 'database "quintet_no_such_database" does not exist'),
        (["serve"], {"PORT": "99999"}, "error: PORT: Input should be less than or equal to 65535 (got 99999)"),
        (["serve", "--port", "99999"], {}, "error: cannot listen on 127.0.0.1:99999: port must be 0-65535"),
    ]
    base = _env_without_database(tmp_path / "data")
    # When each command is started with them (all at once: each takes a few seconds to import)
    processes = [
        subprocess.Popen(
            [sys.executable, "app.py", *command],
            cwd=ROOT,
            env={**base, **extra},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command, extra, _ in cases
    ]
    try:
        outcomes = [process.communicate(timeout=120) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    # Then each exits with code 2 and one line on stderr that says why, the password masked
    for (command, extra, expected), process, (_, stderr) in zip(cases, processes, outcomes, strict=True):
        lines = stderr.splitlines()
        assert process.returncode == 2, (command, extra, stderr)
        assert len(lines) == 1, (command, extra, stderr)
        assert lines[0].startswith("error: "), lines
        assert expected in lines[0], lines
        assert secret not in stderr
        if "DATABASE_URL" in extra and not lines[0].startswith("error: DATABASE_URL"):
            shown = make_url(extra["DATABASE_URL"]).render_as_string(hide_password=True)
            assert lines[0].startswith(f"error: cannot reach the database at {shown}: "), lines


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MODE", "prod", "MODE: Input should be 'dev' or 'production' (got prod)"),
        ("JOB_POLL_SECONDS", "0", "JOB_POLL_SECONDS: Input should be greater than 0 (got 0)"),
        ("DATABASE_URL", "mysql://app:s3cret-pw@db/app", f"DATABASE_URL: not a Postgres URL {EXPECTED_URL}"),
        ("DATABASE_URL", "postgresql://app:s3cret-pw@db:port/app", f"DATABASE_URL: not a URL {EXPECTED_URL}"),
    ],
)
def test_an_invalid_setting_is_named_in_one_line(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given one setting out of range or malformed (the password of a URL is never shown)
    monkeypatch.setenv(variable, value)
    # When the settings are read, then the error names the variable and the problem
    with pytest.raises(ConfigurationError) as refused:
        get_settings.__wrapped__()
    assert str(refused.value) == message
