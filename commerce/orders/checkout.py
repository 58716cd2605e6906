"""Checkout: a priced cart becomes an order with every line reserved, in one transaction, or nothing.

Pickup lines are held at their store until `hold_until` (the store's pickup lead time plus the
configured hold). Ship lines are routed by `inventory.rules.ship_source`, the same rule carts use to
show availability: a warehouse before a store, the nearest to `ship_to` when given, otherwise the
one with most available; the whole line leaves from one location. Any short line is 409
`insufficient_stock` listing every short line, and the transaction rolls back: no order, no
reservation, no ledger entry, the cart still open.

Checkout is the hot path of a flash sale, so it is a fixed handful of statements on plain rows:

1. claim the Idempotency-Key, read a stored response, lock the cart and read its priced lines (with
   titles, the pickup store's lead time and stock), draw the order's number and the transaction's
   time, all in one statement (`_OPEN`);
2. the promotions that could price the lines (promotions.live), and, only for promotions with a
   limit or single-use codes, their counting (promotions.redemptions);
3. the order, its lines, the closed cart, `order.placed`, the stored response and the reservation
   (levels, holds, ledger, `inventory.changed`) in one statement (`_PLACE`), then the commit.

The response is built before the last statement (its number and timestamps were drawn by the first),
so the stored response goes with the order, and the contended inventory rows are locked only by the
last statement and the commit. The last statement goes to the driver connection directly: it carries
every parameter of the order, and SQLAlchemy's statement handling was a measurable share of a
checkout's CPU.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce import idempotency
from commerce.auth.guards import ensure_reach
from commerce.auth.schemas import Principal
from commerce.carts.pricing import CART_LINES_SQL, CartHead, LineRow, PricedLine, price_rows
from commerce.db import driver_fetch, driver_sql
from commerce.errors import InsufficientStock, InvalidState, NotFound, Unprocessable
from commerce.events.relay import note_events_written
from commerce.inventory.rules import Hold, ship_source
from commerce.inventory.service import refuse_short, reserve_ctes, reserve_params, ship_candidates
from commerce.observability.metrics import CHECKOUTS_REFUSED
from commerce.orders.rules import hold_until as pickup_hold_until
from commerce.orders.schemas import CheckoutIn
from commerce.orders.service import (
    NewLine,
    NewOrder,
    check_reach,
    event_data,
    order_out,
    pickup_reference,
    ship_reference,
)
from commerce.promotions import redemptions
from commerce.settings import Settings

log = logging.getLogger("commerce.checkout")

_CART_COLUMNS = "id, channel, customer_id, currency, status, codes, version, merged_into, updated_at"

# The first statement. The advisory lock claims the key (nothing else is locked or read when another
# request holds it); the cart is locked only when no response is stored. `seen` is the cart's version
# in the statement's snapshot and `cart` the version as locked: they differ when another transaction
# changed the cart (or checked it out) while this one waited for its lock, and then the lines and
# the stored response read with the snapshot may be stale, so the caller runs the statement again
# (its snapshot then comes after both locks are held). Each line row repeats the head columns; a
# cart without lines (or not locked) still answers one row. Built once: parsing costs more than running.
_OPEN = text(
    f"""
WITH claim AS MATERIALIZED (
    SELECT {idempotency.CLAIM} AS locked
), stored AS MATERIALIZED (
    SELECT s.request_hash, s.status_code, s.body FROM ({idempotency.STORED_SQL}) s WHERE (SELECT locked FROM claim)
), seen AS MATERIALIZED (
    SELECT version FROM carts WHERE id = :cart_id
), cart AS MATERIALIZED (
    SELECT {_CART_COLUMNS} FROM carts
    WHERE id = :cart_id AND (SELECT locked FROM claim) AND NOT EXISTS (SELECT FROM stored)
    FOR UPDATE
), drawn AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('orders', 'number')) AS number, now() AS at
    FROM cart WHERE cart.status = 'active' AND cart.version = (SELECT version FROM seen)
)
SELECT claim.locked, stored.request_hash, stored.status_code, stored.body, (SELECT version FROM seen) AS seen_version,
    drawn.number, drawn.at, cart.*, l.*
FROM claim LEFT JOIN stored ON true LEFT JOIN cart ON true LEFT JOIN drawn ON true
    LEFT JOIN LATERAL ({CART_LINES_SQL}) l ON drawn.number IS NOT NULL
ORDER BY l.id
"""
)
_HEAD = 7  # columns before the cart's
_LINE = _HEAD + len(CartHead._fields)  # columns before the line's

# The order, its lines (from parallel arrays), the closed cart, the outbox event, the stored response
# and the reservation in one statement. The writes that do not touch stock run first (`written`, the
# reservation's `after` condition), so the reserved levels are locked (the reservation's `locked`
# CTE) only for the rest of this statement and the commit. Its final SELECT names the levels raised;
# one missing means a short line, and the caller rolls everything back.
_PLACE, _PLACE_PARAMETERS = driver_sql(
    f"""
WITH o AS (
    INSERT INTO orders (id, number, cart_id, customer_id, channel, status, currency, subtotal, discount_total, total,
                        email, phone, pickup_store, hold_until, placed_at, created_at, updated_at)
    OVERRIDING SYSTEM VALUE
    VALUES (:id, :number, :cart_id, :customer_id, :channel, :status, :currency, :subtotal, :discount_total, :total,
            :email, :phone, :pickup_store, :hold_until, :now, :now, :now)
    RETURNING id
), lines AS (
    INSERT INTO order_lines (order_id, line_no, sku, title, quantity, unit_price, discount, line_total,
                             promotion_id, fulfillment, location)
    SELECT o.id, l.* FROM o, unnest(
        CAST(:line_nos AS integer[]), CAST(:line_skus AS varchar[]), CAST(:titles AS varchar[]),
        CAST(:quantities AS integer[]), CAST(:unit_prices AS bigint[]), CAST(:discounts AS bigint[]),
        CAST(:line_totals AS bigint[]), CAST(:promotion_ids AS varchar[]), CAST(:fulfillments AS varchar[]),
        CAST(:locations AS varchar[])) AS l
    RETURNING 1
), cart AS (
    UPDATE carts SET status = 'checked_out', version = version + 1, updated_at = :now WHERE id = :cart_id RETURNING 1
), placed_event AS (
    INSERT INTO events (type, data) VALUES ('order.placed', CAST(CAST(:event AS text) AS jsonb)) RETURNING 1
), response AS (
    {idempotency.STORE_SQL} RETURNING 1
), written AS MATERIALIZED (
    SELECT (SELECT count(*) FROM o) + (SELECT count(*) FROM lines) + (SELECT count(*) FROM cart)
        + (SELECT count(*) FROM placed_event) + (SELECT count(*) FROM response) AS n
), {reserve_ctes("(SELECT n FROM written) > 0")}"""
)


class Answer(NamedTuple):
    """A checkout's response: its status and body, and whether it is the stored one of an earlier request."""

    status_code: int
    body: bytes
    replayed: bool = False


class _Opened(NamedTuple):
    cart: CartHead
    rows: list[LineRow]
    number: int
    at: datetime


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
    db: AsyncSession,
    cart_id: str,
    data: CheckoutIn,
    principal: Principal,
    settings: Settings,
    now: datetime,
    *,
    key: str,
    fingerprint: str,
) -> Answer:
    """Check the cart out under the Idempotency-Key `key` (scoped to the principal's API key), or
    answer the response stored for it. `fingerprint` is the request's (idempotency.request_fingerprint)."""
    try:
        return await _checkout(db, cart_id, data, principal, settings, now, key, fingerprint)
    except InsufficientStock:
        CHECKOUTS_REFUSED.inc()
        raise


async def _open(db: AsyncSession, cart_id: str, principal: Principal, key: str, fingerprint: str) -> _Opened | Answer:
    params = {
        "scope": idempotency.scope(principal.key_id, key),
        "principal": principal.key_id,
        "key": key,
        "cart_id": cart_id,
    }
    rows = (await db.execute(_OPEN, params)).all()
    first = rows[0]
    locked, request_hash, status_code, body, seen_version, number, at = first[:_HEAD]
    if not locked:
        raise idempotency.in_flight()
    cart = None if first[_HEAD] is None else CartHead(*first[_HEAD:_LINE])
    if request_hash is None and cart is not None and cart.version != seen_version:
        # Changed while this transaction waited for its lock: read again, now that nothing can change it.
        rows = (await db.execute(_OPEN, params)).all()
        first = rows[0]
        _, request_hash, status_code, body, seen_version, number, at = first[:_HEAD]
        cart = None if first[_HEAD] is None else CartHead(*first[_HEAD:_LINE])
    if request_hash is not None:
        idempotency.same_request(request_hash, fingerprint)
        return Answer(status_code, body, replayed=True)
    if cart is None:
        raise NotFound(f"No cart with id {cart_id!r}.")
    ensure_reach(principal, cart.customer_id, f"No cart with id {cart_id!r}.")
    if cart.status != "active":
        raise InvalidState(f"This cart is {cart.status}; start a new cart.", code="invalid_state")
    lines = [LineRow(*row[_LINE:]) for row in rows if row[_LINE] is not None]
    return _Opened(cart, lines, number, at)


async def _checkout(
    db: AsyncSession,
    cart_id: str,
    data: CheckoutIn,
    principal: Principal,
    settings: Settings,
    now: datetime,
    key: str,
    fingerprint: str,
) -> Answer:
    opened = await _open(db, cart_id, principal, key, fingerprint)
    if isinstance(opened, Answer):
        return opened
    cart = opened.cart
    priced = await price_rows(db, cart, opened.rows, now=now)
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

    # The order as it will be written, with the number and time the first statement drew: the
    # response is complete before anything is written.
    order_id = uuid.uuid4()
    order = NewOrder(
        id=order_id,
        number=opened.number,
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
        created_at=opened.at,
        updated_at=opened.at,
    )
    lines = [
        NewLine(
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
    # A store-bound key may only place orders its store handles.
    check_reach(principal, order, lines)
    # Promotion limits and single-use codes: counted in one conditional statement, or 409 and nothing
    # written. Before the order's statement: it locks the counted promotions, not the hot levels.
    await redemptions.redeem(
        db,
        order_id=order_id,
        customer_id=cart.customer_id,
        codes=cart.codes,
        promotion_ids=priced.counted_promotions,
        used_codes=priced.used_codes,
        now=now,
    )
    # Pickup and ship lines are reserved together, which locks all their levels in one order.
    holds, reserve = reserve_params(
        [
            Hold(pickup_store, line.sku, line.quantity, pickup_reference(order_id), hold_until)
            if line.pickup_store is not None and pickup_store is not None
            else Hold(ship_from[line.id], line.sku, line.quantity, ship_reference(order_id))
            for line in priced.lines
        ],
        source=f"{principal.role}:{principal.key_id}",
    )
    body = msgspec.json.encode(order_out(order, lines))
    params: dict[str, Any] = {
        **reserve,
        "id": order_id,
        "number": order.number,
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
        "now": opened.at,
        "line_nos": [line.line_no for line in lines],
        "line_skus": [line.sku for line in lines],
        "titles": [line.title for line in lines],
        "quantities": [line.quantity for line in lines],
        "unit_prices": [line.unit_price for line in lines],
        "discounts": [line.discount for line in lines],
        "line_totals": [line.line_total for line in lines],
        "promotion_ids": [line.promotion_id for line in lines],
        "fulfillments": [line.fulfillment for line in lines],
        "locations": [line.location for line in lines],
        "event": msgspec.json.encode(event_data(order)).decode(),
        "principal": principal.key_id,
        "key": key,
        "request_hash": fingerprint,
        "status_code": 201,
        "body": body,
    }
    note_events_written(await db.connection())
    raised = await driver_fetch(db, _PLACE, *[params[name] for name in _PLACE_PARAMETERS])
    # A short line rolls the order back with everything else (the caller's transaction).
    await refuse_short(db, holds, {(r["store_code"], r["sku"]) for r in raised})
    log.info(
        "order %s (#%s) placed from cart %s: %d lines, total %d %s",
        order.id,
        order.number,
        cart_id,
        len(lines),
        order.total,
        order.currency,
    )
    return Answer(201, body)
