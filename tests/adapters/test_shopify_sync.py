"""The Shopify adapter end to end: the real service and the Shopify emulator over HTTP on loopback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from tests.adapters.emulators.shopify import ShopifyEmulator
from tests.adapters.harness import (
    AdapterHandle,
    adapter_idle,
    imported,
    ledger,
    level,
    seed_store,
    store_with_stock,
    wait_until,
)

LOOP = "CHI-LOOP"
Start = Callable[..., Awaitable[AdapterHandle]]


async def shopify_matches(
    service: httpx.AsyncClient, emulator: ShopifyEmulator, location: str, skus: list[str]
) -> bool:
    for sku in skus:
        if emulator.available(sku, location) != (await level(service, LOOP, sku))["available"]:
            return False
    return True


async def test_a_pos_sale_at_our_store_reaches_the_shopify_location(
    service: httpx.AsyncClient, emulator: ShopifyEmulator, start_adapter: Start
) -> None:
    location = await store_with_stock(service, emulator, {"JKT-M": 10, "JKT-L": 4})
    await start_adapter({LOOP: location})
    await wait_until(lambda: shopify_matches(service, emulator, location, ["JKT-M", "JKT-L"]), what="first sync")
    assert emulator.available("JKT-M", location) == 10

    sale = {
        "event_id": "till-1",
        "type": "sale",
        "occurred_at": "2026-11-27T10:00:00Z",
        "lines": [{"sku": "JKT-M", "quantity": 3}],
    }
    r = await service.post(f"/v1/pos/{LOOP}/events", json={"events": [sale]})
    assert r.json()["results"][0]["status"] == "applied"

    async def synced() -> bool:
        return emulator.available("JKT-M", location) == 7

    await wait_until(synced, what="the sale to reach Shopify")
    assert emulator.available("JKT-L", location) == 4


async def test_an_online_order_reserves_here_and_its_cancel_releases_it(
    service: httpx.AsyncClient, emulator: ShopifyEmulator, start_adapter: Start
) -> None:
    location = await store_with_stock(service, emulator, {"CAP": 10})
    await start_adapter({LOOP: location})
    await wait_until(lambda: shopify_matches(service, emulator, location, ["CAP"]), what="first sync")

    order = emulator.place_order([("CAP", 2, "24.50")], location)

    async def reserved(n: int) -> bool:
        return (await level(service, LOOP, "CAP"))["reserved"] == n

    await wait_until(lambda: reserved(2), what="the order to be imported")
    [ours] = await imported(service, order["id"])
    assert ours["status"] == "placed"
    assert [(ln["sku"], ln["quantity"], ln["unit_price"]["amount"]) for ln in ours["lines"]] == [("CAP", 2, 2450)]
    await wait_until(lambda: shopify_matches(service, emulator, location, ["CAP"]), what="levels to agree")
    assert emulator.available("CAP", location) == 8

    emulator.cancel_order(order["id"])
    await wait_until(lambda: reserved(0), what="the cancel to release the reservation")
    [ours] = await imported(service, order["id"])
    assert ours["status"] == "cancelled"
    await wait_until(lambda: shopify_matches(service, emulator, location, ["CAP"]), what="levels to agree")
    assert (await level(service, LOOP, "CAP"))["available"] == 10 == emulator.available("CAP", location)


async def test_a_shopify_pos_order_becomes_a_pos_sale_and_a_return_restocks_once(
    service: httpx.AsyncClient, emulator: ShopifyEmulator, start_adapter: Start
) -> None:
    location = await store_with_stock(service, emulator, {"MUG": 6})
    await start_adapter({LOOP: location})
    await wait_until(lambda: shopify_matches(service, emulator, location, ["MUG"]), what="first sync")

    order = emulator.place_order([("MUG", 2, "8.00")], location, pos=True)

    async def on_hand(n: int) -> bool:
        return (await level(service, LOOP, "MUG"))["on_hand"] == n

    await wait_until(lambda: on_hand(4), what="the POS sale")
    refund = emulator.refund(order["id"], [(order["line_items"][0]["id"], 1)], location, restock_type="return")
    await wait_until(lambda: on_hand(5), what="the return")
    await emulator.settle()
    delivery = next(d for d in emulator.deliveries if d.topic == "refunds/create")
    await emulator.redeliver(delivery)
    await emulator.send("refunds/create", refund)  # the same refund under another event id
    await wait_until(lambda: shopify_matches(service, emulator, location, ["MUG"]), what="levels to agree")
    entries = await ledger(service, LOOP, "MUG")
    assert sorted(e["reason"] if "reason" in e else e["source"] for e in entries).count("return") == 1, entries
    assert (await level(service, LOOP, "MUG"))["on_hand"] == 5


async def test_a_bad_signature_is_401_and_changes_nothing(
    service: httpx.AsyncClient, emulator: ShopifyEmulator, start_adapter: Start
) -> None:
    location = await store_with_stock(service, emulator, {"HAT": 5})
    handle = await start_adapter({LOOP: location})
    order = emulator.place_order([("HAT", 1, "10.00")], location, send=False)
    delivery = await emulator.send("orders/create", order, secret="not-the-app-secret", retry=False)
    assert delivery.statuses == [401]
    async with httpx.AsyncClient() as http:
        r = await http.post(
            handle.url + "/webhooks/shopify", content=b"{}", headers={"X-Shopify-Topic": "orders/create"}
        )
        assert r.status_code == 401
    assert list((handle.state_dir / "inbox").iterdir()) == []
    assert await imported(service, order["id"]) == []
    assert (await level(service, LOOP, "HAT"))["reserved"] == 0


async def test_duplicated_and_reordered_webhooks_change_nothing(
    service: httpx.AsyncClient, emulator: ShopifyEmulator, start_adapter: Start
) -> None:
    location = await store_with_stock(service, emulator, {"SOCK": 20})
    handle = await start_adapter({LOOP: location})
    await wait_until(lambda: shopify_matches(service, emulator, location, ["SOCK"]), what="first sync")

    # One order delivered three times (twice with the same event id), and a second order whose
    # cancellation arrives before its creation.
    first = emulator.place_order([("SOCK", 3, "5.00")], location)
    await emulator.settle()
    created = next(d for d in emulator.deliveries if d.topic == "orders/create")
    await emulator.redeliver(created)
    await emulator.redeliver(created)
    second = emulator.place_order([("SOCK", 4, "5.00")], location, send=False)
    emulator.cancel_order(second["id"], send=False)
    await emulator.send("orders/cancelled", second)
    await emulator.send("orders/create", second)
    await emulator.send("orders/create", second)

    async def settled() -> bool:
        lvl = await level(service, LOOP, "SOCK")
        return lvl["reserved"] == 3 and len(await imported(service, second["id"])) == 1

    await wait_until(settled, what="both orders to be applied")
    await wait_until(lambda: shopify_matches(service, emulator, location, ["SOCK"]), what="levels to agree")
    [one] = await imported(service, first["id"])
    [two] = await imported(service, second["id"])
    assert (one["status"], two["status"]) == ("placed", "cancelled")
    await adapter_idle(handle, emulator)
    accepted = {d.event_id for d in emulator.deliveries if 200 in d.statuses}
    assert len(list((handle.state_dir / "done").iterdir())) == len(accepted)  # each event applied once
    entries = await ledger(service, LOOP, "SOCK")
    # the count, the first order's reservation, the second's reservation and its release: nothing twice
    assert len(entries) == 4, entries
    lvl = await level(service, LOOP, "SOCK")
    assert (lvl["on_hand"], lvl["reserved"], lvl["available"]) == (20, 3, 17)
    assert emulator.available("SOCK", location) == 17


async def test_levels_of_a_shopify_owned_location_become_ours_in_order(
    service: httpx.AsyncClient, emulator: ShopifyEmulator, start_adapter: Start
) -> None:
    location = await store_with_stock(service, emulator, {"BAG": 1})
    await seed_store(service, "WH-3PL", kind="warehouse")
    warehouse = emulator.add_location("3PL warehouse")
    item = emulator.item("BAG")
    emulator.levels[(item, warehouse)] = 30
    await start_adapter({LOOP: location, "WH-3PL": warehouse}, shopify_owned=["WH-3PL"])

    emulator.merchant_sets("BAG", warehouse, 25)
    await emulator.settle()
    newer = emulator.level_payload((item, warehouse))
    older = {**newer, "available": 99, "updated_at": "2020-01-01T00:00:00.000+00:00"}
    await emulator.send("inventory_levels/update", older)

    async def ours(n: int) -> bool:
        return (await level(service, "WH-3PL", "BAG"))["available"] == n

    await wait_until(lambda: ours(25), what="the warehouse level")
    emulator.merchant_sets("BAG", warehouse, 12)
    await wait_until(lambda: ours(12), what="the next warehouse level")
    await emulator.send("inventory_levels/update", older)
    await emulator.settle()
    await wait_until(lambda: shopify_matches(service, emulator, location, ["BAG"]), what="the store level")
    assert await ours(12)
    assert emulator.available("BAG", warehouse) == 12  # never pushed back over Shopify's own stock


async def test_our_own_writes_echoed_back_are_ignored(
    service: httpx.AsyncClient, emulator: ShopifyEmulator, start_adapter: Start
) -> None:
    location = await store_with_stock(service, emulator, {"PEN": 9, "INK": 3})
    handle = await start_adapter({LOOP: location})
    await wait_until(lambda: shopify_matches(service, emulator, location, ["PEN", "INK"]), what="first sync")
    await emulator.settle()
    echoes = [d for d in emulator.deliveries if d.topic == "inventory_levels/update"]
    assert len(echoes) == 2 and all(d.statuses == [200] for d in echoes)
    calls, entries = emulator.set_calls, await ledger(service, LOOP, "PEN")

    await adapter_idle(handle, emulator)
    assert len(list((handle.state_dir / "done").iterdir())) == 2
    assert emulator.set_calls == calls  # no write back to Shopify
    assert await ledger(service, LOOP, "PEN") == entries  # and none here
