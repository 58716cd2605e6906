"""Checkout-like write throughput with the event relay on and off.

    python benchmarks/event_feed.py postgresql://postgres@127.0.0.1:5432/postgres [--seconds 8] [--workers 16]

Creates a scratch database on that server, seeds stores x SKUs with plenty of stock, then runs
`reserve_lines` (two lines per transaction, random levels, each writing two ledger rows and two
`inventory.changed` outbox rows) from concurrent sessions for a fixed time, alternately without
and with the relay numbering events every 50 ms in the same process, as the service runs it.
Reports transactions per second, the relay's rounds, and how far behind the feed was at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from commerce.db import make_engine, make_sessionmaker, migrate
from commerce.events.relay import number_committed_events
from commerce.inventory import service
from commerce.inventory.rules import StockLine

STORES, SKUS = 20, 500


def _dsn(url: str, database: str) -> str:
    return make_url(url).set(drivername="postgresql", database=database).render_as_string(hide_password=False)


async def seed(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            f"""
            INSERT INTO stores (code, name, kind, latitude, longitude)
                SELECT 'S' || i, 'Store ' || i, 'store', 41.8, -87.6 FROM generate_series(1, {STORES}) i;
            INSERT INTO products (id, title) VALUES ('bench', 'Bench');
            INSERT INTO variants (sku, product_id, price_amount, currency)
                SELECT 'K' || i, 'bench', 1000, 'USD' FROM generate_series(1, {SKUS}) i;
            INSERT INTO inventory_levels (store_code, sku, on_hand)
                SELECT 'S' || s, 'K' || k, 1000000 FROM generate_series(1, {STORES}) s, generate_series(1, {SKUS}) k;
            ANALYZE;
            """
        )
    finally:
        await conn.close()


async def run(url: str, *, relay: bool, seconds: float, workers: int) -> dict[str, float]:
    engine = make_engine(url, pool_size=workers + 2, max_overflow=0)
    sessionmaker = make_sessionmaker(engine)
    done = 0
    stop = asyncio.Event()
    rounds: list[tuple[float, int]] = []

    async def checkout(rng: random.Random) -> None:
        nonlocal done
        while not stop.is_set():
            lines = [StockLine(f"S{rng.randint(1, STORES)}", f"K{rng.randint(1, SKUS)}", 1) for _ in range(2)]
            async with sessionmaker() as db, db.begin():
                await service.reserve_lines(db, lines, reference=uuid.uuid4().hex, source="bench")
            done += 1

    async def relay_loop() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            async with sessionmaker() as db, db.begin():
                numbered = await number_committed_events(db)
            rounds.append((time.perf_counter() - started, numbered))
            await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(checkout(random.Random(i))) for i in range(workers)]
    if relay:
        tasks.append(asyncio.create_task(relay_loop()))
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    async with engine.connect() as conn:
        from sqlalchemy import text

        backlog = (await conn.execute(text("SELECT count(*) FROM events WHERE seq IS NULL"))).scalar_one()
        if not relay:
            # Leave the next run a clean slate: number what this run wrote.
            async with sessionmaker() as db, db.begin():
                await number_committed_events(db, batch=10_000_000)
    await engine.dispose()
    result = {"tps": done / elapsed, "backlog_at_end": float(backlog)}
    if rounds:
        durations = sorted(d for d, _ in rounds)
        result |= {
            "relay_rounds": float(len(rounds)),
            "relay_round_ms_median": statistics.median(durations) * 1000,
            "relay_round_ms_p99": durations[int(len(durations) * 0.99) - 1] * 1000,
            "rows_per_round_mean": statistics.mean(n for _, n in rounds),
        }
    return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("server_url")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    name = f"bench_events_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(args.server_url, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(args.server_url).set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(migrate, url)
        await seed(_dsn(args.server_url, name))
        for _ in range(args.repeats):
            for relay in (False, True):
                result = await run(url, relay=relay, seconds=args.seconds, workers=args.workers)
                print(f"relay={'on ' if relay else 'off'}", " ".join(f"{k}={v:.1f}" for k, v in result.items()))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
