"""Checkout: a priced cart becomes an order with every line reserved, in one transaction, or nothing.

Pickup lines are held at their store until `hold_until` (the store's pickup lead time plus the
configured hold). Ship lines are routed by `inventory.rules.ship_source`, the same rule carts use to
show availability: a warehouse before a store, the nearest to `ship_to` when given, otherwise the
one with most available; the whole line leaves from one location. Any short line is 409
`insufficient_stock` listing every short line, and the transaction rolls back: no order, no
reservation, no ledger entry, the cart still open.

Checkout is the hot path of a flash sale, so it is a fixed handful of statements on plain rows: lock
the cart, read its priced lines (with titles and the pickup store's lead time), write the order, its
lines, the closed cart and the `order.placed` event in one statement, then reserve. The reservation
comes last so the contended inventory rows stay locked only for it, the idempotency record and the
commit. The response is built from what was written (the insert returns the order's number and
timestamps).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.auth.guards import ensure_reach
from commerce.auth.schemas import Principal
from commerce.carts.pricing import PricedLine, cart_head, price_lines
from commerce.errors import InsufficientStock, InvalidState, Unprocessable
from commerce.inventory.rules import Hold, ship_source
from commerce.inventory.service import reserve_lines, ship_candidates
from commerce.observability.metrics import CHECKOUTS_REFUSED
from commerce.orders.models import Order, OrderLine
from commerce.orders.rules import hold_until as pickup_hold_until
from commerce.orders.schemas import CheckoutIn, OrderOut
from commerce.orders.service import check_reach, event_data, order_out, pickup_reference, ship_reference
from commerce.promotions import redemptions
from commerce.settings import Settings

log = logging.getLogger("commerce.checkout")

# The order, its lines (from parallel arrays), the closed cart and the outbox event in one round
# trip. The event is written here rather than through events.record because its `number` is the one
# this insert draws, and another round trip would keep the reserved stock locked longer. (Statements
# are built once: parsing the text for its parameters on every call costs more than running it.)
_PLACE_ORDER = text(
    """
WITH o AS (
    INSERT INTO orders (id, cart_id, customer_id, channel, status, currency, subtotal, discount_total, total,
                        email, phone, pickup_store, hold_until)
    VALUES (:id, :cart_id, :customer_id, :channel, :status, :currency, :subtotal, :discount_total, :total,
            :email, :phone, :pickup_store, :hold_until)
    RETURNING id, number, created_at, updated_at
), lines AS (
    INSERT INTO order_lines (order_id, line_no, sku, title, quantity, unit_price, discount, line_total,
                             promotion_id, fulfillment, location)
    SELECT o.id, l.* FROM o, unnest(
        CAST(:line_nos AS integer[]), CAST(:skus AS varchar[]), CAST(:titles AS varchar[]),
        CAST(:quantities AS integer[]), CAST(:unit_prices AS bigint[]), CAST(:discounts AS bigint[]),
        CAST(:line_totals AS bigint[]), CAST(:promotion_ids AS varchar[]), CAST(:fulfillments AS varchar[]),
        CAST(:locations AS varchar[])) AS l
), cart AS (
    UPDATE carts SET status = 'checked_out', version = version + 1, updated_at = :now WHERE id = :cart_id
), placed_event AS (
    INSERT INTO events (type, data)
    SELECT 'order.placed', CAST(:event AS jsonb) || jsonb_build_object('number', o.number) FROM o
)
SELECT number, created_at, updated_at FROM o
"""
)


async def route_ship_lines(
    db: AsyncSession, lines: list[PricedLine], ship_to: tuple[float, float] | None
) -> tuple[dict[int, str], list[dict[str, object]]]:
    """Choose where each ship line leaves from (inventory.rules.ship_source). Returns
    ({cart line id: location}, short lines)."""
    if not lines:
        return {}, []
    candidates = await ship_candidates(db, [line.sku for line in lines], ship_to)
    chosen: dict[int, str] = {}
    short: list[dict[str, object]] = []
    for line in lines:
        pick = ship_source(candidates[line.sku], line.quantity)
        if pick is not None and pick.available >= line.quantity:
            chosen[line.id] = pick.store
        else:
            short.append(
                {
                    "sku": line.sku,
                    "store": pick.store if pick else None,
                    "requested": line.quantity,
                    "available": pick.available if pick else 0,
                }
            )
    return chosen, short


async def checkout(
    db: AsyncSession, cart_id: str, data: CheckoutIn, principal: Principal, settings: Settings, now: datetime
) -> OrderOut:
    try:
        return await _checkout(db, cart_id, data, principal, settings, now)
    except InsufficientStock:
        CHECKOUTS_REFUSED.inc()
        raise


async def _checkout(
    db: AsyncSession, cart_id: str, data: CheckoutIn, principal: Principal, settings: Settings, now: datetime
) -> OrderOut:
    cart = await cart_head(db, cart_id, lock=True)
    ensure_reach(principal, cart.customer_id, f"No cart with id {cart_id!r}.")
    if cart.status != "active":
        raise InvalidState(f"This cart is {cart.status}; start a new cart.", code="invalid_state")
    priced = await price_lines(db, cart, now=now)
    if not priced.lines:
        raise Unprocessable("The cart is empty: add lines before checking out.", code="empty_cart")
    foreign = [line.sku for line in priced.lines if line.unit_price.currency != cart.currency]
    if foreign:
        raise Unprocessable(
            f"These SKUs are not sold in {cart.currency}: {', '.join(foreign)}. Remove them to check out.",
            code="currency_mismatch",
        )

    pickup_lines = [line for line in priced.lines if line.pickup_store is not None]
    ship_lines = [line for line in priced.lines if line.pickup_store is None]
    pickup_stores = {line.pickup_store for line in pickup_lines if line.pickup_store is not None}
    if len(pickup_stores) > 1:
        raise Unprocessable(
            "An order is picked up at one store; these lines name several: "
            f"{', '.join(sorted(pickup_stores))}. Choose one store or check out separately.",
            code="multiple_pickup_stores",
        )
    pickup_store = next(iter(pickup_stores), None)
    hold_until = None
    if pickup_store is not None:
        lead = pickup_lines[0].pickup_lead_minutes
        if lead is None:
            raise Unprocessable(f"Store {pickup_store!r} does not offer pickup.", code="pickup_unavailable")
        hold_until = pickup_hold_until(now, lead, settings.pickup_hold_minutes)

    ship_to = (data.ship_to.latitude, data.ship_to.longitude) if data.ship_to else None
    ship_from, short = await route_ship_lines(db, ship_lines, ship_to)
    # Pickup lines short by the availability read with the lines: refused before anything is written
    # (a sold-out flash sale answers its late shoppers without touching the hot row). Every short
    # line is reported, so the shopper can fix the whole cart at once. Lines that pass are checked
    # again under lock by the reservation.
    wanted: dict[str, int] = {}
    have: dict[str, int] = {}
    for line in pickup_lines:
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
        have[line.sku] = line.pickup_available or 0
    short += [
        {"sku": sku, "store": pickup_store, "requested": qty, "available": have[sku]}
        for sku, qty in sorted(wanted.items())
        if have[sku] < qty
    ]
    if short:
        raise InsufficientStock(short)

    # The order as it will be written (transient: never added to the session); the insert fills in
    # its number and timestamps.
    order_id = uuid.uuid4()
    order = Order(
        id=order_id,
        cart_id=cart_id,
        # A signed-in shopper's order joins their history even from a cart filled before signing in.
        customer_id=cart.customer_id or principal.customer_id,
        channel=cart.channel,
        status="placed",
        currency=cart.currency,
        subtotal=priced.subtotal,
        discount_total=priced.discount_total,
        total=priced.subtotal - priced.discount_total,
        email=data.email,
        phone=data.phone,
        pickup_store=pickup_store,
        hold_until=hold_until,
        shipped_at=None,
    )
    lines = [
        OrderLine(
            order_id=order_id,
            line_no=n,
            sku=line.sku,
            title=line.title,
            quantity=line.quantity,
            unit_price=line.unit_price.amount,
            discount=line.discount.amount,
            line_total=line.line_total.amount,
            promotion_id=line.promotion_id,
            fulfillment="ship" if line.pickup_store is None else "pickup",
            location=ship_from[line.id] if line.pickup_store is None else line.pickup_store,
        )
        for n, line in enumerate(priced.lines, start=1)
    ]

    # Everything the order write needs is ready before stock is reserved: from the reservation on,
    # the inventory rows stay locked until commit.
    params = {
        "id": order_id,
        "cart_id": cart_id,
        "customer_id": order.customer_id,
        "channel": order.channel,
        "status": order.status,
        "currency": order.currency,
        "subtotal": order.subtotal,
        "discount_total": order.discount_total,
        "total": order.total,
        "email": order.email,
        "phone": order.phone,
        "pickup_store": pickup_store,
        "hold_until": hold_until,
        "line_nos": [line.line_no for line in lines],
        "skus": [line.sku for line in lines],
        "titles": [line.title for line in lines],
        "quantities": [line.quantity for line in lines],
        "unit_prices": [line.unit_price for line in lines],
        "discounts": [line.discount for line in lines],
        "line_totals": [line.line_total for line in lines],
        "promotion_ids": [line.promotion_id for line in lines],
        "fulfillments": [line.fulfillment for line in lines],
        "locations": [line.location for line in lines],
        "now": now,
        "event": msgspec.json.encode(event_data(order)).decode(),
    }
    # A store-bound key may only place orders its store handles.
    check_reach(principal, order, lines)
    # Promotion limits and single-use codes: counted in one conditional statement, or 409 and nothing written.
    await redemptions.redeem(
        db,
        order_id=order_id,
        customer_id=cart.customer_id,
        codes=cart.codes,
        promotion_ids=priced.counted_promotions,
        used_codes=priced.used_codes,
        now=now,
    )
    # The order is written before stock is reserved: the contended inventory rows are locked from
    # the reservation to the commit, and every round trip in between holds up the next shopper of a
    # hot SKU. A short line rolls the order back with everything else.
    placed = (await db.execute(_PLACE_ORDER, params)).one()
    order.number, order.created_at, order.updated_at = placed
    # Pickup and ship lines are reserved by one statement, which locks all their levels in one order.
    holds = [
        Hold(pickup_store, line.sku, line.quantity, pickup_reference(order_id), hold_until)
        if line.pickup_store is not None and pickup_store is not None
        else Hold(ship_from[line.id], line.sku, line.quantity, ship_reference(order_id))
        for line in priced.lines
    ]
    await reserve_lines(db, holds, source=f"{principal.role}:{principal.key_id}")
    log.info(
        "order %s (#%s) placed from cart %s: %d lines, total %d %s",
        order.id,
        order.number,
        cart_id,
        len(lines),
        order.total,
        order.currency,
    )
    return order_out(order, lines)
