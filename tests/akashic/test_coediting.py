"""Live co-editing of a message's draft over real WebSockets (graphql-transport-ws): editors
converge, the debounce and the last leave save versions, across two processes through Redis,
with the real `yjs` npm package in a browser-side client; who may watch, who may edit, and what
a bad update gets."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pycrdt import Doc, Text
from starlette.applications import Starlette

from services.akashic.drafts import draft_document
from tests.akashic.coediting_support import (
    CHANGES,
    DRAFT,
    PRESENCE_TTL,
    SAVE_SECONDS,
    Editor,
    http_client,
    saved_version,
    send,
    server_pair,
)
from tests.akashic.support import AkashicFactory
from tests.conftest import make_settings
from tests.live.conftest import Feed, LiveServer, redis_url, running_app, serve, ws_session
from tests.live.test_redis import ServerProcess
from tests.node_clients import ensure_installed, run_script
from tests.support import GraphQLClient

__all__ = ["redis_url"]  # the live tests' Redis fixture, for the two processes


@pytest.fixture(scope="module")
async def coedit_app(database_url: str, data_dir: Path) -> AsyncIterator[Starlette]:
    settings = make_settings(
        database_url, data_dir, akashic_draft_save_seconds=SAVE_SECONDS, akashic_presence_ttl_seconds=PRESENCE_TTL
    )
    async with running_app(settings) as application:
        yield application


@pytest.fixture(scope="module")
async def coedit_server(coedit_app: Starlette) -> AsyncIterator[LiveServer]:
    async with serve(coedit_app) as server:
        yield server


@pytest.fixture
async def coedit_gql(coedit_server: LiveServer) -> AsyncIterator[GraphQLClient]:
    async with http_client(coedit_server.http) as client:
        yield client


def test_rooms_opened_apart_on_one_version_share_its_history() -> None:
    """Two processes open a room on the same version, each on its own: their documents are the
    same Yjs history, so an edit made in one merges into the other without doubling the text."""
    version = uuid.uuid4()
    first, second = draft_document(version, "Join us.", None), draft_document(version, "Join us.", None)
    assert first.get_update() == second.get_update()
    edit: Doc = Doc()
    edit.apply_update(first.get_update())
    before = edit.get_state()
    edit.get("body", type=Text).insert(0, "Please ")
    second.apply_update(edit.get_update(before))
    second.apply_update(first.get_update())  # the other room's catch-up: nothing new
    assert str(second.get("body", type=Text)) == "Please Join us."
    # A version's saved state wins over its text (the open rooms' history), unless it is not its text
    assert draft_document(version, "Please Join us.", second.get_update()).get_update() == second.get_update()
    assert str(draft_document(version, "Other text", second.get_update()).get("body", type=Text)) == "Other text"


async def test_two_editors_converge_the_debounce_saves_once_and_leaving_saves(
    coedit_server: LiveServer, coedit_gql: GraphQLClient
) -> None:
    factory = AkashicFactory(coedit_gql)
    campaign = await factory.campaign()
    manager = campaign.manager
    director, _ = await factory.staff(campaign, "communications_director")
    message = await factory.message(campaign, "Join us Saturday.")
    async with (
        ws_session(coedit_server.ws, manager.token) as manager_ws,
        ws_session(coedit_server.ws, director.token) as director_ws,
    ):
        changes = Feed(manager_ws, CHANGES, {"id": campaign.id})
        assert (await changes.next())["campaignMessageChanges"]["state"] == "STARTED"
        a = Editor(Feed(manager_ws, DRAFT, {"id": message.id}), coedit_gql, manager.token)
        b = Editor(Feed(director_ws, DRAFT, {"id": message.id}), coedit_gql, director.token)
        for editor in (a, b):
            state = await editor.join()
            assert state["text"] == "Join us Saturday."
            assert state["baseVersion"]["id"] == message.version

        # Both edit at once, each on the text it has: Yjs merges the two
        sent = await asyncio.gather(a.edit(0, "Please "), b.edit(len("Join us Saturday"), " at noon"))
        assert [payload["errors"] for payload in sent] == [[], []]
        want = "Please Join us Saturday at noon."
        await a.receive_until(want)
        await b.receive_until(want)

        # The debounce saves the converged text once, as the last editor, naming both
        version = await saved_version(changes)
        assert version["number"] == 2
        assert version["body"] == want
        assert version["summary"].startswith("Co-edited by ")
        assert set(version["summary"].removeprefix("Co-edited by ").split(", ")) == {
            "Manager",
            "communications_director",
        }
        await changes.quiet(SAVE_SECONDS * 3)

        # An edit, then everyone leaves: the leave saves it (no later debounce saves it again)
        await a.edit(0, "Friends: ")
        await b.receive_until("Friends: " + want)
        await a.feed.close()
        await b.feed.close()
        version = await saved_version(changes)
        assert (version["number"], version["body"]) == (3, "Friends: " + want)
        await changes.quiet(SAVE_SECONDS * 3)

        # A new editor starts from the saved text
        c = Editor(Feed(director_ws, DRAFT, {"id": message.id}), coedit_gql, director.token)
        assert (await c.join())["baseVersion"]["number"] == 3
        assert c.text == "Friends: " + want
        await c.feed.close()
        await changes.close()


async def test_a_second_tab_of_one_editor_gets_the_state_as_of_its_joining(
    coedit_server: LiveServer, coedit_gql: GraphQLClient
) -> None:
    """Identical subscriptions of one user share one stream elsewhere; a draft's never does, or
    the second tab would get the first's (stale) state and miss the edits made in between."""
    factory = AkashicFactory(coedit_gql)
    campaign = await factory.campaign()
    message = await factory.message(campaign, "Rally at noon.")
    async with ws_session(coedit_server.ws, campaign.manager.token) as manager_ws:
        first = Editor(Feed(manager_ws, DRAFT, {"id": message.id}), coedit_gql, campaign.manager.token)
        await first.join()
        assert (await first.edit(0, "Big "))["errors"] == []
        await first.receive_until("Big Rally at noon.")
        second = Editor(Feed(manager_ws, DRAFT, {"id": message.id}), coedit_gql, campaign.manager.token)
        assert (await second.join())["text"] == "Big Rally at noon."
        await first.feed.close()
        await second.feed.close()


async def test_a_volunteer_watches_but_cannot_edit_an_outsider_cannot_watch_and_bad_updates_are_refused(
    coedit_server: LiveServer, coedit_gql: GraphQLClient
) -> None:
    factory = AkashicFactory(coedit_gql)
    campaign = await factory.campaign()
    manager = campaign.manager
    volunteer, volunteer_membership = await factory.staff(campaign, "volunteer")
    outsider = await coedit_gql.sign_up()
    message = await factory.message(campaign, "Vote.")
    async with (
        ws_session(coedit_server.ws, manager.token) as manager_ws,
        ws_session(coedit_server.ws, volunteer.token) as volunteer_ws,
        ws_session(coedit_server.ws, outsider.token) as outsider_ws,
    ):
        refused = Feed(outsider_ws, DRAFT, {"id": message.id})
        error = await refused.end()
        assert error is not None
        assert error.errors[0]["extensions"] == {"code": "NOT_FOUND", "argument": "messageId"}  # type: ignore[attr-defined]

        watcher = Editor(Feed(volunteer_ws, DRAFT, {"id": message.id}), coedit_gql, volunteer.token)
        await watcher.join()
        editor = Editor(Feed(manager_ws, DRAFT, {"id": message.id}), coedit_gql, manager.token)
        await editor.join()

        # The volunteer may watch, not edit
        refused_edit: Doc = Doc()
        refused_edit.get("body", type=Text).insert(0, "Don't ")
        forbidden = await send(coedit_gql, volunteer.token, message.id, refused_edit.get_update())
        assert [(e["code"], e["permission"]) for e in forbidden["errors"]] == [("FORBIDDEN", "messages.draft")]
        # An outsider's update: the message is not found, as for one that does not exist
        outsiders = await send(coedit_gql, outsider.token, message.id, Doc().get_update())
        assert [e["code"] for e in outsiders["errors"]] == ["NOT_FOUND"]
        # Not base64, and base64 of something that is not a Yjs update: typed errors
        for bad in ("not base64!", base64.b64encode(b"hello world").decode(), ""):
            payload = await send(coedit_gql, manager.token, message.id, bad)
            assert [(e["code"], e["field"]) for e in payload["errors"]] == [("VALIDATION", ["input", "update"])], bad

        # Only the manager's edit reached the volunteer
        await editor.edit(len("Vote"), " early")
        update = await watcher.receive()
        assert update["sender"]["id"] == manager.user_id
        assert watcher.text == "Vote early."

        # An edit of a message in review sends it back to draft; a scheduled one can't be edited
        await factory.ok("submitMessage", {"messageId": message.id}, "__typename", manager.token)
        edited = await editor.edit(0, "Please ")
        assert (edited["errors"], edited["message"]["status"]) == ([], "DRAFT")
        await factory.ok("submitMessage", {"messageId": message.id}, "__typename", manager.token)
        await factory.ok("approveMessage", {"messageId": message.id}, "__typename", manager.token)
        await factory.ok(
            "scheduleMessage", {"messageId": message.id, "sendAt": "2099-01-01T09:00:00Z"}, "__typename", manager.token
        )
        late = await editor.edit(0, "Now: ")
        assert [e["code"] for e in late["errors"]] == ["INVALID_TRANSITION"]
        await factory.ok("requestMessageChanges", {"messageId": message.id}, "__typename", manager.token)

        # Removed from the staff, the volunteer's stream ends with NOT_FOUND at the next update
        await watcher.receive_until("Please Vote early.")
        await factory.ok("removeMember", {"id": volunteer_membership}, "__typename", manager.token)
        # (the manager's own doc holds the refused edit: the next one is made on the server's text)
        server_text: Doc = Doc()
        server_text.apply_update(watcher.doc.get_update())
        before = server_text.get_state()
        server_text.get("body", type=Text).insert(0, "Team: ")
        assert (await send(coedit_gql, manager.token, message.id, server_text.get_update(before)))["errors"] == []
        ended = await watcher.feed.end()
        assert ended is not None
        assert ended.errors[0]["extensions"] == {"code": "NOT_FOUND", "argument": "messageId"}  # type: ignore[attr-defined]
        await editor.feed.close()


async def test_a_browser_client_with_yjs_joins_edits_and_everyone_sees_it(
    coedit_server: LiveServer, coedit_gql: GraphQLClient
) -> None:
    # Installed first: the feeds below time their waits
    await asyncio.to_thread(ensure_installed)
    factory = AkashicFactory(coedit_gql)
    campaign = await factory.campaign()
    manager = campaign.manager
    organizer, _ = await factory.staff(campaign, "field_organizer")
    message = await factory.message(campaign, "Doors open at six.")
    async with ws_session(coedit_server.ws, manager.token) as manager_ws:
        changes = Feed(manager_ws, CHANGES, {"id": campaign.id})
        assert (await changes.next())["campaignMessageChanges"]["state"] == "STARTED"
        python = Editor(Feed(manager_ws, DRAFT, {"id": message.id}), coedit_gql, manager.token)
        await python.join()
        browser = asyncio.create_task(
            run_script(
                "yjs_coedit.mjs",
                env={
                    "QUINTET_HTTP": f"{coedit_server.http}/graphql",
                    "QUINTET_WS": coedit_server.ws,
                    "TOKEN": organizer.token,
                    "USER_ID": organizer.user_id,
                    "MESSAGE_ID": message.id,
                    "INSERT": "Bring a friend. ",
                },
            )
        )
        # The browser's edit reaches the Python editor (a browser that fails says why at once,
        # not as this editor's timeout); its answer reaches the browser
        heard = asyncio.create_task(python.receive_until("Bring a friend. Doors open at six."))
        await asyncio.wait({heard, browser}, return_when=asyncio.FIRST_COMPLETED)
        if browser.done() and not heard.done():
            heard.cancel()
            raise AssertionError(f"the browser ended before its edit was heard: {browser.result()}")
        await heard
        await python.edit(len(python.text), " See you there!")
        result = await browser
        want = "Bring a friend. Doors open at six. See you there!"
        assert result["joined"] == "Doors open at six."
        assert result["text"] == want
        # The server's document holds it too: it is what the room saves
        await python.feed.close()
        assert (await saved_version(changes))["body"] == want
        await changes.close()


# ------------------------------------------------------------------ two processes


@pytest.fixture
def two_servers(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    yield from server_pair(database_url, redis_url, tmp_path)


async def test_an_update_on_one_process_reaches_an_editor_on_the_other(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = two_servers
    await a.ready()
    await b.ready()
    async with http_client(a.server.http) as on_a, http_client(b.server.http) as on_b:
        factory = AkashicFactory(on_a)
        campaign = await factory.campaign()
        manager = campaign.manager
        director, _ = await factory.staff(campaign, "communications_director")
        message = await factory.message(campaign, "Canvass Sunday.")
        async with (
            ws_session(a.server.ws, manager.token) as a_ws,
            ws_session(b.server.ws, director.token) as b_ws,
        ):
            changes = Feed(a_ws, CHANGES, {"id": campaign.id})
            assert (await changes.next())["campaignMessageChanges"]["state"] == "STARTED"
            on_process_a = Editor(Feed(a_ws, DRAFT, {"id": message.id}), on_a, manager.token)
            on_process_b = Editor(Feed(b_ws, DRAFT, {"id": message.id}), on_b, director.token)
            await on_process_a.join()
            await on_process_b.join()
            # Through A, heard on B; through B, heard on A
            await on_process_a.edit(0, "Please ")
            await on_process_b.receive_until("Please Canvass Sunday.")
            await on_process_b.edit(len("Please Canvass Sunday"), " morning")
            want = "Please Canvass Sunday morning."
            await on_process_a.receive_until(want)
            # Both processes' rooms may save; the version line lets one: one version of that text
            version = await saved_version(changes)
            assert (version["number"], version["body"]) == (2, want)
            await changes.quiet(SAVE_SECONDS * 3)

            # B's editor leaves (B's room closes) while A's stays; a new editor on B starts from the
            # saved version's Yjs state, A's history: their edits merge without doubling the text
            await on_process_b.feed.close()
            late = Editor(Feed(b_ws, DRAFT, {"id": message.id}), on_b, director.token)
            state = await late.join()
            assert (state["baseVersion"]["number"], late.text) == (2, want)
            await on_process_a.edit(0, "All: ")
            await late.receive_until("All: " + want)
            await late.edit(len(late.text) - 1, ", 9am")
            final = "All: Please Canvass Sunday morning, 9am."
            await on_process_a.receive_until(final)
            await on_process_a.feed.close()
            await late.feed.close()
            assert (await saved_version(changes))["body"] == final
            await changes.quiet(SAVE_SECONDS * 3)
            await changes.close()
        versions = await on_b(
            "query($id: ID!) { node(id: $id) { ... on Message { versions(first: 10) { edges { node { body } } } } } }",
            {"id": message.id},
            token=director.token,
        )
        bodies = [edge["node"]["body"] for edge in versions.data["node"]["versions"]["edges"]]
        assert bodies == [final, want, "Canvass Sunday."]
