"""POS sync over HTTP: exactly once, per-event rejection, the count rule, who may send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, Api

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def event(event_id: str, type_: str, minutes: float, *lines: tuple[str, int], **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": type_,
        "occurred_at": at(minutes),
        "lines": [{"sku": sku, "quantity": qty} for sku, qty in lines],
        **extra,
    }


async def send(
    client: httpx.AsyncClient, store: str, events: list[Any], headers: dict[str, str] = ADMIN
) -> list[dict[str, Any]]:
    r = await client.post(f"/v1/pos/{store}/events", json={"events": events}, headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["results"])


async def on_hand(db_conn, store: str, sku: str) -> int | None:
    value: int | None = await db_conn.fetchval(
        "SELECT on_hand FROM inventory_levels WHERE store_code = $1 AND sku = $2", store, sku
    )
    return value


async def assert_conserved(db_conn) -> None:
    bad = await db_conn.fetch(
        """
        SELECT l.store_code, l.sku, l.on_hand, g.d FROM inventory_levels l
        LEFT JOIN (SELECT store_code, sku, sum(delta) d FROM inventory_ledger GROUP BY 1, 2) g USING (store_code, sku)
        WHERE l.on_hand <> coalesce(g.d, 0)
        """
    )
    assert bad == []


@pytest.fixture
async def shop(api: Api) -> None:
    await api.store("S1")
    await api.store("S2")
    await api.product("tee", ["TEE-S", "TEE-M"])


async def test_sale_return_receipt_move_on_hand_and_write_ledger_and_events(shop, client, db_conn) -> None:
    results = await send(
        client,
        "S1",
        [
            event("r1", "receipt", 0, ("TEE-S", 10), ("TEE-M", 4)),
            event("s1", "sale", 1, ("TEE-S", 3), terminal_id="till-2"),
            event("x1", "return", 2, ("TEE-S", 1)),
        ],
    )
    assert [r["status"] for r in results] == ["applied"] * 3
    assert await on_hand(db_conn, "S1", "TEE-S") == 8
    assert await on_hand(db_conn, "S1", "TEE-M") == 4
    ledger = await db_conn.fetch(
        "SELECT reason, source, reference, delta, on_hand_after FROM inventory_ledger WHERE sku = 'TEE-S' ORDER BY id"
    )
    assert [tuple(r) for r in ledger] == [
        ("pos_receipt", "pos", "r1", 10, 10),
        ("pos_sale", "pos:till-2", "s1", -3, 7),
        ("pos_return", "pos", "x1", 1, 8),
    ]
    changed = await db_conn.fetch("SELECT data FROM events WHERE type = 'inventory.changed'")
    assert len(changed) == 2
    await assert_conserved(db_conn)


async def test_a_replayed_event_is_a_duplicate_and_changes_nothing(shop, client, db_conn) -> None:
    sale = event("s1", "sale", 1, ("TEE-S", 2))
    first = await send(client, "S1", [sale, sale])
    assert [r["status"] for r in first] == ["applied", "duplicate"]
    again = await send(client, "S1", [sale, event("s2", "sale", 2, ("TEE-S", 1))])
    assert [r["status"] for r in again] == ["duplicate", "applied"]
    assert await on_hand(db_conn, "S1", "TEE-S") == -3
    assert await db_conn.fetchval("SELECT count(*) FROM pos_events") == 2
    # The same event id at another store is another event.
    assert (await send(client, "S2", [sale]))[0]["status"] == "applied"
    await assert_conserved(db_conn)


async def test_a_sale_below_zero_applies_and_notes_the_oversell(shop, client, db_conn) -> None:
    await send(client, "S1", [event("s1", "sale", 1, ("TEE-M", 2))])
    assert await on_hand(db_conn, "S1", "TEE-M") == -2
    note = await db_conn.fetchval("SELECT note FROM inventory_ledger WHERE reference = 's1'")
    assert note == "oversold: on_hand went below zero"
    r = await db_conn.fetchrow("SELECT data FROM events WHERE type = 'inventory.changed'")
    assert '"available": 0' in r["data"]


async def test_bad_events_are_rejected_one_by_one_and_the_rest_apply(shop, client, db_conn) -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    results = await send(
        client,
        "S1",
        [
            event("ok1", "receipt", 0, ("TEE-S", 5)),
            event("bad-sku", "sale", 1, ("TEE-S", 1), ("NOPE", 1)),
            event("bad-qty", "sale", 1, ("TEE-S", 0)),
            event("bad-neg", "return", 1, ("TEE-S", -2)),
            event("huge", "receipt", 1, ("TEE-S", 10_000_000)),
            {**event("bad-time", "sale", 1, ("TEE-S", 1)), "occurred_at": "yesterday"},
            {**event("naive", "sale", 1, ("TEE-S", 1)), "occurred_at": "2026-11-20T09:00:00"},
            {**event("later", "sale", 1, ("TEE-S", 1)), "occurred_at": future},
            event("empty", "sale", 1),
            {"event_id": "shape", "type": "sale", "occurred_at": at(1), "lines": [{"sku": "TEE-S"}]},
            {**event("extra", "sale", 1, ("TEE-S", 1)), "colour": "red"},
            {**event("float", "sale", 1), "lines": [{"sku": "TEE-S", "quantity": 1.5}]},
            {**event("price", "sale", 1), "lines": [{"sku": "TEE-S", "quantity": 1, "unit_price": 12.5}]},
            {**event("kind", "refund", 1, ("TEE-S", 1))},
            "not an event",
            event("ok2", "sale", 2, ("TEE-S", 2)),
        ],
    )
    by_id = {r["event_id"]: r for r in results if r["event_id"]}
    assert [r["status"] for r in results].count("applied") == 2
    assert by_id["ok1"]["status"] == by_id["ok2"]["status"] == "applied"
    assert by_id["bad-sku"]["code"] == "unknown_sku"
    assert "NOPE" in by_id["bad-sku"]["detail"]
    for bad in ("bad-qty", "bad-neg", "huge"):
        assert by_id[bad]["code"] == "invalid_quantity", bad
    assert by_id["later"]["code"] == "invalid_occurred_at"
    for bad in ("bad-time", "naive", "empty", "shape", "extra", "float", "price", "kind"):
        assert (by_id[bad]["status"], by_id[bad]["code"]) == ("rejected", "validation_failed"), bad
    assert results[-2] == {
        "event_id": None,
        "status": "rejected",
        "code": "validation_failed",
        "detail": results[-2]["detail"],
    }
    assert len(results) == 16
    assert await on_hand(db_conn, "S1", "TEE-S") == 3
    # Rejected events are not recorded: a corrected resend with the same id applies.
    assert await db_conn.fetchval("SELECT count(*) FROM pos_events") == 2
    fixed = await send(client, "S1", [event("bad-qty", "sale", 1, ("TEE-S", 1))])
    assert fixed[0]["status"] == "applied"
    assert await on_hand(db_conn, "S1", "TEE-S") == 2
    await assert_conserved(db_conn)


async def test_batch_size_is_one_to_a_thousand(shop, client) -> None:
    too_many = [event(f"e{i}", "sale", 1, ("TEE-S", 1)) for i in range(1001)]
    r = await client.post("/v1/pos/S1/events", json={"events": too_many}, headers=ADMIN)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_failed"
    r = await client.post("/v1/pos/S1/events", json={"events": []}, headers=ADMIN)
    assert r.status_code == 422
    r = await client.post("/v1/pos/S1/events", json={"events": too_many[:1000]}, headers=ADMIN)
    assert r.status_code == 200
    assert len(r.json()["results"]) == 1000


async def test_who_may_send(shop, api: Api, client) -> None:
    body = {"events": [event("e1", "sale", 1, ("TEE-S", 1))]}
    own = await api.key("pos", "S1")
    for headers, status in [
        (own, 200),
        (ADMIN, 200),
        (await api.key("pos", "S2"), 403),
        (await api.key("associate", "S1"), 403),
        (await api.key("storefront"), 403),
        (await api.key("ads"), 403),
        ({"Authorization": "Bearer nope"}, 401),
        ({}, 401),
    ]:
        r = await client.post("/v1/pos/S1/events", json=body, headers=headers)
        assert r.status_code == status, (headers, r.text)
    r = await client.post("/v1/pos/NOWHERE/events", json=body, headers=ADMIN)
    assert r.status_code == 404
    r = await client.post("/v1/pos/NOWHERE/events", json=body, headers=own)
    assert r.status_code == 403


async def test_a_sale_older_than_the_latest_count_is_recorded_but_does_not_move_on_hand(shop, client, db_conn) -> None:
    await send(client, "S1", [event("c1", "count", 10, ("TEE-S", 7))])
    results = await send(
        client, "S1", [event("s-old", "sale", 5, ("TEE-S", 2)), event("s-new", "sale", 15, ("TEE-S", 1))]
    )
    assert [r["status"] for r in results] == ["applied", "applied"]
    assert await on_hand(db_conn, "S1", "TEE-S") == 6
    row = await db_conn.fetchrow("SELECT delta, note FROM inventory_ledger WHERE reference = 's-old'")
    assert row["delta"] == 0
    assert row["note"].startswith("before count at 2026-11-20T09:10:00")
    # An older count is recorded the same way and does not move on_hand either.
    await send(client, "S1", [event("c0", "count", 8, ("TEE-S", 100))])
    assert await on_hand(db_conn, "S1", "TEE-S") == 6
    await assert_conserved(db_conn)


async def test_a_late_count_keeps_the_sales_made_after_it(shop, client, db_conn) -> None:
    await send(client, "S1", [event("r1", "receipt", 0, ("TEE-S", 50))])
    # Sales at 09:20 and 09:30 arrive first; the 09:15 count arrives after them.
    await send(client, "S1", [event("s1", "sale", 20, ("TEE-S", 2)), event("s2", "sale", 30, ("TEE-S", 3))])
    assert await on_hand(db_conn, "S1", "TEE-S") == 45
    await send(client, "S1", [event("c1", "count", 15, ("TEE-S", 10)), event("s0", "sale", 12, ("TEE-S", 4))])
    assert await on_hand(db_conn, "S1", "TEE-S") == 10 - 2 - 3
    counted_at = await db_conn.fetchval("SELECT counted_at FROM inventory_levels WHERE sku = 'TEE-S'")
    assert counted_at == T0 + timedelta(minutes=15)
    # And events after the count keep applying normally.
    await send(client, "S1", [event("x1", "return", 40, ("TEE-S", 1))])
    assert await on_hand(db_conn, "S1", "TEE-S") == 6
    await assert_conserved(db_conn)


async def test_a_count_in_a_batch_rebases_the_later_lines_of_the_same_batch(shop, client, db_conn) -> None:
    await send(
        client,
        "S1",
        [
            event("s3", "sale", 30, ("TEE-S", 1)),
            event("c2", "count", 20, ("TEE-S", 9)),
            event("s1", "sale", 10, ("TEE-S", 5)),
            event("c1", "count", 5, ("TEE-S", 40)),
            event("r1", "receipt", 25, ("TEE-S", 3)),
        ],
    )
    assert await on_hand(db_conn, "S1", "TEE-S") == 9 - 1 + 3
    await assert_conserved(db_conn)
