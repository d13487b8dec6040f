"""uvicorn's sans-I/O WebSocket protocol, holding less per idle connection.

`serve`, the live tests and the subscriber benchmark run uvicorn with this class
(`app.WS_IMPLEMENTATION`). It is uvicorn's `websockets-sansio` implementation unchanged on the
wire; what differs is what an idle connection keeps (BENCHMARKS.md, "idle subscribers"):

* the handshake's parsed request and response (`websockets` `Headers`, ~4.5 KB) are dropped once
  the handshake is over, and so is the last frame's data once handed to the application: the
  ASGI scope already holds the request's headers, and nothing reads them again;
* the queue of ASGI events is a deque made on demand and freed when read empty, instead of an
  `asyncio.Queue` (its own deque, a waiters deque and an unfinished-tasks `Event`: ~2.5 KB);
* "the transport may be written to" is a flag with a future per waiting sender, made only while
  the transport's buffer is full, instead of an `asyncio.Event` (and its waiters deque).

It also offers an ASGI extension, `PREPARED_TEXT` in the scope's `extensions`: a function that
writes a text message serialized once by `prepared_text` for many connections (a live event
fanned out to thousands of subscribers is one frame, not thousands), straight to the transport.
It answers False, having written nothing, whenever the usual `websocket.send` would do more than
write (the handshake not over, closing, closed, the transport's buffer full, an extension such as
permessage-deflate negotiated): the caller then sends the message the usual way.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State


class Inbox:
    """What `asyncio.Queue` does for uvicorn's protocol (`put_nowait`, `get`, `empty`), for one
    reader: the ASGI application, which reads its connection's events from one task at a time."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[ASGIReceiveEvent] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: ASGIReceiveEvent) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> ASGIReceiveEvent:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("a WebSocket's events are read by one task at a time")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if not self._items:
            self._items = None  # an idle connection holds no deque
        return item


class Writable:
    """What `asyncio.Event` does for uvicorn's protocol (`set`, `clear`, `wait`), with a future
    only for each sender that waits while the transport's buffer is full."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        while not self._set:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if self._waiters is not None and waiter in self._waiters:
                    self._waiters.remove(waiter)
        return True


#: The key, in a WebSocket scope's `extensions`, of the function that writes a `prepared_text` frame.
PREPARED_TEXT = "quintet.websocket.prepared_text"


def prepared_text(text: str) -> bytes:
    """`text` as one text frame from a server (unmasked, no extension), to be written to many."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol with the leaner state described above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Writable()  # type: ignore[assignment]

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if self.handshake_complete and "response" in self.__dict__:
            # The handshake is over (accepted, refused or answered): its request and response are
            # no longer read (the application has the request's headers in its scope). The
            # request's headers are emptied too: `websockets`' parser keeps the request itself.
            del self.response
            request: Request | None = self.__dict__.pop("request", None)
            if request is not None:
                request.headers.clear()

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = self.__dict__.get("scope")  # none when the handshake was refused
        if scope is not None:
            scope["extensions"][PREPARED_TEXT] = self.write_prepared

    def write_prepared(self, frame: bytes) -> bool:
        """Write `frame` (from `prepared_text`) now if `websocket.send` would just write it."""
        conn = self.conn
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.initial_response is not None
            or not self.writable.is_set()
            or conn.state is not State.OPEN
            or conn.expect_continuation_frame
            or conn.extensions
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True

    def handle_text(self, event: Frame) -> None:
        super().handle_text(event)
        event.data = b""  # handed to the application; `websockets`' parser keeps the last frame

    def handle_bytes(self, event: Frame) -> None:
        super().handle_bytes(event)
        event.data = b""
