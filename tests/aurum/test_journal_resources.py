"""Journal entries and templates, and resources (links and attachment records), over GraphQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.aurum.conftest import AurumFactory
from tests.support import GraphQLClient

ENTRY = "journalEntry { id title body mood tags createdAt updatedAt template { id name prompts } }"
TEMPLATE = "journalTemplate { id name description prompts }"
RESOURCE = "resource { id kind title url fileName contentType sizeBytes createdAt project { id } task { id } }"


async def entry_node(gql: GraphQLClient, token: str, id: str) -> Any:
    query = """query($id: ID!) { node(id: $id) { ... on JournalEntry {
        title body mood tags template { id name } } } }"""
    return (await gql(query, {"id": id}, token=token)).data["node"]


async def journal_count(gql: GraphQLClient, token: str) -> int:
    result = await gql("{ viewer { journalEntries { totalCount } } }", token=token)
    return int(result.data["viewer"]["journalEntries"]["totalCount"])


async def resource_count(gql: GraphQLClient, token: str) -> int:
    result = await gql("{ viewer { resources { totalCount } } }", token=token)
    return int(result.data["viewer"]["resources"]["totalCount"])


# ------------------------------------------------------------------------- journal entries


async def test_create_entry_normalises_tags(gql: GraphQLClient) -> None:
    # Given a user
    me = await gql.sign_up()
    # When they write an entry with a mood and messy tags
    payload = await gql.mutate(
        "createJournalEntry",
        {
            "title": "  Morning  ",
            "body": "Slept well.",
            "mood": 7,
            "tags": [" Gratitude", "gratitude", "WORK", "", "   ", "work ", "Sleep"],
        },
        ENTRY,
        token=me.token,
    )
    entry = payload["journalEntry"]
    # Then tags are trimmed, lower-cased and de-duplicated in first-seen order, blanks dropped
    assert entry["tags"] == ["gratitude", "work", "sleep"]
    assert (entry["title"], entry["body"], entry["mood"]) == ("Morning", "Slept well.", 7)
    assert entry["template"] is None
    # And the entry reads back the same
    assert await entry_node(gql, me.token, entry["id"]) == {
        "title": "Morning",
        "body": "Slept well.",
        "mood": 7,
        "tags": ["gratitude", "work", "sleep"],
        "template": None,
    }


async def test_entry_without_mood_or_tags(gql: GraphQLClient) -> None:
    # Given a user; when an entry is written with only a title and a body
    me = await gql.sign_up()
    payload = await gql.mutate("createJournalEntry", {"title": "T", "body": "B"}, ENTRY, token=me.token)
    # Then mood is null and tags are an empty list
    assert payload["journalEntry"]["mood"] is None
    assert payload["journalEntry"]["tags"] == []


@pytest.mark.parametrize("mood", [1, 10])
async def test_mood_bounds_are_accepted(gql: GraphQLClient, mood: int) -> None:
    # Given a user; when an entry has a mood at either end of 1..10
    me = await gql.sign_up()
    payload = await gql.mutate("createJournalEntry", {"title": "T", "body": "B", "mood": mood}, ENTRY, token=me.token)
    # Then it is saved
    assert payload["journalEntry"]["mood"] == mood


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"mood": 0}, "mood"),
        ({"mood": 11}, "mood"),
        ({"mood": -5}, "mood"),
        ({"title": "  "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"body": ""}, "body"),
        ({"tags": ["x" * 41]}, "tags"),
        ({"tags": [f"tag{i}" for i in range(21)]}, "tags"),
    ],
)
async def test_invalid_entry_is_refused_and_nothing_saved(
    gql: GraphQLClient, values: dict[str, Any], field: str
) -> None:
    # Given a user
    me = await gql.sign_up()
    # When an entry with an invalid value is written
    payload = await gql.call(
        "createJournalEntry", {"title": "T", "body": "B", **values}, "journalEntry { id }", token=me.token
    )
    # Then it is a VALIDATION error on that field and no entry exists
    assert [(e["__typename"], e["code"], e["field"]) for e in payload["errors"]] == [
        ("ValidationError", "VALIDATION", ["input", field])
    ]
    assert payload["journalEntry"] is None
    assert await journal_count(gql, me.token) == 0


async def test_twenty_tags_after_deduplication_are_accepted(gql: GraphQLClient) -> None:
    # Given a user; when 25 tags are sent that collapse to 20 distinct ones
    me = await gql.sign_up()
    tags = [f"tag{i}" for i in range(20)] + [f"TAG{i}" for i in range(5)]
    payload = await gql.mutate("createJournalEntry", {"title": "T", "body": "B", "tags": tags}, ENTRY, token=me.token)
    # Then the 20 distinct tags are saved
    assert payload["journalEntry"]["tags"] == [f"tag{i}" for i in range(20)]


async def test_entry_from_a_template_keeps_existing_when_the_template_is_deleted(gql: GraphQLClient) -> None:
    # Given a template with prompts, and an entry written from it
    me = await gql.sign_up()
    template = (
        await gql.mutate(
            "createJournalTemplate",
            {"name": "Evening review", "prompts": ["What went well?", "What to improve?"]},
            TEMPLATE,
            token=me.token,
        )
    )["journalTemplate"]
    entry = (
        await gql.mutate(
            "createJournalEntry",
            {"title": "Tuesday", "body": "Good day.", "templateId": template["id"]},
            ENTRY,
            token=me.token,
        )
    )["journalEntry"]
    # Then the entry's template resolves
    assert entry["template"] == {
        "id": template["id"],
        "name": "Evening review",
        "prompts": ["What went well?", "What to improve?"],
    }
    # When the template is deleted
    deleted = await gql.mutate("deleteJournalTemplate", {"id": template["id"]}, "deletedId", token=me.token)
    # Then the entry remains, with no template
    assert deleted["deletedId"] == template["id"]
    stored = await entry_node(gql, me.token, entry["id"])
    assert stored["title"] == "Tuesday"
    assert stored["template"] is None
    listed = await gql("{ viewer { journalEntries { nodes { id template { id } } } } }", token=me.token)
    assert listed.data["viewer"]["journalEntries"]["nodes"] == [{"id": entry["id"], "template": None}]
    # And the template is gone
    gone = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": template["id"]}, token=me.token)
    assert gone.data["node"] is None


async def test_entry_with_someone_elses_or_a_wrong_template_id_is_refused(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given another user's template, and one of my pillars
    me = await gql.sign_up()
    them = await gql.sign_up()
    theirs = (await gql.mutate("createJournalTemplate", {"name": "Theirs"}, TEMPLATE, token=them.token))[
        "journalTemplate"
    ]
    pillar = await aurum_factory.pillar(me.token)
    # When I write an entry from their template, or pass a pillar's ID as the template
    foreign = await gql.call(
        "createJournalEntry",
        {"title": "T", "body": "B", "templateId": theirs["id"]},
        "journalEntry { id }",
        token=me.token,
    )
    wrong = await gql.call(
        "createJournalEntry", {"title": "T", "body": "B", "templateId": pillar}, "journalEntry { id }", token=me.token
    )
    # Then it is NOT_FOUND (resp. VALIDATION) on templateId, and nothing is saved
    assert [(e["code"], e["field"]) for e in foreign["errors"]] == [("NOT_FOUND", ["input", "templateId"])]
    assert [(e["code"], e["field"]) for e in wrong["errors"]] == [("VALIDATION", ["input", "templateId"])]
    assert await journal_count(gql, me.token) == 0


async def test_update_entry_semantics(gql: GraphQLClient) -> None:
    # Given an entry with a mood and tags
    me = await gql.sign_up()
    created = (
        await gql.mutate(
            "createJournalEntry", {"title": "Day", "body": "Text", "mood": 4, "tags": ["a", "b"]}, ENTRY, token=me.token
        )
    )["journalEntry"]
    entry_id = created["id"]
    # When only the title changes
    renamed = (await gql.mutate("updateJournalEntry", {"id": entry_id, "title": "Better day"}, ENTRY, token=me.token))[
        "journalEntry"
    ]
    # Then body, mood and tags stay; updatedAt moves on while createdAt stays
    assert (renamed["title"], renamed["body"], renamed["mood"], renamed["tags"]) == (
        "Better day",
        "Text",
        4,
        ["a", "b"],
    )
    assert renamed["createdAt"] == created["createdAt"]
    assert datetime.fromisoformat(renamed["updatedAt"]) > datetime.fromisoformat(created["updatedAt"])
    # When mood is set to null and tags replaced
    changed = (
        await gql.mutate(
            "updateJournalEntry", {"id": entry_id, "mood": None, "tags": ["C", "c", "d"]}, ENTRY, token=me.token
        )
    )["journalEntry"]
    # Then the mood is cleared and the new tags replace the old, normalised
    assert changed["mood"] is None
    assert changed["tags"] == ["c", "d"]
    # When the title is set to null or the mood out of range
    for values, field in (({"title": None}, "title"), ({"mood": 0}, "mood"), ({"body": None}, "body")):
        payload = await gql.call(
            "updateJournalEntry", {"id": entry_id, "tags": ["zzz"], **values}, "journalEntry { id }", token=me.token
        )
        # Then it is a VALIDATION error on that field and nothing changes
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [("VALIDATION", ["input", field])]
    stored = await entry_node(gql, me.token, entry_id)
    assert (stored["title"], stored["tags"], stored["mood"]) == ("Better day", ["c", "d"], None)


async def test_delete_entry(gql: GraphQLClient) -> None:
    # Given two entries
    me = await gql.sign_up()
    keep = (await gql.mutate("createJournalEntry", {"title": "Keep", "body": "B"}, ENTRY, token=me.token))[
        "journalEntry"
    ]
    drop = (await gql.mutate("createJournalEntry", {"title": "Drop", "body": "B"}, ENTRY, token=me.token))[
        "journalEntry"
    ]
    # When one is deleted
    payload = await gql.mutate("deleteJournalEntry", {"id": drop["id"]}, "deletedId", token=me.token)
    # Then it is gone and the other stays
    assert payload["deletedId"] == drop["id"]
    assert await entry_node(gql, me.token, drop["id"]) is None
    assert (await entry_node(gql, me.token, keep["id"]))["title"] == "Keep"
    assert await journal_count(gql, me.token) == 1
    # And deleting it again is NOT_FOUND
    again = await gql.call("deleteJournalEntry", {"id": drop["id"]}, "deletedId", token=me.token)
    assert [e["code"] for e in again["errors"]] == ["NOT_FOUND"]
    assert again["deletedId"] is None


async def test_journal_entries_are_newest_first_by_default(gql: GraphQLClient) -> None:
    # Given three entries written one after another
    me = await gql.sign_up()
    for title in ("first", "second", "Third"):
        await gql.mutate("createJournalEntry", {"title": title, "body": "B"}, "journalEntry { id }", token=me.token)
    query = """{ viewer {
        default: journalEntries { totalCount nodes { title } }
        oldest: journalEntries(orderBy: CREATED_AT_ASC) { nodes { title } }
        byTitle: journalEntries(orderBy: TITLE_ASC) { nodes { title } }
        page: journalEntries(first: 2) { nodes { title } pageInfo { hasNextPage } } } }"""
    # When the viewer's entries are listed
    viewer = (await gql(query, token=me.token)).data["viewer"]
    # Then the default is newest first, and the other orders hold
    assert [e["title"] for e in viewer["default"]["nodes"]] == ["Third", "second", "first"]
    assert viewer["default"]["totalCount"] == 3
    assert [e["title"] for e in viewer["oldest"]["nodes"]] == ["first", "second", "Third"]
    assert [e["title"] for e in viewer["byTitle"]["nodes"]] == ["first", "second", "Third"]
    assert [e["title"] for e in viewer["page"]["nodes"]] == ["Third", "second"]
    assert viewer["page"]["pageInfo"]["hasNextPage"] is True


# ------------------------------------------------------------------------ journal templates


async def test_template_crud(gql: GraphQLClient) -> None:
    # Given a user
    me = await gql.sign_up()
    # When a template is created with prompts (some blank, some padded)
    created = (
        await gql.mutate(
            "createJournalTemplate",
            {"name": "Morning", "description": "Start the day", "prompts": ["  Intention? ", "", "Gratitude?"]},
            TEMPLATE,
            token=me.token,
        )
    )["journalTemplate"]
    # Then blank prompts are dropped and the others trimmed, in order
    assert created["prompts"] == ["Intention?", "Gratitude?"]
    assert created["description"] == "Start the day"
    # When only the prompts change, then they are replaced and the rest stays
    reprompted = (
        await gql.mutate(
            "updateJournalTemplate",
            {"id": created["id"], "prompts": ["One?", "Two?", "Three?"]},
            TEMPLATE,
            token=me.token,
        )
    )["journalTemplate"]
    assert reprompted == {**created, "prompts": ["One?", "Two?", "Three?"]}
    # When the description is set to null and the name changed, then both apply and prompts stay
    renamed = (
        await gql.mutate(
            "updateJournalTemplate",
            {"id": created["id"], "name": "Dawn", "description": None},
            TEMPLATE,
            token=me.token,
        )
    )["journalTemplate"]
    assert renamed == {**reprompted, "name": "Dawn", "description": None}
    # When the name is set to null, then it is a VALIDATION error and nothing changes
    refused = await gql.call(
        "updateJournalTemplate", {"id": created["id"], "name": None, "prompts": []}, TEMPLATE, token=me.token
    )
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("VALIDATION", ["input", "name"])]
    listed = await gql("{ viewer { journalTemplates { nodes { name prompts } } } }", token=me.token)
    assert listed.data["viewer"]["journalTemplates"]["nodes"] == [
        {"name": "Dawn", "prompts": ["One?", "Two?", "Three?"]}
    ]
    # When it is deleted, then the viewer has no templates
    await gql.mutate("deleteJournalTemplate", {"id": created["id"]}, "deletedId", token=me.token)
    empty = await gql("{ viewer { journalTemplates { totalCount } } }", token=me.token)
    assert empty.data["viewer"]["journalTemplates"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"prompts": [f"p{i}" for i in range(31)]}, "prompts"),
        ({"prompts": ["x" * 501]}, "prompts"),
    ],
)
async def test_invalid_template_is_refused(gql: GraphQLClient, values: dict[str, Any], field: str) -> None:
    # Given a user; when an invalid template is created
    me = await gql.sign_up()
    payload = await gql.call("createJournalTemplate", {"name": "T", **values}, TEMPLATE, token=me.token)
    # Then it is a VALIDATION error on that field, and no template exists
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("VALIDATION", ["input", field])]
    result = await gql("{ viewer { journalTemplates { totalCount } } }", token=me.token)
    assert result.data["viewer"]["journalTemplates"]["totalCount"] == 0


async def test_templates_are_listed_by_name_without_regard_to_case(gql: GraphQLClient) -> None:
    # Given templates created out of alphabetical order
    me = await gql.sign_up()
    for name in ("evening", "Weekly", "Annual"):
        await gql.mutate("createJournalTemplate", {"name": name}, "journalTemplate { id }", token=me.token)
    # When listed by default, then by name, case-insensitively
    result = await gql("{ viewer { journalTemplates { nodes { name } } } }", token=me.token)
    assert [t["name"] for t in result.data["viewer"]["journalTemplates"]["nodes"]] == ["Annual", "evening", "Weekly"]


# ------------------------------------------------------------------------------- resources


async def test_resources_attach_to_projects_and_tasks_and_list_everywhere(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given a project with a task
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    task = await aurum_factory.task(me.token, tree.project)
    # When a link is added to the project, an attachment to the task, and a loose link
    link = (
        await gql.mutate(
            "createResource",
            {"kind": "LINK", "title": "Plan", "url": "https://example.com/plan", "projectId": tree.project},
            RESOURCE,
            token=me.token,
        )
    )["resource"]
    attachment = (
        await gql.mutate(
            "createResource",
            {
                "kind": "ATTACHMENT",
                "title": "Receipt",
                "fileName": "receipt.pdf",
                "contentType": "application/pdf",
                "sizeBytes": 12345,
                "taskId": task,
            },
            RESOURCE,
            token=me.token,
        )
    )["resource"]
    loose = (
        await gql.mutate(
            "createResource", {"kind": "LINK", "title": "Loose", "url": "http://example.org"}, RESOURCE, token=me.token
        )
    )["resource"]
    # Then each reads back as saved, pointing at its parent
    assert link["kind"] == "LINK"
    assert link["url"] == "https://example.com/plan"
    assert link["project"] == {"id": tree.project}
    assert link["task"] is None
    assert (attachment["kind"], attachment["fileName"], attachment["contentType"], attachment["sizeBytes"]) == (
        "ATTACHMENT",
        "receipt.pdf",
        "application/pdf",
        12345,
    )
    assert attachment["task"] == {"id": task}
    assert attachment["project"] is None
    assert (loose["project"], loose["task"]) == (None, None)
    # And they are listed under their project, their task, and the viewer (newest first)
    query = """query($p: ID!, $t: ID!) {
        p: node(id: $p) { ... on Project { resources { totalCount nodes { id } } } }
        t: node(id: $t) { ... on Task { resources { totalCount nodes { id } } } }
        viewer { resources { totalCount nodes { id } } } }"""
    data = (await gql(query, {"p": tree.project, "t": task}, token=me.token)).data
    assert data["p"]["resources"] == {"totalCount": 1, "nodes": [{"id": link["id"]}]}
    assert data["t"]["resources"] == {"totalCount": 1, "nodes": [{"id": attachment["id"]}]}
    assert [r["id"] for r in data["viewer"]["resources"]["nodes"]] == [loose["id"], attachment["id"], link["id"]]
    assert data["viewer"]["resources"]["totalCount"] == 3


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"kind": "LINK"}, "url"),
        ({"kind": "LINK", "url": "   "}, "url"),
        ({"kind": "LINK", "url": "ftp://example.com/file"}, "url"),
        ({"kind": "LINK", "url": "javascript:alert(1)"}, "url"),
        ({"kind": "LINK", "url": "example.com"}, "url"),
        ({"kind": "ATTACHMENT"}, "fileName"),
        ({"kind": "ATTACHMENT", "fileName": "  "}, "fileName"),
        ({"kind": "ATTACHMENT", "fileName": "a.txt", "sizeBytes": -1}, "sizeBytes"),
        ({"kind": "ATTACHMENT", "fileName": "a.txt", "url": "file:///etc/passwd"}, "url"),
        ({"kind": "LINK", "url": "https://example.com", "title": " "}, "title"),
    ],
)
async def test_invalid_resource_is_refused_and_nothing_saved(
    gql: GraphQLClient, values: dict[str, Any], field: str
) -> None:
    # Given a user
    me = await gql.sign_up()
    # When an invalid resource is created
    payload = await gql.call("createResource", {"title": "R", **values}, "resource { id }", token=me.token)
    # Then it is a VALIDATION error on that field and nothing is saved
    assert [(e["__typename"], e["code"], e["field"]) for e in payload["errors"]] == [
        ("ValidationError", "VALIDATION", ["input", field])
    ]
    assert payload["resource"] is None
    assert await resource_count(gql, me.token) == 0


async def test_resource_cannot_attach_to_both_a_project_and_a_task(
    gql: GraphQLClient, aurum_factory: AurumFactory
) -> None:
    # Given a project with a task
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    task = await aurum_factory.task(me.token, tree.project)
    # When a resource names both
    payload = await gql.call(
        "createResource",
        {"kind": "LINK", "title": "Both", "url": "https://example.com", "projectId": tree.project, "taskId": task},
        "resource { id }",
        token=me.token,
    )
    # Then it is a VALIDATION error and nothing is saved
    assert [e["code"] for e in payload["errors"]] == ["VALIDATION"]
    assert payload["errors"][0]["field"] in (["input", "taskId"], ["input", "projectId"])
    assert await resource_count(gql, me.token) == 0


async def test_resource_on_someone_elses_project_is_not_found(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given another user's project and task
    me = await gql.sign_up()
    them = await gql.sign_up()
    theirs = await aurum_factory.tree(them.token)
    their_task = await aurum_factory.task(them.token, theirs.project)
    # When I attach resources to them
    on_project = await gql.call(
        "createResource",
        {"kind": "LINK", "title": "X", "url": "https://x.example", "projectId": theirs.project},
        "resource { id }",
        token=me.token,
    )
    on_task = await gql.call(
        "createResource",
        {"kind": "ATTACHMENT", "title": "X", "fileName": "x.txt", "taskId": their_task},
        "resource { id }",
        token=me.token,
    )
    # Then both are NOT_FOUND on the parent field, and nothing is saved for either of us
    assert [(e["code"], e["field"]) for e in on_project["errors"]] == [("NOT_FOUND", ["input", "projectId"])]
    assert [(e["code"], e["field"]) for e in on_task["errors"]] == [("NOT_FOUND", ["input", "taskId"])]
    assert await resource_count(gql, me.token) == 0
    assert await resource_count(gql, them.token) == 0


async def test_attachment_sizes_zero_and_large_are_accepted(gql: GraphQLClient) -> None:
    # Given a user; when attachments of zero bytes and of about 2 GB are recorded
    me = await gql.sign_up()
    empty = await gql.mutate(
        "createResource",
        {"kind": "ATTACHMENT", "title": "E", "fileName": "e", "sizeBytes": 0},
        RESOURCE,
        token=me.token,
    )
    large = await gql.mutate(
        "createResource",
        {"kind": "ATTACHMENT", "title": "L", "fileName": "l.iso", "sizeBytes": 2_000_000_000},
        RESOURCE,
        token=me.token,
    )
    # Then both sizes are saved
    assert empty["resource"]["sizeBytes"] == 0
    assert large["resource"]["sizeBytes"] == 2_000_000_000


async def test_update_and_delete_resource(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given a link on a project
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    link = (
        await gql.mutate(
            "createResource",
            {"kind": "LINK", "title": "Docs", "url": "https://example.com/a", "projectId": tree.project},
            RESOURCE,
            token=me.token,
        )
    )["resource"]
    # When the title changes, then the url stays
    renamed = await gql.mutate("updateResource", {"id": link["id"], "title": "Manual"}, RESOURCE, token=me.token)
    assert (renamed["resource"]["title"], renamed["resource"]["url"]) == ("Manual", "https://example.com/a")
    # When the url changes to another http(s) address, then it is saved
    moved = await gql.mutate(
        "updateResource", {"id": link["id"], "url": "HTTPS://example.com/b"}, RESOURCE, token=me.token
    )
    assert moved["resource"]["url"] == "HTTPS://example.com/b"
    # When a link's url is cleared or made non-http, then it is a VALIDATION error and nothing changes
    for url in (None, "mailto:someone@example.com"):
        refused = await gql.call(
            "updateResource", {"id": link["id"], "title": "Changed", "url": url}, "resource { id }", token=me.token
        )
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [("VALIDATION", ["input", "url"])]
    query = "query($id: ID!) { node(id: $id) { ... on Resource { title url } } }"
    assert (await gql(query, {"id": link["id"]}, token=me.token)).data["node"] == {
        "title": "Manual",
        "url": "HTTPS://example.com/b",
    }
    # When it is deleted, then it is gone from the project and the viewer
    deleted = await gql.mutate("deleteResource", {"id": link["id"]}, "deletedId", token=me.token)
    assert deleted["deletedId"] == link["id"]
    assert (await gql(query, {"id": link["id"]}, token=me.token)).data["node"] is None
    assert await resource_count(gql, me.token) == 0


async def test_deleting_a_project_deletes_its_resources(gql: GraphQLClient, aurum_factory: AurumFactory) -> None:
    # Given resources on a project, on its task, and a loose one
    me = await gql.sign_up()
    tree = await aurum_factory.tree(me.token)
    task = await aurum_factory.task(me.token, tree.project)
    link = {"kind": "LINK", "title": "L", "url": "https://example.com"}
    await gql.mutate("createResource", {**link, "projectId": tree.project}, "resource { id }", token=me.token)
    await gql.mutate("createResource", {**link, "taskId": task}, "resource { id }", token=me.token)
    loose = await gql.mutate("createResource", link, "resource { id }", token=me.token)
    # When the project is deleted
    await gql.mutate("deleteProject", {"id": tree.project}, "deletedId", token=me.token)
    # Then only the loose resource remains
    result = await gql("{ viewer { resources { totalCount nodes { id } } } }", token=me.token)
    assert result.data["viewer"]["resources"] == {"totalCount": 1, "nodes": [{"id": loose["resource"]["id"]}]}
