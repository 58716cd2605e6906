"""Stock arithmetic without I/O."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple

from commerce.errors import Unprocessable

StockStatus = Literal["in_stock", "low_stock", "out_of_stock"]

INBOUND_REASONS = frozenset({"receipt", "transfer_in"})
OUTBOUND_REASONS = frozenset({"damage", "shrink", "transfer_out"})
ADJUSTMENT_REASONS = INBOUND_REASONS | OUTBOUND_REASONS | {"correction"}


class StockLine(NamedTuple):
    store: str
    sku: str
    quantity: int


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
    kind: str
    available: int


def ship_source(levels: Iterable[LocationStock]) -> LocationStock | None:
    """The one location a ship line would be sent from: the warehouse with the most available units;
    if no warehouse has any, the store with the most. Ties go to the smaller store code."""
    best_warehouse: LocationStock | None = None
    best_store: LocationStock | None = None
    for level in levels:
        if level.available <= 0:
            continue
        if level.kind == "warehouse":
            if best_warehouse is None or (-level.available, level.store) < (
                -best_warehouse.available,
                best_warehouse.store,
            ):
                best_warehouse = level
        elif best_store is None or (-level.available, level.store) < (-best_store.available, best_store.store):
            best_store = level
    return best_warehouse or best_store
