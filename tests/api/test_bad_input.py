"""Inputs that used to answer 500 or be quietly converted: each is a 4xx problem with a stable code,
and nothing is written."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ADMIN, Api

JSON = {**ADMIN, "content-type": "application/json"}
PRODUCT = b'{"title": "T", "variants": [{"sku": "V-1", "price": {"amount": 100, "currency": "USD"}}], '
STORE = {"name": "A", "kind": "store", "latitude": 41.0, "longitude": -87.0}


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = dict(r.json())
    assert body["code"] == code, body
    return body


async def written(db_conn: asyncpg.Connection) -> dict[str, int]:
    """Row counts of what a request could have written (besides the outbox, checked with them)."""
    tables = ("products", "variants", "stores", "carts", "cart_lines", "inventory_levels", "inventory_ledger", "events")
    return {t: await db_conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables}


async def test_body_that_is_not_utf8_is_400_malformed_json(client: httpx.AsyncClient, db_conn: Any) -> None:
    r = await client.put("/v1/products/x", content=b'{"title": "\xff\xfe", "variants": []}', headers=JSON)
    problem(r, 400, "malformed_json")
    assert await written(db_conn) == dict.fromkeys(await written(db_conn), 0)
    # The same bytes on a line of an import are reported for that line.
    r = await client.post("/v1/imports/products", content=b'{"product_id": "x", "title": "\xff"}\n', headers=ADMIN)
    assert r.status_code == 200 and r.json()["failed"][0]["code"] == "malformed_json"


@pytest.mark.parametrize("levels", [33, 1_000, 100_000])
async def test_deeply_nested_attributes_are_422(client: httpx.AsyncClient, db_conn: Any, levels: int) -> None:
    body = PRODUCT + b'"attributes": {"a": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}}"
    r = await client.put("/v1/products/x", content=body, headers=JSON)
    assert "deep" in problem(r, 422, "validation_failed")["detail"]
    assert (await client.get("/v1/products/x", headers=ADMIN)).status_code == 404
    assert await db_conn.fetchval("SELECT count(*) FROM products") == 0


async def test_attributes_at_the_nesting_limit_are_kept(client: httpx.AsyncClient) -> None:
    body = PRODUCT + b'"attributes": {"a": ' + b"[" * 31 + b"1" + b"]" * 31 + b"}}"
    r = await client.put("/v1/products/x", content=body, headers=JSON)
    assert r.status_code == 201, r.text
    assert (await client.get("/v1/products/x", headers=ADMIN)).json()["attributes"]["a"] == [
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    ]


async def test_event_position_past_int64_is_422(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/events", params={"after": "9223372036854775808"}, headers=ADMIN)
    assert problem(r, 422, "validation_failed")["errors"][0]["key"] == "after"
    r = await client.get("/v1/events", params={"after": "9223372036854775807"}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["items"] == []


@pytest.mark.parametrize("version", ['"2147483648"', '"9223372036854775808"', '"-1"', 'W/"99999999999"', '"1.0"'])
async def test_if_match_that_no_cart_version_can_be_is_400(
    client: httpx.AsyncClient, api: Api, db_conn: Any, version: str
) -> None:
    await api.product("p", ["SKU-1"])
    cart = (await client.post("/v1/carts", json={"channel": "web"}, headers=ADMIN)).json()
    r = await client.post(
        f"/v1/carts/{cart['id']}/lines",
        json={"sku": "SKU-1", "quantity": 1, "fulfillment": {"type": "ship"}},
        headers=ADMIN,
    )
    line = r.json()["lines"][0]["id"]
    r = await client.patch(
        f"/v1/carts/{cart['id']}/lines/{line}", json={"quantity": 5}, headers={**ADMIN, "If-Match": version}
    )
    problem(r, 400, "invalid_if_match")
    assert await db_conn.fetchval("SELECT quantity FROM cart_lines WHERE id = $1", line) == 1
    assert await db_conn.fetchval("SELECT version FROM carts WHERE id = $1", cart["id"]) == 2


async def test_path_integer_past_int64_is_404(client: httpx.AsyncClient) -> None:
    cart = (await client.post("/v1/carts", json={"channel": "web"}, headers=ADMIN)).json()
    r = await client.patch(f"/v1/carts/{cart['id']}/lines/9223372036854775808", json={"quantity": 1}, headers=ADMIN)
    problem(r, 404, "not_found")


# Item by item, what lax conversion used to accept: each is refused and writes nothing.
LOOSE_BODIES = [
    ("quantity as a string", "POST", "/v1/carts/{cart}/lines", {"sku": "SKU-1", "quantity": "1", "fulfillment": {"type": "ship"}}, "quantity"),
    ("delta as a string", "POST", "/v1/inventory/adjustments", {"store": "S1", "sku": "SKU-1", "delta": "5", "reason": "receipt"}, "delta"),
    ("amount as a string", "PUT", "/v1/products/y", {"title": "Y", "variants": [{"sku": "Y-1", "price": {"amount": "1999", "currency": "USD"}}]}, "variants[0].price.amount"),
    ("amount as a float", "PUT", "/v1/products/y", {"title": "Y", "variants": [{"sku": "Y-1", "price": {"amount": 1000.0, "currency": "USD"}}]}, "variants[0].price.amount"),
    ("price in no currency", "PUT", "/v1/products/y", {"title": "Y", "variants": [{"sku": "Y-1", "price": {"amount": 1000, "currency": "ZZZ"}}]}, "variants[0].price.currency"),
    ("cart in no currency", "POST", "/v1/carts", {"channel": "web", "currency": "ZZZ"}, "currency"),
    ("pickup_enabled as 0", "PUT", "/v1/stores/S2", {**STORE, "pickup_enabled": 0}, "pickup_enabled"),
    ("latitude as a string", "PUT", "/v1/stores/S2", {**STORE, "latitude": "41.0"}, "latitude"),
    ("on_hand as a float", "PUT", "/v1/inventory/S1/SKU-1", {"on_hand": 5.0}, "on_hand"),
    ("safety_stock below zero", "PUT", "/v1/inventory/S1/SKU-1", {"on_hand": 5, "safety_stock": -1}, "safety_stock"),
    ("delta of zero", "POST", "/v1/inventory/adjustments", {"store": "S1", "sku": "SKU-1", "delta": 0, "reason": "correction"}, "delta"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "key"), [c[1:] for c in LOOSE_BODIES], ids=[c[0] for c in LOOSE_BODIES]
)
async def test_loosely_typed_body_is_422_and_writes_nothing(
    client: httpx.AsyncClient, api: Api, db_conn: Any, method: str, path: str, body: dict[str, Any], key: str
) -> None:
    await api.store("S1")
    await api.product("p", ["SKU-1"])
    cart = (await client.post("/v1/carts", json={"channel": "web"}, headers=ADMIN)).json()
    before = await written(db_conn)
    r = await client.request(method, path.format(cart=cart["id"]), json=body, headers=ADMIN)
    found = problem(r, 422, "validation_failed")
    assert key in {e.get("key") for e in found.get("errors") or []} or key in found["detail"], found
    assert await written(db_conn) == before


async def test_a_real_currency_is_accepted(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/carts", json={"channel": "web", "currency": "JPY"}, headers=ADMIN)
    assert r.status_code == 201 and r.json()["currency"] == "JPY"
    r = await client.get("/v1/customers/00000000-0000-0000-0000-000000000000/cart?currency=ZZZ", headers=ADMIN)
    problem(r, 422, "validation_failed")


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("limit=1.0", "limit"),
        ("limit=1e1", "limit"),
        ("pickup=1&near=41,-87", "pickup"),
        ("radius_km=abc&near=41,-87", "radius_km"),
    ],
)
async def test_query_parameters_of_the_wrong_spelling_are_422(client: httpx.AsyncClient, query: str, key: str) -> None:
    r = await client.get(f"/v1/stores?{query}", headers=ADMIN)
    assert problem(r, 422, "validation_failed")["errors"][0]["key"] == key


async def test_query_parameters_spelled_right_are_taken(client: httpx.AsyncClient, api: Api) -> None:
    await api.store("S1", 41.0, -87.0)
    r = await client.get("/v1/stores?near=41,-87&radius_km=1.5&pickup=true&limit=10", headers=ADMIN)
    assert r.status_code == 200 and [s["code"] for s in r.json()["items"]] == ["S1"]


async def test_an_empty_body_where_one_is_needed_says_so(client: httpx.AsyncClient, api: Api, db_conn: Any) -> None:
    for method, path in (("PUT", "/v1/stores/S1"), ("POST", "/v1/orders/import"), ("POST", "/v1/ad-clicks")):
        r = await client.request(method, path, content=b"", headers=JSON)
        assert "empty" in problem(r, 422, "validation_failed")["detail"], (method, path)
    assert await written(db_conn) == dict.fromkeys(await written(db_conn), 0)
    # A body that is optional may be left out.
    customer = await api.customer(email="ann@example.com")
    r = await client.post(f"/v1/customers/{customer['id']}/tokens", content=b"", headers=ADMIN)
    assert r.status_code == 201
    # An empty import has no lines to report.
    r = await client.post("/v1/imports/products", content=b"", headers=ADMIN)
    assert r.status_code == 200, r.text
