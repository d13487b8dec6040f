"""A small OpenAI-compatible server on loopback, scripted per test.

It serves `POST /v1/chat/completions` and `POST /v1/embeddings` from a uvicorn server in a
thread of the test process (worker subprocesses reach it too). Each request takes the next
step of its endpoint's script; a request with no step left is answered 500 "unscripted", so
that a test says everything the provider is expected to do. Every request is recorded.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FAKE_MODEL = "fake-model-1"


@dataclass
class Reply:
    """200 with this message content (a dict is sent as its JSON text)."""

    content: str | dict[str, Any]
    model: str = FAKE_MODEL
    finish_reason: str = "stop"
    refusal: str | None = None


@dataclass
class Fail:
    """An HTTP error, optionally with `retry-after-ms` so that the client's backoff is short."""

    status: int
    retry_after_ms: int | None = None
    message: str = "scripted failure"


@dataclass
class Stall:
    """Hold the request for `seconds` (or until `release()`), then answer with `then`."""

    seconds: float
    then: Reply | Fail | None = None


@dataclass
class EmbeddingReply:
    vectors: list[list[float]]
    model: str = "fake-embedding-1"


Step = Reply | Fail | Stall | EmbeddingReply


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeOpenAI:
    base_url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    _scripts: dict[str, deque[Step]] = field(default_factory=lambda: {"chat": deque(), "embeddings": deque()})
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _released: threading.Event = field(default_factory=threading.Event)

    # ------------------------------------------------------------------ test side

    def script(self, endpoint: str, *steps: Step) -> None:
        with self._lock:
            self._scripts[endpoint].extend(steps)

    def chat(self, *steps: Step) -> None:
        self.script("chat", *steps)

    def embeddings(self, *steps: Step) -> None:
        self.script("embeddings", *steps)

    def reset(self) -> None:
        with self._lock:
            for script in self._scripts.values():
                script.clear()
            self.requests.clear()
        self._released.clear()

    def release(self) -> None:
        """Let every stalled request go on."""
        self._released.set()

    def received(self, path_suffix: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith(path_suffix)]

    def wait_for(self, path_suffix: str, count: int, timeout: float) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.received(path_suffix)
            if len(seen) >= count:
                return seen
            time.sleep(0.05)
        raise AssertionError(f"{count} request(s) to {path_suffix} not received in {timeout}s: {self.received('')}")

    # ---------------------------------------------------------------- server side

    def _next(self, endpoint: str) -> Step | None:
        with self._lock:
            script = self._scripts[endpoint]
            return script.popleft() if script else None

    async def _answer(self, request: Request, endpoint: str) -> Response:
        body = await request.json()
        with self._lock:
            self.requests.append(Recorded(request.url.path, body, dict(request.headers)))
        step = self._next(endpoint)
        if isinstance(step, Stall):
            # The event is set from the test's thread: wait for it on a thread of our own.
            await asyncio.to_thread(self._released.wait, step.seconds)
            step = step.then
        if step is None:
            return _error(500, f"unscripted request to {endpoint}")
        if isinstance(step, Fail):
            headers = {"retry-after-ms": str(step.retry_after_ms)} if step.retry_after_ms is not None else {}
            return _error(step.status, step.message, headers)
        if isinstance(step, EmbeddingReply):
            return JSONResponse(
                {
                    "object": "list",
                    "model": step.model,
                    "data": [
                        {"object": "embedding", "index": i, "embedding": vector}
                        for i, vector in enumerate(step.vectors)
                    ],
                    "usage": {"prompt_tokens": 3, "total_tokens": 3},
                }
            )
        content = step.content if isinstance(step.content, str) else json.dumps(step.content)
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": step.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": step.refusal},
                        "finish_reason": step.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
            }
        )

    def app(self) -> Starlette:
        async def chat(request: Request) -> Response:
            return await self._answer(request, "chat")

        async def embeddings(request: Request) -> Response:
            return await self._answer(request, "embeddings")

        return Starlette(
            routes=[
                Route("/v1/chat/completions", chat, methods=["POST"]),
                Route("/v1/embeddings", embeddings, methods=["POST"]),
            ]
        )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"message": message, "type": "fake_error", "code": str(status)}}
    return JSONResponse(body, status_code=status, headers=headers)


class FakeOpenAIServer:
    """Runs a `FakeOpenAI` on a free loopback port in a background thread."""

    def __init__(self) -> None:
        self.fake = FakeOpenAI()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.fake.base_url = f"http://127.0.0.1:{port}/v1"
        config = uvicorn.Config(
            self.fake.app(), log_level="warning", lifespan="off", timeout_graceful_shutdown=1, loop="asyncio"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def start(self) -> FakeOpenAI:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        return self.fake

    def stop(self) -> None:
        self.fake.release()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
