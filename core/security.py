"""Passwords, signing keys, access tokens (JWT) and refresh-token secrets."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import sys
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from core.settings import ConfigurationError, Settings

ALGORITHM = "ES256"

#: Password hashes: argon2id at the minimum configuration of OWASP's Password Storage Cheat Sheet
#: (19 MiB of memory, 2 passes, 1 lane; its other settings of equal defense trade memory for
#: passes). argon2-cffi's default before (RFC 9106's second recommendation,
#: 64 MiB, 3 passes, 4 lanes) cost about 5 times the CPU per sign-in: ~165 ms against ~35 ms on
#: the 2-core machine (BENCHMARKS.md). Hashes made with other parameters still verify (a hash
#: carries its own) and are replaced at the next sign-in (`password_needs_rehash`).
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
_hasher = PasswordHasher(
    time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM, type=Type.ID
)
# Verified against when an email is unknown, so that both failures cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


# argon2 takes tens of ms of CPU and 19 MiB per hash: run it off the event loop (argon2-cffi
# releases the GIL), and at most a few at once so that a burst of sign-ins cannot exhaust memory.
_ARGON2_CONCURRENCY = max(2, os.cpu_count() or 2)
_argon2_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
#: How much lower than the event loop's the CPU priority (nice value) of hashing threads is.
_ARGON2_NICENESS = 10


def _lower_priority() -> None:
    """A hash runs on this thread (and on threads of its own for a hash of several lanes, an old
    one, which inherit its priority): hashes at once competed as equals with the event loop's
    single thread and stalled every other request of the process on a 2-core machine. Below the
    loop's priority they use the CPU the loop leaves. Linux only: elsewhere the call would renice
    the whole process."""
    if sys.platform == "linux":
        thread = threading.get_native_id()
        with suppress(OSError):
            niceness = os.getpriority(os.PRIO_PROCESS, thread)
            os.setpriority(os.PRIO_PROCESS, thread, min(19, niceness + _ARGON2_NICENESS))


_argon2_threads = ThreadPoolExecutor(
    max_workers=_ARGON2_CONCURRENCY, thread_name_prefix="argon2", initializer=_lower_priority
)


def _slots() -> asyncio.Semaphore:
    """One semaphore per event loop (the CLI and the server run different loops)."""
    loop = asyncio.get_running_loop()
    slots = _argon2_slots.get(loop)
    if slots is None:
        slots = _argon2_slots[loop] = asyncio.Semaphore(_ARGON2_CONCURRENCY)
    return slots


def _verify_sync(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    async with _slots():
        return await asyncio.get_running_loop().run_in_executor(_argon2_threads, _hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Checks against a dummy hash when there is no account, so timing tells nothing."""
    async with _slots():
        return await asyncio.get_running_loop().run_in_executor(_argon2_threads, _verify_sync, password_hash, password)


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def password_hasher() -> PasswordHasher:
    """The hasher of every password Quintet stores (for tools that make hashes in bulk)."""
    return _hasher


def new_refresh_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_secret(secret: str) -> str:
    """Refresh tokens are long random secrets, so a fast hash is enough (no brute force)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenProblem(StrEnum):
    """Why an access token was refused; sent to clients as `reason`."""

    MALFORMED = "TOKEN_MALFORMED"
    BAD_SIGNATURE = "TOKEN_BAD_SIGNATURE"
    EXPIRED = "TOKEN_EXPIRED"
    WRONG_AUDIENCE = "TOKEN_WRONG_AUDIENCE"
    WRONG_ISSUER = "TOKEN_WRONG_ISSUER"
    INVALID_CLAIMS = "TOKEN_INVALID_CLAIMS"


class InvalidAccessToken(Exception):
    def __init__(self, problem: TokenProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    expires_at: int


def load_or_create_dev_key(path: Path) -> str:
    """Dev mode keeps one generated key under the data dir, so tokens survive restarts."""
    if path.exists():
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ECKey.generate_key("P-256", private=True).as_pem(private=True).decode()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(pem)
    tmp.chmod(0o600)
    tmp.replace(path)
    return pem


def _split_pems(text: str) -> list[str]:
    marker = "-----END PUBLIC KEY-----"
    return [part + marker for part in text.split(marker) if part.strip()]


LEEWAY_SECONDS = 5
VERIFIED_TOKENS_KEPT = 10_000


class TokenService:
    """Signs access tokens with one private key and accepts that key plus any extra ones."""

    def __init__(self, settings: Settings) -> None:
        if settings.jwt_private_key:
            pem = settings.jwt_private_key
        elif settings.is_dev:
            pem = load_or_create_dev_key(settings.data_dir / "jwt-signing-key.pem")
        else:
            raise ConfigurationError(
                "JWT_PRIVATE_KEY is required in production mode (create one with `uv run app.py generate-key`)"
            )
        self._signing_key = ECKey.import_key(pem, {"use": "sig", "alg": ALGORITHM})
        self._signing_key.ensure_kid()
        public_keys = [ECKey.import_key(self._signing_key.as_pem(private=False))]
        for extra in _split_pems(settings.jwt_extra_public_keys or ""):
            public_keys.append(ECKey.import_key(extra))
        for key in public_keys:
            key.ensure_kid()
        self._verification_keys = KeySet(public_keys)  # type: ignore[arg-type]
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._ttl = settings.access_token_ttl_seconds
        # Tokens already verified, by their exact text (signature included, so no other text
        # can hit an entry), until they expire: an ES256 verification costs ~0.2 ms, paid by
        # every request of a client that sends the same token for its lifetime.
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()

    @property
    def access_token_ttl(self) -> int:
        return self._ttl

    def jwks(self) -> dict[str, Any]:
        keys = []
        for key in self._verification_keys.keys:
            public = key.as_dict(private=False)
            public.update({"use": "sig", "alg": ALGORITHM})
            keys.append(public)
        return {"keys": keys}

    def issue(self, *, user_id: uuid.UUID, role: str, now: int | None = None) -> tuple[str, int]:
        issued_at = int(time.time()) if now is None else now
        expires_at = issued_at + self._ttl
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "role": role,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": expires_at,
            "jti": uuid.uuid4().hex,
        }
        header = {"alg": ALGORITHM, "kid": self._signing_key.kid}
        return jwt.encode(header, claims, self._signing_key, algorithms=[ALGORITHM]), expires_at

    def verify(self, token: str) -> AccessClaims:
        known = self._verified.get(token)
        if known is not None:
            if time.time() <= known.expires_at + LEEWAY_SECONDS:
                self._verified.move_to_end(token)
                return known
            del self._verified[token]  # expired: verified again, to say so
        claims = self._verify(token)
        self._verified[token] = claims
        if len(self._verified) > VERIFIED_TOKENS_KEPT:
            self._verified.popitem(last=False)
        return claims

    def _verify(self, token: str) -> AccessClaims:
        try:
            decoded = jwt.decode(token, self._verification_keys, algorithms=[ALGORITHM])
        except (jose_errors.BadSignatureError, jose_errors.InvalidKeyIdError) as exc:
            raise InvalidAccessToken(TokenProblem.BAD_SIGNATURE, "Access token signature is invalid") from exc
        except (jose_errors.JoseError, ValueError) as exc:
            raise InvalidAccessToken(TokenProblem.MALFORMED, "Access token is malformed") from exc
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": self._issuer},
            aud={"essential": True, "value": self._audience},
            exp={"essential": True},
            sub={"essential": True},
        )
        claims = decoded.claims
        try:
            registry.validate(claims)
        except jose_errors.ExpiredTokenError as exc:
            raise InvalidAccessToken(TokenProblem.EXPIRED, "Access token has expired") from exc
        except jose_errors.InvalidClaimError as exc:
            if exc.claim == "aud":
                raise InvalidAccessToken(
                    TokenProblem.WRONG_AUDIENCE, "Access token was issued for another audience"
                ) from exc
            if exc.claim == "iss":
                raise InvalidAccessToken(
                    TokenProblem.WRONG_ISSUER, "Access token was issued by another issuer"
                ) from exc
            raise InvalidAccessToken(
                TokenProblem.INVALID_CLAIMS, f"Access token claim '{exc.claim}' is invalid"
            ) from exc
        except jose_errors.JoseError as exc:
            raise InvalidAccessToken(TokenProblem.INVALID_CLAIMS, "Access token claims are invalid") from exc
        try:
            return AccessClaims(
                user_id=uuid.UUID(str(claims["sub"])),
                role=str(claims.get("role", "user")),
                expires_at=int(claims["exp"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidAccessToken(TokenProblem.INVALID_CLAIMS, "Access token subject is invalid") from exc
