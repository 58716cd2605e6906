"""Hundreds of shoppers check out the same few units at once: exactly those units sell."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.api.test_checkout import cart_with, pickup, stock
from tests.conftest import Api


async def test_flash_sale_sells_exactly_the_stock(client: httpx.AsyncClient, api: Api, app, db_conn) -> None:
    await api.store("LOOP", pickup=True)
    await api.product("drop", ["DROP-1"], price=5000)
    await stock(app, [("LOOP", "DROP-1", 7)])
    web = await api.key("storefront")
    carts = [await cart_with(client, web, pickup("DROP-1", 1)) for _ in range(200)]

    async def buy(cart_id: str) -> int:
        r = await client.post(
            f"/v1/carts/{cart_id}/checkout", json={}, headers={**web, "Idempotency-Key": str(uuid.uuid4())}
        )
        assert r.status_code in (201, 409), r.text
        return r.status_code

    statuses = await asyncio.gather(*(buy(c) for c in carts))
    assert statuses.count(201) == 7
    assert statuses.count(409) == 193
    row = await db_conn.fetchrow("SELECT on_hand, reserved, safety_stock FROM inventory_levels WHERE sku = 'DROP-1'")
    assert (row["on_hand"], row["reserved"]) == (7, 7)
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 7
    assert await db_conn.fetchval("SELECT sum(quantity) FROM reservations WHERE status = 'active'") == 7
