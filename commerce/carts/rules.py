"""Cart arithmetic and edit rules without I/O."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from commerce.auth.schemas import CUSTOMER, Principal
from commerce.errors import BadRequest, Forbidden
from commerce.promotions.rules import normalise_code

MAX_CODES = 10
# Units one cart line holds (the cart_lines quantity check): adding, moving or merging past it is
# refused, never capped.
MAX_LINE_QUANTITY = 999


# A cart's version is a 32-bit integer column: an If-Match past it was never issued.
MAX_VERSION = 2**31 - 1
_VERSION = re.compile(r"^[0-9]{1,10}$")


def parse_if_match(header: str | None) -> int | None:
    """The version an `If-Match` header expects (`"3"`, `W/"3"` or `3`); None when absent or `*`."""
    if header is None or header.strip() == "*":
        return None
    raw = header.strip().removeprefix("W/").strip('"')
    if not _VERSION.fullmatch(raw) or int(raw) > MAX_VERSION:
        raise BadRequest(
            f'`If-Match` {header!r} is not a cart version; send the `ETag` of your last read, e.g. "3".',
            code="invalid_if_match",
        )
    return int(raw)


def add_code(codes: Iterable[str], code: str) -> list[str]:
    """The cart's codes with `code` added once (codes are case-insensitive)."""
    current = list(codes)
    if normalise_code(code) in {normalise_code(c) for c in current}:
        return current
    return [*current, code]


def merge_codes(target: Iterable[str], source: Iterable[str]) -> list[str]:
    merged = list(target)
    for code in source:
        merged = add_code(merged, code)
    return merged


def without_code(codes: Iterable[str], code: str) -> list[str]:
    return [c for c in codes if normalise_code(c) != normalise_code(code)]


# Who may name the owner of a new cart: the staff roles. A customer token's cart is its own; a
# storefront key is public and creates anonymous carts.
OWNER_SETTING_ROLES = frozenset({"admin", "associate"})


def cart_owner(principal: Principal, asked: uuid.UUID | None) -> uuid.UUID | None:
    """The customer a new cart belongs to."""
    if principal.role == CUSTOMER:
        if asked is not None and asked != principal.customer_id:
            raise Forbidden("A customer token creates carts for its own customer only; leave out `customer_id`.")
        return principal.customer_id
    if asked is not None and principal.role not in OWNER_SETTING_ROLES:
        raise Forbidden(
            f"{principal.credential} creates anonymous carts; a signed-in shopper's cart is created with their "
            "customer token (or GET /v1/me/cart)."
        )
    return asked
