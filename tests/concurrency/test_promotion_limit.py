"""Two hundred shoppers check out at once on a promotion limited to fifty orders: exactly fifty get it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.conftest import ADMIN, Api
from tests.stock import stock


async def test_a_total_limit_of_50_sells_exactly_50_discounts(
    client: httpx.AsyncClient, api: Api, app: Any, db_conn: Any
) -> None:
    await api.store("LOOP")
    await api.product("grinder", ["GRINDER"], price=10_000)
    await stock(app, [("LOOP", "GRINDER", 1_000)])
    r = await client.put(
        "/v1/promotions/first-50",
        json={"title": "First fifty", "kind": "percent_off", "value": 25, "total_limit": 50},
        headers=ADMIN,
    )
    assert r.status_code == 201
    web = await api.key("storefront")
    line = {"sku": "GRINDER", "quantity": 1, "fulfillment": {"type": "pickup", "store": "LOOP"}}
    carts = []
    for _ in range(200):
        cart = (await client.post("/v1/carts", json={"channel": "web"}, headers=web)).json()["id"]
        r = await client.post(f"/v1/carts/{cart}/lines", json=line, headers=web)
        assert r.json()["lines"][0]["promotion_id"] == "first-50"  # every cart shows the offer before the rush
        carts.append(cart)

    async def buy(cart_id: str) -> httpx.Response:
        return await client.post(
            f"/v1/carts/{cart_id}/checkout", json={}, headers={**web, "Idempotency-Key": str(uuid.uuid4())}
        )

    responses = await asyncio.gather(*(buy(c) for c in carts))
    placed = [r.json() for r in responses if r.status_code == 201]
    refused = [r.json() for r in responses if r.status_code != 201]
    discounted = [o for o in placed if o["lines"][0]["promotion_id"] == "first-50"]
    assert len(discounted) == 50
    assert all(o["lines"][0]["discount"]["amount"] == 2_500 for o in discounted)
    # The others were either priced after the fifty were gone (full price) or refused by the count.
    assert all(o["lines"][0]["discount"]["amount"] == 0 for o in placed if o not in discounted)
    assert all(p["code"] == "promotion_limit_reached" and p["promotion_id"] == "first-50" for p in refused), refused[:3]
    assert len(placed) + len(refused) == 200

    assert await db_conn.fetchval("SELECT redemptions FROM promotions WHERE id = 'first-50'") == 50
    assert await db_conn.fetchval("SELECT count(*) FROM promotion_redemptions") == 50
    assert await db_conn.fetchval("SELECT count(*) FROM order_lines WHERE promotion_id = 'first-50'") == 50
    # A refused checkout wrote nothing: its cart is still open and holds no stock.
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == len(placed)
    assert await db_conn.fetchval("SELECT count(*) FROM carts WHERE status = 'active'") == len(refused)
    assert await db_conn.fetchval("SELECT reserved FROM inventory_levels WHERE sku = 'GRINDER'") == len(placed)
