"""Pure translation between Shopify's payloads and our API's shapes: no I/O here.

Shopify's webhook payloads are the REST resources (numeric ids, decimal-string money); its GraphQL
API speaks global ids (`gid://shopify/Location/123`). Our API speaks store codes, SKUs and integer
minor units.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from adapters.client import Event

SOURCE = "shopify"
# ISO 4217 minor-unit exponents that are not 2 (Shopify sends money as decimal strings)
_EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
    "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip
KEY_NAMESPACE = uuid.UUID("6c1b9f3e-55a1-4f0a-9d8e-2f6f3c0a7e11")


class Unmappable(Exception):
    """A payload that cannot become a request to our API (unknown location, no SKU, bad money)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


# --- ids ---


def gid(kind: str, numeric: int | str) -> str:
    return f"gid://shopify/{kind}/{numeric}"


def numeric_id(global_id: str) -> str:
    """`gid://shopify/InventoryLevel/1?inventory_item_id=2` -> `1`; a bare number stays as it is."""
    return global_id.rsplit("/", 1)[-1].split("?", 1)[0]


def same_gid(a: str, b: str) -> bool:
    return a.split("?", 1)[0] == b.split("?", 1)[0]


# --- money ---


def minor_units(amount: Any, currency: str) -> int:
    """A decimal amount ("19.99", 19.99 or 1999e-2) in the currency's minor units, exactly."""
    exponent = _EXPONENTS.get(currency.upper(), 2)
    try:
        value = Decimal(str(amount)) * (Decimal(10) ** exponent)
    except InvalidOperation:
        raise Unmappable("invalid_money", f"{amount!r} is not an amount") from None
    if value != value.to_integral_value():
        raise Unmappable("invalid_money", f"{amount} {currency} has more decimals than {currency} allows")
    return int(value)


def money(amount: Any, currency: str) -> dict[str, Any]:
    return {"amount": minor_units(amount, currency), "currency": currency.upper()}


# --- orders ---


def is_pos_order(order: dict[str, Any]) -> bool:
    return order.get("source_name") == "pos" and order.get("location_id") is not None


@dataclass(frozen=True)
class Placement:
    """Where one order line is fulfilled: our store code and ship or pickup."""

    type: str  # "ship" | "pickup"
    store: str


def line_placements(
    order: dict[str, Any], fulfillment_orders: list[Any], stores_by_location: dict[str, str]
) -> dict[str, Placement]:
    """LineItem gid -> where it is fulfilled, from the order's fulfillment orders (online orders carry no
    location in the payload). Cancelled or closed fulfillment orders still name their assigned location."""
    placements: dict[str, Placement] = {}
    for fo in fulfillment_orders:
        if fo.location_id is None:
            continue
        store = stores_by_location.get(fo.location_id)
        if store is None:
            raise Unmappable("unknown_location", f"location {fo.location_id} is not mapped to a store")
        kind = "pickup" if fo.method == "PICK_UP" else "ship"
        if fo.line_items is None:  # the only fulfillment order: it holds every line
            for line in order.get("line_items") or []:
                placements.setdefault(
                    line.get("admin_graphql_api_id") or gid("LineItem", line["id"]), Placement(kind, store)
                )
        for line_gid in fo.line_items or {}:
            placements.setdefault(line_gid, Placement(kind, store))
    for line in order.get("line_items") or []:
        line_gid = line.get("admin_graphql_api_id") or gid("LineItem", line["id"])
        if line_gid not in placements and _ships(line):
            raise Unmappable("unknown_location", f"line {line.get('id')} has no fulfillment order with a location")
    return placements


def _ships(line: dict[str, Any]) -> bool:
    return bool(line.get("requires_shipping", True)) or bool(line.get("sku"))


def _line_sku(line: dict[str, Any]) -> str:
    sku = (line.get("sku") or "").strip()
    if not sku:
        raise Unmappable("unknown_sku", f"line {line.get('id')} ({line.get('title')!r}) has no SKU")
    return sku


def _line_discount(line: dict[str, Any]) -> Decimal:
    allocations = line.get("discount_allocations")
    if allocations:
        return sum((Decimal(str(a.get("amount", "0"))) for a in allocations), Decimal(0))
    return Decimal(str(line.get("total_discount") or "0"))


def customer_of(order: dict[str, Any]) -> dict[str, str] | None:
    customer = order.get("customer") or {}
    out = {}
    email = order.get("email") or order.get("contact_email") or customer.get("email")
    phone = order.get("phone") or customer.get("phone")
    if email:
        out["email"] = str(email).strip().lower()
    if phone:
        out["phone"] = str(phone).strip()
    return out or None


def import_body(order: dict[str, Any], placements: dict[str, Placement]) -> dict[str, Any]:
    """`POST /v1/orders/import` for an online Shopify order. Built only from what does not change over
    the order's life (lines, prices, creation time), so the same order always gives the same body."""
    currency = str(order.get("currency") or "").upper()
    if not currency:
        raise Unmappable("invalid_money", f"order {order.get('id')} has no currency")
    lines = []
    for line in order.get("line_items") or []:
        line_gid = line.get("admin_graphql_api_id") or gid("LineItem", line["id"])
        placement = placements.get(line_gid)
        if placement is None:
            continue  # nothing to fulfil (a gift card, a tip)
        out: dict[str, Any] = {
            "sku": _line_sku(line),
            "quantity": int(line["quantity"]),
            "unit_price": money(line["price"], currency),
            "fulfillment": {"type": placement.type, "store": placement.store},
        }
        discount = _line_discount(line)
        if discount:
            out["discount"] = money(discount, currency)
        lines.append(out)
    if not lines:
        raise Unmappable("unknown_sku", f"order {order.get('id')} has no line to fulfil")
    body: dict[str, Any] = {
        "source": SOURCE,
        "external_id": str(order["id"]),
        "channel": "web",
        "placed_at": order["created_at"],
        "currency": currency,
        "lines": lines,
    }
    customer = customer_of(order)
    if customer:
        body["customer"] = customer
    return body


def pos_sale(order: dict[str, Any]) -> dict[str, Any]:
    """A Shopify POS order as one of our POS `sale` events (its event id is stable per order)."""
    currency = str(order.get("currency") or "").upper()
    lines = [
        {"sku": _line_sku(line), "quantity": int(line["quantity"]), "unit_price": money(line["price"], currency)}
        for line in order.get("line_items") or []
    ]
    if not lines:
        raise Unmappable("unknown_sku", f"POS order {order.get('id')} has no lines")
    return {
        "event_id": f"shopify-order-{order['id']}",
        "type": "sale",
        "occurred_at": order["created_at"],
        "lines": lines,
    }


def pos_store(order: dict[str, Any], stores_by_location: dict[str, str]) -> str:
    location = gid("Location", order["location_id"])
    store = stores_by_location.get(location)
    if store is None:
        raise Unmappable("unknown_location", f"POS location {location} is not mapped to a store")
    return store


# --- refunds ---


@dataclass(frozen=True)
class Restock:
    store: str
    sku: str
    quantity: int
    idempotency_key: str


def return_restocks(refund: dict[str, Any], stores_by_location: dict[str, str]) -> list[Restock]:
    """The refund's lines restocked as returns (`restock_type` RETURN), each at its location."""
    out = []
    for rli in refund.get("refund_line_items") or []:
        if str(rli.get("restock_type") or "").upper() != "RETURN" or not int(rli.get("quantity") or 0):
            continue
        if rli.get("location_id") is None:
            raise Unmappable("unknown_location", f"refund line {rli.get('id')} names no location")
        location = gid("Location", rli["location_id"])
        store = stores_by_location.get(location)
        if store is None:
            raise Unmappable("unknown_location", f"location {location} is not mapped to a store")
        line = rli.get("line_item") or {}
        out.append(
            Restock(
                store=store,
                sku=_line_sku(line),
                quantity=int(rli["quantity"]),
                idempotency_key=f"shopify-refund-{refund['id']}-{rli['id']}",
            )
        )
    return out


# --- inventory ---


@dataclass(frozen=True)
class LevelUpdate:
    item: str  # InventoryItem gid
    location: str  # Location gid
    available: int | None
    updated_at: str | None


def level_update(payload: dict[str, Any]) -> LevelUpdate:
    """An `inventory_levels/update` payload. The item gid is built from the numeric id: the payload's
    `admin_graphql_api_id` is the InventoryLevel's, not the item's."""
    available = payload.get("available")
    return LevelUpdate(
        item=gid("InventoryItem", payload["inventory_item_id"]),
        location=gid("Location", payload["location_id"]),
        available=None if available is None else int(available),
        updated_at=payload.get("updated_at"),
    )


def later(a: str | None, b: str | None) -> bool:
    """True when timestamp `a` is strictly after `b` (None is the oldest)."""
    if a is None:
        return False
    if b is None:
        return True
    return datetime.fromisoformat(a.replace("Z", "+00:00")) > datetime.fromisoformat(b.replace("Z", "+00:00"))


def latest_available(events: list[Event], stores: set[str]) -> dict[tuple[str, str], int]:
    """(store, sku) -> the newest `available` among these `inventory.changed` events (seq order), for the
    stores given: a burst of changes to one level becomes one write."""
    out: dict[tuple[str, str], int] = {}
    for event in events:
        data = event.data
        if event.type == "inventory.changed" and data.get("store") in stores:
            out[(data["store"], data["sku"])] = max(0, int(data["available"]))
    return out


def write_key(reference: str, quantities: list[Any]) -> str:
    """The `@idempotent` key of one inventorySetQuantities call: a function of what is written and why,
    so a retry of the same call (same variables) carries the same key and any other call a new one."""
    body = msgspec.json.encode([reference, msgspec.to_builtins(quantities)])
    return str(uuid.uuid5(KEY_NAMESPACE, body.decode()))
