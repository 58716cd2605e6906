"""Stock quantities are 64-bit and bounded: no run of adjustments overflows them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from commerce.inventory.rules import MAX_ON_HAND
from tests.conftest import ADMIN, Api
from tests.stock import assert_conserved

RECEIPT = {"store": "S1", "sku": "SKU-1", "reason": "receipt"}


async def adjust(client: httpx.AsyncClient, delta: int) -> httpx.Response:
    return await client.post("/v1/inventory/adjustments", json={**RECEIPT, "delta": delta}, headers=ADMIN)


@pytest.mark.slow
async def test_on_hand_passes_the_32_bit_limit(client: httpx.AsyncClient, api: Api, db_conn: Any) -> None:
    """215 receipts of the largest adjustment take on_hand past 2**31 - 1 (once a 500)."""
    await api.store("S1")
    await api.product("p", ["SKU-1"])
    for _ in range(214):
        assert (await adjust(client, 10_000_000)).status_code == 201
    r = await adjust(client, 10_000_000)
    assert r.status_code == 201, r.text
    assert r.json()["on_hand"] == 2_150_000_000 > 2**31 - 1
    r = await client.get("/v1/inventory/S1/SKU-1/ledger", params={"limit": 1}, headers=ADMIN)
    assert r.json()["items"][0]["on_hand_after"] == 2_150_000_000
    # A pickup hold on top of it is arithmetic in 64 bits too.
    cart = (await client.post("/v1/carts", json={"channel": "web"}, headers=ADMIN)).json()
    line = {"sku": "SKU-1", "quantity": 999, "fulfillment": {"type": "pickup", "store": "S1"}}
    assert (await client.post(f"/v1/carts/{cart['id']}/lines", json=line, headers=ADMIN)).status_code == 200
    r = await client.post(f"/v1/carts/{cart['id']}/checkout", json={}, headers={**ADMIN, "Idempotency-Key": "k"})
    assert r.status_code == 201, r.text
    level = (await client.get("/v1/inventory/S1/SKU-1", headers=ADMIN)).json()
    assert (level["on_hand"], level["reserved"], level["available"]) == (2_150_000_000, 999, 2_149_999_001)
    await assert_conserved(db_conn)


async def test_adjustment_past_the_stock_limit_is_422_and_writes_nothing(
    client: httpx.AsyncClient, api: Api, app: Any, db_conn: Any
) -> None:
    await api.store("S1")
    await api.product("p", ["SKU-1"])
    assert (await adjust(client, 5)).status_code == 201
    # Stand in for a long history of receipts: the level and its ledger near the limit, consistent.
    near = MAX_ON_HAND - 10
    await db_conn.execute("UPDATE inventory_levels SET on_hand = $1", near)
    await db_conn.execute("UPDATE inventory_ledger SET delta = $1, on_hand_after = $1", near)
    events = await db_conn.fetchval("SELECT count(*) FROM events")

    r = await adjust(client, 11)
    assert r.status_code == 422 and r.json()["code"] == "stock_limit", r.text
    assert await db_conn.fetchval("SELECT on_hand FROM inventory_levels") == near
    assert await db_conn.fetchval("SELECT count(*) FROM inventory_ledger") == 1
    assert await db_conn.fetchval("SELECT count(*) FROM events") == events
    # Up to the limit exactly is fine; concurrent receipts cannot pass it together either.
    assert (await adjust(client, 6)).status_code == 201
    results = await asyncio.gather(*(adjust(client, 2) for _ in range(4)))
    assert sorted(r.status_code for r in results) == [201, 201, 422, 422]
    assert await db_conn.fetchval("SELECT on_hand FROM inventory_levels") == MAX_ON_HAND
    await assert_conserved(db_conn)
