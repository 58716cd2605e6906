"""Order lifecycle, without I/O.

Pickup orders: placed -> ready_for_pickup -> collected; placed or ready_for_pickup -> cancelled;
placed or ready_for_pickup -> expired (not collected by hold_until). Ship-only orders:
placed -> shipped, or cancelled. An order with both kinds of lines ships its ship lines while
it stays in the pickup lifecycle (it records shipped_at).
"""

from __future__ import annotations

from typing import Literal

from commerce.errors import InvalidState

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


def _past(action: Action) -> str:
    return {
        "ready": "marked ready",
        "collect": "collected",
        "cancel": "cancelled",
        "expire": "expired",
        "ship": "shipped",
    }[action]
