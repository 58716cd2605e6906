"""Orders imported from other systems: exactly once per (source, external_id), prices as charged,
stock reserved as far as it goes with the rest backordered, the customer matched or created."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ADMIN, Api
from tests.stock import assert_conserved, stock


def line(
    sku: str, qty: int, store: str = "LOOP", kind: str = "ship", price: int = 5000, **extra: Any
) -> dict[str, Any]:
    return {
        "sku": sku,
        "quantity": qty,
        "unit_price": {"amount": price, "currency": "USD"},
        "fulfillment": {"type": kind, "store": store},
        **extra,
    }


def body(external_id: str, *lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "source": "shopify",
        "external_id": external_id,
        "channel": "web",
        "placed_at": (datetime.now(UTC) - timedelta(minutes=3)).isoformat(),
        "currency": "USD",
        "lines": list(lines),
        **extra,
    }


async def level(db_conn: asyncpg.Connection, store: str, sku: str) -> tuple[int, int]:
    row = await db_conn.fetchrow(
        "SELECT on_hand, reserved FROM inventory_levels WHERE store_code = $1 AND sku = $2", store, sku
    )
    return (row["on_hand"], row["reserved"]) if row else (0, 0)


async def counts(db_conn: asyncpg.Connection) -> dict[str, int]:
    row = await db_conn.fetchrow(
        "SELECT (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM order_lines) AS lines,"
        " (SELECT count(*) FROM reservations) AS reservations, (SELECT count(*) FROM inventory_ledger) AS ledger,"
        " (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM events) AS events"
    )
    return dict(row)


@pytest.fixture
async def shop(api: Api, app: Any) -> dict[str, dict[str, str]]:
    await api.store("LOOP", 41.8827, -87.6278, pickup=True, pickup_lead_minutes=30)
    await api.store("WH", 42.0, -87.9, kind="warehouse", pickup=False)
    await api.product("jacket", ["JKT-M", "JKT-L"], price=8900)
    await api.product("cap", ["CAP"], price=2500)
    await stock(app, [("LOOP", "JKT-M", 5), ("LOOP", "JKT-L", 1), ("WH", "JKT-M", 10), ("WH", "CAP", 3)])
    return {"integration": await api.key("integration"), "admin": ADMIN}


async def test_import_reserves_at_the_named_locations_with_the_prices_charged(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection
) -> None:
    r = await client.post(
        "/v1/orders/import",
        json=body(
            "1001",
            line("JKT-M", 2, "LOOP", "pickup", price=7000, discount={"amount": 1000, "currency": "USD"}),
            line("CAP", 1, "WH", "ship", price=1999),
        ),
        headers=shop["integration"],
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["source"] == "shopify" and order["external_id"] == "1001"
    assert order["status"] == "placed"
    assert [(x["sku"], x["location"], x["backordered"]) for x in order["lines"]] == [
        ("JKT-M", "LOOP", 0),
        ("CAP", "WH", 0),
    ]
    assert order["lines"][0]["line_total"] == {"amount": 13000, "currency": "USD"}
    assert order["totals"] == {
        "subtotal": {"amount": 15999, "currency": "USD"},
        "discount_total": {"amount": 1000, "currency": "USD"},
        "total": {"amount": 14999, "currency": "USD"},
    }
    assert order["pickup"]["store"] == "LOOP"
    assert await level(db_conn, "LOOP", "JKT-M") == (5, 2)
    assert await level(db_conn, "WH", "CAP") == (3, 1)
    await assert_conserved(db_conn)

    r = await client.get(f"/v1/orders/{order['id']}", headers=shop["integration"])
    assert r.status_code == 200 and r.json() == order
