"""Identity (a platform part): accounts and sessions, the viewer's profile and its `User` node."""

from __future__ import annotations

from core.products import NodeType, Product
from loaders import Loaders
from loaders.identity import IdentityLoaders
from resolvers.identity import IdentityMutation
from schema.identity import User
from schema.viewer import IdentityViewerFields

IDENTITY = Product(
    name="identity",
    mutation=IdentityMutation,
    viewer=IdentityViewerFields,
    types=(User,),
    node_types={"User": NodeType[Loaders](lambda loaders: loaders.identity.user_by_id, User.from_row, table="users")},
    loaders={"identity": IdentityLoaders},
)
