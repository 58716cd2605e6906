from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from commerce.auth.schemas import StoreCode
from commerce.catalog.schemas import Sku, StoreAvailability
from commerce.money import Money

AdjustmentReason = Literal["receipt", "return", "damage", "shrink", "transfer_in", "transfer_out", "correction"]
Quantity = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]


class CountIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An absolute stock count: on_hand becomes this number (the ledger records the difference)."""

    on_hand: Quantity
    safety_stock: Quantity | None = None
    counted_at: Annotated[datetime, msgspec.Meta(tz=True, description="When the count was taken")] | None = None


class AdjustmentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    store: StoreCode
    sku: Sku
    delta: Annotated[
        int,
        msgspec.Meta(
            ge=-10_000_000,
            le=10_000_000,
            description="Units added (positive) or removed (negative), never 0. receipt and transfer_in add; "
            "damage, shrink and transfer_out remove; a correction may go either way.",
            extra_json_schema={"not": {"const": 0}},
        ),
    ]
    reason: AdjustmentReason
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None


_STAFF_ONLY = msgspec.Meta(description="Left out for storefront and ads keys")


class LevelOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One level. Storefront and ads keys see `available` only: the other counts are left out."""

    store: str
    sku: str
    on_hand: Annotated[int | None, _STAFF_ONLY] = None
    reserved: Annotated[int | None, _STAFF_ONLY] = None
    safety_stock: Annotated[int | None, _STAFF_ONLY] = None
    available: Annotated[int, msgspec.Meta(description="on_hand - reserved - safety_stock, never below 0")]


class LedgerEntryOut(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    delta: Annotated[int, msgspec.Meta(description="Change to on_hand")]
    reserved_delta: Annotated[int, msgspec.Meta(description="Change to reserved")]
    reason: str
    source: Annotated[str, msgspec.Meta(description="Who made the change: `role:key id`, a POS, a checkout, ...")]
    reference: str | None
    note: str | None
    on_hand_after: int
    reserved_after: int
    at: datetime
    occurred_at: Annotated[
        datetime | None,
        msgspec.Meta(description="When the change happened, if it was reported dated (a POS event); else `at`"),
    ] = None


class AvailabilityItem(msgspec.Struct, frozen=True):
    sku: str
    store: str
    available: int


class AvailabilityOut(msgspec.Struct, frozen=True):
    items: list[AvailabilityItem]


class HereStock(msgspec.Struct, frozen=True):
    on_hand: int
    reserved: int
    available: int


class NearbyStock(msgspec.Struct, frozen=True):
    store: str
    distance_km: float
    available: int


class LookupItem(msgspec.Struct, frozen=True, kw_only=True):
    """One variant as an associate sees it: the stock here, in nearby stores and in warehouses."""

    sku: str
    product_id: str
    title: str
    barcode: str | None
    price: Money
    here: HereStock
    nearby: Annotated[list[NearbyStock], msgspec.Meta(description="Other stores with stock, nearest first")]
    warehouses: Annotated[list[StoreAvailability], msgspec.Meta(description="Warehouses with stock, most first")]


class LookupOut(msgspec.Struct, frozen=True):
    items: list[LookupItem]
