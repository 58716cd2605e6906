"""Merging an anonymous cart never loses units: a sum past the line limit is 422 and nothing is merged."""

from __future__ import annotations

from typing import Any

import httpx

from commerce.carts.rules import MAX_LINE_QUANTITY
from tests.conftest import ADMIN, Api

SHIP = {"type": "ship"}


async def cart_with(client: httpx.AsyncClient, cart_id: str, **quantities: int) -> None:
    for sku, quantity in quantities.items():
        line = {"sku": sku, "quantity": quantity, "fulfillment": SHIP}
        r = await client.post(f"/v1/carts/{cart_id}/lines", json=line, headers=ADMIN)
        assert r.status_code == 200, r.text


async def test_merge_past_the_line_limit_is_422_and_merges_nothing(
    client: httpx.AsyncClient, api: Api, db_conn: Any
) -> None:
    await api.product("p", ["COAT", "HAT"])
    customer = (await client.post("/v1/customers", json={"loyalty_id": "L-1"}, headers=ADMIN)).json()
    mine = (await client.get(f"/v1/customers/{customer['id']}/cart", headers=ADMIN)).json()
    await cart_with(client, mine["id"], COAT=MAX_LINE_QUANTITY)
    anon = (await client.post("/v1/carts", json={"channel": "mobile"}, headers=ADMIN)).json()
    await cart_with(client, anon["id"], HAT=2, COAT=MAX_LINE_QUANTITY)
    before = await db_conn.fetch("SELECT cart_id, sku, quantity FROM cart_lines ORDER BY id")

    r = await client.post(f"/v1/customers/{customer['id']}/cart/merge", json={"cart_id": anon["id"]}, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "quantity_limit" and "COAT" in r.json()["detail"]
    # Nothing moved, not even the line that would have fitted; the anonymous cart is still open.
    assert await db_conn.fetch("SELECT cart_id, sku, quantity FROM cart_lines ORDER BY id") == before
    assert (await client.get(f"/v1/carts/{anon['id']}", headers=ADMIN)).json()["status"] == "active"

    # Up to the limit exactly, it merges.
    await set_quantity(client, mine["id"], "COAT", MAX_LINE_QUANTITY - 1)
    await set_quantity(client, anon["id"], "COAT", 1)
    r = await client.post(f"/v1/customers/{customer['id']}/cart/merge", json={"cart_id": anon["id"]}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert {line["sku"]: line["quantity"] for line in r.json()["lines"]} == {"COAT": MAX_LINE_QUANTITY, "HAT": 2}


async def set_quantity(client: httpx.AsyncClient, cart_id: str, sku: str, quantity: int) -> None:
    lines = (await client.get(f"/v1/carts/{cart_id}", headers=ADMIN)).json()["lines"]
    line = next(line["id"] for line in lines if line["sku"] == sku)
    r = await client.patch(f"/v1/carts/{cart_id}/lines/{line}", json={"quantity": quantity}, headers=ADMIN)
    assert r.status_code == 200, r.text
