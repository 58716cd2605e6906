"""One purchase history across channels: online orders and till sales with the loyalty id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.api.test_checkout import checkout, pickup, stock
from tests.conftest import ADMIN, Api


async def test_history_merges_online_orders_and_till_sales_newest_first(
    client: httpx.AsyncClient, api: Api, app
) -> None:
    await api.store("LOOP", pickup=True)
    await api.product("p", ["A", "B"], price=1500)
    await stock(app, [("LOOP", "A", 10), ("LOOP", "B", 10)])
    web = await api.key("storefront")
    till = await api.key("pos", "LOOP")
    customer = await api.customer(email="ann@example.com", loyalty_id="L-77")
    other = await api.customer(loyalty_id="L-88")
    ann = await api.customer_token(customer["id"])

    # An online order placed from the customer's own cart, signed in on the mobile app.
    cart = (await client.get("/v1/me/cart", params={"channel": "mobile"}, headers=ann)).json()
    await client.post(f"/v1/carts/{cart['id']}/lines", json=pickup("A", 2), headers=web)
    order = (await checkout(client, cart["id"], ann)).json()

    # Till sales: an older one and a newer one with the customer's loyalty id, one for someone else.
    now = datetime.now(UTC)
    events = [
        {
            "event_id": "t-1",
            "type": "sale",
            "occurred_at": (now - timedelta(days=2)).isoformat(),
            "loyalty_id": "L-77",
            "lines": [{"sku": "B", "quantity": 1, "unit_price": {"amount": 1500, "currency": "USD"}}],
        },
        {
            "event_id": "t-2",
            "type": "sale",
            "occurred_at": (now + timedelta(minutes=1)).isoformat(),
            "loyalty_id": "L-77",
            "lines": [{"sku": "A", "quantity": 1, "unit_price": {"amount": 1500, "currency": "USD"}}],
        },
        {
            "event_id": "t-3",
            "type": "sale",
            "occurred_at": now.isoformat(),
            "loyalty_id": "L-88",
            "lines": [{"sku": "A", "quantity": 1}],
        },
    ]
    r = await client.post("/v1/pos/LOOP/events", json={"events": events}, headers=till)
    assert [x["status"] for x in r.json()["results"]] == ["applied"] * 3

    assert (await client.get(f"/v1/customers/{customer['id']}/orders", headers=web)).status_code == 403
    r = await client.get(f"/v1/customers/{customer['id']}/orders", headers=ann)
    assert r.status_code == 200
    assert (await client.get("/v1/me/orders", headers=ann)).json() == r.json()
    items = r.json()["items"]
    assert [(i["source"], i["id"]) for i in items] == [("pos", "t-2"), ("order", order["id"]), ("pos", "t-1")]
    assert items[1]["channel"] == "mobile"
    assert items[1]["total"] == {"amount": 3000, "currency": "USD"}
    assert items[0]["channel"] == "store"
    assert items[0]["store"] == "LOOP"

    # Paged one at a time: the same three, no repeats.
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        body = (await client.get(f"/v1/customers/{customer['id']}/orders", params=params, headers=ann)).json()
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == ["t-2", order["id"], "t-1"]

    r = await client.get(f"/v1/customers/{other['id']}/orders", headers=ADMIN)
    assert [i["id"] for i in r.json()["items"]] == ["t-3"]
    assert (await client.get(f"/v1/customers/{other['id']}/orders", headers=till)).status_code == 403
    # Another customer's history is not there for this shopper's token.
    assert (await client.get(f"/v1/customers/{other['id']}/orders", headers=ann)).status_code == 404
    r = await client.get("/v1/customers/00000000-0000-0000-0000-000000000000/orders", headers=ADMIN)
    assert r.status_code == 404
