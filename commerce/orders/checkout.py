"""Checkout: a priced cart becomes an order with every line reserved, in one transaction, or nothing.

Pickup lines are held at their store until `hold_until` (the store's pickup lead time plus the
configured hold). Ship lines are routed by `inventory.rules.ship_source`, the same rule carts use to
show availability: a warehouse before a store, the nearest to `ship_to` when given, otherwise the
one with most available; the whole line leaves from one location. Any short line is 409
`insufficient_stock` listing every short line, and nothing is written for that order: no order, no
reservation, no ledger entry, the cart still open.

Checkout is the hot path of a flash sale. Checkouts that arrive while others are in the database are
placed together (orders/batching.py), each order still all or nothing, in one transaction of a
fixed handful of statements however many orders it places:

1. `_OPEN`: for every request, claim its Idempotency-Key, read a stored response, lock the cart and
   read its priced lines (with titles, the pickup store's lead time and stock), draw the order's
   number; with the transaction's time;
2. the promotions that could price every order's lines, in one statement (promotions.live); and,
   only for an order alone in its transaction, the counting of promotions with a limit or
   single-use codes (promotions.redemptions);
3. `_LOCK`: the levels every order reserves, locked in (store, sku) order and read as locked; each
   order is granted in arrival order while all its lines fit what is left (the others are 409 with
   what was available to them). An order alone in its transaction skips this: the reservation's
   own condition in `_PLACE` decides, and a short line rolls it back;
4. `_PLACE`: every granted order, its lines, its closed cart, `order.placed`, its stored response
   and its reservations (levels, holds, ledger, `inventory.changed`), then the commit.

A hot level is locked once per transaction, from `_LOCK` to the commit, for all the orders placed
on it, instead of once per order. An order that cannot be decided among others is placed again
alone (its outcome is None): one that counts limited promotions or codes, one whose cart another
transaction holds, one whose ship line was routed to a location the orders ahead of it emptied. Each response is built before `_PLACE` (the number and time were
drawn by `_OPEN`), so the stored response goes with its order. `_LOCK` and `_PLACE` go to the driver
connection directly: SQLAlchemy's statement handling was a measurable share of a checkout's CPU.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce import idempotency
from commerce.auth.guards import ensure_reach
from commerce.auth.schemas import Principal
from commerce.carts.pricing import CartHead, LineRow, PricedLine, cart_lines_sql, price_rows, pricing_of
from commerce.db import driver_fetch, driver_sql
from commerce.errors import DomainError, InsufficientStock, InvalidState, NotFound, Unprocessable
from commerce.events.relay import note_events_written
from commerce.inventory.rules import Hold, available, holds_in_lock_order, ship_source
from commerce.inventory.service import refuse_short, reserve_ctes, ship_candidates
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
from commerce.promotions import live as live_promotions
from commerce.promotions import redemptions
from commerce.settings import Settings

log = logging.getLogger("commerce.checkout")

_CART_COLUMNS = ", ".join(f"c.{name}" for name in CartHead._fields)


# The first statement, for every request of the transaction (`n` its place in arrival order). The
# advisory lock claims the key (nothing else is locked or read for a request whose key another
# transaction holds); the cart is locked only when no response is stored, carts in id order (two
# transactions never wait on each other's carts crosswise). `seen` is the cart's version in the
# statement's snapshot and `cart` the version as locked: they differ when another transaction changed
# the cart (or checked it out) while this one waited for its lock, and then the lines and the stored
# response read with the snapshot may be stale, so the caller runs the statement again for those
# requests (its snapshot then comes after both locks are held). Each line row repeats the head
# columns; a request whose cart has no lines (or is not locked) still answers one row.
def _open_sql(lock: str) -> str:
    return f"""
WITH req AS MATERIALIZED (
    SELECT * FROM unnest(CAST(:scopes AS text[]), CAST(:principals AS varchar[]), CAST(:keys AS varchar[]),
        CAST(:cart_ids AS varchar[])) WITH ORDINALITY AS r(scope, principal, key, cart_id, n)
), claim AS MATERIALIZED (
    SELECT n, {idempotency.CLAIM.replace(":scope", "scope")} AS locked FROM req
), stored AS MATERIALIZED (
    SELECT req.n, s.request_hash, s.status_code, s.body
    FROM req JOIN claim USING (n) JOIN idempotency_keys s ON s.principal = req.principal AND s.key = req.key
    WHERE claim.locked
), seen AS MATERIALIZED (
    SELECT req.n, c.version FROM req JOIN carts c ON c.id = req.cart_id
), cart AS MATERIALIZED (
    SELECT req.n, {_CART_COLUMNS} FROM req JOIN claim USING (n) JOIN carts c ON c.id = req.cart_id
    WHERE claim.locked AND NOT EXISTS (SELECT FROM stored WHERE stored.n = req.n)
    ORDER BY c.id {lock}
), drawn AS MATERIALIZED (
    SELECT cart.n, nextval(pg_get_serial_sequence('orders', 'number')) AS number
    FROM cart JOIN seen USING (n) WHERE cart.status = 'active' AND cart.version = seen.version
    ORDER BY cart.n
)
SELECT req.n, claim.locked, stored.request_hash, stored.status_code, stored.body, seen.version AS seen_version,
    drawn.number, now() AS at, {", ".join(f"cart.{name}" for name in CartHead._fields)}, l.*
FROM req JOIN claim USING (n) LEFT JOIN stored USING (n) LEFT JOIN seen USING (n) LEFT JOIN cart USING (n)
    LEFT JOIN drawn USING (n)
    LEFT JOIN LATERAL ({cart_lines_sql("cart.id")}) l ON drawn.number IS NOT NULL
ORDER BY req.n, l.id
"""


# A transaction of one checkout waits for its cart's lock; one of several skips a cart locked by
# another transaction (its checkout is placed again alone) rather than hold up the others.
_OPEN, _OPEN_SKIPPING = text(_open_sql("FOR UPDATE OF c")), text(_open_sql("FOR UPDATE OF c SKIP LOCKED"))
_HEAD = 8  # columns before the cart's
_LINE = _HEAD + len(CartHead._fields)  # columns before the line's

# The levels the granted orders will reserve, locked in (store, sku) order and read as locked (FOR
# UPDATE reads the newest version of a row another transaction changed meanwhile).
_LOCK, _LOCK_PARAMETERS = driver_sql(
    """
SELECT il.store_code, il.sku, il.on_hand, il.reserved, il.safety_stock
FROM inventory_levels il
JOIN unnest(CAST(:stores AS varchar[]), CAST(:skus AS varchar[])) AS r(store_code, sku) USING (store_code, sku)
ORDER BY il.store_code, il.sku FOR UPDATE OF il
"""
)

# Every granted order (orders, lines, carts, events and stored responses from parallel arrays) and
# their reservations in one statement. The levels are locked already (`_LOCK`: locking them again is
# free) and every order fits; the reservation's condition still guards them, and its final SELECT
# names the levels raised: one missing means the grant was wrong, and the caller rolls back.
_PLACE, _PLACE_PARAMETERS = driver_sql(
    f"""
WITH o AS (
    INSERT INTO orders (id, number, cart_id, customer_id, channel, status, currency, subtotal, discount_total, total,
                        email, phone, pickup_store, hold_until, placed_at, created_at, updated_at)
    OVERRIDING SYSTEM VALUE
    SELECT x.id, x.number, x.cart_id, x.customer_id, x.channel, 'placed', x.currency, x.subtotal, x.discount_total,
        x.total, x.email, x.phone, x.pickup_store, x.hold_until, :now, :now, :now
    FROM unnest(CAST(:ids AS uuid[]), CAST(:numbers AS bigint[]), CAST(:cart_ids AS varchar[]),
        CAST(:customer_ids AS uuid[]), CAST(:channels AS varchar[]), CAST(:currencies AS varchar[]),
        CAST(:subtotals AS bigint[]), CAST(:discount_totals AS bigint[]), CAST(:totals AS bigint[]),
        CAST(:emails AS varchar[]), CAST(:phones AS varchar[]), CAST(:pickup_stores AS varchar[]),
        CAST(:hold_untils AS timestamptz[]))
        AS x(id, number, cart_id, customer_id, channel, currency, subtotal, discount_total, total, email, phone,
             pickup_store, hold_until)
    RETURNING 1
), lines AS (
    INSERT INTO order_lines (order_id, line_no, sku, title, quantity, unit_price, discount, line_total,
                             promotion_id, fulfillment, location)
    SELECT * FROM unnest(
        CAST(:line_orders AS uuid[]), CAST(:line_nos AS integer[]), CAST(:line_skus AS varchar[]),
        CAST(:titles AS varchar[]), CAST(:quantities AS integer[]), CAST(:unit_prices AS bigint[]),
        CAST(:discounts AS bigint[]), CAST(:line_totals AS bigint[]), CAST(:promotion_ids AS varchar[]),
        CAST(:fulfillments AS varchar[]), CAST(:locations AS varchar[]))
    RETURNING 1
), cart AS (
    UPDATE carts SET status = 'checked_out', version = version + 1, updated_at = :now
    WHERE id = ANY(CAST(:cart_ids AS varchar[])) RETURNING 1
), placed_event AS (
    INSERT INTO events (type, data)
    SELECT 'order.placed', CAST(e.data AS jsonb) FROM unnest(CAST(:events AS text[])) WITH ORDINALITY AS e(data, n)
    ORDER BY e.n
    RETURNING 1
), response AS (
    INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body)
    SELECT x.principal, x.key, x.request_hash, 201, x.body
    FROM unnest(CAST(:principals AS varchar[]), CAST(:keys AS varchar[]), CAST(:request_hashes AS varchar[]),
        CAST(:bodies AS bytea[])) AS x(principal, key, request_hash, body)
    RETURNING 1
), {reserve_ctes()}"""
)


class Answer(NamedTuple):
    """A checkout's response: its status and body, and whether it is the stored one of an earlier request."""

    status_code: int
    body: bytes
    replayed: bool = False
    # For the log once committed: what was placed.
    placed: str = ""


class CheckoutRequest(NamedTuple):
    """One checkout as the route received it; `fingerprint` is idempotency.request_fingerprint's."""

    cart_id: str
    data: CheckoutIn
    principal: Principal
    now: datetime
    key: str
    fingerprint: str

    @property
    def scope(self) -> str:
        return idempotency.scope(self.principal.key_id, self.key)


# What each request of a transaction comes to: its answer, the error it is answered with, or None: it
# must be placed again in a transaction of its own (an order that counts limited promotions or
# single-use codes shares its transaction with no other order, see `_prepare`).
Outcome = Answer | DomainError | None


class _Opened(NamedTuple):
    cart: CartHead
    rows: list[LineRow]
    number: int
    at: datetime


@dataclass(slots=True)
class _Prepared:
    """An order ready to write: the request it answers, the order and its holds, the response."""

    n: int
    request: CheckoutRequest
    order: NewOrder
    lines: list[NewLine]
    holds: list[Hold]
    body: bytes


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


async def place(db: AsyncSession, requests: Sequence[CheckoutRequest], settings: Settings) -> list[Outcome]:
    """Check out every request in the session's transaction, each order all or nothing. Returns each
    request's outcome, in order. The caller commits, or rolls back if this raises; with one request,
    an error outcome is raised instead (its promotions may have been counted: the rollback undoes
    that), with several, an error outcome wrote nothing. Two requests must not name the same cart or
    the same key."""
    outcomes: list[Outcome] = [None] * len(requests)
    opened = await _open(db, requests, outcomes)
    # The promotions that could price every opened cart's lines, for all of them in one statement.
    priced = [n for n in sorted(opened) if opened[n].rows]
    found = await live_promotions.candidates_for(
        db, [pricing_of(opened[n].cart, opened[n].rows) for n in priced], now=requests[0].now
    )
    promotions = dict(zip(priced, found, strict=True))
    prepared: list[_Prepared] = []
    for n, request in enumerate(requests):
        if n not in opened:
            continue
        try:
            item = await _prepare(db, n, request, opened[n], settings, promotions.get(n), alone=len(requests) == 1)
        except DomainError as exc:
            outcomes[n] = exc
            continue
        if item is not None:
            prepared.append(item)
    if len(requests) == 1 and prepared:
        # Alone in its transaction: the reservation's own condition decides, in the order's statement
        # (one round trip less); a short line is its outcome, raised below: everything rolls back.
        granted = prepared
        try:
            await refuse_short(db, granted[0].holds, await _write(db, granted, granted[0].order.created_at))
        except InsufficientStock as exc:
            outcomes[granted[0].n] = exc
            granted = []
    else:
        granted = await _grant(db, prepared, outcomes)
        if granted and len(await _write(db, granted, granted[0].order.created_at)) != len(_levels(granted)):
            # The levels were locked and every order fitted them: a bug, not a shopper's problem.
            raise RuntimeError("checkout: a granted reservation did not fit its locked level")
    for item in granted:
        order = item.order
        outcomes[item.n] = Answer(
            201,
            item.body,
            placed=f"order {order.id} (#{order.number}) placed from cart {order.cart_id}: {len(item.lines)} lines,"
            f" total {order.total} {order.currency}",
        )
    if len(requests) == 1 and isinstance(outcomes[0], DomainError):
        raise outcomes[0]
    return outcomes


async def _open(db: AsyncSession, requests: Sequence[CheckoutRequest], outcomes: list[Outcome]) -> dict[int, _Opened]:
    """The first statement: each request's stored answer or error goes to `outcomes`; the others'
    carts and lines are returned by request index."""
    rows = await _open_rows(db, requests, range(len(requests)))
    stale = [n for n, group in rows.items() if _is_stale(group[0])]
    if stale:
        # Changed while this transaction waited for the cart's lock: read again, now that nothing can change it.
        rows.update(await _open_rows(db, requests, stale))
    opened: dict[int, _Opened] = {}
    for n, group in rows.items():
        if _is_skipped(group[0]):
            continue  # its outcome stays None: placed again alone
        try:
            found = _opened(requests[n], group)
        except DomainError as exc:
            outcomes[n] = exc
            continue
        if isinstance(found, Answer):
            outcomes[n] = found
        else:
            opened[n] = found
    return opened


async def _open_rows(
    db: AsyncSession, requests: Sequence[CheckoutRequest], which: Sequence[int]
) -> dict[int, list[Any]]:
    params = {
        "scopes": [requests[n].scope for n in which],
        "principals": [requests[n].principal.key_id for n in which],
        "keys": [requests[n].key for n in which],
        "cart_ids": [requests[n].cart_id for n in which],
    }
    groups: dict[int, list[Any]] = {}
    for row in (await db.execute(_OPEN if len(requests) == 1 else _OPEN_SKIPPING, params)).all():
        groups.setdefault(which[row[0] - 1], []).append(row)
    return groups


def _is_skipped(first: Any) -> bool:
    """The cart is there and the key claimed with no response stored, but the cart was not locked
    (SKIP LOCKED: another transaction holds it)."""
    locked, request_hash, seen_version = first[1], first[2], first[5]
    return bool(locked) and request_hash is None and seen_version is not None and first[_HEAD] is None


def _is_stale(first: Any) -> bool:
    locked, request_hash, seen_version = first[1], first[2], first[5]
    cart_version = first[_HEAD + CartHead._fields.index("version")]
    return bool(locked) and request_hash is None and first[_HEAD] is not None and cart_version != seen_version


def _opened(request: CheckoutRequest, rows: list[Any]) -> _Opened | Answer:
    """The opened cart, or the response stored for the key, or the DomainError the request is answered with."""
    first = rows[0]
    _, locked, request_hash, status_code, body, _, number, at = first[:_HEAD]
    if not locked:
        raise idempotency.in_flight()
    if request_hash is not None:
        idempotency.same_request(request_hash, request.fingerprint)
        return Answer(status_code, body, replayed=True)
    cart_id = request.cart_id
    if first[_HEAD] is None:
        raise NotFound(f"No cart with id {cart_id!r}.")
    cart = CartHead(*first[_HEAD:_LINE])
    ensure_reach(request.principal, cart.customer_id, f"No cart with id {cart_id!r}.")
    if cart.status != "active":
        raise InvalidState(f"This cart is {cart.status}; start a new cart.", code="invalid_state")
    lines = [LineRow(*row[_LINE:]) for row in rows if row[_LINE] is not None]
    return _Opened(cart, lines, number, at)


async def _prepare(
    db: AsyncSession,
    n: int,
    request: CheckoutRequest,
    opened: _Opened,
    settings: Settings,
    promotions: live_promotions.Candidates | None,
    *,
    alone: bool,
) -> _Prepared | None:
    """Price, check and route one opened order, and count its limited promotions: the order as it
    will be written, or the DomainError it is refused with (nothing of it written), or None when it
    counts promotions and does not have the transaction to itself (`alone`): place it again alone."""
    cart, now = opened.cart, request.now
    priced = await price_rows(db, cart, opened.rows, now=now, found=promotions)
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

    data = request.data
    ship_to = (data.ship_to.latitude, data.ship_to.longitude) if data.ship_to else None
    ship_from, short = await route_ship_lines(db, ship_lines, ship_to)
    # Pickup lines short by the availability read with the lines: refused before anything is locked
    # (a sold-out flash sale answers its late shoppers without touching the hot row). Every short
    # line is reported, so the shopper can fix the whole cart at once. Lines that pass are checked
    # again under lock (`_grant`).
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
        cart_id=request.cart_id,
        # A signed-in shopper's order joins their history even from a cart filled before signing in.
        customer_id=cart.customer_id or request.principal.customer_id,
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
            line_no=number,
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
        for number, line in enumerate(priced.lines, start=1)
    ]
    # A store-bound key may only place orders its store handles.
    check_reach(request.principal, order, lines)
    # Pickup and ship lines are reserved together, which locks all their levels in one order.
    holds = holds_in_lock_order(
        Hold(pickup_store, line.sku, line.quantity, pickup_reference(order_id), hold_until)
        if line.pickup_store is not None and pickup_store is not None
        else Hold(ship_from[line.id], line.sku, line.quantity, ship_reference(order_id))
        for line in priced.lines
    )
    # Promotion limits and single-use codes: counted in one conditional statement, or 409 and the
    # transaction rolled back. Only in a transaction of its own: a count written for an order then
    # refused its stock must be rolled back with it, and transactions that count promotions one
    # order after another could lock them crosswise. Before the levels are locked: it locks the
    # counted promotions, not the hot levels.
    if priced.counted_promotions or cart.codes:
        if not alone:
            return None
        await redemptions.redeem(
            db,
            order_id=order_id,
            customer_id=cart.customer_id,
            codes=cart.codes,
            promotion_ids=priced.counted_promotions,
            used_codes=priced.used_codes,
            now=now,
        )
    return _Prepared(n, request, order, lines, holds, msgspec.json.encode(order_out(order, lines)))


async def _grant(db: AsyncSession, prepared: list[_Prepared], outcomes: list[Outcome]) -> list[_Prepared]:
    """Lock every level the orders reserve and grant them in arrival order while all of an order's
    lines fit what is left; each refused order's outcome is 409 with what was left for it."""
    if not prepared:
        return []
    levels = sorted({(h.store, h.sku) for item in prepared for h in item.holds})
    rows = await driver_fetch(db, _LOCK, [store for store, _ in levels], [sku for _, sku in levels])
    left = {(r["store_code"], r["sku"]): available(r["on_hand"], r["reserved"], r["safety_stock"]) for r in rows}
    granted: list[_Prepared] = []
    for item in prepared:
        wanted: dict[tuple[str, str], int] = {}
        for h in item.holds:
            wanted[(h.store, h.sku)] = wanted.get((h.store, h.sku), 0) + h.quantity
        short = [level for level, qty in wanted.items() if left.get(level, 0) < qty]
        if short and {(line.location, line.sku) for line in item.lines if line.fulfillment == "ship"} & set(short):
            # A ship line was routed by what was available before the orders ahead of it took their
            # share: placed again alone, it is routed afresh (another location may have it).
            continue
        if short:
            outcomes[item.n] = InsufficientStock(
                [
                    {
                        "sku": sku,
                        "store": store,
                        "requested": wanted[(store, sku)],
                        "available": left.get((store, sku), 0),
                    }
                    for store, sku in sorted(short)
                ]
            )
            continue
        for level, qty in wanted.items():
            left[level] -= qty
        granted.append(item)
    return granted


def _levels(granted: list[_Prepared]) -> set[tuple[str, str]]:
    return {(h.store, h.sku) for item in granted for h in item.holds}


async def _write(db: AsyncSession, granted: list[_Prepared], at: datetime) -> set[tuple[str, str]]:
    """The last statement before the commit: every granted order and its reservations. Returns the
    levels raised (one missing: it was short, and nothing may be committed)."""
    orders = [item.order for item in granted]
    lines = [(item.order.id, line) for item in granted for line in item.lines]
    holds = [(item.request.principal.source, h) for item in granted for h in item.holds]
    params: dict[str, Any] = {
        "now": at,
        "ids": [o.id for o in orders],
        "numbers": [o.number for o in orders],
        "cart_ids": [o.cart_id for o in orders],
        "customer_ids": [o.customer_id for o in orders],
        "channels": [o.channel for o in orders],
        "currencies": [o.currency for o in orders],
        "subtotals": [o.subtotal for o in orders],
        "discount_totals": [o.discount_total for o in orders],
        "totals": [o.total for o in orders],
        "emails": [o.email for o in orders],
        "phones": [o.phone for o in orders],
        "pickup_stores": [o.pickup_store for o in orders],
        "hold_untils": [o.hold_until for o in orders],
        "line_orders": [order_id for order_id, _ in lines],
        "line_nos": [line.line_no for _, line in lines],
        "line_skus": [line.sku for _, line in lines],
        "titles": [line.title for _, line in lines],
        "quantities": [line.quantity for _, line in lines],
        "unit_prices": [line.unit_price for _, line in lines],
        "discounts": [line.discount for _, line in lines],
        "line_totals": [line.line_total for _, line in lines],
        "promotion_ids": [line.promotion_id for _, line in lines],
        "fulfillments": [line.fulfillment for _, line in lines],
        "locations": [line.location for _, line in lines],
        "events": [msgspec.json.encode(event_data(o)).decode() for o in orders],
        "principals": [item.request.principal.key_id for item in granted],
        "keys": [item.request.key for item in granted],
        "request_hashes": [item.request.fingerprint for item in granted],
        "bodies": [item.body for item in granted],
        "stores": [h.store for _, h in holds],
        "skus": [h.sku for _, h in holds],
        "qtys": [h.quantity for _, h in holds],
        "references": [h.reference for _, h in holds],
        "expires": [h.expires_at for _, h in holds],
        "sources": [source for source, _ in holds],
        "reason": "reserve",
    }
    note_events_written(await db.connection())
    return {
        (r["store_code"], r["sku"])
        for r in await driver_fetch(db, _PLACE, *[params[name] for name in _PLACE_PARAMETERS])
    }
