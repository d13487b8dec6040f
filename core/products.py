"""What a product gives the platform, declared once: `Product`, and the `Registry` that assembles
the registrations into what the platform runs (schema parts, node table, loaders, jobs, demo).

Each product (and each platform part built the same way: identity, notifications, jobs, insights)
declares one `Product` in its own module under `products/`, and `products.PRODUCTS` lists them:
the schema's root types and `Viewer`, the `node`/`nodes` table, the per-request loader container,
the worker's job handlers and periodic tasks and the demo are all assembled from that one list.
Nothing here knows a product: this module is the contract between the two sides.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.routing import BaseRoute
from strawberry.dataloader import DataLoader

from core.access import OrganizationKind, register_kinds
from core.context import Actor
from core.webhooks import WebhookEndpoint

if TYPE_CHECKING:
    from core.settings import Settings

L = TypeVar("L")

#: Anonymous requests get loaders scoped to a user id that exists nowhere: they see nothing.
NOBODY = Actor(user_id=uuid.UUID(int=0), role="anonymous")

#: Builds one product's group of loaders for one request, scoped to its actor.
LoaderFactory = Callable[[AsyncEngine, Actor], Any]

#: Runs one attempt of a background job (`services.jobs.JobRun` → its JSON result). Typed loosely
#: here: the job runner is the application's (`services/jobs.py`), which core does not import.
JobHandler = Callable[[Any], Awaitable[dict[str, Any]]]
#: What a job kind does when its job fails for good outside its handler (`services.jobs`
#: `mark_interrupted`: its worker was lost on the last attempt): called with the worker's session,
#: in the transaction that marks the job failed, and the job's state. What it publishes
#: (`core.events.publish_after_commit`: the session carries the process's bus) goes out once
#: that commits.
JobLost = Callable[[Any, Any], Awaitable[None]]

#: Adds a product's demo data for the demo user (`services/demo.py`), in the demo's transaction.
DemoData = Callable[[AsyncSession, Actor], Awaitable[None]]


@dataclass(frozen=True)
class NodeType(Generic[L]):
    """How `node(id:)` reads one type: its loader by primary key (scoped to the viewer, so that
    another user's row is simply absent) in the request's loader container, and the row mapping."""

    loader: Callable[[L], DataLoader[Any, Any]]
    to_node: Callable[[Any], Any]
    #: The table its rows are read from (the audit trail gives a changed row of it this type's id).
    table: str | None = None


@dataclass(frozen=True)
class PeriodicTask:
    """A job the worker runs on a schedule (procrastinate's cron), outside any request.

    `run(runtime, at)` gets the worker's `services.jobs.JobRuntime` and the scheduled time and
    returns a count for the log; `schedule(settings)` gives the cron expression, or None for
    "never" (the task can still be deferred by hand).
    """

    name: str
    run: Callable[[Any, datetime], Awaitable[int]]
    schedule: Callable[[Settings], str | None]


@dataclass(frozen=True)
class Product:
    """One product's registration: everything the platform needs from it, in one place."""

    #: Stable short name (`aurum`); also the `product` of its notifications and the prefix of its
    #: job kinds and live topics.
    name: str
    #: Root parts: strawberry types whose fields join `Query`, `Mutation` and `Subscription`.
    #: A product of several parts (each in its own module) gives a tuple of them.
    query: type | tuple[type, ...] | None = None
    mutation: type | tuple[type, ...] | None = None
    subscription: type | tuple[type, ...] | None = None
    #: A strawberry type extending `schema.viewer_base.ViewerBase`: its fields join `Viewer`.
    viewer: type | tuple[type, ...] | None = None
    #: Types reachable only through an interface (`Node`, `MutationError`): named so that the
    #: schema holds them.
    types: Sequence[type] = ()
    #: `node`/`nodes`: type key (in the global ID) → how to read it.
    node_types: Mapping[str, NodeType[Any]] = field(default_factory=dict)
    #: Loader groups: attribute of the per-request container (`info.context.loaders.<group>`)
    #: → its factory, called on the group's first use in a request.
    loaders: Mapping[str, LoaderFactory] = field(default_factory=dict)
    #: Background jobs: kind → handler (`services/jobs.py`).
    jobs: Mapping[str, JobHandler] = field(default_factory=dict)
    #: Kind → what to undo when a job of that kind is lost for good (its worker died on its last
    #: attempt, so its handler never ran to the end): e.g. an analysis left "running".
    jobs_lost: Mapping[str, JobLost] = field(default_factory=dict)
    periodic: Sequence[PeriodicTask] = ()
    #: The `topic`s of the events it publishes on the viewer's channel (`core/events.py`); each
    #: subscription filters its own.
    topics: Sequence[str] = ()
    #: The kinds of organization it owns, with their roles and who holds each permission
    #: (`core.access.OrganizationKind`; the platform's own is "team").
    organization_kinds: Sequence[OrganizationKind] = ()
    #: The inbound webhooks it receives (`core/webhooks.py`): `POST /webhooks/<path>` each.
    webhooks: Sequence[WebhookEndpoint] = ()
    #: Its own HTTP routes besides GraphQL and the webhooks (pages a link in an email opens: an
    #: unsubscribe); each path under `/<product name>/`.
    routes: Sequence[BaseRoute] = ()
    #: Root subscription fields (GraphQL names) whose every subscriber runs its own execution,
    #: never a stream shared by a user's identical subscriptions (core/shared_subscriptions.py):
    #: their first message is the state as of that subscriber's joining (a co-edited draft's),
    #: which a member joining a running shared stream would not get.
    own_streams: Sequence[str] = ()
    #: Its part of the demo dataset, if any.
    demo: DemoData | None = None
    #: Its test world, if any: the import path (`module:name`) of a `tests.worlds.ProductWorld`,
    #: which the differential tests build and walk (the application itself never imports it).
    test_world: str | None = None

    def parts_of(self, root: str) -> tuple[type, ...]:
        """Its parts of a root type (`query`, `mutation`, `subscription`, `viewer`), as a tuple."""
        part = getattr(self, root)
        if part is None:
            return ()
        return part if isinstance(part, tuple) else (part,)


class RegistrationError(ValueError):
    """Two registrations claim the same name, type key, loader group, job kind, topic,
    organization kind or webhook path."""


def _unique(what: str, owned: Iterable[tuple[str, str]]) -> dict[str, str]:
    owners: dict[str, str] = {}
    for key, owner in owned:
        if key in owners:
            raise RegistrationError(f"{what} {key!r} is registered by both {owners[key]!r} and {owner!r}")
        owners[key] = owner
    return owners


class Registry:
    """The registrations, checked (no name, type key, loader group, job kind, topic,
    organization kind or webhook path claimed twice) and assembled in their list order."""

    def __init__(self, products: Sequence[Product]) -> None:
        self.products = tuple(products)
        _unique("product", ((p.name, p.name) for p in self.products))
        _unique("node type", ((key, p.name) for p in self.products for key in p.node_types))
        _unique("loader group", ((key, p.name) for p in self.products for key in p.loaders))
        _unique("job kind", ((key, p.name) for p in self.products for key in p.jobs))
        _unique("periodic task", ((task.name, p.name) for p in self.products for task in p.periodic))
        _unique("live topic", ((topic, p.name) for p in self.products for topic in p.topics))
        _unique("organization kind", ((kind.name, p.name) for p in self.products for kind in p.organization_kinds))
        _unique("webhook path", ((hook.path, p.name) for p in self.products for hook in p.webhooks))
        #: The inbound webhook endpoints, by path under `/webhooks/`.
        self.webhooks: dict[str, WebhookEndpoint] = {hook.path: hook for p in self.products for hook in p.webhooks}
        for product in self.products:
            for route in product.routes:
                path = getattr(route, "path", "")
                if not path.startswith(f"/{product.name}/"):
                    raise RegistrationError(f"{product.name!r}'s route {path!r} is not under /{product.name}/")
        #: The products' own HTTP routes.
        self.routes: list[BaseRoute] = [route for p in self.products for route in p.routes]
        self.node_types: dict[str, NodeType[Any]] = {k: v for p in self.products for k, v in p.node_types.items()}
        _unique("node table", ((t.table, key) for key, t in self.node_types.items() if t.table is not None))
        #: The node type key of each table that is a node type's (table name -> key).
        self.node_tables: dict[str, str] = {t.table: k for k, t in self.node_types.items() if t.table is not None}
        self.loader_factories: dict[str, LoaderFactory] = {k: v for p in self.products for k, v in p.loaders.items()}
        self.job_handlers: dict[str, JobHandler] = {k: v for p in self.products for k, v in p.jobs.items()}
        self.jobs_lost: dict[str, JobLost] = {k: v for p in self.products for k, v in p.jobs_lost.items()}
        for product in self.products:
            for kind in product.jobs_lost:
                if kind not in product.jobs:
                    raise RegistrationError(f"{product.name!r} handles the loss of job kind {kind!r} but not its jobs")
        self.periodic: list[PeriodicTask] = [task for p in self.products for task in p.periodic]
        self.own_streams: frozenset[str] = frozenset(name for p in self.products for name in p.own_streams)
        self.types: list[type] = [t for p in self.products for t in p.types]
        self.organization_kinds: dict[str, OrganizationKind] = {
            kind.name: kind for p in self.products for kind in p.organization_kinds
        }
        # Permission checks and read policies look kinds up by the name an organization's row holds.
        register_kinds(self.organization_kinds.values())

    def parts(self, root: str, order: Sequence[str] = ()) -> list[type]:
        """The products' parts of a root type (`query`, `mutation`, `subscription`, `viewer`),
        those named in `order` first (in that order), then the others in list order."""
        rank = {name: index for index, name in enumerate(order)}
        products = sorted(self.products, key=lambda p: rank.get(p.name, len(rank)))
        return [part for p in products for part in p.parts_of(root)]

    def loaders(self, engine: AsyncEngine, actor: Actor | None) -> LoaderContainer:
        """An untyped container of every registered group (see `LoaderContainer`)."""
        return LoaderContainer(engine, actor, self.loader_factories)


class LoaderContainer:
    """The per-request loaders: one attribute per registered group, each built on its first use.

    A loader never outlives its request: one shared across requests would serve one user's cached
    rows to another. The application subclasses this with one annotation per group (`loaders.
    Loaders`) so that `info.context.loaders.<group>.<loader>` is fully typed; what is built comes
    from the registrations alone.
    """

    def __init__(self, engine: AsyncEngine, actor: Actor | None, factories: Mapping[str, LoaderFactory]) -> None:
        self._engine = engine
        self._actor = actor or NOBODY
        self._factories = factories

    if not TYPE_CHECKING:  # type checkers see the subclass's annotations, not "any attribute"

        def __getattr__(self, name: str) -> Any:
            # Only for a group not built yet: once built it is a plain instance attribute.
            factories = self.__dict__.get("_factories") or {}
            factory = factories.get(name)
            if factory is None:
                raise AttributeError(f"no loader group {name!r} is registered")
            group = factory(self._engine, self._actor)
            setattr(self, name, group)
            return group

    def built(self) -> list[str]:
        """The groups built so far in this request."""
        return [name for name in self._factories if name in self.__dict__]

    def release(self) -> None:
        """Drop every group built so far, with the rows cached in its loaders.

        Called when a request is answered: graphql-core's execution context sits in a reference
        cycle that reaches the request's context, so without this a request's reads live on
        until the cyclic garbage collector finds them, and under load each collection then walks
        (and promotes) every in-flight request's rows. A group used after this is built afresh.
        """
        for name in self.built():
            # The group's loaders are dropped from it too: something may still hold the group.
            group = self.__dict__.pop(name)
            # A group that keeps its loaders elsewhere (the kit's, by table) hands them over.
            release = getattr(group, "release", None)
            for loader in release() if release is not None else ():
                acknowledge_failures(loader)
            held = vars(group)
            for loader in [key for key, value in held.items() if isinstance(value, DataLoader)]:
                acknowledge_failures(held.pop(loader))


def acknowledge_failures(loader: DataLoader[Any, Any]) -> None:
    """Mark the failed loads of a loader being dropped as seen, now or when they finish.

    A batch that fails (an invalid cursor) fails every key in it. graphql-core answers with the
    first error and stops awaiting the rest (and a compiled plan that gives up leaves its loaders
    behind): asyncio would log each unread failure as "exception was never retrieved" when the
    future is freed, though the error has already reached the client.
    """
    futures = getattr(getattr(loader, "cache_map", None), "cache_map", None) or {}
    for future in futures.values():
        if future.done():
            _seen(future)
        else:  # its batch is still running
            future.add_done_callback(_seen)


def _seen(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
