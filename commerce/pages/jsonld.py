"""schema.org JSON-LD for the public pages, built from the same page data the HTML shows."""

from __future__ import annotations

from typing import Any

from commerce.pages import links, rules
from commerce.pages.service import ProductEverywhere, ProductPage, ShelfPrice, Stock, StorePage
from commerce.stores.schemas import StoreListItem, StoreOut

CONTEXT = "https://schema.org"


def store_ref(base: str, store: StoreOut | StoreListItem) -> dict[str, Any]:
    ref: dict[str, Any] = {"@type": "Store", "@id": links.store_page(base, store.code), "name": store.name}
    if store.address:
        ref["address"] = {"@type": "PostalAddress", "streetAddress": store.address}
    return ref


def store(base: str, page: StorePage) -> dict[str, Any]:
    s = page.store
    data: dict[str, Any] = {
        "@context": CONTEXT,
        **store_ref(base, s),
        "url": links.store_page(base, s.code),
        "branchCode": s.code,
        "geo": {"@type": "GeoCoordinates", "latitude": s.latitude, "longitude": s.longitude},
        "openingHoursSpecification": rules.opening_hours_specification(s.opening_hours, s.special_hours),
    }
    if s.phone:
        data["telephone"] = s.phone
    return data


def _offer(base: str, price: ShelfPrice, url: str, store: StoreOut | StoreListItem, stock: Stock) -> dict[str, Any]:
    """An Offer whose availability and quantity are the local-inventory feed's for this (store, sku)."""
    data: dict[str, Any] = {
        "@type": "Offer",
        "url": url,
        "price": rules.schema_price(price.price.amount, price.price.currency),
        "priceCurrency": price.price.currency,
        "itemCondition": "https://schema.org/NewCondition",
        "availableAtOrFrom": store_ref(base, store),
    }
    if price.discounted:
        data["priceSpecification"] = {
            "@type": "UnitPriceSpecification",
            "priceType": "https://schema.org/StrikethroughPrice",
            "price": rules.schema_price(price.regular.amount, price.regular.currency),
            "priceCurrency": price.regular.currency,
        }
    data["availability"] = rules.SCHEMA_AVAILABILITY[stock.availability]
    if stock.listed:
        data["inventoryLevel"] = {"@type": "QuantitativeValue", "value": stock.available}
    return data


def _product(base: str, page: ProductPage | ProductEverywhere, url: str) -> dict[str, Any]:
    item = page.item
    data: dict[str, Any] = {"@context": CONTEXT, "@type": "Product", "name": item.title, "sku": item.sku, "url": url}
    gtin = rules.as_gtin14(item.barcode)
    if gtin:
        data["gtin14"] = gtin
    if item.brand:
        data["brand"] = {"@type": "Brand", "name": item.brand}
    if item.category:
        data["category"] = item.category
    if item.description:
        data["description"] = item.description
    return data


def product(base: str, page: ProductPage) -> dict[str, Any]:
    url = links.product_page(base, page.store.code, page.item.sku)
    data = _product(base, page, url)
    data["offers"] = _offer(base, page.price, url, page.store, page.stock)
    return data


def product_everywhere(base: str, page: ProductEverywhere) -> dict[str, Any]:
    data = _product(base, page, links.all_stores_product_page(base, page.item.sku))
    data["offers"] = [
        _offer(base, page.price, links.product_page(base, o.store.code, page.item.sku), o.store, o.stock)
        for o in page.offers
    ]
    return data
