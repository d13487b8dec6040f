"""Aurum Life insights: rules in SQL, analysis jobs, the blackboard, preferences and feedback."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.relay import from_global_id, to_global_id
from core.settings import Settings
from models.insights import RuleKind, SubjectType
from services import insights
from tests.aurum.insight_data import Scenario, create_scenario
from tests.jobs_support import drain, worker_settings
from tests.support import GraphQLClient, Viewer

RULE_IDS = {
    "overdue_in_important_area": "87a4d78b-af97-5119-9c58-f123e3df342d",
    "quiet_pillar": "b4767607-75aa-511f-ab2d-05e8eb708b66",
    "high_priority_overload": "ac0dcfb4-ccb4-5060-937f-8b99e0ab7d30",
    "completion_streak": "e0d4f9a6-eb12-5927-b5b3-f7a67229d63f",
}

INSIGHTS = """
query Insights($first: Int, $includeDismissed: Boolean! = false, $orderBy: InsightOrderBy! = RELEVANCE_DESC) {
  viewer { insights(first: $first, includeDismissed: $includeDismissed, orderBy: $orderBy) {
    totalCount
    nodes { id title body severity score relevance provider model isDismissed feedback facts
      rule { id key kind }
      subject { __typename ... on Area { name } ... on Pillar { name } ... on User { id } }
      job { id }
    } } }
}
"""

REQUEST = "job { id status kind progress }"


def rule_gid(key: str) -> str:
    return to_global_id("InsightRule", uuid.UUID(RULE_IDS[key]))


async def user_with_scenario(gql: GraphQLClient, session: AsyncSession, **options: Any) -> tuple[Viewer, Scenario]:
    viewer = await gql.sign_up(display_name="Insightful")
    scenario = await create_scenario(session, user_id=from_global_id(viewer.user_id)[1], **options)
    await session.commit()
    return viewer, scenario


async def listed(gql: GraphQLClient, token: str, **variables: Any) -> list[dict[str, Any]]:
    data = (await gql(INSIGHTS, variables, token=token)).data
    return list(data["viewer"]["insights"]["nodes"])


async def analyse(gql: GraphQLClient, token: str, settings: Settings, **input: Any) -> dict[str, Any]:
    """requestInsights, then run the worker; returns the finished job."""
    payload = await gql.mutate("requestInsights", input, REQUEST, token=token)
    await drain(settings)
    job = (
        await gql(
            "query($id: ID!) { node(id: $id) { ... on BackgroundJob { id status result provider model"
            " attempts error { code message } } } }",
            {"id": payload["job"]["id"]},
            token=token,
        )
    ).data["node"]
    return dict(job)


@pytest.fixture
def run_settings(settings: Settings) -> Settings:
    return worker_settings(settings)


async def test_each_rule_kind_finds_its_case_in_sql(gql: GraphQLClient, session: AsyncSession) -> None:
    # Given data that sets off every default rule once
    _, scenario = await user_with_scenario(gql, session)
    # When the rules are evaluated
    found = await insights.find(session, user_ids=[scenario.user_id], now=datetime.now(UTC))
    by_kind = {f.kind: f for f in found}
    # Then each kind found its case, about the right subject, with the facts the text needs
    assert sorted(by_kind) == sorted(RuleKind)
    assert len(found) == 4
    overdue = by_kind[RuleKind.OVERDUE_IN_IMPORTANT_AREA]
    assert (overdue.subject_type, overdue.subject_id) == (SubjectType.AREA, scenario.fitness)
    assert overdue.facts["overdue_count"] == 2
    assert overdue.facts["oldest_task"] == "Book a physio session"
    assert overdue.facts["oldest_days_late"] == 3
    assert overdue.facts["other_tasks"] == ["Buy running shoes"]
    quiet = by_kind[RuleKind.INACTIVE_PILLAR]
    assert (quiet.subject_type, quiet.subject_id) == (SubjectType.PILLAR, scenario.learning)
    assert quiet.facts["days_idle"] == 30
    assert quiet.facts["next_task"] == "Review verbs"
    overload = by_kind[RuleKind.HIGH_PRIORITY_OVERLOAD]
    assert (overload.subject_type, overload.subject_id) == (SubjectType.USER, scenario.user_id)
    assert (overload.facts["open_count"], overload.facts["max_open"]) == (6, 5)
    assert len(overload.facts["top_tasks"]) == 3
    streak = by_kind[RuleKind.COMPLETION_STREAK]
    assert (streak.facts["streak_days"], streak.facts["tasks_done"]) == (3, 3)
    assert all(0 < f.score <= 1 for f in found)


async def test_nothing_is_found_in_data_that_sets_off_no_rule(gql: GraphQLClient, session: AsyncSession) -> None:
    viewer = await gql.sign_up()
    # A fresh pillar with one task due next week: not overdue, not quiet, no overload, no streak
    pillar = await gql.mutate("createPillar", {"name": "Home"}, "pillar { id }", token=viewer.token)
    area = await gql.mutate(
        "createArea",
        {"pillarId": pillar["pillar"]["id"], "name": "Garden", "importance": 5},
        "area { id }",
        token=viewer.token,
    )
    project = await gql.mutate(
        "createProject", {"areaId": area["area"]["id"], "name": "Plant"}, "project { id }", token=viewer.token
    )
    await gql.mutate(
        "createTask",
        {"projectId": project["project"]["id"], "title": "Seeds", "dueAt": "2099-01-01T00:00:00Z"},
        "task { id }",
        token=viewer.token,
    )
    assert await insights.find(session, user_ids=[from_global_id(viewer.user_id)[1]], now=datetime.now(UTC)) == []


async def test_requesting_insights_returns_the_job_at_once_and_insights_arrive_when_it_is_done(
    gql: GraphQLClient, session: AsyncSession, run_settings: Settings
) -> None:
    viewer, _ = await user_with_scenario(gql, session)
    # When the viewer asks for insights
    payload = await gql.mutate("requestInsights", {}, REQUEST, token=viewer.token)
    # Then the job comes back at once, queued, and nothing is on the blackboard yet
    assert payload["job"]["status"] == "QUEUED"
    assert payload["job"]["kind"] == "aurum.insights"
    assert await listed(gql, viewer.token) == []
    # And asking again while it is pending joins the same job
    again = await gql.mutate("requestInsights", {}, REQUEST, token=viewer.token)
    assert again["job"]["id"] == payload["job"]["id"]
    # When a worker runs it
    await drain(run_settings)
    # Then the job succeeded and names the insights it posted
    job = (
        await gql(
            "query($id: ID!) { node(id: $id) { ... on BackgroundJob { status progress result provider model } } }",
            {"id": payload["job"]["id"]},
            token=viewer.token,
        )
    ).data["node"]
    assert job["status"] == "SUCCEEDED"
    assert job["progress"] == 1.0
    assert (job["provider"], job["model"]) == ("offline", "templates-v1")
    assert job["result"]["findings"] == 4
    assert job["result"]["created"] == 4
    # And the viewer sees them, written by the offline templates from the data, most relevant first
    nodes = await listed(gql, viewer.token)
    assert sorted(n["id"] for n in nodes) == sorted(job["result"]["insightIds"])
    assert {(n["provider"], n["model"]) for n in nodes} == {("offline", "templates-v1")}
    assert [n["relevance"] for n in nodes] == sorted((n["relevance"] for n in nodes), reverse=True)
    by_key = {n["rule"]["key"]: n for n in nodes}
    overdue = by_key["overdue_in_important_area"]
    assert overdue["title"] == "2 overdue tasks in Fitness"
    assert "“Book a physio session” (3 days late)" in overdue["body"]
    assert overdue["subject"] == {"__typename": "Area", "name": "Fitness"}
    assert overdue["severity"] == "CRITICAL"
    assert overdue["job"] == {"id": payload["job"]["id"]}
    assert by_key["quiet_pillar"]["title"] == "Learning has been quiet for 30 days"
    assert "“Review verbs” is the obvious next step" in by_key["quiet_pillar"]["body"]
    assert by_key["quiet_pillar"]["subject"] == {"__typename": "Pillar", "name": "Learning"}
    assert by_key["high_priority_overload"]["title"] == "6 high-priority tasks at once"
    assert by_key["high_priority_overload"]["subject"] == {"__typename": "User", "id": viewer.user_id}
    assert by_key["completion_streak"]["title"] == "A 3-day completion streak"
    assert by_key["completion_streak"]["severity"] == "INFO"


async def test_the_same_finding_is_not_posted_twice_in_its_period(
    gql: GraphQLClient, session: AsyncSession, run_settings: Settings
) -> None:
    viewer, _ = await user_with_scenario(gql, session)
    first = await analyse(gql, viewer.token, run_settings)
    second = await analyse(gql, viewer.token, run_settings)
    assert (first["result"]["created"], second["result"]["created"]) == (4, 0)
    assert second["result"]["findings"] == 4
    # No text was written for nothing: the second job used no provider
    assert second["provider"] is None
    assert len(await listed(gql, viewer.token)) == 4


async def test_insights_are_written_in_the_viewers_tone(
    gql: GraphQLClient, session: AsyncSession, run_settings: Settings
) -> None:
    viewer, _ = await user_with_scenario(gql, session)
    prefs = await gql.mutate(
        "updateInsightPreferences", {"tone": "DIRECT"}, "preferences { tone frequency }", token=viewer.token
    )
    assert prefs["preferences"] == {"tone": "DIRECT", "frequency": "DAILY"}
    await analyse(gql, viewer.token, run_settings, ruleIds=[rule_gid("overdue_in_important_area")])
    (insight,) = await listed(gql, viewer.token)
    assert insight["body"].startswith("Fitness (importance 5/5) has 2 overdue tasks. Oldest: “Book a physio session”")
    assert "Finish, reschedule or drop it today." in insight["body"]


async def test_feedback_changes_what_the_viewer_is_shown_next(
    gql: GraphQLClient, session: AsyncSession, run_settings: Settings
) -> None:
    viewer, scenario = await user_with_scenario(gql, session, extra_important_areas=2)
    await analyse(gql, viewer.token, run_settings)
    nodes = await listed(gql, viewer.token)
    assert len(nodes) == 6  # 3 important areas with overdue tasks, quiet pillar, overload, streak

    def of_rule(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        return [n for n in items if n["rule"]["key"] == key]

    async def feedback(insight_id: str, kind: str) -> dict[str, Any]:
        payload = await gql.mutate(
            "giveInsightFeedback",
            {"insightId": insight_id, "kind": kind},
            "insight { id feedback isDismissed relevance score }",
            token=viewer.token,
        )
        return dict(payload["insight"])

    # Dismissed: gone from the list, still there when asked for dismissed ones
    streak = of_rule(nodes, "completion_streak")[0]
    dismissed = await feedback(streak["id"], "DISMISS")
    assert dismissed["isDismissed"] is True
    assert dismissed["feedback"] is None
    assert streak["id"] not in [n["id"] for n in await listed(gql, viewer.token)]
    assert streak["id"] in [n["id"] for n in await listed(gql, viewer.token, includeDismissed=True)]

    # Helpful: the rule's insights rank higher (x1.25)
    quiet = of_rule(nodes, "quiet_pillar")[0]
    boosted = await feedback(quiet["id"], "HELPFUL")
    assert boosted["feedback"] == "HELPFUL"
    assert boosted["relevance"] == pytest.approx(quiet["relevance"] * 1.25)
    after = await listed(gql, viewer.token)
    assert [n["relevance"] for n in after] == sorted((n["relevance"] for n in after), reverse=True)

    # Not helpful: the insight is hidden and its rule's other insights rank lower (halved)
    overdue = sorted(of_rule(nodes, "overdue_in_important_area"), key=lambda n: n["id"])
    await feedback(overdue[0]["id"], "NOT_HELPFUL")
    remaining = {n["id"]: n for n in of_rule(await listed(gql, viewer.token), "overdue_in_important_area")}
    assert overdue[0]["id"] not in remaining
    for item in overdue[1:]:
        assert remaining[item["id"]]["relevance"] == pytest.approx(item["relevance"] * 0.5)

    # Repeatedly not helpful: the rule is suppressed, neither shown nor evaluated any more
    for item in overdue[1:]:
        await feedback(item["id"], "NOT_HELPFUL")
    assert of_rule(await listed(gql, viewer.token), "overdue_in_important_area") == []
    rules = (
        await gql(
            "{ viewer { insightRules { key suppressed muted notHelpfulCount helpfulCount } } }", token=viewer.token
        )
    ).data["viewer"]["insightRules"]
    standing = {r["key"]: r for r in rules}
    assert standing["overdue_in_important_area"]["suppressed"] is True
    assert standing["overdue_in_important_area"]["notHelpfulCount"] == 3
    assert standing["quiet_pillar"] == {
        "key": "quiet_pillar",
        "suppressed": False,
        "muted": False,
        "notHelpfulCount": 0,
        "helpfulCount": 1,
    }
    found = await insights.find(session, user_ids=[scenario.user_id], now=datetime.now(UTC))
    assert RuleKind.OVERDUE_IN_IMPORTANT_AREA not in {f.kind for f in found}
    assert len(found) == 3


async def test_a_muted_rule_is_hidden_and_not_evaluated(
    gql: GraphQLClient, session: AsyncSession, run_settings: Settings
) -> None:
    viewer, scenario = await user_with_scenario(gql, session)
    await analyse(gql, viewer.token, run_settings)
    payload = await gql.mutate(
        "updateInsightPreferences",
        {"mutedRuleIds": [rule_gid("high_priority_overload")], "frequency": "WEEKLY"},
        "preferences { frequency mutedRules { key muted } }",
        token=viewer.token,
    )
    assert payload["preferences"] == {
        "frequency": "WEEKLY",
        "mutedRules": [{"key": "high_priority_overload", "muted": True}],
    }
    keys = {n["rule"]["key"] for n in await listed(gql, viewer.token)}
    assert keys == {"overdue_in_important_area", "quiet_pillar", "completion_streak"}
    found = await insights.find(session, user_ids=[scenario.user_id], now=datetime.now(UTC))
    assert RuleKind.HIGH_PRIORITY_OVERLOAD not in {f.kind for f in found}
    # Unmuting brings it back
    await gql.mutate("updateInsightPreferences", {"mutedRuleIds": []}, "preferences { tone }", token=viewer.token)
    assert len(await listed(gql, viewer.token)) == 4


async def test_bad_input_gets_typed_errors_and_changes_nothing(gql: GraphQLClient, session: AsyncSession) -> None:
    viewer, _ = await user_with_scenario(gql, session)
    unknown_rule = to_global_id("InsightRule", uuid.uuid4())
    not_a_rule = to_global_id("Pillar", uuid.uuid4())
    cases: list[tuple[str, dict[str, Any], str, str, list[str]]] = [
        ("requestInsights", {"ruleIds": [unknown_rule]}, "job { id }", "NOT_FOUND", ["input", "ruleIds"]),
        ("requestInsights", {"ruleIds": [not_a_rule]}, "job { id }", "VALIDATION", ["input", "ruleIds"]),
        (
            "updateInsightPreferences",
            {"mutedRuleIds": [unknown_rule]},
            "preferences { tone }",
            "NOT_FOUND",
            ["input", "mutedRuleIds"],
        ),
        ("updateInsightPreferences", {"tone": None}, "preferences { tone }", "VALIDATION", ["input", "tone"]),
        (
            "giveInsightFeedback",
            {"insightId": to_global_id("Insight", uuid.uuid4()), "kind": "HELPFUL"},
            "insight { id }",
            "NOT_FOUND",
            ["input", "insightId"],
        ),
    ]
    for name, input, selection, code, field in cases:
        payload = await gql.call(name, input, selection, token=viewer.token)
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)], name
    # Nothing was started or changed
    data = (
        await gql("{ viewer { jobs { totalCount } insightPreferences { tone updatedAt } } }", token=viewer.token)
    ).data
    assert data["viewer"]["jobs"]["totalCount"] == 0
    assert data["viewer"]["insightPreferences"] == {"tone": "ENCOURAGING", "updatedAt": None}
    # And without a token, the mutation says so
    anonymous = await gql.call("requestInsights", {}, "job { id }", token=None)
    assert [e["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]


async def test_insights_are_their_owners_only(
    gql: GraphQLClient, session: AsyncSession, run_settings: Settings
) -> None:
    alice, _ = await user_with_scenario(gql, session)
    bob = await gql.sign_up()
    job = await analyse(gql, alice.token, run_settings)
    insight_id = job["result"]["insightIds"][0]
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id } viewer { insights { totalCount } } }"
    ids = [insight_id, job["id"]]
    assert (await gql(query, {"ids": ids}, token=alice.token)).data["nodes"] == [{"id": i} for i in ids]
    # Bob sees neither Alice's insight nor her job, and can't judge her insight
    seen_by_bob = (await gql(query, {"ids": ids}, token=bob.token)).data
    assert seen_by_bob == {"nodes": [None, None], "viewer": {"insights": {"totalCount": 0}}}
    payload = await gql.call(
        "giveInsightFeedback", {"insightId": insight_id, "kind": "NOT_HELPFUL"}, "insight { id }", token=bob.token
    )
    assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"]
    (still,) = [n for n in await listed(gql, alice.token) if n["id"] == insight_id]
    assert still["feedback"] is None
    # Rules are shared, but each viewer's standing towards one is their own
    rule = (
        await gql(
            "query($id: ID!) { node(id: $id) { ... on InsightRule { key muted } } }",
            {"id": rule_gid("quiet_pillar")},
            token=bob.token,
        )
    ).data
    assert rule["node"] == {"key": "quiet_pillar", "muted": False}


async def test_listing_insights_costs_a_fixed_number_of_statements(
    gql: GraphQLClient, session: AsyncSession, run_settings: Settings
) -> None:
    # Given two users whose blackboards differ in size (5 and 14 insights)
    small, _ = await user_with_scenario(gql, session, extra_important_areas=1)
    large, _ = await user_with_scenario(gql, session, extra_important_areas=10)
    for viewer in (small, large):
        await analyse(gql, viewer.token, run_settings)
    # When each lists their insights with rule, subject and job
    responses = [await gql(INSIGHTS, {"first": 50}, token=viewer.token) for viewer in (small, large)]
    sizes = [len(r.data["viewer"]["insights"]["nodes"]) for r in responses]
    assert sizes == [5, 14]
    # Then both cost the same statements: the page, then one batch per rule, subject type and job
    assert [r.statements for r in responses] == [6, 6]
