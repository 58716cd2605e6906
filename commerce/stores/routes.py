from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from commerce.auth.guards import allow
from commerce.db import Db, ReadDb
from commerce.errors import Unprocessable, created_response, problem_responses
from commerce.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from commerce.schemas import IdPath
from commerce.stores import rules, service
from commerce.stores.schemas import StoreIn, StoreKind, StoreListItem, StoreOut

StoreCodePath = IdPath


class StoreController(Controller):
    path = "/v1/stores"
    tags = ["Stores"]

    @put(
        "/{code:str}",
        guards=[allow("admin")],
        summary="Create or update a store or warehouse",
        description="201 when the store was created, 200 when it was updated.",
        responses={**created_response(StoreOut), **problem_responses(401, 403, 422)},
    )
    async def upsert_store(self, db: Db, code: StoreCodePath, data: JSONBody[StoreIn]) -> Response[StoreOut]:
        store, created = await service.upsert_store(db, code, data)
        return Response(store, status_code=201 if created else 200)

    @get("/{code:str}", summary="One store", responses=problem_responses(401, 404))
    async def get_store(self, db: Db, code: FromPath[str]) -> StoreOut:
        return await service.get_store(db, code)

    @get(
        "/",
        summary="Stores near a point, or all stores",
        description="With `near=LAT,LON`: stores within `radius_km` (default 25), nearest first, each with "
        "`distance_km` (geodesic). With `sku`: only stores where at least `min_available` units are available, "
        "each with `available`. Without `near`: every store by code.",
        responses=problem_responses(401, 422),
    )
    async def list_stores(
        self,
        reader: ReadDb,
        request: Request[Any, Any, Any],
        near: Annotated[str | None, QueryParameter(description="LAT,LON, e.g. 41.8781,-87.6298")] = None,
        radius_km: Annotated[float, QueryParameter(gt=0, le=rules.MAX_RADIUS_KM)] = 25.0,
        kind: FromQuery[StoreKind | None] = None,
        pickup: Annotated[bool | None, QueryParameter(description="Only stores that offer (or don't) pickup")] = None,
        sku: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
        min_available: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 1,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[StoreListItem]:
        if near is None:
            if sku is not None:
                raise Unprocessable("`sku` filters stores near a point: give `near` and `radius_km` too.")
            key = decode_cursor(cursor, 1)
            stores = await service.list_stores(reader, kind, limit, key[0] if key else None)
            next_cursor = encode_cursor(stores[-1].code) if len(stores) == limit else None
            return Page(items=stores, next_cursor=next_cursor)
        lat, lon = rules.parse_point(near)
        key = decode_cursor(cursor, 2)
        found = await service.nearby_stores(
            reader,
            lat=lat,
            lon=lon,
            radius_km=radius_km,
            kind=kind,
            pickup=pickup,
            sku=sku,
            min_available=min_available,
            limit=limit,
            after=(float(key[0]), str(key[1])) if key else None,
        )
        nearby = [s for s, _ in found]
        next_cursor = encode_cursor(found[-1][1], found[-1][0].code) if len(found) == limit else None
        return Page(items=nearby, next_cursor=next_cursor)
