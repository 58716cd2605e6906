from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import msgspec
from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.catalog.models import Product, Variant
from commerce.catalog.schemas import (
    ImportFailure,
    ImportReport,
    ProductImportLine,
    ProductIn,
    ProductOut,
    VariantOut,
)
from commerce.errors import Conflict, DomainError, NotFound, Unprocessable
from commerce.events import service as events
from commerce.money import Money

log = logging.getLogger("commerce.catalog")


def variant_out(v: Variant) -> VariantOut:
    return VariantOut(
        sku=v.sku,
        product_id=v.product_id,
        title=v.title,
        barcode=v.barcode,
        options=v.options,
        price=Money(v.price_amount, v.currency),
    )


def product_out(p: Product, variants: Sequence[Variant]) -> ProductOut:
    return ProductOut(
        product_id=p.id,
        title=p.title,
        description=p.description,
        brand=p.brand,
        category=p.category,
        attributes=p.attributes,
        variants=[variant_out(v) for v in variants],
        updated_at=p.updated_at,
    )


def _check_variants(data: ProductIn) -> None:
    skus = [v.sku for v in data.variants]
    if len(set(skus)) != len(skus):
        raise Unprocessable("Each variant needs its own `sku`; this product lists one twice.", code="duplicate_sku")
    barcodes = [v.barcode for v in data.variants if v.barcode]
    if len(set(barcodes)) != len(barcodes):
        raise Unprocessable("Two variants of this product share a barcode.", code="duplicate_barcode")


async def upsert_product(db: AsyncSession, product_id: str, data: ProductIn) -> tuple[ProductOut, bool]:
    """Create or replace a product and its variants. Returns (product, created)."""
    _check_variants(data)
    skus = [v.sku for v in data.variants]
    taken = (
        await db.execute(
            select(Variant.sku, Variant.product_id).where(Variant.sku.in_(skus), Variant.product_id != product_id)
        )
    ).first()
    if taken is not None:
        raise Conflict(f"SKU {taken.sku!r} belongs to product {taken.product_id!r}.", code="sku_taken")

    values = {
        "title": data.title,
        "description": data.description,
        "brand": data.brand,
        "category": data.category,
        "attributes": data.attributes,
    }
    stmt = insert(Product).values(id=product_id, **values)
    stmt = stmt.on_conflict_do_update(index_elements=[Product.id], set_={**values, "updated_at": func.now()})
    created = bool((await db.execute(stmt.returning(text("xmax = 0")))).scalar_one())

    try:
        async with db.begin_nested():
            await db.execute(delete(Variant).where(Variant.product_id == product_id, Variant.sku.not_in(skus)))
    except IntegrityError:
        raise Conflict(
            "A variant this update leaves out still has stock or orders; keep it in the product.",
            code="variant_in_use",
        ) from None
    rows = [
        {
            "sku": v.sku,
            "product_id": product_id,
            "position": i,
            "title": v.title,
            "barcode": v.barcode,
            "options": v.options,
            "price_amount": v.price.amount,
            "currency": v.price.currency,
        }
        for i, v in enumerate(data.variants)
    ]
    upsert = insert(Variant).values(rows)
    upsert = upsert.on_conflict_do_update(
        index_elements=[Variant.sku],
        set_={c: upsert.excluded[c] for c in ("position", "title", "barcode", "options", "price_amount", "currency")}
        | {"updated_at": func.now()},
        where=Variant.product_id == upsert.excluded.product_id,
    )
    try:
        async with db.begin_nested():
            await db.execute(upsert)
    except IntegrityError as exc:
        if "barcode" in str(exc.orig):
            raise Conflict("A barcode in this product belongs to another variant.", code="barcode_taken") from None
        raise Conflict("A SKU in this product belongs to another product.", code="sku_taken") from None

    await events.record(
        db,
        "product.changed",
        {
            "product_id": product_id,
            "variants": [
                {"sku": v.sku, "price": {"amount": v.price.amount, "currency": v.price.currency}} for v in data.variants
            ],
        },
    )
    return await get_product(db, product_id), created


async def get_product(db: AsyncSession, product_id: str) -> ProductOut:
    product = await db.get(Product, product_id, populate_existing=True)
    if product is None:
        raise NotFound(f"No product with id {product_id!r}.")
    variants = (
        await db.scalars(
            select(Variant)
            .where(Variant.product_id == product_id)
            .order_by(Variant.position, Variant.sku)
            .execution_options(populate_existing=True)
        )
    ).all()
    return product_out(product, variants)


async def products_with_variants(db: AsyncSession, products: Sequence[Product]) -> list[tuple[Product, list[Variant]]]:
    ids = [p.id for p in products]
    by_product: dict[str, list[Variant]] = {i: [] for i in ids}
    if ids:
        for v in await db.scalars(
            select(Variant)
            .where(Variant.product_id.in_(ids))
            .order_by(Variant.product_id, Variant.position, Variant.sku)
        ):
            by_product[v.product_id].append(v)
    return [(p, by_product[p.id]) for p in products]


async def list_products(
    db: AsyncSession,
    *,
    q: str | None,
    category: str | None,
    limit: int,
    after: str | None,
) -> list[tuple[Product, list[Variant]]]:
    """Products by id, optionally matching text `q` and a `category`."""
    stmt = select(Product).order_by(Product.id).limit(limit)
    if q:
        query = func.websearch_to_tsquery("simple", q)
        sku_match = select(Variant.product_id).where((Variant.sku == q) | (Variant.barcode == q))
        stmt = stmt.where(Product.search.bool_op("@@")(query) | Product.id.in_(sku_match))
    if category is not None:
        stmt = stmt.where(Product.category == category)
    if after is not None:
        stmt = stmt.where(Product.id > after)
    products = (await db.scalars(stmt)).all()
    return await products_with_variants(db, products)


async def get_variant(db: AsyncSession, sku: str) -> VariantOut:
    variant = await db.get(Variant, sku)
    if variant is None:
        raise NotFound(f"No variant with SKU {sku!r}.")
    return variant_out(variant)


async def find_variants_by_barcode(db: AsyncSession, barcode: str) -> list[VariantOut]:
    return [variant_out(v) for v in await db.scalars(select(Variant).where(Variant.barcode == barcode))]


async def import_products(db: AsyncSession, lines: Iterable[bytes], first_line: int = 1) -> ImportReport:
    """Upsert one product per NDJSON line; each line in its own savepoint, so a bad one writes nothing
    and stops nothing."""
    created = updated = 0
    failed: list[ImportFailure] = []
    decoder = msgspec.json.Decoder(ProductImportLine)
    for number, raw in enumerate(lines, start=first_line):
        if not raw.strip():
            continue
        try:
            item = decoder.decode(raw)
        except msgspec.ValidationError as exc:
            failed.append(ImportFailure(number, "validation_failed", str(exc)))
            continue
        except msgspec.DecodeError as exc:
            failed.append(ImportFailure(number, "malformed_json", str(exc)))
            continue
        try:
            async with db.begin_nested():
                _, was_created = await upsert_product(db, item.product_id, item)
        except DomainError as exc:
            failed.append(ImportFailure(number, exc.code, exc.detail))
            continue
        if was_created:
            created += 1
        else:
            updated += 1
    log.info("import: %d created, %d updated, %d failed", created, updated, len(failed))
    return ImportReport(created=created, updated=updated, failed=failed)


async def variant_titles(db: AsyncSession, skus: Iterable[str]) -> dict[str, str | None]:
    """The title of every known SKU among `skus` (an unknown SKU is absent), in one query."""
    rows = await db.execute(select(Variant.sku, Variant.title).where(Variant.sku.in_(sorted(set(skus)))))
    return {r.sku: r.title for r in rows}
