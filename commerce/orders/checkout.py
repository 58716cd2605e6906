"""Checkout: a priced cart becomes an order with every line reserved, in one transaction, or nothing.

Pickup lines are held at their store until `hold_until` (the store's pickup lead time plus the
configured hold). Ship lines are routed by `inventory.rules.ship_source`, the same rule carts use to
show availability: a warehouse before a store, the nearest to `ship_to` when given, otherwise the
one with most available; the whole line leaves from one location. Any short line is 409 `insufficient_stock` listing every short line, and the
transaction rolls back: no order, no reservation, no ledger entry, the cart still open.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.auth.schemas import Principal
from commerce.carts.models import Cart
from commerce.carts.pricing import priced_cart
from commerce.carts.schemas import CartLineOut, Pickup
from commerce.errors import InsufficientStock, InvalidState, NotFound, Unprocessable
from commerce.events import service as events
from commerce.inventory.rules import StockLine, ship_source
from commerce.inventory.service import availability_of, reserve_lines, ship_candidates
from commerce.orders.models import Order, OrderLine
from commerce.orders.schemas import CheckoutIn, OrderOut
from commerce.orders.service import event_data, get_order, pickup_reference, ship_reference
from commerce.settings import Settings

log = logging.getLogger("commerce.checkout")


async def route_ship_lines(
    db: AsyncSession, lines: list[CartLineOut], ship_to: tuple[float, float] | None
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
    cart = await db.get(Cart, cart_id, with_for_update=True, populate_existing=True)
    if cart is None:
        raise NotFound(f"No cart with id {cart_id!r}.")
    if cart.status != "active":
        raise InvalidState(f"This cart is {cart.status}; start a new cart.", code="invalid_state")
    priced = await priced_cart(db, cart_id, low_stock_threshold=settings.low_stock_threshold, now=now)
    if not priced.lines:
        raise Unprocessable("The cart is empty: add lines before checking out.", code="empty_cart")
    foreign = [line.sku for line in priced.lines if line.unit_price.currency != priced.currency]
    if foreign:
        raise Unprocessable(
            f"These SKUs are not sold in {priced.currency}: {', '.join(foreign)}. Remove them to check out.",
            code="currency_mismatch",
        )

    pickup_lines = [line for line in priced.lines if isinstance(line.fulfillment, Pickup)]
    ship_lines = [line for line in priced.lines if not isinstance(line.fulfillment, Pickup)]
    pickup_stores = {line.fulfillment.store for line in pickup_lines if isinstance(line.fulfillment, Pickup)}
    if len(pickup_stores) > 1:
        raise Unprocessable(
            "An order is picked up at one store; these lines name several: "
            f"{', '.join(sorted(pickup_stores))}. Choose one store or check out separately.",
            code="multiple_pickup_stores",
        )
    pickup_store = next(iter(pickup_stores), None)
    hold_until = None
    if pickup_store is not None:
        lead = await db.scalar(
            text("SELECT pickup_lead_minutes FROM stores WHERE code = :c AND pickup_enabled"), {"c": pickup_store}
        )
        if lead is None:
            raise Unprocessable(f"Store {pickup_store!r} does not offer pickup.", code="pickup_unavailable")
        hold_until = now + timedelta(minutes=int(lead) + settings.pickup_hold_minutes)

    ship_to = (data.ship_to.latitude, data.ship_to.longitude) if data.ship_to else None
    ship_from, short = await route_ship_lines(db, ship_lines, ship_to)
    if short and pickup_store is not None:
        # Report the pickup lines that are short too, so the shopper can fix the whole cart at once.
        wanted: dict[str, int] = {}
        for line in pickup_lines:
            wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
        have = await availability_of(db, [(pickup_store, sku) for sku in wanted])
        short += [
            {"sku": sku, "store": pickup_store, "requested": qty, "available": have[(pickup_store, sku)]}
            for sku, qty in sorted(wanted.items())
            if have[(pickup_store, sku)] < qty
        ]
    if short:
        raise InsufficientStock(short)

    order_id = uuid.uuid4()
    source = f"{principal.role}:{principal.key_id}"
    if pickup_lines and pickup_store is not None:
        await reserve_lines(
            db,
            [StockLine(pickup_store, line.sku, line.quantity) for line in pickup_lines],
            reference=pickup_reference(order_id),
            source=source,
            expires_at=hold_until,
        )
    if ship_lines:
        await reserve_lines(
            db,
            [StockLine(ship_from[line.id], line.sku, line.quantity) for line in ship_lines],
            reference=ship_reference(order_id),
            source=source,
        )

    await db.execute(
        insert(Order).values(
            id=order_id,
            cart_id=cart_id,
            customer_id=priced.customer_id,
            channel=priced.channel,
            status="placed",
            currency=priced.currency,
            subtotal=priced.subtotal.amount,
            discount_total=priced.discount_total.amount,
            total=priced.total.amount,
            email=data.email,
            phone=data.phone,
            pickup_store=pickup_store,
            hold_until=hold_until,
        )
    )
    titled = await db.execute(
        text("SELECT sku, title FROM variants WHERE sku = ANY(CAST(:skus AS varchar[]))"),
        {"skus": [line.sku for line in priced.lines]},
    )
    titles: dict[str, str | None] = {row.sku: row.title for row in titled}
    await db.execute(
        insert(OrderLine),
        [
            {
                "order_id": order_id,
                "line_no": n,
                "sku": line.sku,
                "title": titles.get(line.sku),
                "quantity": line.quantity,
                "unit_price": line.unit_price.amount,
                "discount": line.discount.amount,
                "line_total": line.line_total.amount,
                "promotion_id": line.promotion_id,
                "fulfillment": "pickup" if isinstance(line.fulfillment, Pickup) else "ship",
                "location": line.fulfillment.store if isinstance(line.fulfillment, Pickup) else ship_from[line.id],
            }
            for n, line in enumerate(priced.lines, start=1)
        ],
    )
    await db.execute(
        update(Cart).where(Cart.id == cart_id).values(status="checked_out", version=Cart.version + 1, updated_at=now)
    )
    order = await get_order(db, order_id, principal)
    placed = await db.get(Order, order_id)
    assert placed is not None
    await events.record(db, "order.placed", event_data(placed))
    log.info(
        "order %s (#%s) placed from cart %s: %d lines, total %d %s",
        order.id,
        order.number,
        cart_id,
        len(order.lines),
        order.totals.total.amount,
        order.totals.total.currency,
    )
    return order
