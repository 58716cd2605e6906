from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commerce.promotions.rules import (
    LineToPrice,
    PromotionTerms,
    guardrail_violation,
    line_discount,
    resolve,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
JACKET = LineToPrice(sku="JKT-M", category="outerwear", unit_price=10_000, currency="USD", quantity=2)


def promo(id: str, kind: str = "percent_off", value: int = 10, **kw: object) -> PromotionTerms:
    kw.setdefault("created_at", NOW - timedelta(days=1))
    if kind == "amount_off":
        kw.setdefault("currency", "USD")
    return PromotionTerms(id=id, kind=kind, value=value, **kw)  # type: ignore[arg-type]


def winner(*promos: PromotionTerms, line: LineToPrice = JACKET, channel: str = "web", codes: tuple[str, ...] = ()):
    return resolve(line, channel=channel, codes=codes, now=NOW, promotions=promos)


def test_higher_priority_promotion_wins_even_when_smaller() -> None:
    got = winner(promo("big", value=40), promo("small", value=5, priority=10))
    assert got is not None and got.promotion_id == "small" and got.discount == 1_000


def test_larger_discount_wins_at_equal_priority() -> None:
    got = winner(promo("pct", value=10), promo("amt", kind="amount_off", value=3_000))
    assert got is not None and got.promotion_id == "amt" and got.discount == 6_000


def test_older_promotion_wins_a_tie() -> None:
    newer = promo("a-newer", value=20, created_at=NOW - timedelta(hours=1))
    older = promo("z-older", value=20, created_at=NOW - timedelta(days=3))
    assert winner(newer, older).promotion_id == "z-older"  # type: ignore[union-attr]
    assert winner(older, newer).promotion_id == "z-older"  # type: ignore[union-attr]


def test_id_breaks_a_tie_of_the_same_age() -> None:
    assert winner(promo("b", value=20), promo("a", value=20)).promotion_id == "a"  # type: ignore[union-attr]


def test_coded_promotion_needs_its_code_in_any_case() -> None:
    coded = promo("coded", value=30, code="SAVE30")
    assert winner(coded) is None
    assert winner(coded, codes=("other",)) is None
    assert winner(coded, codes=("save30",)).promotion_id == "coded"  # type: ignore[union-attr]


def test_channel_restriction_applies_only_on_its_channels() -> None:
    app_only = promo("app", value=15, channels=frozenset({"mobile"}))
    assert winner(app_only, channel="web") is None
    assert winner(app_only, channel="mobile").promotion_id == "app"  # type: ignore[union-attr]


def test_window_start_is_inclusive_and_end_exclusive() -> None:
    starts_now = promo("starts", starts_at=NOW)
    starts_later = promo("later", starts_at=NOW + timedelta(seconds=1))
    ended = promo("ended", ends_at=NOW)
    ends_later = promo("ends", ends_at=NOW + timedelta(seconds=1))
    assert winner(starts_now) is not None
    assert winner(starts_later) is None
    assert winner(ended) is None
    assert winner(ends_later) is not None


def test_killed_promotion_never_applies() -> None:
    assert winner(promo("off", value=30, killed=True)) is None
    assert winner(promo("off", value=30, killed=True), promo("on", value=5)).promotion_id == "on"  # type: ignore[union-attr]


def test_amount_off_never_takes_a_line_below_zero() -> None:
    cheap = LineToPrice("SOCK", None, 300, "USD", 3)
    got = winner(promo("huge", kind="amount_off", value=5_000), line=cheap)
    assert got is not None and got.discount == 900


def test_amount_off_in_another_currency_does_not_apply() -> None:
    assert winner(promo("eur", kind="amount_off", value=100, currency="EUR")) is None


def test_targets_sku_or_category_only() -> None:
    by_sku = promo("sku", skus=frozenset({"OTHER"}))
    by_category = promo("cat", categories=frozenset({"outerwear"}))
    assert winner(by_sku) is None
    assert winner(by_sku, by_category).promotion_id == "cat"  # type: ignore[union-attr]


def test_percent_discount_rounds_half_up_to_the_minor_unit() -> None:
    line = LineToPrice("X", None, 5, "USD", 1)
    assert line_discount(promo("p", value=10), line) == 1  # 0.5 rounds up
    assert line_discount(promo("p", value=100), line) == 5


def test_same_cart_prices_the_same_on_every_covered_channel() -> None:
    promos = (
        promo("both", value=25, channels=frozenset({"web", "mobile"}), code="JACKET"),
        promo("store-only", value=40, channels=frozenset({"store"})),
    )
    lines = [JACKET, LineToPrice("HAT", "accessories", 2_500, "USD", 1)]
    web = [winner(*promos, line=line, channel="web", codes=("jacket",)) for line in lines]
    mobile = [winner(*promos, line=line, channel="mobile", codes=("JACKET",)) for line in lines]
    assert web == mobile
    assert all(w is not None and w.promotion_id == "both" for w in web)


def test_guardrail_flags_percent_over_ceiling_and_amount_over_price() -> None:
    assert guardrail_violation("percent_off", 50, ceiling_percent=50, cheapest_price=None) is None
    assert guardrail_violation("percent_off", 51, ceiling_percent=50, cheapest_price=None) is not None
    assert guardrail_violation("amount_off", 1_000, ceiling_percent=50, cheapest_price=1_000) is None
    assert guardrail_violation("amount_off", 1_001, ceiling_percent=50, cheapest_price=1_000) is not None
    assert guardrail_violation("amount_off", 10**6, ceiling_percent=50, cheapest_price=None) is None


def test_offers_are_active_uncoded_promotions_in_the_order_the_engine_prefers() -> None:
    from commerce.promotions.rules import customer_offers

    offers = customer_offers(
        [
            promo("older-5", value=5, created_at=NOW - timedelta(days=3)),
            promo("newer-5", value=5, created_at=NOW - timedelta(days=1)),
            promo("ten", value=10),
            promo("amount", kind="amount_off", value=500),
            promo("urgent", value=1, priority=5),
            promo("coded", value=50, code="VIP"),
            promo("killed", value=50, killed=True),
            promo("ended", value=50, ends_at=NOW),
            promo("later", value=50, starts_at=NOW + timedelta(seconds=1)),
        ],
        NOW,
    )
    assert [p.id for p in offers] == ["urgent", "ten", "older-5", "newer-5", "amount"]


def test_offers_agree_with_resolve_on_which_promotion_prices_a_line_first() -> None:
    from commerce.promotions.rules import customer_offers

    candidates = [promo("a", value=10), promo("b", value=15), promo("c", value=5, priority=1)]
    first = customer_offers(candidates, NOW)[0]
    got = winner(*candidates)
    assert got is not None and got.promotion_id == first.id == "c"
