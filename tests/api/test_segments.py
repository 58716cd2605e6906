"""Profiles across channels, segments with typed rules, and membership that follows purchases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, Api
from tests.shopping import order, sync, till
from tests.stock import stock


@pytest.fixture
async def shop(api: Api, app: Any) -> None:
    await api.store("LOOP")
    await api.store("RN", 41.89, -87.63)
    await api.product("beans", ["BEANS"], price=1_200, category="coffee")
    await api.product("grinder", ["GRINDER"], price=8_000, category="tools")
    await stock(app, [("LOOP", "BEANS", 500), ("LOOP", "GRINDER", 500), ("RN", "BEANS", 500)])


async def put_segment(client: httpx.AsyncClient, segment_id: str, *rules: dict[str, Any]) -> httpx.Response:
    return await client.put(
        f"/v1/segments/{segment_id}", json={"title": segment_id, "rules": list(rules)}, headers=ADMIN
    )


async def members(client: httpx.AsyncClient, segment_id: str) -> set[str]:
    r = await client.get(f"/v1/segments/{segment_id}/members", params={"limit": 500}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return {m["customer_id"] for m in r.json()["items"]}


async def test_the_profile_joins_orders_and_till_sales_by_loyalty_id(
    client: httpx.AsyncClient, api: Api, app: Any, shop: None
) -> None:
    ann = await api.customer(email="ann@example.com", loyalty_id="L-ANN")
    r = await order(client, ann["id"], ("GRINDER", 1), channel="mobile")
    assert r.status_code == 201, r.text
    at = datetime.now(UTC) - timedelta(days=3)
    await till(client, "RN", "L-ANN", ("BEANS", 2, 1_200), at=at)
    await till(client, "RN", "L-ANN", ("BEANS", 1, 1_200), at=at + timedelta(hours=1))
    await till(client, "LOOP", "L-ANN", ("BEANS", 1, 1_200), type="return", at=at + timedelta(days=1))
    await till(client, "LOOP", None, ("BEANS", 5, 1_200))  # nobody's
    await sync(app)

    associate = await api.key("associate", "LOOP")
    r = await client.get(f"/v1/customers/{ann['id']}/profile", headers=associate)
    assert r.status_code == 200, r.text
    profile = r.json()
    assert profile["orders_count"] == 3
    assert profile["lifetime_value"] == {"amount": 8_000 + 2_400 + 1_200 - 1_200, "currency": "USD"}
    assert profile["channels"] == {"mobile": 1, "store": 2}
    assert profile["favorite_store"] == "RN"
    assert profile["last_store_visit"]["store"] == "LOOP"
    assert datetime.fromisoformat(profile["first_order_at"]) == at
    assert profile["segments"] == []

    token = await api.customer_token(ann["id"])
    assert (await client.get(f"/v1/customers/{ann['id']}/profile", headers=token)).json() == profile
    bob = await api.customer(email="bob@example.com")
    assert (await client.get(f"/v1/customers/{bob['id']}/profile", headers=token)).status_code == 404
    assert (
        await client.get(f"/v1/customers/{ann['id']}/profile", headers=await api.key("storefront"))
    ).status_code == 403
    r = await client.get("/v1/customers/00000000-0000-0000-0000-000000000000/profile", headers=ADMIN)
    assert r.status_code == 404 and r.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("rules", "index", "key"),
    [
        (
            [{"fact": "orders_count", "op": "gte", "value": 1}, {"fact": "shoe_size", "op": "eq", "value": 9}],
            1,
            "rules[1].fact",
        ),
        ([{"fact": "orders_count", "op": "around", "value": 1}], 0, "rules[0].op"),
        ([{"fact": "lifetime_value", "op": "gte", "value": 50_000}], 0, "rules[0].value"),
        ([{"fact": "bought_sku", "op": "lt", "value": "BEANS"}], 0, "rules[0].op"),
        ([{"fact": "email_consent", "op": "eq", "value": "yes"}], 0, "rules[0].value"),
    ],
)
async def test_a_bad_rule_is_422_with_its_index(
    client: httpx.AsyncClient, rules: list[dict[str, Any]], index: int, key: str
) -> None:
    r = await put_segment(client, "bad", *rules)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_rule"
    assert body["errors"][0]["index"] == index and body["errors"][0]["key"] == key
    assert (await client.get("/v1/segments/bad", headers=ADMIN)).status_code == 404


async def test_segment_requests_that_cannot_be_served(client: httpx.AsyncClient, api: Api) -> None:
    r = await client.put(
        "/v1/segments/s",
        json={"title": "s", "rules": [{"fact": "orders_count", "op": "gt", "value": 1, "x": 1}]},
        headers=ADMIN,
    )
    assert r.status_code == 422
    r = await client.put("/v1/segments/s", json={"title": "s", "rules": [], "extra": 1}, headers=ADMIN)
    assert r.status_code == 422
    r = await client.put(
        "/v1/segments/s",
        json={"title": "s", "rules": []},
        headers=await api.key("associate", None) if False else await api.key("storefront"),
    )
    assert r.status_code == 403
    assert (await client.get("/v1/segments/nope", headers=ADMIN)).status_code == 404
    assert (await client.get("/v1/segments/nope/members", headers=ADMIN)).status_code == 404
    assert (await put_segment(client, "s")).status_code == 201
    r = await client.get("/v1/segments/s/members", params={"cursor": "garbage"}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"


async def test_membership_is_backfilled_then_follows_every_purchase(
    client: httpx.AsyncClient, api: Api, app: Any, shop: None
) -> None:
    ann = await api.customer(loyalty_id="L-ANN")
    bob = await api.customer(loyalty_id="L-BOB")
    cy = await api.customer(email="cy@example.com")
    await till(client, "LOOP", "L-ANN", ("BEANS", 1, 1_200))

    r = await put_segment(client, "bean-buyers", {"fact": "bought_category", "op": "eq", "value": "coffee"})
    assert r.status_code == 201 and r.json()["status"] == "backfilling"
    await sync(app)
    r = await client.get("/v1/segments/bean-buyers", headers=ADMIN)
    assert r.json()["status"] == "ready" and r.json()["members"] == 1
    assert await members(client, "bean-buyers") == {ann["id"]}

    # A till sale lands in the segment in the same transaction: no worker needed.
    await till(client, "RN", "L-BOB", ("BEANS", 2, 1_200))
    assert await members(client, "bean-buyers") == {ann["id"], bob["id"]}
    # Returning everything takes it back.
    await till(client, "RN", "L-BOB", ("BEANS", 2, 1_200), type="return")
    assert await members(client, "bean-buyers") == {ann["id"]}

    # An order lands through the event feed, and its cancellation too.
    placed = await order(client, cy["id"], ("BEANS", 1))
    assert placed.status_code == 201, placed.text
    await sync(app)
    assert await members(client, "bean-buyers") == {ann["id"], cy["id"]}
    r = await client.post(f"/v1/orders/{placed.json()['id']}/cancel", headers=ADMIN)
    assert r.status_code == 200, r.text
    await sync(app)
    assert await members(client, "bean-buyers") == {ann["id"]}

    # Paged in customer id order.
    await till(client, "RN", "L-BOB", ("BEANS", 1, 1_200))
    r = await client.get("/v1/segments/bean-buyers/members", params={"limit": 1}, headers=ADMIN)
    first = r.json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    r = await client.get(
        "/v1/segments/bean-buyers/members", params={"limit": 1, "cursor": first["next_cursor"]}, headers=ADMIN
    )
    second = r.json()
    assert [first["items"][0]["customer_id"], second["items"][0]["customer_id"]] == sorted([ann["id"], bob["id"]])

    # Changing the rules backfills again.
    r = await put_segment(client, "bean-buyers", {"fact": "store_visited", "op": "eq", "value": "LOOP"})
    assert r.json()["version"] == 2 and r.json()["status"] == "backfilling"
    await sync(app)
    assert await members(client, "bean-buyers") == {ann["id"]}
    r = await put_segment(client, "bean-buyers", {"fact": "store_visited", "op": "eq", "value": "LOOP"})
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["status"] == "ready"


async def test_consent_and_lifetime_value_segments(client: httpx.AsyncClient, api: Api, app: Any, shop: None) -> None:
    await put_segment(client, "mailable", {"fact": "email_consent", "op": "eq", "value": True})
    await put_segment(
        client, "big-spenders", {"fact": "lifetime_value", "op": "gte", "value": {"amount": 10_000, "currency": "USD"}}
    )
    await sync(app)
    ann = await api.customer(
        email="ann@example.com", loyalty_id="L-ANN", marketing_consent={"email": True, "sms": False}
    )
    dee = await api.customer(email="dee@example.com")
    assert await members(client, "mailable") == {ann["id"]}
    r = await client.patch(f"/v1/customers/{dee['id']}", json={"marketing_consent": {"email": True}}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert await members(client, "mailable") == {ann["id"], dee["id"]}
    await till(client, "LOOP", "L-ANN", ("GRINDER", 1, 8_000))
    assert await members(client, "big-spenders") == set()
    await till(client, "LOOP", "L-ANN", ("BEANS", 2, 1_200))
    assert await members(client, "big-spenders") == {ann["id"]}


async def test_days_since_last_order_moves_with_time(client: httpx.AsyncClient, api: Api, app: Any, shop: None) -> None:
    ann = await api.customer(loyalty_id="L-ANN")
    await put_segment(client, "lapsed", {"fact": "days_since_last_order", "op": "gt", "value": 30})
    await till(client, "LOOP", "L-ANN", ("BEANS", 1, 1_200), at=datetime.now(UTC) - timedelta(days=29, hours=12))
    await sync(app)
    assert await members(client, "lapsed") == set()
    await sync(app, now=datetime.now(UTC) + timedelta(days=2))
    assert await members(client, "lapsed") == {ann["id"]}
    # Buying again makes the customer recent.
    await till(client, "LOOP", "L-ANN", ("BEANS", 1, 1_200))
    assert await members(client, "lapsed") == set()
