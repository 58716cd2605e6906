"""Local availability reads: the availability matrix, the store sets that listings filter by, products in
stock at those stores, and the associate's "endless aisle" lookup. Reads only; stock changes are in service.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from commerce.catalog import service as catalog
from commerce.catalog.models import Product, Variant
from commerce.catalog.schemas import ProductOut, StoreAvailability, VariantOut
from commerce.db import Reader, SqlParams
from commerce.errors import NotFound, Unprocessable
from commerce.inventory import service
from commerce.inventory.rules import available
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


def check_known(codes: Sequence[str], unknown: Sequence[str] | None) -> None:
    if unknown:
        raise NotFound(f"No store with code {', '.join(map(repr, unknown))}.")


async def stores_near(reader: Reader, near: str, radius_km: float, most: int, kind: str | None) -> list[str]:
    """The nearest `most` stores (of `kind`, if given) within `radius_km` of `near`, nearest first."""
    lat, lon = geo.parse_point(near)
    found = await stores.nearby_stores(reader, lat=lat, lon=lon, radius_km=radius_km, kind=kind, limit=most)
    return [s.code for s, _ in found]


def _unknown_stores_sql(codes: str) -> str:
    """SQL: the codes of the array `codes` that name no store, in their order (an uncorrelated subquery:
    run once per statement)."""
    return (
        f"ARRAY(SELECT w.code FROM unnest({codes}::varchar[]) WITH ORDINALITY w(code, j)"
        " WHERE NOT EXISTS (SELECT 1 FROM stores st WHERE st.code = w.code) ORDER BY w.j)"
    )


def _available_sql(store: str, sku: str) -> str:
    """SQL: units available of `sku` at `store`, 0 without a level. One primary-key probe per pair: a
    set-based read by SKU read 100k rows for a SKU stocked everywhere."""
    return (
        "coalesce((SELECT greatest(il.on_hand - il.reserved - il.safety_stock, 0) FROM inventory_levels il"
        f" WHERE il.store_code = {store} AND il.sku = {sku}), 0)"
    )


# $1 skus, $2 stores. The listed stores that do not exist come back as `unknown` on every row.
_MATRIX = f"""
SELECT {_unknown_stores_sql("$2")} AS unknown, k.sku, w.code AS store, {_available_sql("w.code", "k.sku")} AS available
FROM unnest($1::varchar[]) WITH ORDINALITY k(sku, i)
CROSS JOIN unnest($2::varchar[]) WITH ORDINALITY w(code, j)
ORDER BY k.i, w.j
"""


async def availability_matrix(
    reader: Reader, skus: Sequence[str], store_codes: Sequence[str]
) -> list[AvailabilityItem]:
    """Available units for every sku x store (0 where there is no level), by sku then in the stores' order.

    One statement; a store code that names no store is a 404 naming it.
    """
    rows = await reader.fetch(_MATRIX, list(skus), list(store_codes))
    if rows:
        check_known(store_codes, rows[0]["unknown"])
    return [AvailabilityItem(r["sku"], r["store"], r["available"]) for r in rows]


_LISTING = (
    """
WITH page AS (
    SELECT p.id, p.title, p.description, p.brand, p.category, p.attributes, p.updated_at FROM products p
    WHERE p.id IN (
        SELECT v.product_id FROM variants v JOIN inventory_levels il ON il.sku = v.sku
        WHERE il.store_code = ANY($1::varchar[]) AND il.on_hand - il.reserved - il.safety_stock >= 1
    ) {filters}
    ORDER BY p.id LIMIT $2
)
SELECT u.unknown, p.id, p.title, p.description, p.brand, p.category, p.attributes, p.updated_at,
       v.sku, v.title AS variant_title, v.barcode, v.options, v.price_amount, v.currency,
       ARRAY("""
    f"SELECT {_available_sql('w.code', 'v.sku')} FROM unnest($1::varchar[]) WITH ORDINALITY w(code, j) ORDER BY w.j"
    f""") AS available
FROM (SELECT {_unknown_stores_sql("$1")} AS unknown) u
LEFT JOIN (page p JOIN variants v ON v.product_id = p.id) ON true
ORDER BY p.id, v.position, v.sku
"""
)


async def products_available_at(
    reader: Reader,
    store_codes: Sequence[str],
    *,
    q: str | None,
    category: str | None,
    limit: int,
    after: str | None,
) -> list[ProductOut]:
    """A page of products with a variant available (>= 1) at one of the stores, each variant's availability there.

    One statement: the stores' check, the page (walking products in id order or collecting what is in
    stock there first, as the planner finds cheaper), the variants and their availability.
    """
    if not store_codes:
        return []
    param = SqlParams()
    param(list(store_codes))
    param(limit)
    filters = []
    if q:
        text = param(q)
        filters.append(
            f"(p.search @@ websearch_to_tsquery('simple', {text})"
            f" OR p.id IN (SELECT product_id FROM variants WHERE sku = {text} OR barcode = {text}))"
        )
    if category is not None:
        filters.append(f"p.category = {param(category)}")
    if after is not None:
        filters.append(f"p.id > {param(after)}")
    sql = _LISTING.format(filters="".join(f" AND {f}" for f in filters))
    rows = await reader.fetch(sql, *param.values)
    check_known(store_codes, rows[0]["unknown"])
    products: list[ProductOut] = []
    for r in rows:
        if r["id"] is None:
            continue  # the one row of an empty page
        if not products or products[-1].product_id != r["id"]:
            products.append(
                ProductOut(
                    product_id=r["id"],
                    title=r["title"],
                    description=r["description"],
                    brand=r["brand"],
                    category=r["category"],
                    attributes=r["attributes"],
                    variants=[],
                    updated_at=r["updated_at"],
                )
            )
        products[-1].variants.append(
            VariantOut(
                sku=r["sku"],
                product_id=r["id"],
                title=r["variant_title"],
                barcode=r["barcode"],
                options=r["options"],
                price=Money(r["price_amount"], r["currency"]),
                availability=[StoreAvailability(code, n) for code, n in zip(store_codes, r["available"], strict=True)],
            )
        )
    return products


def _matching_variants(rows: Sequence[tuple[Product, list[Variant]]], q: str) -> list[tuple[Product, Variant]]:
    """An exact SKU or barcode names one variant; text matches every variant of the products it finds."""
    pairs = [(p, v) for p, variants in rows for v in variants]
    exact = [(p, v) for p, v in pairs if q in (v.sku, v.barcode)]
    return (exact or pairs)[:LOOKUP_VARIANTS]


async def lookup(db: AsyncSession, reader: Reader, store_code: str, q: str) -> LookupOut:
    """What an associate needs on the floor: the stock here, in other stores nearby, and in warehouses."""
    here = await stores.get_store(db, store_code)
    rows = await catalog.list_products(db, q=q, category=None, limit=LOOKUP_VARIANTS, after=None)
    matches = _matching_variants(rows, q)
    if not matches:
        return LookupOut(items=[])
    nearby = [
        (s.code, s.distance_km or 0.0)
        for s, _ in await stores.nearby_stores(
            reader, lat=here.latitude, lon=here.longitude, radius_km=LOOKUP_RADIUS_KM, kind="store", limit=MAX_STORES
        )
        if s.code != store_code
    ]
    warehouses = [s.code for s in await stores.list_stores(reader, "warehouse", MAX_STORES, None)]
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
    "check_known",
    "lookup",
    "one_store_filter",
    "products_available_at",
    "stores_near",
]
