"""Each till sale's and return's value, stored when it is ingested and backfilled by its migration."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from alembic.script import ScriptDirectory

from commerce.db import alembic_config, migrate
from tests.conftest import ADMIN, Api, _asyncpg_dsn, new_database

AT = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0).isoformat()


def line(sku: str, quantity: int, price: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"sku": sku, "quantity": quantity}
    if price is not None:
        out["unit_price"] = {"amount": price, "currency": "EUR"}
    return out


def event(event_id: str, type_: str, *lines: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": event_id, "type": type_, "occurred_at": AT, "loyalty_id": "L-ANN", "lines": list(lines)}


# (event, stored total_minor, stored currency): a return's value is negative; a line without a price, a
# count or a receipt leaves the value unknown.
CASES = [
    (event("sale", "sale", line("TEE-S", 2, 1_250), line("TEE-M", 1, 999)), 3_499, "EUR"),
    (event("return", "return", line("TEE-S", 1, 1_250)), -1_250, "EUR"),
    (event("unpriced", "sale", line("TEE-S", 1, 1_250), line("TEE-M", 1)), None, None),
    (event("count", "count", line("TEE-S", 10)), None, None),
    (event("receipt", "receipt", line("TEE-M", 5, 400)), None, None),
]


async def stored(conn: Any) -> dict[str, tuple[int | None, str | None]]:
    rows = await conn.fetch("SELECT event_id, total_minor, currency FROM pos_events")
    return {r["event_id"]: (r["total_minor"], r["currency"]) for r in rows}


async def test_ingest_stores_each_sale_and_return_value(client: httpx.AsyncClient, api: Api, db_conn: Any) -> None:
    await api.store("S1")
    await api.product("tee", ["TEE-S", "TEE-M"])
    r = await client.post("/v1/pos/S1/events", json={"events": [e for e, _, _ in CASES]}, headers=ADMIN)
    assert r.status_code == 200 and {x["status"] for x in r.json()["results"]} == {"applied"}, r.text
    assert await stored(db_conn) == {e["event_id"]: (total, currency) for e, total, currency in CASES}
    # The same insert links each sale and return to the customer it names (a count or receipt to none).
    ann = await db_conn.fetchval("SELECT id FROM customers WHERE loyalty_id = 'L-ANN'")
    linked = await db_conn.fetch("SELECT event_id, customer_id FROM pos_events")
    assert ann is not None
    assert {r["event_id"]: r["customer_id"] for r in linked} == {
        "sale": ann,
        "return": ann,
        "unpriced": ann,
        "count": None,
        "receipt": None,
    }


@pytest.fixture
def fresh_database(server_url: str) -> Iterator[str]:
    with new_database(server_url, "commerce_migration") as url:
        yield url


def test_the_migration_values_the_events_recorded_before_it(fresh_database: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(fresh_database))
    before = script.get_revision("0020").down_revision
    assert isinstance(before, str)
    migrate(fresh_database, before)

    async def record() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(fresh_database))
        try:
            await conn.execute(
                "INSERT INTO stores (code, name, kind, latitude, longitude) VALUES ('S1', 'S1', 'store', 0, 0)"
            )
            for e, _, _ in CASES:
                # As ingest wrote them before values were stored: a line without a price has a null one.
                lines = [
                    {"sku": x["sku"], "quantity": x["quantity"], "unit_price": x.get("unit_price")} for x in e["lines"]
                ]
                await conn.execute(
                    "INSERT INTO pos_events (store_code, event_id, type, occurred_at, loyalty_id, lines) "
                    "VALUES ('S1', $1, $2, $3, 'L-ANN', $4::jsonb)",
                    e["event_id"],
                    e["type"],
                    datetime.fromisoformat(e["occurred_at"]),
                    json.dumps(lines),
                )
        finally:
            await conn.close()

    async def read() -> dict[str, tuple[int | None, str | None]]:
        conn = await asyncpg.connect(_asyncpg_dsn(fresh_database))
        try:
            return await stored(conn)
        finally:
            await conn.close()

    asyncio.run(record())
    migrate(fresh_database, "0020")
    assert asyncio.run(read()) == {e["event_id"]: (total, currency) for e, total, currency in CASES}
