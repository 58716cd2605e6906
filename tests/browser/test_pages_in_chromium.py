"""The public pages and the associates' console in a real browser: Debian's headless Chromium, driven by
Playwright (its own browser builds are never downloaded). The service runs as a real server process.

Screenshots at phone width go to `build/screenshots/` (or `$PAGES_SCREENSHOT_DIR`) for a person to look at.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.pages import GTIN_14_RED, decode_png

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("PAGES_SCREENSHOT_DIR", ROOT / "build" / "screenshots"))
PHONE = {"width": 390, "height": 844}  # a common phone's CSS viewport
# Flags for a root shell in a container; no first-run, sync or update traffic.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright_api = pytest.importorskip("playwright.async_api", reason="Playwright for Python is not installed")
if not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)):
    pytest.skip(
        f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium) or set CHROMIUM",
        allow_module_level=True,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("browser") / "server.log"
    SHOTS.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "COMMERCE_ADMIN_TOKEN": ADMIN_TOKEN,
        "COMMERCE_LOG_LEVEL": "WARNING",
        "COMMERCE_BACKGROUND_WORKERS": "false",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("COMMERCE_PUBLIC_URL", None)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "commerce", "serve", "--port", str(port), "--server", "uvicorn"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited: {log_path.read_text()[-3000:]}")
                time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser: Any, served: str) -> AsyncIterator[Any]:
    """A phone-sized tab that may reach the service and nothing else; it records anything else it tried."""
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    tab = await context.new_page()
    tab.outside = []

    async def only_the_service(route: Any) -> None:
        url = route.request.url
        if url.startswith((served, "data:", "blob:")):
            await route.continue_()
        else:
            tab.outside.append(url)
            await route.abort()

    await tab.route("**/*", only_the_service)
    yield tab
    await context.close()


async def shot(tab: Any, name: str, *, full_page: bool = True) -> None:
    await tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


async def fits_the_phone(tab: Any) -> bool:
    return bool(await tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.fixture
async def shop(served: str, db_conn: Any) -> dict[str, Any]:
    """Through the served API: stores, a jacket, stock, an associate key, a customer and a pickup order."""
    async with httpx.AsyncClient(base_url=served, headers=ADMIN, timeout=20) as api:

        def ok(r: httpx.Response) -> dict[str, Any]:
            assert r.status_code in (200, 201), r.text
            return dict(r.json())

        every_day = [
            {"day": d, "opens": "00:00", "closes": "24:00"} for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        ]
        loop = {
            "name": "State Street",
            "kind": "store",
            "latitude": 41.8827,
            "longitude": -87.6278,
            "address": "108 N State St, Chicago, IL 60602",
            "timezone": "America/Chicago",
            "phone": "+1 312 555 0100",
            "opening_hours": every_day,
            "pickup_enabled": True,
            "pickup_lead_minutes": 60,
        }
        park = {
            "name": "Lincoln Park",
            "kind": "store",
            "latitude": 41.909,
            "longitude": -87.639,
            "pickup_enabled": True,
        }
        warehouse = {"name": "Elk Grove DC", "kind": "warehouse", "latitude": 42.0, "longitude": -87.97}
        for code, body in (("LOOP", loop), ("PARK", park | {"address": "2418 N Clark St, Chicago"}), ("WH", warehouse)):
            ok(await api.put(f"/v1/stores/{code}", json=body))
        price = {"amount": 8900, "currency": "USD"}
        jacket = {
            "title": "Packable Rain Jacket",
            "brand": "Northwind",
            "category": "outerwear",
            "description": "Packs into its own pocket.",
            "variants": [
                {"sku": "JKT-RED", "title": "Red", "barcode": GTIN_14_RED[1:], "price": price},
                {"sku": "JKT-BLUE", "title": "Blue", "price": price},
            ],
        }
        ok(await api.put("/v1/products/jacket", json=jacket))
        for store, sku, units in [
            ("LOOP", "JKT-RED", 12),
            ("LOOP", "JKT-BLUE", 0),
            ("PARK", "JKT-BLUE", 3),
            ("WH", "JKT-RED", 400),
        ]:
            ok(await api.put(f"/v1/inventory/{store}/{sku}", json={"on_hand": units}))
        key = ok(await api.post("/v1/api-keys", json={"role": "associate", "store": "LOOP"}))["key"]
        customer = ok(await api.post("/v1/customers", json={"loyalty_id": "L-1001"}))
        cart = ok(await api.post("/v1/carts", json={"channel": "web", "customer_id": customer["id"]}))
        line = {"sku": "JKT-RED", "quantity": 2, "fulfillment": {"type": "pickup", "store": "LOOP"}}
        ok(await api.post(f"/v1/carts/{cart['id']}/lines", json=line))
        order = ok(await api.post(f"/v1/carts/{cart['id']}/checkout", json={}, headers={"Idempotency-Key": cart["id"]}))
        other = ok(await api.post("/v1/carts", json={"channel": "web"}))
        ok(await api.post(f"/v1/carts/{other['id']}/lines", json=line | {"quantity": 1}))
        second = ok(
            await api.post(f"/v1/carts/{other['id']}/checkout", json={}, headers={"Idempotency-Key": other["id"]})
        )
        return {"key": key, "order": order["id"], "second": second["id"]}


async def test_store_page_and_product_page_on_a_phone(page: Any, served: str, shop: dict[str, Any]) -> None:
    await page.goto(f"{served}/stores/LOOP")
    assert await page.locator("h1").inner_text() == "State Street"
    assert await page.get_by_role("status").inner_text() == "Open now"
    assert await page.locator("a[href^='tel:']").get_attribute("href") == "tel:+13125550100"
    store = json.loads(await page.locator("script[type='application/ld+json']").text_content())
    assert store["@type"] == "Store" and len(store["openingHoursSpecification"]) == 7
    assert await fits_the_phone(page)
    await shot(page, "store-page")

    await page.get_by_role("link", name="Packable Rain Jacket / Red").click()
    await page.wait_for_url(f"{served}/stores/LOOP/products/JKT-RED")
    assert await page.locator("h1").inner_text() == "Packable Rain Jacket / Red"
    assert await page.get_by_role("status").inner_text() == "In stock: 9 available"  # 12 less 3 held for pickup
    offer = json.loads(await page.locator("script[type='application/ld+json']").text_content())["offers"]
    assert offer["inventoryLevel"]["value"] == 9 and offer["price"] == "89.00"
    assert await fits_the_phone(page)
    await shot(page, "product-page")

    await page.goto(f"{served}/01/{GTIN_14_RED}?store=PARK")  # the shelf label's QR code at another store
    assert page.url == f"{served}/stores/PARK/products/JKT-RED"
    await page.goto(f"{served}/stores/LOOP/products/JKT-BLUE")
    assert await page.get_by_role("status").inner_text() == "Out of stock"
    assert await page.get_by_role("link", name="Lincoln Park").is_visible()
    await shot(page, "product-page-out-of-stock")

    response = await page.goto(f"{served}/stores/NOPE")
    assert response.status == 404 and "We couldn't find that page" in await page.locator("h1").inner_text()
    await shot(page, "not-found-page")
    assert page.outside == []


async def test_api_docs_page_works_without_internet(page: Any, served: str) -> None:
    await page.goto(f"{served}/schema")
    await page.locator(".swagger-ui .info .title").wait_for(timeout=20_000)
    assert "Commerce API" in await page.locator(".swagger-ui .info .title").inner_text()
    assert await page.locator(".opblock").count() > 20
    assert page.outside == [], f"the docs page tried to load {page.outside}"
    await shot(page, "api-docs", full_page=False)


async def test_associate_signs_in_looks_up_and_works_the_pickup_queue(
    page: Any, served: str, shop: dict[str, Any]
) -> None:
    await page.goto(f"{served}/associate")
    await page.get_by_label("Store code").fill("LOOP")
    await page.get_by_label("Associate key").fill("not-a-key")
    await page.get_by_role("button", name="Sign in").click()
    refused = page.locator("#signin-error")
    await refused.wait_for()  # shown once the API has answered
    assert "(401, unauthorized)" in await refused.inner_text()
    await shot(page, "associate-sign-in-refused")

    await page.get_by_label("Associate key").fill(shop["key"])
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_label("SKU, barcode or words").wait_for()
    assert await page.evaluate("sessionStorage.getItem('associate.key')") == shop["key"]
    assert await page.evaluate("localStorage.length") == 0  # never kept beyond the tab

    await page.get_by_label("SKU, barcode or words").fill(GTIN_14_RED[1:])  # as a scanner would type the barcode
    await page.get_by_role("button", name="Look up").click()
    card = page.locator("article[data-sku='JKT-RED']")
    await card.wait_for()
    assert "Here: 9 available (12 on hand, 3 reserved)" in await card.inner_text()
    assert "WH: 400 available" in await card.inner_text()
    assert await fits_the_phone(page)
    await shot(page, "associate-lookup")

    await page.get_by_role("tab", name="Pickup queue").click()
    order = page.locator(f"article[data-order='{shop['order']}']")
    await order.get_by_role("button", name="Mark ready").click()
    await page.get_by_role("status").filter(has_text="now ready for pickup").wait_for()
    assert await order.count() == 0  # it left the "to prepare" list

    await page.get_by_label("Show").select_option("ready_for_pickup")
    await page.get_by_role("button", name="Refresh").click()
    await order.get_by_role("button", name="Mark collected").click()
    await page.get_by_role("status").filter(has_text="now collected").wait_for()

    # Meanwhile the other order is cancelled elsewhere; the console's list is stale and the API says why.
    await page.get_by_label("Show").select_option("")
    await page.get_by_role("button", name="Refresh").click()
    stale = page.locator(f"article[data-order='{shop['second']}']").get_by_role("button", name="Mark ready")
    await stale.wait_for()  # the whole list is shown (the ready-for-pickup one had no such order)
    async with httpx.AsyncClient(base_url=served, headers=ADMIN) as api:
        assert (await api.post(f"/v1/orders/{shop['second']}/cancel")).status_code == 200
    await stale.click()
    alert = page.locator("#pickup-error")
    await alert.wait_for()
    assert "(409, invalid_state)" in await alert.inner_text()
    await shot(page, "associate-pickup-queue")
    async with httpx.AsyncClient(base_url=served, headers=ADMIN) as api:
        assert (await api.get(f"/v1/orders/{shop['order']}")).json()["status"] == "collected"

    await page.get_by_role("tab", name="Customer").click()
    await page.get_by_label("Loyalty id or phone").fill("L-1001")
    await page.get_by_role("button", name="Find").click()
    history = page.locator("#customer-result article")
    await history.wait_for()
    assert "collected" in await history.inner_text() and "2 × JKT-RED" in await history.inner_text()
    await shot(page, "associate-customer")
    assert page.outside == []


async def test_a_printed_label_sheet_scans_back_to_its_page(page: Any, served: str, shop: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=served, headers=ADMIN) as api:
        svg = (await api.get("/v1/stores/LOOP/labels?skus=JKT-RED,JKT-BLUE")).content
    data = base64.b64encode(svg).decode()
    await page.set_viewport_size({"width": 816, "height": 1056})  # a Letter sheet at 96 dpi
    await page.set_content(
        f'<img alt="labels" src="data:image/svg+xml;base64,{data}" style="display:block;width:816px">'
    )
    png = await page.locator("img").screenshot(path=str(SHOTS / "label-sheet.png"))
    assert sorted(decode_png(png)) == sorted(
        [f"{served}/01/{GTIN_14_RED}?store=LOOP", f"{served}/stores/LOOP/products/JKT-BLUE"]
    )
