"""How till events move stock, without I/O.

The rule (DESIGN.md invariant 3: any arrival order ends in the state of one in-order delivery):

- A `sale` takes its quantity off on_hand, even below zero (the goods have left the building;
  the ledger row notes the oversell). A `return` or a `receipt` adds its quantity.
- A `count` says "on_hand was N at occurred_at": it reflects everything that happened at or
  before that instant, so once a level has a count at time T (`inventory_levels.counted_at`),
  any event with occurred_at <= T is recorded in the ledger with delta 0 ("before count at T")
  and does not move on_hand; a count with occurred_at <= T is recorded the same way.
- A count newer than T sets on_hand to N plus the net effect of everything already recorded as
  happening after its time: POS lines by their occurred_at, other changes (collections,
  adjustments) by when they were recorded (`inventory_ledger.occurred_at`, else `at`).

Why the order does not matter: after any set of events has been applied, on_hand is the value
of the newest count among them (or the starting stock) plus every non-count line newer than that
count. A late sale older than the count is ignored, as an in-order delivery would have
overwritten it with the count; a late count adds back the lines after it, which in-order delivery
would have applied on top of it. Two counts of one SKU at the very same instant are ambiguous:
the first to arrive wins.

Exactly once: an event is recorded under (store, event_id) when it is applied; any later event
with that id (in the same batch or another) is reported `duplicate` and changes nothing, even if
its content differs. A rejected event is not recorded, so a corrected event may be resent with
the same id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from commerce.inventory.rules import DatedChange
from commerce.pos.schemas import PosEventIn

# A line moving more units than this is a scanning slip (a barcode in the quantity field).
MAX_LINE_UNITS = 10_000
# A count above this is not a shelf.
MAX_COUNT_UNITS = 1_000_000
# Till clocks drift; an event further ahead of the server than this has a broken time.
MAX_CLOCK_AHEAD = timedelta(minutes=15)
OLDEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
LINE_REASONS = {"sale": "pos_sale", "return": "pos_return", "receipt": "pos_receipt", "count": "pos_count"}


class Rejection(NamedTuple):
    code: str
    detail: str


def check_event(event: PosEventIn, now: datetime) -> Rejection | None:
    """Why an event (already well-formed JSON of the right shape) cannot be applied, if it cannot."""
    if event.occurred_at.tzinfo is None:
        return Rejection("validation_failed", "`occurred_at` needs a UTC offset, e.g. 2026-11-23T14:05:00Z.")
    if event.occurred_at > now + MAX_CLOCK_AHEAD:
        return Rejection(
            "invalid_occurred_at",
            f"`occurred_at` {event.occurred_at.isoformat()} is in the future: check the till's clock and resend.",
        )
    if event.occurred_at < OLDEST_EVENT:
        return Rejection("invalid_occurred_at", f"`occurred_at` {event.occurred_at.isoformat()} is implausibly old.")
    if not event.lines:
        return Rejection("validation_failed", "An event needs at least one line.")
    low, high = (0, MAX_COUNT_UNITS) if event.type == "count" else (1, MAX_LINE_UNITS)
    for i, line in enumerate(event.lines):
        if not low <= line.quantity <= high:
            return Rejection(
                "invalid_quantity",
                f"lines[{i}].quantity {line.quantity} for {line.sku!r}: a {event.type} takes {low} to {high} units.",
            )
    if event.type == "count" and len({line.sku for line in event.lines}) != len(event.lines):
        return Rejection("validation_failed", "A count names each SKU once.")
    currencies = {line.unit_price.currency for line in event.lines if line.unit_price is not None}
    if len(currencies) > 1:
        return Rejection(
            "validation_failed", f"All unit prices of an event share one currency, got {sorted(currencies)}."
        )
    return None


def value_of(event: PosEventIn) -> tuple[int | None, str | None]:
    """A sale's or return's value at the till's prices in minor units, a return's negative (it takes the
    money back), and its currency; (None, None) for a count or receipt, or when a line has no price."""
    if event.type not in ("sale", "return"):
        return None, None
    priced = [(line.unit_price, line.quantity) for line in event.lines if line.unit_price is not None]
    if len(priced) < len(event.lines) or not priced:
        return None, None
    amount = sum(price.amount * quantity for price, quantity in priced)
    return (-amount if event.type == "return" else amount), priced[0][0].currency


def changes_of(event: PosEventIn) -> list[DatedChange]:
    """One stock change per line: a sale takes units off, a return or receipt adds, a count sets."""
    sign = -1 if event.type == "sale" else 1
    is_count = event.type == "count"
    source = f"pos:{event.terminal_id}" if event.terminal_id else "pos"
    reason, at, ref = LINE_REASONS[event.type], event.occurred_at, event.event_id
    # Positional: this runs for every line of every batch.
    return [
        DatedChange(line.sku, at, line.quantity if is_count else sign * line.quantity, is_count, reason, source, ref)
        for line in event.lines
    ]


def on_hand_in_order(changes: Iterable[DatedChange], start: dict[str, int] | None = None) -> dict[str, int]:
    """The rule stated as one in-order delivery: what on_hand ends at for each SKU."""
    on_hand = dict(start or {})
    counted_at: dict[str, datetime] = {}
    for change in sorted(changes, key=lambda c: c.occurred_at):
        last = counted_at.get(change.sku)
        if last is not None and change.occurred_at <= last:
            continue
        if change.is_count:
            on_hand[change.sku] = change.quantity
            counted_at[change.sku] = change.occurred_at
        else:
            on_hand[change.sku] = on_hand.get(change.sku, 0) + change.quantity
    return on_hand
