"""GraphiQL in a real browser (headless Chromium, driven over the DevTools protocol) against the
running server, with every other host unresolvable: the page must render the editor and the
explorer plugin, load the schema and run a query from its own origin alone."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.live.conftest import LiveServer, unavailable

#: Long enough for a loaded machine; every wait ends as soon as what it waits for happens.
DEADLINE_SECONDS = 60.0


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    unavailable("no Chromium for the GraphiQL browser test (apt-get install -y chromium)")
    raise AssertionError("unreachable")


class DevTools:
    """One page's DevTools protocol session: commands, and the events received so far."""

    def __init__(self, socket: websockets.ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            if "id" in message:
                self.waiting.pop(message["id"]).set_result(message)
            else:
                self.events.append(message)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        key = next(self.ids)
        self.waiting[key] = asyncio.get_running_loop().create_future()
        await self.socket.send(json.dumps({"id": key, "method": method, "params": params}))
        answer = await asyncio.wait_for(self.waiting[key], DEADLINE_SECONDS)
        assert "error" not in answer, answer
        result: dict[str, Any] = answer["result"]
        return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def until(self, expression: str, what: str) -> Any:
        """Wait until `expression` is truthy in the page; its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE_SECONDS
        while not (value := await self.evaluate(expression)):
            assert loop.time() < deadline, f"the page never showed {what}"
            await asyncio.sleep(0.2)
        return value

    def named(self, method: str) -> list[dict[str, Any]]:
        return [event["params"] for event in self.events if event["method"] == method]


@asynccontextmanager
async def browser_page(profile: Path) -> AsyncIterator[DevTools]:
    process = await asyncio.create_subprocess_exec(
        _chromium(),
        "--headless=new",
        "--no-sandbox",  # as root
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        # Offline but for the server under test: no other host name resolves.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        active = profile / "DevToolsActivePort"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE_SECONDS
        while not active.exists() or len(active.read_text().split()) < 2:
            assert process.returncode is None, "Chromium exited at start"
            assert loop.time() < deadline, "Chromium never opened its DevTools port"
            await asyncio.sleep(0.1)
        port = int(active.read_text().split()[0])
        async with httpx.AsyncClient() as client:
            targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
        (page,) = [target for target in targets if target["type"] == "page"]
        async with websockets.connect(page["webSocketDebuggerUrl"], max_size=None) as socket:
            tools = DevTools(socket)
            try:
                for domain in ("Network", "Runtime", "Log", "Page"):
                    await tools.send(f"{domain}.enable")
                yield tools
            finally:
                tools.reader.cancel()
                with suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                    await tools.reader
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        await process.wait()


async def test_graphiql_renders_and_runs_a_query_with_no_other_origin_reachable(
    live_server: LiveServer, tmp_path: Path
) -> None:
    async with browser_page(tmp_path / "profile") as page:
        await page.send("Page.navigate", url=f"{live_server.http}/graphql")
        # The editor, with the explorer plugin's button in the sidebar
        await page.until("!!document.querySelector('.graphiql-query-editor .CodeMirror')", "the query editor")
        await page.until("!!document.querySelector('[aria-label=\"Show GraphiQL Explorer\"]')", "the explorer plugin")
        # The schema, by introspection: the documentation explorer lists the root types
        await page.evaluate("document.querySelector('[aria-label=\"Show Documentation Explorer\"]').click()")
        await page.until(
            "(document.querySelector('.graphiql-doc-explorer') || {innerText: ''}).innerText.includes('Subscription')",
            "the schema's root types",
        )
        # The explorer plugin, with the schema's fields to pick from
        await page.evaluate("document.querySelector('[aria-label=\"Show GraphiQL Explorer\"]').click()")
        await page.until(
            "(document.querySelector('.graphiql-explorer-root') || {innerText: ''}).innerText.includes('viewer')",
            "the explorer's fields",
        )
        # A query typed into the editor and run
        await page.evaluate(
            "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue("
            "'query Probe { __typename }')"
        )
        await page.evaluate("document.querySelector('.graphiql-execute-button').click()")
        result = await page.until(
            "(() => { const text = (document.querySelector('.result-window') || {innerText: ''}).innerText;"
            " return text.includes('__typename') ? text : ''; })()",
            "the query's result",
        )
        # CodeMirror shows it with non-breaking spaces and zero-width ones
        # The pane's text (CodeMirror may fold the nested `extensions.cost`): its `data` is the answer
        shown = re.sub(r"[\s\u200b]+", "", result)
        assert shown.startswith('{"data":{"__typename":"Query"}'), result

    requested = [event["request"]["url"] for event in page.named("Network.requestWillBeSent")]
    assert any(url.endswith("/graphiql.min.js") for url in requested), requested
    # GraphiQL's fonts are data: URLs inside its stylesheet; everything else is this server's
    elsewhere = [url for url in requested if not url.startswith((f"{live_server.http}/", "data:font/"))]
    assert elsewhere == [], elsewhere
    failed = page.named("Network.loadingFailed")
    assert failed == [], failed
    errors = [entry["entry"] for entry in page.named("Log.entryAdded") if entry["entry"]["level"] == "error"]
    assert errors == [], errors  # a Content-Security-Policy refusal would be one
    assert page.named("Runtime.exceptionThrown") == []
