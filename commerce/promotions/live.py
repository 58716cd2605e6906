"""The live promotions, kept in each process and indexed by what they target, for pricing.

Pricing a cart used to search the promotions table for the ones that could touch its lines; with a
thousand live promotions that search and the resolution of every candidate on every line cost more
than the rest of pricing. Instead each process holds every live promotion (not switched off, not
ended) as `rules.PromotionTerms`, indexed by SKU, by category and "everything", each split into
promotions for everyone and promotions for the members of one segment. It reloads them when
`promotions_version` changes: a trigger replaces that row's random `version` in the transaction of
every statement that writes promotions' terms (promotions/models.py), and every pricing reads it in
the one statement that also reads the shopper. So a promotion created, changed or switched off in any
process prices (or stops pricing) at the next pricing in every process, with no lag.

What is not in the index is read per pricing in that same statement, for the candidate promotions
only: the shopper's segments (one index-only read of `segment_members`), whether a total or this
customer's limit is used up, and the cart's single-use codes. Time windows are not applied at load:
`rules.resolve` checks them at pricing time (a promotion ended for longer than `ENDED_GRACE` is left
out of the index, as nothing but an edit, which reloads the index, can make it live again).
Which promotion prices a line stays `rules.resolve`'s decision; the index only narrows the
candidates to those that target the line and the shopper's segments.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.promotions import rules

# A promotion that ended longer ago than this is dropped from the index (pricing `now` values
# within this much of one another give the same answers as checking every promotion).
ENDED_GRACE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Bucket:
    """The promotions targeting one SKU, one category or everything."""

    everyone: tuple[rules.PromotionTerms, ...]
    by_segment: dict[str, tuple[rules.PromotionTerms, ...]]
    # The ids of those with a total or per-customer limit: their state is read per pricing.
    limited: tuple[str, ...]


def _bucket(terms: Iterable[rules.PromotionTerms]) -> Bucket:
    everyone: list[rules.PromotionTerms] = []
    by_segment: dict[str, list[rules.PromotionTerms]] = {}
    limited: list[str] = []
    for t in terms:
        if t.segments is None:
            everyone.append(t)
        else:
            for s in t.segments:
                by_segment.setdefault(s, []).append(t)
        if t.total_limit is not None or t.per_customer_limit is not None:
            limited.append(t.id)
    return Bucket(tuple(everyone), {s: tuple(ts) for s, ts in by_segment.items()}, tuple(limited))


_EMPTY = _bucket(())


@dataclass(frozen=True, slots=True)
class LiveIndex:
    """Every live promotion of one database as of `version`."""

    version: uuid.UUID | None
    by_id: dict[str, rules.PromotionTerms]
    by_sku: dict[str, Bucket]
    by_category: dict[str, Bucket]
    everything: Bucket
    # When the earliest end among them is older than ENDED_GRACE, and the index is rebuilt without it.
    prune_at: datetime | None

    @classmethod
    def build(cls, version: uuid.UUID | None, terms: Iterable[rules.PromotionTerms]) -> LiveIndex:
        by_id = {t.id: t for t in terms}
        by_sku: dict[str, list[rules.PromotionTerms]] = {}
        by_category: dict[str, list[rules.PromotionTerms]] = {}
        everything = []
        for t in by_id.values():
            if t.skus is None and t.categories is None:
                everything.append(t)
            for sku in t.skus or ():
                by_sku.setdefault(sku, []).append(t)
            for category in t.categories or ():
                by_category.setdefault(category, []).append(t)
        ends = [t.ends_at for t in by_id.values() if t.ends_at is not None]
        return cls(
            version,
            by_id,
            {k: _bucket(v) for k, v in by_sku.items()},
            {k: _bucket(v) for k, v in by_category.items()},
            _bucket(everything),
            min(ends) + ENDED_GRACE if ends else None,
        )

    def pruned(self, now: datetime) -> LiveIndex:
        """The same without the promotions that ended more than ENDED_GRACE before `now`."""
        since = now - ENDED_GRACE
        return LiveIndex.build(self.version, (t for t in self.by_id.values() if t.ends_at is None or t.ends_at > since))

    def buckets(self, sku: str, category: str | None) -> tuple[Bucket, ...]:
        by_sku = self.by_sku.get(sku, _EMPTY)
        by_category = _EMPTY if category is None else self.by_category.get(category, _EMPTY)
        return by_sku, by_category, self.everything

    def limited(self, skus: Iterable[str], categories: Iterable[str]) -> list[str]:
        """The ids of the promotions with a limit among those targeting these SKUs or categories."""
        found = set(self.everything.limited)
        for sku in skus:
            found.update(self.by_sku.get(sku, _EMPTY).limited)
        for category in categories:
            found.update(self.by_category.get(category, _EMPTY).limited)
        return sorted(found)

    def all_limited(self) -> list[str]:
        return sorted(
            t.id for t in self.by_id.values() if t.total_limit is not None or t.per_customer_limit is not None
        )


@dataclass(frozen=True, slots=True)
class Candidates:
    """The live promotions for pricing one cart (or listing one customer's offers): `for_item` narrows
    them to one item, rules.resolve decides."""

    index: LiveIndex
    shopper: rules.Shopper
    # Promotions whose total limit, or this customer's limit, is used up, marked so (limit_reached).
    used_up: dict[str, rules.PromotionTerms]

    def _targeting(self, buckets: Iterable[Bucket]) -> list[rules.PromotionTerms]:
        """The promotions of these buckets for everyone or for a segment of the shopper (once per
        segment: a promotion for two of the shopper's segments comes twice, which resolve ignores)."""
        segments = self.shopper.segments
        found: list[rules.PromotionTerms] = []
        for bucket in buckets:
            found += bucket.everyone
            if segments and bucket.by_segment:
                for s in bucket.by_segment.keys() & segments:
                    found += bucket.by_segment[s]
        if self.used_up:
            return [self.used_up.get(t.id, t) for t in found]
        return found

    def for_item(self, sku: str, category: str | None) -> list[rules.PromotionTerms]:
        """Those targeting this SKU or category or everything, for everyone or a segment of the shopper."""
        return self._targeting(self.index.buckets(sku, category))

    def for_items(self, skus: Iterable[str], categories: Iterable[str]) -> list[rules.PromotionTerms]:
        """Those targeting any of these SKUs or categories or everything, each once."""
        index = self.index
        buckets = [index.by_sku.get(s, _EMPTY) for s in skus]
        buckets += [index.by_category.get(c, _EMPTY) for c in categories]
        buckets.append(index.everything)
        return list({t.id: t for t in self._targeting(buckets)}.values())

    def every(self) -> list[rules.PromotionTerms]:
        """Every live promotion."""
        return [self.used_up.get(t.id, t) for t in self.index.by_id.values()]

    def terms(self, promotion_id: str) -> rules.PromotionTerms:
        return self.index.by_id[promotion_id]


def terms_of(p: Any, *, limit_reached: bool = False) -> rules.PromotionTerms:
    """The terms rules.resolve works with, from a promotion or a row with the same columns. The index
    keeps them without the limits' state (`limit_reached`): that is read per pricing."""
    return rules.PromotionTerms(
        id=p.id,
        kind=p.kind,
        value=p.value,
        currency=p.currency,
        skus=None if p.skus is None else frozenset(p.skus),
        categories=None if p.categories is None else frozenset(p.categories),
        code=p.code,
        channels=None if p.channels is None else frozenset(p.channels),
        starts_at=p.starts_at,
        ends_at=p.ends_at,
        priority=p.priority,
        killed=p.killed_at is not None,
        created_at=p.created_at,
        segments=None if p.segments is None else frozenset(p.segments),
        per_customer_limit=p.per_customer_limit,
        total_limit=p.total_limit,
        single_use_codes=p.single_use_codes,
        limit_reached=limit_reached,
    )


# Per pricing, one statement: the version, and for the shopper (a customer's cart, a cart with codes)
# their segments, the candidate promotions (`limited`) whose total limit or this customer's limit is
# used up, the promotions whose unredeemed single-use codes the cart carries and its codes already
# redeemed. One shopper's values are parameters (planned with them); several shoppers' (checkouts
# placed together) come as one JSON array, a row each. Built once: parsing SQL text for its
# parameters costs more than running it.
def _state_sql(customer: str, codes: str, limited: str, source: str = "") -> str:
    return f"""
SELECT (SELECT version FROM promotions_version) AS version,
       CASE WHEN {customer} IS NOT NULL THEN
           (SELECT coalesce(array_agg(m.segment_id), '{{}}') FROM segment_members m
            WHERE m.customer_id = {customer}) END AS segments,
       (SELECT coalesce(array_agg(p.id), '{{}}') FROM promotions p
        WHERE p.id = ANY({limited})
          AND (p.redemptions >= p.total_limit
               OR p.per_customer_limit <= (SELECT r.redemptions FROM promotion_customer_redemptions r
                                           WHERE r.promotion_id = p.id AND r.customer_id = {customer}))) AS used_up,
       (SELECT coalesce(array_agg(DISTINCT c.promotion_id), '{{}}') FROM promotion_codes c
        WHERE c.code_key = ANY({codes}) AND c.redeemed_at IS NULL) AS code_promotions,
       (SELECT coalesce(array_agg(c.code), '{{}}') FROM promotion_codes c
        WHERE c.code_key = ANY({codes}) AND c.redeemed_at IS NOT NULL) AS used_codes
{source}"""


_STATE = text(_state_sql("CAST(:customer_id AS uuid)", "CAST(:codes AS varchar[])", "CAST(:limited AS varchar[])"))
_STATES = text(
    "WITH s AS (SELECT x.n, CAST(x.e->>'customer_id' AS uuid) AS customer_id,"
    " CAST(ARRAY(SELECT jsonb_array_elements_text(x.e->'codes')) AS varchar[]) AS codes,"
    " CAST(ARRAY(SELECT jsonb_array_elements_text(x.e->'limited')) AS varchar[]) AS limited"
    " FROM jsonb_array_elements(CAST(:shoppers AS jsonb)) WITH ORDINALITY AS x(e, n))"
    + _state_sql("s.customer_id", "s.codes", "s.limited", "FROM s ORDER BY s.n")
)
# The version and every live promotion, in one statement (one snapshot: the version labels exactly
# what was read). One row of NULL promotion columns when there is none.
_LOAD = text(
    "SELECT v.version, p.id, p.kind, p.value, p.currency, p.skus, p.categories, p.code, p.channels, p.starts_at,"
    " p.ends_at, p.priority, p.killed_at, p.created_at, p.segments, p.per_customer_limit, p.total_limit,"
    " p.single_use_codes"
    " FROM (SELECT (SELECT version FROM promotions_version) AS version) v"
    " LEFT JOIN promotions p ON p.killed_at IS NULL AND (p.ends_at IS NULL OR p.ends_at > :since)"
)

# One index per database the process prices with (by URL: checkout's pool and the request
# transactions' share it).
_INDEXES: dict[str, LiveIndex] = {}


def _database(db: AsyncSession) -> str:
    bind = db.get_bind()
    return str((bind if isinstance(bind, Engine) else bind.engine).url)


async def _load(db: AsyncSession, now: datetime) -> LiveIndex:
    rows = (await db.execute(_LOAD, {"since": now - ENDED_GRACE})).all()
    return LiveIndex.build(rows[0].version, (terms_of(r) for r in rows if r.id is not None))


class Pricing(NamedTuple):
    """What is priced for one shopper: these SKUs and categories (every promotion with `all_items`)."""

    skus: Sequence[str]
    categories: Sequence[str]
    customer_id: uuid.UUID | None = None
    codes: Sequence[str] = ()
    all_items: bool = False


async def candidates(
    db: AsyncSession,
    *,
    skus: Sequence[str],
    categories: Sequence[str],
    now: datetime,
    customer_id: uuid.UUID | None = None,
    codes: Sequence[str] = (),
    all_items: bool = False,
) -> Candidates:
    """The live promotions and the shopper (None: an anonymous cart) for pricing these SKUs and
    categories (every promotion with `all_items`), current as of this transaction's statement."""
    [found] = await candidates_for(db, [Pricing(skus, categories, customer_id, codes, all_items)], now=now)
    return found


async def candidates_for(db: AsyncSession, pricings: Sequence[Pricing], *, now: datetime) -> list[Candidates]:
    """`candidates` for several shoppers at once, in one statement (checkouts placed together)."""
    if not pricings:
        return []
    database = _database(db)
    index = _INDEXES.get(database)
    code_keys = [sorted({rules.normalise_code(c) for c in p.codes}) for p in pricings]

    async def state(index: LiveIndex | None) -> list[Any]:
        shoppers = [
            {
                "customer_id": p.customer_id,
                "codes": keys,
                "limited": []
                if index is None
                else index.all_limited()
                if p.all_items
                else index.limited(p.skus, p.categories),
            }
            for p, keys in zip(pricings, code_keys, strict=True)
        ]
        if len(shoppers) == 1:
            return list((await db.execute(_STATE, shoppers[0])).all())
        return list((await db.execute(_STATES, {"shoppers": msgspec.json.encode(shoppers).decode()})).all())

    rows = await state(index)
    if index is None or rows[0].version != index.version:
        index = await _load(db, now)
        _INDEXES[database] = index
        rows = await state(index)
    elif index.prune_at is not None and now >= index.prune_at:
        index = _INDEXES[database] = index.pruned(now)
    found: list[Candidates] = []
    for p, keys, row in zip(pricings, code_keys, rows, strict=True):
        shopper = (
            rules.ANONYMOUS
            if p.customer_id is None and not keys
            else rules.Shopper(
                segments=None if row.segments is None else frozenset(row.segments),
                code_promotions=frozenset(row.code_promotions),
                used_codes=frozenset(row.used_codes),
            )
        )
        used_up = {i: replace(index.by_id[i], limit_reached=True) for i in row.used_up if i in index.by_id}
        found.append(Candidates(index, shopper, used_up))
    return found
