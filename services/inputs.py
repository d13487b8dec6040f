"""Cleaning a mutation's input, the same way for every product.

Each helper raises `ValidationFailed` naming the input field at fault (`["input", field]`), so a
client sees which field to fix. Text is stripped, an optional text left blank is stored as NULL,
and a required one may be neither missing nor blank. Times without an offset are UTC. Enum
values are stored as their `value`.

An update's `changes` holds only the fields the client sent (`None` when it sent `null`), so a
helper that reads one applies only to what is there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.errors import ValidationFailed


def utcnow() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """`value` in UTC; a time without an offset is taken as UTC (and documented so in the schema)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def stored_value(value: Any) -> Any:
    """The stored value of an enum member (a model's or a GraphQL enum alike); anything else as is."""
    return getattr(value, "value", value)


def clean_text(value: str | None, *, field: str, max_length: int, required: bool) -> str | None:
    """`value` stripped, at most `max_length` characters; blank is `None` unless `required`, which
    also refuses a missing value."""
    if value is None:
        if required:
            raise ValidationFailed(f"{field} is required", field=["input", field])
        return None
    value = value.strip()
    if required and not value:
        raise ValidationFailed(f"{field} must not be blank", field=["input", field])
    if len(value) > max_length:
        raise ValidationFailed(f"{field} must be at most {max_length} characters", field=["input", field])
    return value or None


def required_text(value: str | None, *, field: str, max_length: int) -> str:
    """`clean_text` of a required field, typed as never `None`."""
    cleaned = clean_text(value, field=field, max_length=max_length, required=True)
    assert cleaned is not None  # clean_text raised otherwise
    return cleaned


def text_changes(changes: dict[str, Any], limits: dict[str, tuple[int, bool]]) -> dict[str, Any]:
    """The cleaned values of the text fields an update carries; `limits` maps each text field
    to its (max length, required)."""
    return {
        name: clean_text(changes[name], field=name, max_length=max_length, required=required)
        for name, (max_length, required) in limits.items()
        if name in changes
    }


def kept_values(changes: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The stored values of the fields in `names` that an update carries: fields that can be
    changed but never cleared (a `null` is refused)."""
    values = {}
    for name in names:
        if name in changes:
            if changes[name] is None:
                raise ValidationFailed(f"{name} can't be cleared", field=["input", name])
            values[name] = stored_value(changes[name])
    return values
