"""Square payloads to POS events and our levels to Square changes: the pure mapping."""

from __future__ import annotations

import copy
from typing import Any

from adapters.square import mapping
from adapters.square.mapping import PosEvent, PosLine, Problem, StoreEvent

STORES = {"LOC1": "CHI-LOOP", "LOC2": "CHI-WEST"}
SKUS = {"VAR-TEE-M": "TEE-M", "VAR-MUG": "MUG"}


def order(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "ORD123",
        "location_id": "LOC1",
        "state": "COMPLETED",
        "version": 3,
        "created_at": "2026-11-27T10:00:00Z",
        "updated_at": "2026-11-27T10:05:00Z",
        "closed_at": "2026-11-27T10:01:30.123Z",
        "line_items": [
            {
                "uid": "a",
                "quantity": "2",
                "catalog_object_id": "VAR-TEE-M",
                "base_price_money": {"amount": 2500, "currency": "USD"},
            },
            {"uid": "b", "quantity": "1.00000", "catalog_object_id": "VAR-MUG"},
        ],
    }
    body.update(overrides)
    return body


def test_completed_order_is_one_sale_at_the_mapped_store_as_of_closed_at() -> None:
    buyer = mapping.PosCustomer(email="ana@example.com", phone="+13125550100")
    events = mapping.order_events(order(), STORES, SKUS, buyer)
    assert events == [
        StoreEvent(
            "CHI-LOOP",
            PosEvent(
                event_id="square-sale-ORD123",
                type="sale",
                occurred_at="2026-11-27T10:01:30.123Z",
                customer=buyer,
                lines=[
                    PosLine(sku="TEE-M", quantity=2, unit_price=mapping.Money(2500, "USD")),
                    PosLine(sku="MUG", quantity=1),
                ],
            ),
        )
    ]


def test_every_version_of_an_order_names_the_same_sale() -> None:
    later = order(version=7, updated_at="2026-11-28T08:00:00Z")
    first, second = mapping.order_events(order(), STORES, SKUS), mapping.order_events(later, STORES, SKUS)
    assert isinstance(first, list) and isinstance(second, list)
    assert [e.event.event_id for e in first] == [e.event.event_id for e in second] == ["square-sale-ORD123"]


def test_an_open_or_cancelled_order_moves_nothing_yet() -> None:
    assert mapping.order_events(order(state="OPEN"), STORES, SKUS) == []
    assert mapping.order_events(order(state="CANCELED"), STORES, SKUS) == []


def test_each_return_is_its_own_event_keyed_by_its_own_id() -> None:
    returns = [
        {
            "uid": "R1",
            "source_order_id": "ORD1",
            "return_line_items": [{"quantity": "1", "catalog_object_id": "VAR-MUG"}],
        },
        {"uid": "R2", "return_line_items": [{"quantity": "3", "catalog_object_id": "VAR-TEE-M"}]},
    ]
    events = mapping.order_events(order(id="RET9", line_items=[], returns=returns), STORES, SKUS)
    assert isinstance(events, list)
    assert [(e.event.event_id, e.event.type, e.event.lines[0].sku, e.event.lines[0].quantity) for e in events] == [
        ("square-return-RET9-R1", "return", "MUG", 1),
        ("square-return-RET9-R2", "return", "TEE-M", 3),
    ]


def test_an_exchange_is_a_sale_and_a_return() -> None:
    returns = [{"uid": "R1", "return_line_items": [{"quantity": "1", "catalog_object_id": "VAR-MUG"}]}]
    events = mapping.order_events(order(returns=returns), STORES, SKUS)
    assert isinstance(events, list)
    assert [e.event.type for e in events] == ["sale", "return"]


def test_an_unknown_catalog_object_makes_the_whole_order_a_problem() -> None:
    items = [*order()["line_items"], {"uid": "c", "quantity": "1", "catalog_object_id": "VAR-NEW"}]
    problem = mapping.order_events(order(line_items=items), STORES, SKUS)
    assert isinstance(problem, Problem)
    assert problem.code == "unknown_catalog_object"
    assert problem.catalog_object_ids == ("VAR-NEW",)


def test_custom_amount_lines_move_no_stock() -> None:
    items = [*order()["line_items"], {"uid": "c", "quantity": "1", "name": "Gift wrap"}]
    events = mapping.order_events(order(line_items=items), STORES, SKUS)
    assert isinstance(events, list)
    assert [line.sku for line in events[0].event.lines] == ["TEE-M", "MUG"]


def test_fractional_quantities_are_a_problem_not_rounded() -> None:
    items = [{"uid": "a", "quantity": "1.5", "catalog_object_id": "VAR-MUG"}]
    problem = mapping.order_events(order(line_items=items), STORES, SKUS)
    assert isinstance(problem, Problem) and problem.code == "fractional_quantity"


def test_an_unmapped_location_is_a_problem() -> None:
    problem = mapping.order_events(order(location_id="ELSEWHERE"), STORES, SKUS)
    assert isinstance(problem, Problem) and problem.code == "unknown_location"


def test_whole_units_reads_decimal_strings() -> None:
    assert [mapping.whole_units(q) for q in ("3", "3.00000", "0", "-2", "1.7", "abc", "NaN")] == [
        3,
        3,
        0,
        -2,
        None,
        None,
        None,
    ]


def test_counts_are_as_of_calculated_at_one_event_each() -> None:
    counts = [
        {
            "catalog_object_id": "VAR-MUG",
            "catalog_object_type": "ITEM_VARIATION",
            "state": "IN_STOCK",
            "location_id": "LOC2",
            "quantity": "0",
            "calculated_at": "2026-11-27T11:00:00.5Z",
        },
        {
            "catalog_object_id": "VAR-TEE-M",
            "catalog_object_type": "ITEM_VARIATION",
            "state": "IN_STOCK",
            "location_id": "LOC1",
            "quantity": "12",
            "calculated_at": "2026-11-27T11:00:01Z",
        },
        {"catalog_object_id": "VAR-MUG", "state": "SOLD", "location_id": "LOC2", "quantity": "9", "calculated_at": "x"},
    ]
    assert mapping.count_events(counts, STORES, SKUS) == [
        StoreEvent(
            "CHI-WEST",
            PosEvent(
                event_id="square-count-VAR-MUG-LOC2-2026-11-27T11:00:00.5Z",
                type="count",
                occurred_at="2026-11-27T11:00:00.5Z",
                lines=[PosLine(sku="MUG", quantity=0)],
            ),
        ),
        StoreEvent(
            "CHI-LOOP",
            PosEvent(
                event_id="square-count-VAR-TEE-M-LOC1-2026-11-27T11:00:01Z",
                type="count",
                occurred_at="2026-11-27T11:00:01Z",
                lines=[PosLine(sku="TEE-M", quantity=12)],
            ),
        ),
    ]


def test_one_unmappable_count_does_not_hold_back_the_others() -> None:
    good = {
        "catalog_object_id": "VAR-MUG",
        "location_id": "LOC1",
        "quantity": "4",
        "calculated_at": "2026-11-27T11:00Z",
    }
    unknown = {**good, "catalog_object_id": "VAR-NEW"}
    outcomes = mapping.count_events([unknown, good], STORES, SKUS)
    assert isinstance(outcomes[0], Problem) and outcomes[0].catalog_object_ids == ("VAR-NEW",)
    assert isinstance(outcomes[1], StoreEvent) and outcomes[1].event.lines == [PosLine(sku="MUG", quantity=4)]


def test_loyalty_phone_and_variation_sku() -> None:
    assert mapping.loyalty_phone([{"id": "a", "mapping": {"phone_number": "+13125550100"}}]) == "+13125550100"
    assert mapping.loyalty_phone([]) is None
    variation = {"type": "ITEM_VARIATION", "id": "V", "item_variation_data": {"sku": "TEE-M"}}
    assert mapping.sku_of_variation(variation) == "TEE-M"
    assert mapping.sku_of_variation({**variation, "is_deleted": True}) is None
    assert mapping.sku_of_variation({**variation, "item_variation_data": {}}) is None


def test_the_buyer_is_the_email_and_the_loyalty_phone_as_loyalty_id_and_phone_else_the_profile_phone() -> None:
    account = {"id": "a", "customer_id": "C", "mapping": {"phone_number": " +13125550100"}}
    profile = {"id": "C", "email_address": " ana@example.com ", "phone_number": "(312) 555-0199"}
    loyal = {"phone": "+13125550100", "loyalty_id": "+13125550100"}
    assert mapping.buyer(profile, [account]) == mapping.PosCustomer(email="ana@example.com", **loyal)
    assert mapping.buyer(profile, []) == mapping.PosCustomer(email="ana@example.com", phone="(312) 555-0199")
    assert mapping.buyer(None, [account]) == mapping.PosCustomer(**loyal)  # a deleted profile
    assert mapping.buyer({"id": "C", "email_address": ""}, []) is None
    assert mapping.buyer(None, []) is None


def test_long_ids_stay_within_our_limit_and_distinct() -> None:
    a, b = mapping.sale_event_id("X" * 150), mapping.sale_event_id("X" * 149 + "Y")
    assert len(a) <= 100 and len(b) <= 100 and a != b
    assert mapping.sale_event_id("ORD") == "square-sale-ORD"


def _entry(
    ident: int, reason: str, delta: int, after: int, reference: str | None = None, **more: Any
) -> dict[str, Any]:
    return {
        "id": ident,
        "delta": delta,
        "reason": reason,
        "reference": reference,
        "on_hand_after": after,
        "at": f"2026-11-27T12:00:{ident:02d}Z",
        **more,
    }


def test_changes_made_here_go_as_adjustments_counts_as_counts_and_squares_own_not_at_all() -> None:
    entries = [
        _entry(1, "receipt", 4, 14),
        _entry(2, "pos_sale", -1, 13, "square-sale-ORD1"),  # Square's sale, applied here: not sent back
        _entry(3, "reserve", 0, 13, "order-1"),  # a hold: on_hand unchanged
        _entry(4, "collect", -2, 11, "order-1"),
        _entry(5, "damage", -1, 10),
        _entry(6, "count", -3, 7),
        _entry(7, "pos_count", 0, -2, "till-count", occurred_at="2026-11-27T11:59:00Z"),
        _entry(8, "pos_count", 5, 5, "square-count-V-L-T"),
    ]
    changes = [c for e in entries if (c := mapping.change_of_entry("CHI-LOOP", "MUG", e)) is not None]
    assert [c.ledger_id for c in changes] == [1, 4, 5, 6, 7]
    changes.append(mapping.Change(9, "WAREHOUSE", "MUG", "adjust", 3, "receipt", "2026-11-27T12:00:09Z"))
    scarf = mapping.Change(10, "CHI-LOOP", "SCARF", "adjust", 1, "receipt", "2026-11-27T12:00:10Z")
    out, unknown = mapping.inventory_changes([scarf, *reversed(changes)], {"CHI-LOOP": "LOC1"}, {"MUG": "VAR"})
    assert unknown == [scarf]
    where = {"catalog_object_id": "VAR", "location_id": "LOC1"}
    assert out == [
        {
            "type": "ADJUSTMENT",
            "adjustment": {
                "reference_id": "commerce-ledger-1",
                **where,
                "occurred_at": "2026-11-27T12:00:01Z",
                "from_state": "NONE",
                "to_state": "IN_STOCK",
                "quantity": "4",
            },
        },
        {
            "type": "ADJUSTMENT",
            "adjustment": {
                "reference_id": "commerce-ledger-4",
                **where,
                "occurred_at": "2026-11-27T12:00:04Z",
                "from_state": "IN_STOCK",
                "to_state": "SOLD",
                "quantity": "2",
            },
        },
        {
            "type": "ADJUSTMENT",
            "adjustment": {
                "reference_id": "commerce-ledger-5",
                **where,
                "occurred_at": "2026-11-27T12:00:05Z",
                "from_state": "IN_STOCK",
                "to_state": "WASTE",
                "quantity": "1",
            },
        },
        {
            "type": "PHYSICAL_COUNT",
            "physical_count": {
                "reference_id": "commerce-ledger-6",
                **where,
                "occurred_at": "2026-11-27T12:00:06Z",
                "state": "IN_STOCK",
                "quantity": "7",
            },
        },
        {
            "type": "PHYSICAL_COUNT",
            "physical_count": {  # as of when it was applied here; an oversold level is an empty shelf
                "reference_id": "commerce-ledger-7",
                **where,
                "occurred_at": "2026-11-27T12:00:07Z",
                "state": "IN_STOCK",
                "quantity": "0",
            },
        },
    ]


def test_a_late_count_goes_as_of_when_it_was_applied_so_square_does_not_add_later_changes_again() -> None:
    """A count of 10 taken at 10:00 arrives at 10:05, after a pickup collected at 10:02 went to Square as
    -1 at 10:02: here it is 10 plus that -1, so 9. As of 10:00, Square would take 9 and apply the -1 of
    10:02 on top: 8."""
    collected = _entry(1, "collect", -1, 9, "order-1") | {"at": "2026-11-27T10:02:00Z"}
    counted = _entry(2, "pos_count", 0, 9, "till-count") | {
        "at": "2026-11-27T10:05:00Z",
        "occurred_at": "2026-11-27T10:00:00Z",
    }
    pushed = [mapping.change_of_entry("CHI-LOOP", "MUG", e) for e in (collected, counted)]
    assert None not in pushed
    out, _ = mapping.inventory_changes([c for c in pushed if c], {"CHI-LOOP": "LOC1"}, {"MUG": "VAR"})
    assert [(c["type"], _body(c)["occurred_at"], _body(c)["quantity"]) for c in out] == [
        ("ADJUSTMENT", "2026-11-27T10:02:00Z", "1"),
        ("PHYSICAL_COUNT", "2026-11-27T10:05:00Z", "9"),
    ]
    assert _square_quantity(out, start=10) == 9


def test_a_levels_changes_are_never_dated_before_the_one_sent_before_them() -> None:
    """Square applies changes by `occurred_at`; ours must land in ledger order: a till's sale of 10:03
    recorded after a count applied at 10:05 is on top of that count here, and a change whose transaction
    started before the one recorded ahead of it (it waited for the level's lock) comes after it."""
    changes = [
        mapping.Change(1, "CHI-LOOP", "MUG", "count", 9, "count", "2026-11-27T10:05:00Z"),
        mapping.Change(2, "CHI-LOOP", "MUG", "adjust", -1, "pos_sale", "2026-11-27T10:03:00Z"),
        mapping.Change(3, "CHI-LOOP", "MUG", "adjust", 5, "receipt", "2026-11-27T10:07:00Z"),
        mapping.Change(4, "CHI-LOOP", "MUG", "adjust", 3, "receipt", "2026-11-27T10:06:00Z"),
        mapping.Change(5, "CHI-LOOP", "CUP", "adjust", 1, "receipt", "2026-11-27T10:01:00Z"),  # another level
    ]
    catalog, sent = {"MUG": "VAR", "CUP": "VAR2"}, {"CHI-LOOP|MUG": "2026-11-27T10:04:00Z"}
    out, _ = mapping.inventory_changes(changes, {"CHI-LOOP": "LOC1"}, catalog, sent)
    assert [_body(c)["occurred_at"][11:16] for c in out] == ["10:05", "10:05", "10:07", "10:07", "10:01"]
    mug = [c for c in out if _body(c)["catalog_object_id"] == "VAR"]
    assert _square_quantity(mug, start=0) == 9 - 1 + 5 + 3
    # The next push starts from the newest time sent for the level.
    assert sent == {"CHI-LOOP|MUG": "2026-11-27T10:07:00Z", "CHI-LOOP|CUP": "2026-11-27T10:01:00Z"}
    late = mapping.Change(6, "CHI-LOOP", "MUG", "adjust", -1, "pos_sale", "2026-11-27T10:04:30Z")
    out, _ = mapping.inventory_changes([late], {"CHI-LOOP": "LOC1"}, catalog, sent)
    assert _body(out[0])["occurred_at"] == "2026-11-27T10:07:00Z"


def _body(change: dict[str, Any]) -> dict[str, Any]:
    return dict(change.get("physical_count") or change.get("adjustment") or {})


def _square_quantity(changes: list[dict[str, Any]], *, start: int) -> int:
    """Square's quantity: the newest physical count by `occurred_at`, plus the adjustments after it
    (ties in the order sent), on top of the level's earlier changes (`start` as of long before)."""
    total = start
    for change in sorted(changes, key=lambda c: _body(c)["occurred_at"]):  # stable: ties keep their order
        body = _body(change)
        if change["type"] == "PHYSICAL_COUNT":
            total = int(body["quantity"])
        else:
            total += int(body["quantity"]) * (1 if body["to_state"] == "IN_STOCK" else -1)
    return total


def test_batches_hold_at_most_100_changes_with_content_keys() -> None:
    changes = [{"type": "PHYSICAL_COUNT", "physical_count": {"reference_id": str(i)}} for i in range(250)]
    batches = mapping.change_batches(changes)
    assert [len(b["changes"]) for b in batches] == [100, 100, 50]
    assert len({b["idempotency_key"] for b in batches}) == 3
    assert all(1 <= len(b["idempotency_key"]) <= 128 for b in batches)
    again = mapping.change_batches(copy.deepcopy(changes))
    assert [b["idempotency_key"] for b in again] == [b["idempotency_key"] for b in batches]
