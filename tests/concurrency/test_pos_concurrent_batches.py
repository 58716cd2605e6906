"""Two tills (or a till and its retry) sending overlapping batches at the same moment."""

from __future__ import annotations

import asyncio

from tests.api.test_pos_sync import assert_conserved, event, on_hand, send
from tests.conftest import Api


async def test_overlapping_batches_sent_at_once_apply_each_event_exactly_once(api: Api, client, db_conn) -> None:
    await api.store("S1")
    await api.product("tee", [f"T{i}" for i in range(20)])
    events = [event(f"e{i}", "sale", i, (f"T{i % 20}", 1), (f"T{(i * 7) % 20}", 2)) for i in range(200)]
    events += [event("c1", "count", 100, ("T3", 50))]
    # Four overlapping batches in different orders, all in flight together.
    batches = [events, events[::-1], events[50:150], events[::3]]
    results = await asyncio.gather(*(send(client, "S1", b) for b in batches))
    statuses = [r["status"] for batch in results for r in batch]
    assert statuses.count("applied") == len(events)
    assert statuses.count("rejected") == 0
    assert await db_conn.fetchval("SELECT count(*) FROM pos_events") == len(events)
    # T3 was counted at minute 100: only sales after it count against the 50.
    after = sum(
        ln["quantity"]
        for e in events
        if e["type"] == "sale" and e["occurred_at"] > events[100]["occurred_at"]
        for ln in e["lines"]
        if ln["sku"] == "T3"
    )
    assert await on_hand(db_conn, "S1", "T3") == 50 - after
    await assert_conserved(db_conn)
