"""Pure translation of Shopify payloads, and the small rules of the Shopify client."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from adapters.client import Event
from adapters.shopify import mapping
from adapters.shopify.client import Bucket, FulfillmentOrder, QuantityInput, UserError, sku_query
from adapters.shopify.inbound import valid_signature

LOOP = "gid://shopify/Location/1"
STORES = {LOOP: "CHI-LOOP", "gid://shopify/Location/2": "WH"}


def order(**extra: object) -> dict[str, object]:
    return {
        "id": 820982911946154508,
        "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
        "email": "Jon@Example.com",
        "currency": "usd",
        "created_at": "2026-11-27T10:00:00-05:00",
        "source_name": "web",
        "location_id": None,
        "line_items": [
            {"id": 1, "admin_graphql_api_id": "gid://shopify/LineItem/1", "sku": "A", "quantity": 2, "price": "19.99",
             "discount_allocations": [{"amount": "2.50"}, {"amount": "1.00"}]},
            {"id": 2, "admin_graphql_api_id": "gid://shopify/LineItem/2", "sku": "B", "quantity": 1, "price": "5.00"},
        ],
        **extra,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("19.99", "USD", 1999), ("5", "usd", 500), ("1200", "JPY", 1200), ("1.234", "KWD", 1234), (0.1, "EUR", 10)],
)
def test_money_is_exact_minor_units_by_currency(amount: object, currency: str, minor: int) -> None:
    assert mapping.minor_units(amount, currency) == minor


def test_money_with_more_decimals_than_the_currency_allows_is_refused() -> None:
    with pytest.raises(mapping.Unmappable) as info:
        mapping.minor_units("1.5", "JPY")
    assert info.value.code == "invalid_money"


def test_an_online_order_imports_at_its_fulfillment_orders_store_with_charged_prices() -> None:
    fos = [FulfillmentOrder(location_id=LOOP, method="PICK_UP", status="OPEN", line_items=None)]
    body = mapping.import_body(order(), mapping.line_placements(order(), fos, STORES))
    assert body == {
        "source": "shopify",
        "external_id": "820982911946154508",
        "channel": "web",
        "placed_at": "2026-11-27T10:00:00-05:00",
        "currency": "USD",
        "customer": {"email": "jon@example.com"},
        "lines": [
            {"sku": "A", "quantity": 2, "unit_price": {"amount": 1999, "currency": "USD"},
             "fulfillment": {"type": "pickup", "store": "CHI-LOOP"}, "discount": {"amount": 350, "currency": "USD"}},
            {"sku": "B", "quantity": 1, "unit_price": {"amount": 500, "currency": "USD"},
             "fulfillment": {"type": "pickup", "store": "CHI-LOOP"}},
        ],
    }  # fmt: skip


def test_split_fulfillment_orders_place_each_line_at_its_own_location() -> None:
    fos = [
        FulfillmentOrder(location_id=LOOP, method="SHIPPING", status="OPEN", line_items={"gid://shopify/LineItem/1": 2}),
        FulfillmentOrder(location_id="gid://shopify/Location/2", method="SHIPPING", status="OPEN", line_items={"gid://shopify/LineItem/2": 1}),
    ]  # fmt: skip
    placements = mapping.line_placements(order(), fos, STORES)
    assert placements == {
        "gid://shopify/LineItem/1": mapping.Placement("ship", "CHI-LOOP"),
        "gid://shopify/LineItem/2": mapping.Placement("ship", "WH"),
    }


def test_an_unmapped_location_or_a_line_without_sku_cannot_be_imported() -> None:
    fos = [FulfillmentOrder(location_id="gid://shopify/Location/9", method="SHIPPING", status="OPEN", line_items=None)]
    with pytest.raises(mapping.Unmappable) as info:
        mapping.line_placements(order(), fos, STORES)
    assert info.value.code == "unknown_location"
    no_sku = order(line_items=[{"id": 3, "sku": "", "quantity": 1, "price": "1.00"}])
    placements = mapping.line_placements(no_sku, [FulfillmentOrder(LOOP, "SHIPPING", "OPEN", None)], STORES)
    with pytest.raises(mapping.Unmappable) as info:
        mapping.import_body(no_sku, placements)
    assert info.value.code == "unknown_sku"


def test_a_pos_order_is_a_sale_at_its_locations_store_with_a_stable_event_id() -> None:
    pos = order(source_name="pos", location_id=1)
    assert mapping.is_pos_order(pos) and not mapping.is_pos_order(order())
    assert mapping.pos_store(pos, STORES) == "CHI-LOOP"
    sale = mapping.pos_sale(pos)
    assert sale["event_id"] == "shopify-order-820982911946154508"
    assert sale["type"] == "sale"
    assert sale["lines"][0] == {"sku": "A", "quantity": 2, "unit_price": {"amount": 1999, "currency": "USD"}}


def test_only_lines_restocked_as_returns_come_back_each_with_its_own_key() -> None:
    refund = {
        "id": 77,
        "refund_line_items": [
            {"id": 1, "quantity": 1, "restock_type": "return", "location_id": 1, "line_item": {"sku": "A"}},
            {"id": 2, "quantity": 1, "restock_type": "no_restock", "location_id": 1, "line_item": {"sku": "B"}},
            {"id": 3, "quantity": 2, "restock_type": "RETURN", "location_id": 2, "line_item": {"sku": "B"}},
        ],
    }
    assert mapping.return_restocks(refund, STORES) == [
        mapping.Restock("CHI-LOOP", "A", 1, "shopify-refund-77-1"),
        mapping.Restock("WH", "B", 2, "shopify-refund-77-3"),
    ]


def test_a_level_update_builds_the_item_id_from_the_numeric_id_not_the_levels_gid() -> None:
    update = mapping.level_update(
        {"inventory_item_id": 271878346596884015, "location_id": 24826418, "available": 10,
         "updated_at": "2026-11-27T10:00:00-05:00",
         "admin_graphql_api_id": "gid://shopify/InventoryLevel/24826418?inventory_item_id=271878346596884015"}
    )  # fmt: skip
    assert update.item == "gid://shopify/InventoryItem/271878346596884015"
    assert update.location == "gid://shopify/Location/24826418"
    assert update.available == 10


def test_later_compares_instants_across_offsets() -> None:
    assert mapping.later("2026-11-27T10:00:01-05:00", "2026-11-27T15:00:00Z")
    assert not mapping.later("2026-11-27T10:00:00-05:00", "2026-11-27T15:00:00Z")
    assert mapping.later("2026-11-27T10:00:00Z", None)
    assert not mapping.later(None, "2026-11-27T10:00:00Z")


def test_a_burst_of_changes_to_one_level_becomes_its_newest_value_for_pushed_stores_only() -> None:
    at = datetime(2026, 11, 27, tzinfo=UTC)

    def changed(seq: int, store: str, sku: str, available: int) -> Event:
        return Event(seq, "inventory.changed", at, {"store": store, "sku": sku, "available": available})

    events = [changed(1, "S", "A", 5), changed(2, "S", "A", 3), changed(3, "X", "A", 9), changed(4, "S", "B", -2)]
    assert mapping.latest_available(events, {"S"}) == {("S", "A"): 3, ("S", "B"): 0}


def test_the_idempotency_key_is_the_same_for_the_same_write_and_new_for_any_other() -> None:
    q = [QuantityInput("gid://shopify/InventoryItem/1", LOOP, 5, 3)]
    key = mapping.write_key("gid://commerce/InventoryEvent/1-9", q)
    assert key == mapping.write_key("gid://commerce/InventoryEvent/1-9", list(q))
    assert key != mapping.write_key(
        "gid://commerce/InventoryEvent/1-9", [QuantityInput(q[0].inventoryItemId, LOOP, 5, 4)]
    )
    assert key != mapping.write_key("gid://commerce/InventoryEvent/10-12", q)


def test_webhook_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"id": 1}'
    good = base64.b64encode(hmac.new(b"secret", body, hashlib.sha256).digest()).decode()
    assert valid_signature("secret", body, good)
    assert not valid_signature("secret", body + b" ", good)
    assert not valid_signature("other", body, good)
    assert not valid_signature("secret", body, None)


def test_sku_search_quotes_each_sku() -> None:
    assert sku_query(["A-1", 'B "2"']) == 'sku:"A-1" OR sku:"B \\"2\\""'


def test_a_user_error_names_the_quantity_it_is_about() -> None:
    assert (
        UserError(
            "CHANGE_FROM_QUANTITY_STALE", ["input", "quantities", "12", "changeFromQuantity"], ""
        ).quantity_index()
        == 12
    )
    assert UserError("INVALID_REASON", ["input", "reason"], "").quantity_index() is None


def test_the_bucket_waits_for_what_a_call_would_cost() -> None:
    bucket = Bucket()
    bucket.observe({"maximumAvailable": 1000, "currentlyAvailable": 50, "restoreRate": 100})
    assert bucket.wait_for(10) == 0
    assert 0.4 < bucket.wait_for(100) <= 0.5
    assert bucket.wait_for(5000) <= 9.5  # never more than a full bucket's worth
