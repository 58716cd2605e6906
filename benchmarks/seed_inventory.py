"""Seed a database with N stores x M SKUs of stock, fast, for measuring the inventory queries.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench python benchmarks/seed_inventory.py \
        --stores 200 --skus 20000

The schema comes from the migrations (applied first). Everything else is a handful of set-based
statements (generate_series), with the secondary indexes built after the load. Stores are spread over ten
metro areas (20 per metro by default, one in seven a warehouse); each product has four variants;
about a quarter of the levels are out of stock, some units are reserved, some carry safety stock;
the last store carries only 1% of the SKUs.
The data is deterministic (setseed) so plans are reproducible.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import asyncpg

from commerce.db import migrate

METROS = [
    ("CHI", 41.8781, -87.6298),
    ("NYC", 40.7128, -74.0060),
    ("LAX", 34.0522, -118.2437),
    ("HOU", 29.7604, -95.3698),
    ("PHX", 33.4484, -112.0740),
    ("PHL", 39.9526, -75.1652),
    ("SEA", 47.6062, -122.3321),
    ("DEN", 39.7392, -104.9903),
    ("ATL", 33.7490, -84.3880),
    ("BOS", 42.3601, -71.0589),
]
VARIANTS_PER_PRODUCT = 4

STATEMENTS = [
    "SELECT setseed(0.42)",
    # Stores: ten metros; within a metro, scattered up to ~30 km from the centre.
    """
    INSERT INTO stores (code, name, kind, latitude, longitude, pickup_enabled, timezone)
    SELECT format('S%s', lpad(i::text, 4, '0')), format('Store %s', i),
           CASE WHEN i % 7 = 0 THEN 'warehouse' ELSE 'store' END,
           m.lat + (random() - 0.5) * 0.5, m.lon + (random() - 0.5) * 0.6, true, 'UTC'
    FROM generate_series(1, :stores) i
    JOIN unnest(CAST(:metro_lat AS float8[]), CAST(:metro_lon AS float8[])) WITH ORDINALITY m(lat, lon, n)
      ON m.n = (i % :metros) + 1
    """,
    """
    INSERT INTO products (id, title, brand, category, description)
    SELECT format('P%s', lpad(p::text, 6, '0')),
           (ARRAY['Trail', 'City', 'Classic', 'Storm', 'Summit', 'Harbor'])[1 + p % 6] || ' ' ||
           (ARRAY['Jacket', 'Boot', 'Backpack', 'Tent', 'Glove', 'Hat', 'Fleece'])[1 + p % 7] || ' ' || p,
           (ARRAY['Northway', 'Altus', 'Kestrel', 'Brava'])[1 + p % 4],
           (ARRAY['outerwear', 'footwear', 'bags', 'camping', 'accessories'])[1 + p % 5],
           'Seeded product for benchmarks'
    FROM generate_series(1, :products) p
    """,
    """
    INSERT INTO variants (sku, product_id, position, title, barcode, price_amount, currency)
    SELECT format('SKU%s', lpad(s::text, 7, '0')), format('P%s', lpad((1 + (s - 1) / :vpp)::text, 6, '0')),
           (s - 1) % :vpp, format('Size %s', (s - 1) % :vpp), format('0%s', 400000000000 + s),
           1000 + (s * 37) % 20000, 'USD'
    FROM generate_series(1, :skus) s
    """,
    # Levels: every store x every SKU, ~25% out of stock, some reserved, some safety stock.
    """
    INSERT INTO inventory_levels (store_code, sku, on_hand, reserved, safety_stock)
    SELECT code, sku, on_hand, CASE WHEN random() < 0.1 THEN least(on_hand, 2) ELSE 0 END,
           CASE WHEN random() < 0.2 THEN 1 ELSE 0 END
    FROM (
        SELECT st.code, v.sku, CASE WHEN random() < 0.25 THEN 0 ELSE 1 + floor(random() * 30)::int END AS on_hand
        FROM stores st CROSS JOIN variants v
    ) x
    ORDER BY code, sku
    """,
    # The last store is a small-format one that carries 1% of the range: the worst case for listings
    # filtered by store, which must walk many products to fill a page.
    """
    UPDATE inventory_levels SET on_hand = CASE WHEN right(sku, 2) = '00' THEN 5 ELSE 0 END, reserved = 0
    WHERE store_code = format('S%s', lpad(CAST(:stores AS integer)::text, 4, '0'))
    """,
    # What autovacuum does after a bulk load: statistics and the visibility map (index-only scans).
    "VACUUM ANALYZE",
]


def _bind(sql: str, values: dict[str, object]) -> tuple[str, list[object]]:
    """Turn :name parameters into asyncpg's $n ones."""
    args: list[object] = []
    for name, value in values.items():
        if f":{name}" in sql:
            args.append(value)
            sql = sql.replace(f":{name}", f"${len(args)}")
    return sql, args


async def seed(url: str, stores: int, skus: int) -> None:
    values: dict[str, object] = {
        "stores": stores,
        "skus": skus,
        "products": -(-skus // VARIANTS_PER_PRODUCT),
        "vpp": VARIANTS_PER_PRODUCT,
        "metros": len(METROS),
        "metro_lat": [m[1] for m in METROS],
        "metro_lon": [m[2] for m in METROS],
    }
    conn = await asyncpg.connect(url)
    try:
        # Build the secondary indexes once at the end (much faster than maintaining them row by row),
        # from their own definitions, so the migrations stay the one place they are written.
        secondary = await conn.fetch(
            "SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS ddl FROM pg_index"
            " WHERE indrelid = 'inventory_levels'::regclass AND NOT indisprimary"
        )
        for index in secondary:
            await conn.execute(f"DROP INDEX {index['name']}")
        # Every level is made from existing stores x variants, so the foreign keys hold by construction:
        # skip their per-row triggers for the bulk insert.
        await conn.execute("SET session_replication_role = replica")
        for sql in STATEMENTS:
            if sql == "VACUUM ANALYZE":
                await conn.execute("RESET session_replication_role")
                for index in secondary:
                    await timed(conn, index["ddl"], {})
            await timed(conn, sql, values)
    finally:
        await conn.close()


async def timed(conn: asyncpg.Connection, sql: str, values: dict[str, object]) -> None:
    started = time.perf_counter()
    query, args = _bind(sql, values)
    status = await conn.execute(query, *args)
    print(f"{time.perf_counter() - started:7.1f}s  {status}  {' '.join(sql.split())[:70]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--skus", type=int, default=20000)
    parser.add_argument("--no-migrate", action="store_true", help="the schema is already there")
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]
    if not args.no_migrate:
        migrate(url)
    asyncio.run(seed(url.replace("postgresql+asyncpg://", "postgresql://"), args.stores, args.skus))


if __name__ == "__main__":
    main()
