"""Filter inputs declared once: per field, a condition on the table with its value bound.

A connection's `filter` argument is a GraphQL input whose fields each add one condition (all
given ones must hold). A `Filter` declares, per input field, the condition on the row's
columns with the field's value as a bind parameter, and how the input value converts to the
bound value. Which fields are given (`FilterValues.shape`) decides the statement's text; their
values are only ever bound, so a statement made for one request serves every request of the
same shape and never holds a client's value.

Both the loaders (`loaders.base.pages_by_parent`, which batch by the values) and the
one-statement SQL form (`core.sqljson`) build their conditions from the same declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

Columns = Any  # the `.c` of a table or alias
Condition = Callable[[Columns, sa.BindParameter[Any]], sa.ColumnElement[bool]]


def _as_is(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class FilterField:
    """One input field: `condition(columns, value)` where `value` is the bound parameter.

    `convert` turns the input's value (already converted by strawberry) into the bound one,
    hashable (tuples for lists); it returns None when the value sets no condition (an empty
    list, blank text), and the field then counts as not given.
    """

    attribute: str
    condition: Condition
    type_: sa.types.TypeEngine[Any]
    convert: Callable[[Any], Hashable | None] = _as_is


@dataclass(frozen=True, slots=True)
class FilterValues:
    """The given fields of one filter input with their bound values; hashable, so that loaders
    batch the parents that share it."""

    items: tuple[tuple[str, Hashable], ...]

    @property
    def shape(self) -> tuple[str, ...]:
        """The given fields, in declaration order: what changes the statement's text."""
        return tuple(name for name, _ in self.items)


@dataclass(frozen=True)
class Filter:
    """The `filter` argument of connections: its fields' conditions and, for the schema, its
    GraphQL input type (`input`)."""

    fields: tuple[FilterField, ...]
    input: Any = None
    _by_attribute: dict[str, FilterField] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_attribute", {f.attribute: f for f in self.fields})

    def values(self, given: Any) -> FilterValues | None:
        """The bound values of an input object (None, or an input that sets no condition: None)."""
        if given is None:
            return None
        items: list[tuple[str, Hashable]] = []
        for declared in self.fields:
            value = getattr(given, declared.attribute, None)
            if value is None:
                continue
            converted = declared.convert(value)
            if converted is not None:
                items.append((declared.attribute, converted))
        return FilterValues(tuple(items)) if items else None

    def conditions(self, columns: Columns, shape: Sequence[str], prefix: str) -> list[sa.ColumnElement[bool]]:
        """The conditions of the given fields on `columns`, their values bound as `prefix + name`."""
        conditions: list[sa.ColumnElement[bool]] = []
        for name in shape:
            declared = self._by_attribute[name]
            conditions.append(declared.condition(columns, sa.bindparam(prefix + name, type_=declared.type_)))
        return conditions

    def params(self, values: FilterValues | None, prefix: str) -> dict[str, Any]:
        """The bound values of `conditions(..., values.shape, prefix)`."""
        if values is None:
            return {}
        return {prefix + name: list(value) if isinstance(value, tuple) else value for name, value in values.items}


# ----------------------------------------------------------------------------- conversions


def any_of(members: Sequence[Enum]) -> tuple[Any, ...] | None:
    """Enum members as their stored values, sorted and without repeats; none: no condition."""
    stored = tuple(sorted({member.value for member in members}))
    return stored or None


def contains_text(text: str) -> str | None:
    """A LIKE pattern matching text that contains `text` (`%`, `_` and `\\` taken literally);
    blank text: no condition. Use with `ilike(value, escape="\\\\")`."""
    stripped = text.strip()
    if not stripped:
        return None
    return "%" + stripped.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def array_of(item: sa.types.TypeEngine[Any]) -> sa.types.TypeEngine[Any]:
    """The type of a bound list compared with `column == sa.any_(value)`."""
    return ARRAY(item)
