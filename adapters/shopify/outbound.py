"""Our stock to Shopify: follow the event feed and set `available` at each mapped location.

One page of `inventory.changed` events becomes one `available` per level (the newest), written with
`inventorySetQuantities` in batches of up to 250, each quantity compare-and-set against the value we
last knew at Shopify. A stale one (`CHANGE_FROM_QUANTITY_STALE`: Shopify's value moved, say an
online order took one) is re-read and set again in a new call with a new idempotency key; a retry
of the same call (timeout, 5xx, 429) carries the same key. The feed cursor moves only once every
batch of the page was accepted, so a crash at any point replays the page, and replaying sets the
same absolute values again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import msgspec

from adapters.shopify.adapter import ShopifyAdapter, level_key
from adapters.shopify.client import MAX_QUANTITIES, QuantityInput, ShopifyError
from adapters.shopify.mapping import latest_available, write_key

log = logging.getLogger("adapters.shopify.outbound")

FEED_TYPES = ["inventory.changed"]
PAGE = 500
ROUNDS = 8  # calls per batch before giving up on it for now (stale values keep moving, or Shopify keeps failing)
MISSING_SKU_TTL = 300.0  # seconds before a SKU Shopify did not have is looked up again
STALE = "CHANGE_FROM_QUANTITY_STALE"
RETRY_SAME_KEY = {"IDEMPOTENCY_CONCURRENT_REQUEST"}
RETRY_NEW_KEY = {"IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED"}


@dataclass
class Push:
    store: str
    sku: str
    item: str
    location: str
    quantity: int

    @property
    def key(self) -> str:
        return level_key(self.item, self.location)


async def sync_once(adapter: ShopifyAdapter) -> int:
    """Push one page of the feed; returns the number of events consumed (0: nothing new)."""
    cursor = adapter.state.cursor()
    page = await adapter.commerce.events(cursor, FEED_TYPES, limit=PAGE)
    if not page.items:
        return 0
    desired = latest_available(page.items, adapter.pushed_stores)
    reference = f"gid://commerce/InventoryEvent/{page.items[0].seq}-{page.items[-1].seq}"
    if desired:
        await push_levels(adapter, desired, reference)
    adapter.state.save_cursor(page.next_after)
    log.info(
        "feed page pushed",
        extra={"after": cursor, "next_after": page.next_after, "events": len(page.items), "levels": len(desired)},
    )
    return len(page.items)


async def resolve_items(adapter: ShopifyAdapter, skus: set[str]) -> dict[str, str]:
    """SKU -> InventoryItem gid, from the cache or looked up in Shopify (and cached)."""
    now = time.monotonic()
    found = {s: i for s in skus if (i := adapter.items.get(s)) is not None}
    unknown = sorted(s for s in skus - found.keys() if now - adapter.missing_skus.get(s, -1e9) > MISSING_SKU_TTL)
    if unknown:
        looked_up = await adapter.shopify.inventory_items_by_sku(unknown)
        adapter.items.update(looked_up)
        found.update(looked_up)
        for sku in unknown:
            if sku not in looked_up:
                adapter.missing_skus[sku] = now
                log.info("SKU not in Shopify; its stock is not pushed", extra={"sku": sku})
    return found


async def push_levels(adapter: ShopifyAdapter, desired: dict[tuple[str, str], int], reference: str) -> None:
    """Set these (store, sku) -> available at Shopify; returns when every one is set or dead-lettered."""
    items = await resolve_items(adapter, {sku for _, sku in desired})
    pushes = [
        Push(store, sku, items[sku], adapter.locations[store], quantity)
        for (store, sku), quantity in sorted(desired.items())
        if sku in items
    ]
    unknown = [p for p in pushes if p.key not in adapter.levels.known]
    if unknown:
        read = await adapter.shopify.available_levels(
            sorted({p.item for p in unknown}), sorted({p.location for p in unknown})
        )
        adapter.levels.known.update({level_key(i, loc): q for (i, loc), q in read.items()})
    for start in range(0, len(pushes), MAX_QUANTITIES):
        await _push_batch(adapter, pushes[start : start + MAX_QUANTITIES], reference)
    adapter.levels.save()


async def _push_batch(adapter: ShopifyAdapter, batch: list[Push], reference: str) -> None:
    salt = 0
    for _ in range(ROUNDS):
        if not batch:
            return
        quantities = [
            QuantityInput(
                inventoryItemId=p.item,
                locationId=p.location,
                quantity=p.quantity,
                changeFromQuantity=adapter.levels.known.get(p.key),
            )
            for p in batch
        ]
        key = write_key(f"{reference}#{salt}" if salt else reference, quantities)
        errors = await adapter.shopify.set_available(quantities, key=key, reference=reference)
        if not errors:
            for p in batch:
                adapter.levels.wrote(p.key, p.quantity)
            log.info(
                "set available at shopify",
                extra={
                    "reference": reference,
                    "key": key,
                    "quantities": len(batch),
                    "sample": [f"{p.store}/{p.sku}={p.quantity}" for p in batch[:5]],
                },
            )
            return
        codes = {e.code for e in errors}
        if codes & RETRY_SAME_KEY:
            await asyncio.sleep(0.2)
            continue
        if codes & RETRY_NEW_KEY:
            salt += 1
            continue
        stale: set[int] = set()
        rejected: dict[int, str] = {}
        for error in errors:
            index = error.quantity_index()
            if index is None or index >= len(batch):
                raise ShopifyError(f"inventorySetQuantities: {error.code}: {error.message}")
            if error.code == STALE:
                stale.add(index)
            else:
                rejected[index] = f"{error.code}: {error.message}"
        for index, reason in rejected.items():
            _dead_letter_push(adapter, batch[index], reason, str(reason.split(":", 1)[0]).lower())
        if stale:
            fresh = await adapter.shopify.available_levels(
                sorted({batch[i].item for i in stale}), sorted({batch[i].location for i in stale})
            )
            for i in stale:
                p = batch[i]
                adapter.levels.known[p.key] = fresh.get((p.item, p.location), 0)
                log.info(
                    "shopify's value moved; setting ours again",
                    extra={"store": p.store, "sku": p.sku, "shopify": adapter.levels.known[p.key], "ours": p.quantity},
                )
        batch = [p for i, p in enumerate(batch) if i not in rejected]
    raise ShopifyError(f"{reference}: quantities still not set after {ROUNDS} calls")


def _dead_letter_push(adapter: ShopifyAdapter, push: Push, reason: str, code: str) -> None:
    """A level Shopify refuses (item not stocked at the location, say): kept for a person and a replay,
    which sets it again from our current level."""
    body = msgspec.json.encode({"store": push.store, "sku": push.sku, "available": push.quantity})
    key = f"outbound:{push.store}:{push.sku}:{time.time_ns()}"
    adapter.state.add_dead_letter(
        key, RESYNC_TOPIC, body, f"shopify refused {push.store}/{push.sku}={push.quantity}: {reason}", code
    )
    log.warning("dead-lettered a level shopify refused", extra={"store": push.store, "sku": push.sku, "reason": reason})


RESYNC_TOPIC = "commerce/inventory.resync"


async def resync_level(adapter: ShopifyAdapter, store: str, sku: str) -> None:
    """Set Shopify's level for (store, sku) from ours as it is now (a replayed dead letter)."""
    level = await adapter.commerce.get_level(store, sku)
    await push_levels(adapter, {(store, sku): max(0, level.available)}, f"gid://commerce/InventoryLevel/{store}/{sku}")


@dataclass
class ReconcileReport:
    compared: int = 0
    fixed_at_shopify: int = 0
    fixed_here: int = 0
    not_in_shopify: int = 0


async def reconcile(adapter: ShopifyAdapter) -> ReconcileReport:
    """Compare every mapped level on both sides and make Shopify's match ours (for Shopify-owned
    locations, ours match Shopify's). For after an outage longer than Shopify's webhook retries."""
    from adapters.shopify.inbound import set_ours_from_shopify

    report = ReconcileReport()
    skus = sorted(set(await adapter.commerce.all_skus()))
    items = await resolve_items(adapter, set(skus))
    report.not_in_shopify = len(skus) - len(items)
    stores = sorted(adapter.locations)
    ours = await adapter.commerce.availability(sorted(items), stores) if items else {}
    theirs = await adapter.shopify.available_levels(sorted(set(items.values())), sorted(adapter.locations.values()))
    adapter.levels.known.update({level_key(i, loc): q for (i, loc), q in theirs.items()})
    to_push: dict[tuple[str, str], int] = {}
    for sku, item in items.items():
        for store in stores:
            location = adapter.locations[store]
            report.compared += 1
            here, there = max(0, ours.get((store, sku), 0)), theirs.get((item, location))
            if store in adapter.pushed_stores:
                if there != here:
                    to_push[(store, sku)] = here
            elif there is not None and there != here:
                await set_ours_from_shopify(adapter, store, sku, there, None)
                report.fixed_here += 1
    if to_push:
        await push_levels(adapter, to_push, f"gid://commerce/Reconciliation/{int(time.time())}")
    report.fixed_at_shopify = len(to_push)
    adapter.levels.save()
    log.info("reconciled", extra=dict(report.__dict__))
    return report
