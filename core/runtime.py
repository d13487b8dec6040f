"""What the app holds for its lifetime, and the one place a request's `Context` is built.

HTTP (core/http.py), Server-Sent Events (core/sse.py), WebSocket connections (core/ws.py) and
shared subscription streams (core/shared_subscriptions.py) all call `Runtime.context`. The loader
container comes from the application (`loaders`, set in app.py from the product registrations):
core knows no product.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

import strawberry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from core.context import Actor, Context
from core.db import SqlStats
from core.documents import DocumentRegistry
from core.events import EventBus
from core.fastpath import PlanCache
from core.live_slots import LiveSlots
from core.persisted import MemoryStore, PersistedQueries
from core.products import LoaderContainer
from core.ratelimit import RateLimiter, SignInLimits
from core.rls import act_as
from core.security import TokenService
from core.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from core.api_keys import ApiKeys
    from core.budgets import Budgets
    from core.replicas import ReadRouting
    from core.scopes import ScopeRules

C = TypeVar("C", bound=Context[Any])


@dataclass
class Runtime:
    """What the app holds for its lifetime; set up in the lifespan."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tokens: TokenService
    schema: strawberry.Schema
    ai_limiter: RateLimiter
    auth_limits: SignInLimits
    bus: EventBus
    live_slots: LiveSlots
    #: The application's loader container for one request (or operation, or event) of an actor.
    loaders: Callable[[AsyncEngine, Actor | None], LoaderContainer]
    #: Verifies API keys and remembers the verified ones (core/api_keys.py).
    api_keys: ApiKeys
    plans: PlanCache | None = None
    #: Set when traces are exported (core/tracing.py).
    tracer: Tracer | None = None
    #: Set with a read replica (DATABASE_REPLICA_URL): which engine a query reads from.
    routing: ReadRouting | None = None
    #: Automatic persisted queries (core/persisted.py): the lifespan sets the configured store.
    persisted: PersistedQueries = field(default_factory=lambda: PersistedQueries(MemoryStore(16 * 1024 * 1024)))
    #: The actors' cost budgets (core/budgets.py).
    budgets: Budgets | None = None
    #: The scopes' rules of API clients (core/scopes.py), from the registrations.
    scopes: ScopeRules | None = None
    #: The trusted documents this process has prepared (core/documents.py).
    documents: DocumentRegistry | None = None
    #: Root subscription fields never run as shared streams (`Product.own_streams`).
    own_streams: frozenset[str] = frozenset()

    def new_loaders(self, actor: Actor | None) -> LoaderContainer:
        return self.loaders(self.engine, actor)

    @overload
    def context(
        self,
        request: HTTPConnection,
        actor: Actor | None,
        sql: SqlStats | None = None,
        *,
        reads: AsyncEngine | None = None,
    ) -> Context[Any]: ...

    @overload
    def context(
        self,
        request: HTTPConnection,
        actor: Actor | None,
        sql: SqlStats | None,
        kind: type[C],
        *,
        reads: AsyncEngine | None = None,
    ) -> C: ...

    def context(
        self,
        request: HTTPConnection,
        actor: Actor | None,
        sql: SqlStats | None = None,
        kind: type[Context[Any]] = Context,
        *,
        reads: AsyncEngine | None = None,
    ) -> Context[Any]:
        """The context of one request of `actor` (None: anonymous), with fresh loaders; `sql`
        counts its statements (a new count unless given), `kind` is a subclass to build. Its
        reads go to `reads` (the replica, from `routing`), else to the primary.

        From here on, the calling task's database work acts as `actor` (core/rls.py): each
        request, stream and shared subscription builds its context at its start, in its own task."""
        act_as(actor)
        engine = reads if reads is not None else self.engine
        return kind(
            request=request,
            settings=self.settings,
            engine=engine,
            sessions=self.sessions,
            tokens=self.tokens,
            actor=actor,
            loaders=self.loaders(engine, actor),
            sql=sql if sql is not None else SqlStats(),
            ai_limiter=self.ai_limiter,
            auth_limits=self.auth_limits,
            bus=self.bus,
            new_loaders=self.new_loaders,
            routing=self.routing,
            budgets=self.budgets,
        )
