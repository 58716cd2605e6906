"""Segment rules: checking, evaluation, time-based rechecks and profiles from purchases, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from commerce.segments.rules import (
    Facts,
    Purchase,
    PurchaseLine,
    RuleError,
    check_rules,
    days_since,
    favorite_store,
    matches,
    next_recheck,
    rule_json,
    summarise,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def facts(**kw: Any) -> Facts:
    return Facts(**kw)


def holds(rule: dict[str, Any], f: Facts) -> bool:
    return matches(check_rules([rule]), f, NOW)


@pytest.mark.parametrize(
    ("rules", "index", "field"),
    [
        ([{"fact": "orders_count", "op": "gte", "value": 1}, {"fact": "shoe_size", "op": "eq", "value": 9}], 1, "fact"),
        ([{"fact": "orders_count", "op": "between", "value": 1}], 0, "op"),
        ([{"fact": "orders_count", "op": "gte", "value": "3"}], 0, "value"),
        ([{"fact": "orders_count", "op": "gte", "value": True}], 0, "value"),
        ([{"fact": "orders_count", "op": "gte", "value": -1}], 0, "value"),
        ([{"fact": "orders_count", "op": "in", "value": []}], 0, "value"),
        ([{"fact": "lifetime_value", "op": "gte", "value": 500}], 0, "value"),
        ([{"fact": "lifetime_value", "op": "gte", "value": {"amount": 500, "currency": "usd"}}], 0, "value"),
        ([{"fact": "lifetime_value", "op": "in", "value": [{"amount": 1, "currency": "USD"}]}], 0, "op"),
        ([{"fact": "bought_sku", "op": "gt", "value": "A"}], 0, "op"),
        ([{"fact": "bought_sku", "op": "eq", "value": ""}], 0, "value"),
        ([{"fact": "store_visited", "op": "in", "value": "LOOP"}], 0, "value"),
        ([{"fact": "email_consent", "op": "eq", "value": "yes"}], 0, "value"),
        ([{"fact": "sms_consent", "op": "lt", "value": True}], 0, "op"),
        ([{"fact": "orders_count", "op": "eq"}], 0, "value"),
    ],
)
def test_a_bad_rule_is_refused_with_its_index(rules: list[dict[str, Any]], index: int, field: str) -> None:
    with pytest.raises(RuleError) as refused:
        check_rules(rules)
    assert (refused.value.index, refused.value.field) == (index, field)


def test_checked_rules_round_trip_as_given() -> None:
    given = [
        {"fact": "lifetime_value", "op": "gte", "value": {"amount": 50_000, "currency": "USD"}},
        {"fact": "bought_category", "op": "in", "value": ["coffee", "tea"]},
        {"fact": "sms_consent", "op": "eq", "value": False},
    ]
    assert [rule_json(r) for r in check_rules(given)] == given


def test_lifetime_value_compares_spend_in_the_rules_currency() -> None:
    rule = {"fact": "lifetime_value", "op": "gt", "value": {"amount": 50_000, "currency": "USD"}}
    assert holds(rule, facts(lifetime_values={"USD": 50_001}))
    assert not holds(rule, facts(lifetime_values={"USD": 50_000, "EUR": 90_000}))
    assert not holds(rule, facts())


def test_set_facts_mean_has_has_not_and_has_any() -> None:
    f = facts(skus=frozenset({"BEANS"}), channels=frozenset({"store"}), stores=frozenset({"LOOP"}))
    assert holds({"fact": "bought_sku", "op": "eq", "value": "BEANS"}, f)
    assert not holds({"fact": "bought_sku", "op": "ne", "value": "BEANS"}, f)
    assert holds({"fact": "bought_sku", "op": "ne", "value": "GRINDER"}, f)
    assert holds({"fact": "store_visited", "op": "in", "value": ["RN", "LOOP"]}, f)
    assert not holds({"fact": "channel_used", "op": "in", "value": ["web", "mobile"]}, f)


def test_consent_facts_are_booleans() -> None:
    assert holds({"fact": "email_consent", "op": "eq", "value": True}, facts(email_consent=True))
    assert not holds({"fact": "email_consent", "op": "eq", "value": True}, facts(sms_consent=True))
    assert holds({"fact": "sms_consent", "op": "ne", "value": True}, facts())


def test_a_customer_without_orders_matches_no_rule_on_days_since_last_order() -> None:
    for op in ("lt", "gt", "ne"):
        assert not holds({"fact": "days_since_last_order", "op": op, "value": 30}, facts())


def test_days_since_last_order_counts_whole_days() -> None:
    last = NOW - timedelta(days=30, hours=1)
    assert days_since(last, NOW) == 30
    assert holds({"fact": "days_since_last_order", "op": "lte", "value": 30}, facts(last_order_at=last))
    assert not holds({"fact": "days_since_last_order", "op": "lt", "value": 30}, facts(last_order_at=last))
    assert holds({"fact": "days_since_last_order", "op": "in", "value": [7, 30]}, facts(last_order_at=last))


def test_all_rules_must_hold() -> None:
    rules = check_rules(
        [{"fact": "orders_count", "op": "gte", "value": 2}, {"fact": "bought_sku", "op": "eq", "value": "BEANS"}]
    )
    assert matches(rules, facts(orders_count=2, skus=frozenset({"BEANS"})), NOW)
    assert not matches(rules, facts(orders_count=5), NOW)
    assert matches([], facts(), NOW)


def test_recheck_is_when_the_day_count_next_crosses_a_rules_value() -> None:
    last = NOW - timedelta(days=3, hours=2)
    rules = check_rules([{"fact": "days_since_last_order", "op": "gt", "value": 30}])
    at = next_recheck(rules, facts(last_order_at=last), NOW)
    assert at == last + timedelta(days=30)
    # At that moment the answer has not changed yet (30 is not > 30); the next recheck is a day later.
    assert not matches(rules, facts(last_order_at=last), last + timedelta(days=30))
    later = next_recheck(rules, facts(last_order_at=last), last + timedelta(days=30))
    assert later == last + timedelta(days=31)
    assert matches(rules, facts(last_order_at=last), later)
    assert next_recheck(rules, facts(), NOW) is None
    assert (
        next_recheck(check_rules([{"fact": "orders_count", "op": "gt", "value": 1}]), facts(last_order_at=last), NOW)
        is None
    )


def sale(at: datetime, store: str, *lines: tuple[str, int], amount: int = 1_000, kind: str = "sale") -> Purchase:
    return Purchase(
        kind=kind,  # type: ignore[arg-type]
        channel="store",
        at=at,
        store=store,
        currency="USD",
        amount=amount,
        lines=tuple(PurchaseLine(sku, "coffee", q) for sku, q in lines),
    )


def test_profile_sums_every_channel_and_returns_take_back() -> None:
    web = Purchase("order", "web", NOW - timedelta(days=9), None, "USD", 5_000, (PurchaseLine("GRINDER", "tools", 1),))
    p = summarise(
        [
            sale(NOW - timedelta(days=20), "LOOP", ("BEANS", 2), amount=2_400),
            web,
            sale(NOW - timedelta(days=2), "RN", ("BEANS", 2), amount=2_400, kind="return"),
            sale(NOW - timedelta(days=1), "LOOP", ("CUPS", 1), amount=800),
        ]
    )
    assert p.orders_count == 3
    assert p.lifetime_values == {"USD": 2_400 + 5_000 - 2_400 + 800}
    assert (p.first_order_at, p.last_order_at) == (NOW - timedelta(days=20), NOW - timedelta(days=1))
    assert p.channels == {"store": 2, "web": 1}
    assert p.skus == ("CUPS", "GRINDER")  # the beans went back
    assert p.categories == ("coffee", "tools")
    assert p.store_visits == {"LOOP": 2, "RN": 1}
    assert favorite_store(p.store_visits) == "LOOP"
    assert p.last_store_visit == ("LOOP", NOW - timedelta(days=1))


def test_favorite_store_ties_go_to_the_smaller_code() -> None:
    assert favorite_store({"RN": 2, "LOOP": 2}) == "LOOP"
    assert favorite_store({}) is None
