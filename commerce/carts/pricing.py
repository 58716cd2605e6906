"""The priced cart: catalog prices, the one promotion per line, and live availability, read in a
fixed handful of queries whatever the number of lines (cart, lines, the shopper and the promotions'
version, ship stock). The promotions themselves are kept in the process (promotions/live.py).

Checkout prices the same way (`cart_head` + `price_lines`) but skips the availability reads: it
checks stock itself when it reserves. The hot path reads plain rows (SQL text, no ORM entities):
it runs on every cart read and every checkout.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.carts.schemas import CartLineOut, CartOut, CartStatus, Fulfillment, LineAvailability, Pickup, Ship
from commerce.errors import NotFound
from commerce.inventory import service as inventory
from commerce.inventory.rules import ship_source, stock_status
from commerce.money import Money
from commerce.promotions import live as live_promotions
from commerce.promotions import rules as promotion_rules
from commerce.promotions.schemas import Channel


class CartHead(NamedTuple):
    """The cart row without its lines."""

    id: str
    channel: str
    customer_id: uuid.UUID | None
    currency: str
    status: str
    codes: list[str]
    version: int
    merged_into: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PricedLine:
    id: int
    sku: str
    title: str | None
    quantity: int
    pickup_store: str | None
    # The pickup store's lead time, None when it does not offer pickup (or the line ships).
    pickup_lead_minutes: int | None
    # Units available at the pickup store when the lines were read (0 without a level, None if shipped).
    pickup_available: int | None
    unit_price: Money
    discount: Money
    promotion_id: str | None
    line_total: Money


@dataclass(frozen=True, slots=True)
class PricedLines:
    lines: list[PricedLine]
    # Sums over the lines in the cart's currency (a line repriced into another currency is not summed).
    subtotal: int
    discount_total: int
    # Promotions that priced a line and that checkout counts (limits, single-use codes), and the cart's
    # single-use codes another order already redeemed.
    counted_promotions: tuple[str, ...] = ()
    used_codes: tuple[str, ...] = ()


# Built once: parsing SQL text for its parameters costs more than running the query.
_CART_SQL = (
    "SELECT id, channel, customer_id, currency, status, codes, version, merged_into, updated_at"
    " FROM carts WHERE id = :cart_id"
)
_CART, _LOCKED_CART = text(_CART_SQL), text(_CART_SQL + " FOR UPDATE")


# The cart's lines as pricing reads them (LineRow); checkout reads them in its first statement.
def cart_lines_sql(cart_id: str = ":cart_id") -> str:
    """The priced lines of the cart whose id is the SQL expression `cart_id` (a parameter, or a column of
    a statement that reads several carts' lines)."""
    return (
        "SELECT cl.id, cl.sku, v.title, cl.quantity, cl.pickup_store, v.price_amount, v.currency, p.category,"
        " CASE WHEN s.pickup_enabled THEN s.pickup_lead_minutes END AS pickup_lead_minutes,"
        " (SELECT greatest(il.on_hand - il.reserved - il.safety_stock, 0) FROM inventory_levels il"
        "  WHERE il.store_code = cl.pickup_store AND il.sku = cl.sku) AS pickup_available"
        " FROM cart_lines cl JOIN variants v ON v.sku = cl.sku JOIN products p ON p.id = v.product_id"
        " LEFT JOIN stores s ON s.code = cl.pickup_store"
        f" WHERE cl.cart_id = {cart_id} ORDER BY cl.id"
    )


CART_LINES_SQL = cart_lines_sql()
_LINES = text(CART_LINES_SQL)


class LineRow(NamedTuple):
    """A row of CART_LINES_SQL."""

    id: int
    sku: str
    title: str | None
    quantity: int
    pickup_store: str | None
    price_amount: int
    currency: str
    category: str | None
    pickup_lead_minutes: int | None
    pickup_available: int | None


async def cart_head(db: AsyncSession, cart_id: str, *, lock: bool = False) -> CartHead:
    """The cart row (locked FOR UPDATE when `lock`); 404 if there is none."""
    row = (await db.execute(_LOCKED_CART if lock else _CART, {"cart_id": cart_id})).first()
    if row is None:
        raise NotFound(f"No cart with id {cart_id!r}.")
    return CartHead(*row)


async def price_lines(db: AsyncSession, cart: CartHead, *, now: datetime) -> PricedLines:
    """The cart's lines in line order with their catalog price and the promotion that applies."""
    rows = (await db.execute(_LINES, {"cart_id": cart.id})).all()
    return await price_rows(db, cart, cast(Sequence[LineRow], rows), now=now)


def pricing_of(cart: CartHead, rows: Sequence[LineRow]) -> live_promotions.Pricing:
    """What live_promotions reads to price these lines of the cart."""
    return live_promotions.Pricing(
        skus=[r.sku for r in rows],
        categories=[r.category for r in rows if r.category is not None],
        customer_id=cart.customer_id,
        codes=cart.codes,
    )


async def price_rows(
    db: AsyncSession,
    cart: CartHead,
    rows: Sequence[LineRow],
    *,
    now: datetime,
    found: live_promotions.Candidates | None = None,
) -> PricedLines:
    """price_lines for lines already read (rows of CART_LINES_SQL, in line order); `found`: their
    promotions when already read (`live_promotions.candidates_for` with `pricing_of`)."""
    if found is None and rows:
        [found] = await live_promotions.candidates_for(db, [pricing_of(cart, rows)], now=now)
    lines: list[PricedLine] = []
    subtotal = discount_total = 0
    for r in rows:
        line = promotion_rules.LineToPrice(r.sku, r.category, r.price_amount, r.currency, r.quantity)
        applied = (
            None
            if found is None
            else promotion_rules.resolve(
                line,
                channel=cart.channel,
                codes=cart.codes,
                now=now,
                promotions=found.for_item(r.sku, r.category),
                shopper=found.shopper,
            )
        )
        discount = 0 if applied is None else applied.discount
        line_price = r.price_amount * r.quantity
        # A SKU repriced into another currency after it was added stays visible but is not summed.
        if r.currency == cart.currency:
            subtotal += line_price
            discount_total += discount
        lines.append(
            PricedLine(
                id=r.id,
                sku=r.sku,
                title=r.title,
                quantity=r.quantity,
                pickup_store=r.pickup_store,
                pickup_lead_minutes=r.pickup_lead_minutes,
                pickup_available=None if r.pickup_store is None else (r.pickup_available or 0),
                unit_price=Money(r.price_amount, r.currency),
                discount=Money(discount, r.currency),
                promotion_id=None if applied is None else applied.promotion_id,
                line_total=Money(line_price - discount, r.currency),
            )
        )
    if found is None:
        return PricedLines(lines, subtotal, discount_total)
    counted = {
        line.promotion_id
        for line in lines
        if line.promotion_id is not None and promotion_rules.is_counted(found.terms(line.promotion_id))
    }
    return PricedLines(lines, subtotal, discount_total, tuple(sorted(counted)), tuple(sorted(found.shopper.used_codes)))


async def priced_cart(db: AsyncSession, cart_id: str, *, low_stock_threshold: int, now: datetime) -> CartOut:
    cart = await cart_head(db, cart_id)
    priced = await price_lines(db, cart, now=now)
    ship_skus = sorted({line.sku for line in priced.lines if line.pickup_store is None})
    ship_from = await inventory.ship_candidates(db, ship_skus) if ship_skus else {}

    lines: list[CartLineOut] = []
    for line in priced.lines:
        fulfillment: Fulfillment
        source: str | None
        if line.pickup_store is not None:
            fulfillment = Pickup(store=line.pickup_store)
            units, source = line.pickup_available or 0, line.pickup_store
        else:
            fulfillment = Ship()
            best = ship_source(ship_from.get(line.sku, []), line.quantity)
            units, source = (0, None) if best is None else (best.available, best.store)
        lines.append(
            CartLineOut(
                id=line.id,
                sku=line.sku,
                quantity=line.quantity,
                fulfillment=fulfillment,
                unit_price=line.unit_price,
                discount=line.discount,
                promotion_id=line.promotion_id,
                line_total=line.line_total,
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
        subtotal=Money(priced.subtotal, cart.currency),
        discount_total=Money(priced.discount_total, cart.currency),
        total=Money(priced.subtotal - priced.discount_total, cart.currency),
        merged_into=cart.merged_into,
        updated_at=cart.updated_at,
    )
