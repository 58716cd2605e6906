"""POS sync: a till's batch of events, each applied exactly once, in a handful of statements."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.customers import service as customers
from commerce.customers.rules import normalise_loyalty_id
from commerce.db import plan_with_actual_values
from commerce.inventory import service as inventory
from commerce.money import Money
from commerce.pos import rules
from commerce.pos.schemas import PosBatchResult, PosEventIn, PosEventResult, PosLineOut, PosPurchase
from commerce.segments import service as segments
from commerce.stores.service import require_store


def _rejected(event_id: str | None, code: str, detail: str) -> PosEventResult:
    return PosEventResult(event_id=event_id, status="rejected", code=code, detail=detail)


# Till events that are someone's purchase: only these are linked to a customer.
_PURCHASES = ("sale", "return")
Identifiers = dict[str, str | None]


def _convert(raw: Any) -> tuple[PosEventIn, list[str]]:
    """The event, and what of its shopper's identifiers was left out: `customer` or `loyalty_id` of the
    wrong type or shape is dropped (the event applies unlinked) rather than rejecting the event; any
    other problem raises."""
    ignored: list[str] = []
    while True:
        try:
            return msgspec.convert(raw, PosEventIn), ignored
        except msgspec.ValidationError as exc:
            field = next((f for f in ("customer", "loyalty_id") if f"`$.{f}" in str(exc)), None)
            if field is None or not isinstance(raw, dict) or field not in raw:
                raise
            raw = {k: v for k, v in raw.items() if k != field}
            ignored.append(f"`{field}` ignored: {exc}")


def _identifiers(event: PosEventIn) -> tuple[Identifiers | None, list[str]]:
    """A sale's or return's customer identifiers, normalised as customers' are (None when it names none
    usable), and why any it names were left out.

    `loyalty_id` and `customer.loyalty_id` are the same identifier: either, or both alike. Each identifier
    is checked on its own: one that is not valid is left out and the others still link the event."""
    given = event.customer
    if event.type not in _PURCHASES or (given is None and event.loyalty_id is None):
        return None, []
    ignored: list[str] = []
    loyalty = {x for x in (event.loyalty_id, given.loyalty_id if given else None) if x is not None}
    if len({normalise_loyalty_id(x) for x in loyalty}) > 1:
        ignored.append("`loyalty_id` and `customer.loyalty_id` differ, so neither is used")
        loyalty = set()
    values, bad = customers.usable(
        {
            "email": given.email if given else None,
            "phone": given.phone if given else None,
            "loyalty_id": min(loyalty) if loyalty else None,
        }
    )
    return (values if any(values.values()) else None), ignored + bad


def _not_linked(event_id: str, linked: bool, ignored: list[str]) -> PosEventResult:
    """An applied event some of whose shopper's identifiers were left out, saying which and why."""
    if linked:
        code, outcome = "customer_identifier_ignored", "linked to its customer by the other identifiers"
    else:
        code, outcome = "customer_not_linked", "not linked to a customer"
    detail = f"Applied, {outcome}. Left out: {'; '.join(ignored)}."
    return PosEventResult(event_id=event_id, status="applied", code=code, detail=detail)


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


_RECORD = text(
    "INSERT INTO pos_events (store_code, event_id, type, occurred_at, terminal_id, loyalty_id, lines, total_minor, "
    "currency, customer_id) "
    "SELECT :store, e->>0, e->>1, CAST(e->>2 AS timestamptz), e->>3, e->>4, e->5, CAST(e->>6 AS bigint), e->>7, "
    f"CASE WHEN e->>8 = 'y' THEN {customers.match_sql('e->>4', 'e->>9', 'e->>10')} END "
    "FROM jsonb_array_elements(CAST(:events AS jsonb)) AS e "
    "ON CONFLICT DO NOTHING RETURNING event_id, customer_id"
)


async def _record_new(
    db: AsyncSession, store: str, events: Sequence[tuple[PosEventIn, Identifiers | None]]
) -> dict[str, uuid.UUID | None]:
    """Record the events, each sale and return with its value and the customer it names linked to it;
    returns the ids that were not recorded before (the ones to apply) with their customer.

    Inserted in event-id order so two batches sharing ids wait on each other in one order.
    """
    rows: list[tuple[Any, ...]] = []
    for e, who in sorted(events, key=lambda pair: pair[0].event_id):
        loyalty_id = (who["loyalty_id"] if who is not None else None) or e.loyalty_id
        row = (e.event_id, e.type, e.occurred_at, e.terminal_id, loyalty_id, e.lines, *rules.value_of(e))
        rows.append(row if who is None else (*row, "y", who["email"], who["phone"]))
    recorded = await db.execute(_RECORD, {"store": store, "events": msgspec.json.encode(rows).decode()})
    return {row.event_id: row.customer_id for row in recorded}


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
    identifiers: dict[int, Identifiers] = {}
    # Identifiers left out, per event: never a reason to reject (the sale happened; its stock must move).
    ignored: dict[int, list[str]] = {}
    for i, raw in enumerate(raw_events):
        try:
            event, dropped = _convert(raw)
        except msgspec.ValidationError as exc:
            results[i] = _rejected(_id_of(raw), "validation_failed", str(exc))
            continue
        rejection = rules.check_event(event, now)
        if rejection is not None:
            results[i] = _rejected(event.event_id, rejection.code, rejection.detail)
            continue
        who, bad = _identifiers(event)
        if who is not None:
            identifiers[i] = who
        if event.type in _PURCHASES and (dropped or bad):
            ignored[i] = dropped + bad
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

    # The customers these purchases name are matched or created first (one statement for the batch), the
    # way an imported order's are, so recording the events can link each to its customer.
    await customers.create_unmatched(db, (identifiers[i] for i, _ in first_of_id.values() if i in identifiers))
    new_ids = (
        await _record_new(db, store, [(event, identifiers.get(i)) for i, event in first_of_id.values()])
        if first_of_id
        else {}
    )
    changes = []
    for event_id, (i, event) in first_of_id.items():
        applied = event_id in new_ids
        if applied and i in ignored:
            results[i] = _not_linked(event_id, new_ids[event_id] is not None, ignored[i])
        else:
            results[i] = PosEventResult(event_id=event_id, status="applied" if applied else "duplicate")
        if applied:
            changes.extend(rules.changes_of(event))
    # Customers' profiles and segments follow their till sales and returns in this transaction (the
    # events just recorded are among their purchases). Done before the stock changes, so the levels,
    # which checkouts contend for, stay locked only from their update to the commit.
    await segments.refresh_customers(db, sorted({c for c in new_ids.values() if c is not None}), now)
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


async def sales_for_customer(
    db: AsyncSession, customer_id: uuid.UUID, limit: int, after: tuple[datetime, str, str] | None = None
) -> list[PosPurchase]:
    """A customer's till sales and returns, newest first.

    Keyset pagination: `after` is (occurred_at, store, event_id) of the last purchase of the
    previous page. `total` is the sum of unit_price x quantity, or None when a line has no price.
    """
    keyset = "AND (occurred_at, store_code, event_id) < (:at, :store, :event_id)" if after is not None else ""
    # Descending on every key: a backward scan of the customer index, and one row comparison.
    rows = await db.execute(
        text(
            "SELECT event_id, store_code, occurred_at, type, lines FROM pos_events "
            f"WHERE customer_id = :customer_id AND type IN ('sale', 'return') {keyset} "
            "ORDER BY occurred_at DESC, store_code DESC, event_id DESC LIMIT :limit"
        ),
        {
            "customer_id": customer_id,
            "limit": limit,
            "at": after[0] if after else None,
            "store": after[1] if after else None,
            "event_id": after[2] if after else None,
        },
    )
    return [_purchase(row) for row in rows]
