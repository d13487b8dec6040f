"""The side-by-side results as a text table (terminal) or a Markdown table (BENCHMARKS.md)."""

from __future__ import annotations

from typing import Any

OPERATION_TITLES = {
    "tree": "tree: the whole tree of one user",
    "dashboard": "dashboard: 20 active projects, their 10 next open tasks, progress",
    "node": "node: one task by id",
    "mutation": "mutation: rename one task",
    "relay": "relay: 20 newest projects by edges/pageInfo/totalCount, their first 10 tasks by edges/pageInfo",
    "filtered": "filtered: 50 tasks with one status ($status, rotating), totalCount",
}
COLUMNS = ("peer", "req/s", "p50 ms", "p95 ms", "p99 ms", "SQL/req", "errors", "Quintet/peer")


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _statements(verification: dict[str, Any] | None) -> str:
    if not verification:
        return "-"
    counted = verification["statements"]
    queries, control = counted["queries_per_request"], counted["control_per_request"]
    text = f"{queries:g}"
    return f"{text} (+{control:g} ctl)" if control else text


def rows(summary: dict[str, Any], operation: str) -> list[list[str]]:
    table = []
    for peer, result in summary["results"][operation].items():
        verification = summary["verification"].get(peer, {}).get(operation)
        ratio = result.get("quintet_ratio")
        errors = result["errors"]
        table.append(
            [
                peer,
                _number(result["requests_per_second"]),
                _number(result["p50_ms"]),
                _number(result["p95_ms"]),
                _number(result["p99_ms"]),
                _statements(verification),
                f"{errors} FLAGGED" if errors else "0",
                "-" if ratio is None else f"{ratio:.2f}x",
            ]
        )
    return table


def _task_note(summary: dict[str, Any], operation: str) -> str:
    counts = {
        peer: ops[operation]["tasks_per_response"]
        for peer, ops in summary["verification"].items()
        if operation in ops and ops[operation].get("tasks_per_response")
    }
    if not counts:
        return ""
    values = sorted({v for per_peer in counts.values() for v in per_peer})
    shown = f"{values[0]}" if len(values) == 1 else f"{values[0]}-{values[-1]}"
    noun = "task" if values == [1] else "tasks"
    return f" ({shown} {noun} per response, checked against the database)"


def header_lines(summary: dict[str, Any]) -> list[str]:
    scale, settings, db, machine = summary["scale"], summary["settings"], summary["database"], summary["machine"]
    return [
        f"Scale {scale['name']}: {scale['users']:,} users x {scale['tasks_per_user']:,} tasks "
        f"({scale['pillars']} pillars x {scale['areas_per_pillar']} areas x {scale['projects_per_area']} projects "
        f"x {scale['tasks_per_project']} tasks)",
        f"Postgres {db['version']} ({db['server']}), database {db['name']}",
        f"{settings['workers']} worker(s) per peer, wrk {settings['threads']} threads x {settings['connections']} "
        f"connections, {settings['warmup_s']} s warm-up + {settings['duration_s']} s measured, "
        f"{settings['repeats']} repeat(s) in alternating order; figures are medians over repeats",
        f"Machine: {machine['cpus']} CPUs, {machine['platform']}; load average at start {machine['loadavg_start']}; "
        f"{summary['started_at']}",
    ]


def render_text(summary: dict[str, Any]) -> str:
    lines = [*header_lines(summary), ""]
    for operation in summary["results"]:
        lines.append(OPERATION_TITLES[operation] + _task_note(summary, operation))
        table = [list(COLUMNS), *rows(summary, operation)]
        widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
        for row in table:
            cells = [row[0].ljust(widths[0])] + [cell.rjust(widths[i]) for i, cell in enumerate(row) if i]
            lines.append("  " + "  ".join(cells))
        lines.append("")
    lines.extend(_footnotes(summary))
    return "\n".join(lines)


def render_markdown(summary: dict[str, Any]) -> str:
    lines = [f"- {line}" for line in header_lines(summary)]
    lines.append("")
    for operation in summary["results"]:
        lines.append(f"**{OPERATION_TITLES[operation]}**{_task_note(summary, operation)}")
        lines.append("")
        lines.append("| " + " | ".join(COLUMNS) + " |")
        lines.append("|" + "---|" * len(COLUMNS))
        lines.extend("| " + " | ".join(row) + " |" for row in rows(summary, operation))
        lines.append("")
    lines.extend(_footnotes(summary))
    return "\n".join(lines)


def _footnotes(summary: dict[str, Any]) -> list[str]:
    notes = [
        "SQL/req: statements each request sent to Postgres, counted on the wire by bench.pgcount: data "
        "statements, then '+n ctl' round trips that touch no data (BEGIN/COMMIT/ROLLBACK/SAVEPOINT, "
        "asyncpg's pool reset).",
    ]
    crosscheck = summary.get("quintet_dev_statements")
    if crosscheck:
        shown = ", ".join(f"{op} {n}" for op, n in crosscheck.items())
        notes.append(f"Quintet in dev mode reports extensions.sql.statements: {shown}.")
    flagged = [
        f"{op}/{peer}" for op, peers in summary["results"].items() for peer, result in peers.items() if result["errors"]
    ]
    if flagged:
        notes.append("FLAGGED runs had non-200 responses, GraphQL errors or socket errors: " + ", ".join(flagged))
    return notes
