"""Identity (a platform part): accounts and sessions, the viewer's profile and its `User` node."""

from __future__ import annotations

from core.products import Product
from loaders.identity import IdentityLoaders
from resolvers.identity import IdentityMutation
from schema import kit
from schema.identity import User
from schema.viewer import IdentityViewerFields

IDENTITY = Product(
    name="identity",
    mutation=IdentityMutation,
    viewer=IdentityViewerFields,
    types=(User,),
    node_types=kit.node_types((User,)),
    loaders={"identity": IdentityLoaders},
)
