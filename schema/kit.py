"""Declare each field once: the product kit.

A product type says, next to each GraphQL field, where its value comes from; everything else is
derived from that one declaration:

    @kit.node(model=models.Task, key="Task", description="A task: the unit of work, within a project.")
    class Task(Node):
        title: str = kit.column(description="What to do.")
        status: TaskStatus = kit.column(description="Where the task stands.")
        is_overdue: bool = kit.expression(IS_OVERDUE, description="Past its due time and still open.")
        project: Project = kit.parent("project_id", description="The project this task belongs to.")
        resources: Connection[Resource] = kit.children("task_id", order=ResourceOrderBy.CREATED_AT_ASC, ...)

- `column` (the default plan of Grafast and PostGraphile: a column of the same name, or `name=`),
  `expression` (a value computed on both sides from one `core.sqljson.Derived`), `parent` (a to-one
  field through a foreign key of the row), `child` (the other side: the one row whose unique key
  column is this row's id), `children` (a connection of another type's rows whose
  `key` column is this row's id, with the orderings of its `order` enum and an optional filter),
  `computed` (an object computed on both sides, e.g. progress: a resolver and a SQL builder
  declared together), `lookup` (a root field of `@kit.query_fields`: the row of a unique column
  named by a string argument, `organization(slug:)`) and `python_only` (a resolver with no SQL
  form, with the reason).
- From them: the strawberry fields (plain data fields, or generated resolvers with the Relay
  arguments), `from_row` (generated code, one call per row), the loaders the resolvers use
  (`loaders/kit.py`, one per table and relation, built per request) and the SQL form that
  `core/sqljson.py` compiles (`sql_types`).
- Global IDs encode the type's `key`, declared with the type and independent of its GraphQL name:
  renaming a type keeps every stored or cached ID valid.
- Every row is read through its table's read policy (`core.access.declare`, next to the model),
  and every column as the actor may see it (`core.access.shown`: a hidden column reads NULL).

The SDL a kit type produces is the one its hand-written twin produced (tests/test_schema.py
compares the committed schema).
"""

from __future__ import annotations

import functools
import inspect
import sys
import typing
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, Self, TypeVar

import sqlalchemy as sa
import strawberry
from strawberry.types import Info
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.lazy_type import StrawberryLazyReference
from strawberry.utils.str_converters import to_camel_case

from core.access import shown, viewer_param
from core.filters import Filter
from core.pagination import Sort
from core.products import NodeType
from core.relay import to_global_id
from core.sqljson import (
    PYTHON_ONLY,
    Children,
    Computed,
    Derived,
    Leaf,
    Parent,
    Row,
    RowLookup,
    SqlType,
    enum_name,
    float_json,
    global_id,
    iso_datetime,
)
from schema.common import After, Before, Connection, First, Last, by_value, connection, read_page_args

T = TypeVar("T")

#: Attribute holding a kit type's declarations.
SPEC = "__kit__"

# ----------------------------------------------------------------------------- declarations


@dataclass
class Declaration:
    description: str


@dataclass
class ColumnField(Declaration):
    column: str | None = None


@dataclass
class ExpressionField(Declaration):
    derived: Derived | None = None


@dataclass
class ParentField(Declaration):
    key: str = ""


@dataclass
class ChildField(Declaration):
    key: str = ""


@dataclass
class ChildrenField(Declaration):
    key: str = ""
    order: Enum | None = None
    filter: Filter | None = None
    via_parent: bool = False
    filter_default: Any = None


@dataclass
class ComputedField(Declaration):
    resolver: Callable[..., Any] | None = None
    sql: Computed | None = None


@dataclass
class LookupField(Declaration):
    column: str = ""
    argument: str = ""
    argument_description: str = ""
    normalize: Callable[[str], str] | None = None


@dataclass
class PythonOnlyField(Declaration):
    resolver: Callable[..., Any] | None = None
    why: str = ""


def column(name: str | None = None, *, description: str) -> Any:
    """The row's column of the field's name (or `name`), converted as its type says (an enum by
    value, a list as a list)."""
    return ColumnField(description, name)


def expression(derived: Derived, *, description: str) -> Any:
    """A value computed from the row, with its Python and SQL forms declared together."""
    return ExpressionField(description, derived)


def parent(key: str, *, description: str) -> Any:
    """The object whose id is the row's `key` column (null when it is null, for a nullable field)."""
    return ParentField(description, key)


def child(key: str, *, description: str) -> Any:
    """The one object of the field's type whose unique `key` column is this row's id (the other
    side of a `parent`: a version's analysis); null when there is none the viewer may read, so
    the field's type is `T | None`."""
    return ChildField(description, key)


def children(
    key: str,
    *,
    order: Enum,
    description: str,
    filter: Filter | None = None,
    via_parent: bool = False,
    filter_default: Any = None,
) -> Any:
    """A connection of the child type's rows whose `key` is this object's id (the viewer's, on the
    viewer), in the orderings of `order`'s enum (default `order`).

    `via_parent`: the child table's foreign key `(key, user_id)` to the parent's `(id, user_id)`
    makes every child its parent's owner's, so the SQL form pages children by the parent's index
    alone (see `core.sqljson.Children.owner_via_parent`). `filter_default`: the `filter`
    argument's default (an instance of the filter's input type, hashable), shown in the schema."""
    return ChildrenField(description, key, order, filter, via_parent, filter_default)


def computed(resolver: Callable[..., Any], sql: Computed, *, description: str) -> Any:
    """An object-valued field computed on both sides: `resolver` for the resolvers, `sql` for the
    one-statement form; the differential tests hold them equal."""
    return ComputedField(description, resolver, sql)


def lookup(
    column: str,
    *,
    description: str,
    argument_description: str,
    argument: str | None = None,
    normalize: Callable[[str], str] | None = None,
) -> Any:
    """A root field (on `@kit.query_fields`): the object of the field's type whose unique `column`
    equals the string argument `argument` (named as the column unless given), after `normalize`;
    null without a signed-in viewer, and for a missing row or one the viewer may not read, alike."""
    return LookupField(description, column, argument or column, argument_description, normalize)


def python_only(resolver: Callable[..., Any], *, why: str, description: str) -> Any:
    """A field that has no SQL form (an AI call, an outside service...): a query that selects it
    is answered by the resolvers. `why` says so in the code and in the coverage test."""
    return PythonOnlyField(description, resolver, why)


# ----------------------------------------------------------------------------- type specs


@dataclass(eq=False)
class TypeSpec:
    """What the kit knows of one type."""

    cls: type
    graphql_name: str
    fields: dict[str, Declaration]  # by Python name, in declaration order
    model: Any = None
    key: str | None = None
    #: where the parent id of children comes from: "pk" on a node, "user_pk" on the viewer
    parent_attribute: str = "pk"
    viewer: bool = False
    #: fields of the `Query` root (`query_fields`)
    root: bool = False

    @property
    def table(self) -> sa.Table:
        table: sa.Table = self.model.__table__
        return table

    def global_id(self, pk: uuid.UUID) -> str:
        assert self.key is not None
        return to_global_id(self.key, pk)


class FromRow:
    """Base of `node` types: what the kit adds to them, for the type checker."""

    if TYPE_CHECKING:
        pk: uuid.UUID
        row: Any

        @classmethod
        def from_row(cls, row: Any) -> Self: ...


def spec_of(cls: type) -> TypeSpec:
    spec: TypeSpec | None = cls.__dict__.get(SPEC)
    if spec is None:
        raise TypeError(f"{cls.__name__} is not a kit type")
    return spec


def is_kit_type(cls: type) -> bool:
    return SPEC in getattr(cls, "__dict__", {})


def node(*, model: Any, key: str, description: str, name: str | None = None) -> Callable[[type[T]], type[T]]:
    """A `Node` type read from `model`'s table; its global IDs encode `key`."""

    def decorate(cls: type[T]) -> type[T]:
        return _build(cls, description=description, name=name, model=model, key=key)

    return decorate


def viewer_fields(*, description: str) -> Callable[[type[T]], type[T]]:
    """A product's fields of `Viewer` (a `ViewerBase`): its lists are children of the viewer."""

    def decorate(cls: type[T]) -> type[T]:
        return _build(cls, description=description, name=None, viewer=True)

    return decorate


def query_fields(*, description: str) -> Callable[[type[T]], type[T]]:
    """A product's fields of the `Query` root (its `Product.query`): `lookup`s."""

    def decorate(cls: type[T]) -> type[T]:
        return _build(cls, description=description, name=None, root=True)

    return decorate


def _build(
    cls: type[T],
    *,
    description: str,
    name: str | None,
    model: Any = None,
    key: str | None = None,
    viewer: bool = False,
    root: bool = False,
) -> type[T]:
    declared = {attr: value for attr, value in vars(cls).items() if isinstance(value, Declaration)}
    spec = TypeSpec(
        cls=cls,
        graphql_name=name or cls.__name__,
        fields=declared,
        model=model,
        key=key,
        parent_attribute="user_pk" if viewer else "pk",
        viewer=viewer,
        root=root,
    )
    annotations = inspect.get_annotations(cls)
    for attr, declaration in declared.items():
        if attr not in annotations and not isinstance(declaration, PythonOnlyField | ComputedField):
            raise TypeError(f"{cls.__name__}.{attr}: a kit field needs its type annotation")
        setattr(cls, attr, _strawberry_field(spec, attr, declaration))
    if model is not None:
        # The primary key and the row itself (parents read their key columns from it).
        cls.__annotations__ = {
            **inspect.get_annotations(cls),
            "pk": strawberry.Private[uuid.UUID],
            "row": strawberry.Private[Any],  # type: ignore[misc]
        }
    setattr(cls, SPEC, spec)
    built = strawberry.type(cls, name=name, description=description)
    if model is not None:
        built.from_row = _RowMapper(spec)  # type: ignore[attr-defined]
    return built


def _strawberry_field(spec: TypeSpec, attr: str, declaration: Declaration) -> Any:
    if isinstance(declaration, ColumnField | ExpressionField):
        return strawberry.field(description=declaration.description)
    if isinstance(declaration, ParentField):
        return strawberry.field(resolver=_parent_resolver(spec, attr, declaration), description=declaration.description)
    if isinstance(declaration, ChildField):
        return strawberry.field(resolver=_child_resolver(spec, attr, declaration), description=declaration.description)
    if isinstance(declaration, ChildrenField):
        return strawberry.field(
            resolver=_children_resolver(spec, attr, declaration), description=declaration.description
        )
    if isinstance(declaration, LookupField):
        return strawberry.field(resolver=_lookup_resolver(spec, attr, declaration), description=declaration.description)
    if isinstance(declaration, ComputedField | PythonOnlyField):
        assert declaration.resolver is not None
        return strawberry.field(resolver=declaration.resolver, description=declaration.description)
    raise TypeError(f"unknown declaration {declaration!r}")


# ----------------------------------------------------------------------------- annotations


def _annotation(cls: type, attr: str) -> Any:
    """The class's own annotation of `attr`, evaluated in its module (they are strings there)."""
    annotation = inspect.get_annotations(cls)[attr]
    if isinstance(annotation, str):
        annotation = eval(annotation, vars(sys.modules[cls.__module__]), {cls.__name__: cls})
    return annotation


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type without `| None`, whether it was nullable); a type of another module named with
    `strawberry.lazy` (a product's type on a shared one, without an import cycle) is resolved."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is UnionType:
        arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(arguments) == 1:
            return _lazy(arguments[0]), True
    return _lazy(annotation), False


def _lazy(annotation: Any) -> Any:
    if typing.get_origin(annotation) is not Annotated:
        return annotation
    inner, *metadata = typing.get_args(annotation)
    for reference in metadata:
        if isinstance(reference, StrawberryLazyReference) and isinstance(inner, typing.ForwardRef):
            return reference.resolve_forward_ref(inner).resolve_type()
    return annotation


def _field_type(spec: TypeSpec, attr: str) -> tuple[Any, bool]:
    return _unwrap(_annotation(spec.cls, attr))


def _target(spec: TypeSpec, attr: str) -> tuple[TypeSpec, bool]:
    """The kit type a parent or children field points at (the `T` of `T`, `T | None`,
    `Connection[T]`) and whether the field is nullable."""
    annotation, nullable = _field_type(spec, attr)
    if typing.get_origin(annotation) is Connection:
        (annotation,) = typing.get_args(annotation)
    return spec_of(annotation), nullable


def graphql_name(attr: str) -> str:
    return to_camel_case(attr)


# ----------------------------------------------------------------------------- rows


class _RowMapper:
    """`Type.from_row(row)`: the object of a row (an asyncpg row or a model instance), as generated
    code on first use (the annotations of every type are resolvable by then)."""

    def __init__(self, spec: TypeSpec) -> None:
        self.spec = spec
        self._function: Callable[[Any], Any] | None = None

    def __call__(self, row: Any) -> Any:
        function = self._function
        if function is None:
            function = self._function = self._generate()
        return function(row)

    def _generate(self) -> Callable[[Any], Any]:
        spec = self.spec
        assert spec.key is not None
        namespace: dict[str, Any] = {"cls": spec.cls, "gid": to_global_id, "key": spec.key}
        arguments = ["id=gid(key, row.id)", "pk=row.id", "row=row"]
        for attr, declaration in spec.fields.items():
            if isinstance(declaration, ColumnField):
                source = f"row.{declaration.column or attr}"
                converter = _converter(*_field_type(spec, attr))
                if converter is None:
                    arguments.append(f"{attr}={source}")
                else:
                    namespace[f"convert_{attr}"] = converter
                    arguments.append(f"{attr}=convert_{attr}({source})")
            elif isinstance(declaration, ExpressionField):
                assert declaration.derived is not None
                namespace[f"derive_{attr}"] = declaration.derived.python
                arguments.append(f"{attr}=derive_{attr}(row)")
        code = f"def from_row(row):\n    return cls({', '.join(arguments)})\n"
        exec(code, namespace)
        function: Callable[[Any], Any] = namespace["from_row"]
        return function


def _converter(annotation: Any, nullable: bool) -> Callable[[Any], Any] | None:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        member = by_value(annotation)
        if nullable:
            return lambda value: None if value is None else member(value)
        return member
    if typing.get_origin(annotation) is list:
        if nullable:
            return lambda value: None if value is None else list(value)
        return list
    return None


# ----------------------------------------------------------------------------- resolvers


_SELF = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
_INFO = inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Info)

OrderArg = strawberry.argument(description="Order of the items.")
FilterArg = strawberry.argument(description="Only items that match every given condition.")


def _keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def _parent_resolver(spec: TypeSpec, attr: str, declaration: ParentField) -> Callable[..., Any]:
    key = declaration.key
    target: list[TypeSpec] = []

    async def resolve(self: Any, info: Info) -> Any:
        if not target:
            target.append(_target(spec, attr)[0])
        pk = getattr(self.row, key)
        if pk is None:
            return None
        parent_spec = target[0]
        row = await info.context.loaders.kit.rows(parent_spec).load(pk)
        return None if row is None else parent_spec.cls.from_row(row)  # type: ignore[attr-defined]

    resolve.__signature__ = inspect.Signature([_SELF, _INFO])  # type: ignore[attr-defined]
    resolve.__annotations__ = {}
    resolve.__name__ = attr
    return resolve


def _child_resolver(spec: TypeSpec, attr: str, declaration: ChildField) -> Callable[..., Any]:
    key = declaration.key
    target: list[TypeSpec] = []

    async def resolve(self: Any, info: Info) -> Any:
        if not target:
            found, nullable = _target(spec, attr)
            if not nullable:
                raise TypeError(f"{spec.graphql_name}.{attr}: a kit child is nullable (`T | None`)")
            target.append(found)
        child_spec = target[0]
        row = await info.context.loaders.kit.rows(child_spec, key).load(self.pk)
        return None if row is None else child_spec.cls.from_row(row)  # type: ignore[attr-defined]

    resolve.__signature__ = inspect.Signature([_SELF, _INFO])  # type: ignore[attr-defined]
    resolve.__annotations__ = {}
    resolve.__name__ = attr
    return resolve


def _lookup_resolver(spec: TypeSpec, attr: str, declaration: LookupField) -> Callable[..., Any]:
    column, argument, normalize = declaration.column, declaration.argument, declaration.normalize
    target: list[TypeSpec] = []

    async def resolve(self: Any, info: Info, **arguments: Any) -> Any:
        if not target:
            target.append(_target(spec, attr)[0])
        if info.context.actor is None:
            return None
        value = arguments[argument]
        found = target[0]
        row = await info.context.loaders.kit.rows(found, column).load(normalize(value) if normalize else value)
        return None if row is None else found.cls.from_row(row)  # type: ignore[attr-defined]

    given = strawberry.argument(description=declaration.argument_description)
    resolve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [_SELF, _INFO, _keyword(argument, Annotated[str, given], inspect.Parameter.empty)]
    )
    resolve.__annotations__ = {}
    resolve.__name__ = attr
    return resolve


@dataclass(frozen=True, eq=False)
class Relation:
    """The children of a `children` field: the child type, the column that points at the parent
    and the orderings; one loader per relation and request."""

    parent: TypeSpec
    child: TypeSpec
    key: str
    sorts: Mapping[str, Sort]
    filter: Filter | None
    via_parent: bool


def sorts_of(order: Enum) -> Mapping[str, Sort]:
    sorts: Mapping[str, Sort] | None = getattr(type(order), "__sorts__", None)
    if sorts is None:
        raise TypeError(f"{type(order).__name__} is not an ordering made by schema.common.order_enum")
    return sorts


def _children_resolver(spec: TypeSpec, attr: str, declaration: ChildrenField) -> Callable[..., Any]:
    order = declaration.order
    assert order is not None
    flt = declaration.filter
    relations: list[Relation] = []
    parent_attribute = spec.parent_attribute

    def relation() -> Relation:
        if not relations:
            child, _ = _target(spec, attr)
            relations.append(Relation(spec, child, declaration.key, sorts_of(order), flt, declaration.via_parent))
        return relations[0]

    async def resolve(self: Any, info: Info, **arguments: Any) -> Any:
        found = relation()
        args = read_page_args(info, arguments["first"], arguments["after"], arguments["last"], arguments["before"])
        filter_key = flt.values(arguments["filter"]) if flt is not None else None
        page = await info.context.loaders.kit.pages(found).load(
            _page_key(getattr(self, parent_attribute), args, arguments["order_by"].value, filter_key)
        )
        return connection(page, found.child.cls.from_row)  # type: ignore[attr-defined]

    parameters = [
        _SELF,
        _INFO,
        _keyword("first", First, None),
        _keyword("after", After, None),
        _keyword("last", Last, None),
        _keyword("before", Before, None),
    ]
    if flt is not None:
        parameters.append(_keyword("filter", Annotated[flt.input | None, FilterArg], declaration.filter_default))
    parameters.append(_keyword("order_by", Annotated[type(order), OrderArg], order))
    resolve.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    resolve.__annotations__ = {}
    resolve.__name__ = attr
    resolve.relation = relation  # type: ignore[attr-defined]
    return resolve


@functools.cache
def _page_key_class() -> Any:
    from loaders.base import PageKey

    return PageKey


def _page_key(parent_id: uuid.UUID, args: Any, sort: str, filter_key: Hashable | None) -> Any:
    return _page_key_class()(parent_id, args, sort, filter_key)


def relation_of(spec: TypeSpec, attr: str) -> Relation:
    definition: StrawberryObjectDefinition = spec.cls.__strawberry_definition__  # type: ignore[attr-defined]
    resolver: Any = definition.get_field(attr).base_resolver.wrapped_func  # type: ignore[union-attr]
    found: Relation = resolver.relation()
    return found


# ----------------------------------------------------------------------------- the SQL form


def _leaf(spec: TypeSpec, attr: str, declaration: ColumnField) -> Leaf:
    """The column as the actor may see it (`core.access.shown`: NULL where a column policy hides it)."""
    name, table = declaration.column or attr, spec.table
    annotation, _ = _field_type(spec, attr)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        enum = annotation
        return Leaf(lambda row: enum_name(shown(row, name, table=table), enum))
    if annotation is datetime:
        return Leaf(lambda row: iso_datetime(shown(row, name, table=table)))
    if annotation is float:
        return Leaf(lambda row: float_json(shown(row, name, table=table)))
    return Leaf(lambda row: shown(row, name, table=table))


def _viewer_key(row: Row) -> sa.ColumnElement[Any]:
    return viewer_param()


def _row_key(row: Row) -> sa.ColumnElement[Any]:
    return row.c.id


def sql_fields(spec: TypeSpec) -> dict[str, Any]:
    """The SQL form of each of the type's fields that has one, by GraphQL name."""
    rules: dict[str, Any] = {}
    if spec.key is not None:
        key = spec.key
        rules["id"] = Leaf(lambda row: global_id(key, row.c.id))
    for attr, declaration in spec.fields.items():
        name = graphql_name(attr)
        if isinstance(declaration, ColumnField):
            rules[name] = _leaf(spec, attr, declaration)
        elif isinstance(declaration, ExpressionField):
            assert declaration.derived is not None
            rules[name] = Leaf(declaration.derived.sql)
        elif isinstance(declaration, ParentField):
            target, nullable = _target(spec, attr)
            rules[name] = Parent(target.table, declaration.key, nullable=nullable)
        elif isinstance(declaration, ChildField):
            target, _ = _target(spec, attr)
            rules[name] = Parent(target.table, "id", nullable=True, target_column=declaration.key)
        elif isinstance(declaration, ChildrenField):
            found = relation_of(spec, attr)
            rules[name] = Children(
                found.child.table,
                found.key,
                _viewer_key if spec.viewer else _row_key,
                found.sorts,
                found.filter,
                owner_via_parent=found.via_parent,
            )
        elif isinstance(declaration, ComputedField):
            rules[name] = declaration.sql
        elif isinstance(declaration, LookupField):
            target, _ = _target(spec, attr)
            argument = graphql_name(declaration.argument)  # as graphql-core names the argument
            rules[name] = RowLookup(target.table, declaration.column, argument, declaration.normalize)
    return rules


def sql_types(types: Iterable[type]) -> dict[str, SqlType]:
    """The SQL form of kit types; the viewer's fields of every product merge into `Viewer`, their
    root fields into `Query`."""
    declared: dict[str, SqlType] = {}
    viewer: dict[str, Any] = {}
    root: dict[str, Any] = {}
    for cls in types:
        spec = spec_of(cls)
        if spec.viewer:
            viewer.update(sql_fields(spec))
        elif spec.root:
            root.update(sql_fields(spec))
        elif spec.model is not None:
            declared[spec.graphql_name] = SqlType(sql_fields(spec), table=spec.table, type_key=spec.key)
        else:
            declared[spec.graphql_name] = SqlType(sql_fields(spec))
    if viewer:
        declared["Viewer"] = SqlType(viewer)
    if root:
        declared["Query"] = SqlType(root)
    return declared


# ----------------------------------------------------------------------------- lookups


def rows_of(loaders: Any, cls: type) -> Any:
    """The request's loader of a kit node type's rows by primary key (read through its policy)."""
    return loaders.kit.rows(spec_of(cls))


def node_types(types: Iterable[type]) -> dict[str, NodeType[Any]]:
    """For `node`/`nodes` (a product's `node_types`): each kit node type's global-id key, with its
    loader and row mapping."""
    found: dict[str, NodeType[Any]] = {}
    for cls in types:
        spec = spec_of(cls)
        if spec.key is None:
            continue
        if spec.key in found:
            raise TypeError(f"two node types declare the global-id key {spec.key!r}")
        found[spec.key] = NodeType(
            functools.partial(rows_of, cls=cls),
            cls.from_row,  # type: ignore[attr-defined]
            table=spec.table.name,
        )
    return found


# ----------------------------------------------------------------------------- coverage


def _origin(graphql_type: Any) -> Any:
    definition = (graphql_type.extensions or {}).get("strawberry-definition")
    return getattr(definition, "origin", None)


def _is_connection_part(origin: Any) -> bool:
    """Connections, edges and page info: the SQL compiler builds them itself."""
    from schema.common import Edge, PageInfo

    return isinstance(origin, type) and issubclass(origin, Connection | Edge | PageInfo)


def _field_origins(origin: type) -> dict[str, tuple[type, str]]:
    """Each field's GraphQL name, with the class that declares it (the Viewer is assembled from
    each product's viewer fields) and its Python name."""
    definition: StrawberryObjectDefinition = origin.__strawberry_definition__  # type: ignore[attr-defined]
    return {
        f.graphql_name or to_camel_case(f.python_name): (f.origin or origin, f.python_name)  # type: ignore[misc]
        for f in definition.fields
    }


def _python_only(origin: Any, owner: Any, python_name: str) -> bool:
    if origin is None:
        return False
    if vars(origin).get(PYTHON_ONLY) is not None or vars(owner).get(PYTHON_ONLY) is not None:
        return True
    return is_kit_type(owner) and isinstance(spec_of(owner).fields.get(python_name), PythonOnlyField)


def undeclared_fields(schema: Any, types: Mapping[str, SqlType]) -> list[str]:
    """`Type.field` of every field reachable from the query root that has neither a SQL form in
    `types` nor a Python-only declaration (kit `python_only`, or a `python_only_type` on the
    class that declares it)."""
    from graphql import get_named_type, is_abstract_type, is_object_type

    missing: list[str] = []
    seen: set[str] = set()
    pending = [schema.query_type]
    while pending:
        current = pending.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        origin = _origin(current)
        declared = types.get(current.name)
        builtin = _is_connection_part(origin)
        owners = _field_origins(origin) if origin is not None else {}
        for name, graphql_field in current.fields.items():
            rule = declared.fields.get(name) if declared is not None else None
            named = get_named_type(graphql_field.type)
            owner, python_name = owners.get(name, (origin, name))
            if rule is None and not builtin and not _python_only(origin, owner, python_name):
                missing.append(f"{current.name}.{name}")
            if isinstance(rule, Computed) and named.name not in types:
                continue  # its builder answers the whole object (progress)
            if is_object_type(named):
                pending.append(named)
            elif is_abstract_type(named):
                pending.extend(schema.get_possible_types(named))
    return sorted(missing)
