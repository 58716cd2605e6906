"""Shopify to us: webhooks verified, stored, answered, then applied from the inbox.

`receive` answers Shopify within its 5 s: it checks the HMAC of the raw body, stores the delivery
durably under `X-Shopify-Event-Id` (a redelivery, or the same event sent to us twice, is stored
once), and returns. `apply_pending` applies what is stored, one at a time, oldest first. Each apply
is itself idempotent on our side (imports per order id, POS sales per event id, returns per
idempotency key, levels by `updated_at`), so a crash between applying and marking done repeats
harmlessly. What cannot be applied goes to the dead letters with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import Any

from adapters.client import CommerceRejected, CommerceUnavailable
from adapters.shopify import mapping
from adapters.shopify.adapter import ShopifyAdapter, level_key
from adapters.shopify.client import ShopifyError
from adapters.shopify.outbound import RESYNC_TOPIC, resync_level
from adapters.state import InboxItem

log = logging.getLogger("adapters.shopify.inbound")

TOPICS = frozenset({"orders/create", "orders/cancelled", "refunds/create", "inventory_levels/update"})
MAX_ATTEMPTS = 6  # transient failures (our API or Shopify down) before a delivery is dead-lettered


def valid_signature(secret: str, body: bytes, header: str | None) -> bool:
    """`X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body with the app's secret."""
    if not header:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


async def receive(adapter: ShopifyAdapter, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    if not valid_signature(adapter.section.webhook_secret, body, headers.get("x-shopify-hmac-sha256")):
        log.warning("webhook with a bad signature refused", extra={"topic": headers.get("x-shopify-topic")})
        return 401, {"error": "invalid signature"}
    topic = headers.get("x-shopify-topic", "")
    event_id = headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id")
    if not event_id:
        return 400, {"error": "X-Shopify-Event-Id is missing"}
    if topic not in TOPICS:
        return 200, {"status": "ignored", "topic": topic}
    kept = {k: v for k, v in headers.items() if k.startswith("x-shopify-") and k != "x-shopify-hmac-sha256"}
    stored = adapter.state.accept(f"shopify:{event_id}", topic, body, kept)
    log.info("webhook received", extra={"topic": topic, "event_id": event_id, "duplicate": not stored})
    if stored:
        adapter.wake_inbox.set()
    return 200, {"status": "accepted" if stored else "duplicate"}


async def apply_pending(adapter: ShopifyAdapter) -> int:
    """Apply every stored delivery; returns how many were finished (applied or dead-lettered)."""
    finished = 0
    for item in adapter.state.pending():
        if await apply_one(adapter, item):
            finished += 1
        else:
            break  # our API or Shopify is unavailable: try again later, in order
    return finished


async def apply_one(adapter: ShopifyAdapter, item: InboxItem) -> bool:
    """Apply one delivery. False when it must be tried again later (it stays in the inbox)."""
    payload = item.payload()
    context = {"topic": item.topic, "key": item.key}
    try:
        if not isinstance(payload, dict):
            raise mapping.Unmappable("invalid_payload", "the body is not a JSON object")
        await HANDLERS[item.topic](adapter, payload)
    except mapping.Unmappable as exc:
        adapter.state.dead_letter(item, exc.detail, exc.code)
        log.warning("dead-lettered", extra={**context, "code": exc.code, "reason": exc.detail})
        return True
    except CommerceRejected as exc:
        adapter.state.dead_letter(item, f"our API answered {exc.status}: {exc.detail}", exc.code)
        log.warning("dead-lettered", extra={**context, "code": exc.code, "status": exc.status, "reason": exc.detail})
        return True
    except (CommerceUnavailable, ShopifyError) as exc:
        adapter.state.count_attempt(item)
        if item.attempts >= MAX_ATTEMPTS:
            adapter.state.dead_letter(item, f"gave up after {item.attempts} attempts: {exc}", "unavailable")
            log.error("dead-lettered after retries", extra={**context, "error": str(exc)})
            return True
        log.warning("will retry", extra={**context, "attempt": item.attempts, "error": str(exc)})
        return False
    adapter.state.mark_done(item)
    log.info("applied", extra=context)
    return True


# --- the topics ---


async def order_created(adapter: ShopifyAdapter, order: dict[str, Any]) -> None:
    if mapping.is_pos_order(order):
        store = mapping.pos_store(order, adapter.stores_by_location)
        [result] = await adapter.commerce.pos_events(store, [mapping.pos_sale(order)])
        if result.status == "rejected":
            raise CommerceRejected(422, result.code or "rejected", result.detail or "POS sale rejected")
        log.info("POS sale sent", extra={"order": order["id"], "store": store, "status": result.status})
        return
    await import_order(adapter, order)


async def import_order(adapter: ShopifyAdapter, order: dict[str, Any]) -> dict[str, Any]:
    order_gid = order.get("admin_graphql_api_id") or mapping.gid("Order", order["id"])
    fulfillment_orders = await adapter.shopify.fulfillment_orders(order_gid)
    placements = mapping.line_placements(order, fulfillment_orders, adapter.stores_by_location)
    body = mapping.import_body(order, placements)
    try:
        imported = await adapter.commerce.import_order(body)
    except CommerceRejected as exc:
        if exc.code != "idempotency_conflict":
            raise
        # Imported before from a payload that differs (a line edited at Shopify since): the order exists.
        existing = await adapter.commerce.find_imported_order(mapping.SOURCE, str(order["id"]))
        if existing is None:
            raise
        log.warning("order was imported before with other lines", extra={"order": order["id"]})
        return existing
    log.info(
        "order imported",
        extra={
            "order": order["id"],
            "id": imported.get("id"),
            "lines": [f"{ln['fulfillment']['store']}/{ln['sku']}x{ln['quantity']}" for ln in body["lines"]],
        },
    )
    return imported


async def order_cancelled(adapter: ShopifyAdapter, order: dict[str, Any]) -> None:
    if mapping.is_pos_order(order):
        log.info("POS order cancelled: its restock comes as a refund", extra={"order": order["id"]})
        return
    existing = await adapter.commerce.find_imported_order(mapping.SOURCE, str(order["id"]))
    if existing is None:
        # The cancellation overtook the creation: import from this payload (the same order, the same
        # body), then cancel; the late orders/create then finds it imported and changes nothing.
        existing = await import_order(adapter, order)
    if existing.get("status") != "cancelled":
        await adapter.commerce.cancel_order(str(existing["id"]))
    log.info("order cancelled", extra={"order": order["id"], "id": existing.get("id")})


async def refund_created(adapter: ShopifyAdapter, refund: dict[str, Any]) -> None:
    for restock in mapping.return_restocks(refund, adapter.stores_by_location):
        await adapter.commerce.adjust(
            restock.store,
            restock.sku,
            restock.quantity,
            "return",
            idempotency_key=restock.idempotency_key,
            note=f"Shopify refund {refund['id']} of order {refund.get('order_id')}",
        )
        log.info("return restocked", extra={"store": restock.store, "sku": restock.sku, "quantity": restock.quantity})


async def level_updated(adapter: ShopifyAdapter, payload: dict[str, Any]) -> None:
    update = mapping.level_update(payload)
    key = level_key(update.item, update.location)
    if not mapping.later(update.updated_at, adapter.levels.updated_at.get(key)) and key in adapter.levels.updated_at:
        log.info("older level update ignored", extra={"item": update.item, "location": update.location})
        return
    if update.available is None:
        return
    store = adapter.stores_by_location.get(update.location)
    if update.location in adapter.owned_locations and store is not None:
        sku = adapter.items.inverse().get(update.item)
        if sku is None:
            sku = (await adapter.shopify.skus_of_items([update.item])).get(update.item)
            if sku is None:
                raise mapping.Unmappable("unknown_sku", f"inventory item {update.item} has no SKU at Shopify")
            adapter.items.update({sku: update.item})
        await set_ours_from_shopify(adapter, store, sku, update.available, update.updated_at)
    elif adapter.levels.is_echo(key, update.available):
        log.debug("echo of our own write ignored", extra={"item": update.item, "location": update.location})
    else:
        log.info(
            "shopify's value differs from what we set; it is compared on our next write",
            extra={"item": update.item, "location": update.location, "available": update.available},
        )
    adapter.levels.known[key] = update.available
    if update.updated_at:
        adapter.levels.updated_at[key] = update.updated_at
    adapter.levels.save()


async def set_ours_from_shopify(
    adapter: ShopifyAdapter, store: str, sku: str, available: int, updated_at: str | None
) -> None:
    """A Shopify-owned location's `available` becomes our level there. Shopify's available already
    excludes its committed orders, which we hold as reservations: so on_hand = available + reserved."""
    level = await adapter.commerce.get_level(store, sku)
    on_hand = available + level.reserved + level.safety_stock
    if on_hand != level.on_hand:
        await adapter.commerce.set_level(store, sku, on_hand)
    log.info("level set from shopify", extra={"store": store, "sku": sku, "available": available, "on_hand": on_hand})


async def resync(adapter: ShopifyAdapter, payload: dict[str, Any]) -> None:
    await resync_level(adapter, str(payload["store"]), str(payload["sku"]))


HANDLERS = {
    "orders/create": order_created,
    "orders/cancelled": order_cancelled,
    "refunds/create": refund_created,
    "inventory_levels/update": level_updated,
    RESYNC_TOPIC: resync,
}
