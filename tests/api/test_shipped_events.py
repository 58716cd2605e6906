"""`order.shipped` is written when an order ships; the feed filter and webhooks take it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from commerce.events.relay import relay_once
from tests.conftest import ADMIN, Api
from tests.stock import stock


async def test_a_shipped_order_is_in_the_feed_under_its_type(api: Api, app: Any, client: httpx.AsyncClient) -> None:
    await api.store("WH", kind="warehouse", pickup=False)
    await api.product("p", ["X"])
    await stock(app, [("WH", "X", 5)])
    cart = (await client.post("/v1/carts", json={"channel": "web"}, headers=ADMIN)).json()
    line = {"sku": "X", "quantity": 2, "fulfillment": {"type": "ship"}}
    assert (await client.post(f"/v1/carts/{cart['id']}/lines", json=line, headers=ADMIN)).status_code == 200
    r = await client.post(
        f"/v1/carts/{cart['id']}/checkout", json={}, headers={**ADMIN, "Idempotency-Key": str(uuid.uuid4())}
    )
    order = r.json()["id"]
    assert (await client.post(f"/v1/orders/{order}/ship", headers=ADMIN)).status_code == 200
    await relay_once(app.state.sessionmaker)

    r = await client.get("/v1/events", params={"types": "order.shipped,order.backordered"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert [(e["type"], e["data"]["order_id"]) for e in r.json()["items"]] == [("order.shipped", order)]
    hook = {"url": "http://127.0.0.1:9/hook", "types": ["order.shipped", "order.backordered"], "secret": "s" * 16}
    assert (await client.put("/v1/webhooks/w1", json=hook, headers=ADMIN)).status_code == 201
