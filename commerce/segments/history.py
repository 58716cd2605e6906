"""Every purchase of some customers, read for their profiles: orders (web, mobile, store, imported;
not cancelled or expired) and till sales and returns linked to them (pos_events.customer_id).

A read model over the orders and POS tables, in two statements for any number of customers. It reads
the same rows as the purchase history (customers/history.py) does page by page.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.segments.rules import Purchase, PurchaseLine

_ORDERS = text(
    """
SELECT o.customer_id, o.id, o.channel, o.status, o.placed_at, o.currency, o.total, o.pickup_store,
       l.sku, l.quantity, p.category
FROM orders o
JOIN order_lines l ON l.order_id = o.id
LEFT JOIN variants v ON v.sku = l.sku
LEFT JOIN products p ON p.id = v.product_id
WHERE o.customer_id = ANY(CAST(:ids AS uuid[])) AND o.status NOT IN ('cancelled', 'expired')
ORDER BY o.customer_id, o.id, l.line_no
"""
)
_TILL = text(
    """
SELECT e.customer_id, e.store_code, e.event_id, e.type, e.occurred_at, l.sku, l.quantity, l.unit_price,
       p.category
FROM pos_events e
CROSS JOIN LATERAL jsonb_to_recordset(e.lines) AS l(sku text, quantity integer, unit_price jsonb)
LEFT JOIN variants v ON v.sku = l.sku
LEFT JOIN products p ON p.id = v.product_id
WHERE e.customer_id = ANY(CAST(:ids AS uuid[])) AND e.type IN ('sale', 'return')
ORDER BY e.customer_id, e.store_code, e.event_id
"""
)


async def purchases_of(db: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Purchase]]:
    """Each customer's purchases (customers without any are absent)."""
    ids = list(customer_ids)
    orders: dict[tuple[uuid.UUID, Any], list[Any]] = defaultdict(list)
    for row in await db.execute(_ORDERS, {"ids": ids}):
        orders[(row.customer_id, row.id)].append(row)
    sales: dict[tuple[uuid.UUID, str, str], list[Any]] = defaultdict(list)
    for row in await db.execute(_TILL, {"ids": ids}):
        sales[(row.customer_id, row.store_code, row.event_id)].append(row)

    out: dict[uuid.UUID, list[Purchase]] = defaultdict(list)
    for (customer_id, _), rows in orders.items():
        o = rows[0]
        out[customer_id].append(
            Purchase(
                kind="order",
                channel=o.channel,
                # When the order was placed (an imported order: in the other system).
                at=o.placed_at,
                # Collecting a pickup order is a visit to its store.
                store=o.pickup_store if o.status == "collected" else None,
                currency=o.currency,
                amount=o.total,
                lines=tuple(PurchaseLine(r.sku, r.category, r.quantity) for r in rows),
            )
        )
    for (customer_id, store, _), rows in sales.items():
        e = rows[0]
        priced = [(r.unit_price, r.quantity) for r in rows if r.unit_price]
        currency = priced[0][0]["currency"] if priced else None
        amount = sum(price["amount"] * qty for price, qty in priced if price["currency"] == currency)
        out[customer_id].append(
            Purchase(
                kind="return" if e.type == "return" else "sale",
                channel="store",
                at=e.occurred_at,
                store=store,
                currency=currency,
                amount=amount,
                lines=tuple(PurchaseLine(r.sku, r.category, r.quantity) for r in rows),
            )
        )
    return out
