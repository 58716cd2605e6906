"""POS sync: a till's batch of events, each applied exactly once, in a handful of statements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.db import plan_with_actual_values
from commerce.inventory import service as inventory
from commerce.money import Money
from commerce.pos import rules
from commerce.pos.schemas import PosBatchResult, PosEventIn, PosEventResult, PosLineOut, PosPurchase
from commerce.segments import service as segments
from commerce.stores.service import require_store


def _rejected(event_id: str | None, code: str, detail: str) -> PosEventResult:
    return PosEventResult(event_id=event_id, status="rejected", code=code, detail=detail)


def _id_of(raw: Any) -> str | None:
    """The event id of an event too malformed to read, so the till can still match the result."""
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    return event_id if isinstance(event_id, str) else None


async def _unknown_skus(db: AsyncSession, skus: set[str]) -> set[str]:
    if not skus:
        return set()
    known = await db.scalars(
        text(
            "SELECT v.sku FROM jsonb_array_elements_text(CAST(:skus AS jsonb)) AS r(sku) JOIN variants v ON v.sku = r.sku"
        ),
        {"skus": msgspec.json.encode(sorted(skus)).decode()},
    )
    return skus - set(known)


async def _record_new(db: AsyncSession, store: str, events: Sequence[PosEventIn]) -> set[str]:
    """Record the events, each sale and return with its value; returns the ids that were not recorded
    before (the ones to apply).

    Inserted in event-id order so two batches sharing ids wait on each other in one order.
    """
    ordered = sorted(events, key=lambda e: e.event_id)
    rows = await db.scalars(
        text(
            "INSERT INTO pos_events (store_code, event_id, type, occurred_at, terminal_id, loyalty_id, lines, "
            "total_minor, currency) "
            "SELECT :store, e->>0, e->>1, CAST(e->>2 AS timestamptz), e->>3, e->>4, e->5, CAST(e->>6 AS bigint), e->>7 "
            "FROM jsonb_array_elements(CAST(:events AS jsonb)) AS e "
            "ON CONFLICT DO NOTHING RETURNING event_id"
        ),
        {
            "store": store,
            "events": msgspec.json.encode(
                [
                    (e.event_id, e.type, e.occurred_at, e.terminal_id, e.loyalty_id, e.lines, *rules.value_of(e))
                    for e in ordered
                ]
            ).decode(),
        },
    )
    return set(rows)


async def ingest(db: AsyncSession, store: str, raw_events: Sequence[Any]) -> PosBatchResult:
    """Check each event on its own, record the new ones and apply their stock effects together.

    A rejected event is neither applied nor recorded (a corrected resend with its id applies);
    a duplicate (an id recorded before, or earlier in this batch) changes nothing.
    """
    await require_store(db, store)
    # The batch statements take arrays of thousands of rows: plan them with the real arrays.
    await plan_with_actual_values(db)
    now = datetime.now(UTC)
    results: list[PosEventResult | None] = [None] * len(raw_events)
    well_formed: list[tuple[int, PosEventIn]] = []
    for i, raw in enumerate(raw_events):
        try:
            event = msgspec.convert(raw, PosEventIn)
        except msgspec.ValidationError as exc:
            results[i] = _rejected(_id_of(raw), "validation_failed", str(exc))
            continue
        rejection = rules.check_event(event, now)
        if rejection is not None:
            results[i] = _rejected(event.event_id, rejection.code, rejection.detail)
            continue
        well_formed.append((i, event))

    unknown = await _unknown_skus(db, {line.sku for _, event in well_formed for line in event.lines})
    first_of_id: dict[str, tuple[int, PosEventIn]] = {}
    for i, event in well_formed:
        missing = sorted({line.sku for line in event.lines} & unknown)
        if missing:
            detail = f"Unknown SKU(s) {', '.join(missing)}: add them to the catalog, then resend this event."
            results[i] = _rejected(event.event_id, "unknown_sku", detail)
        elif event.event_id in first_of_id:
            results[i] = PosEventResult(event_id=event.event_id, status="duplicate")
        else:
            first_of_id[event.event_id] = (i, event)

    new_ids = await _record_new(db, store, [event for _, event in first_of_id.values()]) if first_of_id else set()
    changes = []
    for event_id, (i, event) in first_of_id.items():
        applied = event_id in new_ids
        results[i] = PosEventResult(event_id=event_id, status="applied" if applied else "duplicate")
        if applied:
            changes.extend(rules.changes_of(event))
    # Loyalty customers' profiles and segments follow their till sales and returns in this transaction
    # (the events just recorded are among their purchases). Done before the stock changes, so the
    # levels, which checkouts contend for, stay locked only from their update to the commit.
    await segments.refresh_loyalty_customers(
        db,
        {
            e.loyalty_id
            for i, e in first_of_id.values()
            if e.event_id in new_ids and e.loyalty_id and e.type in ("sale", "return")
        },
        now,
    )
    await inventory.apply_dated_changes(db, store, changes)
    return PosBatchResult(results=[r for r in results if r is not None])


def _purchase(row: Any) -> PosPurchase:
    lines = msgspec.convert(row.lines, list[PosLineOut])
    priced = [(line.unit_price, line.quantity) for line in lines if line.unit_price is not None]
    total = None
    if priced and len(priced) == len(lines):
        total = Money(amount=sum(price.amount * quantity for price, quantity in priced), currency=priced[0][0].currency)
    return PosPurchase(
        event_id=row.event_id,
        store=row.store_code,
        occurred_at=row.occurred_at,
        type=row.type,
        lines=lines,
        total=total,
    )


async def sales_for_loyalty(
    db: AsyncSession, loyalty_id: str, limit: int, after: tuple[datetime, str, str] | None = None
) -> list[PosPurchase]:
    """A loyalty customer's till sales and returns, newest first.

    Keyset pagination: `after` is (occurred_at, store, event_id) of the last purchase of the
    previous page. `total` is the sum of unit_price x quantity, or None when a line has no price.
    """
    keyset = "AND (occurred_at, store_code, event_id) < (:at, :store, :event_id)" if after is not None else ""
    # Descending on every key: a backward scan of the loyalty index, and one row comparison.
    rows = await db.execute(
        text(
            "SELECT event_id, store_code, occurred_at, type, lines FROM pos_events "
            f"WHERE loyalty_id = :loyalty_id AND type IN ('sale', 'return') {keyset} "
            "ORDER BY occurred_at DESC, store_code DESC, event_id DESC LIMIT :limit"
        ),
        {
            "loyalty_id": loyalty_id,
            "limit": limit,
            "at": after[0] if after else None,
            "store": after[1] if after else None,
            "event_id": after[2] if after else None,
        },
    )
    return [_purchase(row) for row in rows]
