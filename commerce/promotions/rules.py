"""Promotion resolution: which one promotion prices a cart line, and for how much. No I/O.

At most one promotion prices a line. Eligible: not killed, inside its time window, on the
cart's channel (or on every channel), targeting the line's SKU or category (or everything),
priced in the line's currency (amount off), and either without a code or with a code the
cart carries (or, for a promotion with single-use codes, an unredeemed one of its codes). A promotion
targeting segments prices only a cart whose owner is in one of them, never an anonymous cart; one with
a per-customer limit needs a known customer too; one whose limit is reached prices nothing.
Winner: highest priority, then the larger discount on this line, then the
older promotion (created first), then the smaller id, so the answer never depends on order.
The discount never exceeds the line's price. Nothing here depends on the channel beyond the
eligibility check, so a cart prices the same on every channel a promotion covers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

PromotionKind = Literal["percent_off", "amount_off"]


@dataclass(frozen=True, kw_only=True)
class PromotionTerms:
    """What resolution needs to know about a promotion."""

    id: str
    kind: PromotionKind
    # percent_off: whole percent (1..100); amount_off: minor units off each unit.
    value: int
    currency: str | None = None
    skus: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    code: str | None = None
    channels: frozenset[str] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    priority: int = 0
    killed: bool = False
    created_at: datetime
    # Only customers in one of these segments qualify; None: everyone.
    segments: frozenset[str] | None = None
    per_customer_limit: int | None = None
    total_limit: int | None = None
    single_use_codes: bool = False
    # The total limit, or this customer's limit, is used up.
    limit_reached: bool = False


@dataclass(frozen=True, kw_only=True)
class Shopper:
    """Who owns the cart being priced: their segments (None for an anonymous cart) and the promotions
    whose unredeemed single-use codes the cart carries."""

    segments: frozenset[str] | None = None
    code_promotions: frozenset[str] = frozenset()
    # The cart's single-use codes that an order has already redeemed.
    used_codes: frozenset[str] = frozenset()


ANONYMOUS = Shopper()


class LineToPrice(NamedTuple):
    sku: str
    category: str | None
    unit_price: int
    currency: str
    quantity: int


class AppliedPromotion(NamedTuple):
    promotion_id: str
    discount: int


def is_active(promo: PromotionTerms, now: datetime) -> bool:
    """Switched on and inside its window (the window's end is exclusive)."""
    if promo.killed:
        return False
    if promo.starts_at is not None and now < promo.starts_at:
        return False
    return promo.ends_at is None or now < promo.ends_at


def targets(promo: PromotionTerms, sku: str, category: str | None) -> bool:
    if promo.skus is None and promo.categories is None:
        return True
    return (promo.skus is not None and sku in promo.skus) or (
        category is not None and promo.categories is not None and category in promo.categories
    )


def normalise_code(code: str) -> str:
    """Codes are case-insensitive."""
    return code.strip().casefold()


def qualifies(promo: PromotionTerms, shopper: Shopper) -> bool:
    """The shopper may have this promotion at all: in a segment it targets, countable for its
    per-customer limit, and its limits not used up."""
    if promo.limit_reached:
        return False
    if promo.segments is not None and (shopper.segments is None or promo.segments.isdisjoint(shopper.segments)):
        return False
    return promo.per_customer_limit is None or shopper.segments is not None


def is_counted(promo: PromotionTerms) -> bool:
    """Checkout counts an order it prices: it has a limit or single-use codes."""
    return promo.total_limit is not None or promo.per_customer_limit is not None or promo.single_use_codes


def code_gated(promo: PromotionTerms) -> bool:
    """Applies only to carts carrying one of its codes."""
    return promo.code is not None or promo.single_use_codes


def carries_code(promo: PromotionTerms, codes: frozenset[str], shopper: Shopper) -> bool:
    if promo.code is not None and normalise_code(promo.code) in codes:
        return True
    return promo.single_use_codes and promo.id in shopper.code_promotions


def is_eligible(
    promo: PromotionTerms,
    line: LineToPrice,
    channel: str,
    codes: frozenset[str],
    now: datetime,
    shopper: Shopper = ANONYMOUS,
) -> bool:
    """`codes` are the cart's codes, already normalised."""
    # Cheapest and most selective first: most candidates target another line of the cart.
    if not targets(promo, line.sku, line.category):
        return False
    if not is_active(promo, now):
        return False
    if promo.channels is not None and channel not in promo.channels:
        return False
    if promo.kind == "amount_off" and promo.currency != line.currency:
        return False
    if not qualifies(promo, shopper):
        return False
    return not code_gated(promo) or carries_code(promo, codes, shopper)


def line_discount(promo: PromotionTerms, line: LineToPrice) -> int:
    """The discount on the whole line, in minor units: never negative, never above the line price.

    A percent is taken of the line price and rounded half up to the minor unit; an amount is
    taken off each unit.
    """
    line_price = line.unit_price * line.quantity
    per_line = (line_price * promo.value + 50) // 100
    discount = per_line if promo.kind == "percent_off" else promo.value * line.quantity
    return max(0, min(discount, line_price))


def resolve(
    line: LineToPrice,
    *,
    channel: str,
    codes: Iterable[str],
    now: datetime,
    promotions: Iterable[PromotionTerms],
    shopper: Shopper = ANONYMOUS,
) -> AppliedPromotion | None:
    """The one promotion that prices `line`, with its discount, or None."""
    cart_codes = frozenset(normalise_code(c) for c in codes)
    best: tuple[tuple[int, int, datetime, str], AppliedPromotion] | None = None
    for promo in promotions:
        if not is_eligible(promo, line, channel, cart_codes, now, shopper):
            continue
        discount = line_discount(promo, line)
        # Smallest key wins: higher priority, larger discount, older, then smaller id.
        key = (-promo.priority, -discount, promo.created_at, promo.id)
        if best is None or key < best[0]:
            best = (key, AppliedPromotion(promo.id, discount))
    return None if best is None else best[1]


def guardrail_violation(
    kind: PromotionKind, value: int, *, ceiling_percent: int, cheapest_price: int | None
) -> str | None:
    """Why a discount looks absurd (a percent above the ceiling, or an amount above the cheapest price it
    applies to), or None. `cheapest_price` is None when no priced item is targeted yet."""
    if kind == "percent_off" and value > ceiling_percent:
        return f"{value}% off is above the {ceiling_percent}% ceiling."
    if kind == "amount_off" and cheapest_price is not None and value > cheapest_price:
        return f"{value} off is more than the price ({cheapest_price}) of an item it applies to."
    return None


def preference(promo: PromotionTerms) -> tuple[int, int, int, datetime, str]:
    """The order `resolve` prefers promotions in, without a line to price: higher priority, then the
    larger discount (of two of one kind, the larger value; a percent and an amount of one priority are
    listed percent first, as which is larger depends on the price), then older, then smaller id."""
    kind_rank = 1 if promo.kind == "amount_off" else 0
    return (-promo.priority, kind_rank, -promo.value, promo.created_at, promo.id)


def customer_offers(
    promotions: Iterable[PromotionTerms],
    now: datetime,
    shopper: Shopper = ANONYMOUS,
    after: tuple[int, int, int, datetime, str] | None = None,
) -> list[PromotionTerms]:
    """What a customer qualifies for now without doing anything more (active, needs no code, targets
    them, limits not used up), in the order the engine prefers them; with `after` (the `preference`
    of the last one of the previous page), only those that come after it."""
    return sorted(
        (
            p
            for p in promotions
            if is_active(p, now)
            and qualifies(p, shopper)
            and not code_gated(p)
            and (after is None or preference(p) > after)
        ),
        key=preference,
    )
