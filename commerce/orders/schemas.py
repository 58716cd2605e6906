from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from commerce.auth.schemas import StoreCode
from commerce.catalog.schemas import Sku
from commerce.customers.schemas import CustomerIn
from commerce.money import Currency, Money
from commerce.orders.rules import OrderStatus
from commerce.promotions.schemas import Channel
from commerce.stores.schemas import Latitude, Longitude


class ShipTo(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Where ship lines go; used to reserve them at the nearest location that has them."""

    latitude: Latitude
    longitude: Longitude


class CheckoutIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=32, pattern=r"^\+?[0-9 ()\-.]{4,31}$")] | None = None
    ship_to: ShipTo | None = None


class Fulfillment(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    type: Literal["ship", "pickup"]
    store: str | None = None


class OrderLineOut(msgspec.Struct, frozen=True, kw_only=True):
    line_no: int
    sku: str
    title: str | None
    quantity: int
    unit_price: Money
    discount: Money
    promotion_id: str | None
    line_total: Money
    fulfillment: Fulfillment
    location: Annotated[str, msgspec.Meta(description="Where the line is reserved and leaves from")]
    backordered: Annotated[
        int,
        msgspec.Meta(description="Units of an imported order the location could not reserve when it arrived"),
    ] = 0


class Totals(msgspec.Struct, frozen=True, kw_only=True):
    subtotal: Money
    discount_total: Money
    total: Money


class Pickup(msgspec.Struct, frozen=True, kw_only=True):
    store: str
    hold_until: datetime


class OrderOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    number: int
    status: OrderStatus
    customer_id: uuid.UUID | None
    channel: str
    email: str | None
    phone: str | None
    lines: list[OrderLineOut]
    totals: Totals
    pickup: Pickup | None
    shipped_at: datetime | None
    placed_at: Annotated[datetime, msgspec.Meta(description="When the order was placed (in its source system)")]
    source: Annotated[str | None, msgspec.Meta(description="The system an imported order came from")] = None
    external_id: Annotated[str | None, msgspec.Meta(description="The imported order's id in `source`")] = None
    created_at: datetime
    updated_at: datetime


# Imports: an order another system already accepted and charged.

ImportSource = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=32,
        pattern=r"^[a-z0-9][a-z0-9_.\-]*$",
        description="The system the order comes from, e.g. `shopify` (lower case)",
        examples=["shopify"],
    ),
]
ExternalId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=255,
        pattern=r"^\S(.*\S)?$",
        description="The order's id in `source`; unique per source",
        examples=["gid://shopify/Order/450789469"],
    ),
]
ImportQuantity = Annotated[int, msgspec.Meta(ge=1, le=100_000)]


class ImportFulfillment(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the line is fulfilled, and the location whose stock it takes."""

    type: Literal["ship", "pickup"]
    store: StoreCode


class ImportLineIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sku: Sku
    quantity: ImportQuantity
    unit_price: Annotated[Money, msgspec.Meta(description="The price charged per unit, in the order's currency")]
    discount: Annotated[
        Money | None, msgspec.Meta(description="Total discount on the line (not per unit); at most the line's price")
    ] = None
    fulfillment: ImportFulfillment


class OrderImportIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    source: ImportSource
    external_id: ExternalId
    channel: Channel
    placed_at: Annotated[datetime, msgspec.Meta(tz=True, description="When the other system accepted the order")]
    currency: Currency
    customer: CustomerIn | None = None
    lines: Annotated[list[ImportLineIn], msgspec.Meta(min_length=1, max_length=500)]
