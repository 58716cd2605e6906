"""Shelf labels: who may print them, what is on them, and QR codes that decode to the GS1 Digital Link."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest

from tests.conftest import ADMIN, Api
from tests.pages import GTIN_14_RED, GTIN_BLUE, decode_pdf, decode_svg, pdf_page_count, shop

pytestmark = pytest.mark.usefixtures("db_conn")

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
async def shelf(client: httpx.AsyncClient) -> None:
    await shop(client)
    r = await client.put(
        "/v1/promotions/rain",
        json={
            "title": "Rain days",
            "kind": "amount_off",
            "value": 1000,
            "currency": "USD",
            "applies_to": {"skus": ["JKT-BLUE"]},
        },
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text


async def test_svg_labels_carry_title_price_sku_and_a_digital_link(client: httpx.AsyncClient, shelf) -> None:
    r = await client.get("/v1/stores/LOOP/labels?skus=JKT-RED,JKT-BLUE,MUG", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/svg+xml"
    assert r.headers["content-disposition"] == 'inline; filename="labels-LOOP.svg"'
    root = ET.fromstring(r.content)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == [
        "Rain Jacket / Red", "$89.00", "SKU JKT-RED",
        "Rain Jacket / Blue", "$89.00", "$79.00", "SKU JKT-BLUE",  # the regular price, struck through, then the price
        "Mug", "$15.00", "SKU MUG",
    ]  # fmt: skip
    assert decode_svg(r.content) == [
        f"http://commerce.test/01/{GTIN_14_RED}?store=LOOP",
        f"http://commerce.test/01/00{GTIN_BLUE}?store=LOOP",
        "http://commerce.test/stores/LOOP/products/MUG",  # its barcode is no GTIN
    ]


async def test_pdf_labels_decode_to_the_same_links_in_the_order_asked(client: httpx.AsyncClient, shelf) -> None:
    skus = ["MUG", "JKT-BLUE"] + ["JKT-RED"] * 1  # duplicates are printed once
    r = await client.get(f"/v1/stores/PARK/labels?skus={','.join(skus)},MUG&format=pdf", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")
    assert decode_pdf(r.content) == [
        "http://commerce.test/stores/PARK/products/MUG",
        f"http://commerce.test/01/00{GTIN_BLUE}?store=PARK",
        f"http://commerce.test/01/{GTIN_14_RED}?store=PARK",
    ]


async def test_a_long_sheet_spans_pages_and_every_code_reads(client: httpx.AsyncClient, api: Api) -> None:
    await api.store("BIG")
    skus = [f"SKU-{i:02d}" for i in range(23)]
    await api.product("many", skus, title="A product with a rather long name that needs wrapping over lines")
    r = await client.get(f"/v1/stores/BIG/labels?skus={','.join(skus)}&format=pdf", headers=ADMIN)
    assert r.status_code == 200
    assert pdf_page_count(r.content) == 3  # ten labels a sheet
    assert decode_pdf(r.content) == [f"http://commerce.test/stores/BIG/products/{s}" for s in skus]


async def test_who_may_print_labels(client: httpx.AsyncClient, api: Api, shelf) -> None:
    path = "/v1/stores/LOOP/labels?skus=JKT-RED"
    assert (await client.get(path, headers=await api.key("associate", "LOOP"))).status_code == 200
    r = await client.get(path, headers=await api.key("associate", "PARK"))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.get(path, headers=await api.key("storefront"))
    assert r.status_code == 403
    r = await client.get(path, headers=await api.key("pos", "LOOP"))
    assert r.status_code == 403
    r = await client.get(path)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


async def test_bad_label_requests_are_problems(client: httpx.AsyncClient, shelf) -> None:
    r = await client.get("/v1/stores/LOOP/labels?skus=JKT-RED,NOPE,ALSO-NOPE", headers=ADMIN)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert "'NOPE', 'ALSO-NOPE'" in r.json()["detail"]
    r = await client.get("/v1/stores/NOPE/labels?skus=JKT-RED", headers=ADMIN)
    assert r.status_code == 404
    r = await client.get("/v1/stores/WH/labels?skus=JKT-RED", headers=ADMIN)
    assert r.status_code == 404  # a warehouse has no shelves for shoppers
    r = await client.get("/v1/stores/LOOP/labels?skus=JKT-RED&format=png", headers=ADMIN)
    assert r.status_code in (400, 422) and r.headers["content-type"] == "application/problem+json"
    r = await client.get("/v1/stores/LOOP/labels?skus=,,", headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"
    many = ",".join(f"S{i}" for i in range(501))
    r = await client.get(f"/v1/stores/LOOP/labels?skus={many}", headers=ADMIN)
    assert r.status_code == 422
    r = await client.get("/v1/stores/LOOP/labels", headers=ADMIN)
    assert r.status_code in (400, 422)
