"""Orders from other systems: an order a web shop or marketplace already accepted and charged.

Imported exactly once per `(source, external_id)`: the pair is claimed with a transaction-scoped
advisory lock before anything is read, so concurrent deliveries of the same order queue up and the
later ones find the first one's order (the unique index on the pair backs this up). A repeat with
the same body returns that order; another body under the same pair is 422 `idempotency_conflict`.

The prices are the ones charged there. Stock is reserved at the named location as far as it goes and
never refused, because the sale already happened: what could not be reserved is recorded on the line
as `backordered` and announced by an `order.backordered` event, in the same transaction. Pickup
lines are held like checkout's (until the store's lead time plus the pickup hold), ship lines at the
named location until shipped or cancelled. The customer is matched by identifier or created, so the
order joins their history. Everything that can be refused is refused before anything is written.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.auth.schemas import Principal
from commerce.catalog import service as catalog
from commerce.customers import service as customers
from commerce.errors import Conflict, Unprocessable
from commerce.events import service as events
from commerce.inventory.rules import Hold
from commerce.inventory.service import reserve_available
from commerce.orders.models import Order, OrderLine
from commerce.orders.rules import check_import, import_fingerprint, line_amounts
from commerce.orders.rules import hold_until as pickup_hold_until
from commerce.orders.schemas import OrderImportIn, OrderOut
from commerce.orders.service import event_data, order_out, pickup_reference, ship_reference, with_lines
from commerce.settings import Settings
from commerce.stores import service as stores

log = logging.getLogger("commerce.orders.imports")

_CLAIM = text("SELECT pg_advisory_xact_lock(hashtextextended(:scope, 13))")


async def import_order(
    db: AsyncSession, data: OrderImportIn, principal: Principal, settings: Settings, now: datetime
) -> tuple[OrderOut, bool]:
    """Record the order once; returns it and whether this call created it."""
    check_import(data, now)
    fingerprint = import_fingerprint(data)
    await db.execute(_CLAIM, {"scope": f"order-import\x1f{data.source}\x1f{data.external_id}"})
    existing = await db.scalar(select(Order).where(Order.source == data.source, Order.external_id == data.external_id))
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise Unprocessable(
                f"Order {data.external_id!r} from {data.source!r} was already imported with another body "
                f"(order {existing.id}); an order is imported once and not changed by importing it again.",
                code="idempotency_conflict",
            )
        return (await with_lines(db, [existing]))[0], False

    titles, hold_until = await _check_references(db, data, settings, now)
    identifiers = _identifiers(data)
    customer_id = await customers.match_or_create(db, identifiers) if any(identifiers.values()) else None

    order_id = uuid.uuid4()
    source = f"{principal.role}:{principal.key_id}"
    holds = [
        Hold(
            line.fulfillment.store,
            line.sku,
            line.quantity,
            pickup_reference(order_id) if line.fulfillment.type == "pickup" else ship_reference(order_id),
            hold_until if line.fulfillment.type == "pickup" else None,
        )
        for line in data.lines
    ]
    held = await reserve_available(db, holds, reference=f"order:{order_id}", source=source)

    lines: list[OrderLine] = []
    for n, (line, hold) in enumerate(zip(data.lines, holds, strict=True), start=1):
        _, discount, line_total = line_amounts(line)
        lines.append(
            OrderLine(
                order_id=order_id,
                line_no=n,
                sku=line.sku,
                title=titles[line.sku],
                quantity=line.quantity,
                unit_price=line.unit_price.amount,
                discount=discount,
                line_total=line_total,
                promotion_id=None,
                fulfillment=line.fulfillment.type,
                location=line.fulfillment.store,
                backordered=line.quantity - held[(hold.store, hold.sku, hold.reference)],
            )
        )
    pickup_store = next((line.location for line in lines if line.fulfillment == "pickup"), None)
    order = await _insert_order(
        db, data, order_id, customer_id, identifiers, pickup_store, hold_until, fingerprint, lines
    )

    await events.record(db, "order.placed", event_data(order) | _origin(order))
    short = [line for line in lines if line.backordered > 0]
    if short:
        await events.record(
            db,
            "order.backordered",
            event_data(order)
            | _origin(order)
            | {
                "lines": [
                    {
                        "line_no": line.line_no,
                        "sku": line.sku,
                        "store": line.location,
                        "fulfillment": line.fulfillment,
                        "quantity": line.quantity,
                        "reserved": line.quantity - line.backordered,
                        "backordered": line.backordered,
                    }
                    for line in short
                ]
            },
        )
    log.info(
        "order %s (#%s) imported from %s %s: %d lines, %d backordered, total %d %s",
        order.id,
        order.number,
        data.source,
        data.external_id,
        len(lines),
        len(short),
        order.total,
        order.currency,
    )
    return order_out(order, lines), True


def _identifiers(data: OrderImportIn) -> dict[str, str | None]:
    """The customer identifiers the order names, normalised. The other system already took the order, so
    an identifier that does not normalise (a phone that is not a valid number) is dropped, and logged,
    rather than failing the import: the customer is matched or created by the others, and with none left
    the order is imported without a customer."""
    if data.customer is None:
        return {}
    given = {field: getattr(data.customer, field) for field in ("email", "phone", "loyalty_id")}
    if all(value is None for value in given.values()):
        raise Unprocessable("Give at least one of `email`, `phone`, `loyalty_id`.", code="identifier_required")
    values, ignored = customers.usable(given)
    for reason in ignored:
        log.warning("order %s from %s: customer %s", data.external_id, data.source, reason)
    return values


def _origin(order: Order) -> dict[str, Any]:
    return {"source": order.source, "external_id": order.external_id}


async def _check_references(
    db: AsyncSession, data: OrderImportIn, settings: Settings, now: datetime
) -> tuple[dict[str, str | None], datetime | None]:
    """Refuse unknown stores and SKUs (every one named) and pickup where it is not offered; return
    the SKUs' titles and the pickup hold's end when the order has pickup lines."""
    leads = await stores.pickup_leads(db, [line.fulfillment.store for line in data.lines])
    _refuse_unknown(
        [(i, line.fulfillment.store) for i, line in enumerate(data.lines) if line.fulfillment.store not in leads],
        "fulfillment.store",
        "unknown_store",
        "No store with code",
    )
    titles = await catalog.variant_titles(db, [line.sku for line in data.lines])
    _refuse_unknown(
        [(i, line.sku) for i, line in enumerate(data.lines) if line.sku not in titles],
        "sku",
        "unknown_sku",
        "No variant with SKU",
    )
    pickup_store = next((line.fulfillment.store for line in data.lines if line.fulfillment.type == "pickup"), None)
    if pickup_store is None:
        return titles, None
    lead = leads[pickup_store]
    if lead is None:
        raise Unprocessable(
            f"Store {pickup_store!r} does not offer pickup; import the lines as shipped from it instead.",
            code="pickup_unavailable",
        )
    return titles, pickup_hold_until(now, lead, settings.pickup_hold_minutes)


def _refuse_unknown(bad: list[tuple[int, str]], field: str, code: str, what: str) -> None:
    if bad:
        names = ", ".join(sorted({repr(value) for _, value in bad}))
        raise Unprocessable(
            f"{what} {names}: nothing was imported.",
            code=code,
            errors=[{"key": f"lines[{i}].{field}", "message": f"{what} {value!r}"} for i, value in bad],
        )


async def _insert_order(
    db: AsyncSession,
    data: OrderImportIn,
    order_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    identifiers: dict[str, str | None],
    pickup_store: str | None,
    hold_until: datetime | None,
    fingerprint: str,
    lines: list[OrderLine],
) -> Order:
    subtotal = sum(line_amounts(line)[0] for line in data.lines)
    discount_total = sum(line.discount for line in lines)
    # The order keeps the contact phone it was taken with: in E.164 when it is a valid number, else as
    # given (as checkout keeps one) when it fits the column.
    raw_phone = data.customer.phone.strip() if data.customer is not None and data.customer.phone else None
    if raw_phone is not None and len(raw_phone) > Order.phone.type.length:
        raw_phone = None
    values = {
        "id": order_id,
        "cart_id": None,
        "customer_id": customer_id,
        "channel": data.channel,
        "status": "placed",
        "currency": data.currency,
        "subtotal": subtotal,
        "discount_total": discount_total,
        "total": subtotal - discount_total,
        "email": identifiers.get("email"),
        "phone": identifiers.get("phone") or raw_phone,
        "pickup_store": pickup_store,
        "hold_until": hold_until,
        "shipped_at": None,
        "source": data.source,
        "external_id": data.external_id,
        "request_hash": fingerprint,
        # In UTC, as the database gives it back: a repeat's response is the first one's byte for byte.
        "placed_at": data.placed_at.astimezone(UTC),
    }
    # The advisory lock makes a conflict here impossible for imports; the unique index still has the
    # last word, and a conflict means another writer got the pair first: retrying finds its order.
    stmt = (
        pg_insert(Order)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[Order.source, Order.external_id], index_where=Order.source.is_not(None))
        .returning(Order.number, Order.created_at, Order.updated_at)
    )
    inserted = (await db.execute(stmt)).first()
    if inserted is None:
        raise Conflict(
            f"Order {data.external_id!r} from {data.source!r} is being imported by another request; retry.",
            code="request_in_flight",
        )
    await db.execute(
        insert(OrderLine),
        [{column: getattr(line, column) for column in _LINE_COLUMNS} for line in lines],
    )
    order = Order(**values)
    order.number, order.created_at, order.updated_at = inserted
    return order


_LINE_COLUMNS = (
    "order_id",
    "line_no",
    "sku",
    "title",
    "quantity",
    "unit_price",
    "discount",
    "line_total",
    "promotion_id",
    "fulfillment",
    "location",
    "backordered",
)


async def find_imported(
    db: AsyncSession, source: str, external_id: str | None, limit: int, before_number: int | None
) -> list[OrderOut]:
    """Orders imported from `source`: the one with `external_id` when given, else all of them, newest
    first (keyset on the order number)."""
    stmt = select(Order).where(Order.source == source).order_by(Order.number.desc()).limit(limit)
    if external_id is not None:
        stmt = stmt.where(Order.external_id == external_id)
    if before_number is not None:
        stmt = stmt.where(Order.number < before_number)
    return await with_lines(db, list(await db.scalars(stmt)))
