from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from commerce.money import Money
from commerce.orders.rules import OrderStatus
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
    created_at: datetime
    updated_at: datetime
