"""What the public pages and shelf labels show, read through the other contexts' services.

Availability is the one rule of `inventory/rules.py` (`available`) mapped to the local-inventory
feed's statuses by `feeds/rules.feed_availability`, so a page, the API and the feed never disagree.
Prices are the catalog price with the promotion a shopper in the store gets without a code
(channel `store`, resolved by `promotions/rules.resolve`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from commerce.catalog import service as catalog
from commerce.catalog.service import ShelfVariant
from commerce.db import Reader
from commerce.errors import NotFound
from commerce.feeds.rules import FeedAvailability, feed_availability
from commerce.inventory import availability as local_stock
from commerce.inventory import service as inventory
from commerce.inventory.rules import available
from commerce.money import Money
from commerce.pages import links, rules
from commerce.pages.label_sheet import Label
from commerce.promotions import live as live_promotions
from commerce.promotions import rules as promotion_rules
from commerce.stores import service as stores
from commerce.stores.schemas import StoreListItem, StoreOut

# The channel whose promotions a shelf price shows: the price at the till of this store.
SHELF_CHANNEL = "store"
# "Nearest stores that have it" on a product page that is out of stock here.
NEARBY_RADIUS_KM = 50.0
NEARBY_SHOWN = 5
# Products shown on a store's page.
STORE_PAGE_PRODUCTS = 12
# Stores listed on a product's page without a store.
MOST_STORES = 200


@dataclass(frozen=True, slots=True)
class ShelfPrice:
    price: Money  # what the shopper pays
    regular: Money  # the catalog price
    promotion_id: str | None

    @property
    def discounted(self) -> bool:
        return self.price.amount < self.regular.amount


@dataclass(frozen=True, slots=True)
class Stock:
    """Stock of one SKU at one store as shoppers and ad systems see it."""

    available: int
    availability: FeedAvailability
    # The local-inventory feed lists this (store, sku) (it has an inventory level) and so shows its quantity.
    listed: bool


@dataclass(frozen=True, slots=True)
class StoreOffer:
    store: StoreListItem | StoreOut  # a listing item carries `distance_km` when found near a point
    stock: Stock


@dataclass(frozen=True, slots=True)
class ShelfItem:
    item: ShelfVariant
    price: ShelfPrice
    stock: Stock


@dataclass(frozen=True, slots=True)
class StorePage:
    store: StoreOut
    products: list[ShelfItem]


@dataclass(frozen=True, slots=True)
class ProductPage:
    store: StoreOut
    item: ShelfVariant
    price: ShelfPrice
    stock: Stock
    pickup_promise: str | None
    nearby: list[StoreOffer]  # only when out of stock here


@dataclass(frozen=True, slots=True)
class ProductEverywhere:
    item: ShelfVariant
    price: ShelfPrice
    offers: list[StoreOffer]


def stock_of(units: int, listed: bool, low_stock_threshold: int) -> Stock:
    return Stock(units, feed_availability(units, low_stock_threshold), listed)


async def public_store(db: AsyncSession, code: str, now: datetime) -> StoreOut:
    """A store shoppers can visit; warehouses have no public page."""
    store = await stores.require_store(db, code)
    if store.kind != "store":
        raise NotFound(f"No store with code {code!r}.")
    return stores.store_out(store, now)


async def shelf_prices(db: AsyncSession, items: Sequence[ShelfVariant], now: datetime) -> dict[str, ShelfPrice]:
    """Each item's price with the promotion that applies to it without a code, in one promotions read."""
    skus = sorted({i.sku for i in items})
    categories = sorted({i.category for i in items if i.category is not None})
    candidates = (
        (await live_promotions.candidates(db, skus=skus, categories=categories, now=now)).for_items(skus, categories)
        if items
        else []
    )
    prices = {}
    for i in items:
        line = promotion_rules.LineToPrice(i.sku, i.category, i.price.amount, i.price.currency, 1)
        applied = promotion_rules.resolve(line, channel=SHELF_CHANNEL, codes=(), now=now, promotions=candidates)
        discount = 0 if applied is None else applied.discount
        prices[i.sku] = ShelfPrice(
            Money(i.price.amount - discount, i.price.currency),
            i.price,
            None if applied is None else applied.promotion_id,
        )
    return prices


async def shelf_items(db: AsyncSession, skus: Sequence[str]) -> dict[str, ShelfVariant]:
    """The variants of `skus`; 404 naming every SKU that is unknown."""
    found = await catalog.shelf_variants(db, skus)
    missing = [s for s in skus if s not in found]
    if missing:
        raise NotFound(f"No variant with SKU {', '.join(map(repr, missing))}.")
    return found


async def store_page(db: AsyncSession, reader: Reader, code: str, *, now: datetime, threshold: int) -> StorePage:
    store = await public_store(db, code, now)
    products = await local_stock.products_available_at(
        reader, [code], q=None, category=None, limit=STORE_PAGE_PRODUCTS, after=None
    )
    entries = [
        (
            ShelfVariant(
                sku=v.sku,
                product_id=p.product_id,
                title=catalog.shelf_title(p.title, v.title),
                barcode=v.barcode,
                brand=p.brand,
                category=p.category,
                description=p.description,
                price=v.price,
            ),
            v.availability[0].available if v.availability else 0,
        )
        for p in products
        for v in p.variants
    ]
    entries = [(item, units) for item, units in entries if units > 0][:STORE_PAGE_PRODUCTS]
    prices = await shelf_prices(db, [item for item, _ in entries], now)
    return StorePage(
        store,
        [ShelfItem(item, prices[item.sku], stock_of(units, True, threshold)) for item, units in entries],
    )


async def product_page(
    db: AsyncSession, reader: Reader, code: str, sku: str, *, now: datetime, threshold: int
) -> ProductPage:
    store = await public_store(db, code, now)
    item = (await shelf_items(db, [sku]))[sku]
    level = (await inventory.levels(db, [code], [sku])).get((code, sku))
    stock = stock_of(available(*level) if level else 0, level is not None, threshold)
    price = (await shelf_prices(db, [item], now))[sku]
    nearby: list[StoreOffer] = []
    if stock.availability == "out_of_stock":
        found = await stores.nearby_stores(
            reader,
            lat=store.latitude,
            lon=store.longitude,
            radius_km=NEARBY_RADIUS_KM,
            kind="store",
            sku=sku,
            limit=NEARBY_SHOWN + 1,
        )
        nearby = [StoreOffer(s, stock_of(s.available or 0, True, threshold)) for s, _ in found if s.code != code][
            :NEARBY_SHOWN
        ]
    promise = rules.pickup_promise(store.pickup_enabled, store.pickup_lead_minutes, stock.availability)
    return ProductPage(store, item, price, stock, promise, nearby)


async def product_everywhere(
    db: AsyncSession, reader: Reader, sku: str, *, now: datetime, threshold: int
) -> ProductEverywhere:
    """A product with every store that has it available."""
    item = (await shelf_items(db, [sku]))[sku]
    price = (await shelf_prices(db, [item], now))[sku]
    all_stores = await stores.list_stores(reader, "store", MOST_STORES, None)
    matrix = await local_stock.availability_matrix(reader, [sku], [s.code for s in all_stores])
    units = {a.store: a.available for a in matrix}
    offers = [StoreOffer(s, stock_of(units[s.code], True, threshold)) for s in all_stores if units.get(s.code, 0) > 0]
    return ProductEverywhere(item, price, offers)


async def sku_for_gtin(db: AsyncSession, raw: str) -> str:
    """The SKU of the variant whose barcode is this GTIN (compared as GTIN-14); 404 when none is."""
    code = rules.gtin14(raw)
    for spelling in rules.barcode_spellings(code):
        variants = await catalog.find_variants_by_barcode(db, spelling)
        if variants:
            return variants[0].sku
    raise NotFound(f"No product has the GTIN {raw}.")


async def shelf_labels(db: AsyncSession, code: str, skus: Sequence[str], *, now: datetime, base: str) -> list[Label]:
    """One label per SKU, in the order asked: title, shelf price, SKU and the QR code's address (the GS1
    Digital Link for this store when the barcode is a GTIN, else the store's product page)."""
    await public_store(db, code, now)
    items = await shelf_items(db, skus)
    prices = await shelf_prices(db, list(items.values()), now)
    labels = []
    for sku in skus:
        item, price = items[sku], prices[sku]
        gtin = rules.as_gtin14(item.barcode)
        labels.append(
            Label(
                title=item.title,
                price=rules.money_text(price.price.amount, price.price.currency),
                regular=rules.money_text(price.regular.amount, price.regular.currency) if price.discounted else None,
                sku=sku,
                qr_url=links.digital_link(base, gtin, code) if gtin else links.product_page(base, code, sku),
            )
        )
    return labels
