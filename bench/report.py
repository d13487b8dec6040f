"""The side-by-side results as a text table (terminal) or a Markdown table (BENCHMARKS.md)."""

from __future__ import annotations

from typing import Any

OPERATION_TITLES = {
    "tree": "tree: the whole tree of one user",
    "dashboard": "dashboard: 20 active projects, their 10 next open tasks, progress",
    "node": "node: one task by id",
    "mutation": "mutation: rename one task",
    "relay": (
        "relay: 20 newest projects by edges/pageInfo/totalCount with their first 10 tasks, then the next page by after"
    ),
    "filtered": "filtered: 50 tasks with one status and one priority ($status, $priority, rotating), totalCount",
    "nodes50": "nodes50: 50 tasks by id",
    "login": "login: sign in with email and password",
    "writes": "writes: createTask, then an update of the task it created (req/s counts both)",
    "campaign_dashboard": (
        "campaign_dashboard: a campaign's 20 newest messages with their latest version and its analysis summary, "
        "donation totals per cycle (200 messages, 5,000 donations per campaign)"
    ),
}
#: What differs between the peers' requests, under the operation's table.
OPERATION_NOTES = {
    "campaign_dashboard": "Asked by the campaign's manager and finance director (they read donations). Quintet: "
    "`node(id:)` on the Campaign, every row through its read policy (the totals behind `donations.read`), one "
    "statement. PostGraphile v5: `campaignByRowId` with row-level security on (Quintet's app role and the user's "
    "actor settings, from `X-Bench-User`: no JWT), smart tags for `latestVersion` and `analysis`, the totals a "
    "computed column; RLS filters by membership only, so it would show the totals to a volunteer too.",
    "nodes50": "Quintet: `nodes(ids:)` with 50 global ids. PostGraphile has no `nodes`: its client asks for the "
    "user's tasks with `filter: {id: {in: $ids}}` (the connection-filter plugin). Naive: once per id. "
    "Floor: `= ANY($1)`.",
    "login": "Quintet verifies an argon2 hash, signs an ES256 access token and stores a refresh token, with its "
    "sign-in limits on (each request from its own address by X-Forwarded-For, as behind a load balancer). "
    "PostGraphile: `authenticate(email, password)`, a bcrypt hash checked by pgcrypto's crypt(), no token, no "
    "limit. Naive and floor: argon2 as Quintet, no token (naive on its event loop, floor in a thread).",
    "writes": "Quintet's client sends projectId, title, priority and dueAt; Quintet checks the token and computes "
    "the position. PostGraphile's client sends the new id, userId and the position (`createTask`, then "
    "`updateTaskById`/`updateTaskByRowId`). Naive and floor compute the position like Quintet. Durable commits "
    "(see fsync and synchronous_commit above); the created rows were checked against what was sent, then deleted.",
    "relay": "Half of the requests are first pages, half the next page of the same user by the peer's own "
    "endCursor (`after`).",
}
COLUMNS = ("peer", "req/s", "p50 ms", "p95 ms", "p99 ms", "SQL/req", "errors", "Quintet/peer")
#: The reference of the summary, and the other PostGraphile.
REFERENCE, OTHER = "postgraphile5", "postgraphile"


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
    if operation == "login":
        return " (each answer checked: the account signed in, a wrong password refused)"
    if operation == "campaign_dashboard":
        return " (each answer checked against the database: messages, versions, analyses, totals)"
    if not counts:
        return ""
    values = sorted({v for per_peer in counts.values() for v in per_peer})
    shown = f"{values[0]}" if len(values) == 1 else f"{values[0]}-{values[-1]}"
    noun = "task" if values == [1] else "tasks"
    return f" ({shown} {noun} per response, checked against the database)"


def password_line(costs: dict[str, Any]) -> str:
    argon2 = f"argon2 (Quintet) {costs['argon2_verify_cpu_ms']:g} ms CPU ({costs['argon2_verify_wall_ms']:g} ms wall)"
    if "bcrypt_verify_wall_ms" not in costs:
        return f"{argon2}; no bcrypt (no pgcrypto on this server)"
    cpu = costs.get("bcrypt_verify_cpu_ms")
    bcrypt_cpu = f"{cpu:g} ms CPU, " if cpu is not None else ""
    return (
        f"{argon2}; bcrypt cost {costs['bcrypt_cost']} (PostGraphile, pgcrypto) "
        f"{bcrypt_cpu}{costs['bcrypt_verify_wall_ms']:g} ms wall"
    )


def _peer_line(name: str, peer: dict[str, Any]) -> str:
    versions = ", ".join(f"{package} {version}" for package, version in peer.get("versions", {}).items())
    processes = peer.get("processes", f"{peer['workers']} worker(s)")
    return f"{name}: {peer['title']}; {processes}" + (f"; {versions}" if versions else "")


NOT_DURABLE = (
    "commits on this server are not durable (fsync or synchronous_commit off): writes cost less than they would"
)


def durable(settings: dict[str, str]) -> bool:
    """Whether a commit waits for its WAL to be flushed to disk (the server's defaults)."""
    return settings.get("fsync") == "on" and settings.get("synchronous_commit") not in {"off", "local"}


def header_lines(summary: dict[str, Any]) -> list[str]:
    scale, settings, db, machine = summary["scale"], summary["settings"], summary["database"], summary["machine"]
    pg_settings = ", ".join(f"{name}={value}" for name, value in db.get("settings", {}).items())
    lines = [
        f"Scale {scale['name']}: {scale['users']:,} users x {scale['tasks_per_user']:,} tasks "
        f"({scale['pillars']} pillars x {scale['areas_per_pillar']} areas x {scale['projects_per_area']} projects "
        f"x {scale['tasks_per_project']} tasks)",
        f"Postgres {db['version']} ({db['server']}), database {db['name']}; {pg_settings} (as the server has them)",
        f"{settings['workers']} worker(s) per peer, wrk {settings['threads']} threads x {settings['connections']} "
        f"connections, {settings['warmup_s']} s warm-up + {settings['duration_s']} s measured, "
        f"{settings['repeats']} repeat(s) in alternating order; req/s: mean over repeats, latencies: medians",
        f"Machine: {machine['cpus']} CPUs, {machine['platform']}; load average at start {machine['loadavg_start']}; "
        f"{summary['started_at']}",
    ]
    if db.get("settings") and not durable(db["settings"]):
        lines.append("WARNING: " + NOT_DURABLE)
    for name, peer in summary.get("peers", {}).items():
        if isinstance(peer, dict):
            lines.append(_peer_line(name, peer))
    if summary.get("password_costs"):
        lines.append("One password check: " + password_line(summary["password_costs"]))
    return lines


def _skip_lines(summary: dict[str, Any], operation: str) -> list[str]:
    reasons = summary.get("skipped", {}).get(operation, {})
    return [f"{peer} skipped: {reason}" for peer, reason in reasons.items()]


def reference_rows(summary: dict[str, Any]) -> list[list[str]]:
    """Per workload: Quintet and PostGraphile v5 (means), their ratio, both p99s, and Quintet/v4."""
    table = []
    for operation, results in summary["results"].items():
        quintet, reference, other = results.get("quintet"), results.get(REFERENCE), results.get(OTHER)
        if quintet is None or (reference is None and other is None):
            continue
        table.append(
            [
                operation,
                _number(quintet["requests_per_second"]),
                _number(reference["requests_per_second"]) if reference else "-",
                f"{reference['quintet_ratio']:.2f}x" if reference and reference["quintet_ratio"] is not None else "-",
                _number(quintet["p99_ms"]),
                _number(reference["p99_ms"]) if reference else "-",
                f"{other['quintet_ratio']:.2f}x" if other and other["quintet_ratio"] is not None else "-",
            ]
        )
    return table


REFERENCE_COLUMNS = (
    "workload",
    "Quintet req/s",
    "PG v5 req/s",
    "Quintet / PG v5",
    "Quintet p99 ms",
    "PG v5 p99 ms",
    "Quintet / PG v4",
)


def _text_table(columns: tuple[str, ...], body: list[list[str]]) -> list[str]:
    table = [list(columns), *body]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    return [
        "  " + "  ".join([row[0].ljust(widths[0])] + [cell.rjust(widths[i]) for i, cell in enumerate(row) if i])
        for row in table
    ]


def _markdown_table(columns: tuple[str, ...], body: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(row) + " |" for row in body),
    ]


def render_text(summary: dict[str, Any]) -> str:
    lines = [*header_lines(summary), ""]
    for operation in summary["results"]:
        lines.append(OPERATION_TITLES[operation] + _task_note(summary, operation))
        lines.extend(_text_table(COLUMNS, rows(summary, operation)))
        lines.extend("  " + line for line in _skip_lines(summary, operation))
        if operation in OPERATION_NOTES:
            lines.append("  " + OPERATION_NOTES[operation])
        lines.append("")
    reference = reference_rows(summary)
    if reference:
        lines.append("Quintet against PostGraphile v5 (the reference; ratio of mean req/s) and v4")
        lines.extend(_text_table(REFERENCE_COLUMNS, reference))
        lines.append("")
    lines.extend(_footnotes(summary))
    return "\n".join(lines)


def render_markdown(summary: dict[str, Any]) -> str:
    lines = [f"- {line}" for line in header_lines(summary)]
    lines.append("")
    for operation in summary["results"]:
        lines.append(f"**{OPERATION_TITLES[operation]}**{_task_note(summary, operation)}")
        lines.append("")
        lines.extend(_markdown_table(COLUMNS, rows(summary, operation)))
        notes = _skip_lines(summary, operation) + ([OPERATION_NOTES[operation]] if operation in OPERATION_NOTES else [])
        if notes:
            lines.append("")
            lines.extend(notes)
        lines.append("")
    reference = reference_rows(summary)
    if reference:
        lines.append("**Quintet against PostGraphile v5 (the reference; ratio of mean req/s) and v4**")
        lines.append("")
        lines.extend(_markdown_table(REFERENCE_COLUMNS, reference))
        lines.append("")
    lines.extend(_footnotes(summary))
    return "\n".join(lines)


def _footnotes(summary: dict[str, Any]) -> list[str]:
    notes = [
        "SQL/req: statements each request sent to Postgres, counted on the wire by bench.pgcount: data "
        "statements, then '+n ctl' round trips that touch no data (BEGIN/COMMIT/ROLLBACK/SAVEPOINT, "
        "session settings, asyncpg's pool reset and type introspection); for writes, per request (a create or "
        "an update).",
    ]
    crosscheck = summary.get("quintet_dev_statements")
    if crosscheck:
        shown = ", ".join(f"{op} {n:g}" for op, n in crosscheck.items())
        notes.append(f"Quintet in dev mode reports extensions.sql.statements: {shown}.")
    flagged = [
        f"{op}/{peer}" for op, peers in summary["results"].items() for peer, result in peers.items() if result["errors"]
    ]
    if flagged:
        notes.append("FLAGGED runs had non-200 responses, GraphQL errors or socket errors: " + ", ".join(flagged))
    return notes
