"""A compiled execution path for queries: the same resolvers, without graphql-core's per-field cost.

graphql-core executes a query one field of one object at a time: it builds a resolve info,
calls a wrapper, checks for awaitables and completes the value, for every scalar of every
object. For a tree of 1,000 tasks that is ~7,000 field executions and most of the request's
time. This module compiles a validated query document once into a plan (fields collected,
merged and typed per selection set) and executes the plan breadth-first: each selection set
runs once for *all* the objects at its level, so a scalar column is a list comprehension and
the resolvers of one level are called together and awaited in one gather (the DataLoaders
batch exactly as before).

Exactness is kept by construction, not by re-implementing the error rules:

- Plans are made only for documents that have been through the whole strawberry pipeline
  once (parsed, validated, every limit passed); `PlanRecorder` compiles them on their way
  into execution. Each request still coerces its variables with graphql-core and passes the
  `maxNodes` limit, which depends on them.
- Custom resolvers are called through the same GraphQL field `resolve` functions (strawberry's
  wrappers: argument conversion, `Info`), with a resolve info that has the right path, against
  the same `Context`, loaders and services; authorization lives there and is unchanged.
- The plan handles the error-free case only. On the first sign of an error (a resolver that
  raises, a null in a non-null position, a value a scalar refuses, anything it does not
  support) the attempt is abandoned, and the operation runs again from scratch through
  graphql-core, with fresh loaders, which produces the errors, their paths and null bubbling.
  Queries have no side effects, so running one twice is safe; it only costs time on requests
  that fail anyway.
- Documents using what the plan does not model (introspection, directives with variables,
  `@defer`/`@stream`, field middleware) are never compiled and always go to graphql-core.

Mutations of one root field are compiled too, but never run twice: `run_mutation_plan` calls
the root field's resolver once and only the completion of its payload can leave the plan, to
graphql-core's own completion of the value the resolver gave (see there).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import Enum
from typing import Any, cast

from graphql import (
    DirectiveNode,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    VariableNode,
    is_abstract_type,
    is_leaf_type,
    is_object_type,
    visit,
)
from graphql.execution.collect_fields import FieldDetails, FragmentDetails, collect_subfields
from graphql.execution.values import VariableValues, get_argument_values
from graphql.language import Visitor
from graphql.pyutils import Path, is_iterable
from graphql.utilities import get_operation_ast
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import convert_arguments

from core.db import lost_connection
from core.limits import NodeCount, cacheable

#: True while a compiled plan runs (in its context): it cancels no resolver, so loaders need
#: not shield their shared futures from cancellation (loaders.base.SharedLoader).
running_plan: contextvars.ContextVar[bool] = contextvars.ContextVar("running_plan", default=False)

logger = logging.getLogger("quintet.fastpath")

INCLUSION_DIRECTIVES = frozenset({"skip", "include"})


class Abandon(Exception):
    """The plan can't give graphql-core's answer here: let graphql-core run the operation."""


# ----------------------------------------------------------------------------- the plan


@dataclass(eq=False)
class FieldPlan:
    key: str
    name: str
    definition: GraphQLField
    parent: GraphQLObjectType
    details: list[FieldDetails]
    nodes: list[FieldNode]
    # How the value is produced: the type name, an attribute read, or the field's resolver.
    typename: str | None
    attribute: str | None
    resolve: Callable[..., Any] | None
    takes_arguments: bool
    completer: Completer
    # A method resolver that takes only `self`: called as is, without strawberry's wrapper.
    direct: Callable[[Any], Any] | None = None
    # A strawberry resolver without extensions: called with arguments converted once per run.
    method: Any = None


@dataclass(eq=False)
class SelectionPlan:
    """The merged selection set of one object type."""

    type: GraphQLObjectType
    fields: list[FieldPlan]
    # Whether anything at or below this level needs the exact path of each object.
    needs_paths: bool


class Completer:
    """Turns the resolved values of one field, for every object of a level, into response values."""

    needs_paths = False
    is_leaf = False

    def complete(self, run: Run, values: list[Any], paths: list[Path] | None) -> Any:
        raise NotImplementedError


class LeafCompleter(Completer):
    is_leaf = True

    def __init__(self, leaf: Any) -> None:
        self.coerce: Callable[[Any], Any] = leaf.coerce_output_value
        # Values these scalars pass through unchanged (what their coercion returns as is).
        self.identity: type | None = (
            str if leaf in (GraphQLString, GraphQLID) else bool if leaf is GraphQLBoolean else None
        )
        self.small_ints = leaf is GraphQLInt
        # An enum's output is a pure function of a member: remember each member's name.
        self.is_enum = isinstance(leaf, GraphQLEnumType)
        self.names: dict[Enum, Any] = {}

    def complete(self, run: Run, values: list[Any], paths: list[Path] | None) -> list[Any]:
        coerce = self.coerce
        identity = self.identity
        names = self.names
        out = []
        small_ints = self.small_ints
        for value in values:
            if value is None or type(value) is identity:
                out.append(value)
                continue
            if small_ints and type(value) is int and -2147483648 <= value <= 2147483647:
                out.append(value)  # what GraphQLInt's coercion returns for it
                continue
            member = self.is_enum and isinstance(value, Enum)
            if member:
                known = names.get(value)
                if known is not None:
                    out.append(known)
                    continue
            coerced = coerce(value)
            if coerced is None or coerced is Undefined:
                raise Abandon
            if member and len(names) < 256:
                names[value] = coerced
            out.append(coerced)
        return out


class NonNullCompleter(Completer):
    def __init__(self, inner: Completer) -> None:
        self.inner = inner
        self.needs_paths = inner.needs_paths
        self.is_leaf = inner.is_leaf

    def complete(self, run: Run, values: list[Any], paths: list[Path] | None) -> Any:
        for value in values:
            if value is None:
                raise Abandon
        # Completing a value that is not null never yields null: it succeeds or abandons.
        return self.inner.complete(run, values, paths)


class ListCompleter(Completer):
    def __init__(self, inner: Completer) -> None:
        self.inner = inner
        self.needs_paths = inner.needs_paths

    async def complete(self, run: Run, values: list[Any], paths: list[Path] | None) -> list[Any]:
        flat: list[Any] = []
        sizes: list[int] = []
        item_paths: list[Path] | None = [] if paths is not None else None
        for index, value in enumerate(values):
            if value is None:
                sizes.append(-1)
                continue
            if not isinstance(value, list):
                if not is_iterable(value) or hasattr(value, "__aiter__"):
                    raise Abandon
                value = list(value)
            sizes.append(len(value))
            flat.extend(value)
            if item_paths is not None and paths is not None:
                parent = paths[index]
                item_paths.extend([Path(parent, position, None) for position in range(len(value))])
        completed = self.inner.complete(run, flat, item_paths)
        if not self.inner.is_leaf:
            completed = await completed
        out: list[Any] = []
        start = 0
        for size in sizes:
            if size < 0:
                out.append(None)
            else:
                out.append(completed[start : start + size])
                start += size
        return out


class ObjectCompleter(Completer):
    def __init__(self, plan: SelectionPlan) -> None:
        self.plan = plan
        self.needs_paths = plan.needs_paths
        self.is_type_of = plan.type.is_type_of

    async def complete(self, run: Run, values: list[Any], paths: list[Path] | None) -> list[Any]:
        present = [index for index, value in enumerate(values) if value is not None]
        if len(present) == len(values):
            return await run.objects(self.plan, values, paths, self.is_type_of)
        sources = [values[index] for index in present]
        sub_paths = [paths[index] for index in present] if paths is not None else None
        completed = await run.objects(self.plan, sources, sub_paths, self.is_type_of)
        out: list[Any] = [None] * len(values)
        for index, result in zip(present, completed, strict=True):
            out[index] = result
        return out


class AbstractCompleter(Completer):
    """An interface or union: the runtime type of each value picks its selection plan."""

    needs_paths = True

    def __init__(self, field: FieldPlanSeed, abstract: GraphQLAbstractType, plans: dict[str, SelectionPlan]) -> None:
        self.field = field
        self.abstract = abstract
        self.plans = plans

    async def complete(self, run: Run, values: list[Any], paths: list[Path] | None) -> list[Any]:
        assert paths is not None
        resolve_type = self.abstract.resolve_type
        if resolve_type is None:
            raise Abandon
        groups: dict[str, list[int]] = {}
        for index, value in enumerate(values):
            if value is None:
                continue
            info = run.info(self.field.definition, self.field.nodes, self.field.parent, paths[index])
            name = resolve_type(value, info, self.abstract)
            if not isinstance(name, str) or name not in self.plans:
                raise Abandon  # awaitable, unknown or impossible type: graphql-core says what
            groups.setdefault(name, []).append(index)
        out: list[Any] = [None] * len(values)
        for name, indexes in groups.items():
            plan = self.plans[name]
            completed = await run.objects(
                plan, [values[i] for i in indexes], [paths[i] for i in indexes], plan.type.is_type_of
            )
            for index, result in zip(indexes, completed, strict=True):
                out[index] = result
        return out


@dataclass
class FieldPlanSeed:
    """What a resolve info needs about a field, known before its completer is built."""

    definition: GraphQLField
    nodes: list[FieldNode]
    parent: GraphQLObjectType


@dataclass
class Plan:
    """A compiled query operation."""

    document: DocumentNode
    operation_name: str | None
    root: SelectionPlan
    #: The whole plan as one SQL statement (core/sqljson.py), once tried; None if it has none,
    #: and then why not.
    sql: Any = None
    sql_tried: bool = False
    sql_unsupported: str | None = None
    #: Why requests of this document left the one-statement form, each logged once.
    sql_fallbacks_logged: set[str] = dataclass_field(default_factory=set)
    #: The `maxNodes` count of the operation (core.limits.NodeCount), made at its first request.
    node_count: NodeCount | None = None
    node_count_made: bool = False
    #: A mutation's plan (`compile_plan`): its one root field is resolved once per request, never
    #: twice, and only its payload's completion can leave the plan (see `run_mutation_plan`).
    mutation: bool = False


# ----------------------------------------------------------------------------- compiling


class Unsupported(Exception):
    pass


def _check_document(document: DocumentNode) -> None:
    """Refuse what the plan does not model; graphql-core keeps those documents."""

    class Check(Visitor):
        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            if node.name.value not in INCLUSION_DIRECTIVES:
                raise Unsupported(f"directive @{node.name.value}")
            for argument in node.arguments or ():
                if isinstance(argument.value, VariableNode):
                    raise Unsupported("an inclusion directive that depends on a variable")

        def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
            if getattr(node, "arguments", None):
                raise Unsupported("fragment arguments")

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.name.value in ("__schema", "__type"):
                raise Unsupported("introspection")

    visit(document, Check())


class Compiler:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = {
            definition.name.value: FragmentDetails(definition)
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        # Inclusion directives may only carry literals (checked above), so no variable is read.
        self.no_variables = VariableValues({}, {})

    def selection(self, type_: GraphQLObjectType, details: list[FieldDetails]) -> SelectionPlan:
        collected = collect_subfields(
            self.schema, self.fragments, self.no_variables, self.operation, type_, details
        ).grouped_field_set
        return self._plan(type_, collected)

    def root(self, type_: GraphQLObjectType) -> SelectionPlan:
        # The root selection set, collected like a field's sub-selection.
        synthetic = FieldNode(
            name=NameNode(value=""), selection_set=self.operation.selection_set, directives=(), arguments=()
        )
        return self.selection(type_, [FieldDetails(synthetic, None)])

    def _plan(self, type_: GraphQLObjectType, collected: Mapping[str, list[FieldDetails]]) -> SelectionPlan:
        fields: list[FieldPlan] = []
        for key, details in collected.items():
            if any(detail.defer_usage is not None or detail.fragment_variable_values for detail in details):
                raise Unsupported("@defer or fragment variables")
            node = details[0].node
            name = node.name.value
            nodes = [detail.node for detail in details]
            if name == "__typename":
                fields.append(
                    FieldPlan(
                        key,
                        name,
                        cast(GraphQLField, None),
                        type_,
                        details,
                        nodes,
                        type_.name,
                        None,
                        None,
                        False,
                        LeafCompleter(GraphQLString),
                    )
                )
                continue
            definition = type_.fields.get(name)
            if definition is None:
                raise Unsupported(f"unknown field {type_.name}.{name}")
            seed = FieldPlanSeed(definition, nodes, type_)
            completer = self._completer(definition.type, seed, details)
            attribute, resolve, direct, method = _access(definition)
            fields.append(
                FieldPlan(
                    key=key,
                    name=name,
                    definition=definition,
                    parent=type_,
                    details=details,
                    nodes=nodes,
                    typename=None,
                    attribute=attribute,
                    resolve=resolve,
                    takes_arguments=bool(definition.args or node.arguments),
                    completer=completer,
                    direct=direct,
                    method=method,
                )
            )
        needs_paths = any(
            field.completer.needs_paths
            or (field.resolve is not None and field.direct is None and _resolver_takes_info(field.definition))
            for field in fields
        )
        return SelectionPlan(type_, fields, needs_paths)

    def _completer(self, type_: GraphQLOutputType, seed: FieldPlanSeed, details: list[FieldDetails]) -> Completer:
        if isinstance(type_, GraphQLNonNull):
            return NonNullCompleter(self._completer(type_.of_type, seed, details))
        if isinstance(type_, GraphQLList):
            return ListCompleter(self._completer(type_.of_type, seed, details))
        if is_leaf_type(type_):
            return LeafCompleter(type_)
        if is_object_type(type_):
            return ObjectCompleter(self.selection(type_, details))
        if is_abstract_type(type_):
            abstract = type_
            plans = {
                possible.name: self.selection(possible, details)
                for possible in self.schema.get_possible_types(abstract)
            }
            return AbstractCompleter(seed, abstract, plans)
        raise Unsupported(f"type {type_}")


def _access(
    definition: GraphQLField,
) -> tuple[str | None, Callable[..., Any] | None, Callable[[Any], Any] | None, Any]:
    """How to read a field: (attribute, resolver, direct method, strawberry field).

    Strawberry's basic fields are a plain attribute read. A resolver that takes nothing but
    `self` (no arguments, info, parent, extensions or permissions) is what strawberry's wrapper
    would call as `method(source)`, so it is called that way. Other strawberry resolvers
    without field extensions (permissions are extensions too) are called as strawberry's
    wrapper calls them, with the arguments converted once per run instead of once per object.
    Anything else goes through the field's own resolve function.
    """
    resolve = definition.resolve
    if resolve is None:
        raise Unsupported("a field without a resolver")
    field = definition.extensions.get("strawberry-definition")
    if field is None:
        return None, resolve, None, None
    if getattr(resolve, "_is_default", False) and field.default_resolver is getattr:
        return field.python_name, None, None, None
    resolver = field.base_resolver
    if resolver is None or field.extensions or field.permission_classes:
        return None, resolve, None, None
    if resolver.root_parameter is not None or resolver.parent_parameter is not None:
        return None, resolve, None, None
    if resolver.self_parameter is not None and len(resolver.signature.parameters) == 1 and not field.arguments:
        return None, resolve, resolver.wrapped_func, None
    return None, resolve, None, field


def _resolver_takes_info(definition: GraphQLField) -> bool:
    strawberry_field = definition.extensions.get("strawberry-definition")
    if strawberry_field is None or strawberry_field.base_resolver is None:
        return True  # not known: give it the exact path
    resolver = strawberry_field.base_resolver
    return bool(resolver.info_parameter or strawberry_field.extensions or strawberry_field.permission_classes)


def compile_plan(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> Plan | None:
    """A plan for the document's query operation, or for a mutation of one root field; None
    when graphql-core must run it."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    mutation = operation.operation is OperationType.MUTATION
    if operation.operation is not OperationType.QUERY and not mutation:
        return None
    root_type = schema.mutation_type if mutation else schema.query_type
    if root_type is None:
        return None
    try:
        _check_document(document)
        root = Compiler(schema, document, operation).root(root_type)
        if mutation and (len(root.fields) != 1 or root.fields[0].resolve is None):
            # Serial root fields, and what a failing one leaves undone, are graphql-core's.
            raise Unsupported("a mutation of other than one root field")
    except Unsupported as reason:
        logger.debug("not compiled: %s", reason)
        return None
    return Plan(document, operation_name, root, mutation=mutation)


# ----------------------------------------------------------------------------- running


class Run:
    """One execution of a plan, for one request."""

    def __init__(self, executor: StrawberryGraphQLCoreExecutionContext) -> None:
        self.executor = executor
        self.strawberry: Any = executor.schema._strawberry_schema  # type: ignore[attr-defined]
        self.arguments: dict[int, dict[str, Any]] = {}
        self.converted: dict[int, dict[str, Any]] = {}

    def info(self, definition: GraphQLField, nodes: list[FieldNode], parent: GraphQLObjectType, path: Path) -> Any:
        return self.executor.build_resolve_info(definition, nodes, parent, path)

    def _arguments(self, field: FieldPlan) -> dict[str, Any]:
        # Arguments depend on the field node and the variables only: coerce them once per
        # field, not once per object.
        known = self.arguments.get(id(field))
        if known is None:
            detail = field.details[0]
            known = get_argument_values(field.definition, detail.node, self.executor.variable_values)
            self.arguments[id(field)] = known
        return known

    async def objects(
        self,
        plan: SelectionPlan,
        sources: list[Any],
        paths: list[Path] | None,
        is_type_of: Callable[[Any, Any], Any] | None,
    ) -> list[dict[str, Any]]:
        if not sources:
            return []
        if is_type_of is not None:
            for source in sources:
                if is_type_of(source, None) is not True:
                    raise Abandon
        keep_paths = plan.needs_paths and paths is not None

        # Resolve every field of every object, then await all the resolvers together, so
        # that the loaders they call batch per level.
        columns: list[list[Any]] = []
        field_paths: list[list[Path] | None] = []
        pending: list[tuple[list[Any], int, Awaitable[Any]]] = []
        try:
            for field in plan.fields:
                columns.append(self._resolve(plan, field, sources, paths if keep_paths else None, field_paths, pending))
        except BaseException:
            _discard(awaitable for _, _, awaitable in pending)
            raise
        done: set[int] = set()
        if pending:
            # Objects and lists that no resolver has to await are completed meanwhile, as
            # graphql-core completes a value as soon as it has one: their loads then batch with
            # those of the resolvers still awaited (a `viewer { user }` beside `node(id:)` reads
            # both users in one statement, as graphql-core does).
            awaited = {id(column) for column, _, _ in pending}
            early: list[tuple[int, Awaitable[list[Any]]]] = []
            try:
                for position, field in enumerate(plan.fields):
                    if not field.completer.is_leaf and id(columns[position]) not in awaited:
                        early.append(
                            (position, field.completer.complete(self, columns[position], field_paths[position]))
                        )
            except BaseException:
                _discard(awaitable for _, _, awaitable in pending)
                _discard(awaitable for _, awaitable in early)
                raise
            settled = await settle([awaitable for _, _, awaitable in pending] + [awaitable for _, awaitable in early])
            for (column, index, _), value in zip(pending, settled, strict=False):
                if isinstance(value, BaseException):
                    raise Abandon from value
                column[index] = value
            for (position, _), value in zip(early, settled[len(pending) :], strict=True):
                if isinstance(value, BaseException):
                    raise Abandon from value
                columns[position] = value
                done.add(position)

        # Complete: leaves at once, objects and lists of all fields together (the next
        # level's loaders batch across sibling fields too).
        later: list[tuple[int, Awaitable[list[Any]]]] = []
        try:
            for position, field in enumerate(plan.fields):
                if position in done:
                    continue
                completer = field.completer
                completed = completer.complete(self, columns[position], field_paths[position])
                if completer.is_leaf:
                    columns[position] = completed
                else:
                    later.append((position, completed))
        except BaseException:
            _discard(awaitable for _, awaitable in later)
            raise
        if later:
            settled = await settle([awaitable for _, awaitable in later])
            for (position, _), value in zip(later, settled, strict=True):
                if isinstance(value, BaseException):
                    raise Abandon from value
                columns[position] = value

        keys = [field.key for field in plan.fields]
        return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]

    def _resolve(
        self,
        plan: SelectionPlan,
        field: FieldPlan,
        sources: list[Any],
        paths: list[Path] | None,
        field_paths: list[list[Path] | None],
        pending: list[tuple[list[Any], int, Awaitable[Any]]],
    ) -> list[Any]:
        type_name = plan.type.name
        these_paths = [Path(path, field.key, type_name) for path in paths] if paths is not None else None
        field_paths.append(these_paths if field.completer.needs_paths else None)
        if field.typename is not None:
            return [field.typename] * len(sources)
        if field.attribute is not None:
            attribute = field.attribute
            return [getattr(source, attribute) for source in sources]
        if field.direct is not None:
            direct = field.direct
            values = [direct(source) for source in sources]
            for index, value in enumerate(values):
                if optimized_is_awaitable(value):
                    pending.append((values, index, value))
            return values
        if field.method is not None:
            return self._call_methods(plan, field, sources, these_paths, pending)
        resolve = cast(Callable[..., Any], field.resolve)
        arguments = self._arguments(field) if field.takes_arguments else {}
        # A resolver that takes no `info` can't observe its path: one info serves them all.
        shared = (
            None
            if these_paths is not None
            else self.info(field.definition, field.nodes, plan.type, Path(None, field.key, type_name))
        )
        resolved: list[Any] = []
        for index, source in enumerate(sources):
            info = (
                shared
                if these_paths is None
                else self.info(field.definition, field.nodes, plan.type, these_paths[index])
            )
            value = resolve(source, info, **arguments)
            if optimized_is_awaitable(value):
                pending.append((resolved, index, value))
            resolved.append(value)
        return resolved

    def _call_methods(
        self,
        plan: SelectionPlan,
        field: FieldPlan,
        sources: list[Any],
        paths: list[Path] | None,
        pending: list[tuple[list[Any], int, Awaitable[Any]]],
    ) -> list[Any]:
        """Call a strawberry resolver the way strawberry's wrapper does (see `_access`)."""
        strawberry_field = field.method
        resolver = strawberry_field.base_resolver
        func = resolver.wrapped_func
        info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None
        takes_self = resolver.self_parameter is not None
        info_class = self.strawberry.config.info_class
        type_name = plan.type.name

        def info_at(index: int) -> Any:
            path = paths[index] if paths is not None else Path(None, field.key, type_name)
            return info_class(
                _raw_info=self.info(field.definition, field.nodes, plan.type, path), _field=strawberry_field
            )

        first_info = info_at(0)
        converted = self.converted.get(id(field))
        if converted is None:
            raw = self._arguments(field) if field.takes_arguments else {}
            converted = convert_arguments(
                raw,
                strawberry_field.arguments,
                scalar_registry=self.strawberry.schema_converter.scalar_registry,
                config=self.strawberry.config,
                info=first_info,
            )
            self.converted[id(field)] = converted
        values: list[Any] = []
        for index, source in enumerate(sources):
            kwargs = dict(converted)
            if info_name is not None:
                kwargs[info_name] = first_info if index == 0 else info_at(index)
            value = func(source, **kwargs) if takes_self else func(**kwargs)
            if optimized_is_awaitable(value):
                pending.append((values, index, value))
            values.append(value)
        return values


async def settle(awaitables: list[Awaitable[Any]]) -> list[Any]:
    """`asyncio.gather(*awaitables, return_exceptions=True)` without a task per coroutine.

    A level of a large result awaits hundreds of resolvers, most of which await one loader
    future and return. Wrapping each in a task (as gather does) costs more than the resolver;
    here the coroutines are stepped in place: each runs until it waits on a future, the level
    sleeps until one of those is done, and the coroutines whose future is done are resumed.
    They run in the caller's context (a task would run each in a copy): resolvers must not
    set context variables for their siblings to see, which none do.
    """
    results: list[Any] = [None] * len(awaitables)
    waiting: list[tuple[int, Any, Any]] = []  # (index, coroutine or None, future or None)

    def step(index: int, coroutine: Any) -> None:
        try:
            yielded = coroutine.send(None)
        except StopIteration as stop:
            results[index] = stop.value
        except BaseException as error:  # noqa: BLE001 - returned, as gather(return_exceptions=True) does
            results[index] = error
        else:
            if yielded is not None and getattr(yielded, "_asyncio_future_blocking", False):
                yielded._asyncio_future_blocking = False
                waiting.append((index, coroutine, yielded))
            else:  # a bare yield (sleep(0)): resumed on the next pass
                waiting.append((index, coroutine, None))

    def take(index: int, future: Any) -> None:
        if future.cancelled():
            results[index] = asyncio.CancelledError()
        elif (error := future.exception()) is not None:
            results[index] = error
        else:
            results[index] = future.result()

    for index, awaitable in enumerate(awaitables):
        if asyncio.iscoroutine(awaitable):
            step(index, awaitable)
        else:
            waiting.append((index, None, asyncio.ensure_future(awaitable)))
    loop = asyncio.get_running_loop()
    try:
        while waiting:
            blocked = [future for _, _, future in waiting if future is not None and not future.done()]
            if len(blocked) == len(waiting):
                wake = loop.create_future()

                def ready(_: Any, wake: asyncio.Future[None] = wake) -> None:
                    if not wake.done():
                        wake.set_result(None)

                for future in blocked:
                    future.add_done_callback(ready)
                try:
                    await wake
                finally:
                    for future in blocked:
                        future.remove_done_callback(ready)
            elif any(future is None for _, _, future in waiting):
                await asyncio.sleep(0)  # let the loop run before resuming a bare yield
            resumable, waiting = waiting, []
            for index, coroutine, future in resumable:
                if future is not None and not future.done():
                    waiting.append((index, coroutine, future))
                elif coroutine is None:
                    take(index, future)
                else:
                    step(index, coroutine)
    except BaseException:
        _discard(coroutine for _, coroutine, _ in waiting if coroutine is not None)
        for _, coroutine, future in waiting:
            if coroutine is None and future is not None:
                future.cancel()
        raise
    return results


def _discard(awaitables: Any) -> None:
    """Close coroutines that will never be awaited (the attempt is being abandoned)."""
    for awaitable in awaitables:
        close = getattr(awaitable, "close", None)
        if close is not None:
            close()


def _executor(
    plan: Plan,
    schema: GraphQLSchema,
    context: Any,
    variables: dict[str, Any] | None,
    *,
    hide_suggestions: bool = False,
) -> StrawberryGraphQLCoreExecutionContext | None:
    """graphql-core's execution context for the plan's operation (its variables coerced), or None
    when they don't coerce: graphql-core then runs the operation and reports them."""
    executor = StrawberryGraphQLCoreExecutionContext.build(
        schema,
        plan.document,
        None,
        context,
        variables,
        plan.operation_name,
        is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
        hide_suggestions=hide_suggestions,
        operation_extensions=None,
    )
    if isinstance(executor, list):
        return None
    return cast(StrawberryGraphQLCoreExecutionContext, executor)


async def run_plan(
    plan: Plan,
    schema: GraphQLSchema,
    context: Any,
    variables: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The operation's `data`, or None when graphql-core must answer (errors or the unsupported)."""
    executor = _executor(plan, schema, context, variables)
    if executor is None:
        return None
    run = Run(executor)
    root_paths = cast(list[Path], [None]) if plan.root.needs_paths else None
    token = running_plan.set(True)
    try:
        results = await run.objects(plan.root, [None], root_paths, None)
    except Exception as abandoned:  # noqa: BLE001 - whatever it was, graphql-core will report it
        cause: BaseException = abandoned
        while isinstance(cause, Abandon) and cause.__cause__ is not None:
            cause = cause.__cause__
        if lost_connection(cause):  # not graphql-core's to report: the endpoint runs the query again
            raise cause from cause.__cause__
        logger.debug("plan abandoned: %r", abandoned.__cause__ or abandoned)
        return None
    finally:
        running_plan.reset(token)
    return results[0]


async def run_mutation_plan(
    plan: Plan, schema: GraphQLSchema, context: Any, variables: dict[str, Any] | None, *, hide_suggestions: bool
) -> tuple[ExecutionResult, bool] | None:
    """The mutation's result through its plan, and whether the plan completed its payload
    (else graphql-core did, see below); None when graphql-core must run the whole operation
    (variables or arguments that don't coerce: nothing has run yet).

    A mutation has side effects, so unlike a query it is never run a second time: its root
    field is resolved once, here, through the field's own resolve function (strawberry's
    wrapper: argument conversion, the `MutationField` extension, the unit of work), exactly as
    graphql-core's `execute_field` calls it. The payload is completed by the plan; on the first
    sign of an error (the resolver raised, a null in a non-null position...) graphql-core
    completes the value the resolver gave instead, with its own `complete_value` and
    `handle_field_error`, so the errors, their paths and null bubbling are graphql-core's.
    """
    executor = _executor(plan, schema, context, variables, hide_suggestions=hide_suggestions)
    if executor is None:
        return None
    field = plan.root.fields[0]
    root_type = plan.root.type
    path = Path(None, field.key, root_type.name)
    detail = field.details[0]
    try:
        arguments = (
            get_argument_values(
                field.definition,
                detail.node,
                executor.variable_values,
                detail.fragment_variable_values,
                hide_suggestions,
            )
            if field.takes_arguments
            else {}
        )
    except Exception:  # noqa: BLE001 - nothing has run: graphql-core words the error
        return None
    info = executor.build_resolve_info(field.definition, field.nodes, root_type, path)
    resolve = cast(Callable[..., Any], field.resolve)
    result: Any
    try:
        result = resolve(None, info, **arguments)
        if optimized_is_awaitable(result):
            result = await result
    except Exception as error:  # noqa: BLE001 - graphql-core's handle_field_error reports it below
        result = error
    if not isinstance(result, Exception):
        run = Run(executor)
        token = running_plan.set(True)
        try:
            completed = field.completer.complete(run, [result], [path] if field.completer.needs_paths else None)
            if not field.completer.is_leaf:
                completed = await completed
        except Exception as abandoned:  # noqa: BLE001 - graphql-core completes it below
            logger.debug("mutation payload left to graphql-core: %r", abandoned.__cause__ or abandoned)
        else:
            return ExecutionResult({field.key: completed[0]}, None), True
        finally:
            running_plan.reset(token)
    return await _completed_by_graphql_core(executor, field, info, path, result), False


async def _completed_by_graphql_core(
    executor: StrawberryGraphQLCoreExecutionContext, field: FieldPlan, info: Any, path: Path, result: Any
) -> ExecutionResult:
    """What graphql-core's `execute_operation` answers for a root field whose resolver gave
    `result` (a value or the exception it raised): `execute_field`'s completion and error
    handling, then `build_response`, with the resolver not called again."""
    return_type = field.definition.type
    try:
        if isinstance(result, Exception):
            raise result
        completed = executor.complete_value(return_type, field.details, info, path, result, None)
        if optimized_is_awaitable(completed):
            completed = await completed
    except Exception as raw_error:  # noqa: BLE001 - located and collected as graphql-core does
        try:
            executor.handle_field_error(raw_error, return_type, field.details, path)
        except GraphQLError as error:  # a non-null root field: the whole `data` is null
            executor.collected_errors.add(error, None)
            return cast(ExecutionResult, executor.build_response(None))
        completed = None
    return cast(ExecutionResult, executor.build_response({field.key: completed}))


# ----------------------------------------------------------------------------- the plan cache


class PlanCache:
    """Compiled plans by (document text, operation name); bounded, least recently used out.

    Documents longer than `max_document_bytes` get no plan (graphql-core answers them every
    time), so the keys hold at most `size` times `max_document_bytes` of text.
    """

    def __init__(self, size: int = 1024, max_document_bytes: int = 16 * 1024) -> None:
        self.size = size
        self.max_document_bytes = max_document_bytes
        self._plans: OrderedDict[tuple[str, str | None], Plan | None] = OrderedDict()
        self.compiled = 0
        self.executed = 0
        self.abandoned = 0
        #: Requests answered by one SQL statement (core/sqljson.py), and the SQL forms of types.
        self.sql_executed = 0
        #: Statements that failed (a bug in a declaration): logged, and the resolvers answered.
        self.sql_failed = 0
        #: Requests that left the one-statement form, by reason (`core.sqljson.Fallback`).
        self.sql_fallbacks: Counter[str] = Counter()
        self.sql_types: Mapping[str, Any] | None = None

    def get(self, query: str, operation_name: str | None) -> Plan | None:
        key = (query, operation_name)
        plan = self._plans.get(key)
        if plan is not None:
            self._plans.move_to_end(key)
        return plan

    def known(self, query: str, operation_name: str | None) -> bool:
        return (query, operation_name) in self._plans

    def put(self, query: str, operation_name: str | None, plan: Plan | None) -> None:
        self._plans[(query, operation_name)] = plan
        self._plans.move_to_end((query, operation_name))
        if plan is not None:
            self.compiled += 1
        while len(self._plans) > self.size:
            self._plans.popitem(last=False)


def plan_recorder(cache: PlanCache) -> Callable[[], SchemaExtension]:
    """A schema extension that compiles each query document once it has passed every check."""

    class PlanRecorder(SchemaExtension):
        def on_execute(self):  # type: ignore[no-untyped-def]
            context = self.execution_context
            query = context.query
            # Reached only when parsing, validation and every limit extension passed.
            if (
                cacheable(query, cache.max_document_bytes)
                and context.graphql_document is not None
                and not context.pre_execution_errors
                and not cache.known(query, context._provided_operation_name)
            ):
                plan = compile_plan(context.schema._schema, context.graphql_document, context._provided_operation_name)
                cache.put(query, context._provided_operation_name, plan)
            yield

    return PlanRecorder
