from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast
from zoneinfo import available_timezones

from sqlalchemy import Row, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.db import plan_with_actual_values
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


async def list_stores(db: AsyncSession, kind: str | None, limit: int, after: str | None) -> list[StoreOut]:
    stmt = select(Store).order_by(Store.code).limit(limit)
    if kind is not None:
        stmt = stmt.where(Store.kind == kind)
    if after is not None:
        stmt = stmt.where(Store.code > after)
    return [store_out(s) for s in (await db.scalars(stmt)).all()]


def distance_sql(lat_param: str = ":lat", lon_param: str = ":lon", alias: str = "s") -> str:
    """Haversine distance in km from a point to a store row, as SQL (used to filter and order)."""
    return (
        f"2 * {rules.EARTH_MEAN_RADIUS_KM} * asin(least(1, sqrt("
        f"power(sin(radians({alias}.latitude - {lat_param}) / 2), 2) + "
        f"cos(radians({lat_param})) * cos(radians({alias}.latitude)) * "
        f"power(sin(radians({alias}.longitude - {lon_param}) / 2), 2))))"
    )


def box_sql(boxes: Sequence[rules.Box], params: dict[str, Any], alias: str = "s") -> str:
    """`point(lon, lat) <@ box` conditions (served by the GiST index on stores' location)."""
    parts = []
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        params.update({f"bx1_{i}": x1, f"by1_{i}": y1, f"bx2_{i}": x2, f"by2_{i}": y2})
        parts.append(
            f"point({alias}.longitude, {alias}.latitude) <@ box(point(:bx1_{i}, :by1_{i}), point(:bx2_{i}, :by2_{i}))"
        )
    return "(" + " OR ".join(parts) + ")"


async def nearby_stores(
    db: AsyncSession,
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
    """Stores within `radius_km`, nearest first, each with its geodesic distance.

    With `sku`, only stores where at least `min_available` units of it are available.
    Returns (store, sort key) pairs; the sort key feeds the next page's cursor.
    """
    params: dict[str, Any] = {
        "lat": lat,
        "lon": lon,
        "limit": limit,
        "reach": radius_km * rules.SPHERE_MARGIN,
    }
    where = [box_sql(rules.search_boxes(lat, lon, radius_km), params)]
    join = ""
    available_col = "NULL::int AS available"
    if kind is not None:
        where.append("s.kind = :kind")
        params["kind"] = kind
    if pickup is not None:
        where.append("s.pickup_enabled = :pickup")
        params["pickup"] = pickup
    if sku is not None:
        join = "JOIN inventory_levels il ON il.store_code = s.code AND il.sku = :sku"
        where.append("il.on_hand - il.reserved - il.safety_stock >= :min_available")
        available_col = "greatest(il.on_hand - il.reserved - il.safety_stock, 0) AS available"
        params.update({"sku": sku, "min_available": min_available})
    cursor_cond = ""
    if after is not None:
        cursor_cond = "WHERE (d.distance, d.code) > (:after_d, :after_code)"
        params.update({"after_d": after[0], "after_code": after[1]})
    sql = f"""
        SELECT * FROM (
            SELECT s.code, s.name, s.kind, s.latitude, s.longitude, s.address, s.timezone,
                   s.pickup_enabled, s.pickup_lead_minutes, {available_col}, {distance_sql()} AS distance
            FROM stores s {join}
            WHERE {" AND ".join(where)}
        ) d
        {cursor_cond} {"AND" if cursor_cond else "WHERE"} d.distance <= :reach
        ORDER BY d.distance, d.code
        LIMIT :limit
    """
    await plan_with_actual_values(db)
    rows = (await db.execute(text(sql), params)).all()
    found = []
    for r in rows:
        km = rules.geodesic_km(lat, lon, r.latitude, r.longitude)
        if km > radius_km:
            continue
        found.append(
            (
                StoreListItem(
                    code=r.code,
                    name=r.name,
                    kind=r.kind,
                    latitude=r.latitude,
                    longitude=r.longitude,
                    address=r.address,
                    timezone=r.timezone,
                    pickup_enabled=r.pickup_enabled,
                    pickup_lead_minutes=r.pickup_lead_minutes,
                    distance_km=round(km, 3),
                    available=r.available,
                ),
                float(r.distance),
            )
        )
    return found
