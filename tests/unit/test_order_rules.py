from __future__ import annotations

import pytest

from commerce.errors import InvalidState
from commerce.orders.rules import Candidate, choose_ship_location, next_status

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


def test_ship_routing_prefers_a_warehouse_that_can_ship_the_whole_line() -> None:
    options = [
        Candidate("S1", "store", 50, None),
        Candidate("W2", "warehouse", 3, None),
        Candidate("W1", "warehouse", 9, None),
    ]
    assert choose_ship_location(5, options) == options[2]
    assert choose_ship_location(3, options) == options[2]  # most available among warehouses


def test_ship_routing_falls_back_to_a_store_when_no_warehouse_has_enough() -> None:
    options = [
        Candidate("W1", "warehouse", 2, None),
        Candidate("S2", "store", 4, None),
        Candidate("S1", "store", 9, None),
    ]
    assert choose_ship_location(4, options) == options[2]
    assert choose_ship_location(10, options) is None


def test_ship_routing_picks_the_nearest_when_a_destination_is_known() -> None:
    options = [Candidate("W1", "warehouse", 99, 800.0), Candidate("W2", "warehouse", 5, 40.0)]
    assert choose_ship_location(5, options) == options[1]
