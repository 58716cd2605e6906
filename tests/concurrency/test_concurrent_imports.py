"""Imports arriving at once: duplicates of one order make one order; different orders share the stock
there is, the rest backordered, alongside shoppers checking out the same units."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from tests.conftest import Api
from tests.stock import assert_conserved, stock


def import_body(
    external_id: str, lines: list[tuple[str, int]], customer: dict[str, str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": "shopify",
        "external_id": external_id,
        "channel": "web",
        "placed_at": datetime.now(UTC).isoformat(),
        "currency": "USD",
        "lines": [
            {
                "sku": sku,
                "quantity": qty,
                "unit_price": {"amount": 1000, "currency": "USD"},
                "fulfillment": {"type": "ship", "store": "LOOP"},
            }
            for sku, qty in lines
        ],
    }
    if customer is not None:
        body["customer"] = customer
    return body


async def test_concurrent_duplicates_of_one_import_make_one_order(
    client: httpx.AsyncClient, api: Api, app: Any, db_conn: asyncpg.Connection
) -> None:
    await api.store("LOOP")
    await api.product("drop", ["DROP-1", "DROP-2"])
    await stock(app, [("LOOP", "DROP-1", 3), ("LOOP", "DROP-2", 10)])
    key = await api.key("integration")
    body = import_body("9001", [("DROP-1", 2), ("DROP-2", 1)], customer={"email": "new@example.com"})

    responses = await asyncio.gather(*(client.post("/v1/orders/import", json=body, headers=key) for _ in range(12)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 11 + [201], [r.text for r in responses if r.status_code not in (200, 201)]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 1
    assert await db_conn.fetchval("SELECT count(*) FROM customers") == 1
    assert await db_conn.fetchval("SELECT count(*) FROM events WHERE type = 'order.placed'") == 1
    levels = await db_conn.fetch("SELECT sku, reserved FROM inventory_levels ORDER BY sku")
    assert [(r["sku"], r["reserved"]) for r in levels] == [("DROP-1", 2), ("DROP-2", 1)]
    await assert_conserved(db_conn)


async def test_concurrent_imports_and_checkouts_share_the_stock_without_overselling(
    client: httpx.AsyncClient, api: Api, app: Any, db_conn: asyncpg.Connection
) -> None:
    await api.store("LOOP", pickup=True)
    await api.product("drop", ["DROP-A", "DROP-B"])
    await stock(app, [("LOOP", "DROP-A", 9), ("LOOP", "DROP-B", 9)])
    key = await api.key("integration")
    web = await api.key("storefront")

    async def imported(n: int) -> list[int]:
        # Lines in both orders, so a statement that did not lock in (store, sku) order would deadlock.
        lines = [("DROP-A", 1), ("DROP-B", 1)] if n % 2 else [("DROP-B", 1), ("DROP-A", 1)]
        r = await client.post("/v1/orders/import", json=import_body(f"90{n:02}", lines), headers=key)
        assert r.status_code == 201, r.text
        return [line["backordered"] for line in r.json()["lines"]]

    async def checked_out() -> int:
        r = await client.post("/v1/carts", json={"channel": "web"}, headers=web)
        cart = r.json()["id"]
        line = {"sku": "DROP-A", "quantity": 1, "fulfillment": {"type": "pickup", "store": "LOOP"}}
        assert (await client.post(f"/v1/carts/{cart}/lines", json=line, headers=web)).status_code in (200, 201)
        r = await client.post(
            f"/v1/carts/{cart}/checkout", json={}, headers={**web, "Idempotency-Key": str(uuid.uuid4())}
        )
        assert r.status_code in (201, 409), r.text
        return r.status_code

    results = await asyncio.gather(*(imported(n) for n in range(14)), *(checked_out() for _ in range(6)))
    backordered = sum(sum(r) for r in results if isinstance(r, list))
    sold = sum(1 for r in results if r == 201)
    # 14 imports want 28 units of 18; every unit is either reserved once or backordered.
    reserved = await db_conn.fetchval("SELECT sum(reserved) FROM inventory_levels")
    assert reserved == 18
    assert backordered + (reserved - sold) == 28
    assert await db_conn.fetchval("SELECT sum(backordered) FROM order_lines") == backordered
    assert await db_conn.fetchval("SELECT min(on_hand - reserved) FROM inventory_levels") == 0
    await assert_conserved(db_conn)
