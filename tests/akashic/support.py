"""Akashic's test helpers: campaigns, staff and messages made through the public mutations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from services.akashic import ROLES
from tests.support import GraphQLClient, Viewer

TRANSITIONS = ("submitMessage", "approveMessage", "requestMessageChanges", "markMessageSent")
ERRORS = """errors { __typename code message field
  ... on ForbiddenError { permission roles }
  ... on MessageTransitionError { status }
  ... on MessageVersionConflictError { currentVersion { id number body } baseVersion { id number }
    proposal { base theirs mine merged clean conflicts { base theirs mine } } } }"""
CAMPAIGN_INPUT = {
    "name": "Chen for Senate",
    "office": "State Senate, District 12",
    "jurisdiction": "Ohio",
    "electionDate": "2026-11-03",
    "electionCycle": 2026,
    "party": "Independent",
}


def input_type(name: str) -> str:
    if name in TRANSITIONS:
        return "MessageTransitionInput"
    if name in ("acceptInvitation", "declineInvitation"):
        return "InvitationTokenInput"
    return f"{name[0].upper()}{name[1:]}Input"


@dataclass(frozen=True)
class CampaignRef:
    id: str
    organization_id: str
    manager: Viewer
    membership: str


@dataclass(frozen=True)
class MessageRef:
    id: str
    version: str


class AkashicFactory:
    def __init__(self, gql: GraphQLClient) -> None:
        self.gql = gql

    async def call(self, name: str, input: dict[str, Any], selection: str, token: str | None) -> dict[str, Any]:
        document = f"mutation Run($input: {input_type(name)}!) {{ {name}(input: $input) {{ {selection} {ERRORS} }} }}"
        payload: dict[str, Any] = (await self.gql(document, {"input": input}, token=token)).data[name]
        return payload

    async def ok(self, name: str, input: dict[str, Any], selection: str, token: str | None) -> dict[str, Any]:
        payload = await self.call(name, input, selection, token)
        assert payload["errors"] == [], payload["errors"]
        return payload

    async def campaign(self, manager: Viewer | None = None) -> CampaignRef:
        manager = manager or await self.gql.sign_up(display_name="Manager")
        slug = f"campaign-{uuid.uuid4().hex[:12]}"
        payload = await self.ok(
            "createCampaign",
            {**CAMPAIGN_INPUT, "slug": slug},
            "campaign { id } organization { id } membership { id role }",
            manager.token,
        )
        assert payload["membership"]["role"] == "campaign_manager"
        return CampaignRef(
            payload["campaign"]["id"], payload["organization"]["id"], manager, payload["membership"]["id"]
        )

    async def staff(self, campaign: CampaignRef, role: str) -> tuple[Viewer, str]:
        """A new account on the campaign's staff in `role` (invited by the manager); (it, its membership)."""
        assert role in ROLES
        user = await self.gql.sign_up(display_name=role)
        invited = await self.ok(
            "inviteMember",
            {"organizationId": campaign.organization_id, "email": user.email, "role": role},
            "token",
            campaign.manager.token,
        )
        joined = await self.ok("acceptInvitation", {"token": invited["token"]}, "membership { id role }", user.token)
        assert joined["membership"]["role"] == role
        return user, joined["membership"]["id"]

    async def message(self, campaign: CampaignRef, body: str = "Join us Saturday.", **fields: Any) -> MessageRef:
        payload = await self.ok(
            "createMessage",
            {"campaignId": campaign.id, "title": "Rally", "channel": "EMAIL", "body": body, **fields},
            "message { id } version { id }",
            campaign.manager.token,
        )
        return MessageRef(payload["message"]["id"], payload["version"]["id"])

    async def save(self, message: MessageRef, base: str, body: str, token: str) -> dict[str, Any]:
        return await self.call(
            "saveMessageVersion",
            {"messageId": message.id, "baseVersionId": base, "body": body},
            "version { id number body } message { status }",
            token,
        )
