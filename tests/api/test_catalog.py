from __future__ import annotations

import httpx
import pytest

from tests.conftest import ADMIN, Api


def product(*skus: str, price: int = 1999, **extra: object) -> dict[str, object]:
    return {
        "title": extra.pop("title", "Rain Jacket"),
        "variants": [{"sku": s, "price": {"amount": price, "currency": "USD"}} for s in skus],
        **extra,
    }


async def test_put_creates_then_replaces_variants(client: httpx.AsyncClient, db_conn) -> None:
    body = {
        "title": "Rain Jacket",
        "brand": "Northwind",
        "category": "outerwear",
        "description": "Packable.",
        "attributes": {"material": "nylon"},
        "variants": [
            {
                "sku": "JKT-S",
                "title": "S",
                "barcode": "200000000001",
                "options": {"size": "S"},
                "price": {"amount": 8900, "currency": "USD"},
            },
            {"sku": "JKT-M", "options": {"size": "M"}, "price": {"amount": 8900, "currency": "USD"}},
        ],
    }
    r = await client.put("/v1/products/jacket", json=body, headers=ADMIN)
    assert r.status_code == 201
    got = r.json()
    assert got["product_id"] == "jacket" and [v["sku"] for v in got["variants"]] == ["JKT-S", "JKT-M"]
    assert got["variants"][0]["price"] == {"amount": 8900, "currency": "USD"}
    body["variants"] = body["variants"][1:]  # type: ignore[index]
    r = await client.put("/v1/products/jacket", json=body, headers=ADMIN)
    assert r.status_code == 200 and [v["sku"] for v in r.json()["variants"]] == ["JKT-M"]
    assert (await client.get("/v1/variants/JKT-S", headers=ADMIN)).status_code == 404
    assert await db_conn.fetchval("SELECT count(*) FROM events WHERE type = 'product.changed'") == 2


async def test_variant_by_sku_and_barcode(client: httpx.AsyncClient) -> None:
    body = product("A-1")
    body["variants"][0]["barcode"] = "0123456789012"  # type: ignore[index]
    await client.put("/v1/products/a", json=body, headers=ADMIN)
    r = await client.get("/v1/variants/A-1", headers=ADMIN)
    assert r.status_code == 200 and r.json()["product_id"] == "a"
    r = await client.get("/v1/variants", params={"barcode": "0123456789012"}, headers=ADMIN)
    assert [v["sku"] for v in r.json()["items"]] == ["A-1"]
    r = await client.get("/v1/variants", params={"barcode": "999"}, headers=ADMIN)
    assert r.json()["items"] == []


async def test_sku_of_another_product_is_409(client: httpx.AsyncClient) -> None:
    await client.put("/v1/products/a", json=product("SHARED"), headers=ADMIN)
    r = await client.put("/v1/products/b", json=product("SHARED"), headers=ADMIN)
    assert r.status_code == 409 and r.json()["code"] == "sku_taken"
    assert (await client.get("/v1/products/b", headers=ADMIN)).status_code == 404


async def test_barcode_of_another_variant_is_409_and_writes_nothing(client: httpx.AsyncClient) -> None:
    a = product("A")
    a["variants"][0]["barcode"] = "111"  # type: ignore[index]
    await client.put("/v1/products/a", json=a, headers=ADMIN)
    b = product("B")
    b["variants"][0]["barcode"] = "111"  # type: ignore[index]
    r = await client.put("/v1/products/b", json=b, headers=ADMIN)
    assert r.status_code == 409 and r.json()["code"] == "barcode_taken"
    assert (await client.get("/v1/products/b", headers=ADMIN)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"title": "x", "variants": []},
        {"title": "x", "variants": [{"sku": "A", "price": {"amount": 1.5, "currency": "USD"}}]},
        {"title": "x", "variants": [{"sku": "A", "price": {"amount": -1, "currency": "USD"}}]},
        {"title": "x", "variants": [{"sku": "A", "price": {"amount": 1, "currency": "usd"}}]},
        {"title": "x", "variants": [{"sku": "A", "price": 100}]},
        {
            "title": "x",
            "variants": [
                {"sku": "A", "price": {"amount": 1, "currency": "USD"}},
                {"sku": "A", "price": {"amount": 1, "currency": "USD"}},
            ],
        },
        {"variants": [{"sku": "A", "price": {"amount": 1, "currency": "USD"}}]},
    ],
)
async def test_invalid_product_is_422(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    r = await client.put("/v1/products/x", json=body, headers=ADMIN)
    assert r.status_code == 422, r.text


async def test_list_search_category_and_pagination(client: httpx.AsyncClient, api: Api) -> None:
    await api.product("p1", ["P1"], title="Trail Runner", category="footwear", brand="Stride")
    await api.product("p2", ["P2"], title="Court Sneaker", category="footwear")
    await api.product("p3", ["P3"], title="Rain Jacket", category="outerwear")
    r = await client.get("/v1/products", params={"q": "runner"}, headers=ADMIN)
    assert [p["product_id"] for p in r.json()["items"]] == ["p1"]
    r = await client.get("/v1/products", params={"q": "stride"}, headers=ADMIN)
    assert [p["product_id"] for p in r.json()["items"]] == ["p1"]
    r = await client.get("/v1/products", params={"q": "P3"}, headers=ADMIN)
    assert [p["product_id"] for p in r.json()["items"]] == ["p3"]
    r = await client.get("/v1/products", params={"category": "footwear", "limit": 1}, headers=ADMIN)
    body = r.json()
    assert [p["product_id"] for p in body["items"]] == ["p1"]
    r = await client.get(
        "/v1/products",
        params={"category": "footwear", "limit": 1, "cursor": body["next_cursor"]},
        headers=ADMIN,
    )
    assert [p["product_id"] for p in r.json()["items"]] == ["p2"]


async def test_import_reports_bad_lines_and_applies_the_rest(client: httpx.AsyncClient) -> None:
    await client.put("/v1/products/taken", json=product("TAKEN"), headers=ADMIN)
    lines = [
        b'{"product_id": "i1", "title": "One", "variants": [{"sku": "I1", "price": {"amount": 100, "currency": "USD"}}]}',
        b"{not json",
        b'{"product_id": "i2", "title": "Two", "variants": [{"sku": "TAKEN", "price": {"amount": 1, "currency": "USD"}}]}',
        b"",
        b'{"product_id": "i3", "title": "Three", "variants": [{"sku": "I3", "price": {"amount": 1, "currency": "EUR"}}],'
        b' "extra": 1}',
        b'{"product_id": "taken", "title": "Renamed", "variants": [{"sku": "TAKEN", "price": {"amount": 5, "currency": "USD"}}]}',
    ]
    r = await client.post(
        "/v1/imports/products",
        content=b"\n".join(lines),
        headers={**ADMIN, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["created"] == 1 and report["updated"] == 1
    assert [(f["line"], f["code"]) for f in report["failed"]] == [
        (2, "malformed_json"),
        (3, "sku_taken"),
        (5, "validation_failed"),
    ]
    assert (await client.get("/v1/products/i2", headers=ADMIN)).status_code == 404
    assert (await client.get("/v1/products/taken", headers=ADMIN)).json()["title"] == "Renamed"
