"""The registered products: the one list the platform is assembled from.

The schema (root types, `Viewer`, extra types), `node`/`nodes`, the per-request loaders, the job
worker and the demo are built from `PRODUCTS` (see `core.products`); nothing else lists a
product's parts. Add a product by writing its registration (`products/<name>.py`, a
`core.products.Product`) and naming it here. The order is the order of the root types' fields.
"""

from __future__ import annotations

from core.products import Product, Registry
from loaders.kit import KitLoaders
from products.akashic import AKASHIC
from products.audit import AUDIT
from products.aurum import AURUM
from products.identity import IDENTITY
from products.insights import INSIGHTS
from products.jobs import JOBS
from products.notifications import NOTIFICATIONS
from products.organizations import ORGANIZATIONS
from products.trusted_documents import TRUSTED_DOCUMENTS

#: The kit's loaders (rows by id and pages of children of every kit type, schema/kit.py).
KIT = Product(name="kit", loaders={"kit": KitLoaders})

PRODUCTS: tuple[Product, ...] = (
    KIT,
    IDENTITY,
    AURUM,
    INSIGHTS,
    NOTIFICATIONS,
    JOBS,
    ORGANIZATIONS,
    AUDIT,
    AKASHIC,
    TRUSTED_DOCUMENTS,
)

REGISTRY = Registry(PRODUCTS)
