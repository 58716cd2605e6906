"""Many checkouts at once on the same and overlapping SKUs: exactly the stock is reserved, no deadlock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from commerce.db import make_engine, make_sessionmaker
from commerce.errors import InsufficientStock
from commerce.inventory import service
from commerce.inventory.rules import StockLine
from tests.conftest import Api
from tests.stock import assert_conserved, stock

SESSIONS = 40


def lines_for(i: int) -> list[StockLine]:
    """Every session wants one A/X and one A/Y; every other one also a B/Z. Half list them in reverse
    lock order, so only the service's (store, sku) ordering keeps them from deadlocking."""
    lines = [StockLine("A", "X", 1), StockLine("A", "Y", 1)]
    if i % 2:
        lines.insert(0, StockLine("B", "Z", 1))
    return lines[::-1] if i % 4 in (0, 1) else lines


@pytest.mark.slow
async def test_flash_sale_reserves_exactly_the_stock(api: Api, app: Any, database_url: str, db_conn: Any) -> None:
    await api.store("A")
    await api.store("B")
    await api.product("p", ["X", "Y", "Z"])
    # A/Y is the scarce one: 15 units for 40 buyers.
    await stock(app, [("A", "X", 30), ("A", "Y", 15), ("B", "Z", 100)])

    # Connections of their own (not the app's pool), all opened before anyone starts.
    engine = make_engine(database_url, null_pool=True)
    sessionmaker = make_sessionmaker(engine)
    start = asyncio.Barrier(SESSIONS + 1)

    async def hold_the_scarce_level() -> None:
        """Keep A/Y locked while the checkouts start, so they queue up on it holding whatever they
        locked first: with locks taken in any other order than (store, sku), that is a deadlock."""
        async with sessionmaker() as db, db.begin():
            await db.execute(text("SELECT 1 FROM inventory_levels WHERE store_code = 'A' AND sku = 'Y' FOR UPDATE"))
            await start.wait()
            await asyncio.sleep(0.3)

    async def checkout(i: int) -> bool:
        async with sessionmaker() as db:
            try:
                async with db.begin():
                    await db.execute(text("SELECT 1"))
                    await start.wait()
                    await service.reserve_lines(db, lines_for(i), reference=f"order-{i}", source="test")
                    # Hold the locks a moment so the others pile up behind them.
                    await asyncio.sleep(0.01)
            except InsufficientStock:
                return False
        return True

    try:
        # A session that fails before the barrier would leave the others waiting: bound the wait.
        async with asyncio.timeout(60):
            *outcomes, _ = await asyncio.gather(*(checkout(i) for i in range(SESSIONS)), hold_the_scarce_level())
    finally:
        await engine.dispose()

    # Any other error (a deadlock, a check violation) would have propagated out of gather.
    won = [i for i, ok in enumerate(outcomes) if ok]
    assert len(won) == 15
    levels = {
        (r["store_code"], r["sku"]): (r["on_hand"], r["reserved"])
        for r in await db_conn.fetch("SELECT store_code, sku, on_hand, reserved FROM inventory_levels")
    }
    assert levels[("A", "Y")] == (15, 15)
    assert levels[("A", "X")] == (30, 15)
    assert levels[("B", "Z")] == (100, sum(1 for i in won if i % 2))
    assert await db_conn.fetchval("SELECT count(DISTINCT reference) FROM reservations") == 15
    assert await db_conn.fetchval("SELECT count(*) FROM inventory_levels WHERE on_hand - reserved < 0") == 0
    await assert_conserved(db_conn)
