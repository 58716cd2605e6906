"""Public store pages, store product pages and the GS1 Digital Link resolver, over HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest

from commerce.settings import Settings
from tests.conftest import ADMIN, Api, app_client
from tests.pages import GTIN_14_RED, GTIN_BLUE, GTIN_RED, json_ld, set_stock, shop

pytestmark = pytest.mark.usefixtures("db_conn")


@pytest.fixture
async def stocked(client: httpx.AsyncClient) -> None:
    await shop(client)
    await set_stock(client, "LOOP", "JKT-RED", 40, safety_stock=2)  # 38 available: in stock
    await set_stock(client, "LOOP", "JKT-BLUE", 0)  # a level, sold out: the feed lists it as out_of_stock
    await set_stock(client, "PARK", "JKT-BLUE", 4)  # limited
    await set_stock(client, "FAR", "JKT-BLUE", 50)  # too far to be "nearby"
    await set_stock(client, "WH", "JKT-RED", 900)


async def feed_row(client: httpx.AsyncClient, store: str, sku: str) -> dict[str, Any] | None:
    r = await client.get("/v1/feeds/local-inventory", headers=ADMIN)
    rows = [json.loads(line) for line in r.text.splitlines()]
    return next((row for row in rows if row["store_code"] == store and row["id"] == sku), None)


async def test_store_page_shows_hours_phone_and_what_is_in_stock_without_a_key(
    client: httpx.AsyncClient, stocked
) -> None:
    r = await client.get("/stores/LOOP")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=60"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    assert "<h1>Loop</h1>" in html and 'href="tel:+13125550100"' in html
    assert "Open now" in html  # open around the clock
    assert "JKT-RED" in html and "JKT-BLUE" not in html  # only what is in stock here
    assert "on_hand" not in html and ">40<" not in html and "900" not in html

    api_store = (await client.get("/v1/stores/LOOP", headers=ADMIN)).json()
    (store,) = json_ld(html)
    assert store["@type"] == "Store" and store["name"] == api_store["name"]
    assert store["@id"] == "http://commerce.test/stores/LOOP"
    assert store["telephone"] == api_store["phone"]
    assert store["geo"] == {"@type": "GeoCoordinates", "latitude": 41.8827, "longitude": -87.6278}
    weekly = [s for s in store["openingHoursSpecification"] if "dayOfWeek" in s]
    assert [s["dayOfWeek"].rsplit("/", 1)[1][:3].lower() for s in weekly] == [
        h["day"] for h in api_store["opening_hours"]
    ]
    assert {(s["opens"], s["closes"]) for s in weekly} == {("00:00", "23:59")}
    (christmas,) = [s for s in store["openingHoursSpecification"] if "validFrom" in s]
    assert christmas == {
        "@type": "OpeningHoursSpecification",
        "validFrom": "2030-12-25",
        "validThrough": "2030-12-25",
        "opens": "00:00",
        "closes": "00:00",
    }


async def test_pages_answer_304_to_their_own_etag(client: httpx.AsyncClient, stocked) -> None:
    for path in ("/stores/LOOP", "/stores/LOOP/products/JKT-RED", "/products/JKT-RED", "/associate"):
        first = await client.get(path)
        tag = first.headers["etag"]
        assert tag.startswith('"') and first.status_code == 200
        again = await client.get(path, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
        assert again.headers["cache-control"] == first.headers["cache-control"]
        weak = await client.get(path, headers={"If-None-Match": f'"nope", W/{tag}'})
        assert weak.status_code == 304
        other = await client.get(path, headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200 and other.content == first.content


async def test_the_etag_changes_when_the_stock_does(client: httpx.AsyncClient, stocked) -> None:
    before = await client.get("/stores/LOOP/products/JKT-RED")
    await set_stock(client, "LOOP", "JKT-RED", 3)
    after = await client.get("/stores/LOOP/products/JKT-RED", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    assert "Limited stock: 3 available" in after.text


async def test_product_page_offer_matches_the_api_and_the_feed(client: httpx.AsyncClient, stocked) -> None:
    r = await client.get("/stores/LOOP/products/JKT-RED")
    assert r.status_code == 200
    (product,) = json_ld(r.text)
    variant = (await client.get("/v1/variants/JKT-RED", headers=ADMIN)).json()
    availability = (await client.get("/v1/availability?skus=JKT-RED&stores=LOOP", headers=ADMIN)).json()
    row = await feed_row(client, "LOOP", "JKT-RED")
    assert row is not None
    offer = product["offers"]
    assert product["@type"] == "Product" and product["sku"] == "JKT-RED" and product["gtin14"] == GTIN_14_RED
    assert product["name"] == "Rain Jacket / Red" and product["brand"]["name"] == "Northwind"
    assert offer["price"] == f"{variant['price']['amount'] / 100:.2f}" == row["price"].split()[0]
    assert offer["priceCurrency"] == variant["price"]["currency"]
    assert offer["inventoryLevel"]["value"] == availability["items"][0]["available"] == row["quantity"] == 38
    assert offer["availability"] == "https://schema.org/InStock" and row["availability"] == "in_stock"
    assert offer["availableAtOrFrom"]["@id"] == "http://commerce.test/stores/LOOP"
    assert offer["url"] == row["link_template"].replace("{store_code}", "LOOP")
    html = r.text
    assert "In stock: 38 available" in html and "Ready for pickup in 2 hours" in html
    assert "&lt;b&gt;really&lt;/b&gt;" in html  # text from the catalog is escaped
    assert "900" not in html and "on_hand" not in html


async def test_out_of_stock_here_lists_the_nearest_stores_that_have_it(client: httpx.AsyncClient, stocked) -> None:
    r = await client.get("/stores/LOOP/products/JKT-BLUE")
    (product,) = json_ld(r.text)
    row = await feed_row(client, "LOOP", "JKT-BLUE")
    assert row is not None and row["availability"] == "out_of_stock"
    assert product["offers"]["availability"] == "https://schema.org/OutOfStock"
    assert product["offers"]["inventoryLevel"]["value"] == 0 == row["quantity"]
    html = r.text
    assert "Out of stock" in html and "Ready for pickup" not in html
    assert "Nearby stores that have it" in html
    assert 'href="http://commerce.test/stores/PARK/products/JKT-BLUE"' in html and "Limited stock: 4 available" in html
    assert "/stores/FAR/" not in html  # more than 50 km away


async def test_a_sku_never_stocked_here_shows_no_quantity(client: httpx.AsyncClient, stocked) -> None:
    assert await feed_row(client, "PARK", "MUG") is None
    r = await client.get("/stores/PARK/products/MUG")
    (product,) = json_ld(r.text)
    assert product["offers"]["availability"] == "https://schema.org/OutOfStock"
    assert "inventoryLevel" not in product["offers"] and "gtin14" not in product
    assert "No store nearby has it right now." in r.text


async def test_a_public_promotion_shows_and_a_coded_or_online_one_does_not(client: httpx.AsyncClient, stocked) -> None:
    def promo(**extra: Any) -> dict[str, Any]:
        return {
            "title": "Rain days",
            "kind": "percent_off",
            "value": 20,
            "applies_to": {"categories": ["outerwear"]},
        } | extra

    r = await client.put("/v1/promotions/code-only", json=promo(value=40, code="RAIN40"), headers=ADMIN)
    assert r.status_code == 201, r.text
    r = await client.put("/v1/promotions/web-only", json=promo(value=30, channels=["web"]), headers=ADMIN)
    assert r.status_code == 201, r.text
    page = await client.get("/stores/LOOP/products/JKT-RED")
    assert json_ld(page.text)[0]["offers"]["price"] == "89.00" and "Sale" not in page.text

    r = await client.put("/v1/promotions/in-store", json=promo(channels=["store", "web"]), headers=ADMIN)
    assert r.status_code == 201, r.text
    page = await client.get("/stores/LOOP/products/JKT-RED")
    offer = json_ld(page.text)[0]["offers"]
    assert offer["price"] == "71.20"
    assert offer["priceSpecification"]["price"] == "89.00"
    assert offer["priceSpecification"]["priceType"] == "https://schema.org/StrikethroughPrice"
    assert "<s" in page.text and "$71.20" in page.text and "$89.00" in page.text


ERROR_CASES = [
    ("/stores/NOPE", 404, "not_found"),
    ("/stores/WH", 404, "not_found"),  # a warehouse has no public page
    ("/stores/NOPE/products/JKT-RED", 404, "not_found"),
    ("/stores/LOOP/products/NOPE", 404, "not_found"),
    ("/products/NOPE", 404, "not_found"),
    ("/01/4006381333932", 422, "invalid_gtin"),  # check digit
    ("/01/12345", 422, "invalid_gtin"),
    ("/01/40063813339x1", 422, "invalid_gtin"),
    ("/01/96385074", 404, "not_found"),  # a valid GTIN-8 no variant has
    (f"/01/{GTIN_RED}?store=NOPE", 404, "not_found"),
]


async def test_errors_are_html_pages_with_the_apis_code(client: httpx.AsyncClient, stocked) -> None:
    for path, status, code in ERROR_CASES:
        r = await client.get(path)
        assert r.status_code == status, path
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert f"<code>{code}</code>" in r.text and '<meta name="robots" content="noindex">' in r.text, path
    r = await client.post("/stores/LOOP")  # decided by the router, before any page: a problem response
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize("gtin", [GTIN_RED, GTIN_14_RED])
async def test_digital_link_redirects_to_the_product_page(client: httpx.AsyncClient, stocked, gtin: str) -> None:
    r = await client.get(f"/01/{gtin}")
    assert r.status_code == 307
    assert r.headers["location"] == "http://commerce.test/products/JKT-RED"
    r = await client.get(f"/01/{gtin}?store=LOOP")
    assert r.status_code == 307
    assert r.headers["location"] == "http://commerce.test/stores/LOOP/products/JKT-RED"


async def test_digital_link_matches_a_upc_written_as_gtin_13_or_14(client: httpx.AsyncClient, stocked) -> None:
    for gtin in (GTIN_BLUE, "0" + GTIN_BLUE, "00" + GTIN_BLUE):
        r = await client.get(f"/01/{gtin}?store=PARK")
        assert r.status_code == 307 and r.headers["location"].endswith("/stores/PARK/products/JKT-BLUE"), gtin


async def test_the_product_page_without_a_store_lists_where_it_is(client: httpx.AsyncClient, stocked) -> None:
    r = await client.get("/products/JKT-BLUE")
    assert r.status_code == 200
    (product,) = json_ld(r.text)
    stores = {o["availableAtOrFrom"]["name"]: o["inventoryLevel"]["value"] for o in product["offers"]}
    assert stores == {"Lincoln Park": 4, "Far Away": 50}  # stores only, sold-out ones left out


async def test_store_api_hours_validation(client: httpx.AsyncClient, api: Api) -> None:
    await api.store("S1")
    body = {"name": "S1", "kind": "store", "latitude": 41.88, "longitude": -87.63}
    bad = [
        {
            "opening_hours": [
                {"day": "mon", "opens": "09:00", "closes": "17:00"},
                {"day": "mon", "opens": "16:00", "closes": "20:00"},
            ]
        },
        {"opening_hours": [{"day": "mon", "opens": "25:00", "closes": "26:00"}]},
        {"opening_hours": [{"day": "monday", "opens": "09:00", "closes": "17:00"}]},
        {"opening_hours": [{"day": "mon", "opens": "09:00"}]},
        {"special_hours": [{"date": "2030-01-01", "closed": True, "opens": "10:00", "closes": "12:00"}]},
        {"special_hours": [{"date": "2030-02-30", "closed": True}]},
        {"phone": "call us"},
    ]
    for extra in bad:
        r = await client.put("/v1/stores/S1", json=body | extra, headers=ADMIN)
        assert r.status_code == 422, (extra, r.text)
        assert r.json()["code"] == "validation_failed"
    got = (await client.get("/v1/stores/S1", headers=ADMIN)).json()
    assert (
        got["opening_hours"] == [] and got["special_hours"] == [] and got["phone"] is None and got["open_now"] is None
    )


async def test_open_now_in_the_stores_own_time_zone(client: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    local_today = now.astimezone(__import__("zoneinfo").ZoneInfo("Pacific/Kiritimati")).date()  # UTC+14
    body = {
        "name": "Kiri",
        "kind": "store",
        "latitude": 1.87,
        "longitude": -157.4,
        "timezone": "Pacific/Kiritimati",
        "opening_hours": [
            {"day": d, "opens": "00:00", "closes": "24:00"} for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        ],
        "phone": "+686 123",
    }
    r = await client.put("/v1/stores/KIRI", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    assert r.json()["open_now"] is True
    closed_today = body | {"special_hours": [{"date": local_today.isoformat(), "closed": True}]}
    r = await client.put("/v1/stores/KIRI", json=closed_today, headers=ADMIN)
    got = (await client.get("/v1/stores/KIRI", headers=ADMIN)).json()
    # Closed all day on the store's own date (which is not always the date in UTC).
    assert got["open_now"] is False and got["special_hours"] == [
        {"date": local_today.isoformat(), "opens": None, "closes": None, "closed": True}
    ]
    assert "Closed now" in (await client.get("/stores/KIRI")).text


@pytest.fixture
async def public_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with COMMERCE_PUBLIC_URL set, on the same database (its lifespan entered and left in one task)."""
    public = msgspec.structs.replace(settings, public_url="https://shop.example.com")
    async with app_client(public, base_url="http://internal:8000") as c:
        yield c


async def test_public_url_makes_every_absolute_link(public_client: httpx.AsyncClient, stocked) -> None:
    r = await public_client.get("/stores/LOOP/products/JKT-RED")
    (product,) = json_ld(r.text)
    assert product["offers"]["availableAtOrFrom"]["@id"] == "https://shop.example.com/stores/LOOP"
    assert "http://internal:8000" not in r.text
    r = await public_client.get(f"/01/{GTIN_RED}?store=LOOP")
    assert r.headers["location"] == "https://shop.example.com/stores/LOOP/products/JKT-RED"
    feed = await public_client.get("/v1/feeds/local-inventory?format=tsv", headers=ADMIN)
    header, first = feed.text.splitlines()[:2]
    assert header.split("\t")[-1] == "link_template"
    assert first.split("\t")[-1].startswith("https://shop.example.com/stores/{store_code}/products/")


async def test_the_api_docs_page_loads_nothing_from_elsewhere(client: httpx.AsyncClient) -> None:
    import hashlib
    import re
    from pathlib import Path

    page = await client.get("/schema")
    assert page.status_code == 200
    sources = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert sources and all(s.startswith("/static/openapi/") for s in sources), sources
    sums = (Path(__file__).parents[2] / "commerce" / "openapi_assets" / "SHA256SUMS").read_text().split("\n")
    for line in filter(None, sums):
        digest, name = line.split()
        r = await client.get(f"/static/openapi/{name}")
        assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == digest
    assert (await client.get("/schema/swagger")).status_code == 200


async def test_console_and_assets_need_no_key(client: httpx.AsyncClient) -> None:
    r = await client.get("/associate")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
    assert '<script src="/static/pages/associate.js" defer></script>' in r.text
    assert (await client.get("/static/pages/associate.js")).status_code == 200
    assert (await client.get("/static/pages/pages.css")).status_code == 200
    assert (await client.get("/static/pages/nope.css")).status_code == 404
    # A stale key a browser still sends does not stop a public page; the API itself still needs a key.
    assert (await client.get("/associate", headers={"Authorization": "Bearer revoked"})).status_code == 200
    assert (await client.get("/schema", headers={"Authorization": "Bearer revoked"})).status_code == 200
    assert (await client.get("/v1/stores/LOOP")).status_code == 401
