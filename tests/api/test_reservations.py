"""The reservation service, called as checkout and pickup call it."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.errors import InsufficientStock
from commerce.inventory import service
from commerce.inventory.rules import StockLine
from tests.conftest import Api
from tests.stock import assert_conserved, stock


async def level(db_conn, store: str, sku: str) -> tuple[int, int]:
    row = await db_conn.fetchrow(
        "SELECT on_hand, reserved FROM inventory_levels WHERE store_code=$1 AND sku=$2", store, sku
    )
    return (row["on_hand"], row["reserved"])


@pytest.fixture
async def shop(api: Api, app) -> None:
    await api.store("A")
    await api.store("B")
    await api.product("p", ["X", "Y"])
    await stock(app, [("A", "X", 5), ("A", "Y", 1), ("B", "X", 2)])


async def test_reserve_all_lines_or_none_listing_every_short_line(shop, app, db_conn) -> None:
    lines = [StockLine("A", "X", 2), StockLine("A", "Y", 3), StockLine("B", "X", 9), StockLine("B", "Y", 1)]
    with pytest.raises(InsufficientStock) as err:
        async with app.state.sessionmaker() as db, db.begin():
            await service.reserve_lines(db, lines, reference="o1", source="test")
    assert err.value.extra["lines"] == [
        {"sku": "Y", "store": "A", "requested": 3, "available": 1},
        {"sku": "X", "store": "B", "requested": 9, "available": 2},
        {"sku": "Y", "store": "B", "requested": 1, "available": 0},
    ]
    assert await level(db_conn, "A", "X") == (5, 0)
    assert await db_conn.fetchval("SELECT count(*) FROM reservations") == 0
    await assert_conserved(db_conn)


async def test_reserve_then_consume_and_release(shop, app, db_conn) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await service.reserve_lines(db, [StockLine("A", "X", 2), StockLine("A", "X", 1)], reference="o1", source="t")
        await service.reserve_lines(db, [StockLine("B", "X", 2)], reference="o2", source="t")
    assert await level(db_conn, "A", "X") == (5, 3)
    async with app.state.sessionmaker() as db, db.begin():
        assert await service.settle_reservations(db, "o1", consume=True, reason="collect", source="t") == 1
        assert await service.settle_reservations(db, "o1", consume=True, reason="collect", source="t") == 0
        assert await service.settle_reservations(db, "o2", consume=False, reason="cancel", source="t") == 1
    assert await level(db_conn, "A", "X") == (2, 0)
    assert await level(db_conn, "B", "X") == (2, 0)
    await assert_conserved(db_conn)


async def test_adjust_refuses_to_go_below_reserved(shop, app, db_conn) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await service.reserve_lines(db, [StockLine("A", "X", 4)], reference="o1", source="t")
    with pytest.raises(InsufficientStock):
        async with app.state.sessionmaker() as db, db.begin():
            await service.adjust_on_hand(db, "A", "X", delta=-2, reason="damage", source="t")
    async with app.state.sessionmaker() as db, db.begin():
        got = await service.adjust_on_hand(db, "A", "X", delta=-1, reason="damage", source="t")
    assert got == {"on_hand": 4, "reserved": 4, "safety_stock": 0}
    await assert_conserved(db_conn)


async def test_set_on_hand_records_the_difference(shop, app, db_conn) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await service.set_on_hand(db, "A", "X", on_hand=9, safety_stock=1, counted_at=None, reason="count", source="t")
    assert await level(db_conn, "A", "X") == (9, 0)
    assert (
        await db_conn.fetchval(
            "SELECT delta FROM inventory_ledger WHERE store_code='A' AND sku='X' ORDER BY id DESC LIMIT 1"
        )
        == 4
    )
    events = await db_conn.fetch("SELECT data FROM events WHERE type = 'inventory.changed'")
    assert len(events) >= 4
    await assert_conserved(db_conn)


async def test_db_session_fixture_commits(db_session: AsyncSession) -> None:
    assert db_session.in_transaction()
