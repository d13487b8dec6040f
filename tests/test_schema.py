"""The schema as a contract: committed SDL in step, everything documented, consistent names."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
)

from core.settings import Settings
from schema import build_schema, printable_schema

ROOT = Path(__file__).resolve().parent.parent
BUILT_IN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


def own_types(schema: GraphQLSchema) -> list[GraphQLNamedType]:
    return [t for name, t in schema.type_map.items() if not name.startswith("__") and name not in BUILT_IN_SCALARS]


def undocumented(schema: GraphQLSchema) -> list[str]:
    """Every type, field, argument, input field and enum value without a description."""
    missing: list[str] = []

    def check(path: str, description: str | None) -> None:
        if not (description or "").strip():
            missing.append(path)

    for named in own_types(schema):
        check(f"type {named.name}", named.description)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                check(f"{named.name}.{field_name}", field.description)
                for arg_name, arg in field.args.items():
                    check(f"{named.name}.{field_name}({arg_name}:)", arg.description)
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, input_field in named.fields.items():
                check(f"{named.name}.{field_name}", input_field.description)
        elif isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                check(f"{named.name}.{value_name}", value.description)
    return missing


def test_committed_schema_is_up_to_date() -> None:
    # Given the committed SDL
    committed = (ROOT / "schema.graphql").read_text()
    # When the schema is printed from the code
    printed = printable_schema()
    # Then they are the same
    assert printed == committed, "schema.graphql is out of date: run `uv run app.py export-schema` and commit it"


def test_every_schema_element_has_a_description(settings: Settings) -> None:
    # Given the schema the server runs
    schema = build_schema(settings)._schema
    # When every element is checked for a description
    missing = undocumented(schema)
    # Then none is missing
    assert missing == [], f"{len(missing)} schema elements have no description: {missing}"


def test_description_check_sees_real_elements(settings: Settings) -> None:
    # Given the schema; when its own types are listed
    schema = build_schema(settings)._schema
    names = {t.name for t in own_types(schema)}
    # Then the walk covers objects, interfaces, inputs, enums and custom scalars, not built-ins
    assert {"Query", "Mutation", "Node", "MutationError", "RegisterInput", "ErrorCode", "DateTime"} <= names
    assert not names & BUILT_IN_SCALARS
    assert not any(name.startswith("__") for name in names)


def test_every_node_has_a_non_null_id(settings: Settings) -> None:
    # Given the Node interface and its implementations
    schema = build_schema(settings)._schema
    node = schema.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    implementations = schema.get_implementations(node).objects
    assert {t.name for t in implementations} >= {"User", "Pillar", "Area", "Project", "Task", "Notification"}
    # When their id fields are checked, then each is `id: ID!`
    wrong = []
    for obj in implementations:
        field = obj.fields.get("id")
        if field is None or not (isinstance(field.type, GraphQLNonNull) and field.type.of_type is GraphQLID):
            wrong.append(f"{obj.name}.id: {field.type if field else 'missing'}")
    assert wrong == []


def test_type_names_are_unique_ignoring_case(settings: Settings) -> None:
    # Given every type name of the schema
    schema = build_schema(settings)._schema
    by_lower: dict[str, list[str]] = defaultdict(list)
    for name in schema.type_map:
        by_lower[name.lower()].append(name)
    # When they are compared case-insensitively, then no two collide
    clashes = {key: names for key, names in by_lower.items() if len(names) > 1}
    assert clashes == {}
