"""Segment rules and customer facts, without I/O.

A customer's facts are summarised from every purchase on every channel (web and mobile orders,
imported orders, till sales and returns linked to them) by `summarise`. A segment is a
list of typed rules `{fact, op, value}` that must all hold (`matches`). `check_rules` refuses an
unknown fact, an operator the fact does not take or a value of the wrong type, naming the rule's index.

Set facts (`bought_sku`, `bought_category`, `channel_used`, `store_visited`): `eq X` holds when X is
in the customer's set, `ne X` when it is not, `in [X, Y]` when any is. Number facts compare; `in`
is membership of a list. A customer with no orders has no `days_since_last_order`: no rule on it
holds. `lifetime_value` compares the spend in the rule's currency (0 when none).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple, get_args

Fact = Literal[
    "orders_count",
    "lifetime_value",
    "days_since_last_order",
    "bought_sku",
    "bought_category",
    "channel_used",
    "store_visited",
    "email_consent",
    "sms_consent",
]
Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in"]
FACTS: tuple[str, ...] = get_args(Fact)
OPS: tuple[str, ...] = get_args(Op)

_NUMBER_FACTS = frozenset({"orders_count", "days_since_last_order"})
_SET_FACTS = frozenset({"bought_sku", "bought_category", "channel_used", "store_visited"})
_BOOL_FACTS = frozenset({"email_consent", "sms_consent"})
_SET_OPS = frozenset({"eq", "ne", "in"})
_ORDER_OPS = frozenset({"eq", "ne", "gt", "gte", "lt", "lte"})
MAX_RULES = 50
MAX_IN_VALUES = 1_000
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Rule:
    fact: str
    op: str
    value: Any  # int, str, bool, (amount, currency), or a tuple of int / str for `in`


class RuleError(ValueError):
    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(message)
        self.index, self.field, self.message = index, field, message


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_one(i: int, raw: Any) -> Rule:
    if not isinstance(raw, Mapping):
        raise RuleError(i, "", "A rule is an object `{fact, op, value}`.")
    unknown = sorted(set(raw) - {"fact", "op", "value"})
    if unknown:
        raise RuleError(i, unknown[0], f"Unknown field {unknown[0]!r}; a rule is `{{fact, op, value}}`.")
    fact, op = raw.get("fact"), raw.get("op")
    if fact not in FACTS:
        raise RuleError(i, "fact", f"Unknown fact {fact!r}; known facts: {', '.join(FACTS)}.")
    if op not in OPS:
        raise RuleError(i, "op", f"Unknown op {op!r}; known ops: {', '.join(OPS)}.")
    if "value" not in raw:
        raise RuleError(i, "value", "A rule needs a `value`.")
    value = raw["value"]
    if fact in _NUMBER_FACTS:
        items = value if op == "in" else [value]
        if not isinstance(items, list) or not items or len(items) > MAX_IN_VALUES:
            raise RuleError(i, "value", f"`in` takes a list of 1 to {MAX_IN_VALUES} whole numbers.")
        if not all(_is_int(v) and 0 <= v <= 10**9 for v in items):
            raise RuleError(i, "value", f"{fact} takes a whole number from 0 to 10^9.")
        return Rule(fact, op, tuple(items) if op == "in" else value)
    if fact == "lifetime_value":
        if op not in _ORDER_OPS:
            raise RuleError(i, "op", "lifetime_value takes eq, ne, gt, gte, lt or lte.")
        ok = (
            isinstance(value, Mapping)
            and set(value) == {"amount", "currency"}
            and _is_int(value["amount"])
            and 0 <= value["amount"] <= 10**15
            and isinstance(value["currency"], str)
            and len(value["currency"]) == 3
            and value["currency"].isascii()
            and value["currency"].isupper()
        )
        if not ok:
            raise RuleError(i, "value", 'lifetime_value takes money: {"amount": minor units >= 0, "currency": "USD"}.')
        return Rule(fact, op, (value["amount"], value["currency"]))
    if fact in _SET_FACTS:
        if op not in _SET_OPS:
            raise RuleError(i, "op", f"{fact} takes eq, ne or in.")
        items = value if op == "in" else [value]
        if not isinstance(items, list) or not items or len(items) > MAX_IN_VALUES:
            raise RuleError(i, "value", f"`in` takes a list of 1 to {MAX_IN_VALUES} strings.")
        if not all(isinstance(v, str) and 1 <= len(v) <= 120 and v.strip() == v for v in items):
            raise RuleError(i, "value", f"{fact} takes a non-empty string (at most 120 characters, no outer spaces).")
        return Rule(fact, op, tuple(items) if op == "in" else value)
    if op not in ("eq", "ne"):
        raise RuleError(i, "op", f"{fact} takes eq or ne.")
    if not isinstance(value, bool):
        raise RuleError(i, "value", f"{fact} takes true or false.")
    return Rule(fact, op, value)


def check_rules(raw: Sequence[Any]) -> list[Rule]:
    """The typed rules, or RuleError naming the first bad rule's index."""
    if len(raw) > MAX_RULES:
        raise RuleError(MAX_RULES, "", f"A segment has at most {MAX_RULES} rules.")
    return [_check_one(i, r) for i, r in enumerate(raw)]


def rule_json(rule: Rule) -> dict[str, Any]:
    """The rule as it was given (and is stored)."""
    value: Any = rule.value
    if rule.fact == "lifetime_value":
        value = {"amount": rule.value[0], "currency": rule.value[1]}
    elif rule.op == "in":
        value = list(rule.value)
    return {"fact": rule.fact, "op": rule.op, "value": value}


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What rules are evaluated against: a customer's profile plus their consent."""

    orders_count: int = 0
    lifetime_values: Mapping[str, int] = field(default_factory=dict)
    last_order_at: datetime | None = None
    skus: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    stores: frozenset[str] = frozenset()
    email_consent: bool = False
    sms_consent: bool = False


def days_since(at: datetime, now: datetime) -> int:
    """Whole days elapsed (0 on the day itself)."""
    return max(0, math.floor((now - at) / DAY))


def _compare(op: str, left: int, right: int) -> bool:
    results: dict[str, bool] = {
        "eq": left == right,
        "ne": left != right,
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }
    return results[op]


def holds(rule: Rule, facts: Facts, now: datetime) -> bool:
    if rule.fact in _SET_FACTS:
        have = {
            "bought_sku": facts.skus,
            "bought_category": facts.categories,
            "channel_used": facts.channels,
            "store_visited": facts.stores,
        }[rule.fact]
        if rule.op == "in":
            return not have.isdisjoint(rule.value)
        return (rule.value in have) == (rule.op == "eq")
    if rule.fact in _BOOL_FACTS:
        actual = facts.email_consent if rule.fact == "email_consent" else facts.sms_consent
        return bool(actual == rule.value) == (rule.op == "eq")
    if rule.fact == "lifetime_value":
        amount, currency = rule.value
        return _compare(rule.op, facts.lifetime_values.get(currency, 0), amount)
    if rule.fact == "orders_count":
        number = facts.orders_count
    elif facts.last_order_at is None:
        return False
    else:
        number = days_since(facts.last_order_at, now)
    if rule.op == "in":
        return number in rule.value
    return _compare(rule.op, number, rule.value)


def matches(rules: Iterable[Rule], facts: Facts, now: datetime) -> bool:
    """All rules hold (a segment without rules holds every customer)."""
    return all(holds(rule, facts, now) for rule in rules)


def next_recheck(rules: Iterable[Rule], facts: Facts, now: datetime) -> datetime | None:
    """The first moment after `now` at which time alone can change whether `rules` match these facts:
    a `days_since_last_order` rule's answer changes only when the day count crosses one of its values."""
    if facts.last_order_at is None:
        return None
    soonest: datetime | None = None
    for rule in rules:
        if rule.fact != "days_since_last_order":
            continue
        for v in rule.value if rule.op == "in" else (rule.value,):
            for boundary in (v, v + 1):
                at = facts.last_order_at + boundary * DAY
                if at > now and (soonest is None or at < soonest):
                    soonest = at
    return soonest


# --- profiles ---------------------------------------------------------------------------------


class PurchaseLine(NamedTuple):
    sku: str
    category: str | None
    quantity: int


class Purchase(NamedTuple):
    """One order (not cancelled or expired), till sale or till return of a customer."""

    kind: Literal["order", "sale", "return"]
    channel: str
    at: datetime
    # The store the customer was in (a till event, or a pickup order that was collected), else None.
    store: str | None
    currency: str | None
    # What was paid (an order's total, a sale's priced lines) or refunded (a return), in `currency`.
    amount: int
    lines: tuple[PurchaseLine, ...]


@dataclass(frozen=True, kw_only=True)
class Profile:
    orders_count: int = 0
    lifetime_values: dict[str, int] = field(default_factory=dict)
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    channels: dict[str, int] = field(default_factory=dict)
    store_visits: dict[str, int] = field(default_factory=dict)
    last_store_visit: tuple[str, datetime] | None = None
    skus: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def facts(self, *, email_consent: bool = False, sms_consent: bool = False) -> Facts:
        return Facts(
            orders_count=self.orders_count,
            lifetime_values=self.lifetime_values,
            last_order_at=self.last_order_at,
            skus=frozenset(self.skus),
            categories=frozenset(self.categories),
            channels=frozenset(self.channels),
            stores=frozenset(self.store_visits),
            email_consent=email_consent,
            sms_consent=sms_consent,
        )


def summarise(purchases: Iterable[Purchase]) -> Profile:
    """A customer's profile from all their purchases (any order). Returns take back spend and units;
    a SKU is `bought` while the customer holds at least one unit of it."""
    count = 0
    values: dict[str, int] = {}
    first: datetime | None = None
    last: datetime | None = None
    channels: dict[str, int] = {}
    visits: dict[str, int] = {}
    last_visit: tuple[str, datetime] | None = None
    held: dict[str, int] = {}
    category_of: dict[str, str] = {}
    for p in purchases:
        sign = -1 if p.kind == "return" else 1
        if p.currency is not None:
            values[p.currency] = values.get(p.currency, 0) + sign * p.amount
        for line in p.lines:
            held[line.sku] = held.get(line.sku, 0) + sign * line.quantity
            if line.category is not None:
                category_of[line.sku] = line.category
        if p.store is not None:
            visits[p.store] = visits.get(p.store, 0) + 1
            if last_visit is None or (p.at, p.store) > (last_visit[1], last_visit[0]):
                last_visit = (p.store, p.at)
        if p.kind == "return":
            continue
        count += 1
        channels[p.channel] = channels.get(p.channel, 0) + 1
        first = p.at if first is None or p.at < first else first
        last = p.at if last is None or p.at > last else last
    skus = sorted(sku for sku, units in held.items() if units > 0)
    return Profile(
        orders_count=count,
        lifetime_values=dict(sorted(values.items())),
        first_order_at=first,
        last_order_at=last,
        channels=dict(sorted(channels.items())),
        store_visits=dict(sorted(visits.items())),
        last_store_visit=last_visit,
        skus=tuple(skus),
        categories=tuple(sorted({category_of[s] for s in skus if s in category_of})),
    )


def favorite_store(visits: Mapping[str, int]) -> str | None:
    """The store visited most (ties: the smaller code, so the answer is stable)."""
    if not visits:
        return None
    return min(visits, key=lambda store: (-visits[store], store))


def main_currency(values: Mapping[str, int]) -> str | None:
    """The currency the customer spent most in (ties: alphabetical)."""
    if not values:
        return None
    return min(values, key=lambda c: (-values[c], c))
