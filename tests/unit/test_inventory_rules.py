from __future__ import annotations

import pytest

from commerce.errors import Unprocessable
from commerce.inventory.rules import (
    Hold,
    StockLine,
    available,
    check_adjustment,
    holds_in_lock_order,
    in_lock_order,
    stock_status,
)


@pytest.mark.parametrize(
    ("on_hand", "reserved", "safety", "expected"),
    [(10, 3, 2, 5), (3, 3, 0, 0), (2, 3, 0, 0), (-4, 0, 0, 0), (5, 0, 5, 0), (6, 0, 5, 1)],
)
def test_available_is_on_hand_less_reserved_and_safety_never_negative(
    on_hand: int, reserved: int, safety: int, expected: int
) -> None:
    assert available(on_hand, reserved, safety) == expected


def test_stock_status_thresholds() -> None:
    assert stock_status(0, 5) == "out_of_stock"
    assert stock_status(5, 5) == "low_stock"
    assert stock_status(1, 5) == "low_stock"
    assert stock_status(6, 5) == "in_stock"


def test_lock_order_merges_duplicates_and_sorts_by_store_then_sku() -> None:
    lines = [StockLine("B", "x", 1), StockLine("A", "z", 2), StockLine("A", "y", 1), StockLine("B", "x", 4)]
    assert in_lock_order(lines) == [StockLine("A", "y", 1), StockLine("A", "z", 2), StockLine("B", "x", 5)]


@pytest.mark.parametrize(
    ("reason", "delta"),
    [("receipt", -1), ("transfer_in", -2), ("damage", 1), ("shrink", 3), ("transfer_out", 1), ("correction", 0)],
)
def test_adjustment_sign_must_match_reason(reason: str, delta: int) -> None:
    with pytest.raises(Unprocessable):
        check_adjustment(reason, delta)


@pytest.mark.parametrize(("reason", "delta"), [("receipt", 5), ("damage", -1), ("correction", -3), ("correction", 3)])
def test_adjustment_signs_that_make_sense_pass(reason: str, delta: int) -> None:
    check_adjustment(reason, delta)


def test_holds_merge_per_reference_and_sort_in_lock_order() -> None:
    holds = [
        Hold("B", "x", 1, "order:1:ship"),
        Hold("A", "y", 2, "order:1:pickup"),
        Hold("A", "y", 3, "order:1:pickup"),
        Hold("A", "y", 1, "order:1:ship"),
    ]
    assert holds_in_lock_order(holds) == [
        Hold("A", "y", 5, "order:1:pickup"),
        Hold("A", "y", 1, "order:1:ship"),
        Hold("B", "x", 1, "order:1:ship"),
    ]
