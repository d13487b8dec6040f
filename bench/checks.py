"""What each operation must return, computed from the database independently of every peer.

A response is reduced to a list of entries in document order:

- `("pillar" | "area" | "project", id, total_tasks, completed_tasks, percent)` for a node with progress,
- `("count", project_id, n)` for a project's task count (tree only),
- `("task", id)` for a task, and `("task", id, title)` for the task a mutation returns,
- `("more", project_id, has_next_page)` after a project's page of tasks (relay, and the
  page of one project's tasks of the cursor check),
- `("page", total_count, has_next_page)` closing a page of projects (relay),
- `("total", n)` for the count of a filtered list of tasks (filtered),
- `("user", id)` for the account a login signed in.

Cursors differ per peer and are opaque: they are never compared with anything but the same
response's (`endCursor` is the last edge's); the harness checks what they point at by fetching
the next page with them (bench.side_by_side).

Every peer's response must give the same entries, value for value: each percent is its counts'
ratio to one decimal rounded half to even, exactly (as Quintet rounds, services/aurum/progress.py;
computed here with `fractions.Fraction`, independently of every peer); the first difference is
reported. The write mix is checked apart, on the rows it leaves (`written_rows`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import asyncpg

from bench.dataset import ACTIVE_PROJECT_STATUSES, OPEN_TASK_STATUSES

Entry = tuple[Any, ...]
LATEST = datetime.max.replace(tzinfo=UTC)

TREE_PAGE = 20  # pillars, areas and projects per parent (Quintet's default page size)
TREE_TASKS = 50  # tasks per project in the tree
DASHBOARD_PROJECTS = 20
DASHBOARD_TASKS = 10
# relay: a project list screen, newest first, by Relay cursors: 20 rows fill a desktop list (and
# are Quintet's default page), each with a preview of its first 10 tasks (a project holds 10 at 1x).
RELAY_PROJECTS = 20
RELAY_TASKS = 10
# The first page of the cursor checks: short, so that a next page exists at every scale (of
# projects, and of the first project's tasks).
RELAY_PROBE = 5
RELAY_PROBE_TASKS = 2
# filtered: the viewer's tasks with one status and one priority, soonest due first: 50, a long
# list screen.
FILTERED_TASKS = 50
# nodes50: a client refetching the 50 tasks it holds (a Relay store, an Apollo cache) by id.
NODES_TASKS = 50


class CorrectnessError(AssertionError):
    """A peer answered something else than the data holds."""


@dataclass
class UserData:
    """All of one user's rows of the four tree tables."""

    pillars: list[asyncpg.Record]
    areas: list[asyncpg.Record]
    projects: list[asyncpg.Record]
    tasks: list[asyncpg.Record]


async def load_user(conn: asyncpg.Connection, user_id: uuid.UUID) -> UserData:
    return UserData(
        pillars=await conn.fetch("SELECT id, position FROM pillars WHERE user_id = $1", user_id),
        areas=await conn.fetch("SELECT id, pillar_id, position FROM areas WHERE user_id = $1", user_id),
        projects=await conn.fetch(
            "SELECT id, area_id, status, due_at, position, created_at FROM projects WHERE user_id = $1", user_id
        ),
        tasks=await conn.fetch(
            "SELECT id, project_id, status, priority, due_at, position FROM tasks WHERE user_id = $1", user_id
        ),
    )


def _by_position(rows: Iterable[asyncpg.Record]) -> list[asyncpg.Record]:
    return sorted(rows, key=lambda row: (row["position"], row["id"]))


def _by_due(rows: Iterable[asyncpg.Record]) -> list[asyncpg.Record]:
    return sorted(rows, key=lambda row: (row["due_at"] or LATEST, row["id"]))


def _group(rows: Iterable[asyncpg.Record], key: str) -> dict[uuid.UUID, list[asyncpg.Record]]:
    grouped: dict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        grouped[row[key]].append(row)
    return grouped


def percent(done: int, total: int) -> float:
    """100 * done / total to one decimal, rounded half to even exactly (a Fraction rounds
    exactly; float arithmetic would round the nearest binary value instead); 0.0 when empty."""
    return float(round(Fraction(100 * done, total), 1)) if total else 0.0


def _progress(tasks: Iterable[asyncpg.Record]) -> tuple[int, int, float]:
    statuses = [task["status"] for task in tasks]
    total = sum(1 for status in statuses if status != "cancelled")
    done = sum(1 for status in statuses if status == "done")
    return total, done, percent(done, total)


def expected_tree(data: UserData) -> list[Entry]:
    areas_of, projects_of, tasks_of = (
        _group(data.areas, "pillar_id"),
        _group(data.projects, "area_id"),
        _group(data.tasks, "project_id"),
    )
    entries: list[Entry] = []
    for pillar in _by_position(data.pillars)[:TREE_PAGE]:
        beneath = [t for a in areas_of[pillar["id"]] for p in projects_of[a["id"]] for t in tasks_of[p["id"]]]
        entries.append(("pillar", pillar["id"], *_progress(beneath)))
        for area in _by_position(areas_of[pillar["id"]])[:TREE_PAGE]:
            entries.append(
                ("area", area["id"], *_progress(t for p in projects_of[area["id"]] for t in tasks_of[p["id"]]))
            )
            for project in _by_position(projects_of[area["id"]])[:TREE_PAGE]:
                tasks = tasks_of[project["id"]]
                entries.append(("project", project["id"], *_progress(tasks)))
                entries.append(("count", project["id"], len(tasks)))
                entries.extend(("task", task["id"]) for task in _by_position(tasks)[:TREE_TASKS])
    return entries


def expected_dashboard(data: UserData) -> list[Entry]:
    tasks_of = _group(data.tasks, "project_id")
    active = [p for p in data.projects if p["status"] in ACTIVE_PROJECT_STATUSES]
    entries: list[Entry] = []
    for project in _by_due(active)[:DASHBOARD_PROJECTS]:
        tasks = tasks_of[project["id"]]
        entries.append(("project", project["id"], *_progress(tasks)))
        open_tasks = [t for t in tasks if t["status"] in OPEN_TASK_STATUSES]
        entries.extend(("task", task["id"]) for task in _by_due(open_tasks)[:DASHBOARD_TASKS])
    return entries


def _newest_first(rows: Iterable[asyncpg.Record]) -> list[asyncpg.Record]:
    return sorted(rows, key=lambda row: (row["created_at"], row["id"]), reverse=True)


def expected_relay(
    data: UserData, *, skipped: int = 0, first: int = RELAY_PROJECTS, tasks: int = RELAY_TASKS
) -> list[Entry]:
    """The page of `first` projects after the `skipped` newest, each with its first `tasks` tasks."""
    tasks_of = _group(data.tasks, "project_id")
    projects = _newest_first(data.projects)
    entries: list[Entry] = []
    for project in projects[skipped : skipped + first]:
        own = _by_position(tasks_of[project["id"]])
        entries.append(("project", project["id"], *_progress(own)))
        entries.extend(("task", task["id"]) for task in own[:tasks])
        entries.append(("more", project["id"], len(own) > tasks))
    entries.append(("page", len(projects), len(projects) > skipped + first))
    return entries


def expected_project_tasks(data: UserData, project_id: uuid.UUID, *, skipped: int, first: int) -> list[Entry]:
    """The page of `first` tasks of one project after its `skipped` first, by position."""
    own = _by_position(task for task in data.tasks if task["project_id"] == project_id)
    return [
        *(("task", task["id"]) for task in own[skipped : skipped + first]),
        ("more", project_id, len(own) > skipped + first),
    ]


def expected_filtered(data: UserData, status: str, priority: int) -> list[Entry]:
    tasks = [task for task in data.tasks if task["status"] == status and task["priority"] == priority]
    return [("total", len(tasks)), *(("task", task["id"]) for task in _by_due(tasks)[:FILTERED_TASKS])]


def expected_nodes(data: UserData, ids: Iterable[uuid.UUID]) -> list[Entry]:
    """The tasks with these ids, in the order asked (every one of them is the user's)."""
    own = {task["id"] for task in data.tasks}
    missing = [task_id for task_id in ids if task_id not in own]
    if missing:
        raise CorrectnessError(f"the harness asked for tasks that are not the user's: {missing[:3]}")
    return [("task", task_id) for task_id in ids]


def task_count(entries: list[Entry]) -> int:
    return sum(1 for entry in entries if entry[0] == "task")


# ------------------------------------------------------------------------- response walking


@dataclass(frozen=True)
class Fields:
    """How one peer names the connections of the tree (all peers expose `nodes`) and a row's id
    (PostGraphile v5 calls the column `rowId`: its `id` is the Relay global id)."""

    pillars: str = "pillars"
    areas: str = "areas"
    projects: str = "projects"
    tasks: str = "tasks"
    id: str = "id"


IdDecoder = Callable[[str], uuid.UUID]


def _progress_entry(kind: str, node: dict[str, Any], fields: Fields, decode: IdDecoder) -> Entry:
    progress = node["progress"]
    return (kind, decode(node[fields.id]), progress["totalTasks"], progress["completedTasks"], progress["percent"])


def walk_tree(pillars: dict[str, Any], fields: Fields, decode: IdDecoder) -> list[Entry]:
    entries: list[Entry] = []
    for pillar in pillars["nodes"]:
        entries.append(_progress_entry("pillar", pillar, fields, decode))
        for area in pillar[fields.areas]["nodes"]:
            entries.append(_progress_entry("area", area, fields, decode))
            for project in area[fields.projects]["nodes"]:
                entries.append(_progress_entry("project", project, fields, decode))
                tasks = project[fields.tasks]
                entries.append(("count", decode(project[fields.id]), tasks["totalCount"]))
                entries.extend(("task", decode(task[fields.id])) for task in tasks["nodes"])
    return entries


def walk_dashboard(projects: dict[str, Any], fields: Fields, decode: IdDecoder) -> list[Entry]:
    entries: list[Entry] = []
    for project in projects["nodes"]:
        entries.append(_progress_entry("project", project, fields, decode))
        entries.extend(("task", decode(task[fields.id])) for task in project[fields.tasks]["nodes"])
    return entries


def _edges(connection: dict[str, Any]) -> list[dict[str, Any]]:
    """A connection's edges, once its cursors hold together: each a distinct non-empty string,
    and `pageInfo.endCursor` the last one's (null on an empty page)."""
    edges: list[dict[str, Any]] = connection["edges"]
    cursors = [edge["cursor"] for edge in edges]
    if not all(isinstance(cursor, str) and cursor for cursor in cursors):
        raise CorrectnessError(f"an edge has no cursor: {cursors}")
    if len(set(cursors)) != len(cursors):
        raise CorrectnessError(f"two edges of one page share a cursor: {cursors}")
    end = connection["pageInfo"]["endCursor"]
    if end != (cursors[-1] if cursors else None):
        raise CorrectnessError(f"pageInfo.endCursor {end!r} is not the last edge's cursor ({len(cursors)} edges)")
    return edges


def walk_relay(projects: dict[str, Any], fields: Fields, decode: IdDecoder) -> list[Entry]:
    entries: list[Entry] = []
    for edge in _edges(projects):
        project = edge["node"]
        entries.append(_progress_entry("project", project, fields, decode))
        tasks = project[fields.tasks]
        entries.extend(("task", decode(task["node"][fields.id])) for task in _edges(tasks))
        entries.append(("more", decode(project[fields.id]), tasks["pageInfo"]["hasNextPage"]))
    entries.append(("page", projects["totalCount"], projects["pageInfo"]["hasNextPage"]))
    return entries


def walk_project_tasks(project: dict[str, Any] | None, fields: Fields, decode: IdDecoder) -> list[Entry]:
    if project is None:
        raise CorrectnessError("the project came back null")
    tasks = project[fields.tasks]
    entries: list[Entry] = [("task", decode(edge["node"][fields.id])) for edge in _edges(tasks)]
    return [*entries, ("more", decode(project[fields.id]), tasks["pageInfo"]["hasNextPage"])]


def walk_filtered(tasks: dict[str, Any], fields: Fields, decode: IdDecoder) -> list[Entry]:
    return [("total", tasks["totalCount"]), *(("task", decode(task[fields.id])) for task in tasks["nodes"])]


def walk_tasks(tasks: list[dict[str, Any] | None], fields: Fields, decode: IdDecoder) -> list[Entry]:
    """A list of tasks (nodes50), each with its title (a null stands for a task not returned)."""
    entries: list[Entry] = []
    for task in tasks:
        if task is None:
            raise CorrectnessError("a task came back null")
        if not task.get("title"):
            raise CorrectnessError(f"a task has no title: {task}")
        entries.append(("task", decode(task[fields.id])))
    return entries


def first_difference(expected: list[Entry], observed: list[Entry]) -> str | None:
    """None when `observed` matches `expected` value for value (a percent included: 31.3
    where 31.2 is expected is a difference); otherwise where and how they differ."""
    for index, (want, got) in enumerate(zip(expected, observed, strict=False)):
        if len(want) != len(got) or want != got:
            return f"entry {index}: expected {want}, got {got}"
    if len(expected) != len(observed):
        return f"expected {len(expected)} entries ({task_count(expected)} tasks), got {len(observed)}"
    return None


# ------------------------------------------------------------------------- campaign dashboard

#: campaign_dashboard: a campaign's 20 newest messages (a dashboard's first screen).
CAMPAIGN_MESSAGES = 20


async def expected_campaign_dashboard(conn: asyncpg.Connection, campaign_id: uuid.UUID) -> list[Entry]:
    """A campaign's message count; its newest messages (created, then id, descending), each
    with its latest version and that version's analysis summary; its totals per cycle, the
    latest first: from the tables, as the dashboard must show them to a member who reads the
    donations."""
    entries: list[Entry] = [
        ("messages", await conn.fetchval("SELECT count(*) FROM messages WHERE organization_id = $1", campaign_id))
    ]
    rows = await conn.fetch(
        """SELECT m.id, m.title, m.status, v.number, v.created_at, a.status AS a_status, a.risk_level,
                  a.issue_count, a.resonance_score
           FROM messages m JOIN message_versions v ON v.id = m.latest_version_id
           LEFT JOIN message_analyses a ON a.version_id = v.id
           WHERE m.organization_id = $1 ORDER BY m.created_at DESC, m.id DESC LIMIT $2""",
        campaign_id,
        CAMPAIGN_MESSAGES,
    )
    for row in rows:
        analysis = (
            None
            if row["a_status"] is None
            else (row["a_status"], row["risk_level"], row["issue_count"], row["resonance_score"])
        )
        entries.append(("message", row["id"], row["title"], row["status"], row["number"], row["created_at"], analysis))
    totals = await conn.fetch(
        """SELECT cycle, sum(amount_cents) AS total, coalesce(sum(amount_cents) FILTER (WHERE amount_cents > 0), 0),
                  coalesce(-sum(amount_cents) FILTER (WHERE amount_cents < 0), 0),
                  count(*) FILTER (WHERE kind = 'contribution'), count(DISTINCT donor_id)
           FROM akashic_donation_ledger WHERE organization_id = $1 GROUP BY cycle ORDER BY cycle DESC""",
        campaign_id,
    )
    entries.extend(("cycle", *(int(value) for value in row)) for row in totals)
    return entries


def walk_campaign_dashboard(
    campaign: dict[str, Any], names: Mapping[str, str], decode: IdDecoder, *, lower: bool
) -> list[Entry]:
    """A dashboard answer as entries; `names` maps the fields each peer names its own way
    (`messages`, `id`, `totals`); `lower`: the peer writes enum values in capitals (GraphQL
    enums), as the database's lower-case values."""

    def value(text: str | None) -> str | None:
        return None if text is None else text.lower() if lower else text

    messages = campaign[names["messages"]]
    entries: list[Entry] = [("messages", messages["totalCount"])]
    for edge in messages["edges"]:
        node = edge["node"]
        latest = node["latestVersion"]
        found = latest["analysis"]
        analysis = (
            None
            if found is None
            else (value(found["status"]), value(found["riskLevel"]), found["issueCount"], found["resonanceScore"])
        )
        entries.append(
            (
                "message",
                decode(node[names["id"]]),
                node["title"],
                value(node["status"]),
                latest["number"],
                datetime.fromisoformat(latest["createdAt"]),
                analysis,
            )
        )
    for totals in campaign[names["totals"]]:
        entries.append(
            (
                "cycle",
                *(
                    int(totals[key])
                    for key in ("cycle", "totalCents", "contributedCents", "reversedCents", "contributions", "donors")
                ),
            )
        )
    return entries
