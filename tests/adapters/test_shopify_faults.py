"""The Shopify adapter under faults: Shopify throttling and failing, the adapter killed mid-stream,
what cannot be applied, and a full reconciliation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
from click.testing import CliRunner

from adapters.state import AdapterState
from commerce.cli import main
from tests.adapters.emulators.shopify import ShopifyEmulator
from tests.adapters.harness import (
    AdapterHandle,
    adapter_idle,
    imported,
    ledger,
    level,
    seed_catalog,
    seed_store,
    set_on_hand,
    store_with_stock,
    wait_until,
)

LOOP = "CHI-LOOP"
Start = Callable[..., Awaitable[AdapterHandle]]


async def sell_here(service: httpx.AsyncClient, event_id: str, sku: str, quantity: int = 1) -> None:
    event = {"event_id": event_id, "type": "sale", "occurred_at": "2026-11-27T10:00:00Z", "lines": [{"sku": sku, "quantity": quantity}]}  # fmt: skip
    r = await service.post(f"/v1/pos/{LOOP}/events", json={"events": [event]})
    assert r.json()["results"][0]["status"] == "applied", r.text


async def test_shopify_failing_and_the_adapter_killed_mid_stream_lose_nothing_and_apply_nothing_twice(
    service: httpx.AsyncClient, emulator: ShopifyEmulator, start_adapter: Start
) -> None:
    skus = [f"TEE-{n}" for n in range(8)]
    location = await store_with_stock(service, emulator, dict.fromkeys(skus, 40))
    handle = await start_adapter({LOOP: location}, process=True)

    sold: dict[str, int] = dict.fromkeys(skus, 0)
    ordered: dict[str, int] = dict.fromkeys(skus, 0)
    orders = []
    emulator.fail(500, seconds=0.8)
    for n in range(36):
        sku = skus[n % len(skus)]
        await sell_here(service, f"till-{n}", sku)
        sold[sku] += 1
        if n % 4 == 0:
            online = skus[(n // 4) % len(skus)]
            orders.append(emulator.place_order([(online, 1, "12.00")], location))
            ordered[online] += 1
        if n == 12:
            emulator.fail(429, seconds=0.6, retry_after="1")
        if n == 18:
            await handle.kill()  # a crash: no cleanup, mid-stream
            handle = await start_adapter({LOOP: location}, process=True)
        if n == 24:
            emulator.force_throttle(0.5)
        await asyncio.sleep(0.03)

    await adapter_idle(handle, emulator)
    for sku in skus:
        ours = await level(service, LOOP, sku)
        assert (ours["on_hand"], ours["reserved"]) == (40 - sold[sku], ordered[sku]), sku
        assert emulator.available(sku, location) == ours["available"], sku
        entries = await ledger(service, LOOP, sku)
        # one count, one entry per sale and one per reservation: nothing lost, nothing twice
        assert len(entries) == 1 + sold[sku] + ordered[sku], (sku, entries)
    for order in orders:
        [ours] = await imported(service, order["id"])
        assert ours["status"] == "placed"
    assert emulator.throttled > 0
    assert len(emulator.applied_keys) == len(set(emulator.applied_keys))


async def test_what_cannot_be_applied_is_dead_lettered_and_replays_once_fixed(
    service: httpx.AsyncClient, emulator: ShopifyEmulator, start_adapter: Start
) -> None:
    location = await store_with_stock(service, emulator, {"KNOWN": 5})
    elsewhere = emulator.add_location("Not mapped")
    emulator.add_variant("GHOST", stocked_at={location: 3, elsewhere: 3})
    handle = await start_adapter({LOOP: location})

    ghost = emulator.place_order([("GHOST", 1, "3.00")], location)  # a SKU we do not sell
    unmapped = emulator.place_order([("KNOWN", 1, "3.00")], elsewhere)  # a location we do not map
    await emulator.settle()

    async def letters() -> list[dict[str, object]]:
        async with httpx.AsyncClient() as http:
            return list((await http.get(handle.url + "/dead-letters")).json()["items"])

    async def two_letters() -> bool:
        return len(await letters()) == 2

    await wait_until(two_letters, what="two dead letters")
    by_code = {str(d["code"]): d for d in await letters()}
    assert set(by_code) == {"not_found", "unknown_location"} or "unknown_location" in by_code, by_code
    assert by_code["unknown_location"]["topic"] == "orders/create"
    assert await imported(service, ghost["id"]) == [] and await imported(service, unmapped["id"]) == []

    # Fix the cause (we start selling GHOST), then replay every dead letter from the command line.
    await seed_catalog(service, ["GHOST"])
    await set_on_hand(service, LOOP, "GHOST", 2)
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["adapter", "shopify", "replay", "--config", str(handle.config_path), "--all"]
    )
    assert result.exit_code == 0, result.output
    assert "replayed 2" in result.output

    async def ghost_imported() -> bool:
        return len(await imported(service, ghost["id"])) == 1

    await wait_until(ghost_imported, what="the replayed order")
    await adapter_idle(handle, emulator)
    [letter] = await letters()  # the unmapped location is still unmapped: dead again
    assert letter["code"] == "unknown_location"
    assert (await level(service, LOOP, "GHOST"))["reserved"] == 1


async def test_reconcile_makes_every_mapped_level_agree(
    service: httpx.AsyncClient, emulator: ShopifyEmulator, start_adapter: Start
) -> None:
    location = await store_with_stock(service, emulator, {"R-1": 7, "R-2": 0, "R-3": 12})
    await seed_store(service, "WH-3PL", kind="warehouse")
    warehouse = emulator.add_location("3PL")
    emulator.levels[(emulator.item("R-1"), warehouse)] = 30
    emulator.levels[(emulator.item("R-2"), location)] = 99  # drifted while nobody listened
    handle = await start_adapter({LOOP: location, "WH-3PL": warehouse}, shopify_owned=["WH-3PL"], launch=False)

    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["adapter", "shopify", "reconcile", "--config", str(handle.config_path)]
    )
    assert result.exit_code == 0, result.output
    assert "set 3 at Shopify, 1 here" in result.output, result.output
    for sku in ("R-1", "R-2", "R-3"):
        assert emulator.available(sku, location) == (await level(service, LOOP, sku))["available"]
    assert (await level(service, "WH-3PL", "R-1"))["available"] == 30

    again = await asyncio.to_thread(
        CliRunner().invoke, main, ["adapter", "shopify", "reconcile", "--config", str(handle.config_path)]
    )
    assert "set 0 at Shopify, 0 here" in again.output, again.output


async def test_a_cursor_older_than_the_feed_keeps_reconciles_then_reads_on(
    service: httpx.AsyncClient, emulator: ShopifyEmulator, start_adapter: Start, db_conn: asyncpg.Connection
) -> None:
    location = await store_with_stock(service, emulator, {"OLD-1": 4, "OLD-2": 6})
    await set_on_hand(service, LOOP, "OLD-1", 9)

    async def numbered() -> bool:
        return len((await service.get("/v1/events", params={"types": "inventory.changed"})).json()["items"]) == 3

    await wait_until(numbered, what="the feed")
    # The service's retention has dropped the first events (as after a week away).
    last = await db_conn.fetchval("SELECT max(seq) FROM events")
    await db_conn.execute("DELETE FROM events WHERE seq < $1", last)
    handle = await start_adapter({LOOP: location}, launch=False)
    AdapterState(handle.state_dir).save_cursor(1)

    handle = await start_adapter({LOOP: location})
    await adapter_idle(handle, emulator)
    assert (emulator.available("OLD-1", location), emulator.available("OLD-2", location)) == (9, 6)
    assert AdapterState(handle.state_dir).cursor() >= last
