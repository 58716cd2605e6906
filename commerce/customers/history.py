"""One purchase history across channels: web, mobile and in-store orders, and till sales linked to the
customer (by the loyalty id, email or phone they carried)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.customers.service import get_customer
from commerce.money import Money
from commerce.orders.schemas import OrderOut
from commerce.orders.service import customer_orders
from commerce.pos.schemas import PosPurchase
from commerce.pos.service import sales_for_customer


class PurchaseLine(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    quantity: int
    unit_price: Money | None


class Purchase(msgspec.Struct, frozen=True, kw_only=True):
    source: Annotated[Literal["order", "pos"], msgspec.Meta(description="An order placed with us, or a till sale")]
    id: Annotated[str, msgspec.Meta(description="The order id, or the till's event id")]
    channel: str
    store: Annotated[str | None, msgspec.Meta(description="Pickup store of an order, or the store of a till sale")]
    status: Annotated[str, msgspec.Meta(description="The order's status, or `sale` / `return` for a till event")]
    at: datetime
    lines: list[PurchaseLine]
    total: Money | None


# Where each source's previous page ended: (order created_at, order id, sale occurred_at, store, event id).
Position = tuple[datetime | None, uuid.UUID | None, datetime | None, str | None, str | None]


def _from_order(order: OrderOut) -> Purchase:
    return Purchase(
        source="order",
        id=str(order.id),
        channel=order.channel,
        store=order.pickup.store if order.pickup else None,
        status=order.status,
        at=order.created_at,
        lines=[PurchaseLine(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price) for line in order.lines],
        total=order.totals.total,
    )


def _from_sale(sale: PosPurchase) -> Purchase:
    return Purchase(
        source="pos",
        id=sale.event_id,
        channel="store",
        store=sale.store,
        status=sale.type,
        at=sale.occurred_at,
        lines=[PurchaseLine(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price) for line in sale.lines],
        total=sale.total,
    )


async def purchase_history(
    db: AsyncSession, customer_id: uuid.UUID, limit: int, position: Position | None
) -> tuple[list[Purchase], Position | None]:
    """Newest first, both sources merged; returns the page and where the next one starts."""
    await get_customer(db, customer_id)
    o_at, o_id, s_at, s_store, s_event = position or (None, None, None, None, None)
    orders = await customer_orders(db, customer_id, limit, (o_at, o_id) if o_at and o_id else None)
    after = (s_at, s_store, s_event) if s_at and s_store and s_event else None
    sales = await sales_for_customer(db, customer_id, limit, after)
    merged = sorted(
        [(o.created_at, "order", o) for o in orders] + [(s.occurred_at, "pos", s) for s in sales],
        key=lambda item: item[0],
        reverse=True,
    )[:limit]
    page: list[Purchase] = []
    for _, _, item in merged:
        if isinstance(item, OrderOut):
            page.append(_from_order(item))
            o_at, o_id = item.created_at, item.id
        else:
            page.append(_from_sale(item))
            s_at, s_store, s_event = item.occurred_at, item.store, item.event_id
    return page, ((o_at, o_id, s_at, s_store, s_event) if len(page) == limit else None)
