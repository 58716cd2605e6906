"""Invariant 3 for POS events: a stream replayed, reordered and split into any batches ends in the
same levels as the stream delivered once in occurred_at order; on_hand always equals its ledger."""

from __future__ import annotations

import itertools
import random
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commerce.inventory.rules import DatedChange
from commerce.pos.rules import on_hand_in_order
from tests.api.test_pos_sync import assert_conserved, event, send
from tests.conftest import Api

SKUS = ["P-A", "P-B", "P-C", "P-D"]
_stores = itertools.count()

line = st.tuples(st.sampled_from(SKUS), st.integers(1, 20))
count_line = st.tuples(st.sampled_from(SKUS), st.integers(0, 60))


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(5, 30))
    # Distinct times: two counts of one SKU at the same instant are ambiguous by design.
    minutes = draw(st.lists(st.integers(0, 600), min_size=n, max_size=n, unique=True))
    events = []
    for i, minute in enumerate(minutes):
        type_ = draw(st.sampled_from(["sale", "sale", "return", "receipt", "count"]))
        if type_ == "count":
            lines = draw(st.lists(count_line, min_size=1, max_size=3, unique_by=lambda x: x[0]))
        else:
            lines = draw(st.lists(line, min_size=1, max_size=3))
        events.append(event(f"e{i}", type_, minute, *lines))
    return events


def expected(events: list[dict[str, Any]]) -> dict[str, int]:
    """The rule's own statement (pos/rules.py) as the oracle."""
    changes = []
    for e in events:
        is_count = e["type"] == "count"
        sign = -1 if e["type"] == "sale" else 1
        for ln in e["lines"]:
            qty = ln["quantity"] if is_count else sign * ln["quantity"]
            changes.append(
                DatedChange(ln["sku"], datetime.fromisoformat(e["occurred_at"]), qty, is_count, "", "", None)
            )
    return on_hand_in_order(changes)


async def levels(db_conn, store: str) -> dict[str, tuple[int, Any]]:
    rows = await db_conn.fetch("SELECT sku, on_hand, counted_at FROM inventory_levels WHERE store_code = $1", store)
    return {r["sku"]: (r["on_hand"], r["counted_at"]) for r in rows}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=streams(), rnd=st.randoms(use_true_random=False))
async def test_any_replay_order_and_batching_ends_like_one_delivery_in_order(
    api: Api, client, db_conn, events: list[dict[str, Any]], rnd: random.Random
) -> None:
    n = next(_stores)
    in_order, scrambled = f"IN{n}", f"SC{n}"
    if not await db_conn.fetchval("SELECT 1 FROM variants WHERE sku = 'P-A'"):
        await api.product("replay", SKUS)
    await api.store(in_order)
    await api.store(scrambled)

    ordered = sorted(events, key=lambda e: e["occurred_at"])
    assert all(r["status"] == "applied" for r in await send(client, in_order, ordered))

    stream = events + rnd.sample(events, rnd.randint(0, len(events)))
    rnd.shuffle(stream)
    cuts = sorted(rnd.sample(range(1, len(stream)), rnd.randint(0, min(4, len(stream) - 1))))
    statuses = []
    for lo, hi in itertools.pairwise([0, *cuts, len(stream)]):
        statuses += [r["status"] for r in await send(client, scrambled, stream[lo:hi])]
    assert statuses.count("applied") == len(events)
    assert statuses.count("duplicate") == len(stream) - len(events)

    want = expected(events)
    got_in_order, got_scrambled = await levels(db_conn, in_order), await levels(db_conn, scrambled)
    assert got_scrambled == got_in_order
    assert {sku: v[0] for sku, v in got_scrambled.items()} == want
    await assert_conserved(db_conn)
