"""Cursor pagination: `?limit=` (default 50, max 500) and an opaque `?cursor=`."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import QueryParameter

from commerce.errors import Unprocessable

T = TypeVar("T")

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Page size (default 50, at most 500).")]
Cursor = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=2048,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`next_cursor` from the previous page, as it was (opaque, URL-safe base64); omit for the "
        "first page. A cursor this server did not issue is 422 `invalid_cursor`.",
    ),
]


class Page(msgspec.Struct, Generic[T], frozen=True):
    items: list[T]
    next_cursor: str | None


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = msgspec.json.decode(raw)
    except (ValueError, msgspec.DecodeError):
        key = None
    if not isinstance(key, list) or len(key) != arity:
        raise Unprocessable("`cursor` is not one this server issued; start again without it.", code="invalid_cursor")
    return key
