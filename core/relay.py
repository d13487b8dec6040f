"""Relay conventions: opaque global IDs, page arguments and keyset cursors."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from core.errors import ClientError


class InvalidGlobalId(ValueError):
    """A string that is not one of our global IDs, or one of another type."""


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def to_global_id(type_name: str, pk: uuid.UUID) -> str:
    # base64.urlsafe_b64encode, minus two Python calls: IDs are made for every row of a result.
    return binascii.b2a_base64(f"{type_name}:{pk}".encode(), newline=False).translate(_URLSAFE).decode().rstrip("=")


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
#: Longer than any of our IDs (a type key and a UUID): decoded, never remembered.
_KEPT_ID_LENGTH = 128


def from_global_id(value: str) -> tuple[str, uuid.UUID]:
    if type(value) is not str:
        raise TypeError(f"a global ID is a string, not {type(value).__name__}")
    if len(value) > _KEPT_ID_LENGTH:
        return _decode_global_id(value)
    return _remembered_global_id(value)


def _decode_global_id(value: str) -> tuple[str, uuid.UUID]:
    # base64.urlsafe_b64decode without its Python steps (it also drops characters outside the
    # alphabet); a non-ASCII string is refused (UnicodeEncodeError is a ValueError).
    try:
        padded = (value + "=" * (-len(value) % 4)).encode("ascii")
        type_name, _, raw = binascii.a2b_base64(padded.translate(_FROM_URLSAFE)).decode().partition(":")
        if not type_name or not raw:
            raise InvalidGlobalId(value)
        return type_name, uuid.UUID(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidGlobalId(value) from exc


#: The IDs a process sees repeat (a client refetches what it holds): each decoded once, while it
#: is among the most recent few thousand. A pure function of the text; errors are not kept.
_remembered_global_id = lru_cache(maxsize=4096)(_decode_global_id)


def parse_global_id(value: str, expected_type: str) -> uuid.UUID:
    type_name, pk = from_global_id(value)
    if type_name != expected_type:
        raise InvalidGlobalId(value)
    return pk


@dataclass(frozen=True, slots=True)
class PageArgs:
    """Validated connection arguments; hashable so that loaders can batch by them."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    @property
    def limit(self) -> int:
        return self.first if self.first is not None else self.last or 0

    @property
    def backward(self) -> bool:
        return self.last is not None and self.first is None


def page_args(
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    max_size: int,
    default_size: int,
) -> PageArgs:
    for name, value in (("first", first), ("last", last)):
        if value is None:
            continue
        if value < 0:
            raise ClientError(f"`{name}` must not be negative", "BAD_USER_INPUT", argument=name)
        if value > max_size:
            raise ClientError(
                f"`{name}` is {value}, above the maximum page size of {max_size}",
                "PAGE_SIZE_EXCEEDED",
                argument=name,
                limit="maxPageSize",
                value=max_size,
            )
    if first is not None and last is not None:
        raise ClientError("Pass `first` or `last`, not both", "BAD_USER_INPUT", argument="last")
    if first is None and last is None:
        first = default_size
    return PageArgs(first=first, after=after, last=last, before=before)


# Cursors: [sort key, sort value, row id]; the sort key is checked on the way back in, so a
# cursor from one ordering can't be replayed against another.


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def encode_cursor(sort_key: str, value: Any, pk: uuid.UUID) -> str:
    raw = orjson.dumps([sort_key, _encode_value(value), str(pk)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_sql(sort_key: str, value_type: type, value: Any, pk: Any) -> Any:
    """`encode_cursor` in SQL, for the one-statement form (core/sqljson.py): `value` and `pk`
    are SQL expressions of the sort value and the row's id. orjson and Postgres write a string
    with the same escapes, an integer and a time (as `isoformat`) alike, without spaces."""
    import sqlalchemy as sa

    from core.sqljson import SqlUnsupported, iso_datetime  # core.sqljson imports this module

    written: Any
    if value_type is datetime:
        written = sa.literal('"', sa.Text) + iso_datetime(value) + '"'
    elif value_type is int:
        written = sa.cast(value, sa.Text)
    elif value_type is str:
        written = sa.cast(sa.func.to_json(sa.cast(value, sa.Text)), sa.Text)
    else:
        raise SqlUnsupported(f"cursors over {value_type.__name__} values")
    raw = (
        sa.literal(orjson.dumps([sort_key]).decode()[:-1] + ",", sa.Text) + written + ',"' + sa.cast(pk, sa.Text) + '"]'
    )
    encoded = sa.func.replace(sa.func.encode(sa.func.convert_to(raw, "UTF8"), "base64"), "\n", "")
    return sa.func.rtrim(sa.func.replace(sa.func.replace(encoded, "+", "-"), "/", "_"), "=")


def decode_cursor(cursor: str, sort_key: str, value_type: type, argument: str) -> tuple[Any, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key, raw_value, raw_pk = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        if key != sort_key:
            raise ValueError("cursor of another ordering")
        if isinstance(raw_value, str) and "\x00" in raw_value:
            raise ValueError("NUL in a cursor value")
        value: Any
        if value_type is datetime:
            value = datetime.fromisoformat(raw_value)
        elif value_type is int:
            value = int(raw_value)
        elif value_type is float:
            value = float(raw_value)
        else:
            value = str(raw_value)
        return value, uuid.UUID(raw_pk)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise ClientError(
            f"`{argument}` is not a cursor of this connection in this order",
            "INVALID_CURSOR",
            argument=argument,
        ) from exc
