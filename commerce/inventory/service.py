"""Stock changes. Every change is one set-based SQL statement that updates the levels, appends the
ledger and writes `inventory.changed` to the outbox together, so the database decides (no
read-modify-write in Python) and a level can always be explained by its ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.errors import InsufficientStock
from commerce.inventory.rules import LocationStock, StockLine, available, in_lock_order
from commerce.stores.rules import haversine_km

# The tail shared by every stock change: given a CTE `upd` of changed levels (store_code, sku,
# on_hand, reserved, safety_stock, d_on_hand, d_reserved), append the ledger and the events.
_LEDGER_AND_EVENTS = """
, ledger AS (
    INSERT INTO inventory_ledger
        (store_code, sku, delta, reserved_delta, reason, source, reference, note, on_hand_after, reserved_after)
    SELECT store_code, sku, d_on_hand, d_reserved, :reason, :source, :reference, :note, on_hand, reserved FROM upd
), outbox AS (
    INSERT INTO events (type, data)
    SELECT 'inventory.changed', jsonb_build_object(
        'store', store_code, 'sku', sku, 'on_hand', on_hand, 'reserved', reserved,
        'safety_stock', safety_stock, 'available', greatest(on_hand - reserved - safety_stock, 0))
    FROM upd
)
SELECT store_code, sku, on_hand, reserved, safety_stock FROM upd ORDER BY store_code, sku
"""

_REQUESTED = (
    "SELECT * FROM unnest(CAST(:stores AS varchar[]), CAST(:skus AS varchar[]), CAST(:qtys AS integer[]))"
    " AS r(store_code, sku, qty)"
)


def _arrays(lines: Sequence[StockLine]) -> dict[str, list[Any]]:
    return {
        "stores": [line.store for line in lines],
        "skus": [line.sku for line in lines],
        "qtys": [line.quantity for line in lines],
    }


async def lock_levels(db: AsyncSession, pairs: Sequence[tuple[str, str]]) -> None:
    """Lock the given levels in (store, sku) order, the one order every multi-row change uses."""
    if len(pairs) < 2:
        return
    ordered = sorted(set(pairs))
    await db.execute(
        text(
            "SELECT 1 FROM inventory_levels WHERE (store_code, sku) IN "
            "(SELECT * FROM unnest(CAST(:stores AS varchar[]), CAST(:skus AS varchar[]))) "
            "ORDER BY store_code, sku FOR UPDATE"
        ),
        {"stores": [p[0] for p in ordered], "skus": [p[1] for p in ordered]},
    )


async def ensure_levels(db: AsyncSession, pairs: Sequence[tuple[str, str]]) -> None:
    """Create empty levels for (store, sku) pairs that have none yet."""
    ordered = sorted(set(pairs))
    await db.execute(
        text(
            "INSERT INTO inventory_levels (store_code, sku) "
            "SELECT * FROM unnest(CAST(:stores AS varchar[]), CAST(:skus AS varchar[])) "
            "ON CONFLICT DO NOTHING"
        ),
        {"stores": [p[0] for p in ordered], "skus": [p[1] for p in ordered]},
    )


async def availability_of(db: AsyncSession, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Available units for each (store, sku); pairs with no level are 0."""
    rows = await db.execute(
        text(
            "SELECT store_code, sku, on_hand, reserved, safety_stock FROM inventory_levels "
            "WHERE (store_code, sku) IN (SELECT * FROM unnest(CAST(:stores AS varchar[]), CAST(:skus AS varchar[])))"
        ),
        {"stores": [p[0] for p in pairs], "skus": [p[1] for p in pairs]},
    )
    found = {(r.store_code, r.sku): available(r.on_hand, r.reserved, r.safety_stock) for r in rows}
    return {p: found.get(p, 0) for p in pairs}


async def ship_candidates(
    db: AsyncSession, skus: Sequence[str], ship_to: tuple[float, float] | None = None
) -> dict[str, list[LocationStock]]:
    """Every location with some of each SKU available, in one query, with its distance from `ship_to`
    when given; rules.ship_source picks the one a line leaves from (carts show it, checkout uses it)."""
    rows = await db.execute(
        text(
            "SELECT il.sku, il.store_code, s.kind, il.on_hand - il.reserved - il.safety_stock AS available,"
            " s.latitude, s.longitude"
            " FROM inventory_levels il JOIN stores s ON s.code = il.store_code"
            " WHERE il.sku = ANY(CAST(:skus AS varchar[])) AND il.on_hand - il.reserved - il.safety_stock > 0"
        ),
        {"skus": sorted(set(skus))},
    )
    found: dict[str, list[LocationStock]] = {sku: [] for sku in skus}
    for r in rows:
        distance = haversine_km(ship_to[0], ship_to[1], r.latitude, r.longitude) if ship_to else None
        found[r.sku].append(LocationStock(r.store_code, r.kind, r.available, distance))
    return found


# Built once (checkout runs it on every order): parsing the SQL text for parameters is not free.
_RESERVE = text(
    f"WITH req AS ({_REQUESTED}), upd AS ("
    " UPDATE inventory_levels il SET reserved = il.reserved + req.qty, updated_at = now()"
    " FROM req WHERE il.store_code = req.store_code AND il.sku = req.sku"
    "   AND il.on_hand - il.reserved - il.safety_stock >= req.qty"
    " RETURNING il.store_code, il.sku, il.on_hand, il.reserved, il.safety_stock,"
    "           0 AS d_on_hand, req.qty AS d_reserved"
    "), held AS ("
    " INSERT INTO reservations (store_code, sku, quantity, reference, expires_at)"
    " SELECT store_code, sku, d_reserved, :reference, :expires_at FROM upd"
    ")" + _LEDGER_AND_EVENTS
)


async def reserve_lines(
    db: AsyncSession,
    lines: Sequence[StockLine],
    *,
    reference: str,
    source: str,
    expires_at: datetime | None = None,
) -> None:
    """Hold stock for every line, all or nothing.

    Each level is raised by one conditional UPDATE (`available >= quantity`); if any line is
    short, InsufficientStock lists every short line and the caller's transaction must roll
    back (the request transaction does; wrap in a savepoint to try again otherwise).
    """
    ordered = in_lock_order(lines)
    await lock_levels(db, [(line.store, line.sku) for line in ordered])
    params = {
        **_arrays(ordered),
        "reason": "reserve",
        "source": source,
        "reference": reference,
        "note": None,
        "expires_at": expires_at,
    }
    done = {(r.store_code, r.sku) for r in await db.execute(_RESERVE, params)}
    if len(done) == len(ordered):
        return
    short = [line for line in ordered if (line.store, line.sku) not in done]
    now_available = await availability_of(db, [(line.store, line.sku) for line in short])
    raise InsufficientStock(
        [
            {
                "sku": line.sku,
                "store": line.store,
                "requested": line.quantity,
                "available": now_available[(line.store, line.sku)],
            }
            for line in short
        ]
    )


async def settle_reservations(
    db: AsyncSession,
    reference: str,
    *,
    consume: bool,
    reason: str,
    source: str,
    store: str | None = None,
) -> int:
    """End the active reservations of `reference` (optionally only at `store`).

    consume=True: the goods left (collected or shipped): on_hand and reserved both drop.
    consume=False: the hold is released (cancel, expiry): only reserved drops.
    Returns how many reservation rows were settled; settling twice changes nothing.
    """
    store_filter = "AND store_code = :store" if store is not None else ""
    pairs = (
        await db.execute(
            text(
                f"SELECT DISTINCT store_code, sku FROM reservations WHERE reference = :reference AND status = 'active' {store_filter}"
            ),
            {"reference": reference, "store": store},
        )
    ).all()
    if not pairs:
        return 0
    await lock_levels(db, [(p.store_code, p.sku) for p in pairs])
    sql = (
        "WITH res AS ("
        " UPDATE reservations SET status = :status, updated_at = now()"
        f" WHERE reference = :reference AND status = 'active' {store_filter}"
        " RETURNING store_code, sku, quantity"
        "), agg AS (SELECT store_code, sku, sum(quantity)::int AS qty FROM res GROUP BY store_code, sku"
        "), upd AS ("
        " UPDATE inventory_levels il SET reserved = il.reserved - agg.qty,"
        "   on_hand = il.on_hand - CASE WHEN :consume THEN agg.qty ELSE 0 END, updated_at = now()"
        " FROM agg WHERE il.store_code = agg.store_code AND il.sku = agg.sku"
        " RETURNING il.store_code, il.sku, il.on_hand, il.reserved, il.safety_stock,"
        "   CASE WHEN :consume THEN -agg.qty ELSE 0 END AS d_on_hand, -agg.qty AS d_reserved"
        ")" + _LEDGER_AND_EVENTS
    )
    params = {
        "status": "consumed" if consume else "released",
        "reference": reference,
        "store": store,
        "consume": consume,
        "reason": reason,
        "source": source,
        "note": None,
    }
    return len((await db.execute(text(sql), params)).all())


async def set_on_hand(
    db: AsyncSession,
    store: str,
    sku: str,
    *,
    on_hand: int,
    safety_stock: int | None,
    counted_at: datetime | None,
    reason: str,
    source: str,
    reference: str | None = None,
) -> dict[str, int]:
    """Set on_hand to an absolute count (the ledger records the difference)."""
    await ensure_levels(db, [(store, sku)])
    sql = (
        "WITH old AS ("
        " SELECT on_hand FROM inventory_levels WHERE store_code = :store AND sku = :sku FOR UPDATE"
        "), upd AS ("
        " UPDATE inventory_levels il SET on_hand = :on_hand,"
        "   safety_stock = coalesce(:safety_stock, il.safety_stock),"
        "   counted_at = CASE WHEN CAST(:counted_at AS timestamptz) IS NULL THEN il.counted_at"
        "                     ELSE greatest(il.counted_at, CAST(:counted_at AS timestamptz)) END,"
        "   updated_at = now()"
        " FROM old WHERE il.store_code = :store AND il.sku = :sku"
        " RETURNING il.store_code, il.sku, il.on_hand, il.reserved, il.safety_stock,"
        "   il.on_hand - old.on_hand AS d_on_hand, 0 AS d_reserved"
        ")" + _LEDGER_AND_EVENTS
    )
    row = (
        await db.execute(
            text(sql),
            {
                "store": store,
                "sku": sku,
                "on_hand": on_hand,
                "safety_stock": safety_stock,
                "counted_at": counted_at,
                "reason": reason,
                "source": source,
                "reference": reference,
                "note": None,
            },
        )
    ).one()
    return {"on_hand": row.on_hand, "reserved": row.reserved, "safety_stock": row.safety_stock}


async def adjust_on_hand(
    db: AsyncSession,
    store: str,
    sku: str,
    *,
    delta: int,
    reason: str,
    source: str,
    reference: str | None = None,
    note: str | None = None,
) -> dict[str, int]:
    """Move on_hand by `delta`; refuses (409 insufficient_stock) to take it below what is reserved."""
    if delta > 0:
        await ensure_levels(db, [(store, sku)])
    sql = (
        "WITH upd AS ("
        " UPDATE inventory_levels il SET on_hand = il.on_hand + :delta, updated_at = now()"
        " WHERE il.store_code = :store AND il.sku = :sku AND il.on_hand + :delta >= il.reserved"
        " RETURNING il.store_code, il.sku, il.on_hand, il.reserved, il.safety_stock,"
        "   CAST(:delta AS integer) AS d_on_hand, 0 AS d_reserved"
        ")" + _LEDGER_AND_EVENTS
    )
    params = {
        "store": store,
        "sku": sku,
        "delta": delta,
        "reason": reason,
        "source": source,
        "reference": reference,
        "note": note,
    }
    row = (await db.execute(text(sql), params)).first()
    if row is None:
        now_available = await availability_of(db, [(store, sku)])
        raise InsufficientStock(
            [{"sku": sku, "store": store, "requested": -delta, "available": now_available[(store, sku)]}]
        )
    return {"on_hand": row.on_hand, "reserved": row.reserved, "safety_stock": row.safety_stock}


async def set_on_hand_many(
    db: AsyncSession, rows: Sequence[StockLine], *, reason: str, source: str, reference: str | None = None
) -> None:
    """Set on_hand to absolute counts for many levels in one statement (ledger records each difference)."""
    ordered = sorted(rows)
    await ensure_levels(db, [(r.store, r.sku) for r in ordered])
    sql = (
        f"WITH req AS ({_REQUESTED}), old AS ("
        " SELECT il.store_code, il.sku, il.on_hand AS old_on_hand FROM inventory_levels il"
        " JOIN req ON il.store_code = req.store_code AND il.sku = req.sku"
        " ORDER BY il.store_code, il.sku FOR UPDATE OF il"
        "), upd AS ("
        " UPDATE inventory_levels il SET on_hand = req.qty, updated_at = now()"
        " FROM req JOIN old ON old.store_code = req.store_code AND old.sku = req.sku"
        " WHERE il.store_code = req.store_code AND il.sku = req.sku AND il.on_hand <> req.qty"
        " RETURNING il.store_code, il.sku, il.on_hand, il.reserved, il.safety_stock,"
        "   req.qty - old.old_on_hand AS d_on_hand, 0 AS d_reserved"
        ")" + _LEDGER_AND_EVENTS
    )
    params = {**_arrays(ordered), "reason": reason, "source": source, "reference": reference, "note": None}
    await db.execute(text(sql), params)
