"""Messages under version control: versions with author, parent, number and summary; word-level
diffs; restores; the workflow draft → in review → approved → scheduled → sent with its history;
and the rules, each refused with a typed error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.akashic.support import AkashicFactory
from tests.support import GraphQLClient

MESSAGE = """query M($id: ID!) { node(id: $id) { ... on Message { title channel audienceSegments paid status
  scheduledFor sentAt createdBy { id } campaign { id }
  latestVersion { id number body }
  versions { totalCount nodes { id number body summary author { id } parentVersion { id } restoredFrom { id } } }
  transitions { nodes { fromStatus toStatus note scheduledFor at actor { id } } } } } }"""


async def _message(gql: GraphQLClient, pk: str, token: str) -> dict[str, Any]:
    found: dict[str, Any] = (await gql(MESSAGE, {"id": pk}, token=token)).data["node"]
    return found


async def test_versions_diffs_and_restores(gql: GraphQLClient, akashic_factory: AkashicFactory) -> None:
    campaign = await akashic_factory.campaign()
    organizer, _ = await akashic_factory.staff(campaign, "field_organizer")
    message = await akashic_factory.message(
        campaign, "Join us Saturday at the park.", audienceSegments=["Young voters", " Young voters "], paid=True
    )
    # Saved by the field organizer on the first version: version 2, its parent the first
    second = await akashic_factory.save(
        message, message.version, "Join Maria Saturday at 10 am at the park!", organizer.token
    )
    assert second["errors"] == []
    assert (second["version"]["number"], second["message"]["status"]) == (2, "DRAFT")
    restored = await akashic_factory.ok(
        "restoreMessageVersion", {"versionId": message.version}, "version { id number body }", campaign.manager.token
    )
    assert restored["version"]["number"] == 3
    assert restored["version"]["body"] == "Join us Saturday at the park."

    found = await _message(gql, message.id, campaign.manager.token)
    assert (found["title"], found["channel"], found["audienceSegments"], found["paid"]) == (
        "Rally",
        "EMAIL",
        ["Young voters"],
        True,
    )
    assert found["latestVersion"] == restored["version"]
    versions = found["versions"]["nodes"]
    assert [(v["number"], v["summary"]) for v in versions] == [
        (3, "Restored version 1"),
        (2, "Version 2"),
        (1, "First draft"),
    ]
    assert [v["author"]["id"] for v in versions] == [
        campaign.manager.user_id,
        organizer.user_id,
        campaign.manager.user_id,
    ]
    assert [v["parentVersion"] and v["parentVersion"]["id"] for v in versions] == [
        second["version"]["id"],
        message.version,
        None,
    ]
    assert versions[0]["restoredFrom"] == {"id": message.version}

    # The word-level diff between any two versions, either way round
    diff = await gql(
        """query D($id: ID!, $from: ID!) { node(id: $id) { ... on MessageVersion {
             diffFrom(version: $from) { operation text } } } }""",
        {"id": second["version"]["id"], "from": message.version},
        token=organizer.token,
    )
    assert diff.data["node"]["diffFrom"] == [
        {"operation": "EQUAL", "text": "Join "},
        {"operation": "DELETE", "text": "us "},
        {"operation": "INSERT", "text": "Maria "},
        {"operation": "EQUAL", "text": "Saturday at "},
        {"operation": "DELETE", "text": "the park."},
        {"operation": "INSERT", "text": "10 am at the park!"},
    ]
    # A version of another message, or an id of another type, is refused with a code
    other = await akashic_factory.message(campaign, "Another text")
    for version, code in ((other.version, "NOT_FOUND"), (campaign.id, "INVALID_ID")):
        refused = await gql(
            """query D($id: ID!, $from: ID!) { node(id: $id) { ... on MessageVersion {
                 diffFrom(version: $from) { text } } } }""",
            {"id": message.version, "from": version},
            token=organizer.token,
        )
        assert refused.error_codes == [code]


async def test_the_workflow_and_its_history(gql: GraphQLClient, akashic_factory: AkashicFactory) -> None:
    campaign = await akashic_factory.campaign()
    manager = campaign.manager
    comms, _ = await akashic_factory.staff(campaign, "communications_director")
    organizer, _ = await akashic_factory.staff(campaign, "field_organizer")
    message = await akashic_factory.message(campaign)

    async def move(name: str, token: str, **extra: Any) -> dict[str, Any]:
        return await akashic_factory.call(
            name, {"messageId": message.id, **extra}, "message { status } transition { fromStatus toStatus }", token
        )

    # Draft → in review, by the organizer; only messages.approve approves
    assert (await move("submitMessage", organizer.token, note="Please look"))["errors"] == []
    refused = await move("approveMessage", organizer.token)
    assert (refused["errors"][0]["code"], refused["errors"][0]["roles"]) == (
        "FORBIDDEN",
        ["campaign_manager", "communications_director"],
    )
    # A move the workflow does not allow is a typed error naming where the message stands
    early = await move("scheduleMessage", comms.token, sendAt=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    assert [(e["__typename"], e["code"], e["status"]) for e in early["errors"]] == [
        ("MessageTransitionError", "INVALID_TRANSITION", "IN_REVIEW")
    ]
    approved = await move("approveMessage", comms.token)
    assert approved["transition"] == {"fromStatus": "IN_REVIEW", "toStatus": "APPROVED"}

    # Editing an approved message sends it back to draft, recorded as a move
    edited = await akashic_factory.save(message, message.version, "Join us on Sunday.", organizer.token)
    assert edited["message"]["status"] == "DRAFT"
    await move("submitMessage", organizer.token)
    await move("approveMessage", manager.token, note="Good")
    # Scheduling needs a time to come
    past = await move("scheduleMessage", comms.token, sendAt="2020-01-01T00:00:00Z")
    assert [(e["code"], e["field"]) for e in past["errors"]] == [("VALIDATION", ["input", "sendAt"])]
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    scheduled = await move("scheduleMessage", comms.token, sendAt=when.isoformat())
    assert scheduled["message"] == {"status": "SCHEDULED"}
    # A scheduled message can't be edited, nor restored
    locked = await akashic_factory.save(message, edited["version"]["id"], "Too late", organizer.token)
    assert [(e["__typename"], e["status"]) for e in locked["errors"]] == [("MessageTransitionError", "SCHEDULED")]
    assert locked["version"] is None
    restore = await akashic_factory.call(
        "restoreMessageVersion", {"versionId": message.version}, "version { id }", organizer.token
    )
    assert restore["errors"][0]["code"] == "INVALID_TRANSITION"
    # Sending is messages.send's
    assert (await move("markMessageSent", organizer.token))["errors"][0]["code"] == "FORBIDDEN"
    assert (await move("markMessageSent", comms.token, note="Out"))["message"] == {"status": "SENT"}
    assert (await move("requestMessageChanges", manager.token))["errors"][0]["code"] == "INVALID_TRANSITION"

    found = await _message(gql, message.id, manager.token)
    assert (found["status"], found["scheduledFor"]) == ("SENT", None)
    assert found["sentAt"] is not None
    history = found["transitions"]["nodes"]
    assert [(t["fromStatus"], t["toStatus"], t["actor"]["id"], t["note"]) for t in history] == [
        ("DRAFT", "IN_REVIEW", organizer.user_id, "Please look"),
        ("IN_REVIEW", "APPROVED", comms.user_id, None),
        ("APPROVED", "DRAFT", organizer.user_id, "Edited after it was submitted: back to draft for a new review"),
        ("DRAFT", "IN_REVIEW", organizer.user_id, None),
        ("IN_REVIEW", "APPROVED", manager.user_id, "Good"),
        ("APPROVED", "SCHEDULED", comms.user_id, None),
        ("SCHEDULED", "SENT", comms.user_id, "Out"),
    ]
    assert history[5]["scheduledFor"] == when.isoformat()
    assert all(t["at"] for t in history)
    assert found["versions"]["totalCount"] == 2  # the refused edits wrote nothing


async def test_bad_input_gets_typed_errors_and_changes_nothing(
    gql: GraphQLClient, akashic_factory: AkashicFactory
) -> None:
    campaign = await akashic_factory.campaign()
    token = campaign.manager.token
    message = await akashic_factory.message(campaign)
    base = {"campaignId": campaign.id, "title": "T", "channel": "SMS", "body": "b"}
    cases: list[tuple[str, dict[str, Any], tuple[str, list[str]]]] = [
        ("createMessage", {**base, "title": " "}, ("VALIDATION", ["input", "title"])),
        ("createMessage", {**base, "audienceSegments": [""]}, ("VALIDATION", ["input", "audienceSegments"])),
        ("createMessage", {**base, "body": "x" * 100_001}, ("VALIDATION", ["input", "body"])),
        ("createMessage", {**base, "campaignId": message.id}, ("VALIDATION", ["input", "campaignId"])),
        (
            "saveMessageVersion",
            {"messageId": message.id, "baseVersionId": message.id, "body": "b"},
            ("VALIDATION", ["input", "baseVersionId"]),
        ),
    ]
    for name, input, expected in cases:
        payload = await akashic_factory.call(name, input, "__typename", token)
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [expected], name
    # A version of another message is not this one's
    other = await akashic_factory.message(campaign)
    wrong = await akashic_factory.save(message, other.version, "b", token)
    assert [(e["code"], e["field"]) for e in wrong["errors"]] == [("NOT_FOUND", ["input", "baseVersionId"])]
    listed = await gql(
        """query C($id: ID!) { node(id: $id) { ... on Campaign {
             messages { totalCount nodes { versions { totalCount } } } } } }""",
        {"id": campaign.id},
        token=token,
    )
    assert listed.data["node"]["messages"] == {
        "totalCount": 2,
        "nodes": [{"versions": {"totalCount": 1}}, {"versions": {"totalCount": 1}}],
    }


async def test_message_changes_are_in_the_audit_trail(gql: GraphQLClient, akashic_factory: AkashicFactory) -> None:
    campaign = await akashic_factory.campaign()
    message = await akashic_factory.message(campaign, "First")
    await akashic_factory.save(message, message.version, "Second", campaign.manager.token)
    await akashic_factory.ok("submitMessage", {"messageId": message.id}, "__typename", campaign.manager.token)
    trail = await gql(
        """query T($id: ID!) { node(id: $id) { ... on Organization { auditTrail(first: 50) { nodes {
             action operation changes } } } } }""",
        {"id": campaign.organization_id},
        token=campaign.manager.token,
    )
    events = [(e["action"], e["operation"]) for e in trail.data["node"]["auditTrail"]["nodes"]]
    assert ("Message.create", "createMessage") in events
    assert events.count(("MessageVersion.create", "createMessage")) == 1
    assert ("MessageVersion.create", "saveMessageVersion") in events
    assert ("MessageTransition.create", "submitMessage") in events
    moved = next(
        e
        for e in trail.data["node"]["auditTrail"]["nodes"]
        if e["action"] == "Message.update" and e["operation"] == "submitMessage"
    )
    assert moved["changes"]["status"] == {"before": "draft", "after": "in_review"}
