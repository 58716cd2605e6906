"""Local availability reads: the availability matrix, the store sets that listings filter by, products in
stock at those stores, and the associate's "endless aisle" lookup. Reads only; stock changes are in service.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.catalog import service as catalog
from commerce.catalog.models import Product, Variant
from commerce.catalog.schemas import StoreAvailability
from commerce.db import plan_with_actual_values
from commerce.errors import NotFound, Unprocessable
from commerce.inventory import service
from commerce.inventory.rules import available, parse_codes
from commerce.inventory.schemas import (
    AvailabilityItem,
    HereStock,
    LookupItem,
    LookupOut,
    NearbyStock,
)
from commerce.money import Money
from commerce.stores import rules as geo
from commerce.stores import service as stores

MAX_SKUS = 100
MAX_STORES = 200
# A product listing filtered by stores names at most this many (and `near` keeps the nearest this many).
MAX_LISTING_STORES = 50
# The associate lookup: how far "nearby" reaches and how much of it is shown.
LOOKUP_RADIUS_KM = 50.0
LOOKUP_NEARBY = 10
LOOKUP_WAREHOUSES = 20
LOOKUP_VARIANTS = 25


def one_store_filter(codes: str | None, codes_param: str, near: str | None) -> None:
    """A read is about listed stores or stores near a point: not both, not neither."""
    if (codes is None) == (near is None):
        raise Unprocessable(f"Give either `{codes_param}` (store codes) or `near=LAT,LON` with `radius_km`.")


async def known_stores(db: AsyncSession, raw: str, codes_param: str, most: int) -> list[str]:
    """Comma-separated store codes, every one of which must exist (404 names the unknown ones)."""
    codes = parse_codes(raw, codes_param, most)
    unknown = await service.unknown_stores(db, codes)
    if unknown:
        raise NotFound(f"No store with code {', '.join(map(repr, unknown))}.")
    return codes


async def stores_near(db: AsyncSession, near: str, radius_km: float, most: int, kind: str | None) -> list[str]:
    """The nearest `most` stores (of `kind`, if given) within `radius_km` of `near`, nearest first."""
    lat, lon = geo.parse_point(near)
    found = await stores.nearby_stores(db, lat=lat, lon=lon, radius_km=radius_km, kind=kind, limit=most)
    return [s.code for s, _ in found]


_MATRIX = """
WITH found AS (
    SELECT store_code, sku, greatest(on_hand - reserved - safety_stock, 0) AS available FROM inventory_levels
    WHERE store_code = ANY(CAST(:stores AS varchar[])) AND sku = ANY(CAST(:skus AS varchar[]))
)
SELECT k.sku, s.store, coalesce(f.available, 0) AS available
FROM unnest(CAST(:skus AS varchar[])) WITH ORDINALITY k(sku, i)
CROSS JOIN unnest(CAST(:stores AS varchar[])) WITH ORDINALITY s(store, j)
LEFT JOIN found f ON f.store_code = s.store AND f.sku = k.sku
ORDER BY k.i, s.j
"""


async def availability_matrix(
    db: AsyncSession, skus: Sequence[str], store_codes: Sequence[str]
) -> list[AvailabilityItem]:
    """Available units for every sku x store (0 where there is no level), by sku then in the stores' order."""
    rows = await db.execute(text(_MATRIX), {"skus": list(skus), "stores": list(store_codes)})
    return [AvailabilityItem(r.sku, r.store, r.available) for r in rows]


# Products with a variant available (>= 1) at one of :stores. Correlated on the product, so a listing
# walks products in id order and probes each one's variants by primary key, stopping at its page size.
_IN_STOCK_PRODUCTS = (
    "SELECT v.product_id FROM variants v JOIN inventory_levels il ON il.sku = v.sku"
    " WHERE il.store_code = ANY(CAST(:stock_stores AS varchar[]))"
    " AND il.on_hand - il.reserved - il.safety_stock >= 1"
)


async def products_available_at(
    db: AsyncSession,
    store_codes: Sequence[str],
    *,
    q: str | None,
    category: str | None,
    limit: int,
    after: str | None,
) -> list[tuple[Product, list[Variant], dict[str, list[StoreAvailability]]]]:
    """A page of products with a variant available at one of the stores, each variant's availability there."""
    await plan_with_actual_values(db)
    if not store_codes:
        return []
    rows = await catalog.list_products(
        db,
        q=q,
        category=category,
        limit=limit,
        after=after,
        product_ids_sql=_IN_STOCK_PRODUCTS,
        params={"stock_stores": list(store_codes)},
    )
    skus = [v.sku for _, variants in rows for v in variants]
    by_sku: dict[str, list[StoreAvailability]] = {}
    for item in await availability_matrix(db, skus, store_codes):
        by_sku.setdefault(item.sku, []).append(StoreAvailability(item.store, item.available))
    return [(p, variants, by_sku) for p, variants in rows]


def _matching_variants(rows: Sequence[tuple[Product, list[Variant]]], q: str) -> list[tuple[Product, Variant]]:
    """An exact SKU or barcode names one variant; text matches every variant of the products it finds."""
    pairs = [(p, v) for p, variants in rows for v in variants]
    exact = [(p, v) for p, v in pairs if q in (v.sku, v.barcode)]
    return (exact or pairs)[:LOOKUP_VARIANTS]


async def lookup(db: AsyncSession, store_code: str, q: str) -> LookupOut:
    """What an associate needs on the floor: the stock here, in other stores nearby, and in warehouses."""
    here = await stores.get_store(db, store_code)
    rows = await catalog.list_products(db, q=q, category=None, limit=LOOKUP_VARIANTS, after=None)
    matches = _matching_variants(rows, q)
    if not matches:
        return LookupOut(items=[])
    nearby = [
        (s.code, s.distance_km or 0.0)
        for s, _ in await stores.nearby_stores(
            db, lat=here.latitude, lon=here.longitude, radius_km=LOOKUP_RADIUS_KM, kind="store", limit=MAX_STORES
        )
        if s.code != store_code
    ]
    warehouses = [s.code for s in await stores.list_stores(db, "warehouse", MAX_STORES, None)]
    skus = [v.sku for _, v in matches]
    found = await service.levels(db, [store_code, *(c for c, _ in nearby), *warehouses], skus)

    def units(store: str, sku: str) -> int:
        return available(*found.get((store, sku), service.NO_LEVEL))

    items = []
    for product, variant in matches:
        level = found.get((store_code, variant.sku), service.NO_LEVEL)
        in_stock_nearby = [
            NearbyStock(code, km, units(code, variant.sku)) for code, km in nearby if units(code, variant.sku) > 0
        ]
        in_warehouses = sorted(
            (StoreAvailability(code, units(code, variant.sku)) for code in warehouses if units(code, variant.sku) > 0),
            key=lambda w: (-w.available, w.store),
        )
        items.append(
            LookupItem(
                sku=variant.sku,
                product_id=product.id,
                title=f"{product.title} / {variant.title}" if variant.title else product.title,
                barcode=variant.barcode,
                price=Money(variant.price_amount, variant.currency),
                here=HereStock(level.on_hand, level.reserved, available(*level)),
                nearby=in_stock_nearby[:LOOKUP_NEARBY],
                warehouses=in_warehouses[:LOOKUP_WAREHOUSES],
            )
        )
    return LookupOut(items=items)


__all__ = [
    "availability_matrix",
    "known_stores",
    "lookup",
    "one_store_filter",
    "products_available_at",
    "stores_near",
]
