"""Helpers shared by the public pages' tests: a small shop, JSON-LD out of a page, QR codes decoded back."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

import httpx
import pypdfium2
import zxingcpp
from PIL import Image, ImageDraw

from tests.conftest import ADMIN

# Valid GTINs: EAN-13 (also written as GTIN-14 with a leading zero) and a UPC-A (GTIN-12).
GTIN_RED = "4006381333931"
GTIN_BLUE = "036000291452"  # UPC-A
GTIN_14_RED = "0" + GTIN_RED


async def shop(client: httpx.AsyncClient) -> None:
    """Two stores 3 km apart and a warehouse; a jacket in two colours (GTIN barcodes) and a mug without one."""
    hours = [{"day": d, "opens": "00:00", "closes": "24:00"} for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")]
    stores = {
        "LOOP": {
            "name": "Loop",
            "latitude": 41.8827,
            "longitude": -87.6278,
            "address": "108 N State St, Chicago",
            "timezone": "America/Chicago",
            "phone": "+1 (312) 555-0100",
            "opening_hours": hours,
            "special_hours": [{"date": "2030-12-25", "closed": True}],
            "pickup_enabled": True,
            "pickup_lead_minutes": 120,
        },
        "PARK": {"name": "Lincoln Park", "latitude": 41.9090, "longitude": -87.6390, "pickup_enabled": True},
        "FAR": {"name": "Far Away", "latitude": 44.98, "longitude": -93.26, "pickup_enabled": True},
        "WH": {"name": "Warehouse", "kind": "warehouse", "latitude": 41.99, "longitude": -87.97},
    }
    for code, body in stores.items():
        r = await client.put(f"/v1/stores/{code}", json={"kind": "store", **body}, headers=ADMIN)
        assert r.status_code in (200, 201), r.text
    product = {
        "title": "Rain Jacket",
        "brand": "Northwind",
        "category": "outerwear",
        "description": "Packs into its pocket <b>really</b> small.",
        "variants": [
            {"sku": "JKT-RED", "title": "Red", "barcode": GTIN_RED, "price": {"amount": 8900, "currency": "USD"}},
            {"sku": "JKT-BLUE", "title": "Blue", "barcode": GTIN_BLUE, "price": {"amount": 8900, "currency": "USD"}},
        ],
    }
    r = await client.put("/v1/products/jacket", json=product, headers=ADMIN)
    assert r.status_code in (200, 201), r.text
    mug = {
        "title": "Mug",
        "category": "home",
        "variants": [{"sku": "MUG", "barcode": "MUG-0001", "price": {"amount": 1500, "currency": "USD"}}],
    }
    r = await client.put("/v1/products/mug", json=mug, headers=ADMIN)
    assert r.status_code in (200, 201), r.text


async def set_stock(client: httpx.AsyncClient, store: str, sku: str, on_hand: int, safety_stock: int = 0) -> None:
    r = await client.put(
        f"/v1/inventory/{store}/{sku}", json={"on_hand": on_hand, "safety_stock": safety_stock}, headers=ADMIN
    )
    assert r.status_code == 200, r.text


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[str] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in = tag == "script" and ("type", "application/ld+json") in attrs

    def handle_endtag(self, tag: str) -> None:
        self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self.blocks.append(data)


def json_ld(html: str) -> list[dict[str, Any]]:
    parser = _Scripts()
    parser.feed(html)
    return [json.loads(block) for block in parser.blocks]


def decode_pdf(pdf: bytes) -> list[str]:
    """Every QR code on every page of a PDF, rasterised by PDFium, in reading order."""
    found = []
    document = pypdfium2.PdfDocument(pdf)
    try:
        for page in document:
            image = page.render(scale=2).to_pil()
            codes = zxingcpp.read_barcodes(image)
            codes.sort(key=lambda c: (round(c.position.top_left.y / 50), c.position.top_left.x))
            found.extend(c.text for c in codes)
    finally:
        document.close()
    return found


def pdf_page_count(pdf: bytes) -> int:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return len(document)
    finally:
        document.close()


_RECT = re.compile(r"M(\d+) (\d+)h(\d+)v(\d+)h-\d+z")


def decode_svg(svg: bytes) -> list[str]:
    """Every QR code of an SVG label sheet: each code's own drawing (its <svg> of module rectangles) is
    painted into a bitmap and read by zxing-cpp."""
    root = ET.fromstring(svg)
    found = []
    for code in root.iter("{http://www.w3.org/2000/svg}svg"):
        if code is root:
            continue
        size = int(code.attrib["viewBox"].split()[2])
        scale = 8
        image = Image.new("L", (size * scale, size * scale), 255)
        draw = ImageDraw.Draw(image)
        path = code.find("{http://www.w3.org/2000/svg}path")
        assert path is not None
        for x, y, w, h in (map(int, m) for m in _RECT.findall(path.attrib["d"])):
            draw.rectangle([x * scale, y * scale, (x + w) * scale - 1, (y + h) * scale - 1], fill=0)
        results = zxingcpp.read_barcodes(image)
        assert len(results) == 1, "each label has one readable QR code"
        found.append(results[0].text)
    return found


def decode_png(png: bytes) -> list[str]:
    return [c.text for c in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]
