"""The typed per-request context every resolver receives."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import SQLModel
from starlette.requests import HTTPConnection

from core.db import CommitOutcomeUnknown, DatabaseUnavailable, SqlStats, lost_connection
from core.errors import ClientError, DomainError, Unauthenticated
from core.events import SESSION_BUS_KEY, EventBus, process_bus
from core.ratelimit import RateLimiter, SignInLimits
from core.rls import acting
from core.security import TokenService
from core.settings import Settings

if TYPE_CHECKING:
    from core.budgets import Budgets, CostCharge
    from core.replicas import ReadRouting

T = TypeVar("T")
#: The application's per-request loader container (see `core.products.LoaderContainer`).
L = TypeVar("L")

logger = logging.getLogger("quintet.context")

#: A token can outlive its account: it verifies, but the user's row is gone.
ACCOUNT_GONE = "The account this access token was issued for no longer exists; sign in again"


def account_gone() -> ClientError:
    """What a reader raises when the viewer's own user row is missing."""
    return ClientError(ACCOUNT_GONE, "UNAUTHENTICATED", reason="ACCOUNT_NOT_FOUND")


def _references_users(error: IntegrityError) -> bool:
    """Whether a write failed because a row's `users` foreign key names no user (the actor's, gone)."""
    cause = error.orig.__cause__ if error.orig is not None else None
    if not isinstance(cause, asyncpg.ForeignKeyViolationError):
        return False
    return any(
        fk.name == cause.constraint_name and fk.referred_table.name == "users"
        for table in SQLModel.metadata.tables.values()
        for fk in table.foreign_key_constraints
    )


class ActorKind(StrEnum):
    """Who can be asking (`core.access` says what each may read)."""

    #: A signed-in user, behind an access token.
    USER = "user"
    #: A partner's API client, acting for its organization and for no user.
    API_CLIENT = "api_client"
    #: A sender whose webhook signature verified (Stripe, Twilio...): reads nothing by policy.
    WEBHOOK = "webhook"
    #: The service itself (jobs, cron): its statements name the rows they work on.
    SYSTEM = "system"


#: The user id of actors that are not a user (never a row of `users`).
NO_USER = uuid.UUID(int=0)


@dataclass(frozen=True)
class Actor:
    """Who is asking: the signed-in user behind the access token, by default; `api_client`,
    `webhook` and `system` make the other kinds."""

    user_id: uuid.UUID
    #: The user's global role ("user", "admin"); honoured only where the README says.
    role: str
    #: When the access token that authenticated this actor expires (Unix time); live
    #: subscriptions end then.
    expires_at: int | None = None
    kind: ActorKind = ActorKind.USER
    #: An API client's organization.
    organization_id: uuid.UUID | None = None
    #: What the actor is, for the audit trail: the client's id, the webhook's provider, the job.
    label: str | None = None
    #: An API client's scopes (`aurum:read`, ...); None for the other kinds, which scopes don't limit.
    scopes: frozenset[str] | None = None
    #: Whether only trusted (registered) documents may run for this actor: an API client's policy.
    trusted_documents_only: bool = False

    @classmethod
    def system(cls, label: str) -> Actor:
        return cls(user_id=NO_USER, role="system", kind=ActorKind.SYSTEM, label=label)

    @classmethod
    def api_client(
        cls,
        client_id: str,
        organization_id: uuid.UUID,
        *,
        scopes: frozenset[str] = frozenset(),
        trusted_documents_only: bool = True,
    ) -> Actor:
        return cls(
            user_id=NO_USER,
            role="api_client",
            kind=ActorKind.API_CLIENT,
            organization_id=organization_id,
            label=client_id,
            scopes=scopes,
            trusted_documents_only=trusted_documents_only,
        )

    @classmethod
    def webhook(cls, provider: str) -> Actor:
        return cls(user_id=NO_USER, role="webhook", kind=ActorKind.WEBHOOK, label=provider)

    @property
    def is_user(self) -> bool:
        return self.kind is ActorKind.USER


@dataclass(frozen=True)
class AuditScope:
    """Whom a unit of work's changes are recorded as in the audit trail (`services/audit.py`
    reads it from `session.info[AUDIT_SCOPE]`): the actor (None: nobody signed in), the
    request's id and the GraphQL mutation field being run. A unit of work without one records
    nothing."""

    actor: Actor | None
    request_id: str | None = None
    operation: str | None = None


#: The `session.info` key of the unit of work's `AuditScope`.
AUDIT_SCOPE = "audit_scope"
#: The longest `X-Request-ID` kept (a longer one is cut).
MAX_REQUEST_ID = 200


def request_id_of(request: HTTPConnection) -> str | None:
    """The request's id: the one the HTTP layer gave it (`request.state.request_id`), else the
    client's `X-Request-ID` header, else None."""
    given = getattr(request.state, "request_id", None) or request.headers.get("x-request-id")
    return str(given)[:MAX_REQUEST_ID] if given else None


@dataclass
class Outcome(Generic[T]):
    """What a unit of work produced: a value, or the expected errors that stopped it."""

    value: T | None = None
    errors: list[DomainError] = field(default_factory=list)


AfterCommit = Callable[[], Awaitable[None]]


@dataclass
class Context(Generic[L]):
    """What a resolver gets as `info.context`; built by `core.runtime.Runtime.context` only.

    Generic in the loader container, which the application gives (`schema.common.Ctx` names its
    own): core knows no product's loaders.
    """

    request: HTTPConnection
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tokens: TokenService
    actor: Actor | None
    loaders: L
    sql: SqlStats
    ai_limiter: RateLimiter
    auth_limits: SignInLimits
    bus: EventBus
    #: A fresh loader container for an actor: per WebSocket operation, per live event.
    new_loaders: Callable[[Actor | None], L]
    #: merged into the response's `extensions` (e.g. when to retry a rate-limited request)
    extensions: dict[str, Any] = field(default_factory=dict)
    #: The root mutation field being resolved (set around each by the schema), for the audit trail.
    mutation_field: str | None = None
    #: Where reads go with a replica (core/replicas.py); None: everything on `engine`.
    routing: ReadRouting | None = None
    #: Marks of actors besides `actor` whose writes this request made (a user who just registered).
    wrote_for: set[str] = field(default_factory=set)
    #: Every actor's cost budget (core/budgets.py); None: no budgets.
    budgets: Budgets | None = None
    #: This request's cost charge, shared by every context the request builds (core/budgets.py).
    cost: CostCharge | None = None

    def read_primary(self) -> None:
        """From now on this request reads from the primary (a mutation is about to run): fresh
        loaders on it, and the ones that read elsewhere dropped."""
        routing = self.routing
        if routing is None or self.engine is routing.primary:
            return
        self.engine = routing.primary
        replaced, self.loaders = self.loaders, self.new_loaders(self.actor)
        release = getattr(replaced, "release", None)
        if release is not None:
            release()

    async def record_writes(self) -> None:
        """After a mutation: the actor (and whoever else it wrote for) reads its own writes next."""
        if self.routing is None:
            return
        from core.replicas import mark_key

        keys = set(self.wrote_for)
        own = mark_key(self.actor) if self.actor is not None else None
        if own is not None:
            keys.add(own)
        await self.routing.wrote(keys)

    def audit_scope(self) -> AuditScope:
        return AuditScope(self.actor, request_id_of(self.request), self.mutation_field)

    async def unit_of_work(self, work: Callable[[AsyncSession], Awaitable[T]]) -> Outcome[T]:
        """Run one mutation's work in one transaction (see `run_unit_of_work`), its changes
        recorded in the audit trail as the request's actor's."""
        return await run_unit_of_work(self.sessions, self.bus, work, audit=self.audit_scope())

    async def system_unit_of_work(self, work: Callable[[AsyncSession], Awaitable[T]], *, label: str) -> Outcome[T]:
        """`unit_of_work` in which the database sees the system (`label` says what for) instead
        of the request's actor: for the work that must read rows no policy gives the actor
        yet, and whose service says which rows it touches (signing in finds the account by its
        email; accepting an invitation finds it by its token). The audit trail still records
        the request's actor."""
        return await run_unit_of_work(
            self.sessions, self.bus, work, audit=self.audit_scope(), as_actor=Actor.system(label)
        )

    async def actor_unit_of_work(
        self, work: Callable[[AsyncSession, Actor], Awaitable[T]], *, as_system: str | None = None
    ) -> Outcome[T]:
        """`unit_of_work` for a signed-in user; without one, the UNAUTHENTICATED error. With
        `as_system`, the database sees the system act (see `system_unit_of_work`): for work
        on rows the user may not read yet (an invitation found by its token)."""
        actor = self.actor
        if actor is None:
            return Outcome(errors=[Unauthenticated("Sign in to do this")])
        try:
            if as_system is not None:
                return await self.system_unit_of_work(lambda session: work(session, actor), label=as_system)
            return await self.unit_of_work(lambda session: work(session, actor))
        except IntegrityError as error:
            # Every row an actor writes is theirs: a dangling `users` key means their account is
            # gone (the transaction is rolled back). Checked here, not by a read on every request.
            if not _references_users(error):
                raise
            return Outcome(errors=[Unauthenticated(ACCOUNT_GONE)])


async def run_unit_of_work(
    sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    audit: AuditScope | None = None,
    as_actor: Actor | None = None,
) -> Outcome[T]:
    """Run `work` in one transaction: a mutation, or a background job outside any request.

    The database sees `as_actor` act (core/rls.py), else the audit scope's actor, else the
    task's current one.

    With `audit`, its changes are recorded in the audit trail as that scope's, in the same
    transaction (the `before_commit` callbacks write them); without, nothing is recorded.

    The service flushes; this commits. A `DomainError` rolls everything back (unless it asks
    to keep its changes) and is returned as the outcome's errors. A lost connection raises
    `DatabaseUnavailable` (nothing committed) or `CommitOutcomeUnknown` (lost during COMMIT);
    the work is never run a second time. Callbacks the service
    registered with `after_commit` (events, through `core.events.publish_after_commit` and the
    `bus` this puts in `session.info`) run only once the commit succeeded, never on rollback.
    """
    with _acting(as_actor, audit):
        return await _unit_of_work(sessions, bus, work, audit)


def _acting(actor: Actor | None, audit: AuditScope | None) -> contextlib.AbstractContextManager[None]:
    actor = actor if actor is not None else audit.actor if audit is not None else None
    return acting(actor) if actor is not None else contextlib.nullcontext()


async def _unit_of_work(
    sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    work: Callable[[AsyncSession], Awaitable[T]],
    audit: AuditScope | None,
) -> Outcome[T]:
    kept: DomainError | None = None
    committing = False
    async with sessions() as session:
        session.info[SESSION_BUS_KEY] = bus
        if audit is not None:
            session.info[AUDIT_SCOPE] = audit
        try:
            async with session.begin():
                try:
                    value = await work(session)
                except DomainError as error:
                    if not error.keep_changes:
                        raise
                    kept = error
                # Flushed now (the commit would), so that what fails past here is the COMMIT itself.
                await _before_commit(session)
                committing = True
        except DomainError as error:
            return Outcome(errors=[error])
        except Exception as error:
            # Never run again here: a mutation is applied once or not at all. Before COMMIT a lost
            # connection committed nothing; during it, the outcome is unknown (the server may have
            # committed and died before answering).
            if not lost_connection(error):
                raise
            if committing:
                raise CommitOutcomeUnknown("the connection was lost while committing") from error
            raise DatabaseUnavailable("the connection was lost before the transaction committed") from error
        callbacks: list[AfterCommit] = session.info.get("after_commit", [])
    await _run_after_commit(callbacks)
    if kept is not None:
        return Outcome(errors=[kept])
    return Outcome(value=value)


async def _run_after_commit(callbacks: list[AfterCommit]) -> None:
    """The work is committed: a failing callback (an event not published) is logged, never
    turned into the mutation's error."""
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            logger.exception("an after-commit callback failed; the committed work stands")


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once the surrounding unit of work has committed (never on rollback)."""
    session.info.setdefault("after_commit", []).append(callback)


BeforeCommit = Callable[[AsyncSession], Awaitable[None]]


def before_commit(session: AsyncSession, callback: BeforeCommit) -> None:
    """Run `callback(session)` at the end of the surrounding unit of work, in its transaction,
    after its last flush and before its COMMIT (the audit trail writes its rows so)."""
    session.info.setdefault("before_commit", []).append(callback)


async def _before_commit(session: AsyncSession) -> None:
    await session.flush()
    for callback in session.info.pop("before_commit", []):
        await callback(session)


async def run_in_transaction(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    audit: AuditScope | None = None,
    as_actor: Actor | None = None,
    bus: EventBus | None = None,
) -> T:
    """Outside a request (workers, periodic jobs): one transaction, then its `after_commit`
    callbacks, as `Context.unit_of_work` does for mutations; with `audit` (the system actor,
    say), its changes are recorded in the audit trail. The database sees `as_actor` act, else
    the audit scope's actor, else the task's current one (core/rls.py).

    The session carries `bus`, else this process's bus (`core.events.process_bus`: the app's, or
    a standalone worker's), in `session.info`, so that services publish with
    `core.events.publish_after_commit` here exactly as in a request: after the commit, never on
    rollback. With no bus in the process, nothing is published."""
    with _acting(as_actor, audit):
        return await _in_transaction(sessions, work, audit, bus if bus is not None else process_bus())


async def _in_transaction(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    audit: AuditScope | None,
    bus: EventBus | None,
) -> T:
    async with sessions() as session:
        if bus is not None:
            session.info[SESSION_BUS_KEY] = bus
        if audit is not None:
            session.info[AUDIT_SCOPE] = audit
        async with session.begin():
            value = await work(session)
            await _before_commit(session)
        callbacks: list[AfterCommit] = session.info.get("after_commit", [])
    await _run_after_commit(callbacks)
    return value
