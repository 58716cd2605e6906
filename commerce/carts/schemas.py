from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from commerce.auth.schemas import StoreCode
from commerce.carts.rules import MAX_LINE_QUANTITY
from commerce.catalog.schemas import Sku
from commerce.inventory.rules import StockStatus
from commerce.money import Currency, Money
from commerce.promotions.schemas import Channel

CartStatus = Literal["active", "merged", "checked_out"]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=MAX_LINE_QUANTITY)]


class Ship(msgspec.Struct, tag_field="type", tag="ship", frozen=True, forbid_unknown_fields=True):
    """Shipped from the location that has the most (warehouses first)."""


class Pickup(msgspec.Struct, tag_field="type", tag="pickup", frozen=True, forbid_unknown_fields=True):
    """Collected at `store`, which must offer pickup."""

    store: StoreCode


Fulfillment = Ship | Pickup


class CartIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    channel: Channel
    customer_id: uuid.UUID | None = None
    currency: Currency = "USD"


class LineIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    sku: Sku
    quantity: Quantity
    fulfillment: Fulfillment


class LinePatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    quantity: Annotated[int, msgspec.Meta(ge=0, le=MAX_LINE_QUANTITY, description="0 removes the line")] | None = None
    fulfillment: Fulfillment | None = None


class CodeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class MergeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    cart_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class LineAvailability(msgspec.Struct, frozen=True, kw_only=True):
    available: int
    status: StockStatus
    store: Annotated[
        str | None,
        msgspec.Meta(description="Pickup: the pickup store. Ship: the location it would ship from (None: nowhere)"),
    ]


class CartLineOut(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    sku: str
    quantity: int
    fulfillment: Fulfillment
    unit_price: Money
    discount: Money
    promotion_id: str | None
    line_total: Money
    availability: LineAvailability


class CartOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    customer_id: uuid.UUID | None
    channel: Channel
    currency: str
    status: CartStatus
    version: int
    lines: list[CartLineOut]
    codes: list[str]
    subtotal: Money
    discount_total: Money
    total: Money
    merged_into: Annotated[
        str | None,
        msgspec.Meta(
            description="For a merged cart: the customer's cart its lines went to (null for a storefront key, "
            "which does not reach customers' carts this way)"
        ),
    ]
    updated_at: datetime
