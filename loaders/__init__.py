"""The application's per-request loader container, typed for resolvers.

What it holds comes from the product registrations (`Product.loaders`, assembled by
`core.products.Registry`): each group is built on its first use in a request, and `release()`
drops whatever was built. The annotations below only tell type checkers what each group is, so
that `info.context.loaders.<group>.<loader>` is fully typed (`schema.common.Ctx` names this class);
`tests/test_products.py` checks that they name exactly the registered groups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from core.context import Actor
from core.products import LoaderContainer, Registry

if TYPE_CHECKING:
    from loaders.akashic import AkashicLoaders
    from loaders.akashic_sending import SendingLoaders
    from loaders.aurum import AurumLoaders
    from loaders.identity import IdentityLoaders
    from loaders.insights import InsightLoaders
    from loaders.jobs import JobLoaders
    from loaders.kit import KitLoaders


class Loaders(LoaderContainer):
    akashic: AkashicLoaders
    akashic_sending: SendingLoaders
    aurum: AurumLoaders
    identity: IdentityLoaders
    jobs: JobLoaders
    insights: InsightLoaders
    kit: KitLoaders

    @classmethod
    def factory(cls, registry: Registry) -> Callable[[AsyncEngine, Actor | None], Loaders]:
        """What `Runtime.loaders` calls: a container of the registry's groups for one actor."""
        declared = set(cls.__annotations__)
        missing = declared - set(registry.loader_factories)
        if missing:
            raise LookupError(f"Loaders declares groups that no product registers: {sorted(missing)}")
        factories = registry.loader_factories

        def build(engine: AsyncEngine, actor: Actor | None) -> Loaders:
            return cls(engine, actor, factories)

        return build
