"""Stock arithmetic without I/O."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal, NamedTuple

from commerce.errors import Unprocessable

StockStatus = Literal["in_stock", "low_stock", "out_of_stock"]

# Far above any real stock, far below the 64-bit columns: every input is bounded (an adjustment by
# 10 million, a count, a POS line by pos/rules), and adjustments stop here, so no sum can overflow.
MAX_ON_HAND = 10**12

INBOUND_REASONS = frozenset({"receipt", "transfer_in"})
OUTBOUND_REASONS = frozenset({"damage", "shrink", "transfer_out"})
ADJUSTMENT_REASONS = INBOUND_REASONS | OUTBOUND_REASONS | {"correction"}


class StockLine(NamedTuple):
    store: str
    sku: str
    quantity: int


class Hold(NamedTuple):
    """Units to reserve at a location under `reference` (an order's pickup or ship lines)."""

    store: str
    sku: str
    quantity: int
    reference: str
    expires_at: datetime | None = None


class DatedChange(NamedTuple):
    """A change at a known time at one store: a signed delta, or (is_count) an absolute count."""

    sku: str
    occurred_at: datetime
    quantity: int
    is_count: bool
    reason: str
    source: str
    reference: str | None


def available(on_hand: int, reserved: int, safety_stock: int) -> int:
    """What can still be promised; never shown below zero."""
    return max(0, on_hand - reserved - safety_stock)


def stock_status(units: int, low_stock_threshold: int) -> StockStatus:
    if units <= 0:
        return "out_of_stock"
    if units <= low_stock_threshold:
        return "low_stock"
    return "in_stock"


def in_lock_order(lines: Iterable[StockLine]) -> list[StockLine]:
    """Merge lines for the same (store, sku) and sort them by (store, sku).

    Every statement that locks several levels does so in this one order, so two
    transactions can never wait on each other's rows in a cycle.
    """
    merged: dict[tuple[str, str], int] = {}
    for line in lines:
        merged[(line.store, line.sku)] = merged.get((line.store, line.sku), 0) + line.quantity
    return [StockLine(store, sku, qty) for (store, sku), qty in sorted(merged.items())]


def holds_in_lock_order(holds: Iterable[Hold]) -> list[Hold]:
    """Merge holds for the same (store, sku, reference) and sort them by (store, sku, reference):
    the one order in which a transaction's reservations lock their levels."""
    merged: dict[tuple[str, str, str], Hold] = {}
    for hold in holds:
        key = (hold.store, hold.sku, hold.reference)
        seen = merged.get(key)
        merged[key] = hold if seen is None else seen._replace(quantity=seen.quantity + hold.quantity)
    return [merged[key] for key in sorted(merged)]


def check_adjustment(reason: str, delta: int) -> None:
    """Inbound reasons add stock, outbound ones remove it; a correction may go either way."""
    if delta == 0:
        raise Unprocessable("`delta` must not be zero.", code="validation_failed")
    if reason in INBOUND_REASONS and delta < 0:
        raise Unprocessable(f"A {reason} adds stock: `delta` must be positive.", code="validation_failed")
    if reason in OUTBOUND_REASONS and delta > 0:
        raise Unprocessable(f"A {reason} removes stock: `delta` must be negative.", code="validation_failed")


class LocationStock(NamedTuple):
    store: str
    kind: str  # "warehouse" or "store"
    available: int
    distance_km: float | None = None  # from the ship-to point, when one is known


def ship_source(levels: Iterable[LocationStock], quantity: int = 1) -> LocationStock | None:
    """The one location a ship line of `quantity` units leaves from (a line is never split).

    Among locations that can ship the whole line: a warehouse before a store, then the nearest to
    the destination when it is known, then the one with most available, then the smaller code.
    When none can ship it all, the location with most available is returned as the best on offer: a cart shows it, and checkout reports the line short. None when nothing is
    available anywhere.
    """
    stocked = [level for level in levels if level.available > 0]
    able = [level for level in stocked if level.available >= quantity]
    if able:
        return min(
            able,
            key=lambda c: (c.kind != "warehouse", c.distance_km or 0.0, -c.available, c.store),
        )
    return min(stocked, key=lambda c: (-c.available, c.kind != "warehouse", c.store), default=None)


def parse_codes(raw: str, name: str, most: int) -> list[str]:
    """`"A,B,A"` -> ["A", "B"]: comma-separated, order kept, duplicates dropped, at most `most`."""
    codes = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not codes:
        raise Unprocessable(f"`{name}` needs at least one value (comma-separated).")
    if len(codes) > most:
        raise Unprocessable(f"`{name}` takes at most {most} values; split the request.")
    if any(len(code) > 64 for code in codes):
        raise Unprocessable(f"`{name}` has a value longer than 64 characters.")
    return codes
