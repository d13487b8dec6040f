"""Every cell of Akashic's permission matrix (README "Organizations"): for each mutation and each of
the campaign's five roles, allowed or refused (FORBIDDEN, naming the permission and the roles that
hold it), as the kind declares it; every role reads the messages; and someone off the staff gets
NOT_FOUND by any id, exactly as for an id that does not exist."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.access import requirement_of
from core.settings import Settings
from resolvers.akashic import SERVICES
from services.akashic import CAMPAIGN, CAMPAIGN_MANAGER, ROLES
from tests.akashic.support import AkashicFactory, CampaignRef
from tests.jobs_support import drain, worker_settings
from tests.support import GraphQLClient

#: The status a message must be in for each workflow mutation to apply.
PREPARED = {
    "saveMessageVersion": (),
    "restoreMessageVersion": (),
    "submitMessage": (),
    "approveMessage": ("submitMessage",),
    "requestMessageChanges": ("submitMessage",),
    "scheduleMessage": ("submitMessage", "approveMessage"),
    "markMessageSent": ("submitMessage", "approveMessage", "scheduleMessage"),
}
#: Co-editing and presence (services/akashic/{drafts,presence}.py), each on a fresh draft.
LIVE = ("applyMessageDraftUpdate", "heartbeatMessagePresence", "leaveMessagePresence")
#: Yjs's empty update (`Y.encodeStateAsUpdate(new Y.Doc())`): valid, and changes no text.
EMPTY_YJS_UPDATE = "AAA="
GUARDED = ["updateCampaign", "createMessage", *PREPARED, "requestMessageAnalysis", *LIVE]


def _later() -> str:
    return (datetime.now(UTC) + timedelta(days=3)).isoformat()


async def _inputs(factory: AkashicFactory, campaign: CampaignRef) -> dict[str, dict[str, Any]]:
    """Per mutation, an input that is valid for the campaign manager (a fresh message in the
    status it needs, prepared by the manager)."""
    inputs: dict[str, dict[str, Any]] = {
        "updateCampaign": {"id": campaign.id, "jurisdiction": "Ohio"},
        "createMessage": {"campaignId": campaign.id, "title": "T", "channel": "SMS", "body": "Hello"},
        "requestMessageAnalysis": {"versionId": (await factory.message(campaign)).version},
    }
    for name, steps in PREPARED.items():
        message = await factory.message(campaign)
        for step in steps:
            extra = {"sendAt": _later()} if step == "scheduleMessage" else {}
            await factory.ok(step, {"messageId": message.id, **extra}, "__typename", campaign.manager.token)
        if name == "saveMessageVersion":
            inputs[name] = {"messageId": message.id, "baseVersionId": message.version, "body": "Edited"}
        elif name == "restoreMessageVersion":
            inputs[name] = {"versionId": message.version}
        elif name == "scheduleMessage":
            inputs[name] = {"messageId": message.id, "sendAt": _later()}
        else:
            inputs[name] = {"messageId": message.id}
    for name in LIVE:
        message = await factory.message(campaign)
        inputs[name] = {"messageId": message.id}
    inputs["applyMessageDraftUpdate"]["update"] = EMPTY_YJS_UPDATE
    inputs["heartbeatMessagePresence"]["state"] = "VIEWING"
    return inputs


def test_every_akashic_mutation_declares_its_permission() -> None:
    declared = {name: requirement_of(service) for name, service in SERVICES.items()}
    assert {name: r.permission if r else None for name, r in declared.items()} == {
        "createCampaign": None,  # anyone signed in: they become its manager
        "updateCampaign": "campaign.update",
        "createMessage": "messages.draft",
        "saveMessageVersion": "messages.draft",
        "restoreMessageVersion": "messages.draft",
        "submitMessage": "messages.draft",
        "approveMessage": "messages.approve",
        "requestMessageChanges": "messages.approve",
        "scheduleMessage": "messages.send",
        "markMessageSent": "messages.send",
        "requestMessageAnalysis": "messages.draft",  # who drafts may ask; every member reads analyses
        "applyMessageDraftUpdate": "messages.draft",
        "heartbeatMessagePresence": "messages.read",  # EDITING asks for messages.draft too
        "leaveMessagePresence": "messages.read",
    }
    assert set(GUARDED) == {name for name, r in declared.items() if r is not None}


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_may_do_what_the_matrix_says(
    gql: GraphQLClient, akashic_factory: AkashicFactory, settings: Settings, role: str
) -> None:
    campaign = await akashic_factory.campaign()
    member = campaign.manager if role == CAMPAIGN_MANAGER else (await akashic_factory.staff(campaign, role))[0]
    inputs = await _inputs(akashic_factory, campaign)
    outcomes: dict[str, Any] = {}
    for name in GUARDED:
        payload = await akashic_factory.call(name, inputs[name], "__typename", member.token)
        outcomes[name] = [(e["code"], e.get("permission"), e.get("roles")) for e in payload["errors"]]
    expected: dict[str, Any] = {}
    for name in GUARDED:
        requirement = requirement_of(SERVICES[name])
        assert requirement is not None
        assert requirement.permission is not None
        holders = CAMPAIGN.roles_with(requirement.permission)
        expected[name] = [] if role in holders else [("FORBIDDEN", requirement.permission, list(holders))]
    assert outcomes == expected
    # Every role reads the campaign's messages (messages.read)
    listed = await gql(
        "query C($id: ID!) { node(id: $id) { ... on Campaign { messages { totalCount } } } }",
        {"id": campaign.id},
        token=member.token,
    )
    assert listed.data["node"]["messages"]["totalCount"] >= len(PREPARED)
    # The analysis a drafting role queued runs now, leaving this worker's queue as it found it.
    await drain(worker_settings(settings))


async def test_someone_off_the_staff_gets_not_found_by_any_id(
    gql: GraphQLClient, akashic_factory: AkashicFactory
) -> None:
    campaign = await akashic_factory.campaign()
    inputs = await _inputs(akashic_factory, campaign)
    # A former staff member and someone who runs a campaign of their own
    former, membership = await akashic_factory.staff(campaign, "communications_director")
    await akashic_factory.ok("removeMember", {"id": membership}, "__typename", campaign.manager.token)
    elsewhere = (await akashic_factory.campaign()).manager
    for outsider in (former, elsewhere):
        for name in GUARDED:
            payload = await akashic_factory.call(name, inputs[name], "__typename", outsider.token)
            assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"], name
        message = inputs["saveMessageVersion"]
        ids = [campaign.id, message["messageId"], message["baseVersionId"]]
        found = await gql("query N($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids}, token=outsider.token)
        assert found.data["nodes"] == [None, None, None]
        subscribed = await gql(
            "query V { viewer { campaigns { id } } }",
            token=outsider.token,
        )
        assert campaign.id not in [c["id"] for c in subscribed.data["viewer"]["campaigns"]]
    # Nothing they tried changed anything: the message to save still has one version
    versions = await gql(
        "query M($id: ID!) { node(id: $id) { ... on Message { versions { totalCount } status } } }",
        {"id": inputs["saveMessageVersion"]["messageId"]},
        token=campaign.manager.token,
    )
    assert versions.data["node"] == {"versions": {"totalCount": 1}, "status": "DRAFT"}
