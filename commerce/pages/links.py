"""Absolute links to the public pages, from `COMMERCE_PUBLIC_URL` (or the request's own address).

One place builds them, so the feed's `link_template`, the QR codes on shelf labels, the JSON-LD and
the pages' own links always agree.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar.connection import ASGIConnection


def public_base(configured: str | None, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The configured public URL, else the address the request came to (scheme, host, root path)."""
    return configured or str(connection.base_url).rstrip("/")


def _part(value: str) -> str:
    return quote(value, safe="")


def store_page(base: str, store: str) -> str:
    return f"{base}/stores/{_part(store)}"


def product_page(base: str, store: str, sku: str) -> str:
    return f"{base}/stores/{_part(store)}/products/{_part(sku)}"


def all_stores_product_page(base: str, sku: str) -> str:
    return f"{base}/products/{_part(sku)}"


def link_template(base: str, sku: str) -> str:
    """The store product page with the `{store_code}` placeholder ad systems fill in."""
    return f"{base}/stores/{{store_code}}/products/{_part(sku)}"


def digital_link(base: str, gtin14: str, store: str | None = None) -> str:
    """The GS1 Digital Link URI of a GTIN (as GTIN-14), optionally for one store."""
    return f"{base}/01/{gtin14}" + (f"?store={_part(store)}" if store else "")
