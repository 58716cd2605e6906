from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from commerce.inventory import service as inventory
from commerce.inventory.rules import StockLine
from tests.conftest import Api

SHIP = {"type": "ship"}


async def stock(app: Any, rows: list[tuple[str, str, int]]) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await inventory.set_on_hand_many(db, [StockLine(*r) for r in rows], reason="correction", source="test")


@pytest.fixture
async def shop(api: Api) -> dict[str, str]:
    await api.store("S1", pickup=True)
    await api.store("NOPICK", pickup=False)
    await api.store("WH", kind="warehouse", pickup=False)
    await api.product("coat", ["COAT"], price=10_000, category="outerwear")
    await api.product("hat", ["HAT"], price=2_500, category="accessories")
    await api.product("euro", ["EURO"], price=900, currency="EUR")
    return await api.key("storefront")


async def new_cart(client: httpx.AsyncClient, key: dict[str, str], **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/carts", json={"channel": "web", **body}, headers=key)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def add(client: httpx.AsyncClient, key: dict[str, str], cart_id: str, **line: Any) -> httpx.Response:
    return await client.post(f"/v1/carts/{cart_id}/lines", json={"fulfillment": SHIP, **line}, headers=key)


def money(amount: int, currency: str = "USD") -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


async def test_lines_add_up_merge_and_price(client: httpx.AsyncClient, shop: dict[str, str]) -> None:
    cart = await new_cart(client, shop)
    assert len(cart["id"]) >= 32 and cart["version"] == 1 and cart["lines"] == [] and cart["currency"] == "USD"
    await add(client, shop, cart["id"], sku="COAT", quantity=1)
    await add(client, shop, cart["id"], sku="COAT", quantity=2)
    r = await add(client, shop, cart["id"], sku="COAT", quantity=1, fulfillment={"type": "pickup", "store": "S1"})
    assert r.status_code == 200 and r.headers["etag"] == '"4"'
    got = r.json()
    assert [(line["sku"], line["quantity"], line["fulfillment"]) for line in got["lines"]] == [
        ("COAT", 3, SHIP),
        ("COAT", 1, {"type": "pickup", "store": "S1"}),
    ]
    ship_line, pickup_line = got["lines"]
    assert ship_line["unit_price"] == money(10_000) and ship_line["line_total"] == money(30_000)
    assert ship_line["discount"] == money(0) and ship_line["promotion_id"] is None
    assert got["subtotal"] == money(40_000) and got["total"] == money(40_000)

    # Moving the pickup line to shipping merges it into the ship line.
    r = await client.patch(
        f"/v1/carts/{cart['id']}/lines/{pickup_line['id']}", json={"fulfillment": SHIP}, headers=shop
    )
    assert r.status_code == 200, r.text
    assert [(line["id"], line["quantity"]) for line in r.json()["lines"]] == [(ship_line["id"], 4)]
    r = await client.patch(
        f"/v1/carts/{cart['id']}/lines/{ship_line['id']}",
        json={"fulfillment": {"type": "pickup", "store": "NOPICK"}},
        headers=shop,
    )
    assert r.status_code == 422 and r.json()["code"] == "pickup_unavailable"
    r = await client.patch(f"/v1/carts/{cart['id']}/lines/{ship_line['id']}", json={"unit_price": 1}, headers=shop)
    assert r.status_code == 422
    r = await client.patch(f"/v1/carts/{cart['id']}/lines/{ship_line['id']}", json={"quantity": 2}, headers=shop)
    assert r.json()["lines"][0]["quantity"] == 2
    r = await client.patch(f"/v1/carts/{cart['id']}/lines/{ship_line['id']}", json={"quantity": 0}, headers=shop)
    assert r.json()["lines"] == [] and r.json()["total"] == money(0)
    await add(client, shop, cart["id"], sku="HAT", quantity=1)
    line_id = (await client.get(f"/v1/carts/{cart['id']}", headers=shop)).json()["lines"][0]["id"]
    r = await client.delete(f"/v1/carts/{cart['id']}/lines/{line_id}", headers=shop)
    assert r.status_code == 200 and r.json()["lines"] == []
    assert (await client.delete(f"/v1/carts/{cart['id']}/lines/{line_id}", headers=shop)).status_code == 404


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ({"sku": "COAT", "quantity": 1, "unit_price": {"amount": 1, "currency": "USD"}}, "validation_failed"),
        ({"sku": "COAT", "quantity": 1, "price": 1}, "validation_failed"),
        ({"sku": "COAT", "quantity": 0}, "validation_failed"),
        ({"sku": "COAT", "quantity": 1000}, "validation_failed"),
        ({"sku": "NOPE", "quantity": 1}, "unknown_sku"),
        ({"sku": "EURO", "quantity": 1}, "currency_mismatch"),
        ({"sku": "COAT", "quantity": 1, "fulfillment": {"type": "pickup", "store": "NOPICK"}}, "pickup_unavailable"),
        ({"sku": "COAT", "quantity": 1, "fulfillment": {"type": "pickup", "store": "GONE"}}, "unknown_store"),
        ({"sku": "COAT", "quantity": 1, "fulfillment": {"type": "drone"}}, "validation_failed"),
    ],
)
async def test_bad_lines_are_422_and_change_nothing(
    client: httpx.AsyncClient, shop: dict[str, str], line: dict[str, Any], code: str
) -> None:
    cart = await new_cart(client, shop)
    r = await add(client, shop, cart["id"], **line)
    assert r.status_code == 422 and r.json()["code"] == code, r.text
    after = (await client.get(f"/v1/carts/{cart['id']}", headers=shop)).json()
    assert after["lines"] == [] and after["version"] == 1


async def test_line_quantity_is_capped_at_999(client: httpx.AsyncClient, shop: dict[str, str]) -> None:
    cart = await new_cart(client, shop)
    await add(client, shop, cart["id"], sku="HAT", quantity=999)
    r = await add(client, shop, cart["id"], sku="HAT", quantity=1)
    assert r.status_code == 422 and r.json()["code"] == "quantity_limit"


async def test_availability_status_per_line(client: httpx.AsyncClient, shop: dict[str, str], app: Any) -> None:
    await stock(app, [("WH", "COAT", 3), ("S1", "COAT", 40), ("S1", "HAT", 20)])
    cart = await new_cart(client, shop)
    await add(client, shop, cart["id"], sku="COAT", quantity=1)
    await add(client, shop, cart["id"], sku="COAT", quantity=1, fulfillment={"type": "pickup", "store": "S1"})
    await add(client, shop, cart["id"], sku="HAT", quantity=1)
    await add(client, shop, cart["id"], sku="HAT", quantity=1, fulfillment={"type": "pickup", "store": "S1"})
    await stock(app, [("S1", "HAT", 0)])
    lines = (await client.get(f"/v1/carts/{cart['id']}", headers=shop)).json()["lines"]
    assert [(line["sku"], line["availability"]) for line in lines] == [
        # Ship lines come from the warehouse first, even when a store has more.
        ("COAT", {"available": 3, "status": "low_stock", "store": "WH"}),
        ("COAT", {"available": 40, "status": "in_stock", "store": "S1"}),
        ("HAT", {"available": 0, "status": "out_of_stock", "store": None}),
        ("HAT", {"available": 0, "status": "out_of_stock", "store": "S1"}),
    ]


async def test_kill_reprices_the_cart_on_next_read(client: httpx.AsyncClient, shop: dict[str, str], admin) -> None:
    body = {"title": "Coats", "kind": "percent_off", "value": 20, "applies_to": {"categories": ["outerwear"]}}
    assert (await client.put("/v1/promotions/coats", json=body, headers=admin)).status_code == 201
    cart = await new_cart(client, shop)
    await add(client, shop, cart["id"], sku="COAT", quantity=2)
    await add(client, shop, cart["id"], sku="HAT", quantity=1)
    got = (await client.get(f"/v1/carts/{cart['id']}", headers=shop)).json()
    assert [(line["promotion_id"], line["discount"]["amount"]) for line in got["lines"]] == [
        ("coats", 4_000),
        (None, 0),
    ]
    assert (got["subtotal"], got["discount_total"], got["total"]) == (money(22_500), money(4_000), money(18_500))
    assert (await client.post("/v1/promotions/coats/kill", headers=admin)).status_code == 200
    got = (await client.get(f"/v1/carts/{cart['id']}", headers=shop)).json()
    assert got["lines"][0]["promotion_id"] is None and got["total"] == money(22_500)


async def test_coded_promotion_applies_only_with_its_code(
    client: httpx.AsyncClient, shop: dict[str, str], admin
) -> None:
    body = {"title": "Hats", "kind": "amount_off", "value": 500, "currency": "USD", "code": "HAT5"}
    await client.put("/v1/promotions/hat5", json=body, headers=admin)
    expired = {"title": "Old", "kind": "percent_off", "value": 10, "code": "OLD10", "ends_at": "2020-01-01T00:00:00Z"}
    await client.put("/v1/promotions/old", json=expired, headers=admin)
    cart = await new_cart(client, shop)
    await add(client, shop, cart["id"], sku="HAT", quantity=2)
    assert (await client.get(f"/v1/carts/{cart['id']}", headers=shop)).json()["discount_total"] == money(0)
    for code in ("NOPE", "old10"):
        r = await client.post(f"/v1/carts/{cart['id']}/codes", json={"code": code}, headers=shop)
        assert r.status_code == 422 and r.json()["code"] == "invalid_code"
    r = await client.post(f"/v1/carts/{cart['id']}/codes", json={"code": "hat5"}, headers=shop)
    assert r.status_code == 200 and r.json()["codes"] == ["HAT5"]
    assert r.json()["lines"][0]["promotion_id"] == "hat5" and r.json()["total"] == money(4_000)
    r = await client.delete(f"/v1/carts/{cart['id']}/codes/Hat5", headers=shop)
    assert r.status_code == 200 and r.json()["codes"] == [] and r.json()["total"] == money(5_000)
    await client.post(f"/v1/carts/{cart['id']}/codes", json={"code": "HAT5"}, headers=shop)
    await client.post("/v1/promotions/hat5/kill", headers=admin)
    got = (await client.get(f"/v1/carts/{cart['id']}", headers=shop)).json()
    assert got["codes"] == ["HAT5"] and got["total"] == money(5_000)
    r = await client.post(f"/v1/carts/{cart['id']}/codes", json={"code": "HAT5"}, headers=shop)
    assert r.status_code == 422 and r.json()["code"] == "invalid_code"


async def test_same_lines_and_code_price_the_same_on_web_and_mobile(
    client: httpx.AsyncClient, shop: dict[str, str], admin
) -> None:
    both = {"title": "App+web", "kind": "percent_off", "value": 15, "code": "JOIN15", "channels": ["web", "mobile"]}
    store_only = {"title": "In store", "kind": "percent_off", "value": 30, "channels": ["store"], "priority": 5}
    await client.put("/v1/promotions/join15", json=both, headers=admin)
    await client.put("/v1/promotions/instore", json=store_only, headers=admin)
    priced = {}
    for channel in ("web", "mobile", "store"):
        cart = await new_cart(client, shop, channel=channel)
        await add(client, shop, cart["id"], sku="COAT", quantity=1)
        await add(client, shop, cart["id"], sku="HAT", quantity=3)
        r = await client.post(f"/v1/carts/{cart['id']}/codes", json={"code": "join15"}, headers=shop)
        priced[channel] = [(line["promotion_id"], line["line_total"]) for line in r.json()["lines"]], r.json()["total"]
    assert priced["web"] == priced["mobile"]
    assert priced["web"][0] == [("join15", money(8_500)), ("join15", money(6_375))]
    # The store-only promotion wins in store (priority) and never applies on web or mobile.
    assert [p for p, _ in priced["store"][0]] == ["instore", "instore"]


async def test_customer_cart_is_one_cart_across_devices(
    client: httpx.AsyncClient, shop: dict[str, str], db_conn, admin
) -> None:
    customer = (await client.post("/v1/customers", json={"email": "ana@example.com"}, headers=admin)).json()
    url = f"/v1/customers/{customer['id']}/cart"
    phone, laptop = (await client.get(url, headers=admin)).json(), (await client.get(url, headers=admin)).json()
    assert phone["id"] == laptop["id"] and phone["customer_id"] == customer["id"]
    other = (await client.post("/v1/customers", json={"email": "bo@example.com"}, headers=admin)).json()
    answers = await asyncio.gather(*(client.get(f"/v1/customers/{other['id']}/cart", headers=admin) for _ in range(10)))
    assert {r.status_code for r in answers} == {200}
    assert len({r.json()["id"] for r in answers}) == 1
    assert await db_conn.fetchval("SELECT count(*) FROM carts WHERE customer_id = $1", other["id"]) == 1
    r = await client.post("/v1/carts", json={"channel": "mobile", "customer_id": other["id"]}, headers=admin)
    assert r.status_code == 409 and r.json()["code"] == "active_cart_exists"
    assert (
        await client.get("/v1/customers/00000000-0000-0000-0000-000000000000/cart", headers=admin)
    ).status_code == 404


async def test_merge_moves_lines_and_codes_and_closes_the_anonymous_cart(
    client: httpx.AsyncClient, shop: dict[str, str], admin
) -> None:
    await client.put(
        "/v1/promotions/p", json={"title": "C", "kind": "percent_off", "value": 5, "code": "FIVE"}, headers=admin
    )
    customer = (await client.post("/v1/customers", json={"loyalty_id": "L-9"}, headers=admin)).json()
    mine = (await client.get(f"/v1/customers/{customer['id']}/cart", headers=admin)).json()
    await add(client, shop, mine["id"], sku="COAT", quantity=1)
    anon = await new_cart(client, shop, channel="mobile")
    await add(client, shop, anon["id"], sku="COAT", quantity=2)
    await add(client, shop, anon["id"], sku="HAT", quantity=1, fulfillment={"type": "pickup", "store": "S1"})
    await client.post(f"/v1/carts/{anon['id']}/codes", json={"code": "five"}, headers=shop)

    url = f"/v1/customers/{customer['id']}/cart/merge"
    r = await client.post(url, json={"cart_id": anon["id"]}, headers=admin)
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["id"] == mine["id"] and merged["codes"] == ["FIVE"]
    assert [(line["sku"], line["quantity"], line["fulfillment"]["type"]) for line in merged["lines"]] == [
        ("COAT", 3, "ship"),
        ("HAT", 1, "pickup"),
    ]
    closed = (await client.get(f"/v1/carts/{anon['id']}", headers=admin)).json()
    assert (closed["status"], closed["merged_into"], closed["lines"]) == ("merged", mine["id"], [])
    again = await client.post(url, json={"cart_id": anon["id"]}, headers=admin)
    assert again.status_code == 200 and again.json() == merged
    r = await add(client, shop, anon["id"], sku="HAT", quantity=1)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    r = await client.post(url, json={"cart_id": "no-such-cart"}, headers=admin)
    assert r.status_code == 404
    someone_else = (await client.post("/v1/customers", json={"loyalty_id": "L-10"}, headers=admin)).json()
    theirs = (await client.get(f"/v1/customers/{someone_else['id']}/cart", headers=admin)).json()
    r = await client.post(url, json={"cart_id": theirs["id"]}, headers=admin)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"


async def test_concurrent_edits_with_if_match_one_wins_one_412(client: httpx.AsyncClient, shop: dict[str, str]) -> None:
    cart = await new_cart(client, shop)
    line = {"sku": "HAT", "quantity": 1, "fulfillment": SHIP}
    r1, r2 = await asyncio.gather(
        *(
            client.post(f"/v1/carts/{cart['id']}/lines", json=line, headers={**shop, "If-Match": '"1"'})
            for _ in range(2)
        )
    )
    assert sorted([r1.status_code, r2.status_code]) == [200, 412]
    loser = r1 if r1.status_code == 412 else r2
    assert loser.json()["code"] == "version_conflict"
    got = await client.get(f"/v1/carts/{cart['id']}", headers=shop)
    assert got.headers["etag"] == '"2"' and got.json()["lines"][0]["quantity"] == 1
    r = await client.post(f"/v1/carts/{cart['id']}/lines", json=line, headers={**shop, "If-Match": got.headers["etag"]})
    assert r.status_code == 200 and r.headers["etag"] == '"3"'
    r = await client.post(f"/v1/carts/{cart['id']}/lines", json=line, headers={**shop, "If-Match": "soon"})
    assert r.status_code == 400


async def test_carts_are_for_storefront_associate_and_admin_keys(
    client: httpx.AsyncClient, shop: dict[str, str], api: Api
) -> None:
    cart = await new_cart(client, shop)
    associate = await api.key("associate", "S1")
    assert (await client.get(f"/v1/carts/{cart['id']}", headers=associate)).status_code == 200
    pos = await api.key("pos", "S1")
    assert (await client.get(f"/v1/carts/{cart['id']}", headers=pos)).status_code == 403
    assert (await client.get("/v1/carts/not-a-real-cart-id", headers=shop)).status_code == 404


async def test_pricing_a_cart_takes_the_same_queries_for_2_or_30_lines(
    client: httpx.AsyncClient, api: Api, app: Any, admin
) -> None:
    from sqlalchemy import event

    await api.store("S1")
    await api.store("WH", kind="warehouse")
    skus = [f"SKU-{i:02d}" for i in range(30)]
    await api.product("many", skus, price=1_000, category="misc")
    await stock(app, [("WH", sku, 10) for sku in skus[::2]] + [("S1", sku, 10) for sku in skus])
    await client.put("/v1/promotions/misc", json={"title": "M", "kind": "percent_off", "value": 10}, headers=admin)
    small, large = await new_cart(client, admin), await new_cart(client, admin)
    for i, sku in enumerate(skus):
        fulfillment = {"type": "pickup", "store": "S1"} if i % 3 == 0 else SHIP
        await add(client, admin, large["id"], sku=sku, quantity=1, fulfillment=fulfillment)
        if i < 2:
            await add(client, admin, small["id"], sku=sku, quantity=1, fulfillment=fulfillment)

    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        got_small = (await client.get(f"/v1/carts/{small['id']}", headers=admin)).json()
        small_queries = len(statements)
        statements.clear()
        got_large = (await client.get(f"/v1/carts/{large['id']}", headers=admin)).json()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(got_small["lines"]) == 2 and len(got_large["lines"]) == 30
    assert got_large["discount_total"] == money(3_000)
    assert len(statements) == small_queries <= 6
