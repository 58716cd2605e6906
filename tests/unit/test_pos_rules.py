from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commerce.inventory.rules import DatedChange
from commerce.money import Money
from commerce.pos.rules import changes_of, check_event, on_hand_in_order, value_of
from commerce.pos.schemas import PosEventIn, PosLineIn

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def ev(type_: str, *lines: PosLineIn, minutes: int = 0) -> PosEventIn:
    return PosEventIn(event_id="e1", type=type_, occurred_at=NOW + timedelta(minutes=minutes), lines=list(lines))  # type: ignore[arg-type]


def change(minute: int, sku: str, qty: int, is_count: bool = False) -> DatedChange:
    return DatedChange(sku, NOW + timedelta(minutes=minute), qty, is_count, "r", "s", None)


def test_a_sale_takes_units_off_and_return_receipt_and_count_do_not_negate() -> None:
    line = PosLineIn(sku="A", quantity=3)
    assert [c.quantity for c in changes_of(ev("sale", line))] == [-3]
    assert [c.quantity for c in changes_of(ev("return", line))] == [3]
    assert [c.quantity for c in changes_of(ev("receipt", line))] == [3]
    assert [(c.quantity, c.is_count, c.reason) for c in changes_of(ev("count", line))] == [(3, True, "pos_count")]


def test_well_formed_events_pass() -> None:
    assert check_event(ev("sale", PosLineIn(sku="A", quantity=1, unit_price=Money(100, "USD"))), NOW) is None
    assert check_event(ev("count", PosLineIn(sku="A", quantity=0)), NOW) is None


def test_quantities_must_be_plausible_for_the_type() -> None:
    for type_, qty in [("sale", 0), ("return", -1), ("receipt", 10_001), ("count", -1), ("count", 1_000_001)]:
        rejection = check_event(ev(type_, PosLineIn(sku="A", quantity=qty)), NOW)
        assert rejection is not None
        assert rejection.code == "invalid_quantity", (type_, qty)


def test_time_must_carry_an_offset_and_not_be_far_in_the_future() -> None:
    naive = PosEventIn(
        event_id="e", type="sale", occurred_at=datetime(2026, 1, 1), lines=[PosLineIn(sku="A", quantity=1)]
    )
    rejection = check_event(naive, NOW)
    assert rejection is not None
    assert rejection.code == "validation_failed"
    assert check_event(ev("sale", PosLineIn(sku="A", quantity=1), minutes=10), NOW) is None
    late = check_event(ev("sale", PosLineIn(sku="A", quantity=1), minutes=60), NOW)
    assert late is not None
    assert late.code == "invalid_occurred_at"


def test_empty_events_double_counted_skus_and_mixed_currencies_are_rejected() -> None:
    assert check_event(ev("sale"), NOW) is not None
    assert check_event(ev("count", PosLineIn(sku="A", quantity=1), PosLineIn(sku="A", quantity=2)), NOW) is not None
    mixed = ev(
        "sale",
        PosLineIn(sku="A", quantity=1, unit_price=Money(1, "USD")),
        PosLineIn(sku="B", quantity=1, unit_price=Money(1, "EUR")),
    )
    assert check_event(mixed, NOW) is not None


def test_in_order_a_count_overrides_what_came_before_it() -> None:
    assert on_hand_in_order([change(0, "A", 10, True), change(1, "A", -3), change(-5, "A", -4)]) == {"A": 7}


def test_in_order_events_after_a_count_add_on_top_of_it_whatever_the_listing_order() -> None:
    changes = [change(3, "A", -1), change(5, "A", 2), change(2, "A", 20, True), change(1, "A", -9)]
    assert on_hand_in_order(changes) == {"A": 21}
    assert on_hand_in_order(changes, {"A": 100, "B": 4}) == {"A": 21, "B": 4}


def test_a_sale_is_valued_at_its_till_prices_and_a_return_negatively() -> None:
    priced = [
        PosLineIn(sku="A", quantity=2, unit_price=Money(1_250, "EUR")),
        PosLineIn(sku="B", quantity=1, unit_price=Money(999, "EUR")),
    ]
    assert value_of(ev("sale", *priced)) == (3_499, "EUR")
    assert value_of(ev("return", *priced)) == (-3_499, "EUR")
    # A line without a price leaves the value unknown; counts and receipts have none.
    assert value_of(ev("sale", priced[0], PosLineIn(sku="B", quantity=1))) == (None, None)
    assert value_of(ev("count", PosLineIn(sku="A", quantity=4))) == (None, None)
    assert value_of(ev("receipt", *priced)) == (None, None)
