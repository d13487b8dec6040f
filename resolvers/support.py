"""What every mutation resolver needs: typed IDs from input and payload assembly."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from core.errors import ValidationFailed
from core.relay import InvalidGlobalId, parse_global_id


def input_id(value: str, expected_type: str, field: str) -> uuid.UUID:
    """Decode a global ID from mutation input; an ID of another type is a validation error."""
    try:
        return parse_global_id(value, expected_type)
    except InvalidGlobalId as exc:
        raise ValidationFailed(f"Not the ID of a {expected_type}", field=["input", field]) from exc


def input_ids(values: Sequence[str], expected_type: str, field: str) -> list[uuid.UUID]:
    return [input_id(value, expected_type, field) for value in values]


def optional_input_id(value: str | None, expected_type: str, field: str) -> uuid.UUID | None:
    return None if value is None else input_id(value, expected_type, field)
