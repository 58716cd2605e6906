"""Availability across stores: the matrix, product listings filtered by stores, nearby stores with a SKU,
and the associate's lookup."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from commerce.inventory import service
from commerce.inventory.rules import StockLine
from tests.conftest import ADMIN, Api
from tests.stock import stock

LOOP = (41.8827, -87.6278)
NEAR_LOOP = "41.8827,-87.6278"


@pytest.fixture
async def city(api: Api, app: Any) -> None:
    await api.store("LOOP", *LOOP)
    await api.store("LP", 41.9214, -87.6513)  # ~4.7 km
    await api.store("EV", 42.0451, -87.6877)  # ~18.7 km
    await api.store("MKE", 43.0389, -87.9065)  # ~130 km
    await api.store("WH", 41.80, -87.70, kind="warehouse", pickup=False)  # ~11 km
    await api.store("WH2", 39.10, -84.51, kind="warehouse", pickup=False)  # Cincinnati
    await api.client.put(
        "/v1/products/jacket",
        json={
            "title": "Rain Jacket",
            "variants": [
                {"sku": "J-S", "title": "S", "barcode": "200000000001", "price": {"amount": 8900, "currency": "USD"}},
                {"sku": "J-M", "title": "M", "price": {"amount": 8900, "currency": "USD"}},
            ],
        },
        headers=ADMIN,
    )
    await api.product("boots", ["B-41"], price=12000, title="Trail Boots")
    await api.product("tent", ["T-2"], title="Dome Tent")
    await stock(
        app,
        [
            ("LOOP", "J-S", 2),
            ("LP", "J-S", 5),
            ("EV", "J-S", 1),
            ("MKE", "J-S", 9),
            ("WH", "J-S", 40),
            ("WH2", "J-S", 100),
            ("LP", "B-41", 3),
            ("EV", "T-2", 1),
            ("WH", "T-2", 7),
        ],
    )
    # LOOP holds J-M but all of it is reserved: not available.
    await stock(app, [("LOOP", "J-M", 1)])
    async with app.state.sessionmaker() as db, db.begin():
        await service.reserve_lines(db, [StockLine("LOOP", "J-M", 1)], reference="o1", source="t")


async def test_availability_matrix_by_store_codes(city: None, client: httpx.AsyncClient, api: Api) -> None:
    r = await client.get("/v1/availability?skus=J-S,J-M,NOPE&stores=LP,LOOP", headers=await api.key("ads"))
    assert r.status_code == 200
    assert r.json()["items"] == [
        {"sku": "J-S", "store": "LP", "available": 5},
        {"sku": "J-S", "store": "LOOP", "available": 2},
        {"sku": "J-M", "store": "LP", "available": 0},
        {"sku": "J-M", "store": "LOOP", "available": 0},
        {"sku": "NOPE", "store": "LP", "available": 0},
        {"sku": "NOPE", "store": "LOOP", "available": 0},
    ]


async def test_availability_near_a_point(city: None, client: httpx.AsyncClient, api: Api) -> None:
    headers = await api.key("storefront")
    r = await client.get(f"/v1/availability?skus=J-S&near={NEAR_LOOP}&radius_km=15", headers=headers)
    assert r.status_code == 200
    assert r.json()["items"] == [
        {"sku": "J-S", "store": "LOOP", "available": 2},
        {"sku": "J-S", "store": "LP", "available": 5},
        {"sku": "J-S", "store": "WH", "available": 40},
    ]
    r = await client.get("/v1/availability?skus=J-S&near=0,0&radius_km=1", headers=headers)
    assert r.status_code == 200 and r.json() == {"items": []}


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("skus=J-S", 422),
        ("skus=J-S&stores=LOOP&near=41.88,-87.62", 422),
        ("skus=,&stores=LOOP", 422),
        ("stores=LOOP", 422),
        ("skus=" + ",".join(f"S{i}" for i in range(101)) + "&stores=LOOP", 422),
        ("skus=J-S&stores=" + ",".join(f"X{i}" for i in range(201)), 422),
        ("skus=J-S&near=91,0", 422),
        ("skus=J-S&near=41.88", 422),
        ("skus=J-S&near=41.88,-87.62&radius_km=0", 422),
        ("skus=J-S&stores=LOOP,NOWHERE", 404),
    ],
)
async def test_bad_availability_queries(city: None, client: httpx.AsyncClient, query: str, status: int) -> None:
    r = await client.get(f"/v1/availability?{query}", headers=ADMIN)
    assert r.status_code == status, r.text
    assert r.json()["code"] == ("not_found" if status == 404 else "validation_failed")


async def test_availability_needs_a_key(city: None, client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/availability?skus=J-S&stores=LOOP")).status_code == 401


async def test_listing_available_at_one_store(city: None, client: httpx.AsyncClient, api: Api) -> None:
    r = await client.get("/v1/products?available_at=LOOP", headers=await api.key("storefront"))
    assert r.status_code == 200
    items = r.json()["items"]
    assert [p["product_id"] for p in items] == ["jacket"]
    assert {v["sku"]: v["availability"] for v in items[0]["variants"]} == {
        "J-S": [{"store": "LOOP", "available": 2}],
        "J-M": [{"store": "LOOP", "available": 0}],
    }


async def test_listing_available_at_several_stores(city: None, client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/products?available_at=EV,LP&limit=1", headers=ADMIN)
    page = r.json()
    assert [p["product_id"] for p in page["items"]] == ["boots"]
    assert page["items"][0]["variants"][0]["availability"] == [
        {"store": "EV", "available": 0},
        {"store": "LP", "available": 3},
    ]
    r = await client.get(f"/v1/products?available_at=EV,LP&limit=1&cursor={page['next_cursor']}", headers=ADMIN)
    assert [p["product_id"] for p in r.json()["items"]] == ["jacket"]
    r = await client.get(f"/v1/products?available_at=EV,LP&limit=5&cursor={page['next_cursor']}", headers=ADMIN)
    assert [p["product_id"] for p in r.json()["items"]] == ["jacket", "tent"]
    assert r.json()["next_cursor"] is None
    # Text and category filters still apply.
    r = await client.get("/v1/products?available_at=EV,LP&q=tent", headers=ADMIN)
    assert [p["product_id"] for p in r.json()["items"]] == ["tent"]


async def test_listing_near_a_point_uses_stores_not_warehouses(city: None, client: httpx.AsyncClient) -> None:
    r = await client.get(f"/v1/products?near={NEAR_LOOP}&radius_km=10", headers=ADMIN)
    assert r.status_code == 200
    items = {p["product_id"]: p for p in r.json()["items"]}
    # The tent is only at EV (18 km) and the warehouse: not in a store within 10 km.
    assert sorted(items) == ["boots", "jacket"]
    assert items["jacket"]["variants"][0]["availability"] == [
        {"store": "LOOP", "available": 2},
        {"store": "LP", "available": 5},
    ]
    r = await client.get(f"/v1/products?near={NEAR_LOOP}&radius_km=25", headers=ADMIN)
    assert sorted(p["product_id"] for p in r.json()["items"]) == ["boots", "jacket", "tent"]
    r = await client.get("/v1/products?near=0,0&radius_km=1", headers=ADMIN)
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}


async def test_listing_without_store_filter_has_no_availability(city: None, client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/products", headers=ADMIN)
    assert len(r.json()["items"]) == 3
    assert all("availability" not in v for p in r.json()["items"] for v in p["variants"])


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("available_at=LOOP&near=41.88,-87.62", 422),
        ("available_at=,", 422),
        ("available_at=" + ",".join(f"X{i}" for i in range(51)), 422),
        ("near=abc", 422),
        ("available_at=LOOP,NOWHERE", 404),
    ],
)
async def test_bad_listing_filters(city: None, client: httpx.AsyncClient, query: str, status: int) -> None:
    r = await client.get(f"/v1/products?{query}", headers=ADMIN)
    assert r.status_code == status, r.text


async def test_nearby_stores_with_a_sku_carry_available(city: None, client: httpx.AsyncClient) -> None:
    r = await client.get(f"/v1/stores?near={NEAR_LOOP}&radius_km=30&sku=J-S", headers=ADMIN)
    assert r.status_code == 200
    assert [(s["code"], s["available"]) for s in r.json()["items"]] == [
        ("LOOP", 2),
        ("LP", 5),
        ("WH", 40),
        ("EV", 1),
    ]
    r = await client.get(f"/v1/stores?near={NEAR_LOOP}&radius_km=30&sku=J-S&min_available=3&kind=store", headers=ADMIN)
    assert [(s["code"], s["available"]) for s in r.json()["items"]] == [("LP", 5)]
    # Reserved units are not available: LOOP holds one J-M, all reserved.
    r = await client.get(f"/v1/stores?near={NEAR_LOOP}&radius_km=30&sku=J-M", headers=ADMIN)
    assert r.json()["items"] == []
    r = await client.get(f"/v1/stores?near={NEAR_LOOP}&sku=J-S&min_available=0", headers=ADMIN)
    assert r.status_code == 422


async def test_lookup_by_sku_shows_here_nearby_and_warehouses(city: None, client: httpx.AsyncClient, api: Api) -> None:
    r = await client.get("/v1/stores/LOOP/lookup?q=J-S", headers=await api.key("associate", "LOOP"))
    assert r.status_code == 200
    (item,) = r.json()["items"]
    assert item["sku"] == "J-S" and item["title"] == "Rain Jacket / S" and item["product_id"] == "jacket"
    assert item["price"] == {"amount": 8900, "currency": "USD"}
    assert item["here"] == {"on_hand": 2, "reserved": 0, "available": 2}
    # Other stores within 50 km, nearest first (MKE is too far; warehouses are listed apart).
    assert [(n["store"], n["available"]) for n in item["nearby"]] == [("LP", 5), ("EV", 1)]
    assert 4 < item["nearby"][0]["distance_km"] < 5.5
    assert item["warehouses"] == [{"store": "WH2", "available": 100}, {"store": "WH", "available": 40}]


async def test_lookup_by_barcode_and_by_text(city: None, client: httpx.AsyncClient, api: Api) -> None:
    headers = await api.key("associate", "LOOP")
    r = await client.get("/v1/stores/LOOP/lookup?q=200000000001", headers=headers)
    assert [i["sku"] for i in r.json()["items"]] == ["J-S"]
    r = await client.get("/v1/stores/LOOP/lookup?q=jacket", headers=headers)
    items = {i["sku"]: i for i in r.json()["items"]}
    assert sorted(items) == ["J-M", "J-S"]
    assert items["J-M"]["here"] == {"on_hand": 1, "reserved": 1, "available": 0}
    assert items["J-M"]["nearby"] == [] and items["J-M"]["warehouses"] == []
    r = await client.get("/v1/stores/LOOP/lookup?q=kayak", headers=headers)
    assert r.status_code == 200 and r.json() == {"items": []}


async def test_lookup_is_for_associates_of_that_store(city: None, client: httpx.AsyncClient, api: Api) -> None:
    assert (await client.get("/v1/stores/LOOP/lookup?q=J-S", headers=ADMIN)).status_code == 200
    for headers in (await api.key("associate", "LP"), await api.key("pos", "LOOP"), await api.key("storefront")):
        r = await client.get("/v1/stores/LOOP/lookup?q=J-S", headers=headers)
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert (await client.get("/v1/stores/NOWHERE/lookup?q=J-S", headers=ADMIN)).status_code == 404
    for query in ("", "?q=", "?q=%20%20"):
        r = await client.get(f"/v1/stores/LOOP/lookup{query}", headers=ADMIN)
        assert r.status_code == 422 and r.json()["code"] == "validation_failed"
