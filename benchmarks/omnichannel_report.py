"""The omnichannel report and the offline-conversion export on a year of data.

Creates a fresh database on a PostgreSQL server (`--server-url`, default the local server), builds it
with the migrations, and fills it with set-based SQL (generate_series): `--orders` orders over the last
365 days (web, mobile and in-store; 40% picked up, of those most collected, some expired or cancelled),
till sales adding up to `--pos-lines` lines (1-4 lines a sale, 60% with a loyalty id), `--customers`
customers (70% consenting) and `--clicks` ad clicks of both networks over 20 campaigns. Then it times

- each statement of `GET /v1/reports/omnichannel` (one per figure) and the whole report, for the last
  30 days and for the whole year, each run `--repeat` times (the best and the median are printed);
- the offline-conversion export (`ndjson`, google) for the last 30 days, streamed from the server-side
  cursor: rows/s and the peak RSS growth of this process while streaming.

Prints a Markdown block for benchmarks/RESULTS.md, then drops the database (unless `--keep`).

    python benchmarks/omnichannel_report.py                       # 1M orders, 5M POS lines
    python benchmarks/omnichannel_report.py --orders 200000 --pos-lines 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pos_ingest import dsn
from commerce.ads import reports
from commerce.ads.exports import PLANNER_SETTINGS, stream_conversions
from commerce.db import make_engine, make_sessionmaker, migrate
from commerce.settings import Settings

STORES = 50
SKUS = 2_000
CAMPAIGNS = 20

SEED = [
    "SELECT setseed(0.17)",
    """
    INSERT INTO stores (code, name, kind, latitude, longitude, pickup_enabled)
    SELECT format('S%s', lpad(i::text, 3, '0')), format('Store %s', i), 'store', 41.8, -87.6, true
    FROM generate_series(1, $stores) i
    """,
    "INSERT INTO products (id, title) VALUES ('bench', 'Bench')",
    """
    INSERT INTO variants (sku, product_id, position, price_amount, currency)
    SELECT format('SKU%s', lpad(s::text, 5, '0')), 'bench', s, 500 + (s * 37) % 9500, 'USD'
    FROM generate_series(1, $skus) s
    """,
    """
    INSERT INTO customers (id, email, phone, loyalty_id, email_consent, sms_consent)
    SELECT gen_random_uuid(), format('shopper%s@example.com', i), '+1312' || (2000000 + i), format('L%s', i),
           random() < 0.7, random() < 0.5
    FROM generate_series(1, $customers) i
    """,
    # A year of orders in the order they were placed: 70% web, 20% mobile, 10% in store; 80% with a customer;
    # 40% picked up.
    """
    CREATE TEMP TABLE bench_customers AS
    SELECT row_number() OVER () AS n, id FROM customers
    """,
    """
    INSERT INTO orders (id, customer_id, channel, status, currency, subtotal, discount_total, total,
                        pickup_store, hold_until, created_at, updated_at, placed_at)
    SELECT gen_random_uuid(), CASE WHEN r1 < 0.8 THEN c.id END,
           CASE WHEN r2 < 0.7 THEN 'web' WHEN r2 < 0.9 THEN 'mobile' ELSE 'store' END,
           CASE WHEN NOT pickup THEN 'shipped'
                WHEN r3 < 0.82 THEN 'collected' WHEN r3 < 0.9 THEN 'expired' WHEN r3 < 0.95 THEN 'cancelled'
                ELSE 'placed' END,
           'USD', amount, 0, amount,
           CASE WHEN pickup THEN format('S%s', lpad((1 + i % $stores)::text, 3, '0')) END,
           CASE WHEN pickup THEN at + interval '2 days' END,
           at, at + (r3 * interval '40 hours'), at
    FROM (
        SELECT i, random() AS r1, random() AS r2, random() AS r3, random() < 0.4 AS pickup,
               1000 + floor(random() * 20000)::bigint AS amount,
               now() - interval '365 days' + (i + random()) * (interval '365 days' / $orders) AS at,
               1 + floor(random() * $customers)::bigint AS cn
        FROM generate_series(1, $orders) i
    ) o
    JOIN bench_customers c ON c.n = o.cn
    ORDER BY o.at
    """,
    """
    INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price, discount, line_total, fulfillment,
                             location)
    SELECT id, 1, format('SKU%s', lpad((1 + abs(hashtext(id::text)) % $skus)::text, 5, '0')), 1, total, 0, total,
           CASE WHEN pickup_store IS NULL THEN 'ship' ELSE 'pickup' END, coalesce(pickup_store, 'S001')
    FROM orders
    """,
    # Till sales: 1-4 lines each (2.5 on average), 60% with a loyalty id and linked to its customer, each with
    # its value as ingest stores them; like orders, written in the order they happened, as tills send them (so
    # a period's rows sit together on disk, as in production).
    """
    INSERT INTO pos_events (store_code, event_id, type, occurred_at, loyalty_id, customer_id, lines, total_minor,
                            currency)
    SELECT format('S%s', lpad((1 + e % $stores)::text, 3, '0')), 'e' || e, 'sale',
           now() - interval '365 days' + (e + random()) * (interval '365 days' / $sales),
           s.loyalty_id, (SELECT c.id FROM customers c WHERE c.loyalty_id = s.loyalty_id), x.lines, x.total, 'USD'
    FROM (
        -- OFFSET 0: each sale's loyalty id drawn once, then looked up.
        SELECT e, CASE WHEN random() < 0.6 THEN 'L' || (1 + floor(random() * $customers)::bigint) END AS loyalty_id
        FROM generate_series(1, $sales) e
        OFFSET 0
    ) s
    CROSS JOIN LATERAL (
        SELECT jsonb_agg(jsonb_build_object(
                   'sku', format('SKU%s', lpad((1 + (e * 7 + l * 13) % $skus)::text, 5, '0')),
                   'quantity', 1 + (e + l) % 3,
                   'unit_price', jsonb_build_object('amount', 500 + ((e + l) * 37) % 9500, 'currency', 'USD'))) AS lines,
               sum((1 + (e + l) % 3) * (500 + ((e + l) * 37) % 9500)) AS total
        FROM generate_series(1, 1 + e % 4) l
    ) x
    """,
    """
    INSERT INTO ad_clicks (network, click_id, click_id_type, clicked_at, campaign, customer_id)
    SELECT CASE WHEN k % 3 = 0 THEN 'meta' ELSE 'google' END,
           CASE WHEN k % 3 = 0 THEN 'IwAR-bench-' ELSE 'Cj0KCQiA-bench-' END || k,
           CASE WHEN k % 3 = 0 THEN 'fbclid' ELSE 'gclid' END,
           now() - random() * interval '365 days', format('campaign-%s', 1 + k % $campaigns), c.id
    FROM generate_series(1, $clicks) k
    JOIN bench_customers c ON c.n = 1 + (k::bigint * 7919) % $customers
    """,
    # What autovacuum does to these insert-only tables in production: statistics and the visibility map
    # (index-only scans read the index alone on all-visible pages).
    "VACUUM (ANALYZE)",
]


def sql(statement: str, values: dict[str, int]) -> str:
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        statement = statement.replace(f"${name}", str(value))
    return statement


async def seed(url: str, values: dict[str, int]) -> list[tuple[str, float]]:
    timings = []
    conn = await asyncpg.connect(url)
    try:
        for statement in SEED:
            started = time.perf_counter()
            await conn.execute(sql(statement, values))
            timings.append((" ".join(statement.split())[:60], time.perf_counter() - started))
            print(f"  {timings[-1][1]:7.1f} s  {timings[-1][0]}", flush=True)
    finally:
        await conn.close()
    return timings


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


FIGURES = {
    "influenced store revenue (by network, campaign)": (reports._INFLUENCED, True),
    "pickup orders and no-show rate": (reports._PICKUP, False),
    "online orders picked up in store": (reports._ONLINE_PICKED_UP, False),
    "store purchases by online buyers": (reports._STORE_BY_ONLINE_BUYERS, False),
}


async def measure(url: str, repeat: int) -> tuple[list[tuple[str, str, float, float]], dict[str, Any]]:
    settings = Settings(database_url=url)
    engine = make_engine(url, pool_size=2, max_overflow=0)
    sessionmaker = make_sessionmaker(engine)
    until = datetime.now(UTC) + timedelta(minutes=1)
    rows: list[tuple[str, str, float, float]] = []
    try:
        for label, since in (("30 days", until - timedelta(days=30)), ("365 days", until - timedelta(days=366))):
            period: dict[str, Any] = {"since": since, "until": until}
            params = {
                "in_store": list(reports.IN_STORE_CHANNELS),
                "google_window": timedelta(days=90),
                "meta_window": timedelta(days=28),
            }
            for name, (statement, _) in FIGURES.items():
                times = []
                for _ in range(repeat):
                    async with sessionmaker() as db, db.begin():
                        for setting in (*PLANNER_SETTINGS, *reports.REPORT_SETTINGS):
                            await db.execute(text(setting))
                        started = time.perf_counter()
                        await db.execute(statement, period | params)
                        times.append(time.perf_counter() - started)
                rows.append((label, name, min(times), statistics.median(times)))
                print(f"  {label:8} {name:50} best {min(times) * 1000:8.0f} ms", flush=True)
            times = []
            for _ in range(repeat):
                async with sessionmaker() as db:
                    started = time.perf_counter()
                    await reports.omnichannel_report(db, since, until, google_window_days=90, meta_window_days=28)
                    times.append(time.perf_counter() - started)
            rows.append((label, "whole report (4 statements)", min(times), statistics.median(times)))
            print(f"  {label:8} whole report best {min(times) * 1000:8.0f} ms", flush=True)

        gc.collect()
        baseline = peak = rss()
        started = time.perf_counter()
        count = size = 0
        async for chunk in stream_conversions(
            engine, settings, network="google", fmt="ndjson", since=until - timedelta(days=30), until=until
        ):
            count += chunk.count(b"\n")
            size += len(chunk)
            peak = max(peak, rss())
        elapsed = time.perf_counter() - started
        export = {"rows": count, "mib": size / 2**20, "seconds": elapsed, "rss_growth_mib": (peak - baseline) / 2**20}
        print(f"  export: {export}", flush=True)
    finally:
        await engine.dispose()
    return rows, export


async def counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {
            "orders": await conn.fetchval("SELECT count(*) FROM orders"),
            "pos sales": await conn.fetchval("SELECT count(*) FROM pos_events"),
            "pos lines": await conn.fetchval("SELECT sum(jsonb_array_length(lines)) FROM pos_events"),
            "customers": await conn.fetchval("SELECT count(*) FROM customers"),
            "ad clicks": await conn.fetchval("SELECT count(*) FROM ad_clicks"),
        }
    finally:
        await conn.close()


async def admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server-url", default=os.environ.get("BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--pos-lines", type=int, default=5_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--clicks", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument("--reuse", metavar="DATABASE", help="measure a database kept by an earlier run")
    parser.add_argument("--database", help="the name of the database to create (default: a new random name)")
    args = parser.parse_args()

    name = args.reuse or args.database or f"bench_omnichannel_{uuid.uuid4().hex[:8]}"
    if not args.reuse:
        asyncio.run(admin(dsn(args.server_url), f'CREATE DATABASE "{name}"'))
    url = dsn(args.server_url, name)
    seeded = 0.0
    try:
        migrate(url)
        values = {
            "stores": STORES,
            "skus": SKUS,
            "customers": args.customers,
            "orders": args.orders,
            "sales": args.pos_lines * 2 // 5,  # 2.5 lines a sale on average
            "clicks": args.clicks,
            "campaigns": CAMPAIGNS,
        }
        if not args.reuse:
            print(f"seeding {name}", flush=True)
            started = time.perf_counter()
            asyncio.run(seed(url, values))
            seeded = time.perf_counter() - started
        sizes = asyncio.run(counts(url))
        print(f"seeded in {seeded:.0f} s: {sizes}", flush=True)
        rows, export = asyncio.run(measure(url, args.repeat))
    finally:
        if not (args.keep or args.reuse):
            asyncio.run(admin(dsn(args.server_url), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"kept database {name}")

    print()
    print(
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}; PostgreSQL on the same machine."
    )
    print(
        "Data: "
        + ", ".join(f"{v:,} {k}" for k, v in sizes.items())
        + f" over 365 days; {STORES} stores; seeded with set-based SQL in {seeded:.0f} s."
    )
    print()
    print("| period | figure (one SQL statement each) | best ms | median ms |")
    print("|---|---|---|---|")
    for label, figure, best, median in rows:
        print(f"| {label} | {figure} | {best * 1000:.0f} | {median * 1000:.0f} |")
    print()
    print(
        f"Offline-conversion export (google, ndjson, last 30 days): {export['rows']:,} rows, {export['mib']:.1f} MiB "
        f"in {export['seconds']:.1f} s ({export['rows'] / max(export['seconds'], 1e-9):,.0f} rows/s), "
        f"peak RSS growth while streaming {export['rss_growth_mib']:.1f} MiB."
    )


if __name__ == "__main__":
    main()
