"""The local-inventory feed for ad systems: rows, both formats, availability, streaming."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from commerce.inventory import service
from commerce.inventory.rules import StockLine
from tests.conftest import ADMIN, Api

# The store product page with the placeholder ad systems fill in (COMMERCE_PUBLIC_URL unset: the request's host).
LINK = "http://commerce.test/stores/{store_code}/products/"


async def stock(app, rows: list[tuple[str, str, int]]) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await service.set_on_hand_many(db, [StockLine(*r) for r in rows], reason="correction", source="test")


@pytest.fixture
async def shop(api: Api, app) -> None:
    await api.store("CHI-1", pickup=True, pickup_lead_minutes=120)
    await api.store("CHI-2", pickup=False)
    await api.store("WH", kind="warehouse")
    await api.product("tee", ["TEE-S", "TEE-M"], price=1999)
    await api.product("mug", ["MUG"], price=500, currency="JPY")
    await stock(app, [("CHI-1", "TEE-S", 20), ("CHI-1", "TEE-M", 3), ("CHI-1", "MUG", 2), ("CHI-2", "TEE-S", 7)])
    await stock(app, [("WH", "TEE-S", 500)])
    async with app.state.sessionmaker() as db, db.begin():
        await service.reserve_lines(db, [StockLine("CHI-1", "MUG", 2)], reference="o1", source="test")  # sold out
        await service.reserve_lines(db, [StockLine("CHI-2", "TEE-S", 2)], reference="o2", source="test")


async def test_ndjson_rows_for_every_store_level(client, shop) -> None:
    r = await client.get("/v1/feeds/local-inventory", headers=ADMIN)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert rows == [
        {
            "store_code": "CHI-1",
            "id": "MUG",
            "quantity": 0,
            "price": "500 JPY",
            "availability": "out_of_stock",
            "pickup_method": "buy",
            "pickup_sla": "same day",
            "link_template": "http://commerce.test/stores/{store_code}/products/MUG",
        },
        {
            "store_code": "CHI-1",
            "id": "TEE-M",
            "quantity": 3,
            "price": "19.99 USD",
            "availability": "limited_availability",
            "pickup_method": "buy",
            "pickup_sla": "same day",
            "link_template": "http://commerce.test/stores/{store_code}/products/TEE-M",
        },
        {
            "store_code": "CHI-1",
            "id": "TEE-S",
            "quantity": 20,
            "price": "19.99 USD",
            "availability": "in_stock",
            "pickup_method": "buy",
            "pickup_sla": "same day",
            "link_template": "http://commerce.test/stores/{store_code}/products/TEE-S",
        },
        {
            "store_code": "CHI-2",
            "id": "TEE-S",
            "quantity": 5,
            "price": "19.99 USD",
            "availability": "limited_availability",
            "pickup_method": "not supported",
            "pickup_sla": None,
            "link_template": "http://commerce.test/stores/{store_code}/products/TEE-S",
        },
    ]


async def test_tsv_has_a_header_and_one_line_per_row(client, shop) -> None:
    r = await client.get("/v1/feeds/local-inventory", params={"format": "tsv"}, headers=ADMIN)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/tab-separated-values; charset=utf-8"
    lines = r.text.split("\n")
    assert lines[-1] == ""
    assert lines[0].split("\t") == [
        "store_code",
        "id",
        "quantity",
        "price",
        "availability",
        "pickup_method",
        "pickup_sla",
        "link_template",
    ]
    assert lines[1].split("\t") == ["CHI-1", "MUG", "0", "500 JPY", "out_of_stock", "buy", "same day", LINK + "MUG"]
    assert lines[4].split("\t") == [
        "CHI-2",
        "TEE-S",
        "5",
        "19.99 USD",
        "limited_availability",
        "not supported",
        "",
        LINK + "TEE-S",
    ]
    assert len(lines) == 6


async def test_feed_is_for_ads_and_admin_keys(client, api, shop) -> None:
    assert (await client.get("/v1/feeds/local-inventory", headers=await api.key("ads"))).status_code == 200
    assert (await client.get("/v1/feeds/local-inventory", headers=await api.key("storefront"))).status_code == 403
    assert (await client.get("/v1/feeds/local-inventory")).status_code == 401
    r = await client.get("/v1/feeds/local-inventory", params={"format": "csv"}, headers=ADMIN)
    assert r.status_code == 422


async def test_a_large_feed_is_streamed_in_chunks(app, api, db_conn) -> None:
    await api.store("BIG", pickup=True)
    await db_conn.execute(
        "INSERT INTO products (id, title) VALUES ('bulk', 'Bulk');"
        "INSERT INTO variants (sku, product_id, price_amount, currency)"
        " SELECT 'SKU-' || lpad(g::text, 5, '0'), 'bulk', 100 + g, 'USD' FROM generate_series(1, 3000) g;"
        "INSERT INTO inventory_levels (store_code, sku, on_hand)"
        " SELECT 'BIG', 'SKU-' || lpad(g::text, 5, '0'), g % 10 FROM generate_series(1, 3000) g;"
    )
    # Through the ASGI interface, to see the body arrive as many messages rather than one.
    messages: list[dict[str, Any]] = []

    requested, finished = False, asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()  # the client stays connected until the response ends
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/feeds/local-inventory",
        "raw_path": b"/v1/feeds/local-inventory",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"commerce.test"), (b"authorization", ADMIN["Authorization"].encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("commerce.test", 80),
        "state": {},
    }
    await app(scope, receive, send)
    start = messages[0]
    assert start["status"] == 200
    assert b"content-length" not in dict(start["headers"])  # sent chunked, not built first
    chunks = [m["body"] for m in messages[1:] if m.get("body")]
    assert len(chunks) >= 3
    rows = [json.loads(line) for line in b"".join(chunks).splitlines()]
    assert len(rows) == 3000
    assert [r["id"] for r in rows] == [f"SKU-{g:05d}" for g in range(1, 3001)]
    assert sum(r["availability"] == "out_of_stock" for r in rows) == 300
    assert rows[1] == {
        "store_code": "BIG",
        "id": "SKU-00002",
        "quantity": 2,
        "price": "1.02 USD",
        "availability": "limited_availability",
        "pickup_method": "buy",
        "pickup_sla": "same day",
        "link_template": "http://commerce.test/stores/{store_code}/products/SKU-00002",
    }
