from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast
from zoneinfo import available_timezones

from sqlalchemy import Row, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.db import Reader, SqlParams
from commerce.errors import NotFound, Unprocessable
from commerce.stores import rules
from commerce.stores.models import Store
from commerce.stores.schemas import StoreIn, StoreKind, StoreListItem, StoreOut

_TIMEZONES = frozenset(available_timezones())


def store_out(store: Store | Row[Any]) -> StoreOut:
    return StoreOut(
        code=store.code,
        name=store.name,
        kind=cast(StoreKind, store.kind),
        latitude=store.latitude,
        longitude=store.longitude,
        address=store.address,
        timezone=store.timezone,
        pickup_enabled=store.pickup_enabled,
        pickup_lead_minutes=store.pickup_lead_minutes,
    )


async def upsert_store(db: AsyncSession, code: str, data: StoreIn) -> tuple[StoreOut, bool]:
    if data.timezone not in _TIMEZONES:
        raise Unprocessable(f"Unknown time zone {data.timezone!r}; use an IANA name such as America/Chicago.")
    values = {
        "name": data.name,
        "kind": data.kind,
        "latitude": data.latitude,
        "longitude": data.longitude,
        "address": data.address,
        "timezone": data.timezone,
        "pickup_enabled": data.pickup_enabled,
        "pickup_lead_minutes": data.pickup_lead_minutes,
    }
    stmt = insert(Store).values(code=code, **values)
    stmt = stmt.on_conflict_do_update(index_elements=[Store.code], set_={**values, "updated_at": func.now()})
    created = (await db.execute(stmt.returning(text("xmax = 0")))).scalar_one()
    return await get_store(db, code), bool(created)


async def get_store(db: AsyncSession, code: str) -> StoreOut:
    store = await db.get(Store, code, populate_existing=True)
    if store is None:
        raise NotFound(f"No store with code {code!r}.")
    return store_out(store)


async def require_store(db: AsyncSession, code: str) -> Store:
    store = await db.get(Store, code)
    if store is None:
        raise NotFound(f"No store with code {code!r}.")
    return store


_STORE_COLUMNS = (
    "code",
    "name",
    "kind",
    "latitude",
    "longitude",
    "address",
    "timezone",
    "pickup_enabled",
    "pickup_lead_minutes",
)


async def list_stores(reader: Reader, kind: str | None, limit: int, after: str | None) -> list[StoreOut]:
    """Stores (of `kind`, if given) by code, after the code `after`."""
    rows = await reader.fetch(
        f"SELECT {', '.join(_STORE_COLUMNS)} FROM stores WHERE ($1::text IS NULL OR kind = $1)"
        " AND ($2::text IS NULL OR code > $2) ORDER BY code LIMIT $3",
        kind,
        after,
        limit,
    )
    return [StoreOut(**dict(r)) for r in rows]


def distance_sql(lat: str, lon: str, alias: str = "s") -> str:
    """Haversine distance in km from the point (lat, lon), given as SQL expressions, to a store row."""
    return (
        f"2 * {rules.EARTH_MEAN_RADIUS_KM} * asin(least(1, sqrt("
        f"power(sin(radians({alias}.latitude - {lat}) / 2), 2) + "
        f"cos(radians({lat})) * cos(radians({alias}.latitude)) * "
        f"power(sin(radians({alias}.longitude - {lon}) / 2), 2))))"
    )


def box_sql(boxes: Sequence[rules.Box], param: SqlParams, alias: str = "s") -> str:
    """`point(lon, lat) <@ box` conditions (served by the GiST index on stores' location)."""
    parts = [
        f"point({alias}.longitude, {alias}.latitude) <@ box(point({param(x1)}, {param(y1)}), point({param(x2)}, {param(y2)}))"
        for x1, y1, x2, y2 in boxes
    ]
    return "(" + " OR ".join(parts) + ")"


async def nearby_stores(
    reader: Reader,
    *,
    lat: float,
    lon: float,
    radius_km: float,
    kind: str | None = None,
    pickup: bool | None = None,
    sku: str | None = None,
    min_available: int = 1,
    limit: int = 50,
    after: tuple[float, str] | None = None,
) -> list[tuple[StoreListItem, float]]:
    """Stores within `radius_km`, nearest first, each with its geodesic distance; one statement.

    With `sku`, only stores where at least `min_available` units of it are available.
    Returns (store, sort key) pairs; the sort key feeds the next page's cursor.
    """
    param = SqlParams()
    where = [box_sql(rules.search_boxes(lat, lon, radius_km), param)]
    join = ""
    available_col = "NULL::int AS available"
    if kind is not None:
        where.append(f"s.kind = {param(kind)}")
    if pickup is not None:
        where.append(f"s.pickup_enabled = {param(pickup)}")
    if sku is not None:
        join = f"JOIN inventory_levels il ON il.store_code = s.code AND il.sku = {param(sku)}"
        where.append(f"il.on_hand - il.reserved - il.safety_stock >= {param(min_available)}")
        available_col = "greatest(il.on_hand - il.reserved - il.safety_stock, 0) AS available"
    distance = distance_sql(f"{param(lat)}::float8", f"{param(lon)}::float8")
    conditions = [f"d.distance <= {param(radius_km * rules.SPHERE_MARGIN)}"]
    if after is not None:
        conditions.append(f"(d.distance, d.code) > ({param(after[0])}::float8, {param(after[1])}::text)")
    sql = f"""
        SELECT * FROM (
            SELECT {", ".join(f"s.{c}" for c in _STORE_COLUMNS)}, {available_col}, {distance} AS distance
            FROM stores s {join}
            WHERE {" AND ".join(where)}
        ) d
        WHERE {" AND ".join(conditions)}
        ORDER BY d.distance, d.code
        LIMIT {param(limit)}
    """
    found = []
    for r in await reader.fetch(sql, *param.values):
        km = rules.geodesic_km(lat, lon, r["latitude"], r["longitude"])
        if km > radius_km:
            continue
        store = {c: r[c] for c in _STORE_COLUMNS}
        item = StoreListItem(**store, distance_km=round(km, 3), available=r["available"])
        found.append((item, float(r["distance"])))
    return found


async def pickup_leads(db: AsyncSession, codes: Sequence[str]) -> dict[str, int | None]:
    """For every known store among `codes` (an unknown one is absent): its pickup lead time in
    minutes, or None when it does not offer pickup."""
    rows = await db.execute(
        select(Store.code, Store.pickup_enabled, Store.pickup_lead_minutes).where(Store.code.in_(sorted(set(codes))))
    )
    return {r.code: r.pickup_lead_minutes if r.pickup_enabled else None for r in rows}
