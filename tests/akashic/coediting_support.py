"""What the co-editing and presence tests share: a served app with short timers, a Python Yjs
editor (pycrdt, as a browser's Y.Doc would be), and two server processes sharing a real Redis."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from joserfc.jwk import ECKey
from pycrdt import Doc, Text

from tests.conftest import UNLIMITED_SIGN_INS
from tests.live.conftest import Feed
from tests.live.test_redis import ServerProcess
from tests.support import GraphQLClient

#: Short, so that tests wait little; long enough that a loaded machine's editors stay in one debounce.
SAVE_SECONDS = 0.5
PRESENCE_TTL = 3.0

DRAFT = """subscription Draft($id: ID!) { messageDraft(messageId: $id) { __typename
  ... on LiveUpdatesStatus { state }
  ... on MessageDraftState { update text message { id status } baseVersion { id number } }
  ... on MessageDraftUpdate { update sender { id } } } }"""

APPLY = """mutation Apply($input: ApplyMessageDraftUpdateInput!) { applyMessageDraftUpdate(input: $input) {
  message { id status } errors { __typename code message field ... on ForbiddenError { permission } } } }"""

CHANGES = """subscription Changes($id: ID!) { campaignMessageChanges(campaignId: $id) { __typename
  ... on LiveUpdatesStatus { state }
  ... on CampaignMessageChange { change version { number body summary author { id } } } } }"""


class Editor:
    """One editor's Y.Doc, fed by its `messageDraft` feed; its edits are sent with the mutation."""

    def __init__(self, feed: Feed, gql: GraphQLClient, token: str) -> None:
        self.feed = feed
        self.gql = gql
        self.token = token
        self.doc: Doc = Doc()
        self.message_id: str | None = None

    @property
    def text(self) -> str:
        return str(self.doc.get("body", type=Text))

    async def join(self) -> dict[str, Any]:
        state: dict[str, Any] = (await self.feed.next())["messageDraft"]
        assert state["__typename"] == "MessageDraftState", state
        self.doc.apply_update(base64.b64decode(state["update"]))
        assert self.text == state["text"]
        self.message_id = state["message"]["id"]
        return state

    async def receive(self) -> dict[str, Any]:
        """The next update of the feed, applied."""
        update: dict[str, Any] = (await self.feed.next())["messageDraft"]
        assert update["__typename"] == "MessageDraftUpdate", update
        self.doc.apply_update(base64.b64decode(update["update"]))
        return update

    async def receive_until(self, text: str, *, most: int = 20) -> None:
        for _ in range(most):
            if self.text == text:
                return
            await self.receive()
        assert self.text == text

    async def edit(self, index: int, insert: str) -> dict[str, Any]:
        """Insert `insert` at `index` and send the change (the doc's update since before)."""
        before = self.doc.get_state()
        text = self.doc.get("body", type=Text)
        with self.doc.transaction():
            text.insert(index, insert)
        return await send(self.gql, self.token, self.message_id or "", self.doc.get_update(before))


async def send(gql: GraphQLClient, token: str, message_id: str, update: bytes | str) -> dict[str, Any]:
    value = update if isinstance(update, str) else base64.b64encode(update).decode()
    payload: dict[str, Any] = (
        await gql(APPLY, {"input": {"messageId": message_id, "update": value}}, token=token)
    ).data["applyMessageDraftUpdate"]
    return payload


async def saved_version(feed: Feed, *, most: int = 20) -> dict[str, Any]:
    """The next VERSION_SAVED of a `campaignMessageChanges` feed (other changes skipped)."""
    for _ in range(most):
        change: dict[str, Any] = (await feed.next())["campaignMessageChanges"]
        if change.get("change") == "VERSION_SAVED":
            version: dict[str, Any] = change["version"]
            return version
    raise AssertionError("no version was saved")


@asynccontextmanager
async def http_client(base: str) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        yield GraphQLClient(client)


def server_pair(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two `uvicorn app:create_app` processes on one database and one Redis, with short timers."""
    env = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_URL"}}
    env.update(
        MODE="dev",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DATA_DIR=str(tmp_path / "data"),
        AUTH_RATE_LIMIT_PER_ADDRESS=UNLIMITED_SIGN_INS,
        JWT_PRIVATE_KEY=ECKey.generate_key("P-256", private=True).as_pem(private=True).decode(),
        AKASHIC_DRAFT_SAVE_SECONDS=str(SAVE_SECONDS),
        AKASHIC_PRESENCE_TTL_SECONDS=str(PRESENCE_TTL),
        INSIGHTS_SCHEDULE="",
        KNOWLEDGE_REEMBED_SCHEDULE="",
    )
    servers = (ServerProcess(env, tmp_path / "a.log"), ServerProcess(env, tmp_path / "b.log"))
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()
