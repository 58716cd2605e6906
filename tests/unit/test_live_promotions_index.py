"""The in-process index of live promotions narrows the candidates for an item without changing the
answer: resolving over `for_item` gives what resolving over every promotion gives."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from commerce.promotions.live import ENDED_GRACE, Candidates, LiveIndex
from commerce.promotions.rules import LineToPrice, PromotionTerms, Shopper, customer_offers, resolve

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SKUS = ["A", "B", "C", "D"]
CATEGORIES = ["tools", "coffee", "tea"]
SEGMENTS = ["vip", "gold", "coffee"]

small_set = st.none() | st.frozensets(st.sampled_from(SKUS), min_size=1, max_size=2)
hours = st.none() | st.integers(min_value=-3, max_value=3).map(lambda h: NOW + timedelta(hours=h))


@st.composite
def promotions(draw: st.DrawFn) -> list[PromotionTerms]:
    found = []
    for i in range(draw(st.integers(min_value=0, max_value=12))):
        starts, ends = draw(hours), draw(hours)
        if starts is not None and ends is not None and ends <= starts:
            starts = None
        kind = draw(st.sampled_from(["percent_off", "amount_off"]))
        found.append(
            PromotionTerms(
                id=f"p{i}",
                kind=kind,
                value=draw(st.integers(min_value=1, max_value=100)),
                currency=None if kind == "percent_off" else draw(st.sampled_from(["USD", "EUR"])),
                skus=draw(small_set),
                categories=draw(st.none() | st.frozensets(st.sampled_from(CATEGORIES), min_size=1, max_size=2)),
                channels=draw(st.none() | st.frozensets(st.sampled_from(["web", "store"]), min_size=1)),
                starts_at=starts,
                ends_at=ends,
                priority=draw(st.integers(min_value=0, max_value=2)),
                created_at=NOW - timedelta(days=draw(st.integers(min_value=1, max_value=3))),
                segments=draw(st.none() | st.frozensets(st.sampled_from(SEGMENTS), min_size=1, max_size=2)),
                per_customer_limit=draw(st.none() | st.just(1)),
                limit_reached=draw(st.booleans()),
            )
        )
    return found


shoppers = st.builds(Shopper, segments=st.none() | st.frozensets(st.sampled_from(SEGMENTS), max_size=3).map(frozenset))
lines = st.builds(
    LineToPrice,
    sku=st.sampled_from(SKUS),
    category=st.none() | st.sampled_from(CATEGORIES),
    unit_price=st.integers(min_value=1, max_value=10_000),
    currency=st.sampled_from(["USD", "EUR"]),
    quantity=st.integers(min_value=1, max_value=3),
)


def candidates(promos: list[PromotionTerms], shopper: Shopper) -> Candidates:
    """The index without the limits' state, which pricing reads apart and marks as `used_up`."""
    index = LiveIndex.build(None, [replace(p, limit_reached=False) for p in promos])
    return Candidates(index, shopper, {p.id: p for p in promos if p.limit_reached})


@settings(max_examples=200, deadline=None)
@given(
    promos=promotions(),
    shopper=shoppers,
    line=lines,
    channel=st.sampled_from(["web", "store"]),
    minutes=st.integers(min_value=-240, max_value=240),
)
def test_resolving_over_the_index_is_resolving_over_every_promotion(
    promos: list[PromotionTerms], shopper: Shopper, line: LineToPrice, channel: str, minutes: int
) -> None:
    now = NOW + timedelta(minutes=minutes)
    found = candidates(promos, shopper)
    everything = resolve(line, channel=channel, codes=(), now=now, promotions=promos, shopper=shopper)
    narrowed = resolve(
        line, channel=channel, codes=(), now=now, promotions=found.for_item(line.sku, line.category), shopper=shopper
    )
    assert narrowed == everything
    assert customer_offers(found.every(), now, shopper) == customer_offers(promos, now, shopper)
    many = found.for_items([line.sku], [] if line.category is None else [line.category])
    assert len({p.id for p in many}) == len(many)
    assert resolve(line, channel=channel, codes=(), now=now, promotions=many, shopper=shopper) == everything


def test_the_index_buckets_by_target_and_segment() -> None:
    def promo(id: str, **kw: object) -> PromotionTerms:
        return PromotionTerms(id=id, kind="percent_off", value=10, created_at=NOW, **kw)  # type: ignore[arg-type]

    index = LiveIndex.build(
        None,
        [
            promo("on-a", skus=frozenset({"A"})),
            promo("on-tools", categories=frozenset({"tools"})),
            promo("all"),
            promo("vip-all", segments=frozenset({"vip"})),
            promo("gold-a", skus=frozenset({"A", "B"}), segments=frozenset({"gold"})),
            promo("limited", skus=frozenset({"C"}), total_limit=5),
        ],
    )

    def ids(shopper: Shopper, sku: str, category: str | None) -> list[str]:
        return sorted(p.id for p in Candidates(index, shopper, {}).for_item(sku, category))

    assert ids(Shopper(), "A", None) == ["all", "on-a"]
    assert ids(Shopper(segments=frozenset({"vip", "gold"})), "A", "tools") == [
        "all",
        "gold-a",
        "on-a",
        "on-tools",
        "vip-all",
    ]
    assert ids(Shopper(segments=frozenset({"gold"})), "B", None) == ["all", "gold-a"]
    assert index.limited(["A", "C"], ["tools"]) == ["limited"] and index.limited(["A"], ["tools"]) == []


def test_ended_promotions_are_pruned_only_after_the_grace() -> None:
    ended = PromotionTerms(id="ended", kind="percent_off", value=10, created_at=NOW, ends_at=NOW)
    index = LiveIndex.build(None, [ended])
    assert index.prune_at == NOW + ENDED_GRACE
    assert "ended" in index.pruned(NOW + ENDED_GRACE - timedelta(seconds=1)).by_id
    assert index.pruned(NOW + ENDED_GRACE).by_id == {}
