"""The campaign an Akashic argument names: `campaignId` takes the campaign's ID (a `Campaign`) or
its organization's (an `Organization`): both name the same row, since a campaign is keyed by its
organization. One rule for every Akashic field (messages, knowledge, donations)."""

from __future__ import annotations

import uuid

from core.errors import ClientError
from core.relay import InvalidGlobalId, from_global_id

#: The global-ID keys that name a campaign.
CAMPAIGN_KEYS = frozenset({"Campaign", "Organization"})


def campaign_pk(value: str, argument: str = "campaignId") -> uuid.UUID:
    try:
        key, pk = from_global_id(value)
    except InvalidGlobalId as exc:
        raise _not_a_campaign(argument) from exc
    if key not in CAMPAIGN_KEYS:
        raise _not_a_campaign(argument)
    return pk


def _not_a_campaign(argument: str) -> ClientError:
    return ClientError(
        f"`{argument}` is not the ID of a Campaign (or of its Organization)", "INVALID_ID", argument=argument
    )
