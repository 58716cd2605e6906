"""Square payloads to our POS events and the changes made here (our ledger) to Square's inventory changes, without I/O.

Event ids are Square's own ids, so any number of deliveries of anything that names the same thing
lands as one event in our POS sync (exactly once per (store, event_id)):

- a completed order's sale: the order id alone (every webhook and later version of the order names it);
- a return: the return order's id and the return's uid (each return is its own event, however the
  adapter heard of it: the return order's `order.updated` or the refund that names that order);
- a count: catalog object, location and `calculated_at` (the instant the count describes).

Quantities are decimal strings in Square ("3", "1.50000"); our POS lines take whole units, so a
fractional quantity cannot be applied and is reported as a problem (the delivery goes to the
dead letters) rather than rounded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, NamedTuple

import msgspec

Json = dict[str, Any]
PosEventType = Literal["sale", "return", "count"]
MAX_EVENT_ID = 100  # our POS batch's limit on event_id
MAX_CHANGES_PER_CALL = 100  # BatchChangeInventory


class Money(msgspec.Struct, frozen=True):
    amount: int
    currency: str


class PosLine(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    sku: str
    quantity: int
    unit_price: Money | None = None


class PosCustomer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who bought, as our POS event's `customer`: the sale joins the history of the customer here holding
    the loyalty id, else the email, else the phone (a new customer holding them otherwise)."""

    email: str | None = None
    phone: str | None = None
    # The phone of the buyer's Square Loyalty account, as the adapter has always sent it as the loyalty
    # id: the customers made from those sales hold it, and only it, so it is how they are found again.
    loyalty_id: str | None = None


class PosEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One event of our POS batch (`POST /v1/pos/{store}/events`)."""

    event_id: str
    type: PosEventType
    occurred_at: str
    lines: list[PosLine]
    customer: PosCustomer | None = None


class StoreEvent(NamedTuple):
    store: str
    event: PosEvent


class Problem(NamedTuple):
    """Why a payload cannot become POS events now; `catalog_object_ids` are the unmapped ones."""

    code: str
    detail: str
    catalog_object_ids: tuple[str, ...] = ()


def bounded_id(event_id: str) -> str:
    """Square ids fit our 100 characters; should one not, a stable digest stands in for its tail."""
    if len(event_id) <= MAX_EVENT_ID:
        return event_id
    return event_id[:60] + "-" + hashlib.sha256(event_id.encode()).hexdigest()[:39]


def sale_event_id(order_id: str) -> str:
    return bounded_id(f"square-sale-{order_id}")


def return_event_id(order_id: str, return_uid: str) -> str:
    return bounded_id(f"square-return-{order_id}-{return_uid}")


def count_event_id(catalog_object_id: str, location_id: str, calculated_at: str) -> str:
    return bounded_id(f"square-count-{catalog_object_id}-{location_id}-{calculated_at}")


def whole_units(quantity: str) -> int | None:
    """The integer a Square decimal-string quantity holds, or None when it is not a whole number."""
    try:
        value = Decimal(quantity)
    except (InvalidOperation, TypeError):
        return None
    if not value.is_finite() or value != value.to_integral_value():
        return None
    return int(value)


def _money(raw: Any) -> Money | None:
    if isinstance(raw, dict) and isinstance(raw.get("amount"), int) and isinstance(raw.get("currency"), str):
        return Money(raw["amount"], raw["currency"])
    return None


def catalog_ids_of_order(order: Json) -> set[str]:
    ids = {li["catalog_object_id"] for li in order.get("line_items") or [] if li.get("catalog_object_id")}
    for ret in order.get("returns") or []:
        ids.update(li["catalog_object_id"] for li in ret.get("return_line_items") or [] if li.get("catalog_object_id"))
    return ids


def catalog_ids_of_counts(counts: Iterable[Json]) -> set[str]:
    return {c["catalog_object_id"] for c in counts if c.get("catalog_object_id")}


def _lines(items: Sequence[Json], skus: Mapping[str, str], what: str) -> list[PosLine] | Problem:
    lines: list[PosLine] = []
    unknown: list[str] = []
    for item in items:
        catalog_object_id = item.get("catalog_object_id")
        if not catalog_object_id:
            continue  # a custom amount rung up without an item: no stock moves
        sku = skus.get(catalog_object_id)
        if sku is None:
            unknown.append(catalog_object_id)
            continue
        units = whole_units(str(item.get("quantity", "")))
        if units is None:
            return Problem(
                "fractional_quantity",
                f"{what}: {item.get('quantity')!r} of {sku} is not a whole number of units; our stock counts units.",
            )
        if units == 0:
            continue
        lines.append(PosLine(sku=sku, quantity=units, unit_price=_money(item.get("base_price_money"))))
    if unknown:
        return Problem(
            "unknown_catalog_object",
            f"{what}: no SKU for Square catalog object(s) {', '.join(sorted(set(unknown)))} "
            "(set the variation's SKU in Square to one of ours, then replay).",
            tuple(sorted(set(unknown))),
        )
    return lines


def order_events(
    order: Json, stores: Mapping[str, str], skus: Mapping[str, str], customer: PosCustomer | None = None
) -> list[StoreEvent] | Problem:
    """A completed order's sale (its catalog line items) and its returns, at the mapped store.

    All or nothing: an order with a line that cannot be mapped yields a problem, so a sale is never
    applied with a line missing. An order that is not COMPLETED yields nothing (yet).
    """
    order_id, location_id = order.get("id"), order.get("location_id")
    if not isinstance(order_id, str) or not isinstance(location_id, str):
        return Problem("malformed_order", "The order has no id or location_id.")
    if order.get("state") != "COMPLETED":
        return []
    store = stores.get(location_id)
    if store is None:
        return Problem("unknown_location", f"Order {order_id} is at Square location {location_id}, mapped to no store.")
    occurred_at = order.get("closed_at") or order.get("updated_at") or order.get("created_at")
    if not isinstance(occurred_at, str):
        return Problem("malformed_order", f"Order {order_id} has no closed_at.")
    events: list[StoreEvent] = []
    sale = _lines(order.get("line_items") or [], skus, f"order {order_id}")
    if isinstance(sale, Problem):
        return sale
    if sale:
        event = PosEvent(
            event_id=sale_event_id(order_id), type="sale", occurred_at=occurred_at, lines=sale, customer=customer
        )
        events.append(StoreEvent(store, event))
    for ret in order.get("returns") or []:
        uid = ret.get("uid") or "return"
        returned = _lines(ret.get("return_line_items") or [], skus, f"return {uid} of order {order_id}")
        if isinstance(returned, Problem):
            return returned
        if returned:
            event = PosEvent(
                event_id=return_event_id(order_id, uid),
                type="return",
                occurred_at=occurred_at,
                lines=returned,
                customer=customer,
            )
            events.append(StoreEvent(store, event))
    return events


def count_events(
    counts: Iterable[Json], stores: Mapping[str, str], skus: Mapping[str, str]
) -> list[StoreEvent | Problem]:
    """One `count` per IN_STOCK InventoryCount, as of its `calculated_at`; a problem for each that
    cannot be mapped (the others still apply)."""
    outcomes: list[StoreEvent | Problem] = []
    for count in counts:
        if count.get("state", "IN_STOCK") != "IN_STOCK" or count.get("catalog_object_type", "ITEM_VARIATION") != (
            "ITEM_VARIATION"
        ):
            continue
        catalog_object_id, location_id = count.get("catalog_object_id"), count.get("location_id")
        calculated_at = count.get("calculated_at")
        if not (isinstance(catalog_object_id, str) and isinstance(location_id, str) and isinstance(calculated_at, str)):
            outcomes.append(Problem("malformed_count", f"An inventory count lacks an id, location or time: {count}"))
            continue
        store = stores.get(location_id)
        if store is None:
            outcomes.append(Problem("unknown_location", f"Count at Square location {location_id}, mapped to no store."))
            continue
        sku = skus.get(catalog_object_id)
        if sku is None:
            outcomes.append(
                Problem(
                    "unknown_catalog_object",
                    f"Count at {location_id}: no SKU for Square catalog object {catalog_object_id} "
                    "(set the variation's SKU in Square to one of ours, then replay).",
                    (catalog_object_id,),
                )
            )
            continue
        quantity = whole_units(str(count.get("quantity", "")))
        if quantity is None:
            outcomes.append(
                Problem("fractional_quantity", f"Count {count.get('quantity')!r} of {sku} is not a whole number.")
            )
            continue
        event = PosEvent(
            event_id=count_event_id(catalog_object_id, location_id, calculated_at),
            type="count",
            occurred_at=calculated_at,
            lines=[PosLine(sku=sku, quantity=quantity)],
        )
        outcomes.append(StoreEvent(store, event))
    return outcomes


def loyalty_phone(accounts: Sequence[Json]) -> str | None:
    """The phone number a Square loyalty account is mapped to (Square maps buyers by phone only)."""
    for account in accounts:
        phone = (account.get("mapping") or {}).get("phone_number")
        if isinstance(phone, str) and phone:
            return phone
    return None


def buyer(customer: Json | None, accounts: Sequence[Json]) -> PosCustomer | None:
    """A Square customer as our POS event's `customer`: their `email_address`, the phone of their
    loyalty account (E.164 there) as the loyalty id and as the phone, else their profile's
    `phone_number` as the phone. None when nothing is known (no profile, e.g. a deleted customer, and no
    loyalty account)."""
    loyalty = _text(loyalty_phone(accounts))
    email = _text((customer or {}).get("email_address"))
    phone = loyalty or _text((customer or {}).get("phone_number"))
    return PosCustomer(email=email, phone=phone, loyalty_id=loyalty) if email or phone else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def sku_of_variation(obj: Json) -> str | None:
    if obj.get("type") != "ITEM_VARIATION" or obj.get("is_deleted"):
        return None
    sku = (obj.get("item_variation_data") or {}).get("sku")
    return sku if isinstance(sku, str) and sku else None


# --- outbound: our levels to Square ----------------------------------------------------------


# Ledger reasons that set on_hand to a count taken here (PUT /v1/inventory, a POS count, a bulk set):
# they go to Square as PHYSICAL_COUNT. Every other change made here goes as an ADJUSTMENT by its delta.
COUNT_REASONS = frozenset({"count", "pos_count", "stocktake"})
# Our POS event ids for what came from Square (mapping.sale_event_id and the others): the ledger rows they
# made are Square's own changes applied here, never sent back.
SQUARE_REFERENCE = "square-"
SOLD_REASONS = frozenset({"ship", "collect", "pos_sale", "sale"})


class Change(NamedTuple):
    """One change made here, from the ledger of a level of a mapped store, as Square gets it."""

    ledger_id: int
    store: str
    sku: str
    kind: str  # "count" (on_hand became `quantity`) or "adjust" (on_hand moved by `quantity`)
    quantity: int
    reason: str
    occurred_at: str


def change_of_entry(store: str, sku: str, entry: Json) -> Change | None:
    """What one ledger entry of ours means to Square: None for Square's own sales, returns and counts
    applied here (they are on Square already), and for changes that leave on_hand alone (holds)."""
    reason, reference = str(entry.get("reason") or ""), str(entry.get("reference") or "")
    if reason.startswith("pos_") and reference.startswith(SQUARE_REFERENCE):
        return None
    if reason in COUNT_REASONS:
        # As of when it was applied here, not when it was taken: a late count is applied as "N plus what
        # the ledger holds as happening after it", so on_hand_after already includes the later changes,
        # which Square (holding them as adjustments after the count's time) would add again.
        return Change(int(entry["id"]), store, sku, "count", int(entry["on_hand_after"]), reason, str(entry["at"]))
    if not entry.get("delta"):
        return None
    at = str(entry.get("occurred_at") or entry["at"])
    return Change(int(entry["id"]), store, sku, "adjust", int(entry["delta"]), reason, at)


def inventory_changes(
    changes: Iterable[Change],
    locations: Mapping[str, str],
    catalog_ids: Mapping[str, str],
    latest: dict[str, str] | None = None,
) -> tuple[list[Json], list[Change]]:
    """Square InventoryChanges for our changes, in ledger order, and the changes whose SKU has no Square
    variation (for the dead letters).

    A count is a PHYSICAL_COUNT of on_hand after it, as of when it was applied here; an adjustment is an
    ADJUSTMENT of its size (NONE -> IN_STOCK for stock that arrived, IN_STOCK -> SOLD for stock that left
    with a buyer, IN_STOCK -> WASTE for any other loss), so Square adds it to whatever it holds, sales we
    have not heard of yet included. Square orders changes by `occurred_at`: a PHYSICAL_COUNT sets the
    quantity as of then and later adjustments apply on top of it. So that Square applies a level's changes
    in our ledger's order, a change is never sent as of earlier than the one before it of the same level
    (a dated sale recorded after a count here is on top of that count here, and must be there too).
    `latest` ("store|sku" -> the `occurred_at` of the level's newest change sent before) carries that
    across pushes; it is updated with what these changes are sent as."""
    out: list[Json] = []
    unknown: list[Change] = []
    latest = {} if latest is None else latest
    for change in sorted(changes, key=lambda c: c.ledger_id):
        catalog_object_id = catalog_ids.get(change.sku)
        if change.store not in locations:
            continue
        if catalog_object_id is None:
            unknown.append(change)
            continue
        level, at = f"{change.store}|{change.sku}", change.occurred_at
        if level in latest and datetime.fromisoformat(at) < datetime.fromisoformat(latest[level]):
            at = latest[level]
        latest[level] = at
        where = {
            "reference_id": f"commerce-ledger-{change.ledger_id}",
            "catalog_object_id": catalog_object_id,
            "location_id": locations[change.store],
            "occurred_at": at,
        }
        if change.kind == "count":
            # Square holds no count below zero; an oversold level is an empty shelf there.
            body = {**where, "state": "IN_STOCK", "quantity": str(max(change.quantity, 0))}
            out.append({"type": "PHYSICAL_COUNT", "physical_count": body})
            continue
        if change.quantity > 0:
            states = ("NONE", "IN_STOCK")
        else:
            states = ("IN_STOCK", "SOLD" if change.reason in SOLD_REASONS else "WASTE")
        body = {**where, "from_state": states[0], "to_state": states[1], "quantity": str(abs(change.quantity))}
        out.append({"type": "ADJUSTMENT", "adjustment": body})
    return out, unknown


def change_batches(changes: Sequence[Json]) -> list[Json]:
    """BatchChangeInventory bodies of at most 100 changes, each with an idempotency key derived
    from its content, so a retried or re-read batch is the same request to Square."""
    bodies = []
    for start in range(0, len(changes), MAX_CHANGES_PER_CALL):
        chunk = list(changes[start : start + MAX_CHANGES_PER_CALL])
        digest = hashlib.sha256(msgspec.json.encode(chunk)).hexdigest()
        bodies.append({"idempotency_key": f"commerce-{digest[:48]}", "changes": chunk, "ignore_unchanged_counts": True})
    return bodies
