"""Cart pricing with 1,000 active promotions and 50 segments, against the same cart with none.

    python -m benchmarks.pricing_segments [--server-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--rounds 1500] [--repeats 3] [--database NAME] [--no-write]

Makes a database of its own on the server (dropped afterwards), applies the migrations and seeds a
catalog of 2,000 SKUs in 20 categories and a customer whose 5-line cart is priced. "None": no
promotions and no segments. "Promotions": 1,000 active promotions (850 on a few SKUs each, 100 on a
category, 50 on everything or a category). "Loaded": the same, but those 50 each target one of 50
segments, and the customer is in 10 of them. All are timed in-process, in alternating blocks so
drift hits them alike: the pricing service call
(`carts.pricing.price_lines` in its own transaction) and the whole `GET /v1/carts/{id}` request
through the ASGI app. Writes its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import random
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from commerce.app import create_app
from commerce.carts.pricing import cart_head, price_lines
from commerce.db import migrate
from commerce.settings import Settings

HERE = Path(__file__).parent
TOKEN = "bench-pricing-admin-token"
SKUS = 2_000
CATEGORIES = 20
SEGMENTS = 50
# "none": no promotions, no segments; "promotions": 1,000 promotions, none targeted; "loaded": the same
# 1,000 with 50 of them targeting segments, and the customer in 10 of the 50 segments.
SCENARIOS = ("none", "promotions", "loaded")
MARK_START, MARK_END = "<!-- pricing-segments:start -->", "<!-- pricing-segments:end -->"


def _dsn(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


async def seed_catalog(conn: asyncpg.Connection) -> tuple[uuid.UUID, str]:
    """The catalog, one store with stock, a customer and its 5-line cart; returns (customer, cart)."""
    await conn.execute(
        "INSERT INTO stores (code, name, kind, latitude, longitude, pickup_enabled)"
        " VALUES ('LOOP', 'Loop', 'store', 41.88, -87.63, true)"
    )
    await conn.execute(
        "INSERT INTO products (id, title, category) SELECT 'p' || i, 'Product ' || i, 'cat' || (i % $1)"
        " FROM generate_series(0, $2 - 1) i",
        CATEGORIES,
        SKUS,
    )
    await conn.execute(
        "INSERT INTO variants (sku, product_id, title, price_amount, currency)"
        " SELECT 'SKU' || i, 'p' || i, 'Variant ' || i, 1000 + i, 'USD' FROM generate_series(0, $1 - 1) i",
        SKUS,
    )
    customer = uuid.uuid4()
    await conn.execute("INSERT INTO customers (id, email) VALUES ($1, 'bench@example.com')", customer)
    cart = "bench-cart-" + uuid.uuid4().hex
    await conn.execute("INSERT INTO carts (id, channel, customer_id) VALUES ($1, 'web', $2)", cart, customer)
    for i in (3, 17, 250, 999, 1_500):
        await conn.execute(
            "INSERT INTO cart_lines (cart_id, sku, pickup_store, quantity) VALUES ($1, $2, 'LOOP', 1)", cart, f"SKU{i}"
        )
    return customer, cart


async def load_promotions(conn: asyncpg.Connection, customer: uuid.UUID, *, segmented: bool = True) -> None:
    """1,000 active promotions; with `segmented`, 50 of them target one segment each and the customer is in
    10 segments, otherwise those 50 target everyone. Plain SQL: the trigger on promotions moves
    promotions_version, so the service reloads its live promotions at its next pricing."""
    rng = random.Random(7)
    if segmented:
        await conn.executemany(
            "INSERT INTO segments (id, title, rules, status) VALUES ($1, $1, '[]', 'ready')",
            [(f"seg{i}",) for i in range(SEGMENTS)],
        )
        await conn.executemany(
            "INSERT INTO segment_members (segment_id, customer_id) VALUES ($1, $2)",
            [(f"seg{i}", customer) for i in range(0, SEGMENTS, 5)],
        )
    rows: list[tuple[Any, ...]] = []
    for i in range(1_000):
        skus = categories = segments = None
        if i < 850:
            skus = [f"SKU{rng.randrange(SKUS)}" for _ in range(rng.randint(1, 5))]
        elif i < 950:
            categories = [f"cat{rng.randrange(CATEGORIES)}"]
        else:
            segments = [f"seg{i - 950}"] if segmented else None
            categories = [f"cat{rng.randrange(CATEGORIES)}"] if i % 2 else None
        rows.append((f"promo{i}", rng.randint(5, 40), skus, categories, segments, rng.randint(0, 3)))
    await conn.executemany(
        "INSERT INTO promotions (id, title, kind, value, skus, categories, segments, priority)"
        " VALUES ($1, $1, 'percent_off', $2, $3, $4, $5, $6)",
        rows,
    )
    await conn.execute("ANALYZE promotions; ANALYZE segment_members")


async def clear_promotions(conn: asyncpg.Connection) -> None:
    await conn.execute("TRUNCATE promotions, segments CASCADE")
    await conn.execute("ANALYZE promotions; ANALYZE segment_members")


async def time_block(
    app: Any, client: httpx.AsyncClient, cart: str, rounds: int
) -> tuple[list[float], list[float], list[float]]:
    """Per-call seconds: the pricing service call (wall, and this process's CPU), and the GET request."""
    service: list[float] = []
    cpu: list[float] = []
    request: list[float] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        async with app.state.sessionmaker() as db, db.begin():
            await price_lines(db, await cart_head(db, cart), now=datetime.now(UTC))
        service.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        t0 = time.perf_counter()
        r = await client.get(f"/v1/carts/{cart}", headers=headers)
        request.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
    return service, cpu, request


async def run(server_url: str, rounds: int, repeats: int, database: str | None = None) -> dict[str, Any]:
    name = database or f"bench_pricing_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(server_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(migrate, url)
        conn = await asyncpg.connect(_dsn(server_url, name))
        customer, cart = await seed_catalog(conn)
        settings = Settings(database_url=url, admin_token=TOKEN, background_workers=False, log_level="WARNING")
        app = create_app(settings)
        timings: dict[str, tuple[list[float], list[float], list[float]]] = {name: ([], [], []) for name in SCENARIOS}
        discounted = 0
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                for _ in range(repeats):
                    for scenario in SCENARIOS:
                        if scenario != "none":
                            await load_promotions(conn, customer, segmented=scenario == "loaded")
                        await time_block(app, client, cart, 100)  # warm-up: plans, caches
                        gc.collect()
                        for i, values in enumerate(await time_block(app, client, cart, rounds)):
                            timings[scenario][i].extend(values)
                        if scenario != "none":
                            body = (
                                await client.get(f"/v1/carts/{cart}", headers={"Authorization": f"Bearer {TOKEN}"})
                            ).json()
                            if scenario == "loaded":
                                discounted = sum(1 for line in body["lines"] if line["promotion_id"])
                            await clear_promotions(conn)
        await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    def ms(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1] * 1_000 if q != 50 else statistics.median(values) * 1e3

    out: dict[str, Any] = {"rounds": rounds * repeats, "discounted_lines": discounted}
    for kind, i in (("service", 0), ("cpu", 1), ("request", 2)):
        none, plain, loaded = (timings[name][i] for name in SCENARIOS)
        out[kind] = {
            "none_p50": ms(none, 50),
            "plain_p50": ms(plain, 50),
            "loaded_p50": ms(loaded, 50),
            "loaded_p90": ms(loaded, 90),
            "ratio": statistics.median(loaded) / statistics.median(none),
            "segments_ratio": statistics.median(loaded) / statistics.median(plain),
        }
    return out


def machine() -> str:
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = 0.0
    return f"{platform.node() or 'host'}: {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def write(result: dict[str, Any], path: Path) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        MARK_START,
        "## Cart pricing with 1,000 active promotions and 50 segments",
        "",
        f"Run {when} with `python -m benchmarks.pricing_segments` on {machine()}; PostgreSQL on the same machine.",
        f'{result["rounds"]} timed calls per scenario, in alternating blocks. A 5-line cart of a customer; "none": no',
        'promotions and no segments; "1,000": 1,000 active promotions (850 on SKUs, 100 on categories, 50 on',
        'everything); "1,000 + 50 segments": the same, but those 50 each target one of 50 segments and the customer',
        f"is in 10 of them ({result['discounted_lines']} of 5 lines discounted).",
        f"Load average when it finished: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work shares them:",
        "compare the columns of one run, not runs).",
        "",
        "| what is timed | none p50 ms | 1,000 p50 ms | 1,000 + 50 segments p50 ms | its p90 ms "
        "| vs none (p50) | vs 1,000 without segments (p50) |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, label in (
        ("service", "pricing (`price_lines` in its own transaction), wall"),
        ("cpu", "the same, CPU of the service process (the database's not included)"),
        ("request", "`GET /v1/carts/{id}` in-process, wall"),
    ):
        r = result[kind]
        lines.append(
            f"| {label} | {r['none_p50']:.2f} | {r['plain_p50']:.2f} | {r['loaded_p50']:.2f} | {r['loaded_p90']:.2f} "
            f"| {r['ratio']:.2f} | {r['segments_ratio']:.2f} |"
        )
    lines.append(MARK_END)
    section = "\n".join(lines)
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if MARK_START in text:
        before, rest = text.split(MARK_START, 1)
        text = before + section + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rounds", type=int, default=1_500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--database", help="name of the database to make (and drop); default: a random one")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.server_url, args.rounds, args.repeats, args.database))
    if args.no_write:
        print(result)
    else:
        print(write(result, args.output))


if __name__ == "__main__":
    main()
