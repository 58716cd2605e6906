from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter

from commerce.auth.guards import allow, ensure_store
from commerce.auth.schemas import CUSTOMER, Principal
from commerce.db import Db, ReadDb
from commerce.errors import Conflict, Unprocessable, problem_responses
from commerce.idempotency import IdempotencyKey, idempotent
from commerce.inventory import availability, rules, service
from commerce.inventory.schemas import (
    AdjustmentIn,
    AvailabilityOut,
    CountIn,
    LedgerEntryOut,
    LevelOut,
    LookupOut,
)
from commerce.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from commerce.stores.rules import MAX_RADIUS_KM

StorePath = Annotated[str, PathParameter(min_length=1, max_length=64)]
SkuPath = Annotated[str, PathParameter(min_length=1, max_length=64)]
# Roles that see the full counts of a level; the others (storefront, ads, customer) see what can be promised.
FULL_VIEW_ROLES = frozenset({"admin", "pos", "associate", "integration"})


def source_of(principal: Principal) -> str:
    """The ledger's `source` for a change made through the API: who made it."""
    return f"{principal.role}:{principal.key_id}"


def level_out(store: str, sku: str, level: service.Level, *, full: bool = True) -> LevelOut:
    units = rules.available(*level)
    if not full:
        return LevelOut(store=store, sku=sku, available=units)
    return LevelOut(
        store=store,
        sku=sku,
        on_hand=level.on_hand,
        reserved=level.reserved,
        safety_stock=level.safety_stock,
        available=units,
    )


class InventoryController(Controller):
    path = "/v1/inventory"
    tags = ["Inventory"]

    @get(
        "/{store:str}/{sku:str}",
        guards=[allow("associate", "pos", "storefront", "ads", "integration", CUSTOMER)],
        summary="Stock of one SKU at one store",
        description="Admin, integration, pos and associate keys see `on_hand`, `reserved`, `safety_stock` and "
        "`available`; storefront and ads keys and customer tokens see `available` only. A store and SKU that exist but have no level yet read as "
        "zeros.",
        responses=problem_responses(401, 403, 404),
    )
    async def get_level(
        self, db: Db, request: Request[Principal, Any, Any], store: StorePath, sku: SkuPath
    ) -> LevelOut:
        ensure_store(request.user, store)
        level = await service.level_of(db, store, sku)
        return level_out(store, sku, level, full=request.user.role in FULL_VIEW_ROLES)

    @put(
        "/{store:str}/{sku:str}",
        guards=[allow("associate", "pos", "integration")],
        summary="Record an absolute stock count",
        description="on_hand becomes the counted number; the ledger records the difference with reason `count`. "
        "A count older (`counted_at`) than one already recorded is 409 `stale_count`.",
        responses=problem_responses(401, 403, 404, 409, 422),
    )
    async def count(
        self, db: Db, request: Request[Principal, Any, Any], store: StorePath, sku: SkuPath, data: JSONBody[CountIn]
    ) -> LevelOut:
        ensure_store(request.user, store)
        await service.require_known(db, store, sku)
        latest = await service.lock_for_count(db, store, sku)
        if data.counted_at is not None and latest is not None and data.counted_at < latest:
            raise Conflict(
                f"A later count (taken at {latest.isoformat()}) is already recorded; this older one would undo it. "
                "Send a fresh count.",
                code="stale_count",
            )
        counts = await service.set_on_hand(
            db,
            store,
            sku,
            on_hand=data.on_hand,
            safety_stock=data.safety_stock,
            counted_at=data.counted_at,
            reason="count",
            source=source_of(request.user),
        )
        return level_out(store, sku, service.Level(**counts))

    @post(
        "/adjustments",
        guards=[allow("associate", "pos", "integration")],
        summary="Adjust stock by a delta",
        description="receipt and transfer_in add stock, damage, shrink and transfer_out remove it, a correction "
        "may go either way. 409 `insufficient_stock` if it would take on_hand below what is reserved. Send an "
        "`Idempotency-Key` so a retry cannot apply it twice.",
        status_code=201,
        responses={
            201: ResponseSpec(data_container=LevelOut, description="The level after the adjustment"),
            **problem_responses(401, 403, 404, 409, 422),
        },
    )
    async def adjust(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        data: JSONBody[AdjustmentIn],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Any]:
        ensure_store(request.user, data.store)
        rules.check_adjustment(data.reason, data.delta)
        await service.require_known(db, data.store, data.sku)

        async def apply() -> LevelOut:
            counts = await service.adjust_on_hand(
                db,
                data.store,
                data.sku,
                delta=data.delta,
                reason=data.reason,
                source=source_of(request.user),
                note=data.note,
            )
            return level_out(data.store, data.sku, service.Level(**counts))

        return await idempotent(db, request, idempotency_key, apply, status_code=201)

    @get(
        "/{store:str}/{sku:str}/ledger",
        guards=[allow("associate", "integration")],
        summary="Every change to one level, newest first",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def ledger(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        store: StorePath,
        sku: SkuPath,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[LedgerEntryOut]:
        ensure_store(request.user, store)
        key = decode_cursor(cursor, 1)
        if key is not None and not isinstance(key[0], int):
            raise Unprocessable(
                "`cursor` is not one this server issued; start again without it.", code="invalid_cursor"
            )
        entries = await service.ledger(db, store, sku, limit=limit, before_id=key[0] if key else None)
        next_cursor = encode_cursor(entries[-1].id) if len(entries) == limit else None
        return Page(items=entries, next_cursor=next_cursor)


class AvailabilityController(Controller):
    path = "/v1/availability"
    tags = ["Inventory"]

    @get(
        "/",
        summary="Availability of SKUs at stores",
        description=f"`skus` (at most {availability.MAX_SKUS}) at `stores` (codes, at most "
        f"{availability.MAX_STORES}; each must exist) or at the stores and warehouses within `radius_km` of "
        f"`near` (the nearest {availability.MAX_STORES}). One item per sku and store, 0 where nothing is "
        "available or the SKU is unknown; ordered by the given SKUs, then stores as given or nearest first.",
        responses=problem_responses(401, 404, 422),
    )
    async def availability(
        self,
        reader: ReadDb,
        skus: Annotated[str, QueryParameter(min_length=1, max_length=7000, description="Comma-separated SKUs")],
        stores: Annotated[str | None, QueryParameter(max_length=14000, description="Comma-separated codes")] = None,
        near: Annotated[str | None, QueryParameter(description="LAT,LON, e.g. 41.8781,-87.6298")] = None,
        radius_km: Annotated[float, QueryParameter(gt=0, le=MAX_RADIUS_KM)] = 25.0,
    ) -> AvailabilityOut:
        sku_list = rules.parse_codes(skus, "skus", availability.MAX_SKUS)
        availability.one_store_filter(stores, "stores", near)
        if stores is not None:
            codes = rules.parse_codes(stores, "stores", availability.MAX_STORES)
        else:
            assert near is not None  # one_store_filter
            codes = await availability.stores_near(reader, near, radius_km, availability.MAX_STORES, kind=None)
        return AvailabilityOut(items=await availability.availability_matrix(reader, sku_list, codes))


class LookupController(Controller):
    path = "/v1/stores"
    tags = ["Associates"]

    @get(
        "/{code:str}/lookup",
        guards=[allow("associate")],
        summary="Find a product on the floor: stock here, nearby and in warehouses",
        description=f"`q` is a SKU, a barcode or words of the title. One item per matching variant with the stock "
        f"here, the other stores within {availability.LOOKUP_RADIUS_KM:g} km that have it (nearest first, at "
        f"most {availability.LOOKUP_NEARBY}) and the warehouses that have it (most first).",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def lookup(
        self,
        db: Db,
        reader: ReadDb,
        request: Request[Principal, Any, Any],
        code: StorePath,
        q: Annotated[str, QueryParameter(min_length=1, max_length=200, description="SKU, barcode or text")],
    ) -> LookupOut:
        ensure_store(request.user, code)
        if not q.strip():
            raise Unprocessable("`q` needs a SKU, a barcode or some words of a product title.")
        return await availability.lookup(db, reader, code, q.strip())
