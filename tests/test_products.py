"""Products plug in: core imports no product, the registrations are checked, and a product
registered once is served (its type, its loader group, its `node`) with no other edit."""

from __future__ import annotations

import ast
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import strawberry
from graphql import parse, print_ast
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from strawberry.dataloader import DataLoader

from app import create_app
from core.context import Actor
from core.products import NodeType, Product, RegistrationError, Registry
from core.relay import from_global_id, to_global_id
from core.settings import Settings
from loaders import Loaders
from loaders.base import rows_by_id
from products import PRODUCTS, REGISTRY
from schema import printable_schema
from schema.common import Node
from tests.support import GraphQLClient
from tests.worlds import ProductWorld, world_of

ROOT = Path(__file__).resolve().parent.parent

#: The application's packages: core/ is the platform and must import none of them.
PRODUCT_PACKAGES = frozenset({"loaders", "models", "products", "resolvers", "schema", "services"})


def imported_modules(source: str) -> set[str]:
    """Every module an `import` or `from … import` names, wherever it stands (module level,
    `if TYPE_CHECKING:`, inside a function)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def product_imports(source: str) -> set[str]:
    return {module for module in imported_modules(source) if module.split(".")[0] in PRODUCT_PACKAGES}


def test_the_check_finds_product_imports_wherever_they_stand() -> None:
    # Given a module that imports products at module level, for type checking and in a function
    source = (
        "from typing import TYPE_CHECKING\n"
        "import schema.common\n"
        "if TYPE_CHECKING:\n"
        "    from loaders import Loaders\n"
        "def f() -> None:\n"
        "    from services import aurum\n"
        "    import resolvers.node as node\n"
        "from core.db import reader\n"
        "import schemas_elsewhere\n"
    )
    # When it is checked, then every product import is found, and nothing else
    assert product_imports(source) == {"schema.common", "loaders", "services", "resolvers.node"}


def test_core_imports_no_product() -> None:
    offenders = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted((ROOT / "core").rglob("*.py"))
        for module in product_imports(path.read_text())
    }
    assert not offenders, f"core/ imports product code: {sorted(offenders)}"


def test_the_typed_container_declares_exactly_the_registered_loader_groups() -> None:
    # `loaders.Loaders` only types the groups; what is built comes from the registrations.
    assert set(Loaders.__annotations__) == set(REGISTRY.loader_factories)


def test_the_registry_refuses_what_two_registrations_claim() -> None:
    first = Product(name="first", node_types={"Thing": NodeType[Any](lambda loaders: loaders.a, lambda row: row)})
    second = Product(name="second", node_types={"Thing": NodeType[Any](lambda loaders: loaders.b, lambda row: row)})
    with pytest.raises(RegistrationError, match="node type 'Thing' is registered by both 'first' and 'second'"):
        Registry([first, second])
    with pytest.raises(RegistrationError, match="product 'first'"):
        Registry([first, Product(name="first")])
    with pytest.raises(RegistrationError, match="loader group 'aurum'"):
        Registry([*PRODUCTS, Product(name="copy", loaders={"aurum": StickerLoaders})])
    # Two node types may not read one table (the audit trail names a changed row by its type)
    on = Product(
        name="on", node_types={"Note": NodeType[Any](lambda loaders: loaders.a, lambda row: row, table="notes")}
    )
    again = Product(
        name="again", node_types={"Memo": NodeType[Any](lambda loaders: loaders.a, lambda row: row, table="notes")}
    )
    with pytest.raises(RegistrationError, match="node table 'notes' is registered by both 'Note' and 'Memo'"):
        Registry([on, again])
    assert Registry([on]).node_tables == {"notes": "Note"}
    assert Registry(PRODUCTS).node_tables["tasks"] == "Task"
    assert Registry(PRODUCTS).node_tables["users"] == "User"


# ----------------------------------------------------------- a throwaway product, end to end

STICKERS = sa.Table(
    "test_stickers",
    sa.MetaData(),  # not the application's metadata: no migration knows this table
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
)


@strawberry.type(description="A sticker: the one type of a product that exists only in this test.")
class Sticker(Node):
    label: str = strawberry.field(description="What the sticker says.")

    @classmethod
    def from_row(cls, row: Any) -> Sticker:
        return cls(id=strawberry.ID(to_global_id("Sticker", row.id)), label=row.label)


class StickerLoaders:
    def __init__(self, engine: AsyncEngine, actor: Actor) -> None:
        self.sticker_by_id: DataLoader[uuid.UUID, Any] = rows_by_id(
            engine, sa.select(STICKERS).where(STICKERS.c.user_id == actor.user_id)
        )


async def _sticker_world(session: AsyncSession, user_id: uuid.UUID, size: int) -> dict[str, list[str]]:
    """The product's test world: `size` stickers of the user's, by type key."""
    made = []
    for _ in range(size):
        pk = uuid.uuid4()
        await session.execute(sa.insert(STICKERS).values(id=pk, user_id=user_id, label=f"sticker of {user_id}"))
        made.append(to_global_id("Sticker", pk))
    return {"Sticker": made}


STICKER_WORLD = ProductWorld(build=_sticker_world)


STICKER_PRODUCT = Product(
    name="stickers",
    types=(Sticker,),
    node_types={"Sticker": NodeType[Any](lambda loaders: loaders.stickers.sticker_by_id, Sticker.from_row)},
    loaders={"stickers": StickerLoaders},
    test_world="tests.test_products:STICKER_WORLD",
)

NODE = "query Node($id: ID!) { node(id: $id) { __typename id ... on Sticker { label } } }"


@pytest.fixture
async def stickers_table(engine: AsyncEngine) -> AsyncIterator[sa.Table]:
    async with engine.begin() as conn:
        await conn.run_sync(STICKERS.create)
    try:
        yield STICKERS
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(STICKERS.drop)


@pytest.fixture
async def sticker_app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings, products=[*PRODUCTS, STICKER_PRODUCT])
    async with application.router.lifespan_context(application):
        yield application


async def test_a_registered_product_is_served_through_node_with_its_own_loader(
    stickers_table: sa.Table, sticker_app: Starlette, gql: GraphQLClient, engine: AsyncEngine
) -> None:
    # Given an app with one more registration, and its test world for Alice and for Bob
    transport = httpx.ASGITransport(app=sticker_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        client = GraphQLClient(http)
        alice, bob = await client.sign_up(), await client.sign_up()
        world = world_of(STICKER_PRODUCT)
        assert world is STICKER_WORLD
        async with async_sessionmaker(engine)() as session, session.begin():
            mine = (await world.build(session, from_global_id(alice.user_id)[1], 1))["Sticker"][0]
            theirs = (await world.build(session, from_global_id(bob.user_id)[1], 1))["Sticker"][0]
        # When Alice asks for both by global ID
        own = await client(NODE, {"id": mine}, token=alice.token)
        other = await client(NODE, {"id": theirs}, token=alice.token)
        # Then hers is read through the product's loader, and Bob's answers like a missing one
        label = f"sticker of {from_global_id(alice.user_id)[1]}"
        assert own.data == {"node": {"__typename": "Sticker", "id": mine, "label": label}}
        assert other.data == {"node": None}
    # And the application without the registration knows no such type
    unknown = await gql(NODE, {"id": mine}, token=alice.token)
    assert "Unknown type 'Sticker'" in unknown.errors[0]["message"]


def test_a_registered_product_adds_its_types_to_the_schema_and_nothing_else_changes() -> None:
    def definitions(products: list[Product]) -> dict[str, str]:
        document = parse(printable_schema(products))
        return {node.name.value: print_ast(node) for node in document.definitions if hasattr(node, "name")}

    with_stickers, without = definitions([*PRODUCTS, STICKER_PRODUCT]), definitions(list(PRODUCTS))
    assert set(with_stickers) - set(without) == {"Sticker"}
    assert {name: sdl for name, sdl in with_stickers.items() if name != "Sticker"} == without
