"""POS ingest throughput: sustained till lines per second through `POST /v1/pos/{store}/events`.

Creates a fresh database on a PostgreSQL server (`--server-url`, default the local server),
builds it with the migrations, seeds stores and a catalog, then runs the app in this process
over httpx.ASGITransport (the full HTTP stack: auth middleware, body decoding, validation, the
request transaction) with `--concurrency` workers, each a till of its own store sending
1,000-event batches of 1-3 lines (mostly sales, some returns, receipts and counts, with
occurred_at scattered over the past hours so late events and counts interleave; `--identified` of the
sales name one of 5,000 shoppers, `--by` loyalty id, email, phone or any of them). Prints lines/s
and p50/p99 batch latency, then drops the database.

    python benchmarks/pos_ingest.py --seconds 25
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from commerce.app import create_app
from commerce.db import migrate
from commerce.settings import Settings

ADMIN_TOKEN = "bench-admin-token"


def dsn(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


async def seed(url: str, stores: list[str], skus: list[str]) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(
            "INSERT INTO stores (code, name, kind, latitude, longitude) VALUES ($1, $1, 'store', 41.88, -87.63)",
            [(s,) for s in stores],
        )
        await conn.execute("INSERT INTO products (id, title) VALUES ('bench', 'Bench')")
        await conn.executemany(
            "INSERT INTO variants (sku, product_id, price_amount, currency) VALUES ($1, 'bench', 1999, 'USD')",
            [(s,) for s in skus],
        )
    finally:
        await conn.close()


async def server_cpu(url: str) -> dict[int, float]:
    """CPU seconds used so far by each server process of this database (the server must run on this machine)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return {row["pid"]: cpu for row in rows if (cpu := process_cpu(row["pid"])) is not None}


def process_cpu(pid: int) -> float | None:
    try:
        # /proc/PID/stat: utime and stime are fields 14 and 15, counted after the ")" of the name.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SHOPPERS = 5000  # distinct shoppers the identified sales name


def batch(
    rnd: random.Random, prefix: str, skus: list[str], now: datetime, identified: float = 0.3, by: str = "loyalty"
) -> tuple[list[dict[str, Any]], int]:
    events, lines = [], 0
    for i in range(1000):
        type_ = rnd.choices(["sale", "return", "receipt", "count"], weights=[85, 5, 5, 5])[0]
        chosen = rnd.sample(skus, rnd.randint(1, 3))
        event: dict[str, Any] = {
            "event_id": f"{prefix}-{i}",
            "type": type_,
            "occurred_at": (now - timedelta(seconds=rnd.randint(0, 6 * 3600))).isoformat(),
            "terminal_id": f"till-{rnd.randint(1, 8)}",
            "lines": [
                {
                    "sku": sku,
                    "quantity": rnd.randint(0, 40) if type_ == "count" else rnd.randint(1, 3),
                    "unit_price": {"amount": 1999, "currency": "USD"},
                }
                for sku in chosen
            ],
        }
        if type_ == "sale" and rnd.random() < identified:
            shopper = rnd.randint(1, SHOPPERS)
            way = rnd.choice(["loyalty", "email", "phone"]) if by == "mixed" else by
            if way == "loyalty":
                event["loyalty_id"] = f"L-{shopper}"
            elif way == "email":
                event["customer"] = {"email": f"Shopper{shopper}@Example.com"}
            else:
                event["customer"] = {"phone": f"+1 (312) 55{shopper:05d}"}
        events.append(event)
        lines += len(chosen)
    return events, lines


async def run(
    url: str, seconds: float, concurrency: int, skus: list[str], identified: float = 0.3, by: str = "loyalty"
) -> None:
    app = create_app(Settings(database_url=url, admin_token=ADMIN_TOKEN, background_workers=False, log_level="WARNING"))
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    # Bodies are made before the clock starts (the tills' work is not the server's): a few
    # templates whose event ids get a fresh batch prefix, so every batch is new events.
    rnd = random.Random(7)
    now = datetime.now(UTC)
    templates = []
    for _ in range(16):
        events, lines = batch(rnd, "@@BATCH@@", skus, now, identified, by)
        templates.append((msgspec.json.encode({"events": events}), lines))
    latencies: list[float] = []
    total_lines = 0
    statuses: dict[str, int] = {}
    result_type = dict[str, list[dict[str, Any]]]
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as client:

            async def till(worker: int, deadline: float) -> None:
                nonlocal total_lines
                n = 0
                while True:
                    body, lines = templates[(worker * 7 + n) % len(templates)]
                    body = body.replace(b"@@BATCH@@", f"w{worker}b{n}-{uuid.uuid4().hex[:6]}".encode())
                    n += 1
                    started = time.perf_counter()
                    r = await client.post(f"/v1/pos/S{worker}/events", content=body, headers=headers)
                    latencies.append(time.perf_counter() - started)
                    assert r.status_code == 200, r.text
                    for result in msgspec.json.decode(r.content, type=result_type)["results"]:
                        statuses[result["status"]] = statuses.get(result["status"], 0) + 1
                    total_lines += lines
                    if time.perf_counter() >= deadline:
                        return

            # Warm-up: one batch per till (connections, prepared statements), not measured.
            await asyncio.gather(*(till(w, 0) for w in range(concurrency)))
            latencies.clear()
            total_lines, statuses = 0, {}
            db_cpu_before, app_cpu_before = await server_cpu(url), time.process_time()
            started = time.perf_counter()
            await asyncio.gather(*(till(w, started + seconds) for w in range(concurrency)))
            elapsed = time.perf_counter() - started
            app_cpu = time.process_time() - app_cpu_before
            db_cpu = sum(t - db_cpu_before.get(pid, 0.0) for pid, t in (await server_cpu(url)).items())
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"batches: {len(latencies)}  lines: {total_lines}  seconds: {elapsed:.1f}  statuses: {statuses}")
    print(f"lines/s: {total_lines / elapsed:,.0f}  events/s: {len(latencies) * 1000 / elapsed:,.0f}")
    print(f"batch latency p50: {statistics.median(latencies) * 1000:.0f} ms  p99: {p99 * 1000:.0f} ms")
    # CPU per line does not depend on what else the machine runs: it says what a quiet machine could do.
    per_k = 1000 / total_lines
    print(
        f"CPU per 1,000 lines: app (client and server, one process) {app_cpu * per_k * 1000:.1f} ms, "
        f"PostgreSQL {db_cpu * per_k * 1000:.1f} ms; lines per CPU-second: {total_lines / (app_cpu + db_cpu):,.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server-url", default=os.environ.get("BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--seconds", type=float, default=25)
    parser.add_argument("--concurrency", type=int, default=2, help="tills sending at once, one store each")
    parser.add_argument("--skus", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--identified", type=float, default=0.3, help="share of sales naming their shopper")
    parser.add_argument(
        "--by",
        choices=["loyalty", "email", "phone", "mixed"],
        default="loyalty",
        help="how an identified sale names its shopper: top-level loyalty_id, customer.email, customer.phone, any",
    )
    parser.add_argument(
        "--skip-profile-refresh",
        action="store_true",
        help="measurement only: the batch does not refresh its customers' profiles and segments",
    )
    args = parser.parse_args()

    name = f"pos_bench_{uuid.uuid4().hex[:8]}"
    admin = dsn(args.server_url)

    async def create() -> None:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    asyncio.run(create())
    url = dsn(args.server_url, name)
    try:
        migrate(url)
        skus = [f"SKU-{i:05d}" for i in range(args.skus)]
        asyncio.run(seed(url, [f"S{w}" for w in range(args.concurrency)], skus))
        print(f"database {name}: {args.concurrency} stores, {args.skus} SKUs; in-process app over ASGITransport")
        if args.skip_profile_refresh:
            from commerce.segments import service as segments

            async def no_refresh(*_: Any) -> None:
                return None

            segments.refresh_customers = no_refresh  # type: ignore[assignment]
        print(f"identified sales: {args.identified:.0%} by {args.by}; profile refresh: {not args.skip_profile_refresh}")
        asyncio.run(run(url, args.seconds, args.concurrency, skus, args.identified, args.by))
    finally:
        if not args.keep:
            with suppress(Exception):
                asyncio.run(drop())


if __name__ == "__main__":
    main()
