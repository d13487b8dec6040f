"""The side-by-side benchmark end to end at smoke scale: every peer starts, answers right, is measured.

Runs `python -m bench.side_by_side --scale smoke` against the suite's Postgres server (in a
database of its own, dropped afterwards): five real servers (Quintet, PostGraphile v5 and v4,
the naive server, the floor), wrk, the counting proxy, every operation (the write mix and
login included) for one short run each. No timing is asserted (timing targets belong in
bench/); what is asserted is that the harness works: every answer was checked against the
database, every run has throughput and no errors, the write mix left the rows it sent, and the
statement counts are the ones the peers' code implies.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import uuid
from fractions import Fraction
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bench.checks import FILTERED_TASKS, NODES_TASKS, RELAY_PROBE, RELAY_PROBE_TASKS, percent
from bench.dataset import PRIORITIES, ROUNDING_PAIRS, TASK_STATUSES
from bench.lineup import OPERATIONS, PEER_NAMES
from bench.peers.rounding import percent as peer_percent
from services.aurum.progress import Progress

ROOT = Path(__file__).resolve().parent.parent

# Smoke data per user: 2 pillars x 2 areas x 3 projects x 5 tasks.
SMOKE_PROJECTS_PER_USER = 12
SMOKE_TASKS_PER_PROJECT = 5
SMOKE_TASKS_PER_USER = SMOKE_PROJECTS_PER_USER * SMOKE_TASKS_PER_PROJECT
# The naive peer asks once per parent: pillars 1, areas 2, projects 4, tasks 12, task counts 12,
# progress 2 + 4 + 12. The floor asks once per level.
NAIVE_TREE_STATEMENTS = 1 + 2 + 4 + 12 + 12 + (2 + 4 + 12)
FLOOR_TREE_STATEMENTS = 4
# relay, counted over 5 requests alternating a first page and the next one (3 first pages, 2
# next pages): a first page holds all 12 projects: the page 1, its totalCount 1, progress and
# tasks once per project; the next page (empty) the page and the count. The floor asks for the
# page (with count and progress) and for its tasks, on either page.
NAIVE_RELAY_STATEMENTS = (3 * (1 + 1 + 12 + 12) + 2 * (1 + 1)) / 5
FLOOR_RELAY_STATEMENTS = 2
# filtered: the naive server counts apart, the floor in the same statement.
NAIVE_FILTERED_STATEMENTS = 2
FLOOR_FILTERED_STATEMENTS = 1
# nodes50: the naive server once per id, the floor once.
NAIVE_NODES_STATEMENTS = NODES_TASKS
FLOOR_NODES_STATEMENTS = 1
# writes, per request: the naive create looks up the project, the last position and inserts, its
# update is one statement; the floor inserts (position included) and updates in one each.
NAIVE_WRITE_STATEMENTS = (3 + 1) / 2
FLOOR_WRITE_STATEMENTS = 1
POSTGRAPHILE_PEERS = ("postgraphile5", "postgraphile")
#: The peers that expose the Akashic tables the campaign dashboard reads.
CAMPAIGN_PEERS = ("quintet", "postgraphile5")


def _require_tools() -> None:
    missing = [
        hint
        for tool, hint in (
            ("wrk", "wrk (`apt-get install -y wrk`)"),
            ("node", "Node.js (`apt-get install -y nodejs npm`)"),
            ("npm", "npm (`apt-get install -y nodejs npm`)"),
        )
        if shutil.which(tool) is None
    ]
    if missing:
        pytest.fail("the benchmark smoke test needs " + ", ".join(missing) + "; .ci/run installs them")


async def _has_pgcrypto(server_url: str) -> bool:
    conn = await asyncpg.connect(make_url(server_url).set(drivername="postgresql").render_as_string(False))
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto'"))
    finally:
        await conn.close()


def test_the_percent_rounds_half_to_even_as_quintet_does() -> None:
    # Given every pair of counts the harness's rounding check uses, and all up to 200 tasks
    pairs = ROUNDING_PAIRS + [(total, done) for total in range(1, 201) for done in range(total + 1)]
    for total, done in pairs:
        # Then the checks' percent (Fractions), the Python peers' (integers) and Quintet's agree
        quintet = Progress(total_tasks=total, completed_tasks=done).percent
        assert percent(done, total) == quintet == peer_percent(done, total), (done, total)
    # And a half rounds to the even tenth (numeric round() would give 31.3 and 1.3)
    assert percent(5, 16) == 31.2
    assert percent(1, 80) == 1.2
    assert percent(3, 80) == 3.8
    assert float(round(Fraction(100 * 5, 16), 1)) == 31.2


@pytest.mark.bench
def test_side_by_side_smoke_runs_every_peer_and_operation(server_url: str, tmp_path: Path) -> None:
    # Given wrk, Node.js and a Postgres server (with pgcrypto or without it)
    _require_tools()
    has_pgcrypto = asyncio.run(_has_pgcrypto(server_url))
    results = tmp_path / "smoke.json"
    database = f"quintet_bench_smoke_{uuid.uuid4().hex[:10]}"
    # When the harness runs at smoke scale, every peer and operation, one second each
    command = [sys.executable, "-m", "bench.side_by_side", "--scale", "smoke", "--database-url", server_url]
    command += ["--database", database, "--drop", "--json", str(results), "--markdown", "--duration", "1"]
    completed = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    # Then it succeeds and prints a table per operation, and the summary against PostGraphile v5
    assert completed.returncode == 0, f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
    for operation in OPERATIONS:
        assert f"\n{operation}: " in completed.stdout
    assert "Quintet against PostGraphile v5 (the reference" in completed.stdout
    summary = json.loads(results.read_text())
    assert summary["scale"]["tasks_per_user"] == SMOKE_TASKS_PER_USER
    # And the header has what decides a write's cost, and which PostGraphile each peer is
    assert set(summary["database"]["settings"]) >= {"fsync", "synchronous_commit", "shared_buffers"}
    assert summary["peers"]["postgraphile5"]["versions"]["postgraphile"].startswith("5.")
    assert summary["peers"]["postgraphile"]["versions"]["postgraphile"].startswith("4.")
    assert all(summary["peers"][peer]["workers"] == 2 for peer in PEER_NAMES)
    assert summary["password_costs"]["argon2_verify_cpu_ms"] > 0
    for operation in OPERATIONS:
        for peer in PEER_NAMES:
            if operation == "login" and peer in POSTGRAPHILE_PEERS and not has_pgcrypto:
                # And without pgcrypto PostGraphile has no bcrypt: its login is skipped, and said so
                assert "pgcrypto" in summary["skipped"]["login"][peer]
                assert peer not in summary["results"]["login"]
                assert f"{peer} skipped: " in completed.stdout
                continue
            if operation == "campaign_dashboard" and peer not in CAMPAIGN_PEERS:
                # And the campaign dashboard is Quintet's and PostGraphile v5's only, and said so
                assert "Akashic" in summary["skipped"][operation][peer]
                assert peer not in summary["results"][operation]
                continue
            # And every peer's answers were checked against the database before it was measured
            verified = summary["verification"][peer][operation]
            assert verified["checked_requests"] >= 3
            if operation == "tree":
                assert verified["tasks_per_response"] == [SMOKE_TASKS_PER_USER]
            elif operation == "relay":  # all 12 projects fit a first page: its next page is empty
                assert verified["tasks_per_response"] == [0, SMOKE_TASKS_PER_USER]
                assert verified["next_pages_checked"] >= 2
            elif operation in {"node", "mutation", "writes"}:
                assert verified["tasks_per_response"] == [1]
            elif operation == "nodes50":
                assert verified["tasks_per_response"] == [NODES_TASKS]
            elif operation == "login":
                assert verified["tasks_per_response"] == [0]
                # And a wrong password was refused
                assert verified["wrong_password_refused"] is True
            elif operation == "campaign_dashboard":  # checked against the campaign's rows: no tasks
                assert verified["tasks_per_response"] == [0]
            elif operation == "filtered":
                assert all(0 <= n <= FILTERED_TASKS for n in verified["tasks_per_response"])
                assert max(verified["tasks_per_response"]) > 0
                # And the status and priority variables rotated over every status, and priorities
                assert verified["statuses_checked"] == sorted(status for status, _ in TASK_STATUSES)
                assert len(verified["priorities_checked"]) > 1
                assert set(verified["priorities_checked"]) <= {priority for priority, _ in PRIORITIES}
            else:
                assert all(0 < n <= 20 * 10 for n in verified["tasks_per_response"])
            if operation == "relay":
                # And the peer's own endCursors after a short first page led to the right next pages:
                # of projects (all the rest), and of the first project's tasks (the rest of its 5)
                assert verified["next_page"] == {
                    "projects": {
                        "after_first": RELAY_PROBE,
                        "first": 20,
                        "tasks": (SMOKE_PROJECTS_PER_USER - RELAY_PROBE) * SMOKE_TASKS_PER_PROJECT,
                    },
                    "project_tasks": {
                        "after_first": RELAY_PROBE_TASKS,
                        "first": 10,
                        "tasks": SMOKE_TASKS_PER_PROJECT - RELAY_PROBE_TASKS,
                    },
                }
            # And its statements were counted on the wire
            assert verified["statements"]["queries_per_request"] >= 1
            assert verified["statement_texts"]
            # And it was loaded by wrk without a single error
            measured = summary["results"][operation][peer]
            assert measured["requests_per_second"] > 0, (operation, peer, measured)
            assert measured["errors"] == 0, measured["runs"]
            assert len(measured["runs"]) == 1
            assert measured["runs"][0]["requests"] > 0
            assert 0 < measured["p50_ms"] <= measured["p99_ms"]
            if operation == "writes":
                # And the write mix created and updated tasks, and left them as it sent them
                written = measured["runs"][0]["written"]
                assert written["rows"] >= written["created"] > 0
                assert written["updated_rows"] >= written["updated"] > 0
    # And the counts are the ones the peers' code implies: N+1 for the naive server, one per level for the floor
    expected_statements = {
        ("naive", "tree"): NAIVE_TREE_STATEMENTS,
        ("floor", "tree"): FLOOR_TREE_STATEMENTS,
        ("naive", "relay"): NAIVE_RELAY_STATEMENTS,
        ("floor", "relay"): FLOOR_RELAY_STATEMENTS,
        ("naive", "filtered"): NAIVE_FILTERED_STATEMENTS,
        ("floor", "filtered"): FLOOR_FILTERED_STATEMENTS,
        ("naive", "nodes50"): NAIVE_NODES_STATEMENTS,
        ("floor", "nodes50"): FLOOR_NODES_STATEMENTS,
        ("naive", "writes"): NAIVE_WRITE_STATEMENTS,
        ("floor", "writes"): FLOOR_WRITE_STATEMENTS,
        ("quintet", "campaign_dashboard"): 1,
    }
    for (peer, operation), statements in expected_statements.items():
        assert summary["verification"][peer][operation]["statements"]["queries_per_request"] == round(statements, 2)
    # And Quintet's own dev-mode count was taken as a cross-check of the wire count
    assert set(summary["quintet_dev_statements"]) == set(OPERATIONS)
    assert summary["results"]["tree"]["quintet"]["quintet_ratio"] == 1.0
    assert summary["results"]["tree"]["postgraphile5"]["quintet_ratio"] > 0
    assert results.with_suffix(".md").read_text().count("| peer |") == len(OPERATIONS)


@pytest.mark.bench
def test_request_cost_measures_in_process_and_over_http(server_url: str) -> None:
    # Given wrk and a smoke-scale bench database of its own
    _require_tools()
    database = f"quintet_bench_cost_{uuid.uuid4().hex[:10]}"
    base = [sys.executable, "-m", "bench.request_cost", "--scale", "smoke", "--database-url", server_url]
    base += ["--database", database]
    try:
        # When the cost of three operations is measured in process, then of one over HTTP
        in_process = subprocess.run(
            [*base, "--operations", "node,nodes50,login", "--requests", "3", "--repeats", "2"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        over_http = subprocess.run(
            [*base, "--operations", "node", "--over-http", "--seconds", "1", "--connections", "2"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        from bench.dataset import drop_database, resolve_server

        asyncio.run(drop_database(resolve_server(server_url)[0], database))
    # Then each run succeeds with a positive CPU time per request for every operation (answers checked)
    assert in_process.returncode == 0, in_process.stdout + in_process.stderr
    assert over_http.returncode == 0, over_http.stdout + over_http.stderr
    rows = {line.split()[0]: line.split() for line in in_process.stdout.splitlines() if line[:1].islower()}
    for operation in ("node", "nodes50", "login"):
        assert rows[operation][1] == "3", in_process.stdout
        assert float(rows[operation][2]) > 0, in_process.stdout
    [node] = [line.split() for line in over_http.stdout.splitlines() if line.startswith("node ")]
    assert int(node[1]) > 0, over_http.stdout
    assert float(node[3]) > 0, over_http.stdout
