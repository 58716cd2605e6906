"""Order lifecycle, without I/O.

Pickup orders: placed -> ready_for_pickup -> collected; placed or ready_for_pickup -> cancelled;
placed or ready_for_pickup -> expired (not collected by hold_until). Ship-only orders:
placed -> shipped, or cancelled. An order with both kinds of lines ships its ship lines while
it stays in the pickup lifecycle (it records shipped_at).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import msgspec

from commerce.errors import InvalidState, Unprocessable

if TYPE_CHECKING:
    from commerce.orders.schemas import ImportLineIn, OrderImportIn

OrderStatus = Literal["placed", "ready_for_pickup", "collected", "shipped", "cancelled", "expired"]
Action = Literal["ready", "collect", "cancel", "expire", "ship"]

# action -> (statuses it may start from, status it leads to, needs pickup lines)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "ready": (frozenset({"placed"}), "ready_for_pickup"),
    "collect": (frozenset({"ready_for_pickup"}), "collected"),
    "cancel": (frozenset({"placed", "ready_for_pickup"}), "cancelled"),
    "expire": (frozenset({"placed", "ready_for_pickup"}), "expired"),
    "ship": (frozenset({"placed", "ready_for_pickup"}), "shipped"),
}


def next_status(status: str, action: Action, *, has_pickup: bool, has_ship: bool, shipped: bool) -> str:
    """The status after `action`, or InvalidState (409) saying why it is not allowed."""
    starts, target = TRANSITIONS[action]
    if status not in starts:
        raise InvalidState(f"An order that is {status} cannot be {_past(action)}.")
    if action in ("ready", "collect", "expire") and not has_pickup:
        raise InvalidState(f"This order has no pickup lines: it cannot be {_past(action)}.")
    if action == "ship":
        if not has_ship:
            raise InvalidState("This order has no ship lines to ship.")
        if shipped:
            raise InvalidState("This order's ship lines were already shipped.")
        # A mixed order keeps its pickup status; only a ship-only order becomes `shipped`.
        return status if has_pickup else target
    if action == "cancel" and shipped:
        raise InvalidState("Part of this order has shipped; it can no longer be cancelled.")
    return target


def hold_until(now: datetime, pickup_lead_minutes: int, hold_minutes: int) -> datetime:
    """When a pickup order placed `now` stops holding its stock: the store's lead time to get it ready,
    then the configured hold (`COMMERCE_PICKUP_HOLD_MINUTES`). Checkout and imports alike."""
    return now + timedelta(minutes=pickup_lead_minutes + hold_minutes)


def _past(action: Action) -> str:
    return {
        "ready": "marked ready",
        "collect": "collected",
        "cancel": "cancelled",
        "expire": "expired",
        "ship": "shipped",
    }[action]


# Imported orders: accepted and charged by another system, so their prices are taken as given and
# only checked for being coherent.

# Ten thousand billion in minor units: far above any real order, far below bigint's range.
MAX_ORDER_AMOUNT = 10**16
# How far ahead of our clock `placed_at` may be (the other system's clock may run a little fast).
PLACED_AT_SKEW = timedelta(minutes=5)
# The oldest `placed_at` taken: older is a default or a typo in the other system, not an order.
PLACED_AT_FLOOR = datetime(2000, 1, 1, tzinfo=UTC)


def import_fingerprint(data: OrderImportIn) -> str:
    """What identifies the body of an import, so a retry can be told from another order under the
    same (source, external_id): canonical JSON (sorted keys, defaults filled, `placed_at` in UTC)."""
    canonical = msgspec.structs.replace(data, placed_at=data.placed_at.astimezone(UTC))
    return hashlib.sha256(msgspec.json.encode(canonical, order="sorted")).hexdigest()


def line_amounts(line: ImportLineIn) -> tuple[int, int, int]:
    """(gross, discount, line_total) of a line, in minor units."""
    gross = line.unit_price.amount * line.quantity
    discount = line.discount.amount if line.discount is not None else 0
    return gross, discount, gross - discount


def check_import(data: OrderImportIn, now: datetime) -> None:
    """Refuse an import that is not coherent in itself (422 with a stable code, every bad line named
    in `errors`): money in another currency, a discount above the line's price, the same SKU twice
    for the same fulfillment, pickup at more than one store, absurd totals, a future `placed_at`."""
    if data.placed_at > now + PLACED_AT_SKEW:
        raise Unprocessable(
            f"`placed_at` {data.placed_at.isoformat()} is in the future.",
            code="invalid_placed_at",
            errors=[{"key": "placed_at", "message": "in the future"}],
        )
    if data.placed_at < PLACED_AT_FLOOR:
        raise Unprocessable(
            f"`placed_at` {data.placed_at.isoformat()} is before {PLACED_AT_FLOOR.date().isoformat()}.",
            code="invalid_placed_at",
            errors=[{"key": "placed_at", "message": f"before {PLACED_AT_FLOOR.date().isoformat()}"}],
        )
    _refuse_bad_lines(
        [
            (f"lines[{i}].{field}.currency", f"is {money.currency}, the order is in {data.currency}")
            for i, line in enumerate(data.lines)
            for field, money in (("unit_price", line.unit_price), ("discount", line.discount))
            if money is not None and money.currency != data.currency
        ],
        "currency_mismatch",
        "Every price and discount must be in the order's currency",
    )
    _refuse_bad_lines(
        [
            (f"lines[{i}].discount", f"{discount} exceeds the line's price {gross}")
            for i, line in enumerate(data.lines)
            for gross, discount, _ in [line_amounts(line)]
            if discount > gross
        ],
        "invalid_discount",
        "A line's discount must not exceed its price (unit price times quantity)",
    )
    seen: dict[tuple[str, str, str], int] = {}
    duplicates: list[tuple[str, str]] = []
    for i, line in enumerate(data.lines):
        key = (line.sku, line.fulfillment.type, line.fulfillment.store)
        if key in seen:
            duplicates.append((f"lines[{i}]", f"repeats lines[{seen[key]}] (same sku and fulfillment)"))
        seen.setdefault(key, i)
    _refuse_bad_lines(duplicates, "duplicate_line", "Give each SKU once per fulfillment; merge the quantities")
    pickup_stores = sorted({line.fulfillment.store for line in data.lines if line.fulfillment.type == "pickup"})
    if len(pickup_stores) > 1:
        raise Unprocessable(
            f"An order is picked up at one store; these lines name several: {', '.join(pickup_stores)}.",
            code="multiple_pickup_stores",
        )
    if sum(line_amounts(line)[0] for line in data.lines) > MAX_ORDER_AMOUNT:
        raise Unprocessable(
            f"The order's total is above {MAX_ORDER_AMOUNT} minor units; check the amounts.", code="amount_too_large"
        )


def _refuse_bad_lines(bad: Sequence[tuple[str, str]], code: str, what: str) -> None:
    if bad:
        raise Unprocessable(
            f"{what}: {'; '.join(f'{key} {message}' for key, message in bad)}.",
            code=code,
            errors=[{"key": key, "message": message} for key, message in bad],
        )
