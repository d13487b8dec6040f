"""Identical subscriptions of one user share one execution (graphql-transport-ws and Server-Sent
Events alike: a stream's members may be of either, `Member` here and `core.sse.EventStreamMember`).

A dashboard open on many screens of one account subscribes many times to the same document with
the same variables. Each event is then executed once for all of them, by one stream that runs as
that user, with that user's own loaders, and the encoded result is sent to every member: what a
member receives is exactly what its own execution would give (same user, same role, same document,
same variables). Members of other users never share a stream.

Each member has its own bounded queue: one that does not read is ended with SUBSCRIBER_TOO_SLOW
(its queue dropped) without slowing the others. A member that joins a running stream gets the
stream's latest status message (STARTED, or INTERRUPTED while the bus is down) first. Token expiry
is each connection's business (a WebSocket closes with 4403, an SSE stream ends with the error its
own execution would give), so the shared stream itself has no deadline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from contextlib import aclosing
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from core import metrics
from core.context import Actor
from core.errors import result_payload
from core.ws_protocol import PREPARED_TEXT, prepared_text

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection
    from starlette.websockets import WebSocket

    from core.runtime import Runtime

logger = logging.getLogger("quintet.ws")

#: Set by the live subscription resolvers just before they yield: whether the item is a status
#: message (rather than a change), so that the stream can replay its latest status to joiners.
yielded_status: ContextVar[bool] = ContextVar("quintet_yielded_status", default=False)

SUBSCRIPTIONS_ONLY = (OperationType.SUBSCRIPTION,)

#: What a member's connection sends one at a time (a WebSocket's text, an HTTP body message).
Item = TypeVar("Item")

#: Members sent one result between two turns of the event loop: 10,000 subscribers of one stream
#: don't hold up the process's other work for the whole fan-out.
FANOUT_BATCH = 1000


@dataclass(frozen=True, slots=True)
class StreamKey:
    #: Whose stream it is: the actor without its credential's expiry (a user's tokens share it;
    #: an API client's scopes and organization are part of it).
    actor: Actor
    query: str
    variables: bytes
    operation_name: str | None


def _text(operation_id: str, kind: str, payload: str | None = None) -> str:
    return _message(_head(operation_id), kind, payload)


def _head(operation_id: str) -> str:
    return '{"id":' + orjson.dumps(operation_id).decode() + ',"type":"'


def _message(head: str, kind: str, payload: str | None) -> str:
    return head + kind + '"}' if payload is None else head + kind + '","payload":' + payload + "}"


class Outgoing:
    """One message of a stream for all its members: its text for each operation id, and the
    WebSocket frame of that text (`core.ws_protocol.prepared_text`), each built once; for the
    members of another transport (Server-Sent Events, core/sse.py), its `chunk`, built once too.

    `result` is, for an `error` (a refusal before execution, whose `payload` is the list of
    errors), the whole result: what a transport with no error message sends instead."""

    __slots__ = ("_chunk", "_frames", "_texts", "kind", "payload", "result")

    def __init__(self, kind: str, payload: str | None = None, result: str | None = None) -> None:
        self.kind = kind
        self.payload = payload
        self.result = result
        self._texts: dict[str, str] = {}  # by the members' `_head` (their operation id)
        self._frames: dict[str, bytes] = {}
        self._chunk: bytes | None = None

    def text(self, head: str) -> str:
        text = self._texts.get(head)
        if text is None:
            text = self._texts[head] = _message(head, self.kind, self.payload)
        return text

    def frame(self, head: str) -> bytes:
        frame = self._frames.get(head)
        if frame is None:
            frame = self._frames[head] = prepared_text(self.text(head))
        return frame

    def chunk(self, encode: Callable[[Outgoing], bytes]) -> bytes:
        """This message as `encode` writes it, built once for every member (one transport's)."""
        if self._chunk is None:
            self._chunk = encode(self)
        return self._chunk


def too_slow_error(limit: int) -> str:
    """The result that ends a member which fell `limit` messages behind (SUBSCRIBER_TOO_SLOW)."""
    error = {
        "message": f"This subscription fell {limit} events behind and was ended "
        f"(subscriptionQueueSize is {limit}): subscribe again and refetch",
        "extensions": {"code": "SUBSCRIBER_TOO_SLOW", "limit": "subscriptionQueueSize", "value": limit},
    }
    return orjson.dumps({"data": None, "errors": [error]}).decode()


class StreamMember(Generic[Item]):
    """One subscriber of a shared stream, whatever carries its messages: its bounded queue, and
    its sends, made inline while its connection takes them. A transport says how a message is
    written (`_emit`), how one item is sent (`_sending`) and how a member that fell behind is
    ended (`_end_too_slow`); `connection` is its WebSocket or HTTP request."""

    __slots__ = ("_queue", "_sender", "ended", "limit", "stream")

    connection: HTTPConnection

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.stream: SharedStream | None = None
        self.ended = False
        self._queue: deque[Item] | None = None  # made when a send has to wait (an empty deque is ~0.7 KB)
        self._sender: asyncio.Task[None] | None = None

    def _end(self) -> None:
        """No more messages for this subscriber (whichever way it ended, once)."""
        self.ended = True

    def send(self, message: Outgoing, *, final: bool = False) -> None:
        if self.ended:
            return
        if final:
            self._end()
        elif self._queue is not None and len(self._queue) >= self.limit:
            self._too_slow()
            return
        self._emit(message, final)

    def _emit(self, message: Outgoing, final: bool) -> None:
        raise NotImplementedError

    def _sending(self, item: Item) -> Coroutine[Any, Any, None]:
        raise NotImplementedError

    def _end_too_slow(self, result: str) -> None:
        raise NotImplementedError

    def _deliver(self, item: Item) -> None:
        if self._sender is not None:  # a send waits for the socket: queue behind it (bounded, see `send`)
            if self._queue is None:
                self._queue = deque()
            self._queue.append(item)
            return
        # Send inline: a socket that can take the message takes it without suspending, and a
        # task per member per event would cost more than the send itself. Only a send that
        # has to wait for the socket to drain is finished in a task, behind which later
        # messages queue.
        sending = self._sending(item)
        try:
            waiting_on = sending.send(None)
        except StopIteration:
            return
        except Exception:  # noqa: BLE001 - the connection is gone; its handler cleans up
            return
        self._sender = asyncio.create_task(self._finish(sending, waiting_on))

    async def _finish(self, sending: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        """Drive a send that suspended (on `waiting_on`) to its end, then drain the queue."""
        try:
            while True:
                if waiting_on is None:  # a bare yield: just let the loop run
                    await asyncio.sleep(0)
                else:
                    # What a task does with a future its coroutine yielded: take over the wait.
                    waiting_on._asyncio_future_blocking = False
                    await waiting_on
                try:
                    waiting_on = sending.send(None)
                except StopIteration:
                    break
            while self._queue:
                await self._sending(self._queue.popleft())
        except Exception:  # noqa: BLE001 - the connection is gone; its handler cleans up
            pass
        finally:
            sending.close()
            self._sender = None
            self._queue = None

    def _too_slow(self) -> None:
        self._queue = None
        self._end()
        metrics.refused("SUBSCRIBER_TOO_SLOW", "subscriptionQueueSize")
        self._end_too_slow(too_slow_error(self.limit))
        if self.stream is not None:
            self.stream.leave(self)

    def cancel(self) -> None:
        self._end()
        self._queue = None
        if self._sender is not None:
            self._sender.cancel()


class Member(StreamMember[str]):
    """A graphql-transport-ws subscriber: its socket and its operation id."""

    __slots__ = ("_head", "_write", "operation_id", "websocket")

    def __init__(self, websocket: WebSocket, operation_id: str, limit: int) -> None:
        super().__init__(limit)
        self.websocket = websocket
        self.operation_id = operation_id
        self._head = _head(operation_id)
        # Where the server offers it (core.ws_protocol), a frame built once for every member is
        # written as it is; otherwise each message goes through `websocket.send_text`.
        self._write: Callable[[bytes], bool] | None = websocket.scope.get("extensions", {}).get(PREPARED_TEXT)
        metrics.SUBSCRIPTIONS_STARTED.inc()
        metrics.SUBSCRIPTIONS_ACTIVE.inc()

    @property
    def connection(self) -> HTTPConnection:  # type: ignore[override]
        return self.websocket

    def _end(self) -> None:
        if not self.ended:
            super()._end()
            metrics.SUBSCRIPTIONS_ACTIVE.dec()

    def _emit(self, message: Outgoing, final: bool) -> None:
        if self._sender is None and self._write is not None and self._write(message.frame(self._head)):
            return
        self._deliver(message.text(self._head))

    def _sending(self, item: str) -> Coroutine[Any, Any, None]:
        return self.websocket.send_text(item)

    def _end_too_slow(self, result: str) -> None:
        self._deliver(_text(self.operation_id, "next", result))
        self._deliver(_text(self.operation_id, "complete"))


class SharedStream:
    """One execution of a subscription, fanned out to its members."""

    def __init__(self, registry: SharedStreams, key: StreamKey, variables: dict[str, Any] | None) -> None:
        self.registry = registry
        self.key = key
        self.variables = variables
        self.members: dict[StreamMember[Any], None] = {}
        self.status: str | None = None  # the latest status result, replayed to members who join
        self.task: asyncio.Task[None] | None = None

    def join(self, member: StreamMember[Any]) -> None:
        member.stream = self
        self.members[member] = None
        if self.status is not None:
            member.send(Outgoing("next", self.status))
        if self.task is None:
            self.task = asyncio.create_task(self._run())

    def leave(self, member: StreamMember[Any]) -> None:
        self.members.pop(member, None)
        member.stream = None
        if not self.members:
            self.registry.forget(self)
            if self.task is not None:
                self.task.cancel()

    def _end_all(self, kind: str, payload: str | None = None, result: str | None = None) -> None:
        """The last message to every member (at once: none may join in between and wait forever)."""
        message = Outgoing(kind, payload, result)
        for member in list(self.members):
            member.send(message, final=True)

    async def _broadcast(self, payload: str) -> None:
        """A result to every member, in batches of FANOUT_BATCH between which the loop runs."""
        started = time.perf_counter()
        message = Outgoing("next", payload)
        members = list(self.members)
        for start in range(0, len(members), FANOUT_BATCH):
            if start:
                await asyncio.sleep(0)
            for member in members[start : start + FANOUT_BATCH]:
                member.send(message)
        metrics.LIVE_FANOUT_SECONDS.observe(time.perf_counter() - started)

    async def _run(self) -> None:
        runtime = self.registry.runtime
        settings = runtime.settings
        key = self.key
        actor = key.actor
        context = runtime.context(next(iter(self.members)).connection, actor)
        mask = not settings.is_dev
        try:
            results = await runtime.schema.stream(
                key.query,
                variable_values=self.variables,
                context_value=context,
                operation_name=key.operation_name,
                allowed_operation_types=SUBSCRIPTIONS_ONLY,
            )
            first = True
            async with aclosing(results):
                async for result in results:
                    if first and isinstance(result, PreExecutionError):
                        refusal = result_payload(result, mask=mask)
                        errors = orjson.dumps(refusal["errors"]).decode()
                        self._end_all("error", errors, orjson.dumps(refusal).decode())
                        return
                    first = False
                    payload = orjson.dumps(result_payload(result, mask=mask)).decode()
                    if yielded_status.get():
                        self.status = payload
                    await self._broadcast(payload)
            self._end_all("complete")
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("shared subscription stream failed")
            self._end_all("complete")
        finally:
            self.registry.forget(self)


class SharedStreams:
    """This process's shared streams, by user, document and variables."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.streams: dict[StreamKey, SharedStream] = {}

    def join(
        self,
        member: StreamMember[Any],
        actor: Actor,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> None:
        key = StreamKey(
            dataclasses.replace(actor, expires_at=None),
            query,
            orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS),  # none is no variables
            operation_name,
        )
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = SharedStream(self, key, variables)
            metrics.SHARED_STREAMS_ACTIVE.inc()
        stream.join(member)

    def forget(self, stream: SharedStream) -> None:
        if self.streams.get(stream.key) is stream:
            del self.streams[stream.key]
            metrics.SHARED_STREAMS_ACTIVE.dec()
