"""What every mutation resolver needs: typed IDs from input and payload assembly."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from core.access import requirement_of
from core.errors import ValidationFailed
from core.relay import InvalidGlobalId, parse_global_id
from schema.kit import is_kit_type, spec_of

#: A node type: a kit type (its IDs carry its declared key) or, for the others, the key itself.
NodeType = type | str


def _key_and_name(expected: NodeType) -> tuple[str, str]:
    if isinstance(expected, str):
        return expected, expected
    if not is_kit_type(expected):
        raise TypeError(f"{expected.__name__} is not a kit node type")
    spec = spec_of(expected)
    assert spec.key is not None
    return spec.key, spec.graphql_name


def input_id(value: str, expected_type: NodeType, field: str) -> uuid.UUID:
    """Decode a global ID from mutation input; an ID of another type is a validation error."""
    key, name = _key_and_name(expected_type)
    try:
        return parse_global_id(value, key)
    except InvalidGlobalId as exc:
        raise ValidationFailed(f"Not the ID of a {name}", field=["input", field]) from exc


def input_ids(values: Sequence[str], expected_type: NodeType, field: str) -> list[uuid.UUID]:
    return [input_id(value, expected_type, field) for value in values]


def optional_input_id(value: str | None, expected_type: NodeType, field: str) -> uuid.UUID | None:
    return None if value is None else input_id(value, expected_type, field)


def output_id(node_type: type, pk: uuid.UUID) -> str:
    """The global ID of a kit node type's object."""
    return spec_of(node_type).global_id(pk)


def described(service: Callable[..., Any], description: str, *, where: str) -> str:
    """A mutation's description with the permission its service declares (`core.access.requires`),
    held `where` ("the organization", "the campaign"), so the schema says what the README's matrix does."""
    requirement = requirement_of(service)
    if requirement is None:
        return description
    if requirement.permission is None:
        return f"{description} Requires membership of {where}."
    return f"{description} Requires the permission `{requirement.permission}` in {where}."
