from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.catalog.models import Product, Variant
from commerce.errors import Conflict, NotFound, Unprocessable
from commerce.events import service as events
from commerce.promotions import rules
from commerce.promotions.models import Promotion
from commerce.promotions.schemas import AppliesTo, OfferOut, OverrideOut, PromotionIn, PromotionOut


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
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def promotion_terms(p: Promotion | Row[Any]) -> rules.PromotionTerms:
    """The terms rules.resolve works with, from a promotion or a row with the same columns."""
    return rules.PromotionTerms(
        id=p.id,
        kind=cast(rules.PromotionKind, p.kind),
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
    )


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
        "channels": None if data.channels is None else sorted(set(data.channels)),
        "starts_at": data.starts_at,
        "ends_at": data.ends_at,
        "priority": data.priority,
        "override_reason": None if override is None else override.reason,
        "override_by": None if override is None else who,
        "override_at": None if override is None else now,
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


# Plain rows, not ORM entities, and built once: this runs on every cart read and every checkout.
_CANDIDATES = text(
    "SELECT id, kind, value, currency, skus, categories, code, channels, starts_at, ends_at, priority,"
    " killed_at, created_at FROM promotions"
    " WHERE killed_at IS NULL AND (starts_at IS NULL OR starts_at <= :now) AND (ends_at IS NULL OR ends_at > :now)"
    " AND ((skus IS NULL AND categories IS NULL) OR skus && CAST(:skus AS varchar[])"
    " OR categories && CAST(:categories AS varchar[]))"
)


async def candidate_promotions(
    db: AsyncSession, *, skus: Sequence[str], categories: Sequence[str], now: datetime
) -> list[rules.PromotionTerms]:
    """Active promotions that could touch these SKUs or categories; promotions/rules decides which applies."""
    rows = await db.execute(
        _CANDIDATES,
        {"now": now, "skus": list(skus), "categories": list(categories)},
    )
    return [promotion_terms(p) for p in rows]


async def usable_code(db: AsyncSession, code: str, now: datetime) -> str:
    """The promotion code as defined, if it belongs to an active promotion; 422 `invalid_code` otherwise."""
    promotion = await db.scalar(select(Promotion).where(func.lower(Promotion.code) == code.strip().lower()))
    if promotion is None or promotion.code is None:
        raise Unprocessable(f"Code {code!r} is not a known promotion code.", code="invalid_code")
    if not rules.is_active(promotion_terms(promotion), now):
        raise Unprocessable(
            f"Code {code!r} is not valid now (the promotion has ended, not started yet or was switched off).",
            code="invalid_code",
        )
    return promotion.code


OFFERS_DOC = (
    "The promotions the customer qualifies for now, in the order the promotion engine prefers them (higher "
    "priority, then older): active ones that need no code. The same list on every channel; each says the "
    "channels it covers and what it applies to."
)
_LIVE = text(
    "SELECT id, title, kind, value, currency, skus, categories, code, channels, starts_at, ends_at, priority,"
    " killed_at, created_at FROM promotions"
    " WHERE killed_at IS NULL AND code IS NULL AND (starts_at IS NULL OR starts_at <= :now)"
    " AND (ends_at IS NULL OR ends_at > :now)"
)


async def customer_offers(db: AsyncSession, customer_id: uuid.UUID, now: datetime) -> list[OfferOut]:
    """The offers of one customer (promotions/rules.customer_offers decides; the query only narrows)."""
    rows = {p.id: p for p in await db.execute(_LIVE, {"now": now})}
    return [
        OfferOut(
            id=terms.id,
            title=rows[terms.id].title,
            kind=terms.kind,
            value=terms.value,
            currency=terms.currency,
            applies_to=None
            if terms.skus is None and terms.categories is None
            else AppliesTo(
                skus=None if terms.skus is None else sorted(terms.skus),
                categories=None if terms.categories is None else sorted(terms.categories),
            ),
            channels=None if terms.channels is None else sorted(terms.channels),
            starts_at=terms.starts_at,
            ends_at=terms.ends_at,
        )
        for terms in rules.customer_offers((promotion_terms(p) for p in rows.values()), now)
    ]
