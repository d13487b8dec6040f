"""GraphQL over WebSocket at /graphql: graphql-transport-ws (what Apollo Client, urql and the
`graphql-ws` library speak), and the legacy subscriptions-transport-ws only when
WS_LEGACY_PROTOCOL is on. Strawberry's protocol handlers do the protocol; this adds:

* authentication from the `connection_init` payload (`{"authorization": "Bearer <token>"}` or
  `{"token": "<token>"}`), once per connection: an expired token closes with 4403 and the reason
  `TOKEN_EXPIRED`, and so does the connection when its token expires later; no token or any other
  bad one (forged, malformed, another audience) closes with 4401 and its reason. The codes follow
  the stock `graphql-ws` client: it never retries 4401 (a forged token stays forged) and retries
  4403 with backoff, calling an async `connectionParams` again for a fresh token;
* the limits: a connection_init timeout (4408), keep-alive `ping`s from the server, at most
  WS_MAX_CONNECTIONS_PER_USER live connections per user (4430, see `core.live_slots`), at most
  WS_MAX_SUBSCRIPTIONS operations at once (the refusal names the limit), messages no larger
  than MAX_BODY_BYTES (1009), and the POST endpoint's checks of each operation (NUL characters,
  and every schema extension: depth, aliases, tokens, nodes);
* a message that is not one of the protocol's (not an object, a `type` or `id` that is not a
  string, a payload of the wrong shape) closes the connection with 4400, as graphql-ws does;
* per-operation loaders: the connection's operations share one context, but each operation
  (and each event of a subscription) reads through its own loaders, held in a context variable
  of the operation's task, so that nothing cached for one is served stale to another.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncGenerator, Coroutine, Mapping, Sequence
from contextlib import suppress
from contextvars import ContextVar
from datetime import timedelta
from functools import lru_cache
from typing import Any, cast

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationType,
    parse,
)
from graphql.utilities import get_operation_ast
from starlette.routing import BaseRoute, Match, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived, WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage as LegacyInitMessage
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage, StartMessage
from strawberry.types.unset import UnsetType

from core import metrics
from core.api_keys import InvalidApiKey, is_api_key
from core.budgets import CostCharge
from core.context import Actor, Context
from core.http import RequestRefused, _parse_params, check_scopes_of, request_document
from core.limits import cacheable
from core.live_slots import CODE, LIMIT_NAME, LiveSlots, Slot, slot_owner, too_many_connections
from core.persisted import PersistedQueries, forget_registration
from core.products import LoaderContainer
from core.ratelimit import client_address
from core.rls import act_as
from core.runtime import Runtime
from core.security import InvalidAccessToken, TokenProblem
from core.settings import Settings
from core.shared_subscriptions import Member, SharedStreams

logger = logging.getLogger("quintet.ws")

_operation_loaders: ContextVar[LoaderContainer | None] = ContextVar("quintet_operation_loaders", default=None)
#: The cost charge of the operation running (core/budgets.py): one per operation, never the
#: connection's, so that each query and mutation on it is charged to the bucket.
_operation_cost: ContextVar[CostCharge | None] = ContextVar("quintet_operation_cost", default=None)

#: Close code for a user over WS_MAX_CONNECTIONS_PER_USER: graphql-ws uses 4400-4409, 4429 (too many
#: connection_init messages) and 4499; its client retries this one with backoff, like 4403.
TOO_MANY_CONNECTIONS_CODE = 4430
#: Close code for a token that will never be accepted (none, forged, malformed, another audience):
#: graphql-ws's client treats 4401 ("Unauthorized") as fatal and does not retry.
TOKEN_REFUSED_CODE = 4401
#: Close code for an expired token, at connection_init or later: graphql-ws's client retries 4403
#: ("Forbidden", which its protocol recommends for a refused connection_init) with backoff, and an
#: async `connectionParams` gives the retry a fresh token.
TOKEN_EXPIRED_CODE = 4403
MISSING_TOKEN = "UNAUTHENTICATED: send {authorization: 'Bearer <access token>'} in connection_init"
TOKEN_EXPIRED = "TOKEN_EXPIRED: Access token has expired; reconnect with a fresh one"


class ConnectionContext(Context[LoaderContainer]):
    """The context of one WebSocket connection; `loaders` are per operation (see the module docstring)."""

    connection_params: dict[str, Any] | None = None
    slot: Slot | None = None  # among the user's live connections, from connection_init to the end
    #: An API client's key and the invalidation generation it was verified at (see `Heartbeat`).
    api_key: tuple[str, int] | None = None

    async def release_slot(self, slots: LiveSlots) -> None:
        if self.slot is not None:
            slot, self.slot = self.slot, None
            await slots.release(slot)

    @property
    def loaders(self) -> LoaderContainer:
        loaders = _operation_loaders.get()
        if loaders is None:
            loaders = self.new_loaders(self.actor)
            _operation_loaders.set(loaders)
        return loaders

    @loaders.setter
    def loaders(self, value: LoaderContainer) -> None:
        _operation_loaders.set(value)

    @property
    def cost(self) -> CostCharge | None:
        return _operation_cost.get()

    @cost.setter
    def cost(self, value: CostCharge | None) -> None:
        _operation_cost.set(value)

    def start_operation(self) -> None:
        """Fresh loaders and no cost charge yet for the operation about to start, and its actor
        for the database (core/rls.py); its task copies these context variables."""
        act_as(self.actor)
        _operation_loaders.set(self.new_loaders(self.actor))
        _operation_cost.set(None)

    def token_expired(self) -> bool:
        actor = self.actor
        return actor is not None and actor.expires_at is not None and time.time() >= actor.expires_at


class ConnectionRefused(Exception):
    """Close the connection with `code` and `reason` (at most 123 bytes, as WebSocket allows)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason.encode()[:123].decode(errors="ignore")


def token_from(params: Mapping[str, Any]) -> str:
    authorization: Any = params.get("authorization", params.get("Authorization"))
    if isinstance(authorization, str) and authorization.strip():
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ConnectionRefused(
                TOKEN_REFUSED_CODE, "AUTHORIZATION_MALFORMED: authorization must be `Bearer <access token>`"
            )
        return token.strip()
    raw: Any = params.get("token")
    if isinstance(raw, str) and raw.strip():
        return raw.strip()
    raise ConnectionRefused(TOKEN_REFUSED_CODE, MISSING_TOKEN)


INVALID = "Invalid message received"


def _invalid(message: object, operations: frozenset[str], init: str = "connection_init") -> str | None:
    """Why `message` is not a well-formed message of its protocol (the close reason), or None.

    As graphql-ws validates a message before acting on it: an object with a string `type`; a
    payload that is an object (or null, where it is optional); a non-empty string `id` on the
    `operations` messages; for the one that starts an operation, a payload with a string `query`
    and optional `variables` and `extensions` objects and an `operationName` string.
    """
    if not isinstance(message, dict):
        return f"{INVALID}: a message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return f"{INVALID}: `type` must be a string"
    payload = message.get("payload")
    if kind in operations:
        key = message.get("id")
        if not isinstance(key, str) or not key:
            return f"{INVALID}: {kind} needs an `id` that is a non-empty string"
        if kind in ("subscribe", "start"):
            if not isinstance(payload, dict):
                return f"{INVALID}: the payload of {kind} must be an object"
            if not isinstance(payload.get("query"), str) and not PersistedQueries.names_a_document(
                payload.get("extensions")
            ):
                return f"{INVALID}: `query` must be a string (or extensions.persistedQuery name the document)"
            for name in ("variables", "extensions"):
                if payload.get(name) is not None and not isinstance(payload[name], dict):
                    return f"{INVALID}: `{name}` must be an object"
            if payload.get("operationName") is not None and not isinstance(payload["operationName"], str):
                return f"{INVALID}: `operationName` must be a string"
    elif kind in (init, "ping", "pong") and payload is not None and not isinstance(payload, dict):
        return f"{INVALID}: the payload of {kind} must be an object"
    return None


def _refusal(refused: RequestRefused, operation_id: str) -> dict[str, Any]:
    metrics.refused(refused.code, refused.details.get("limit"))
    error = {"message": refused.message, "extensions": {"code": refused.code, **refused.details}}
    return {"id": operation_id, "type": "error", "payload": [error]}


def _too_many(limit: int) -> dict[str, Any]:
    metrics.refused("TOO_MANY_SUBSCRIPTIONS", "maxSubscriptionsPerConnection")
    return {
        "message": f"At most {limit} operations may run at once on one connection (maxSubscriptionsPerConnection)",
        "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS", "limit": "maxSubscriptionsPerConnection", "value": limit},
    }


class LimitedWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's adapter, refusing messages larger than MAX_BODY_BYTES like the POST endpoint."""

    def __init__(self, view: Any, request: WebSocket, response: WebSocket) -> None:
        super().__init__(view, request, response)
        self.limit: int = view.runtime.settings.max_body_bytes

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                try:
                    text = await self.ws.receive_text()
                    if len(text.encode()) > self.limit:
                        reason = f"Message larger than the limit of {self.limit} bytes (maxBodyBytes)"
                        metrics.refused("REQUEST_TOO_LARGE", "maxBodyBytes")
                        await self.ws.close(code=1009, reason=reason)  # 1009: message too big
                        return
                    yield self.view.decode_json(text)
                    text = ""  # an idle connection keeps no copy of its last message
                except (ValueError, RecursionError) as exc:  # not JSON, or JSON Python can't hold
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from exc
        except KeyError as exc:
            raise NonTextMessageReceived from exc
        except WebSocketDisconnect:
            return
        except RuntimeError:  # the socket was closed under us (e.g. when its token expired)
            return


def _parses_to_subscription(query: str, operation_name: str | None, max_tokens: int) -> frozenset[str] | None:
    """The root fields of the operation when it is a subscription (None when it is not)."""
    try:
        document = parse(query, max_tokens=max_tokens)
        operation = get_operation_ast(document, operation_name)
    except GraphQLError:
        return None
    if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
        return None
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    fields: set[str] = set()
    pending, seen = [operation.selection_set], set()
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                fields.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    pending.append(fragment.selection_set)
    return frozenset(fields)


_cached_is_subscription = lru_cache(maxsize=1024)(_parses_to_subscription)


def subscription_fields(query: str, operation_name: str | None, settings: Settings) -> frozenset[str] | None:
    """The operation's root fields when it is a subscription, else None; cached by document
    text, unless the text is longer than MAX_CACHED_DOCUMENT_BYTES (see `core.limits.cacheable`)."""
    if cacheable(query, settings.max_cached_document_bytes):
        return _cached_is_subscription(query, operation_name, settings.max_tokens)
    return _parses_to_subscription(query, operation_name, settings.max_tokens)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with our refusals, keep-alive and token expiry; subscriptions join
    shared streams (see `core.shared_subscriptions`), queries and mutations run as usual."""

    context: ConnectionContext
    view: GraphQLWebSocketView
    members: dict[str, Member]
    closing = False

    async def handle(self) -> None:
        """strawberry's loop, without holding on to the last message while waiting for the next
        (for a subscriber, its `subscribe` and its document, for as long as it is connected)."""
        self.on_request_accepted()
        try:
            try:
                async for message in self.websocket.iter_json():
                    await self.handle_message(cast(Message, message))
                    del message
            except NonTextMessageReceived:
                await self.handle_invalid_message("WebSocket message type must be text")
            except NonJsonMessageReceived:
                await self.handle_invalid_message("WebSocket message must be valid JSON")
        except WebSocketDisconnected:
            pass
        finally:
            await self.shutdown()

    def on_request_accepted(self) -> None:
        self.members = {}
        self.keepalive = self.view.runtime.settings.ws_keepalive_seconds
        self.last_ping = time.time()
        super().on_request_accepted()
        self.view.heartbeat.add(self)

    def beat(self, now: float) -> None:
        """Called by the view's heartbeat: a keep-alive ping when one is due; the end of the
        connection once its access token has expired."""
        if self.closing:
            return
        if self.context.token_expired():
            self.closing = True
            self._spawn(self.websocket.close(code=TOKEN_EXPIRED_CODE, reason=TOKEN_EXPIRED))
        elif self._client_changed():
            self.closing = True
            self._spawn(self._check_key_again())
        elif self.keepalive > 0 and now - self.last_ping >= self.keepalive:
            self.last_ping = now
            self._spawn(self.send_message({"type": "ping"}))

    def _client_changed(self) -> bool:
        """Whether the API client of this connection changed since its key was verified."""
        held = self.context.api_key
        actor = self.context.actor
        if held is None or actor is None or actor.label is None:
            return False
        return self.view.runtime.api_keys.changed_since(uuid.UUID(actor.label), held[1])

    async def _check_key_again(self) -> None:
        """The client changed (revoked, rotated, new scopes): the key is verified again; a refused
        one closes the connection (4401), a valid one goes on with the client's new scopes."""
        held = self.context.api_key
        assert held is not None
        api_keys = self.view.runtime.api_keys
        generation = api_keys.generation
        try:
            actor = await api_keys.authenticate(held[0])
        except InvalidApiKey as exc:
            await self.websocket.close(code=TOKEN_REFUSED_CODE, reason=f"{exc.problem.value}: {exc.message}"[:123])
            return
        self.context.actor, self.context.api_key = actor, (held[0], generation)
        self.closing = False

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        async def run() -> None:
            with suppress(Exception):  # the connection went away meanwhile
                await work

        task = asyncio.create_task(run())
        self.view.heartbeat.tasks.add(task)
        task.add_done_callback(self.view.heartbeat.tasks.discard)

    async def shutdown(self) -> None:
        await self.context.release_slot(self.view.runtime.live_slots)
        self.view.heartbeat.discard(self)
        for member in self.members.values():
            if member.stream is not None:
                member.stream.leave(member)
            member.cancel()
        self.members.clear()
        await super().shutdown()

    async def handle_complete(self, message: CompleteMessage) -> None:
        member = self.members.pop(message["id"], None)
        if member is None:
            await super().handle_complete(message)
            return
        if member.stream is not None:
            member.stream.leave(member)
        member.cancel()

    async def handle_message(self, message: Message) -> None:
        problem = _invalid(message, frozenset({"subscribe", "complete"}))
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if message.get("payload", {}) is None:  # the protocol allows null for "no payload"
            message = {"type": "connection_init"}
        try:
            await super().handle_connection_init(message)
        except ConnectionRefused as refused:
            await self.websocket.close(code=refused.code, reason=refused.reason)
            return
        if self.connection_init_received:
            self.connection_init_timeout_task = None  # cancelled by strawberry: no need to keep it

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged:
            if self.context.token_expired():
                await self.websocket.close(code=TOKEN_EXPIRED_CODE, reason=TOKEN_EXPIRED)
                return
            payload: Any = message["payload"]
            try:
                # A trusted document's id or hash, or an automatic persisted query's hash, names the
                # text (core/documents.py, core/persisted.py), under the actor's document policy; a
                # miss is this operation's error, which urql's persistedExchange answers with the text.
                await _resolve_document(self.view.runtime, self.context, payload)
                check_scopes_of(
                    self.view.runtime,
                    self.context.actor,
                    payload["query"],
                    payload.get("operationName"),
                    payload.get("variables"),
                )
            except RequestRefused as refused:
                await self.send_message(cast(Any, _refusal(refused, message["id"])))
                return
            operation_id = message["id"]
            for ended in [key for key, member in self.members.items() if member.ended]:
                del self.members[ended]  # a stream that ended frees its id and its place
            if operation_id in self.members or operation_id in self.operations:
                await self.websocket.close(code=4409, reason=f"Subscriber for {operation_id} already exists")
                return
            settings = self.view.runtime.settings
            limit = settings.ws_max_subscriptions
            if len(self.operations) + len(self.members) >= limit:
                refusal = {"id": operation_id, "type": "error", "payload": [_too_many(limit)]}
                await self.send_message(cast(Any, refusal))
                return
            actor = self.context.actor
            operation_name = payload.get("operationName")
            fields = subscription_fields(payload["query"], operation_name, settings)
            # A field whose subscribers each need their own first message (`Product.own_streams`)
            # runs as its own operation, never as a member of a shared stream.
            if actor is not None and fields and not fields & self.view.runtime.own_streams:
                socket = cast(ASGIWebSocketAdapter, self.websocket).ws
                member = Member(socket, operation_id, settings.subscription_queue_size)
                self.members[operation_id] = member
                self.view.shared.join(member, actor, payload["query"], payload.get("variables"), operation_name)
                return
            self.context.start_operation()
        try:
            await super().handle_subscribe(message)  # the operation's task took its registration along
        finally:
            forget_registration()  # the connection's next messages are not this operation's

    async def _reject_incremental_delivery(self, operation: Operation[Context, None]) -> None:
        """graphql-transport-ws has no message for @defer/@stream payloads: strawberry refuses such an
        operation with an error that has no code; this one has it, and says where they work."""
        message = (
            "@defer and @stream are not delivered over graphql-transport-ws: send the query over HTTP "
            "(Accept: multipart/mixed or text/event-stream)"
        )
        await operation.send_initial_errors([GraphQLError(message, extensions={"code": INCREMENTAL_OVER_WS})])


INCREMENTAL_OVER_WS = "INCREMENTAL_DELIVERY_UNSUPPORTED"


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """subscriptions-transport-ws (only when WS_LEGACY_PROTOCOL is on), with the same refusals."""

    context: ConnectionContext
    view: GraphQLWebSocketView

    async def handle_message(self, message: OperationMessage) -> None:
        problem = _invalid(message, frozenset({"start", "stop"}))
        if problem is not None:
            await self.websocket.close(code=4400, reason=problem)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: LegacyInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except ConnectionRefused as refused:
            payload = {"message": refused.reason, "code": refused.code}
            await self.send_message(cast(Any, {"type": "connection_error", "payload": payload}))
            await self.websocket.close(code=refused.code, reason=refused.reason)

    async def cleanup(self) -> None:
        await self.context.release_slot(self.view.runtime.live_slots)
        await super().cleanup()

    async def handle_start(self, message: StartMessage) -> None:
        if self.connection_acknowledged:
            if self.context.token_expired():
                await self.websocket.close(code=TOKEN_EXPIRED_CODE, reason=TOKEN_EXPIRED)
                return
            payload: Any = message.get("payload")
            try:
                await _resolve_document(self.view.runtime, self.context, payload)
                check_scopes_of(
                    self.view.runtime,
                    self.context.actor,
                    payload["query"],
                    payload.get("operationName"),
                    payload.get("variables"),
                )
            except RequestRefused as refused:
                error = {"message": refused.message, "extensions": {"code": refused.code, **refused.details}}
                await self.send_message(cast(Any, {"type": "error", "id": message["id"], "payload": error}))
                return
            limit = self.view.runtime.settings.ws_max_subscriptions
            if len(self.subscriptions) >= limit and message["id"] not in self.subscriptions:
                await self.send_message(cast(Any, {"type": "error", "id": message["id"], "payload": _too_many(limit)}))
                return
            self.context.start_operation()
        try:
            await super().handle_start(message)
        finally:
            forget_registration()


class Heartbeat:
    """One task for every connection of the process: keep-alive pings and token expiry.

    (A task per connection would cost each idle subscriber a few more kilobytes.)
    """

    def __init__(self, keepalive: float) -> None:
        # Token expiry is checked every tick too: a few seconds late at most, like the JWT leeway.
        self.tick = min(max(keepalive / 3, 0.1), 5.0) if keepalive > 0 else 5.0
        self.handlers: set[TransportWSHandler] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, handler: TransportWSHandler) -> None:
        self.handlers.add(handler)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def discard(self, handler: TransportWSHandler) -> None:
        self.handlers.discard(handler)

    async def _run(self) -> None:
        while self.handlers:
            await asyncio.sleep(self.tick)
            now = time.time()
            for handler in list(self.handlers):
                handler.beat(now)


class GraphQLWebSocketView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = LimitedWebSocketAdapter

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        protocols = [GRAPHQL_TRANSPORT_WS_PROTOCOL]
        if settings.ws_legacy_protocol:
            protocols.append(GRAPHQL_WS_PROTOCOL)
        self.shared = SharedStreams(runtime)
        self.heartbeat = Heartbeat(settings.ws_keepalive_seconds)
        super().__init__(
            runtime.schema,
            graphql_ide=None,
            subscription_protocols=protocols,
            keep_alive=settings.ws_keepalive_seconds > 0,
            keep_alive_interval=settings.ws_keepalive_seconds or 1.0,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_connection_init_timeout_seconds),
            # Checked by the handlers above, whose refusal names the limit.
            max_subscriptions_per_connection=None,
            allowed_origins=settings.cors_origins,
        )
        self.runtime = runtime

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        """CORS_ORIGINS, and in dev mode without them any port of localhost (`cors_origin_regex`)."""
        if super().is_websocket_origin_allowed(request, origin):
            return True
        pattern = self.runtime.settings.cors_origin_regex
        return pattern is not None and re.fullmatch(pattern, origin) is not None

    async def get_context(self, request: Any, response: Any) -> ConnectionContext:
        return self.runtime.context(request, None, None, ConnectionContext)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        assert isinstance(context, ConnectionContext)
        token = token_from(context.connection_params or {})
        if is_api_key(token):
            actor = await self._api_client(context, token)
        else:
            try:
                claims = self.runtime.tokens.verify(token)
            except InvalidAccessToken as exc:
                code = TOKEN_EXPIRED_CODE if exc.problem is TokenProblem.EXPIRED else TOKEN_REFUSED_CODE
                raise ConnectionRefused(code, f"{exc.problem.value}: {exc.message}") from exc
            actor = Actor(user_id=claims.user_id, role=claims.role, expires_at=claims.expires_at)
        slots = self.runtime.live_slots
        await context.release_slot(slots)  # a second connection_init (legacy protocol) replaces the first
        context.slot = await slots.acquire(slot_owner(actor))
        if context.slot is None:
            metrics.refused(CODE, LIMIT_NAME)
            raise ConnectionRefused(TOO_MANY_CONNECTIONS_CODE, f"{CODE}: {too_many_connections(slots.limit)}")
        context.actor = actor
        context.connection_params = None  # the token is no longer needed: don't keep it per connection
        return {"expiresAt": actor.expires_at}

    async def _api_client(self, context: ConnectionContext, key: str) -> Actor:
        """The API client of a key; any refusal is final (4401): a client can't refresh a key."""
        api_keys = self.runtime.api_keys
        generation = api_keys.generation
        try:
            actor = await api_keys.authenticate(key)
        except InvalidApiKey as exc:
            raise ConnectionRefused(TOKEN_REFUSED_CODE, f"{exc.problem.value}: {exc.message}") from exc
        # Kept (hashed) to check the key again when its client changes (revoked, new scopes).
        context.api_key = (key, generation)
        return actor


async def graphql_websocket(websocket: WebSocket) -> None:
    view: GraphQLWebSocketView = websocket.app.state.graphql_websocket
    await view.run(websocket)


class WebSocketShortcut:
    """WebSocket connections straight to their route's endpoint, past Starlette's exception
    middleware and router: their frames stay suspended for as long as a connection lasts (~4 KB
    per idle subscriber). Innermost of the middleware, so that what is outside it (request id,
    log line, metrics, traces) still sees every connection; anything else goes on as usual
    (e.g. a WebSocket to a path with no route, which the router refuses)."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = [route for route in routes if isinstance(route, WebSocketRoute)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    await route.endpoint(WebSocket(scope, receive=receive, send=send))
                    return
        await self.app(scope, receive, send)


async def _resolve_document(runtime: Runtime, context: Any, payload: dict[str, Any]) -> None:
    """Put the text of the document a `subscribe`/`start` payload names in its `query`: as over
    HTTP (`core.http.request_document`), so that the actor's document policy holds here too."""
    params, _, operation_name, extensions = _parse_params(payload)
    document = await request_document(
        runtime,
        params,
        context.actor,
        extensions=extensions,
        operation_name=operation_name,
        address=client_address(context.request),
        single=None,
    )
    payload["query"] = document.query
    payload.pop("documentId", None)
