"""Identical subscriptions of one user share one execution (graphql-transport-ws).

A dashboard open on many screens of one account subscribes many times to the same document with
the same variables. Each event is then executed once for all of them, by one stream that runs as
that user, with that user's own loaders, and the encoded result is sent to every member: what a
member receives is exactly what its own execution would give (same user, same role, same document,
same variables). Members of other users never share a stream.

Each member has its own bounded queue: one that does not read is ended with SUBSCRIBER_TOO_SLOW
(its queue dropped) without slowing the others. A member that joins a running stream gets the
stream's latest status message (STARTED, or INTERRUPTED while the bus is down) first. Token expiry
is each connection's business (it closes with 4403), so the shared stream itself has no deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from contextlib import aclosing
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from core import metrics
from core.context import Actor
from core.errors import result_payload

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from core.runtime import Runtime

logger = logging.getLogger("quintet.ws")

#: Set by the live subscription resolvers just before they yield: whether the item is a status
#: message (rather than a change), so that the stream can replay its latest status to joiners.
yielded_status: ContextVar[bool] = ContextVar("quintet_yielded_status", default=False)

SUBSCRIPTIONS_ONLY = (OperationType.SUBSCRIPTION,)


@dataclass(frozen=True, slots=True)
class StreamKey:
    user_id: Any
    role: str
    query: str
    variables: bytes
    operation_name: str | None


def _text(operation_id: str, kind: str, payload: str | None = None) -> str:
    return _message(_head(operation_id), kind, payload)


def _head(operation_id: str) -> str:
    return '{"id":' + orjson.dumps(operation_id).decode() + ',"type":"'


def _message(head: str, kind: str, payload: str | None) -> str:
    return head + kind + '"}' if payload is None else head + kind + '","payload":' + payload + "}"


class Member:
    """One subscriber of a shared stream: its socket, its operation id and its bounded queue."""

    __slots__ = ("_head", "_queue", "_sender", "ended", "limit", "operation_id", "stream", "websocket")

    def __init__(self, websocket: WebSocket, operation_id: str, limit: int) -> None:
        self.websocket = websocket
        self.operation_id = operation_id
        self._head = _head(operation_id)
        self.limit = limit
        self.stream: SharedStream | None = None
        self.ended = False
        self._queue: deque[str] | None = None  # made when a send has to wait (an empty deque is ~0.7 KB)
        self._sender: asyncio.Task[None] | None = None
        metrics.SUBSCRIPTIONS_STARTED.inc()
        metrics.SUBSCRIPTIONS_ACTIVE.inc()

    def _end(self) -> None:
        """No more messages for this subscriber (whichever way it ended, once)."""
        if not self.ended:
            self.ended = True
            metrics.SUBSCRIPTIONS_ACTIVE.dec()

    def send(self, kind: str, payload: str | None = None, *, final: bool = False) -> None:
        if self.ended:
            return
        if final:
            self._end()
        elif self._queue is not None and len(self._queue) >= self.limit:
            self._too_slow()
            return
        self._deliver(_message(self._head, kind, payload))

    def _deliver(self, text: str) -> None:
        if self._sender is not None:  # a send waits for the socket: queue behind it (bounded, see `send`)
            if self._queue is None:
                self._queue = deque()
            self._queue.append(text)
            return
        # Send inline: a socket that can take the message takes it without suspending, and a
        # task per member per event would cost more than the send itself. Only a send that
        # has to wait for the socket to drain is finished in a task, behind which later
        # messages queue.
        sending = self.websocket.send_text(text)
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
                await self.websocket.send_text(self._queue.popleft())
        except Exception:  # noqa: BLE001 - the connection is gone; its handler cleans up
            pass
        finally:
            sending.close()
            self._sender = None
            self._queue = None

    def _too_slow(self) -> None:
        self._queue = None
        error = {
            "message": f"This subscription fell {self.limit} events behind and was ended "
            f"(subscriptionQueueSize is {self.limit}): subscribe again and refetch",
            "extensions": {"code": "SUBSCRIBER_TOO_SLOW", "limit": "subscriptionQueueSize", "value": self.limit},
        }
        self._end()
        metrics.refused("SUBSCRIBER_TOO_SLOW", "subscriptionQueueSize")
        self._deliver(_text(self.operation_id, "next", orjson.dumps({"data": None, "errors": [error]}).decode()))
        self._deliver(_text(self.operation_id, "complete"))
        if self.stream is not None:
            self.stream.leave(self)

    def cancel(self) -> None:
        self._end()
        self._queue = None
        if self._sender is not None:
            self._sender.cancel()


class SharedStream:
    """One execution of a subscription, fanned out to its members."""

    def __init__(self, registry: SharedStreams, key: StreamKey, variables: dict[str, Any] | None) -> None:
        self.registry = registry
        self.key = key
        self.variables = variables
        self.members: dict[Member, None] = {}
        self.status: str | None = None  # the latest status result, replayed to members who join
        self.task: asyncio.Task[None] | None = None

    def join(self, member: Member) -> None:
        member.stream = self
        self.members[member] = None
        if self.status is not None:
            member.send("next", self.status)
        if self.task is None:
            self.task = asyncio.create_task(self._run())

    def leave(self, member: Member) -> None:
        self.members.pop(member, None)
        member.stream = None
        if not self.members:
            self.registry.forget(self)
            if self.task is not None:
                self.task.cancel()

    def _broadcast(self, kind: str, payload: str | None = None, *, final: bool = False) -> None:
        for member in list(self.members):
            member.send(kind, payload, final=final)

    async def _run(self) -> None:
        runtime = self.registry.runtime
        settings = runtime.settings
        key = self.key
        actor = Actor(user_id=key.user_id, role=key.role)
        context = runtime.context(next(iter(self.members)).websocket, actor)
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
                        errors = orjson.dumps(result_payload(result, mask=mask)["errors"]).decode()
                        self._broadcast("error", errors, final=True)
                        return
                    first = False
                    payload = orjson.dumps(result_payload(result, mask=mask)).decode()
                    if yielded_status.get():
                        self.status = payload
                    self._broadcast("next", payload)
            self._broadcast("complete", final=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("shared subscription stream failed")
            self._broadcast("complete", final=True)
        finally:
            self.registry.forget(self)


class SharedStreams:
    """This process's shared streams, by user, document and variables."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.streams: dict[StreamKey, SharedStream] = {}

    def join(
        self,
        member: Member,
        actor: Actor,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> None:
        key = StreamKey(
            actor.user_id, actor.role, query, orjson.dumps(variables, option=orjson.OPT_SORT_KEYS), operation_name
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
