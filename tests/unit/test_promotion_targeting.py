"""Resolution with segments, limits and single-use codes: who may have a promotion; the winner rule is
unchanged (priority, then larger discount, then older)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from commerce.promotions.codes import new_code
from commerce.promotions.rules import (
    ANONYMOUS,
    LineToPrice,
    PromotionTerms,
    Shopper,
    customer_offers,
    is_counted,
    resolve,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
GRINDER = LineToPrice(sku="GRINDER", category="tools", unit_price=10_000, currency="USD", quantity=1)
VIP = Shopper(segments=frozenset({"vip"}))
REGULAR = Shopper(segments=frozenset({"coffee"}))


def promo(id: str, value: int = 10, **kw: object) -> PromotionTerms:
    kw.setdefault("created_at", NOW - timedelta(days=1))
    return PromotionTerms(id=id, kind="percent_off", value=value, **kw)  # type: ignore[arg-type]


def winner(*promos: PromotionTerms, shopper: Shopper = ANONYMOUS, codes: tuple[str, ...] = ()) -> str | None:
    got = resolve(GRINDER, channel="web", codes=codes, now=NOW, promotions=promos, shopper=shopper)
    return None if got is None else got.promotion_id


def test_a_targeted_promotion_prices_only_a_members_cart() -> None:
    vip = promo("vip-20", 20, segments=frozenset({"vip", "gold"}))
    assert winner(vip, shopper=VIP) == "vip-20"
    assert winner(vip, shopper=REGULAR) is None


def test_an_anonymous_cart_never_gets_a_targeted_promotion() -> None:
    assert winner(promo("vip-20", 20, segments=frozenset({"vip"})), promo("all-5", 5)) == "all-5"


def test_segments_do_not_change_the_winner_rule() -> None:
    everyone = promo("everyone-high-priority", 5, priority=10)
    vip = promo("vip-bigger", 30, segments=frozenset({"vip"}))
    assert winner(everyone, vip, shopper=VIP) == "everyone-high-priority"
    older = promo("vip-older", 30, segments=frozenset({"vip"}), created_at=NOW - timedelta(days=9))
    assert winner(vip, older, shopper=VIP) == "vip-older"
    assert winner(promo("vip-40", 40, segments=frozenset({"vip"})), vip, shopper=VIP) == "vip-40"


def test_a_used_up_limit_prices_nothing_and_the_next_best_wins() -> None:
    spent = promo("once", 30, total_limit=50, limit_reached=True)
    assert winner(spent, promo("fallback", 10), shopper=VIP) == "fallback"


def test_a_per_customer_limit_needs_a_known_customer() -> None:
    once = promo("once-each", 20, per_customer_limit=1)
    assert winner(once) is None
    assert winner(once, shopper=Shopper(segments=frozenset())) == "once-each"


def test_a_promotion_with_single_use_codes_needs_one_of_them_on_the_cart() -> None:
    receipt = promo("receipt", 15, single_use_codes=True)
    assert winner(receipt, shopper=VIP) is None
    assert winner(receipt, shopper=Shopper(code_promotions=frozenset({"receipt"}))) == "receipt"


def test_only_limited_or_coded_promotions_are_counted() -> None:
    assert not is_counted(promo("plain"))
    assert is_counted(promo("t", total_limit=5))
    assert is_counted(promo("c", per_customer_limit=1))
    assert is_counted(promo("s", single_use_codes=True))


def test_offers_list_what_the_customer_qualifies_for_in_engine_order() -> None:
    offers = customer_offers(
        [
            promo("old", 10, created_at=NOW - timedelta(days=30)),
            promo("new", 10),
            promo("vip-first", 5, priority=3, segments=frozenset({"vip"})),
            promo("gold-only", 50, segments=frozenset({"gold"})),
            promo("coded", 30, code="SAVE30"),
            promo("spent", 30, limit_reached=True),
            promo("ended", 30, ends_at=NOW - timedelta(hours=1)),
        ],
        NOW,
        VIP,
    )
    assert [p.id for p in offers] == ["vip-first", "old", "new"]
    assert [p.id for p in customer_offers([promo("vip", segments=frozenset({"vip"}))], NOW, ANONYMOUS)] == []


def test_a_single_use_code_has_one_dash_after_its_prefix() -> None:
    assert re.fullmatch(r"RCPT-[0-9A-Z]{16}", new_code("rcpt-"))
    assert re.fullmatch(r"JOIN-[0-9A-Z]{16}", new_code("join"))
    assert re.fullmatch(r"[0-9A-Z]{16}", new_code(None))
