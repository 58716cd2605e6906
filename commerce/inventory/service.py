"""Stock changes. Every change is one set-based SQL statement that updates the levels, appends the
ledger and writes `inventory.changed` to the outbox together, so the database decides (no
read-modify-write in Python) and a level can always be explained by its ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.errors import InsufficientStock, NotFound, Unprocessable
from commerce.inventory.rules import (
    MAX_ON_HAND,
    DatedChange,
    Hold,
    LocationStock,
    StockLine,
    available,
    holds_in_lock_order,
    in_lock_order,
)
from commerce.inventory.schemas import LedgerEntryOut
from commerce.stores.rules import haversine_km

# The tail shared by every stock change: given a CTE `upd` of changed levels (store_code, sku,
# on_hand, reserved, safety_stock, d_on_hand, d_reserved), append the ledger and the events.
_OUTBOX = """
, outbox AS (
    INSERT INTO events (type, data)
    SELECT 'inventory.changed', jsonb_build_object(
        'store', store_code, 'sku', sku, 'on_hand', on_hand, 'reserved', reserved,
        'safety_stock', safety_stock, 'available', greatest(on_hand - reserved - safety_stock, 0))
    FROM upd
)
"""
_EVENTS = _OUTBOX + "SELECT store_code, sku, on_hand, reserved, safety_stock FROM upd ORDER BY store_code, sku\n"
_LEDGER = """
, ledger AS (
    INSERT INTO inventory_ledger
        (store_code, sku, delta, reserved_delta, reason, source, reference, note, on_hand_after, reserved_after)
    SELECT store_code, sku, d_on_hand, d_reserved, :reason, :source, :reference, :note, on_hand, reserved FROM upd
)"""
_LEDGER_AND_EVENTS = _LEDGER + _EVENTS

_REQUESTED = (
    "SELECT * FROM unnest(CAST(:stores AS varchar[]), CAST(:skus AS varchar[]), CAST(:qtys AS bigint[]))"
    " AS r(store_code, sku, qty)"
)


# (store, sku) pairs passed as one JSON array: for thousands of pairs the driver's per-element
# array encoding costs more than PostgreSQL's parser (jsonb: parsed once, then indexed cheaply).
_PAIRS = "SELECT e->>0, e->>1 FROM jsonb_array_elements(CAST(:pairs AS jsonb)) AS e"


def _pairs_json(pairs: Sequence[tuple[str, str]]) -> str:
    return msgspec.json.encode(sorted(set(pairs))).decode()


def _arrays(lines: Sequence[StockLine]) -> dict[str, list[Any]]:
    return {
        "stores": [line.store for line in lines],
        "skus": [line.sku for line in lines],
        "qtys": [line.quantity for line in lines],
    }


async def ensure_levels(db: AsyncSession, pairs: Sequence[tuple[str, str]]) -> None:
    """Create empty levels for (store, sku) pairs that have none yet."""
    # The anti-join skips levels that exist (the usual case) without a speculative insert each.
    await db.execute(
        text(
            f"INSERT INTO inventory_levels (store_code, sku) SELECT * FROM ({_PAIRS}) AS p(store_code, sku) "
            "WHERE NOT EXISTS (SELECT 1 FROM inventory_levels il WHERE il.store_code = p.store_code AND il.sku = p.sku) "
            "ORDER BY store_code, sku ON CONFLICT DO NOTHING"
        ),
        {"pairs": _pairs_json(pairs)},
    )


async def ensure_and_lock_levels(db: AsyncSession, pairs: Sequence[tuple[str, str]]) -> None:
    """Create the missing levels and lock all of them in (store, sku) order, in one statement.

    An ON CONFLICT DO UPDATE whose WHERE is false updates nothing but still locks the existing
    row, and rows are taken in the SELECT's order.
    """
    await db.execute(
        text(
            f"INSERT INTO inventory_levels (store_code, sku) SELECT * FROM ({_PAIRS}) AS p(store_code, sku) "
            "ORDER BY store_code, sku ON CONFLICT (store_code, sku) DO UPDATE SET updated_at = now() WHERE false"
        ),
        {"pairs": _pairs_json(pairs)},
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


# A ledger row per (level, reference) of a multi-reference change: given `moves` (store_code, sku,
# reference, n, d_on_hand, d_reserved) and `upd` (the levels as changed), each row's "after"
# quantities are the level's final ones less the moves that come after it (in `n` order). `source` is
# the SQL of who made the change: one parameter, or a column of `moves` when the rows come from
# several callers (checkouts placed together).
def ledger_per_reference_and_events(source: str = ":source") -> str:
    return (
        """
, ledger AS (
    INSERT INTO inventory_ledger
        (store_code, sku, delta, reserved_delta, reason, source, reference, note, on_hand_after, reserved_after)
    SELECT m.store_code, m.sku, m.d_on_hand, m.d_reserved, :reason, """
        + source
        + """, m.reference, NULL,
        upd.on_hand - coalesce(sum(m.d_on_hand) OVER later, 0), upd.reserved - coalesce(sum(m.d_reserved) OVER later, 0)
    FROM moves m JOIN upd USING (store_code, sku)
    WINDOW later AS (PARTITION BY m.store_code, m.sku ORDER BY m.n DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)"""
        + _EVENTS
    )


_LEDGER_PER_REFERENCE_AND_EVENTS = ledger_per_reference_and_events()


# Every level the transaction reserves is locked by this one statement, in (store, sku) order (the
# `locked` CTE: rows are locked as its sorted output is read, and `upd` only touches rows it has
# read), so two checkouts, whatever mix of pickup and ship lines they hold, never lock in a cycle.
# reserve_ctes() are the statement's CTEs without the leading WITH, so checkout can write its orders
# in the same statement. Each hold names who made it (`sources`: checkouts placed together come
# from several callers). The final SELECT names the levels raised. Built once: parsing the SQL text
# for parameters is not free.
def reserve_ctes() -> str:
    return """
req AS (
    SELECT * FROM unnest(CAST(:stores AS varchar[]), CAST(:skus AS varchar[]), CAST(:qtys AS bigint[]),
        CAST(:references AS varchar[]), CAST(:expires AS timestamptz[]), CAST(:sources AS varchar[]))
        WITH ORDINALITY AS r(store_code, sku, qty, reference, expires_at, source, n)
), need AS (
    SELECT store_code, sku, sum(qty) AS qty FROM req GROUP BY store_code, sku
), locked AS MATERIALIZED (
    SELECT il.store_code, il.sku FROM inventory_levels il JOIN need USING (store_code, sku)
    ORDER BY il.store_code, il.sku FOR UPDATE OF il
), upd AS (
    UPDATE inventory_levels il SET reserved = il.reserved + need.qty, updated_at = now()
    FROM need JOIN locked USING (store_code, sku)
    WHERE il.store_code = need.store_code AND il.sku = need.sku
      AND il.on_hand - il.reserved - il.safety_stock >= need.qty
    RETURNING il.store_code, il.sku, il.on_hand, il.reserved, il.safety_stock
), held AS (
    INSERT INTO reservations (store_code, sku, quantity, reference, expires_at)
    SELECT req.store_code, req.sku, req.qty, req.reference, req.expires_at FROM req JOIN upd USING (store_code, sku)
    ORDER BY req.n
), moves AS (
    SELECT req.store_code, req.sku, req.reference, req.n, 0::bigint AS d_on_hand, req.qty AS d_reserved, req.source
    FROM req JOIN upd USING (store_code, sku)
)""" + ledger_per_reference_and_events("m.source")


_RESERVE = text("WITH " + reserve_ctes())


def reserve_params(
    lines: Sequence[StockLine | Hold], *, source: str, reference: str | None = None, expires_at: datetime | None = None
) -> tuple[list[Hold], dict[str, Any]]:
    """The holds in lock order (merged per level and reference) and the parameters of reserve_ctes()."""
    holds = holds_in_lock_order(
        line if isinstance(line, Hold) else Hold(*line, reference=_required(reference), expires_at=expires_at)
        for line in lines
    )
    params = {
        "stores": [h.store for h in holds],
        "skus": [h.sku for h in holds],
        "qtys": [h.quantity for h in holds],
        "references": [h.reference for h in holds],
        "expires": [h.expires_at for h in holds],
        "sources": [source] * len(holds),
        "reason": "reserve",
    }
    return holds, params


async def reserve_lines(
    db: AsyncSession,
    lines: Sequence[StockLine | Hold],
    *,
    source: str,
    reference: str | None = None,
    expires_at: datetime | None = None,
) -> None:
    """Hold stock for every line, all or nothing, in one statement.

    A `Hold` carries its own reference and expiry (checkout reserves its pickup and its ship lines
    together); a `StockLine` takes `reference` and `expires_at`. Each level is raised by one
    conditional UPDATE (`available >= quantity`); if any line is short, InsufficientStock lists
    every short line and the caller's transaction must roll back (the request transaction does;
    wrap in a savepoint to try again otherwise).
    """
    holds, params = reserve_params(lines, source=source, reference=reference, expires_at=expires_at)
    done = {(r.store_code, r.sku) for r in await db.execute(_RESERVE, params)}
    await refuse_short(db, holds, done)


async def refuse_short(db: AsyncSession, holds: Sequence[Hold], done: set[tuple[str, str]]) -> None:
    """After reserve_ctes() raised the levels `done`: InsufficientStock listing every short line (with
    what its level has available now) unless every level of `holds` was raised."""
    wanted = in_lock_order(StockLine(h.store, h.sku, h.quantity) for h in holds)
    if len(done) == len(wanted):
        return
    short = [line for line in wanted if (line.store, line.sku) not in done]
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


# As far as it goes, in one statement: the levels are locked in (store, sku) order and read as
# locked (FOR UPDATE re-reads a row another transaction changed meanwhile); each hold takes what is
# still available after the holds before it on the same level (in input order); each level is raised
# once by the sum, with one ledger row and one event; each hold that got something is a reservation.
_RESERVE_AVAILABLE = text(
    """
WITH req AS (
    SELECT * FROM unnest(CAST(:stores AS varchar[]), CAST(:skus AS varchar[]), CAST(:qtys AS bigint[]),
        CAST(:references AS varchar[]), CAST(:expiries AS timestamptz[])) WITH ORDINALITY
        AS r(store_code, sku, qty, reference, expires_at, n)
), lvl AS (
    SELECT il.store_code, il.sku, il.on_hand - il.reserved - il.safety_stock AS avail FROM inventory_levels il
    WHERE (il.store_code, il.sku) IN (SELECT store_code, sku FROM req)
    ORDER BY il.store_code, il.sku FOR UPDATE
), share AS (
    SELECT req.*, greatest(least(req.qty, lvl.avail - coalesce(sum(req.qty) OVER (
        PARTITION BY req.store_code, req.sku ORDER BY req.n ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)), 0)::bigint
        AS take
    FROM req JOIN lvl USING (store_code, sku)
), agg AS (
    SELECT store_code, sku, sum(take)::bigint AS qty FROM share GROUP BY store_code, sku HAVING sum(take) > 0
), upd AS (
    UPDATE inventory_levels il SET reserved = il.reserved + agg.qty, updated_at = now()
    FROM agg WHERE il.store_code = agg.store_code AND il.sku = agg.sku
    RETURNING il.store_code, il.sku, il.on_hand, il.reserved, il.safety_stock, 0 AS d_on_hand, agg.qty AS d_reserved
), held AS (
    INSERT INTO reservations (store_code, sku, quantity, reference, expires_at)
    SELECT store_code, sku, take, reference, expires_at FROM share WHERE take > 0 ORDER BY n
)"""
    + _LEDGER
    + _OUTBOX
    + "SELECT store_code, sku, reference, take FROM share"
)


async def reserve_available(
    db: AsyncSession, holds: Sequence[Hold], *, reference: str, source: str
) -> dict[tuple[str, str, str], int]:
    """Hold as much of every line as its level has available, never refusing, in one statement.

    For an order that was already accepted elsewhere: what cannot be held is the caller's to record
    (as backordered). Holds on the same level share what it has, first come first served in the
    given order; a level with nothing available (or no level at all) holds nothing and writes
    nothing. The ledger rows name `reference`. Returns the units held per (store, sku, hold
    reference), 0 for a hold that got nothing.
    """
    merged: dict[tuple[str, str, str], Hold] = {}
    for hold in holds:
        key = (hold.store, hold.sku, hold.reference)
        seen = merged.get(key)
        merged[key] = hold if seen is None else seen._replace(quantity=seen.quantity + hold.quantity)
    wanted = list(merged.values())
    params = {
        "stores": [h.store for h in wanted],
        "skus": [h.sku for h in wanted],
        "qtys": [h.quantity for h in wanted],
        "references": [h.reference for h in wanted],
        "expiries": [h.expires_at for h in wanted],
        "reason": "reserve",
        "source": source,
        "reference": reference,
        "note": None,
    }
    got = {(r.store_code, r.sku, r.reference): r.take for r in await db.execute(_RESERVE_AVAILABLE, params)}
    return {key: got.get(key, 0) for key in merged}


def _required(reference: str | None) -> str:
    if reference is None:
        raise TypeError("reserve_lines: a StockLine needs `reference`")
    return reference


async def settle_reservations(
    db: AsyncSession,
    references: str | Sequence[str],
    *,
    consume: bool,
    reason: str,
    source: str,
    store: str | None = None,
) -> int:
    """End the active reservations of `references` (optionally only at `store`), in one statement.

    consume=True: the goods left (collected or shipped): on_hand and reserved both drop.
    consume=False: the hold is released (cancel, expiry): only reserved drops.
    The levels are locked in (store, sku) order by the statement itself, so a cancel settling an
    order's pickup and ship lines, or the sweeper expiring many orders, never locks in a cycle with
    a checkout. Returns how many levels changed; settling twice changes nothing.
    """
    refs = [references] if isinstance(references, str) else sorted(set(references))
    store_filter = "AND store_code = :store" if store is not None else ""
    sql = (
        f"""
WITH active AS (
    SELECT store_code, sku FROM reservations WHERE reference = ANY(CAST(:refs AS varchar[])) AND status = 'active' {store_filter}
), locked AS MATERIALIZED (
    SELECT il.store_code, il.sku FROM inventory_levels il
    WHERE (il.store_code, il.sku) IN (SELECT store_code, sku FROM active)
    ORDER BY il.store_code, il.sku FOR UPDATE OF il
), res AS (
    UPDATE reservations SET status = :status, updated_at = now()
    WHERE reference = ANY(CAST(:refs AS varchar[])) AND status = 'active' {store_filter}
    RETURNING store_code, sku, quantity, reference
), moves AS (
    SELECT store_code, sku, reference, row_number() OVER (ORDER BY store_code, sku, reference) AS n,
        CASE WHEN :consume THEN -sum(quantity) ELSE 0 END::bigint AS d_on_hand, -sum(quantity)::bigint AS d_reserved
    FROM res GROUP BY store_code, sku, reference
), agg AS (
    SELECT store_code, sku, sum(d_on_hand) AS d_on_hand, sum(d_reserved) AS d_reserved FROM moves GROUP BY store_code, sku
), upd AS (
    UPDATE inventory_levels il SET reserved = il.reserved + agg.d_reserved, on_hand = il.on_hand + agg.d_on_hand,
        updated_at = now()
    FROM agg JOIN locked USING (store_code, sku)
    WHERE il.store_code = agg.store_code AND il.sku = agg.sku
    RETURNING il.store_code, il.sku, il.on_hand, il.reserved, il.safety_stock
)"""
        + _LEDGER_PER_REFERENCE_AND_EVENTS
    )
    params = {
        "status": "consumed" if consume else "released",
        "refs": refs,
        "store": store,
        "consume": consume,
        "reason": reason,
        "source": source,
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


async def lock_for_count(db: AsyncSession, store: str, sku: str) -> datetime | None:
    """Create the level if needed, lock it for a count that follows, and say when it was last counted."""
    await ensure_levels(db, [(store, sku)])
    counted_at: datetime | None = await db.scalar(
        text("SELECT counted_at FROM inventory_levels WHERE store_code = :store AND sku = :sku FOR UPDATE"),
        {"store": store, "sku": sku},
    )
    return counted_at


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
    """Move on_hand by `delta`; refuses (409 insufficient_stock) to take it below what is reserved, and
    (422 stock_limit) past MAX_ON_HAND."""
    if delta > 0:
        await ensure_levels(db, [(store, sku)])
    sql = (
        "WITH upd AS ("
        " UPDATE inventory_levels il SET on_hand = il.on_hand + :delta, updated_at = now()"
        " WHERE il.store_code = :store AND il.sku = :sku AND il.on_hand + :delta >= il.reserved"
        "   AND il.on_hand + :delta <= :max_on_hand"
        " RETURNING il.store_code, il.sku, il.on_hand, il.reserved, il.safety_stock,"
        "   CAST(:delta AS bigint) AS d_on_hand, 0 AS d_reserved"
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
        "max_on_hand": MAX_ON_HAND,
    }
    row = (await db.execute(text(sql), params)).first()
    if row is None and delta > 0 and (await levels(db, [store], [sku]))[(store, sku)].on_hand + delta > MAX_ON_HAND:
        raise Unprocessable(
            f"on_hand at {store} would pass {MAX_ON_HAND:,} units of {sku!r}; check the quantity.", code="stock_limit"
        )
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


class Level(NamedTuple):
    on_hand: int
    reserved: int
    safety_stock: int


NO_LEVEL = Level(0, 0, 0)


async def require_known(db: AsyncSession, store: str, sku: str) -> None:
    """404 unless both the store and the SKU exist (a level may be created for them)."""
    row = (
        await db.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM stores WHERE code = :store) AS store_known,"
                " EXISTS (SELECT 1 FROM variants WHERE sku = :sku) AS sku_known"
            ),
            {"store": store, "sku": sku},
        )
    ).one()
    if not row.store_known:
        raise NotFound(f"No store with code {store!r}.")
    if not row.sku_known:
        raise NotFound(f"No variant with SKU {sku!r}.")


async def levels(db: AsyncSession, stores: Sequence[str], skus: Sequence[str]) -> dict[tuple[str, str], Level]:
    """The levels of every (store, sku) in stores x skus that has one (one primary-key range scan per store)."""
    rows = await db.execute(
        text(
            "SELECT store_code, sku, on_hand, reserved, safety_stock FROM inventory_levels"
            " WHERE store_code = ANY(CAST(:stores AS varchar[])) AND sku = ANY(CAST(:skus AS varchar[]))"
        ),
        {"stores": list(stores), "skus": list(skus)},
    )
    return {(r.store_code, r.sku): Level(r.on_hand, r.reserved, r.safety_stock) for r in rows}


async def level_of(db: AsyncSession, store: str, sku: str) -> Level:
    """The level of a known store and SKU (zeros when it has none yet); 404 for an unknown one."""
    await require_known(db, store, sku)
    return (await levels(db, [store], [sku])).get((store, sku), NO_LEVEL)


async def ledger(db: AsyncSession, store: str, sku: str, *, limit: int, before_id: int | None) -> list[LedgerEntryOut]:
    """Ledger entries of one level, newest first, after the keyset position `before_id`."""
    await require_known(db, store, sku)
    # The keyset condition only when there is one, so it is an index bound, not a filter.
    after_cursor = "" if before_id is None else " AND id < :before_id"
    rows = await db.execute(
        text(
            "SELECT id, delta, reserved_delta, reason, source, reference, note, on_hand_after, reserved_after, at,"
            " occurred_at"
            f" FROM inventory_ledger WHERE store_code = :store AND sku = :sku{after_cursor}"
            " ORDER BY id DESC LIMIT :limit"
        ),
        {"store": store, "sku": sku, "before_id": before_id, "limit": limit},
    )
    return [LedgerEntryOut(**r._asdict()) for r in rows]


# Dated changes: see apply_dated_changes. `c` holds the changes in input order (n); `lvl` the
# levels before them; `newest` the count (if any) that moves a level's count time forward.
_DATED_CHANGES = (
    """
WITH c AS (
    SELECT e->>0 AS sku, CAST(e->>1 AS timestamptz) AS occurred_at, CAST(e->>2 AS bigint) AS qty,
        CAST(e->>3 AS boolean) AS is_count, e->>4 AS reason, e->>5 AS source, e->>6 AS reference, n
    FROM jsonb_array_elements(CAST(:changes AS jsonb)) WITH ORDINALITY AS x(e, n)
), lvl AS (
    SELECT sku, on_hand, reserved, counted_at FROM inventory_levels
    WHERE store_code = :store AND sku IN (SELECT sku FROM c)
), newest AS (
    SELECT DISTINCT ON (c.sku) c.sku, c.n, c.occurred_at, c.qty FROM c JOIN lvl USING (sku)
    WHERE c.is_count AND (lvl.counted_at IS NULL OR c.occurred_at > lvl.counted_at)
    ORDER BY c.sku, c.occurred_at DESC, c.n DESC
), since AS (
    -- Everything already recorded as happening after the new count: it stays on top of the count.
    SELECT newest.sku, coalesce(sum(g.delta), 0) AS d FROM newest
    LEFT JOIN inventory_ledger g ON g.store_code = :store AND g.sku = newest.sku
        AND coalesce(g.occurred_at, g.at) > newest.occurred_at
    GROUP BY newest.sku
), moves AS (
    SELECT c.*, lvl.on_hand AS old_on_hand, lvl.reserved, coalesce(c.n = newest.n, false) AS sets,
        greatest(lvl.counted_at, newest.occurred_at) AS cut,
        CASE WHEN c.n = newest.n THEN newest.qty + since.d - lvl.on_hand
             WHEN c.occurred_at <= greatest(lvl.counted_at, newest.occurred_at) THEN 0
             ELSE c.qty END AS delta
    FROM c JOIN lvl USING (sku) LEFT JOIN newest USING (sku) LEFT JOIN since USING (sku)
), totals AS (
    SELECT m.sku, sum(m.delta)::bigint AS d, max(newest.occurred_at) AS counted_at
    FROM moves m LEFT JOIN newest USING (sku) GROUP BY m.sku
), upd AS (
    UPDATE inventory_levels il SET on_hand = il.on_hand + totals.d,
        counted_at = coalesce(totals.counted_at, il.counted_at), updated_at = now()
    FROM totals WHERE il.store_code = :store AND il.sku = totals.sku
        AND (totals.d <> 0 OR totals.counted_at IS NOT NULL)
    RETURNING il.store_code, il.sku, il.on_hand, il.reserved, il.safety_stock
), ledger AS (
    INSERT INTO inventory_ledger (store_code, sku, delta, reserved_delta, reason, source, reference, note,
        on_hand_after, reserved_after, occurred_at)
    SELECT :store, sku, delta, 0, reason, source, reference,
        CASE WHEN NOT sets AND occurred_at <= cut
                THEN 'before count at ' || to_char(cut AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
             WHEN NOT is_count AND after < 0 AND delta < 0 THEN 'oversold: on_hand went below zero' END,
        after, reserved, occurred_at
    FROM (SELECT m.*, m.old_on_hand + sum(m.delta) OVER (PARTITION BY m.sku ORDER BY m.sets DESC, m.occurred_at, m.n)
          AS after FROM moves m) AS ordered
)"""
    + _EVENTS
)


async def apply_dated_changes(db: AsyncSession, store: str, changes: Sequence[DatedChange]) -> None:
    """Apply changes that happened at known times (possibly long ago, in any order) at one store.

    A change is a signed delta, or an absolute count "on_hand was N at occurred_at". A level's
    `counted_at` is its newest count: changes at or before it are recorded with delta 0 and do
    not move on_hand; a newer count sets on_hand to N plus what the ledger already holds as
    happening after it. So any arrival order ends in the same state (commerce/pos/rules.py).
    Every change gets its ledger row; the levels are created if missing and locked in sku order
    first, then each is updated once.
    """
    if not changes:
        return
    await ensure_and_lock_levels(db, [(store, c.sku) for c in changes])
    # One JSON document rather than seven arrays (see _PAIRS); a DatedChange encodes as
    # [sku, occurred_at, quantity, is_count, reason, source, reference], read by `c` above.
    await db.execute(text(_DATED_CHANGES), {"store": store, "changes": msgspec.json.encode(changes).decode()})
