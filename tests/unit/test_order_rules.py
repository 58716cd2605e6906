from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commerce.errors import InvalidState
from commerce.orders.rules import hold_until, next_status

PICKUP = {"has_pickup": True, "has_ship": False, "shipped": False}
SHIP = {"has_pickup": False, "has_ship": True, "shipped": False}
MIXED = {"has_pickup": True, "has_ship": True, "shipped": False}


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [
        ("placed", "ready", "ready_for_pickup"),
        ("ready_for_pickup", "collect", "collected"),
        ("placed", "cancel", "cancelled"),
        ("ready_for_pickup", "cancel", "cancelled"),
        ("placed", "expire", "expired"),
        ("ready_for_pickup", "expire", "expired"),
    ],
)
def test_pickup_lifecycle_allows_its_transitions(status: str, action: str, expected: str) -> None:
    assert next_status(status, action, **PICKUP) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("placed", "collect"),
        ("ready_for_pickup", "ready"),
        ("collected", "cancel"),
        ("collected", "ready"),
        ("cancelled", "ready"),
        ("cancelled", "cancel"),
        ("expired", "collect"),
        ("expired", "cancel"),
        ("collected", "expire"),
    ],
)
def test_pickup_lifecycle_refuses_the_rest(status: str, action: str) -> None:
    with pytest.raises(InvalidState):
        next_status(status, action, **PICKUP)  # type: ignore[arg-type]


def test_ship_only_order_becomes_shipped_and_cannot_be_readied() -> None:
    assert next_status("placed", "ship", **SHIP) == "shipped"
    with pytest.raises(InvalidState):
        next_status("placed", "ready", **SHIP)
    with pytest.raises(InvalidState):
        next_status("shipped", "cancel", **SHIP)


def test_mixed_order_ships_without_leaving_the_pickup_lifecycle() -> None:
    assert next_status("placed", "ship", **MIXED) == "placed"
    with pytest.raises(InvalidState):
        next_status("placed", "ship", has_pickup=True, has_ship=True, shipped=True)
    with pytest.raises(InvalidState):
        next_status("placed", "cancel", has_pickup=True, has_ship=True, shipped=True)


def test_pickup_only_order_cannot_ship() -> None:
    with pytest.raises(InvalidState):
        next_status("placed", "ship", **PICKUP)


def test_a_pickup_hold_runs_the_lead_time_then_the_hold() -> None:
    placed = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert hold_until(placed, 60, 2880) == datetime(2026, 3, 3, 13, 0, tzinfo=UTC)
    assert hold_until(placed, 0, 30) == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
