"""The priced cart: catalog prices, the one promotion per line, and live availability, read in a
fixed handful of queries whatever the number of lines (lines, promotions, pickup and ship stock)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.carts.models import Cart, CartLine
from commerce.carts.schemas import CartLineOut, CartOut, CartStatus, Fulfillment, LineAvailability, Pickup, Ship
from commerce.catalog.models import Product, Variant
from commerce.errors import NotFound
from commerce.inventory import service as inventory
from commerce.inventory.rules import ship_source, stock_status
from commerce.money import Money
from commerce.promotions import rules as promotion_rules
from commerce.promotions import service as promotions
from commerce.promotions.schemas import Channel


async def priced_cart(db: AsyncSession, cart_id: str, *, low_stock_threshold: int, now: datetime) -> CartOut:
    cart = await db.scalar(select(Cart).where(Cart.id == cart_id).execution_options(populate_existing=True))
    if cart is None:
        raise NotFound(f"No cart with id {cart_id!r}.")
    rows = (
        await db.execute(
            select(
                CartLine.id,
                CartLine.sku,
                CartLine.quantity,
                CartLine.pickup_store,
                Variant.price_amount,
                Variant.currency,
                Product.category,
            )
            .join(Variant, Variant.sku == CartLine.sku)
            .join(Product, Product.id == Variant.product_id)
            .where(CartLine.cart_id == cart_id)
            .order_by(CartLine.id)
        )
    ).all()

    skus = sorted({r.sku for r in rows})
    categories = sorted({r.category for r in rows if r.category is not None})
    candidates = await promotions.candidate_promotions(db, skus=skus, categories=categories, now=now) if rows else []
    pickup_pairs = [(r.pickup_store, r.sku) for r in rows if r.pickup_store is not None]
    at_pickup = await inventory.availability_of(db, pickup_pairs) if pickup_pairs else {}
    ship_skus = sorted({r.sku for r in rows if r.pickup_store is None})
    ship_from = await inventory.ship_candidates(db, ship_skus) if ship_skus else {}

    lines: list[CartLineOut] = []
    subtotal = discount_total = 0
    for r in rows:
        line = promotion_rules.LineToPrice(r.sku, r.category, r.price_amount, r.currency, r.quantity)
        applied = promotion_rules.resolve(line, channel=cart.channel, codes=cart.codes, now=now, promotions=candidates)
        discount = 0 if applied is None else applied.discount
        line_price = r.price_amount * r.quantity
        # A SKU repriced into another currency after it was added stays visible but is not summed.
        if r.currency == cart.currency:
            subtotal += line_price
            discount_total += discount
        fulfillment: Fulfillment
        if r.pickup_store is not None:
            fulfillment = Pickup(store=r.pickup_store)
            units, source = at_pickup[(r.pickup_store, r.sku)], r.pickup_store
        else:
            fulfillment = Ship()
            best = ship_source(ship_from.get(r.sku, []), r.quantity)
            units, source = (0, None) if best is None else (best.available, best.store)
        lines.append(
            CartLineOut(
                id=r.id,
                sku=r.sku,
                quantity=r.quantity,
                fulfillment=fulfillment,
                unit_price=Money(r.price_amount, r.currency),
                discount=Money(discount, r.currency),
                promotion_id=None if applied is None else applied.promotion_id,
                line_total=Money(line_price - discount, r.currency),
                availability=LineAvailability(
                    available=units, status=stock_status(units, low_stock_threshold), store=source
                ),
            )
        )
    return CartOut(
        id=cart.id,
        customer_id=cart.customer_id,
        channel=cast(Channel, cart.channel),
        currency=cart.currency,
        status=cast(CartStatus, cart.status),
        version=cart.version,
        lines=lines,
        codes=list(cart.codes),
        subtotal=Money(subtotal, cart.currency),
        discount_total=Money(discount_total, cart.currency),
        total=Money(subtotal - discount_total, cart.currency),
        merged_into=cart.merged_into,
        updated_at=cart.updated_at,
    )
