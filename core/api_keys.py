"""API keys: their format, their keyed hash, and the verified keys each process remembers.

A key is `qnt_` + 40 random base62 characters (238 bits from `secrets`) + a 6-character base62
CRC32 of them, GitHub's token layout: a secret scanner (and our HTTP layer, before any look-up)
tells one from a JWT by its prefix, and a mistyped or truncated key is refused by its checksum
without a database round trip. Only its HMAC-SHA256 under API_KEY_SECRET is stored (a key of 238
random bits can't be guessed, so a slow hash would add cost and no safety; keyed, a stolen copy
of the table can't even confirm a guess without the secret), looked up by a unique index.

`ApiKeys.authenticate(key)` gives the actor of a valid key. Verified keys are remembered per
process (at most `CACHE_SIZE`, each for at most `CACHE_SECONDS`), so a partner's requests cost no
database round trip for their key. A change of a client or its keys (revocation, rotation, new
scopes) is published after its commit on the bus's `api_clients` channel (`invalidate_after_commit`):
the process that made it forgets the client's keys before the mutation answers, every other one
when the event reaches it. While the bus is not live (Redis unreachable: INTERRUPTED) nothing is
remembered and every request reads its key from the database; after RESUMED or EVENTS_MISSED the
memory starts empty. A look-up that began before an invalidation never stores its answer.

The application gives the look-up and the "last used" write (`services.api_clients`): core
knows no table.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import secrets
import string
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from core.context import Actor
from core.events import BusNotice, Envelope, EventBus, NoticeKind, SubscriberTooSlow, publish_after_commit
from core.settings import ConfigurationError, Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger("quintet.api_keys")

#: What every key starts with.
KEY_PREFIX = "qnt_"
_ALPHABET = string.digits + string.ascii_letters
_RANDOM_LENGTH = 40
_CHECKSUM_LENGTH = 6
KEY_LENGTH = len(KEY_PREFIX) + _RANDOM_LENGTH + _CHECKSUM_LENGTH
#: How much of a key is kept in clear to tell keys apart (`qnt_` and 8 characters).
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 8
#: The bus channel of API client changes, heard by every process.
CHANNEL = "api_clients"
TOPIC = "api_clients.changed"
CACHE_SIZE = 10_000
#: A remembered key is read again after this long, even if no invalidation reached the process.
CACHE_SECONDS = 60.0
#: A key's "last used" time is written at most this often (per key and process).
TOUCH_SECONDS = 60.0


def _base62(number: int, length: int) -> str:
    digits = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECKSUM_LENGTH)


def new_key() -> str:
    """A new random key (shown once, never stored)."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))
    return KEY_PREFIX + body + _checksum(body)


def is_api_key(credential: str) -> bool:
    """Whether a credential is meant as an API key (by its prefix), well-formed or not."""
    return credential.startswith(KEY_PREFIX)


def well_formed(key: str) -> bool:
    """The key's length, alphabet and checksum (no look-up)."""
    if len(key) != KEY_LENGTH or not key.startswith(KEY_PREFIX):
        return False
    body = key[len(KEY_PREFIX) : len(KEY_PREFIX) + _RANDOM_LENGTH]
    checksum = key[len(KEY_PREFIX) + _RANDOM_LENGTH :]
    if any(c not in _ALPHABET for c in body):
        return False
    return hmac.compare_digest(checksum, _checksum(body))


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]


def load_or_create_dev_secret(path: Path) -> str:
    """Dev mode keeps one generated secret under the data dir, so keys survive restarts."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(secret)
    tmp.chmod(0o600)
    tmp.replace(path)
    return secret


def key_secret(settings: Settings) -> bytes:
    """API_KEY_SECRET; generated under DATA_DIR in dev mode, required in production."""
    if settings.api_key_secret is not None:
        return settings.api_key_secret.get_secret_value().encode()
    if settings.is_dev:
        return load_or_create_dev_secret(settings.data_dir / "api-key-secret").encode()
    raise ConfigurationError(
        "API_KEY_SECRET is required in production mode (at least 32 characters, e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
    )


def hash_key(secret: bytes, key: str) -> bytes:
    """The keyed hash a key is stored and looked up by."""
    return hmac.new(secret, key.encode(), hashlib.sha256).digest()


class KeyProblem(StrEnum):
    """Why an API key was refused; sent to clients as `reason`."""

    MALFORMED = "API_KEY_MALFORMED"
    UNKNOWN = "API_KEY_UNKNOWN"
    REVOKED = "API_KEY_REVOKED"
    EXPIRED = "API_KEY_EXPIRED"


class InvalidApiKey(Exception):
    def __init__(self, problem: KeyProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key as the look-up finds it, with its client."""

    key_id: uuid.UUID
    key_hash: bytes
    client_id: uuid.UUID
    organization_id: uuid.UUID
    scopes: frozenset[str]
    trusted_documents_only: bool
    expires_at: datetime | None
    revoked: bool
    client_revoked: bool
    last_used_at: datetime | None


#: The application's look-up of a key by its hash (None: no such key).
Lookup = Callable[[bytes], Awaitable[KeyRecord | None]]
#: The application's write of a key's (and its client's) last use.
Touch = Callable[[uuid.UUID], Awaitable[None]]


@dataclass(slots=True)
class _Remembered:
    record: KeyRecord
    actor: Actor
    until: float


def actor_of(record: KeyRecord) -> Actor:
    expires = None if record.expires_at is None else int(record.expires_at.timestamp())
    actor = Actor.api_client(
        str(record.client_id),
        record.organization_id,
        scopes=record.scopes,
        trusted_documents_only=record.trusted_documents_only,
    )
    # A connection (WebSocket, event stream) ends when its key expires, as it does with a token.
    return dataclasses.replace(actor, expires_at=expires)


def check(record: KeyRecord, now: datetime) -> None:
    """Refuse a revoked or expired key (or one of a revoked client)."""
    if record.client_revoked:
        raise InvalidApiKey(KeyProblem.REVOKED, "This API key's client was revoked")
    if record.revoked:
        raise InvalidApiKey(KeyProblem.REVOKED, "This API key was revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise InvalidApiKey(KeyProblem.EXPIRED, "This API key has expired (its rotation's grace period is over)")


#: Every `ApiKeys` of this process (tests run several apps in one): a change forgets its
#: client's keys in all of them before the mutation answers.
_PROCESS_CACHES: list[ApiKeys] = []


class ApiKeys:
    """Verifies keys and remembers the verified ones (see the module docstring)."""

    def __init__(self, secret: bytes, lookup: Lookup, touch: Touch, bus: EventBus) -> None:
        self._secret = secret
        self._lookup = lookup
        self._touch = touch
        self._bus = bus
        self._remembered: OrderedDict[bytes, _Remembered] = OrderedDict()
        #: Bumped by every invalidation: a look-up that saw another value stores nothing.
        self.generation = 0
        #: Per client, the generation of its last invalidation, and the generation at which all
        #: were forgotten (the bus was down or missed events): live connections re-check on them.
        self.changed: dict[uuid.UUID, int] = {}
        self.reset = 0
        self._caching = False
        self._touched: dict[uuid.UUID, float] = {}
        self._listener: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.lookups = 0  # database look-ups made (the tests count them)

    def hash(self, key: str) -> bytes:
        return hash_key(self._secret, key)

    async def start(self) -> None:
        _PROCESS_CACHES.append(self)
        started = asyncio.get_running_loop().create_future()
        self._listener = asyncio.create_task(self._listen(started), name="api key invalidations")
        with suppress(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.shield(started)

    async def close(self) -> None:
        if self in _PROCESS_CACHES:
            _PROCESS_CACHES.remove(self)
        tasks = [t for t in (self._listener, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def caching(self) -> bool:
        return self._caching

    async def _listen(self, started: asyncio.Future[None]) -> None:
        while True:
            try:
                async with self._bus.subscribe(CHANNEL, max_queue=1000) as subscription:
                    async for delivery in subscription:
                        if isinstance(delivery, BusNotice):
                            self._notice(delivery.kind)
                            if not started.done():
                                started.set_result(None)
                        elif isinstance(delivery, Envelope):
                            client = delivery.event.get("client")
                            if isinstance(client, str):
                                with suppress(ValueError):
                                    self.invalidate(uuid.UUID(client))
                return
            except SubscriberTooSlow:
                self._forget_all(caching=False)  # too many changes to follow: start again, empty
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("api key invalidations: the subscription failed; remembering no key until it is back")
                self._forget_all(caching=False)
                await asyncio.sleep(1.0)

    def _notice(self, kind: NoticeKind) -> None:
        if kind is NoticeKind.INTERRUPTED:
            # Invalidations may not reach this process: remember nothing until the bus is back.
            self._forget_all(caching=False)
        else:  # STARTED, RESUMED, EVENTS_MISSED: live, and nothing remembered from before
            self._forget_all(caching=True)

    def _forget_all(self, *, caching: bool) -> None:
        self.generation += 1
        self._remembered.clear()
        self._caching = caching
        self.reset = self.generation

    def changed_since(self, client_id: uuid.UUID, generation: int) -> bool:
        """Whether a client's keys verified at `generation` must be verified again."""
        return self.reset > generation or self.changed.get(client_id, 0) > generation

    def invalidate(self, client_id: uuid.UUID) -> None:
        """Forget the client's keys (it changed: revoked, rotated, new scopes or policy)."""
        self.generation += 1
        self.changed[client_id] = self.generation
        for key_hash in [h for h, r in self._remembered.items() if r.record.client_id == client_id]:
            del self._remembered[key_hash]

    async def authenticate(self, key: str) -> Actor:
        """The API client behind `key`; raises `InvalidApiKey` saying why it is refused."""
        return (await self.verify(key))[1]

    async def verify(self, key: str) -> tuple[KeyRecord, Actor]:
        if not well_formed(key):
            raise InvalidApiKey(KeyProblem.MALFORMED, "This is not an API key (its length or checksum is wrong)")
        key_hash = self.hash(key)
        now = time.monotonic()
        remembered = self._remembered.get(key_hash)
        if remembered is not None and remembered.until > now and self._caching:
            self._remembered.move_to_end(key_hash)
            check(remembered.record, datetime.now(UTC))
            self._maybe_touch(remembered.record)
            return remembered.record, remembered.actor
        generation = self.generation
        self.lookups += 1
        record = await self._lookup(key_hash)
        if record is None or not hmac.compare_digest(record.key_hash, key_hash):
            raise InvalidApiKey(KeyProblem.UNKNOWN, "No API key matches this one")
        check(record, datetime.now(UTC))
        actor = actor_of(record)
        if self._caching and generation == self.generation:
            self._remembered[key_hash] = _Remembered(record, actor, now + CACHE_SECONDS)
            if len(self._remembered) > CACHE_SIZE:
                self._remembered.popitem(last=False)
        self._maybe_touch(record)
        return record, actor

    def _maybe_touch(self, record: KeyRecord) -> None:
        """Write the key's last use in the background, at most once a minute per key here."""
        now = time.monotonic()
        last = self._touched.get(record.key_id)
        if last is not None and now - last < TOUCH_SECONDS:
            return
        if last is None and record.last_used_at is not None:
            age = (datetime.now(UTC) - record.last_used_at).total_seconds()
            if age < TOUCH_SECONDS:  # another process wrote it lately
                self._touched[record.key_id] = now - age
                return
        self._touched[record.key_id] = now
        if len(self._touched) > CACHE_SIZE:
            self._touched.clear()
        task = asyncio.create_task(self._touch_quietly(record.key_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _touch_quietly(self, key_id: uuid.UUID) -> None:
        try:
            await self._touch(key_id)
        except Exception:
            logger.warning("could not record an API key's last use", exc_info=True)

    async def wait_for_touches(self) -> None:
        """Until the pending "last used" writes are done (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)


def invalidate_after_commit(session: AsyncSession, client_id: uuid.UUID) -> None:
    """Once the unit of work commits: this process's caches forget the client's keys at once,
    and the event on the bus makes every other process forget them."""
    from core.context import after_commit

    async def forget_here() -> None:
        for cache in list(_PROCESS_CACHES):
            cache.invalidate(client_id)

    after_commit(session, forget_here)
    publish_after_commit(session, CHANNEL, {"topic": TOPIC, "client": str(client_id)})
