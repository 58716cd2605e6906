from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter, RawBody

from commerce.auth.guards import allow
from commerce.catalog import service
from commerce.catalog.schemas import ImportReport, ProductId, ProductIn, ProductOut, VariantOut
from commerce.db import Db, ReadDb
from commerce.errors import created_response, problem_responses
from commerce.inventory import availability
from commerce.inventory.rules import parse_codes
from commerce.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from commerce.schemas import IdPath
from commerce.stores.rules import MAX_RADIUS_KM

ProductIdPath = IdPath


class ProductController(Controller):
    path = "/v1/products"
    tags = ["Catalog"]

    @put(
        "/{product_id:str}",
        guards=[allow("admin")],
        summary="Create or replace a product and its variants",
        description="Variants left out of the list are removed (409 `variant_in_use` if one still has stock or "
        "orders). Prices are integer minor units; every channel sells at this price unless a promotion applies.",
        responses={**created_response(ProductOut), **problem_responses(401, 403, 409, 422)},
    )
    async def upsert_product(
        self, db: Db, product_id: ProductIdPath, data: JSONBody[ProductIn]
    ) -> Response[ProductOut]:
        product, created = await service.upsert_product(db, product_id, data)
        return Response(product, status_code=201 if created else 200)

    @get("/{product_id:str}", summary="One product with its variants", responses=problem_responses(401, 404))
    async def get_product(self, db: Db, product_id: FromPath[str]) -> ProductOut:
        return await service.get_product(db, product_id)

    @get(
        "/",
        summary="Search and list products",
        description="`q` matches words of the title, brand, category and description, or an exact SKU or barcode. "
        "With `available_at=CODE[,CODE...]` (at most 50 stores) or `near=LAT,LON` with `radius_km` (the nearest 50 "
        "stores, warehouses excluded): only products with a variant available (>= 1) at one of those stores, and "
        "every variant carries `availability: [{store, available}]` for each of them.",
        responses=problem_responses(401, 404, 422),
    )
    async def list_products(
        self,
        db: Db,
        reader: ReadDb,
        q: Annotated[str | None, QueryParameter(max_length=200, description="Text, SKU or barcode")] = None,
        category: Annotated[str | None, QueryParameter(max_length=120)] = None,
        available_at: Annotated[
            str | None, QueryParameter(max_length=3300, description="Comma-separated store codes")
        ] = None,
        near: Annotated[str | None, QueryParameter(description="LAT,LON, e.g. 41.8781,-87.6298")] = None,
        radius_km: Annotated[float, QueryParameter(gt=0, le=MAX_RADIUS_KM)] = 25.0,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[ProductOut]:
        key = decode_cursor(cursor, 1)
        after = key[0] if key else None
        if available_at is None and near is None:
            rows = await service.list_products(db, q=q, category=category, limit=limit, after=after)
            items = [service.product_out(p, vs) for p, vs in rows]
        else:
            availability.one_store_filter(available_at, "available_at", near)
            most = availability.MAX_LISTING_STORES
            if available_at is not None:
                stores = parse_codes(available_at, "available_at", most)
            else:
                assert near is not None  # one_store_filter
                stores = await availability.stores_near(reader, near, radius_km, most, kind="store")
            items = await availability.products_available_at(
                reader, stores, q=q, category=category, limit=limit, after=after
            )
        return Page(items=items, next_cursor=encode_cursor(items[-1].product_id) if len(items) == limit else None)


class VariantController(Controller):
    path = "/v1/variants"
    tags = ["Catalog"]

    @get("/{sku:str}", summary="One variant by SKU", responses=problem_responses(401, 404))
    async def get_variant(self, db: Db, sku: FromPath[str]) -> VariantOut:
        return await service.get_variant(db, sku)

    @get("/", summary="Find variants by barcode", responses=problem_responses(401, 422))
    async def find_variants(
        self, db: Db, barcode: Annotated[str, QueryParameter(min_length=1, max_length=64)]
    ) -> Page[VariantOut]:
        return Page(items=await service.find_variants_by_barcode(db, barcode), next_cursor=None)


class ImportController(Controller):
    path = "/v1/imports"
    tags = ["Catalog"]

    @post(
        "/products",
        guards=[allow("admin")],
        summary="Import products from NDJSON",
        description="One product per line: `{product_id, ...the PUT body}`. Each line is applied on its own; a bad "
        "line is reported with its number and never stops or half-writes the others.",
        request_max_body_size=256 * 1024 * 1024,
        status_code=200,
        responses=problem_responses(401, 403),
    )
    async def import_products(
        self,
        db: Db,
        body: RawBody,
    ) -> ImportReport:
        return await service.import_products(db, body.splitlines())


__all__ = ["ImportController", "ProductController", "ProductId", "VariantController"]
