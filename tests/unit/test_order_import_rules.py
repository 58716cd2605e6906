"""The coherence checks and the fingerprint of an imported order, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from commerce.errors import Unprocessable
from commerce.orders.rules import MAX_ORDER_AMOUNT, check_import, import_fingerprint, line_amounts
from commerce.orders.schemas import OrderImportIn

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def order(*lines: dict[str, object], **extra: object) -> OrderImportIn:
    raw = {
        "source": "shopify",
        "external_id": "1",
        "channel": "web",
        "placed_at": "2026-11-27T14:00:00Z",
        "currency": "USD",
        "lines": list(lines),
        **extra,
    }
    return msgspec.json.decode(msgspec.json.encode(raw), type=OrderImportIn)


def line(
    sku: str = "A", qty: int = 1, price: int = 100, kind: str = "ship", store: str = "S1", **extra: object
) -> dict[str, object]:
    return {
        "sku": sku,
        "quantity": qty,
        "unit_price": {"amount": price, "currency": "USD"},
        "fulfillment": {"type": kind, "store": store},
        **extra,
    }


def refused(data: OrderImportIn) -> Unprocessable:
    with pytest.raises(Unprocessable) as caught:
        check_import(data, NOW)
    return caught.value


def test_a_coherent_order_passes() -> None:
    check_import(order(line("A", 2, discount={"amount": 200, "currency": "USD"}), line("A", 1, kind="pickup")), NOW)


def test_line_total_is_the_price_times_quantity_less_the_line_discount() -> None:
    data = order(line("A", 3, 250, discount={"amount": 100, "currency": "USD"}), line("B", 2, 10))
    assert [line_amounts(x) for x in data.lines] == [(750, 100, 650), (20, 0, 20)]


def test_money_in_another_currency_names_every_field() -> None:
    error = refused(
        order(
            line("A") | {"unit_price": {"amount": 1, "currency": "EUR"}},
            line("B", discount={"amount": 1, "currency": "CAD"}),
        )
    )
    assert error.code == "currency_mismatch"
    assert [e["key"] for e in error.extra["errors"]] == ["lines[0].unit_price.currency", "lines[1].discount.currency"]


def test_a_discount_may_take_the_whole_line_but_no_more() -> None:
    check_import(order(line("A", 2, 100, discount={"amount": 200, "currency": "USD"})), NOW)
    assert refused(order(line("A", 2, 100, discount={"amount": 201, "currency": "USD"}))).code == "invalid_discount"


def test_the_same_sku_twice_for_the_same_fulfillment_is_a_duplicate() -> None:
    error = refused(order(line("A"), line("B"), line("A", 3)))
    assert error.code == "duplicate_line"
    assert error.extra["errors"] == [{"key": "lines[2]", "message": "repeats lines[0] (same sku and fulfillment)"}]
    # Another store or another way of fulfilling it is another line.
    check_import(order(line("A"), line("A", store="S2"), line("A", kind="pickup")), NOW)


def test_pickup_happens_at_one_store() -> None:
    assert (
        refused(order(line("A", kind="pickup"), line("B", kind="pickup", store="S2"))).code == "multiple_pickup_stores"
    )


def test_placed_at_may_run_a_little_ahead_but_not_into_the_future() -> None:
    check_import(order(line(), placed_at=(NOW + timedelta(minutes=4)).isoformat()), NOW)
    assert refused(order(line(), placed_at=(NOW + timedelta(hours=1)).isoformat())).code == "invalid_placed_at"
    assert refused(order(line(), placed_at="0001-01-01T00:00:00Z")).code == "invalid_placed_at"
    assert refused(order(line(), placed_at="1999-12-31T23:59:59Z")).code == "invalid_placed_at"


def test_absurd_totals_are_refused() -> None:
    price = MAX_ORDER_AMOUNT // 100_000 + 1
    assert refused(order(line("A", 100_000, price))).code == "amount_too_large"


def test_the_fingerprint_ignores_key_order_offsets_and_spelled_out_defaults() -> None:
    base = order(line("A", 2), customer={"email": "a@example.com"})
    same = order(
        line("A", 2, discount=None),
        customer={"email": "a@example.com", "phone": None},
        placed_at=datetime(2026, 11, 27, 8, 0, tzinfo=timezone(timedelta(hours=-6))).isoformat(),
    )
    assert import_fingerprint(base) == import_fingerprint(same)


@pytest.mark.parametrize(
    "changed",
    [
        order(line("A", 3), customer={"email": "a@example.com"}),
        order(line("A", 2, 101), customer={"email": "a@example.com"}),
        order(line("A", 2, store="S2"), customer={"email": "a@example.com"}),
        order(line("A", 2), customer={"email": "b@example.com"}),
        order(line("A", 2), customer={"email": "a@example.com"}, placed_at="2026-11-27T14:00:01Z"),
        order(line("A", 2), customer={"email": "a@example.com"}, channel="mobile"),
    ],
)
def test_the_fingerprint_changes_with_what_was_ordered(changed: OrderImportIn) -> None:
    assert import_fingerprint(order(line("A", 2), customer={"email": "a@example.com"})) != import_fingerprint(changed)
