"""Every mutation leaves its audit events, with the right values before and after, in its own
transaction; secrets never appear; the trail is its owner's alone; it can't be changed.

Mutations go over HTTP; the rows are also read raw from `audit_events`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.context import Actor, AuditScope, run_in_transaction, run_unit_of_work
from core.errors import ValidationFailed
from core.events import InProcessBus
from core.relay import to_global_id
from core.security import hash_refresh_secret
from models.aurum import Task
from models.insights import Insight
from schema import printable_schema
from services import audit, aurum, notifications
from services.audit import UnauditedWrite
from tests.audit.conftest import TRAIL, by_operation, pk, raw_events, trail
from tests.factories import create_notifications, create_tree, insert_rows
from tests.support import PASSWORD, GraphQLClient, Viewer


async def make(gql: GraphQLClient, viewer: Viewer, mutation: str, input: dict[str, Any], selection: str) -> Any:
    """Run a mutation that must succeed; its payload."""
    return await gql.mutate(mutation, input, selection, token=viewer.token)


async def created(gql: GraphQLClient, viewer: Viewer, mutation: str, noun: str, input: dict[str, Any]) -> str:
    """Create an object; its global id."""
    payload = await make(gql, viewer, mutation, input, f"{noun} {{ id }}")
    value: str = payload[noun]["id"]
    return value


def only(events: list[dict[str, Any]], operation: str) -> dict[str, Any]:
    [event] = by_operation(events, operation)
    return event


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ------------------------------------------------------------------------------ Aurum


async def test_the_hierarchy_changes_leave_their_events(gql: GraphQLClient) -> None:
    me = await gql.sign_up()
    health = await created(gql, me, "createPillar", "pillar", {"name": "Health"})
    work = await created(gql, me, "createPillar", "pillar", {"name": "Work"})
    await make(gql, me, "updatePillar", {"id": health, "name": "Body"}, "pillar { id }")
    desk = await created(gql, me, "createArea", "area", {"pillarId": work, "name": "Desk"})
    fitness = await created(gql, me, "createArea", "area", {"pillarId": health, "name": "Fitness", "importance": 5})
    sleep = await created(gql, me, "createArea", "area", {"pillarId": health, "name": "Sleep"})
    await make(gql, me, "updateArea", {"id": fitness, "pillarId": work}, "area { id }")  # a move
    await make(gql, me, "reorderPillars", {"ids": [work, health]}, "pillars { id }")
    run = await created(gql, me, "createProject", "project", {"areaId": sleep, "name": "Run"})
    await make(gql, me, "updateProject", {"id": run, "status": "IN_PROGRESS"}, "project { id }")
    shoes = await created(gql, me, "createTask", "task", {"projectId": run, "title": "Shoes"})
    route = await created(gql, me, "createTask", "task", {"projectId": run, "title": "Route"})
    await make(gql, me, "completeTask", {"id": shoes}, "task { id }")
    await make(gql, me, "reorderTasks", {"projectId": run, "ids": [route, shoes]}, "tasks { id }")
    await make(gql, me, "deleteTask", {"id": route}, "deletedId")
    await make(gql, me, "deletePillar", {"id": work}, "deletedId")

    events = await trail(gql, me)
    # Every event is the viewer's own doing, by their access token, with no request id sent
    assert {(e["actorKind"], e["actorUserId"], e["actorLabel"], e["requestId"]) for e in events[:-2]} == {
        ("USER", me.user_id, None, None)
    }
    # Newest first: the last mutation's event leads, registering trails
    assert [e["action"] for e in events[-2:]] == ["RefreshToken.create", "User.create"]
    assert [moment(e["at"]) for e in events] == sorted((moment(e["at"]) for e in events), reverse=True)

    [created_pillar] = [e for e in by_operation(events, "createPillar") if e["targetId"] == health]
    assert created_pillar["action"] == "Pillar.create"
    assert (created_pillar["targetId"], created_pillar["targetTable"]) == (health, "pillars")
    assert created_pillar["targetKey"] == str(pk(health))
    assert created_pillar["changes"]["name"] == {"before": None, "after": "Health"}
    assert created_pillar["changes"]["position"] == {"before": None, "after": 0}
    assert created_pillar["changes"]["user_id"] == {"before": None, "after": str(pk(me.user_id))}

    renamed = only(events, "updatePillar")
    assert (renamed["action"], renamed["targetId"]) == ("Pillar.update", health)
    assert set(renamed["changes"]) == {"name", "updated_at"}
    assert renamed["changes"]["name"] == {"before": "Health", "after": "Body"}
    assert moment(renamed["changes"]["updated_at"]["after"]) > moment(renamed["changes"]["updated_at"]["before"])

    moved = only(events, "updateArea")
    assert (moved["action"], moved["targetId"]) == ("Area.update", fitness)
    assert moved["changes"]["pillar_id"] == {"before": str(pk(health)), "after": str(pk(work))}
    assert moved["changes"]["position"] == {"before": 0, "after": 1}  # last under its new pillar

    reordered = {e["targetId"]: e["changes"]["position"] for e in by_operation(events, "reorderPillars")}
    assert reordered == {work: {"before": 1, "after": 0}, health: {"before": 0, "after": 1}}

    status = only(events, "updateProject")
    assert status["changes"]["status"] == {"before": "not_started", "after": "in_progress"}

    done = only(events, "completeTask")
    assert (done["action"], done["targetId"]) == ("Task.update", shoes)
    assert done["changes"]["status"] == {"before": "todo", "after": "done"}
    assert done["changes"]["completed_at"]["before"] is None
    assert moment(done["changes"]["completed_at"]["after"]).tzinfo == UTC

    tasks = {e["targetId"]: e["changes"]["position"] for e in by_operation(events, "reorderTasks")}
    assert tasks == {route: {"before": 1, "after": 0}, shoes: {"before": 0, "after": 1}}

    deleted_task = only(events, "deleteTask")
    assert (deleted_task["action"], deleted_task["targetId"]) == ("Task.delete", route)
    assert deleted_task["changes"]["title"] == {"before": "Route", "after": None}
    assert deleted_task["changes"]["project_id"] == {"before": str(pk(run)), "after": None}

    # Deleting a pillar is one event: its areas went with it (ON DELETE CASCADE), unrecorded
    [deleted] = by_operation(events, "deletePillar")
    assert (deleted["action"], deleted["targetId"], deleted["changes"]["name"]["before"]) == (
        "Pillar.delete",
        work,
        "Work",
    )
    assert events[0] == deleted
    assert not [e for e in events if e["targetId"] in (desk, fitness) and e["action"].endswith("delete")]


async def test_journal_and_resources_leave_their_events(gql: GraphQLClient) -> None:
    me = await gql.sign_up()
    template = await created(
        gql, me, "createJournalTemplate", "journalTemplate", {"name": "Evening", "prompts": ["What went well?"]}
    )
    entry = await created(
        gql,
        me,
        "createJournalEntry",
        "journalEntry",
        {"title": "Day one", "body": "Ran.", "mood": 7, "tags": ["Run", "run", "Legs"], "templateId": template},
    )
    await make(gql, me, "updateJournalEntry", {"id": entry, "mood": 9, "tags": ["rest"]}, "journalEntry { id }")
    await make(gql, me, "updateJournalTemplate", {"id": template, "prompts": []}, "journalTemplate { id }")
    await make(gql, me, "deleteJournalEntry", {"id": entry}, "deletedId")
    await make(gql, me, "deleteJournalTemplate", {"id": template}, "deletedId")
    link = await created(
        gql, me, "createResource", "resource", {"kind": "LINK", "title": "Docs", "url": "https://example.com/a"}
    )
    await make(gql, me, "updateResource", {"id": link, "url": "https://example.com/b"}, "resource { id }")
    await make(gql, me, "deleteResource", {"id": link}, "deletedId")

    events = await trail(gql, me)
    new_entry = only(events, "createJournalEntry")
    assert (new_entry["action"], new_entry["targetId"]) == ("JournalEntry.create", entry)
    assert new_entry["changes"]["tags"] == {"before": None, "after": ["run", "legs"]}
    assert new_entry["changes"]["template_id"] == {"before": None, "after": str(pk(template))}
    changed = only(events, "updateJournalEntry")
    assert set(changed["changes"]) == {"mood", "tags", "updated_at"}
    assert changed["changes"]["mood"] == {"before": 7, "after": 9}
    assert changed["changes"]["tags"] == {"before": ["run", "legs"], "after": ["rest"]}
    prompts = only(events, "updateJournalTemplate")
    assert prompts["changes"]["prompts"] == {"before": ["What went well?"], "after": []}
    assert only(events, "deleteJournalEntry")["changes"]["body"] == {"before": "Ran.", "after": None}
    assert only(events, "deleteJournalTemplate")["action"] == "JournalTemplate.delete"

    assert only(events, "createResource")["changes"]["kind"] == {"before": None, "after": "link"}
    moved = only(events, "updateResource")
    assert (moved["action"], moved["targetId"]) == ("Resource.update", link)
    assert moved["changes"]["url"] == {"before": "https://example.com/a", "after": "https://example.com/b"}
    gone = only(events, "deleteResource")
    assert (gone["action"], gone["changes"]["title"]) == ("Resource.delete", {"before": "Docs", "after": None})


# ------------------------------------------------------------------- identity and notices


async def test_a_profile_change_is_the_users_event(gql: GraphQLClient) -> None:
    me = await gql.sign_up(display_name="Ada")
    await make(gql, me, "updateProfile", {"displayName": "Ada L.", "purpose": "Count"}, "user { id }")
    event = only(await trail(gql, me), "updateProfile")
    # The user row is the user's own: its event names the viewer's User node
    assert (event["action"], event["targetTable"], event["targetId"]) == ("User.update", "users", me.user_id)
    assert event["changes"]["display_name"] == {"before": "Ada", "after": "Ada L."}
    assert event["changes"]["purpose"] == {"before": None, "after": "Count"}


async def test_marking_notifications_read_leaves_an_event_per_notification(
    gql: GraphQLClient, session: AsyncSession
) -> None:
    me = await gql.sign_up()
    first, second, third = await create_notifications(session, user_id=pk(me.user_id), count=3, read_every=0)
    await session.commit()
    one = to_global_id("Notification", first)
    await make(gql, me, "markNotificationsRead", {"ids": [one]}, "markedCount")
    payload = await make(gql, me, "markAllNotificationsRead", {}, "markedCount")
    assert payload["markedCount"] == 2

    events = await trail(gql, me)
    marked = only(events, "markNotificationsRead")
    assert (marked["action"], marked["targetId"], marked["changes"]["read_at"]["before"]) == (
        "Notification.update",
        one,
        None,
    )
    assert moment(marked["changes"]["read_at"]["after"]).tzinfo == UTC
    # One UPDATE for all of them, recorded one event per row from what it returned
    all_read = by_operation(events, "markAllNotificationsRead")
    assert {e["targetId"] for e in all_read} == {to_global_id("Notification", n) for n in (second, third)}
    assert {e["action"] for e in all_read} == {"Notification.update"}
    assert all(set(e["changes"]) == {"read_at"} and e["changes"]["read_at"]["before"] is None for e in all_read)
    # Nothing left to mark: no change, no event
    await make(gql, me, "markAllNotificationsRead", {}, "markedCount")
    assert len(await trail(gql, me)) == len(events)


RULE = uuid.UUID("87a4d78b-af97-5119-9c58-f123e3df342d")  # overdue_in_important_area


async def test_insight_feedback_and_preferences_leave_their_events(gql: GraphQLClient, session: AsyncSession) -> None:
    me = await gql.sign_up()
    insight = uuid.uuid4()
    row = {
        "id": insight,
        "user_id": pk(me.user_id),
        "rule_id": RULE,
        "subject_type": "user",
        "fingerprint": f"test:{insight}",
        "title": "Overdue",
        "body": "Two tasks are late.",
        "severity": "critical",
        "score": 0.75,
        "facts": {"overdue": 2},
        "provider": "offline",
        "model": "templates-v1",
    }
    await insert_rows(session, Insight, [row])
    await session.commit()
    # Preferences: the first change creates the row, the next changes it (an upsert either way)
    await make(gql, me, "updateInsightPreferences", {"tone": "DIRECT"}, "preferences { tone }")
    await make(gql, me, "updateInsightPreferences", {"frequency": "WEEKLY"}, "preferences { tone }")
    await make(
        gql,
        me,
        "giveInsightFeedback",
        {"insightId": to_global_id("Insight", insight), "kind": "NOT_HELPFUL", "comment": "Knew it"},
        "insight { id }",
    )

    events = await trail(gql, me)
    first, second = reversed(by_operation(events, "updateInsightPreferences"))
    assert (first["action"], first["targetTable"], first["targetKey"]) == (
        "HrmUserPreferences.create",
        "hrm_user_preferences",
        str(pk(me.user_id)),
    )
    assert first["targetId"] is None  # not a node type
    assert first["changes"]["tone"] == {"before": None, "after": "direct"}
    assert first["changes"]["frequency"] == {"before": None, "after": "daily"}
    assert second["action"] == "HrmUserPreferences.update"
    assert set(second["changes"]) == {"frequency", "updated_at"}
    assert second["changes"]["frequency"] == {"before": "daily", "after": "weekly"}

    feedback = {e["action"]: e for e in by_operation(events, "giveInsightFeedback")}
    assert set(feedback) == {"HrmFeedback.create", "Insight.update"}
    assert feedback["HrmFeedback.create"]["changes"]["kind"] == {"before": None, "after": "not_helpful"}
    assert feedback["HrmFeedback.create"]["changes"]["comment"] == {"before": None, "after": "Knew it"}
    verdict = feedback["Insight.update"]
    assert verdict["targetId"] == to_global_id("Insight", insight)
    assert set(verdict["changes"]) == {"feedback", "feedback_at", "dismissed_at"}
    assert verdict["changes"]["feedback"] == {"before": None, "after": "not_helpful"}


async def test_secrets_never_reach_the_trail(gql: GraphQLClient, engine: AsyncEngine) -> None:
    # Given an account registered, signed in twice, refreshed, and signed out
    me = await gql.sign_up()
    login = await gql.mutate(
        "login",
        {"email": me.email, "password": PASSWORD},
        "session { accessToken refreshToken }",
        token=None,
    )
    refreshed = await gql.mutate(
        "refreshToken", {"refreshToken": me.refresh_token}, "session { accessToken refreshToken }", token=None
    )
    # A refresh token used twice revokes its family (the revocation is kept, and recorded)
    reused = await gql.call("refreshToken", {"refreshToken": me.refresh_token}, "session { accessToken }", token=None)
    assert [error["code"] for error in reused["errors"]] == ["REFRESH_TOKEN_REUSED"]
    await gql.mutate("logout", {"everywhere": True}, "revokedSessions", token=login["session"]["accessToken"])

    user_id = pk(me.user_id)
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.text("SELECT password_hash FROM users WHERE id = :u"), {"u": user_id})).one()
        every_row = (
            await conn.execute(
                sa.text("SELECT string_agg(a::text, ' ') FROM audit_events a WHERE user_id = :u"), {"u": user_id}
            )
        ).scalar_one()
    tokens = [
        me.token,
        me.refresh_token,
        login["session"]["accessToken"],
        login["session"]["refreshToken"],
        refreshed["session"]["accessToken"],
        refreshed["session"]["refreshToken"],
    ]
    secrets = [PASSWORD, stored.password_hash, *tokens, *(hash_refresh_secret(t) for t in tokens)]
    # Then the trail holds the changes...
    events = await trail(gql, me)
    actions = [(e["operation"], e["action"], e["actorLabel"]) for e in reversed(events)]
    assert actions[:2] == [("register", "User.create", "password"), ("register", "RefreshToken.create", "password")]
    assert ("login", "RefreshToken.create", "password") in actions
    assert ("refreshToken", "RefreshToken.update", "refresh_token") in actions  # used_at
    assert ("logout", "RefreshToken.update", None) in actions  # revoked_at
    revoked_on_reuse = [e for e in events if e["operation"] == "refreshToken" and "revoked_at" in e["changes"]]
    assert revoked_on_reuse
    assert all(e["actorLabel"] == "refresh_token" for e in revoked_on_reuse)
    registered = next(e for e in events if e["action"] == "User.create")
    assert registered["changes"]["password_hash"] == {"before": None, "after": "[redacted]"}
    assert registered["changes"]["email"] == {"before": None, "after": me.email}
    minted = next(e for e in events if e["action"] == "RefreshToken.create")
    assert minted["changes"]["token_hash"] == {"before": None, "after": "[redacted]"}
    # ...and no password, token or hash of one, anywhere in its rows
    assert every_row
    for secret in secrets:
        assert secret not in every_row


async def test_a_sign_in_records_its_refresh_token_whole_and_after_the_changes_before_it(
    gql: GraphQLClient, engine: AsyncEngine
) -> None:
    # Given an account that signs in
    me = await gql.sign_up()
    signed_in = await gql(
        "mutation($i: LoginInput!) { login(input: $i) { session { refreshToken } errors { code } } }",
        {"i": {"email": me.email, "password": PASSWORD}},
    )
    login = signed_in.data["login"]
    assert login["errors"] == []
    # (one statement finds the account, one writes the refresh token with its event)
    assert signed_in.statements == 2
    # And whose new refresh token is then used (the used one's change comes first in that unit of work)
    await gql.mutate(
        "refreshToken", {"refreshToken": login["session"]["refreshToken"]}, "session { accessToken }", token=None
    )
    user_id = pk(me.user_id)
    async with engine.connect() as conn:
        stored = (
            (
                await conn.execute(
                    sa.text("SELECT * FROM refresh_tokens WHERE token_hash = :h"),
                    {"h": hash_refresh_secret(login["session"]["refreshToken"])},
                )
            )
            .mappings()
            .one()
        )
    events = await raw_events(engine, user_id)
    # Then the sign-in's event is the token's creation, every column as stored, by the user who signed in
    [minted] = [e for e in events if e["operation"] == "login"]
    assert minted["action"] == "RefreshToken.create"
    assert minted["actor_user_id"] == user_id
    assert minted["actor_label"] == "password"
    assert minted["target_id"] == str(stored["id"])
    assert set(minted["changes"]) == set(stored.keys())
    assert minted["changes"]["user_id"] == {"before": None, "after": str(user_id)}
    assert minted["changes"]["family_id"] == {"before": None, "after": str(stored["family_id"])}
    assert minted["changes"]["expires_at"] == {"before": None, "after": stored["expires_at"].isoformat()}
    assert minted["changes"]["token_hash"] == {"before": None, "after": "[redacted]"}
    assert minted["changes"]["used_at"] == {"before": None, "after": None}
    # And the refresh recorded the used token, then the new one, in that order
    refreshed = [e["action"] for e in events if e["operation"] == "refreshToken"]
    assert refreshed == ["RefreshToken.update", "RefreshToken.create"]


def test_redaction_is_declared_per_model_with_a_safety_net() -> None:
    from models.audit import is_redacted, redact

    assert is_redacted("users", "password_hash")
    assert is_redacted("refresh_tokens", "token_hash")
    # Named like a secret: redacted whatever the table declares
    for column in ("api_secret", "reset_token", "new_password", "PasswordHint", "content_hash"):
        assert is_redacted("anything", column), column
    assert not is_redacted("users", "email")
    # Declared: redacted though its name says nothing
    table = sa.Table("audit_redaction_test", sa.MetaData(), sa.Column("id", sa.Uuid, primary_key=True))
    table.append_column(sa.Column("pin", sa.Text))
    redact(table, "pin")
    assert is_redacted("audit_redaction_test", "pin")
    with pytest.raises(ValueError, match="no column nope"):
        redact(table, "nope")


# --------------------------------------------------------------- transactions and actors


def _sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def test_a_rolled_back_mutation_leaves_no_event(gql: GraphQLClient, engine: AsyncEngine) -> None:
    me = await gql.sign_up()
    actor = Actor(user_id=pk(me.user_id), role="user")
    scope = AuditScope(actor, "req-1", "createPillar")
    before = len(await raw_events(engine, actor.user_id))

    async def flushed_then_refused(session: AsyncSession) -> None:
        await aurum.create_pillar(session, actor=actor, name="Rolled back", description=None, color=None, icon=None)
        raise ValidationFailed("refused after the flush")

    async def flushed(session: AsyncSession) -> None:
        await aurum.create_pillar(session, actor=actor, name="Kept", description=None, color=None, icon=None)

    # Given work that flushes a new pillar (its event pending), then fails validation
    outcome = await run_unit_of_work(_sessions(engine), InProcessBus(), flushed_then_refused, audit=scope)
    # Then it is rolled back with its event
    assert [e.message for e in outcome.errors] == ["refused after the flush"]
    assert len(await raw_events(engine, actor.user_id)) == before
    # While the same work that succeeds leaves its event, in the unit of work's scope
    await run_unit_of_work(_sessions(engine), InProcessBus(), flushed, audit=scope)
    [event] = (await raw_events(engine, actor.user_id))[before:]
    assert (event["action"], event["operation"], event["request_id"]) == ("Pillar.create", "createPillar", "req-1")
    assert event["changes"]["name"] == {"before": None, "after": "Kept"}

    # Over HTTP: a DomainError from the service (after reads) and a write the database refuses
    pillar = await created(gql, me, "createPillar", "pillar", {"name": "Health"})
    count = len(await raw_events(engine, actor.user_id))
    refused = await gql.call(
        "createArea", {"pillarId": pillar, "name": "A", "importance": 9}, "area { id }", token=me.token
    )
    assert [e["code"] for e in refused["errors"]] == ["VALIDATION"]
    refused = await gql.call("reorderPillars", {"ids": []}, "pillars { id }", token=me.token)
    assert [e["code"] for e in refused["errors"]] == ["VALIDATION"]
    assert len(await raw_events(engine, actor.user_id)) == count


async def test_a_deleted_accounts_events_stay_and_a_failed_write_leaves_none(
    gql: GraphQLClient, engine: AsyncEngine, session: AsyncSession
) -> None:
    me = await gql.sign_up()
    await created(gql, me, "createPillar", "pillar", {"name": "Health"})
    user_id = pk(me.user_id)
    kept = await raw_events(engine, user_id)
    # Given the account deleted (its rows cascade; audit_events has no foreign key to users)
    await session.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": user_id})
    await session.commit()
    # Then its events stay
    assert await raw_events(engine, user_id) == kept
    # And its token's write, refused by the database at the flush, leaves none
    refused = await gql.call("createPillar", {"name": "Ghost"}, "pillar { id }", token=me.token)
    assert [e["code"] for e in refused["errors"]] == ["UNAUTHENTICATED"]
    assert await raw_events(engine, user_id) == kept


async def test_changes_of_one_row_in_one_unit_of_work_are_one_event(engine: AsyncEngine, gql: GraphQLClient) -> None:
    me = await gql.sign_up()
    actor = Actor(user_id=pk(me.user_id), role="user")
    before = len(await raw_events(engine, actor.user_id))

    async def work(session: AsyncSession) -> None:
        pillar = await aurum.create_pillar(session, actor=actor, name="One", description=None, color=None, icon=None)
        await aurum.update_pillar(session, actor=actor, pillar_id=pillar.id, changes={"name": "Two"})
        passing = await aurum.create_pillar(session, actor=actor, name="Gone", description=None, color=None, icon=None)
        await aurum.delete_pillar(session, actor=actor, pillar_id=passing.id)

    await run_unit_of_work(_sessions(engine), InProcessBus(), work, audit=AuditScope(actor))
    # Created then renamed: one create with the final values; created then deleted: nothing
    [event] = (await raw_events(engine, actor.user_id))[before:]
    assert (event["action"], event["changes"]["name"]) == ("Pillar.create", {"before": None, "after": "Two"})
    assert (event["actor_kind"], event["operation"], event["request_id"]) == ("user", None, None)


async def test_outside_requests_only_a_scoped_unit_of_work_records_as_the_system(
    engine: AsyncEngine, gql: GraphQLClient
) -> None:
    me = await gql.sign_up()
    user_id = pk(me.user_id)
    before = len(await raw_events(engine, user_id))

    async def notify(session: AsyncSession) -> None:
        await notifications.notify(session, user_id=user_id, product="aurum", kind="test", title="Hello")

    # The job worker's own transactions carry no scope: nothing is recorded
    await run_in_transaction(_sessions(engine), notify)
    assert len(await raw_events(engine, user_id)) == before
    # A periodic task's (the insights sweep's) does: recorded as the system, by its name
    await run_in_transaction(_sessions(engine), notify, audit=AuditScope(Actor.system("aurum.sweep_insights")))
    [event] = (await raw_events(engine, user_id))[before:]
    assert (event["actor_kind"], event["actor_label"], event["actor_user_id"]) == (
        "system",
        "aurum.sweep_insights",
        None,
    )
    assert (event["action"], event["user_id"]) == ("Notification.create", user_id)


async def test_a_core_write_that_nothing_records_is_refused(engine: AsyncEngine, gql: GraphQLClient) -> None:
    me = await gql.sign_up()
    actor = Actor(user_id=pk(me.user_id), role="user")
    async with _sessions(engine)() as session:
        tree = await create_tree(
            session, user_id=actor.user_id, pillars=1, areas_per_pillar=1, projects_per_area=1, tasks_per_project=2
        )
        await session.commit()
    rename = sa.update(Task).where(Task.id == tree.tasks[0]).values(title="Renamed")  # type: ignore[arg-type]

    async def unrecorded(session: AsyncSession) -> None:
        await session.execute(rename)

    async def recorded(session: AsyncSession) -> None:
        await session.execute(rename.execution_options(**audit.RECORDED))

    # In an audited unit of work, a Core UPDATE of an audited table that nothing records fails
    with pytest.raises(UnauditedWrite, match="UPDATE on tasks"):
        await run_unit_of_work(_sessions(engine), InProcessBus(), unrecorded, audit=AuditScope(actor))
    # Marked as recorded by its caller, or outside any audited unit of work, it runs
    await run_unit_of_work(_sessions(engine), InProcessBus(), recorded, audit=AuditScope(actor))
    await run_in_transaction(_sessions(engine), unrecorded)


async def test_the_request_id_is_recorded(gql: GraphQLClient) -> None:
    me = await gql.sign_up()
    mutation = 'mutation { createPillar(input: {name: "Traced"}) { pillar { id } errors { code } } }'
    response = await gql.http.post(
        "/graphql",
        json={"query": mutation},
        headers={"Authorization": f"Bearer {me.token}", "X-Request-ID": "trace-42"},
    )
    assert response.json()["data"]["createPillar"]["errors"] == []
    event = only(await trail(gql, me), "createPillar")
    assert event["requestId"] == "trace-42"


# ------------------------------------------------------------------------------ reads


async def test_another_user_cannot_read_your_trail_by_any_id(gql: GraphQLClient) -> None:
    me, other = await gql.sign_up(), await gql.sign_up()
    pillar = await created(gql, me, "createPillar", "pillar", {"name": "Mine"})
    mine = await trail(gql, me)
    ids = [e["id"] for e in mine]
    theirs = await trail(gql, other)
    # Their own trail holds none of mine, filtered by my object or not
    assert not set(ids) & {e["id"] for e in theirs}
    assert await trail(gql, other, target=pillar) == []
    assert await trail(gql, other, actorUser=me.user_id) == []
    # By node and nodes: null, exactly like an id that never existed
    query = "query($id: ID!, $ids: [ID!]!) { node(id: $id) { id } nodes(ids: $ids) { id } }"
    data = (await gql(query, {"id": ids[0], "ids": ids}, token=other.token)).data
    assert data == {"node": None, "nodes": [None] * len(ids)}
    data = (await gql(query, {"id": ids[0], "ids": ids}, token=me.token)).data
    assert data["node"] == {"id": ids[0]}
    assert [n["id"] for n in data["nodes"]] == ids
    # Signed out, there is no trail
    assert (await gql(TRAIL, {"first": 5})).data == {"viewer": None}


async def test_the_trail_filters_and_pages(gql: GraphQLClient, session: AsyncSession) -> None:
    me = await gql.sign_up()
    health = await created(gql, me, "createPillar", "pillar", {"name": "Health"})
    await make(gql, me, "updatePillar", {"id": health, "name": "Body"}, "pillar { id }")
    work = await created(gql, me, "createPillar", "pillar", {"name": "Work"})
    everything = await trail(gql, me)
    assert len(everything) == 5  # the account, its refresh token, two pillars and a rename

    by_target = await trail(gql, me, target=health)
    assert [e["action"] for e in by_target] == ["Pillar.update", "Pillar.create"]
    assert [e["action"] for e in await trail(gql, me, action=["Pillar.create"])] == ["Pillar.create"] * 2
    assert len(await trail(gql, me, action=["Pillar.create", "User.create"], target=work)) == 1
    assert len(await trail(gql, me, actorKind=["USER"])) == 5
    assert await trail(gql, me, actorKind=["SYSTEM", "API_CLIENT"]) == []
    assert len(await trail(gql, me, actorUser=me.user_id)) == 5
    assert len(await trail(gql, me, actorLabel="password")) == 2  # registering: by the password
    assert await trail(gql, me, actorUser=to_global_id("User", uuid.uuid4())) == []
    # A time range: from is inclusive, to exclusive
    rename_at = only(everything, "updatePillar")["at"]
    assert [e["operation"] for e in await trail(gql, me, **{"from": rename_at})] == ["createPillar", "updatePillar"]
    assert len(await trail(gql, me, to=rename_at)) == 3
    assert len(await trail(gql, me, **{"from": rename_at, "to": rename_at})) == 0
    # Oldest first, and page by page
    oldest = (await gql(TRAIL, {"first": 100, "order": "TIME_ASC"}, token=me.token)).data
    assert [e["id"] for e in oldest["viewer"]["auditTrail"]["nodes"]] == [e["id"] for e in reversed(everything)]
    seen: list[str] = []
    after = None
    while True:
        page = (await gql(TRAIL, {"first": 2, "after": after}, token=me.token)).data["viewer"]["auditTrail"]
        seen += [e["id"] for e in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [e["id"] for e in everything]
    # An id that is not one: a typed error, on the filter
    for bad in ({"target": "nope"}, {"target": to_global_id("Bogus", uuid.uuid4())}, {"actorUser": health}):
        response = await gql(TRAIL, {"first": 5, "filter": bad}, token=me.token)
        assert response.error_codes == ["INVALID_ID"], bad
        # The document's one statement declined the value; the resolvers worded the error
        assert response.body["extensions"]["sql"]["fallback"] == "filter value refused"


async def test_reading_the_trail_costs_one_statement_at_any_size(gql: GraphQLClient, session: AsyncSession) -> None:
    from tests.factories import create_audit_events

    costs = []
    for count in (5, 50):
        me = await gql.sign_up()
        await create_audit_events(session, user_id=pk(me.user_id), count=count)
        await session.commit()
        response = await gql(TRAIL, {"first": 100}, token=me.token)
        assert response.data["viewer"]["auditTrail"]["totalCount"] == count + 2
        costs.append(response.statements)
    assert costs == [1, 1]


# ----------------------------------------------------------------- nobody can change it


async def test_the_database_refuses_to_change_or_delete_an_event(gql: GraphQLClient, engine: AsyncEngine) -> None:
    me = await gql.sign_up()
    [first, *_] = await raw_events(engine, pk(me.user_id))
    for statement in (
        "UPDATE audit_events SET action = 'Forged.update' WHERE id = :id",
        "DELETE FROM audit_events WHERE id = :id",
        "TRUNCATE audit_events",
    ):
        async with engine.connect() as conn:
            with pytest.raises(sa.exc.DBAPIError) as refused:
                await conn.execute(sa.text(statement), {"id": first["id"]})
        cause = refused.value.orig.__cause__  # type: ignore[union-attr]
        assert isinstance(cause, asyncpg.InsufficientPrivilegeError), statement
        assert "audit_events is append-only" in str(cause)
    assert (await raw_events(engine, pk(me.user_id)))[0] == first


def test_the_api_has_no_mutation_of_the_trail() -> None:
    import graphql

    schema = graphql.build_schema(printable_schema())
    mutation = schema.mutation_type
    assert mutation is not None
    for name, definition in mutation.fields.items():
        payload = graphql.get_named_type(definition.type)
        assert "audit" not in name.lower(), name
        assert isinstance(payload, graphql.GraphQLObjectType)
        assert all(graphql.get_named_type(f.type).name != "AuditEvent" for f in payload.fields.values()), name
    assert "AuditEvent" in schema.type_map  # it exists, to be read
