"""Order import throughput: orders per second through `POST /v1/orders/import`.

Creates a fresh database on a PostgreSQL server (`--server-url`, default the local server), builds
it with the migrations, seeds stores, a catalog and stock, then runs the app in this process over
httpx.ASGITransport (the full HTTP stack) with `--concurrency` clients, each importing orders of
1-4 lines (ship from one of the stores, a quarter picked up there, a third with a customer email
drawn from a pool so customers are both matched and created). Stock is scarce enough that some
lines are backordered. Then every order is imported once more (a redelivery: 200, nothing
written). Prints orders/s and p50/p99 latency for both phases, checks conservation and the
backorder accounting, then drops the database.

    python benchmarks/order_import.py --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pos_ingest import dsn
from commerce.app import create_app
from commerce.db import migrate
from commerce.settings import Settings

ADMIN_TOKEN = "bench-admin-token"
STORES = [f"S{i}" for i in range(8)]


async def seed(url: str, skus: list[str], units: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(
            "INSERT INTO stores (code, name, kind, latitude, longitude, pickup_enabled)"
            " VALUES ($1, $1, 'store', 41.88, -87.63, true)",
            [(s,) for s in STORES],
        )
        await conn.execute("INSERT INTO products (id, title) VALUES ('bench', 'Bench')")
        await conn.executemany(
            "INSERT INTO variants (sku, product_id, price_amount, currency) VALUES ($1, 'bench', 1999, 'USD')",
            [(s,) for s in skus],
        )
        # Levels and their ledger together, so conservation holds from the start.
        await conn.execute(
            "INSERT INTO inventory_levels (store_code, sku, on_hand)"
            " SELECT s, k, $3 FROM unnest($1::varchar[]) s, unnest($2::varchar[]) k",
            STORES,
            skus,
            units,
        )
        await conn.execute(
            "INSERT INTO inventory_ledger (store_code, sku, delta, reserved_delta, reason, source,"
            " on_hand_after, reserved_after) SELECT store_code, sku, on_hand, 0, 'receipt', 'bench', on_hand, 0"
            " FROM inventory_levels"
        )
    finally:
        await conn.close()


def order(rnd: random.Random, n: int, skus: list[str]) -> bytes:
    store = rnd.choice(STORES)
    kind = "pickup" if rnd.random() < 0.25 else "ship"
    body: dict[str, Any] = {
        "source": "bench",
        "external_id": f"{n}-{uuid.uuid4().hex[:8]}",
        "channel": "web",
        "placed_at": datetime.now(UTC).isoformat(),
        "currency": "USD",
        "lines": [
            {
                "sku": sku,
                "quantity": rnd.randint(1, 3),
                "unit_price": {"amount": 1999, "currency": "USD"},
                "fulfillment": {"type": kind, "store": store},
            }
            for sku in rnd.sample(skus, rnd.randint(1, 4))
        ],
    }
    if rnd.random() < 0.33:
        body["customer"] = {"email": f"shopper{rnd.randint(1, 2000)}@example.com"}
    return msgspec.json.encode(body)


def summary(label: str, latencies: list[float], count: int, elapsed: float) -> None:
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"{label}: {count} in {elapsed:.1f} s = {count / elapsed:,.0f}/s;"
        f" p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    )


async def run(url: str, seconds: float, concurrency: int, skus: list[str]) -> None:
    app = create_app(Settings(database_url=url, admin_token=ADMIN_TOKEN, background_workers=False, log_level="WARNING"))
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    rnd = random.Random(11)
    sent: list[bytes] = []
    latencies: list[float] = []
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as client:

            async def post(body: bytes, expected: int) -> None:
                started = time.perf_counter()
                r = await client.post("/v1/orders/import", content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                assert r.status_code == expected, r.text

            async def importer(deadline: float) -> None:
                while time.perf_counter() < deadline:
                    body = order(rnd, len(sent), skus)
                    sent.append(body)
                    await post(body, 201)

            for _ in range(concurrency):  # warm-up: connections and statements, not measured
                await post(order(rnd, -1, skus), 201)
            latencies.clear()
            started = time.perf_counter()
            await asyncio.gather(*(importer(started + seconds) for _ in range(concurrency)))
            summary("first imports", latencies, len(sent), time.perf_counter() - started)

            latencies.clear()
            queue = list(sent)
            started = time.perf_counter()

            async def replayer() -> None:
                while queue:
                    await post(queue.pop(), 200)

            await asyncio.gather(*(replayer() for _ in range(concurrency)))
            summary("repeats (200)", latencies, len(sent), time.perf_counter() - started)

    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM orders) AS orders, (SELECT sum(quantity) FROM order_lines) AS units,"
            " (SELECT sum(backordered) FROM order_lines) AS backordered,"
            " (SELECT sum(quantity) FROM reservations WHERE status = 'active') AS held,"
            " (SELECT sum(reserved) FROM inventory_levels) AS reserved,"
            " (SELECT count(*) FROM inventory_levels WHERE on_hand - reserved < 0) AS oversold,"
            " (SELECT count(*) FROM events WHERE type = 'order.backordered') AS backorder_events"
        )
        print(dict(row))
        assert row["units"] == row["backordered"] + row["held"] and row["held"] == row["reserved"]
        assert row["oversold"] == 0
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server-url", default=os.environ.get("BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=8, help="clients importing at once")
    parser.add_argument("--skus", type=int, default=300)
    parser.add_argument("--units", type=int, default=3, help="on_hand of every level at the start")
    args = parser.parse_args()

    name = f"import_bench_{uuid.uuid4().hex[:8]}"
    admin = dsn(args.server_url)

    async def admin_sql(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    url = dsn(args.server_url, name)
    try:
        migrate(url)
        skus = [f"SKU-{i:05d}" for i in range(args.skus)]
        asyncio.run(seed(url, skus, args.units))
        print(f"database {name}: {len(STORES)} stores, {args.skus} SKUs, {args.units} units each; in-process app")
        asyncio.run(run(url, args.seconds, args.concurrency, skus))
    finally:
        with suppress(Exception):
            asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
