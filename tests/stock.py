"""Stock checks shared by the inventory tests."""

from __future__ import annotations

from typing import Any

import asyncpg

from commerce.inventory import service
from commerce.inventory.rules import StockLine


async def stock(app: Any, rows: list[tuple[str, str, int]]) -> None:
    """Set on_hand for (store, sku, units) rows through the service, as a count would."""
    async with app.state.sessionmaker() as db, db.begin():
        await service.set_on_hand_many(db, [StockLine(*r) for r in rows], reason="correction", source="test")


async def assert_conserved(db_conn: asyncpg.Connection) -> None:
    """Every level is explained by its ledger, and its reserved units by its active reservations; every
    ledger row belongs to a level."""
    bad = await db_conn.fetch(
        """
        SELECT l.store_code, l.sku, l.on_hand, l.reserved, g.d, g.r, a.q FROM inventory_levels l
        LEFT JOIN (SELECT store_code, sku, sum(delta) d, sum(reserved_delta) r FROM inventory_ledger GROUP BY 1, 2) g
          USING (store_code, sku)
        LEFT JOIN (SELECT store_code, sku, sum(quantity) q FROM reservations WHERE status = 'active' GROUP BY 1, 2) a
          USING (store_code, sku)
        WHERE l.on_hand <> coalesce(g.d, 0) OR l.reserved <> coalesce(g.r, 0) OR l.reserved <> coalesce(a.q, 0)
        """
    )
    assert [dict(r) for r in bad] == []
    orphans = await db_conn.fetch(
        "SELECT g.store_code, g.sku FROM inventory_ledger g"
        " LEFT JOIN inventory_levels l USING (store_code, sku) WHERE l.sku IS NULL LIMIT 5"
    )
    assert [dict(r) for r in orphans] == []
