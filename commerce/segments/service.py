"""Customer profiles and segment membership, kept current as purchases land.

`refresh_customers` recomputes the profiles of the customers a change touched (from all their
purchases, segments/history.py) and sorts them into every segment, in the caller's transaction. It
runs in the till batch's transaction for the customers of its sales and returns, from the order events of the feed within
seconds (workers.py), and for a customer just created. A new or changed segment is backfilled over
every customer in batches (`backfill_step`). Pricing never computes membership: it reads
`segment_members` (promotions/service.py).

Locks: a refresh takes each customer row (FOR NO KEY UPDATE, in id order) before it reads their
purchases; a backfill batch takes FOR SHARE on the same rows, so the two never write a membership
from a stale profile.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.errors import NotFound, Unprocessable
from commerce.money import Money
from commerce.segments import rules
from commerce.segments.history import purchases_of
from commerce.segments.models import CustomerProfile, Segment, SegmentMember
from commerce.segments.schemas import MemberOut, ProfileOut, SegmentIn, SegmentOut, StoreVisit

# The consent facts, read from the customer row (customers/models.py).
CONSENT_COLUMNS = "c.email_consent, c.sms_consent"

_FACTS_SQL = (
    f"SELECT c.id, {CONSENT_COLUMNS}, p.orders_count, p.lifetime_values, p.last_order_at, p.skus, p.categories,"
    " p.channels, p.store_visits FROM customers c LEFT JOIN customer_profiles p ON p.customer_id = c.id"
)
_FACTS_OF = text(_FACTS_SQL + " WHERE c.id = ANY(CAST(:ids AS uuid[])) ORDER BY c.id FOR NO KEY UPDATE OF c")
# A batch of customers in id order: the first (no `after`), or the next one.
_FACTS_FIRST = text(_FACTS_SQL + " ORDER BY c.id LIMIT :batch FOR SHARE OF c")
_FACTS_NEXT = text(_FACTS_SQL + " WHERE c.id > CAST(:after AS uuid) ORDER BY c.id LIMIT :batch FOR SHARE OF c")
_LOCK_CUSTOMERS = text("SELECT id FROM customers WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR NO KEY UPDATE")
_MEMBERS_OF = text(
    "SELECT segment_id, customer_id FROM segment_members WHERE customer_id = ANY(CAST(:ids AS uuid[]))"
    " AND (CAST(:segment AS varchar) IS NULL OR segment_id = CAST(:segment AS varchar))"
)
_DROP_MEMBERS = text(
    "DELETE FROM segment_members m USING unnest(CAST(:segments AS varchar[]), CAST(:customers AS uuid[])) AS d(s, c)"
    " WHERE m.segment_id = d.s AND m.customer_id = d.c"
)
_ADD_MEMBERS = text(
    "INSERT INTO segment_members (segment_id, customer_id, since)"
    " SELECT s, c, :now FROM unnest(CAST(:segments AS varchar[]), CAST(:customers AS uuid[])) AS a(s, c)"
    " ON CONFLICT DO NOTHING"
)
_SET_RECHECK = text(
    "UPDATE customer_profiles p SET recheck_at = r.at"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[])) AS r(id, at) WHERE p.customer_id = r.id"
)
_EARLIER_RECHECK = text(
    "UPDATE customer_profiles p SET recheck_at = least(coalesce(p.recheck_at, r.at), r.at)"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[])) AS r(id, at) WHERE p.customer_id = r.id"
)


def _facts(row: Row[Any]) -> rules.Facts:
    return rules.Facts(
        orders_count=row.orders_count or 0,
        lifetime_values=row.lifetime_values or {},
        last_order_at=row.last_order_at,
        skus=frozenset(row.skus or ()),
        categories=frozenset(row.categories or ()),
        channels=frozenset(row.channels or {}),
        stores=frozenset(row.store_visits or {}),
        email_consent=bool(row.email_consent),
        sms_consent=bool(row.sms_consent),
    )


async def _segment_rules(db: AsyncSession) -> list[tuple[str, list[rules.Rule]]]:
    rows = await db.execute(select(Segment.id, Segment.rules).order_by(Segment.id))
    return [(sid, rules.check_rules(raw)) for sid, raw in rows]


async def _write_members(
    db: AsyncSession,
    customer_ids: Sequence[uuid.UUID],
    wanted: set[tuple[str, uuid.UUID]],
    now: datetime,
    segment: str | None = None,
) -> None:
    """Make the memberships of these customers (in `segment`, or in every segment) exactly `wanted`."""
    current = {(s, c) for s, c in await db.execute(_MEMBERS_OF, {"ids": list(customer_ids), "segment": segment})}
    drop, add = sorted(current - wanted), sorted(wanted - current)
    if drop:
        await db.execute(_DROP_MEMBERS, {"segments": [s for s, _ in drop], "customers": [c for _, c in drop]})
    if add:
        await db.execute(_ADD_MEMBERS, {"segments": [s for s, _ in add], "customers": [c for _, c in add], "now": now})


async def _evaluate(db: AsyncSession, customer_ids: Sequence[uuid.UUID], now: datetime) -> None:
    """Sort these customers into every segment from their stored profiles, and note when time alone
    can next change that."""
    rows = (await db.execute(_FACTS_OF, {"ids": list(customer_ids)})).all()
    segments = await _segment_rules(db)
    wanted: set[tuple[str, uuid.UUID]] = set()
    rechecks: list[tuple[uuid.UUID, datetime | None]] = []
    for row in rows:
        facts = _facts(row)
        times = [rules.next_recheck(rs, facts, now) for _, rs in segments]
        wanted |= {(sid, row.id) for sid, rs in segments if rules.matches(rs, facts, now)}
        rechecks.append((row.id, min((t for t in times if t is not None), default=None)))
    ids = [row.id for row in rows]
    await _write_members(db, ids, wanted, now)
    await db.execute(_SET_RECHECK, {"ids": [i for i, _ in rechecks], "ats": [at for _, at in rechecks]})


async def refresh_customers(db: AsyncSession, customer_ids: Iterable[uuid.UUID], now: datetime) -> None:
    """Recompute these customers' profiles from all their purchases and their segment memberships."""
    wanted = sorted(set(customer_ids))
    if not wanted:
        return
    ids = list(await db.scalars(_LOCK_CUSTOMERS, {"ids": wanted}))
    if not ids:
        return
    purchases = await purchases_of(db, ids)
    rows = []
    for customer_id in ids:
        p = rules.summarise(purchases.get(customer_id, []))
        rows.append(
            {
                "customer_id": customer_id,
                "orders_count": p.orders_count,
                "lifetime_values": p.lifetime_values,
                "first_order_at": p.first_order_at,
                "last_order_at": p.last_order_at,
                "channels": p.channels,
                "store_visits": p.store_visits,
                "last_store_visit_store": None if p.last_store_visit is None else p.last_store_visit[0],
                "last_store_visit_at": None if p.last_store_visit is None else p.last_store_visit[1],
                "skus": list(p.skus),
                "categories": list(p.categories),
                "updated_at": now,
            }
        )
    stmt = insert(CustomerProfile).values(rows)
    await db.execute(
        stmt.on_conflict_do_update(
            index_elements=[CustomerProfile.customer_id],
            set_={k: stmt.excluded[k] for k in rows[0] if k != "customer_id"},
        )
    )
    await _evaluate(db, ids, now)


async def customer_ids_after(db: AsyncSession, after: uuid.UUID | None, batch: int) -> list[uuid.UUID]:
    """The next `batch` customer ids in id order (for a full rebuild)."""
    if after is None:
        return list(await db.scalars(text("SELECT id FROM customers ORDER BY id LIMIT :n"), {"n": batch}))
    stmt = text("SELECT id FROM customers WHERE id > :after ORDER BY id LIMIT :n")
    return list(await db.scalars(stmt, {"after": after, "n": batch}))


async def rebuild_all(db: AsyncSession, now: datetime, batch: int = 1_000) -> None:
    """Recompute every profile and membership from scratch (the reference the incremental path must equal)."""
    after: uuid.UUID | None = None
    while True:
        ids = await customer_ids_after(db, after, batch)
        await refresh_customers(db, ids, now)
        if len(ids) < batch:
            return
        after = ids[-1]


async def recheck_due(db: AsyncSession, now: datetime, batch: int = 500) -> int:
    """Re-sort customers whose time-based memberships (days since last order) may have changed."""
    ids = list(
        await db.scalars(
            select(CustomerProfile.customer_id)
            .where(CustomerProfile.recheck_at <= now)
            .order_by(CustomerProfile.recheck_at)
            .limit(batch)
        )
    )
    if ids:
        await _evaluate(db, sorted(ids), now)
    return len(ids)


async def backfill_step(db: AsyncSession, now: datetime, batch: int = 1_000) -> int:
    """Sort one batch of customers (in id order) into one segment that is being backfilled; returns how
    many customers it looked at (0: nothing to backfill, or another process is on it)."""
    segment = (
        await db.execute(
            select(Segment.id, Segment.rules, Segment.backfill_after)
            .where(Segment.status == "backfilling")
            .order_by(Segment.updated_at, Segment.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).first()
    if segment is None:
        return 0
    segment_rules = rules.check_rules(segment.rules)
    after = segment.backfill_after
    rows = (
        await db.execute(_FACTS_FIRST, {"batch": batch})
        if after is None
        else await db.execute(_FACTS_NEXT, {"after": after, "batch": batch})
    ).all()
    wanted: set[tuple[str, uuid.UUID]] = set()
    rechecks: list[tuple[uuid.UUID, datetime]] = []
    for row in rows:
        facts = _facts(row)
        if rules.matches(segment_rules, facts, now):
            wanted.add((segment.id, row.id))
        at = rules.next_recheck(segment_rules, facts, now)
        if at is not None:
            rechecks.append((row.id, at))
    await _write_members(db, [row.id for row in rows], wanted, now, segment.id)
    if rechecks:
        await db.execute(_EARLIER_RECHECK, {"ids": [i for i, _ in rechecks], "ats": [at for _, at in rechecks]})
    done = len(rows) < batch
    await db.execute(
        update(Segment)
        .where(Segment.id == segment.id)
        .values(status="ready" if done else "backfilling", backfill_after=None if done else rows[-1].id)
    )
    return max(len(rows), 1)


# --- segments -------------------------------------------------------------------------------------


def checked_rules(data: SegmentIn) -> list[dict[str, Any]]:
    """The rules as stored, or 422 `invalid_rule` naming the first bad rule's index."""
    try:
        typed = rules.check_rules([{"fact": r.fact, "op": r.op, "value": r.value} for r in data.rules])
    except rules.RuleError as exc:
        key = f"rules[{exc.index}]" + (f".{exc.field}" if exc.field else "")
        raise Unprocessable(
            f"Rule {exc.index}: {exc.message}",
            code="invalid_rule",
            errors=[{"key": key, "index": exc.index, "message": exc.message}],
        ) from None
    return [rules.rule_json(r) for r in typed]


async def put_segment(db: AsyncSession, segment_id: str, data: SegmentIn) -> tuple[SegmentOut, bool]:
    """Create or replace a segment. New or changed rules start a backfill over every customer."""
    stored = checked_rules(data)
    stmt = insert(Segment).values(id=segment_id, title=data.title, rules=stored)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Segment.id],
        set_={
            "title": stmt.excluded.title,
            "rules": stmt.excluded.rules,
            "version": text(
                "CASE WHEN segments.rules <> excluded.rules THEN segments.version + 1 ELSE segments.version END"
            ),
            "status": text("CASE WHEN segments.rules <> excluded.rules THEN 'backfilling' ELSE segments.status END"),
            "backfill_after": text(
                "CASE WHEN segments.rules <> excluded.rules THEN NULL ELSE segments.backfill_after END"
            ),
            "updated_at": func.now(),
        },
    )
    created = bool((await db.execute(stmt.returning(text("xmax = 0")))).scalar_one())
    return await get_segment(db, segment_id), created


async def get_segment(db: AsyncSession, segment_id: str) -> SegmentOut:
    segment = await db.get(Segment, segment_id, populate_existing=True)
    if segment is None:
        raise NotFound(f"No segment with id {segment_id!r}.")
    members = await db.scalar(select(func.count()).where(SegmentMember.segment_id == segment_id))
    return SegmentOut(
        id=segment.id,
        title=segment.title,
        rules=segment.rules,
        version=segment.version,
        status="ready" if segment.status == "ready" else "backfilling",
        members=members or 0,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


async def missing_segments(db: AsyncSession, segment_ids: Sequence[str]) -> list[str]:
    known = set(await db.scalars(select(Segment.id).where(Segment.id.in_(list(segment_ids)))))
    return sorted(set(segment_ids) - known)


async def members(db: AsyncSession, segment_id: str, limit: int, after: uuid.UUID | None) -> list[MemberOut]:
    """A segment's members in customer id order (keyset on the id)."""
    if await db.scalar(select(Segment.id).where(Segment.id == segment_id)) is None:
        raise NotFound(f"No segment with id {segment_id!r}.")
    stmt = (
        select(SegmentMember.customer_id, SegmentMember.since)
        .where(SegmentMember.segment_id == segment_id)
        .order_by(SegmentMember.customer_id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(SegmentMember.customer_id > after)
    return [MemberOut(customer_id=c, since=s) for c, s in await db.execute(stmt)]


async def profile(db: AsyncSession, customer_id: uuid.UUID, default_currency: str = "USD") -> ProfileOut:
    if await db.scalar(text("SELECT id FROM customers WHERE id = :id"), {"id": customer_id}) is None:
        raise NotFound(f"No customer with id {customer_id}.")
    p = await db.get(CustomerProfile, customer_id, populate_existing=True)
    segments = list(
        await db.scalars(
            select(SegmentMember.segment_id)
            .where(SegmentMember.customer_id == customer_id)
            .order_by(SegmentMember.segment_id)
        )
    )
    values = {} if p is None else dict(p.lifetime_values)
    main = rules.main_currency(values) or default_currency
    return ProfileOut(
        customer_id=customer_id,
        orders_count=0 if p is None else p.orders_count,
        lifetime_value=Money(values.get(main, 0), main),
        lifetime_values=[Money(amount, currency) for currency, amount in sorted(values.items())],
        first_order_at=None if p is None else p.first_order_at,
        last_order_at=None if p is None else p.last_order_at,
        channels={} if p is None else dict(p.channels),
        favorite_store=None if p is None else rules.favorite_store(p.store_visits),
        last_store_visit=None
        if p is None or p.last_store_visit_store is None or p.last_store_visit_at is None
        else StoreVisit(store=p.last_store_visit_store, at=p.last_store_visit_at),
        segments=segments,
        updated_at=None if p is None else p.updated_at,
    )
