"""Checkouts and cancels whose pickup and ship lines lock the same levels in opposite orders.

Cart "ab" picks up X at store A and ships Y (which only store B has); cart "ba" picks up Y at B and
ships X (only A has it). Reserved pickup-then-ship, the two lock (A, X) and (B, Y) in opposite
orders: a deadlock, a 500. Reserved in one statement in (store, sku) order, every one succeeds;
cancels, which release pickup and ship lines together, run against new checkouts the same way.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, Api
from tests.stock import assert_conserved, stock

PAIRS = 8


async def cart(client: httpx.AsyncClient, pickup_sku: str, store: str, ship_sku: str) -> str:
    r = await client.post("/v1/carts", json={"channel": "web"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    cart_id = str(r.json()["id"])
    for line in (
        {"sku": pickup_sku, "quantity": 1, "fulfillment": {"type": "pickup", "store": store}},
        {"sku": ship_sku, "quantity": 1, "fulfillment": {"type": "ship"}},
    ):
        r = await client.post(f"/v1/carts/{cart_id}/lines", json=line, headers=ADMIN)
        assert r.status_code == 200, r.text
    return cart_id


async def carts(client: httpx.AsyncClient) -> list[str]:
    """PAIRS of each kind, interleaved: ab, ba, ab, ba, ..."""
    made = []
    for _ in range(PAIRS):
        made.append(await cart(client, "X", "A", "Y"))
        made.append(await cart(client, "Y", "B", "X"))
    return made


async def checkout(client: httpx.AsyncClient, cart_id: str) -> httpx.Response:
    return await client.post(
        f"/v1/carts/{cart_id}/checkout", json={}, headers={**ADMIN, "Idempotency-Key": str(uuid.uuid4())}
    )


@pytest.mark.slow
async def test_pickup_and_ship_lines_in_opposite_orders_never_deadlock(
    api: Api, app: Any, client: httpx.AsyncClient, db_conn: Any
) -> None:
    await api.store("A", 41.88, -87.63)
    await api.store("B", 41.89, -87.62)
    await api.product("p", ["X", "Y"])
    await stock(app, [("A", "X", 1000), ("B", "Y", 1000)])

    first = await carts(client)
    placed = await asyncio.gather(*(checkout(client, c) for c in first))
    assert [r.status_code for r in placed] == [201] * len(first), [r.text for r in placed if r.status_code != 201]
    # Each order holds one unit at A and one at B, under its pickup and its ship reference.
    assert await db_conn.fetchval("SELECT count(*) FROM reservations WHERE status = 'active'") == 2 * len(first)
    locations = {(line["fulfillment"]["type"], line["location"]) for r in placed for line in r.json()["lines"]}
    assert locations == {("pickup", "A"), ("pickup", "B"), ("ship", "A"), ("ship", "B")}

    # Cancels (pickup and ship released together) race new checkouts of both kinds.
    second = await carts(client)
    results = await asyncio.gather(
        *(client.post(f"/v1/orders/{r.json()['id']}/cancel", headers=ADMIN) for r in placed),
        *(checkout(client, c) for c in second),
    )
    assert [r.status_code for r in results] == [200] * len(placed) + [201] * len(second), [
        r.text for r in results if r.status_code >= 300
    ]
    levels = {
        (r["store_code"], r["sku"]): (r["on_hand"], r["reserved"])
        for r in await db_conn.fetch("SELECT store_code, sku, on_hand, reserved FROM inventory_levels")
    }
    assert levels == {("A", "X"): (1000, 2 * PAIRS), ("B", "Y"): (1000, 2 * PAIRS)}
    await assert_conserved(db_conn)
