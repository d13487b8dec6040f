"""The side-by-side benchmark end to end at smoke scale: every peer starts, answers right, is measured.

Runs `python -m bench.side_by_side --scale smoke` against the suite's Postgres server (in a
database of its own, dropped afterwards): four real servers, wrk, the counting proxy. No timing
is asserted (timing targets belong in bench/); what is asserted is that the harness works:
every answer was checked against the database, every run has throughput and no errors, and
the statement counts are the ones the peers' code implies.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bench.checks import FILTERED_TASKS, RELAY_PROBE, RELAY_PROBE_TASKS
from bench.dataset import TASK_STATUSES
from bench.lineup import OPERATIONS, PEER_NAMES

ROOT = Path(__file__).resolve().parent.parent

# Smoke data per user: 2 pillars x 2 areas x 3 projects x 5 tasks.
SMOKE_PROJECTS_PER_USER = 12
SMOKE_TASKS_PER_PROJECT = 5
SMOKE_TASKS_PER_USER = SMOKE_PROJECTS_PER_USER * SMOKE_TASKS_PER_PROJECT
# The naive peer asks once per parent: pillars 1, areas 2, projects 4, tasks 12, task counts 12,
# progress 2 + 4 + 12. The floor asks once per level.
NAIVE_TREE_STATEMENTS = 1 + 2 + 4 + 12 + 12 + (2 + 4 + 12)
FLOOR_TREE_STATEMENTS = 4
# relay: the page of (all 12) projects 1, its totalCount 1, progress and tasks once per project;
# the floor asks for the page (with count and progress) and for its tasks. filtered: the naive
# server counts apart, the floor in the same statement.
NAIVE_RELAY_STATEMENTS = 1 + 1 + 12 + 12
FLOOR_RELAY_STATEMENTS = 2
NAIVE_FILTERED_STATEMENTS = 2
FLOOR_FILTERED_STATEMENTS = 1


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


@pytest.mark.bench
def test_side_by_side_smoke_runs_every_peer_and_operation(server_url: str, tmp_path: Path) -> None:
    # Given wrk, Node.js and a Postgres server
    _require_tools()
    results = tmp_path / "smoke.json"
    database = f"quintet_bench_smoke_{uuid.uuid4().hex[:10]}"
    # When the harness runs at smoke scale
    command = [sys.executable, "-m", "bench.side_by_side", "--scale", "smoke", "--database-url", server_url]
    command += ["--database", database, "--drop", "--json", str(results), "--markdown"]
    completed = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # Then it succeeds and prints a table per operation
    assert completed.returncode == 0, f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
    for operation in OPERATIONS:
        assert f"\n{operation}: " in completed.stdout
    summary = json.loads(results.read_text())
    assert summary["scale"]["tasks_per_user"] == SMOKE_TASKS_PER_USER
    for operation in OPERATIONS:
        for peer in PEER_NAMES:
            # And every peer's answers were checked against the database before it was measured
            verified = summary["verification"][peer][operation]
            assert verified["checked_requests"] >= 3
            if operation in {"tree", "relay"}:  # relay: all 12 projects fit a page, all 5 tasks a preview
                assert verified["tasks_per_response"] == [SMOKE_TASKS_PER_USER]
            elif operation in {"node", "mutation"}:
                assert verified["tasks_per_response"] == [1]
            elif operation == "filtered":
                assert all(0 <= n <= FILTERED_TASKS for n in verified["tasks_per_response"])
                assert max(verified["tasks_per_response"]) > 0
                # And the status variable rotated over every status
                assert verified["statuses_checked"] == sorted(status for status, _ in TASK_STATUSES)
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
            assert measured["requests_per_second"] > 0
            assert measured["errors"] == 0, measured["runs"]
            assert len(measured["runs"]) == 1
            assert measured["runs"][0]["requests"] > 0
            assert 0 < measured["p50_ms"] <= measured["p99_ms"]
    # And the counts are the ones the peers' code implies: N+1 for the naive server, one per level for the floor
    assert summary["verification"]["naive"]["tree"]["statements"]["queries_per_request"] == NAIVE_TREE_STATEMENTS
    assert summary["verification"]["floor"]["tree"]["statements"]["queries_per_request"] == FLOOR_TREE_STATEMENTS
    expected_statements = {
        ("naive", "relay"): NAIVE_RELAY_STATEMENTS,
        ("floor", "relay"): FLOOR_RELAY_STATEMENTS,
        ("naive", "filtered"): NAIVE_FILTERED_STATEMENTS,
        ("floor", "filtered"): FLOOR_FILTERED_STATEMENTS,
    }
    for (peer, operation), statements in expected_statements.items():
        assert summary["verification"][peer][operation]["statements"]["queries_per_request"] == statements
    # And Quintet's own dev-mode count was taken as a cross-check of the wire count
    assert set(summary["quintet_dev_statements"]) == set(OPERATIONS)
    assert summary["results"]["tree"]["quintet"]["quintet_ratio"] == 1.0
    assert results.with_suffix(".md").read_text().count("| peer |") == len(OPERATIONS)
