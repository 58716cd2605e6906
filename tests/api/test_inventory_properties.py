"""Random sequences of counts, adjustments, reservations, consumes and releases against a model:
after every step the levels match the model and are explained by the ledger and the reservations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from commerce.errors import DomainError, InsufficientStock, Unprocessable
from commerce.inventory import rules, service
from commerce.inventory.rules import StockLine
from tests.conftest import Api
from tests.stock import assert_conserved

STORES = ["A", "B"]
SKUS = ["X", "Y"]
levels_st = st.tuples(st.sampled_from(STORES), st.sampled_from(SKUS))

count_st = st.tuples(st.just("count"), levels_st, st.integers(0, 12), st.one_of(st.none(), st.integers(0, 3)))
adjust_st = st.tuples(
    st.just("adjust"), levels_st, st.integers(-8, 8), st.sampled_from(sorted(rules.ADJUSTMENT_REASONS))
)
reserve_st = st.tuples(st.just("reserve"), st.lists(st.tuples(levels_st, st.integers(1, 4)), min_size=1, max_size=3))
settle_st = st.tuples(st.sampled_from(["consume", "release"]), st.integers(0, 5))
operations = st.lists(st.one_of(count_st, adjust_st, reserve_st, settle_st), min_size=1, max_size=12)


@dataclass
class Model:
    levels: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # on_hand, reserved, safety_stock
    orders: list[tuple[str, dict[tuple[str, str], int], bool]] = field(default_factory=list)  # ref, qty, active

    def level(self, key: tuple[str, str]) -> list[int]:
        return self.levels.get(key, [0, 0, 0])


async def apply(app: Any, model: Model, op: tuple[Any, ...]) -> None:
    """Run one operation through the service in its own transaction, and the same on the model."""
    kind = op[0]
    try:
        async with app.state.sessionmaker() as db, db.begin():
            if kind == "count":
                _, (store, sku), on_hand, safety = op
                await service.set_on_hand(
                    db, store, sku, on_hand=on_hand, safety_stock=safety, counted_at=None, reason="count", source="t"
                )
            elif kind == "adjust":
                _, (store, sku), delta, reason = op
                rules.check_adjustment(reason, delta)
                await service.adjust_on_hand(db, store, sku, delta=delta, reason=reason, source="t")
            elif kind == "reserve":
                ref = f"o{len(model.orders)}"
                lines = [StockLine(s, k, q) for (s, k), q in op[1]]
                await service.reserve_lines(db, lines, reference=ref, source="t")
            elif model.orders:
                ref = model.orders[op[1] % len(model.orders)][0]
                settled = await service.settle_reservations(db, ref, consume=kind == "consume", reason=kind, source="t")
                assert settled == (
                    len(model.orders[op[1] % len(model.orders)][1]) if model.orders[op[1] % len(model.orders)][2] else 0
                )
    except (InsufficientStock, Unprocessable) as refused:
        expect_refusal(model, op, refused)
        return
    expect_success(model, op)


def expect_refusal(model: Model, op: tuple[Any, ...], refused: DomainError) -> None:
    kind = op[0]
    if kind == "adjust":
        _, key, delta, reason = op
        if isinstance(refused, Unprocessable):
            with pytest.raises(Unprocessable):
                rules.check_adjustment(reason, delta)
        else:
            on_hand, reserved, _ = model.level(key)
            assert (key not in model.levels and delta < 0) or on_hand + delta < reserved
    elif kind == "reserve":
        wanted = merged(op[1])
        assert any(key not in model.levels or rules.available(*model.level(key)) < q for key, q in wanted.items())
        model.orders.append((f"o{len(model.orders)}", {}, False))
    else:
        raise AssertionError(f"{kind} should not be refused") from refused


def merged(lines: list[tuple[tuple[str, str], int]]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for key, q in lines:
        out[key] = out.get(key, 0) + q
    return out


def expect_success(model: Model, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "count":
        _, key, on_hand, safety = op
        level = model.levels.setdefault(key, [0, 0, 0])
        level[0] = on_hand
        if safety is not None:
            level[2] = safety
    elif kind == "adjust":
        _, key, delta, _ = op
        level = model.levels.setdefault(key, [0, 0, 0])
        assert level[0] + delta >= level[1], "an adjustment took on_hand below reserved"
        level[0] += delta
    elif kind == "reserve":
        wanted = merged(op[1])
        for key, q in wanted.items():
            level = model.levels[key]
            assert level[0] - level[1] - level[2] >= q, "a reservation oversold"
            level[1] += q
        model.orders.append((f"o{len(model.orders)}", wanted, True))
    elif model.orders:
        i = op[1] % len(model.orders)
        ref, wanted, active = model.orders[i]
        if active:
            for key, q in wanted.items():
                model.levels[key][1] -= q
                if kind == "consume":
                    model.levels[key][0] -= q
            model.orders[i] = (ref, wanted, False)


@pytest.fixture
async def catalog(api: Api) -> None:
    for store in STORES:
        await api.store(store)
    await api.product("p", SKUS)


@example(  # take more than is unreserved
    ops=[("count", ("A", "X"), 5, None), ("reserve", [(("A", "X"), 4)]), ("adjust", ("A", "X"), -3, "damage")]
)
@example(  # oversell through safety stock, then consume and release
    ops=[
        ("count", ("A", "X"), 5, 2),
        ("reserve", [(("A", "X"), 2), (("A", "X"), 2)]),
        ("reserve", [(("A", "X"), 3)]),
        ("consume", 1),
        ("release", 0),
        ("consume", 0),
    ]
)
@example(  # a count below what is reserved, then an adjustment that cannot go lower
    ops=[
        ("adjust", ("B", "Y"), 6, "receipt"),
        ("reserve", [(("B", "Y"), 4), (("A", "Y"), 1)]),
        ("reserve", [(("B", "Y"), 4)]),
        ("count", ("B", "Y"), 1, None),
        ("adjust", ("B", "Y"), -1, "correction"),
        ("release", 1),
        ("adjust", ("B", "Y"), 2, "shrink"),
    ]
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
async def test_levels_follow_the_model_and_are_conserved(catalog: None, app: Any, db_conn: Any, ops: list[Any]) -> None:
    await db_conn.execute("TRUNCATE reservations, inventory_ledger, inventory_levels, events")
    model = Model()
    for op in ops:
        await apply(app, model, op)
        rows = await db_conn.fetch("SELECT store_code, sku, on_hand, reserved, safety_stock FROM inventory_levels")
        got = {(r["store_code"], r["sku"]): [r["on_hand"], r["reserved"], r["safety_stock"]] for r in rows}
        assert got == model.levels, op
        async with app.state.sessionmaker() as db:
            shown = await service.availability_of(db, [(s, k) for s in STORES for k in SKUS])
        assert all(units >= 0 for units in shown.values())
        assert all(reserved >= 0 for _, reserved, _ in model.levels.values())
        await assert_conserved(db_conn)
