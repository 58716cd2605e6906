from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.catalog.models import Product, Variant
from commerce.errors import Conflict, NotFound, Unprocessable
from commerce.events import service as events
from commerce.pagination import Page, decode_cursor, encode_cursor
from commerce.promotions import live, rules
from commerce.promotions.models import Promotion, PromotionCode, PromotionCustomerRedemptions
from commerce.promotions.schemas import AppliesTo, OfferOut, OverrideOut, PromotionIn, PromotionOut
from commerce.segments import service as segments


def promotion_out(p: Promotion, now: datetime) -> PromotionOut:
    terms = promotion_terms(p)
    return PromotionOut(
        id=p.id,
        title=p.title,
        kind=terms.kind,
        value=p.value,
        currency=p.currency,
        applies_to=None if p.skus is None and p.categories is None else AppliesTo(skus=p.skus, categories=p.categories),
        code=p.code,
        channels=p.channels,
        starts_at=p.starts_at,
        ends_at=p.ends_at,
        priority=p.priority,
        active=rules.is_active(terms, now),
        killed_at=p.killed_at,
        override_guardrail=None
        if p.override_reason is None or p.override_at is None
        else OverrideOut(reason=p.override_reason, by=p.override_by or "", at=p.override_at),
        segments=p.segments,
        per_customer_limit=p.per_customer_limit,
        total_limit=p.total_limit,
        redemptions=p.redemptions,
        single_use_codes=p.single_use_codes,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def promotion_terms(p: Promotion) -> rules.PromotionTerms:
    """The terms rules.resolve works with, the total limit's state included."""
    return live.terms_of(p, limit_reached=p.total_limit is not None and p.redemptions >= p.total_limit)


def _check_shape(data: PromotionIn) -> None:
    if data.kind == "percent_off":
        if data.value > 100:
            raise Unprocessable("A percent_off `value` is a whole percent from 1 to 100.")
        if data.currency is not None:
            raise Unprocessable("A percent_off promotion takes no `currency`; leave it out.")
    elif data.currency is None:
        raise Unprocessable("An amount_off promotion needs a `currency` for its `value` (minor units), e.g. USD.")
    if data.starts_at is not None and data.ends_at is not None and data.ends_at <= data.starts_at:
        raise Unprocessable("`ends_at` must be after `starts_at`.", code="invalid_window")
    if data.applies_to is not None and not data.applies_to.skus and not data.applies_to.categories:
        raise Unprocessable("`applies_to` names no SKUs or categories; leave `applies_to` out to apply to everything.")


async def _check_segments(db: AsyncSession, data: PromotionIn) -> None:
    if data.segments is None:
        return
    missing = await segments.missing_segments(db, data.segments)
    if missing:
        raise Unprocessable(
            f"No segment with id {', '.join(repr(m) for m in missing)}; create it first with PUT /v1/segments/{{id}}.",
            code="unknown_segment",
            errors=[{"key": "segments", "message": f"unknown segment {m!r}"} for m in missing],
        )


async def _cheapest_targeted_price(db: AsyncSession, data: PromotionIn) -> int | None:
    """The lowest price, in the promotion's currency, among the variants it applies to."""
    stmt = (
        select(func.min(Variant.price_amount))
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.currency == data.currency)
    )
    if data.applies_to is not None:
        stmt = stmt.where(
            or_(Variant.sku.in_(data.applies_to.skus or []), Product.category.in_(data.applies_to.categories or []))
        )
    return cast(int | None, await db.scalar(stmt))


async def upsert_promotion(
    db: AsyncSession, promotion_id: str, data: PromotionIn, *, who: str, ceiling_percent: int, now: datetime
) -> tuple[PromotionOut, bool]:
    """Create or replace a promotion. A killed promotion stays killed (use a new id to run it again)."""
    _check_shape(data)
    await _check_segments(db, data)
    cheapest = await _cheapest_targeted_price(db, data) if data.kind == "amount_off" else None
    violation = rules.guardrail_violation(
        data.kind, data.value, ceiling_percent=ceiling_percent, cheapest_price=cheapest
    )
    if violation is not None and data.override_guardrail is None:
        raise Unprocessable(
            f"{violation} If this is intended, send `override_guardrail: {{reason}}`; the override is recorded.",
            code="discount_guardrail",
        )
    override = data.override_guardrail
    values: dict[str, Any] = {
        "title": data.title,
        "kind": data.kind,
        "value": data.value,
        "currency": data.currency,
        "skus": None if data.applies_to is None or not data.applies_to.skus else sorted(set(data.applies_to.skus)),
        "categories": None
        if data.applies_to is None or not data.applies_to.categories
        else sorted(set(data.applies_to.categories)),
        "code": data.code,
        "code_key": None if data.code is None else rules.normalise_code(data.code),
        "channels": None if data.channels is None else sorted(set(data.channels)),
        "starts_at": data.starts_at,
        "ends_at": data.ends_at,
        "priority": data.priority,
        "override_reason": None if override is None else override.reason,
        "override_by": None if override is None else who,
        "override_at": None if override is None else now,
        "segments": None if data.segments is None else sorted(set(data.segments)),
        "per_customer_limit": data.per_customer_limit,
        "total_limit": data.total_limit,
    }
    stmt = insert(Promotion).values(id=promotion_id, **values)
    stmt = stmt.on_conflict_do_update(index_elements=[Promotion.id], set_={**values, "updated_at": func.now()})
    try:
        async with db.begin_nested():
            created = bool((await db.execute(stmt.returning(text("xmax = 0")))).scalar_one())
    except IntegrityError as exc:
        if "uq_promotions_code" not in str(exc.orig):
            raise
        raise Conflict(
            f"Code {data.code!r} already belongs to another promotion (codes are case-insensitive); choose another.",
            code="code_taken",
        ) from None
    promotion = await _get(db, promotion_id)
    await events.record(db, "promotion.changed", _event(promotion, "upserted"))
    return promotion_out(promotion, now), created


def _event(p: Promotion, action: str) -> dict[str, Any]:
    return {
        "id": p.id,
        "action": action,
        "kind": p.kind,
        "value": p.value,
        "currency": p.currency,
        "code": p.code,
        "channels": p.channels,
        "skus": p.skus,
        "categories": p.categories,
        "starts_at": None if p.starts_at is None else p.starts_at.isoformat(),
        "ends_at": None if p.ends_at is None else p.ends_at.isoformat(),
        "priority": p.priority,
        "killed": p.killed_at is not None,
        "segments": p.segments,
        "per_customer_limit": p.per_customer_limit,
        "total_limit": p.total_limit,
    }


async def _get(db: AsyncSession, promotion_id: str) -> Promotion:
    promotion = await db.get(Promotion, promotion_id, populate_existing=True)
    if promotion is None:
        raise NotFound(f"No promotion with id {promotion_id!r}.")
    return promotion


async def get_promotion(db: AsyncSession, promotion_id: str, now: datetime) -> PromotionOut:
    return promotion_out(await _get(db, promotion_id), now)


async def kill_promotion(db: AsyncSession, promotion_id: str, now: datetime) -> PromotionOut:
    """Switch a promotion off at once. Carts are priced on every read, so each reprices on its next one."""
    killed = await db.scalar(
        update(Promotion)
        .where(Promotion.id == promotion_id, Promotion.killed_at.is_(None))
        .values(killed_at=func.now(), updated_at=func.now())
        .returning(Promotion.id)
    )
    promotion = await _get(db, promotion_id)
    if killed is not None:
        await events.record(db, "promotion.changed", _event(promotion, "killed"))
    return promotion_out(promotion, now)


async def usable_code(db: AsyncSession, code: str, now: datetime) -> str:
    """The code as defined, if it belongs to an active promotion and (a single-use code) is not
    redeemed; 422 `invalid_code` or `code_used` otherwise."""
    key = rules.normalise_code(code)
    promotion = await db.scalar(select(Promotion).where(Promotion.code_key == key))
    canonical = None if promotion is None else promotion.code
    if promotion is None:
        single = (
            await db.execute(
                select(PromotionCode.code, PromotionCode.redeemed_at, PromotionCode.promotion_id).where(
                    PromotionCode.code_key == key
                )
            )
        ).first()
        if single is not None:
            if single.redeemed_at is not None:
                raise Unprocessable(f"Code {code!r} has already been used.", code="code_used")
            promotion = await db.get(Promotion, single.promotion_id)
            canonical = single.code
    if promotion is None or canonical is None:
        raise Unprocessable(f"Code {code!r} is not a known promotion code.", code="invalid_code")
    if not rules.is_active(promotion_terms(promotion), now):
        raise Unprocessable(
            f"Code {code!r} is not valid now (the promotion has ended, not started yet or was switched off).",
            code="invalid_code",
        )
    return canonical


OFFERS_DOC = (
    "The promotions the customer qualifies for now, in the order the promotion engine prefers them (higher "
    "priority, then older): active ones that need no code, that target everyone or a segment the customer is "
    "in, and whose limits the customer has not used up. The same list on every channel; each says the "
    "channels it covers, what it applies to and how many more orders it may price for this customer."
)


def _offers_after(cursor: str | None) -> tuple[int, int, int, datetime, str] | None:
    key = decode_cursor(cursor, 5)
    if key is None:
        return None
    try:
        priority, kind_rank, value, created_at, promotion_id = key
        if not all(type(n) is int for n in (priority, kind_rank, value)) or not isinstance(promotion_id, str):
            raise ValueError(promotion_id)
        return priority, kind_rank, value, datetime.fromisoformat(created_at), promotion_id
    except (TypeError, ValueError):
        raise Unprocessable("`cursor` is not one this server issued.", code="invalid_cursor") from None


async def customer_offers(
    db: AsyncSession, customer_id: uuid.UUID, now: datetime, limit: int = 50, cursor: str | None = None
) -> Page[OfferOut]:
    """One page of the offers of one customer (promotions/rules.customer_offers decides; the query only
    narrows)."""
    after = _offers_after(cursor)
    found = await live.candidates(db, skus=[], categories=[], now=now, customer_id=customer_id, all_items=True)
    shopper = found.shopper
    ordered = rules.customer_offers(found.every(), now, shopper, after)
    if not ordered:
        return Page(items=[], next_cursor=None)
    last = rules.preference(ordered[limit - 1]) if len(ordered) > limit else None
    ordered = ordered[:limit]
    next_cursor = None if last is None else encode_cursor(*last[:3], last[3].isoformat(), last[4])
    ids = [t.id for t in ordered]
    rows = {p.id: p for p in await db.scalars(select(Promotion).where(Promotion.id.in_(ids)))}
    used: dict[str, int] = {
        r.promotion_id: r.redemptions
        for r in await db.execute(
            select(PromotionCustomerRedemptions.promotion_id, PromotionCustomerRedemptions.redemptions).where(
                PromotionCustomerRedemptions.customer_id == customer_id,
                PromotionCustomerRedemptions.promotion_id.in_(ids),
            )
        )
    }
    items = [
        OfferOut(
            id=t.id,
            title=rows[t.id].title,
            kind=t.kind,
            value=t.value,
            currency=t.currency,
            applies_to=None
            if t.skus is None and t.categories is None
            else AppliesTo(
                skus=None if t.skus is None else sorted(t.skus),
                categories=None if t.categories is None else sorted(t.categories),
            ),
            channels=None if t.channels is None else sorted(t.channels),
            starts_at=t.starts_at,
            ends_at=t.ends_at,
            priority=t.priority,
            segments=None if t.segments is None else sorted(t.segments & (shopper.segments or frozenset())),
            remaining=None if t.per_customer_limit is None else max(t.per_customer_limit - used.get(t.id, 0), 0),
        )
        for t in ordered
    ]
    return Page(items=items, next_cursor=next_cursor)
