"""Automatic persisted queries: Apollo's APQ protocol, with the documents in Redis or in memory.

A client sends the SHA-256 of its document instead of the text, in
`extensions.persistedQuery = {"version": 1, "sha256Hash": "<64 hex>"}` (POST body, or the GET
parameter `extensions`). The server answers from its store; a hash it does not know is refused
with the error Apollo Client's `PersistedQueryLink` and urql's `persistedExchange` recognise
(message `PersistedQueryNotFound`, code `PERSISTED_QUERY_NOT_FOUND`), and they send the request
again with the text and the hash. The hash must then be the text's (else
`PERSISTED_QUERY_HASH_MISMATCH`), and the document is stored once it has passed every check
before execution (parsing, validation, depth, aliases, tokens, selections, nodes): junk that
doesn't validate never reaches the store, nor does a text longer than MAX_CACHED_DOCUMENT_BYTES,
nor more than APQ_STORE_RATE_LIMIT documents per client address.

    persisted = PersistedQueries.for_settings(settings, plans, counters)  # the lifespan; .close() at its end
    text = await persisted.document(query, extensions, operation_name, address)  # per request (core/http.py)

The store is Redis when REDIS_URL is set (`quintet:apq:<hash>`, expiring APQ_TTL_SECONDS after
its last use there, so every process knows what one of them stored), with the process's own copies
in front; else only a least-recently-used cache of at most APQ_MEMORY_BYTES of text in the process.
While Redis is unreachable the process keeps its documents in memory (the outage and the recovery
logged once each; Redis is tried again every few seconds).

Other sources of documents by hash slot in before the store (`PersistedQueries.lookups`): a
registered trusted document answers first, then what APQ stored.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from cachetools import LRUCache
from strawberry.extensions import SchemaExtension

from core import metrics
from core.errors import RateLimited
from core.limits import cacheable
from core.observability import request_record
from core.ratelimit import Counters, RateLimiter
from core.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from core.fastpath import PlanCache

logger = logging.getLogger("quintet.persisted")

VERSION = 1
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
VERSION_NOT_SUPPORTED = "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")

#: A source of documents by their SHA-256 (hex, lower case): the text, or None when it has none.
HashLookup = Callable[[str], Awaitable[str | None]]


class PersistedQueryRefused(Exception):
    """A refused persisted-query request: `status` under application/graphql-response+json,
    `json_status` under application/json (a miss is an ordinary GraphQL error there: 200)."""

    def __init__(self, status: int, message: str, code: str, *, json_status: int | None = None, **details: Any):
        super().__init__(message)
        self.status = status
        self.json_status = status if json_status is None else json_status
        self.message = message
        self.code = code
        self.details = details


def not_found() -> PersistedQueryRefused:
    # The message is the protocol's: urql's exchange matches it (Apollo's link the code or it).
    return PersistedQueryRefused(404, "PersistedQueryNotFound", NOT_FOUND, json_status=200)


def not_supported() -> PersistedQueryRefused:
    return PersistedQueryRefused(400, "PersistedQueryNotSupported", NOT_SUPPORTED, json_status=200)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class DocumentStore(Protocol):
    async def get(self, sha256: str) -> str | None: ...

    async def put(self, sha256: str, text: str) -> None: ...

    async def close(self) -> None: ...


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


class MemoryStore:
    """The process's documents: least recently used first out, at most `max_bytes` of text."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._documents: LRUCache[str, str] = LRUCache(maxsize=max(max_bytes, 1), getsizeof=_utf8_size)

    async def get(self, sha256: str) -> str | None:
        return self._documents.get(sha256)

    async def put(self, sha256: str, text: str) -> None:
        if _utf8_size(text) <= self.max_bytes:
            self._documents[sha256] = text

    async def close(self) -> None:
        self._documents.clear()

    def __len__(self) -> int:
        return len(self._documents)


class RedisStore:
    """Documents in Redis, shared by every process: `<prefix><hash>` → text, expiring `ttl`
    seconds after it was last stored or read there.

    `memory` holds what this process stored or read, and answers first: a hash always names the
    same text, so a copy is never stale, and a hit costs no round trip. While Redis fails, memory
    alone serves. A document that expired in Redis while processes used their copies is missed
    once by a process that has none, and its client sends the text again (the protocol's way).
    """

    CONNECT_TIMEOUT = 1.0
    COMMAND_TIMEOUT = 1.0
    DOWN_PAUSE = 5.0  # after a failure, memory only for this long

    def __init__(self, url: str, *, ttl: int, memory: MemoryStore, prefix: str = "quintet:apq:") -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.ttl = ttl
        self.prefix = prefix
        self.memory = memory
        # One retry: a pooled connection that a restarted Redis closed is replaced at once.
        self._redis: Redis = Redis.from_url(
            url,
            socket_connect_timeout=self.CONNECT_TIMEOUT,
            socket_timeout=self.COMMAND_TIMEOUT,
            retry=Retry(NoBackoff(), 1),
        )
        self._down_until = 0.0
        self._down = False

    async def get(self, sha256: str) -> str | None:
        known = await self.memory.get(sha256)
        if known is not None or time.monotonic() < self._down_until:
            return known
        try:
            found = await self._redis.getex(self.prefix + sha256, ex=self.ttl)
        except Exception as error:  # noqa: BLE001 - any failure of Redis: a miss
            self._failed(error)
            return None
        self._answered()
        if found is None:
            return None
        text = found.decode() if isinstance(found, bytes) else found
        await self.memory.put(sha256, text)
        return text

    async def put(self, sha256: str, text: str) -> None:
        await self.memory.put(sha256, text)
        if time.monotonic() >= self._down_until:
            try:
                await self._redis.set(self.prefix + sha256, text.encode(), ex=self.ttl)
            except Exception as error:  # noqa: BLE001 - any failure of Redis: memory holds it
                self._failed(error)
            else:
                self._answered()

    def _failed(self, error: BaseException) -> None:
        if not self._down:
            logger.warning(
                "persisted queries: Redis unreachable (%s); this process keeps them in memory, "
                "trying Redis again every %.0f s",
                error,
                self.DOWN_PAUSE,
            )
        self._down = True
        self._down_until = time.monotonic() + self.DOWN_PAUSE

    def _answered(self) -> None:
        if self._down:
            logger.warning("persisted queries: Redis answers again; documents are shared again")
            self._down = False

    async def close(self) -> None:
        await self._redis.aclose()


@dataclass(eq=False)
class Registration:
    """A text sent with its (checked) hash, to be stored once it has passed every check."""

    sha256: str
    text: str
    store: DocumentStore
    #: Documents stored per client address (APQ_STORE_RATE_LIMIT), and this request's address.
    limiter: RateLimiter | None = None
    address: str | None = None
    done: bool = False

    async def complete(self) -> None:
        if self.done:
            return
        self.done = True
        if self.limiter is not None and self.address is not None:
            try:
                await self.limiter.hit(self.address)
            except RateLimited:
                metrics.PERSISTED_QUERIES.labels("not_stored").inc()
                return  # it ran; stored when the address is under its limit again
        await self.store.put(self.sha256, self.text)
        metrics.PERSISTED_QUERIES.labels("stored").inc()


#: The registration of the request (or WebSocket operation) that the calling task runs.
_pending: ContextVar[Registration | None] = ContextVar("quintet_apq_registration", default=None)


def forget_registration() -> None:
    """The calling task goes on with other work than the request that registered a document."""
    _pending.set(None)


class StoreValidatedDocuments(SchemaExtension):
    """Stores the request's APQ document when its operation is let through to execution: it
    parsed, validated and passed every limit (the extensions before execution)."""

    async def on_execute(self) -> Any:  # an async generator: strawberry awaits the store
        registration = _pending.get()
        if registration is not None and registration.text == self.execution_context.query:
            await registration.complete()
        yield


@dataclass(eq=False)
class PersistedQueries:
    """APQ for the endpoint: the document a request's parameters name."""

    store: DocumentStore
    enabled: bool = True
    max_document_bytes: int = 16 * 1024
    plans: PlanCache | None = None
    #: Documents stored per client address; None: no limit.
    limiter: RateLimiter | None = None
    #: Asked in order before the APQ store (trusted documents first).
    lookups: list[HashLookup] = field(default_factory=list)

    @classmethod
    def for_settings(
        cls, settings: Settings, plans: PlanCache | None = None, counters: Counters | None = None
    ) -> PersistedQueries:
        memory = MemoryStore(settings.apq_memory_bytes)
        store: DocumentStore = memory
        if settings.redis_url:
            store = RedisStore(settings.redis_url, ttl=settings.apq_ttl_seconds, memory=memory)
        limiter = None
        if counters is not None:
            limiter = RateLimiter(
                limit=settings.apq_store_rate_limit,
                storage=counters,
                namespace="apq",
                setting="APQ_STORE_RATE_LIMIT",
                subject="persisted queries stored from this address",
            )
        return cls(
            store=store,
            enabled=settings.apq_enabled,
            max_document_bytes=settings.max_cached_document_bytes,
            plans=plans,
            limiter=limiter,
        )

    async def close(self) -> None:
        await self.store.close()

    async def document(
        self,
        query: str | None,
        extensions: dict[str, Any] | None,
        operation_name: str | None,
        address: str | None = None,
    ) -> str | None:
        """The text of the document the request names: `query` as sent when it carries no
        `persistedQuery` (None if it has none), else the stored text of its hash, or `query`
        checked against its hash and registered (counted for the client's `address`). Raises
        `PersistedQueryRefused`."""
        persisted = extensions.get("persistedQuery") if extensions is not None else None
        if persisted is None:
            return query
        sha256 = _hash_of(persisted)
        if not self.enabled:
            raise not_supported()
        record = request_record()  # for the request's log line
        if query is None or not query.strip():
            for lookup in (*self.lookups, self.store.get):
                text = await lookup(sha256)
                if text is not None:
                    record.persisted_query = "hit"
                    metrics.PERSISTED_QUERIES.labels("hit").inc()
                    return text
            record.persisted_query = "miss"
            metrics.PERSISTED_QUERIES.labels("miss").inc()
            raise not_found()
        record.persisted_query = "sent"
        if sha256_hex(query) != sha256:
            raise PersistedQueryRefused(
                400,
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of `query` (hex of its UTF-8 bytes)",
                HASH_MISMATCH,
            )
        if cacheable(query, self.max_document_bytes):
            registration = Registration(sha256, query, self.store, self.limiter, address)
            if self.plans is not None and self.plans.known(query, operation_name):
                await registration.complete()  # its plan exists: it passed every check before
            else:
                _pending.set(registration)  # StoreValidatedDocuments stores it, if it passes them
        return query

    @staticmethod
    def names_a_document(extensions: Any) -> bool:
        """Whether request `extensions` carry a persisted query (then `query` may be absent)."""
        return isinstance(extensions, dict) and extensions.get("persistedQuery") is not None


def _hash_of(persisted: Any) -> str:
    if not isinstance(persisted, dict):
        raise PersistedQueryRefused(400, "extensions.persistedQuery must be an object", "BAD_REQUEST")
    version = persisted.get("version")
    if version != VERSION or isinstance(version, bool):
        raise PersistedQueryRefused(
            400,
            f"Unsupported persisted query version {version!r}: this server speaks version {VERSION}",
            VERSION_NOT_SUPPORTED,
            supported=[VERSION],
        )
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or _SHA256_HEX.fullmatch(sha256) is None:
        raise PersistedQueryRefused(
            400, "extensions.persistedQuery.sha256Hash must be a SHA-256 in hex (64 characters)", "BAD_REQUEST"
        )
    return sha256.lower()
