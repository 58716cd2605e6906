"""Seeding the benchmark's request files and the extra data the workloads need (carts, a hot SKU,
a national grid of stores), as set-based SQL."""

from __future__ import annotations

import random
from pathlib import Path

import asyncpg

FLASH_SKU, FLASH_STORE = "FLASH-1", "S0001"
# A hot level for pgbench's flash-sale ceiling (benchmarks/__main__.pgbench_script): stock it never sells out.
CEILING_SKU = "FLASH-CEILING"


async def seed_extras(conn: asyncpg.Connection, *, nearby_stores: int, flash_units: int) -> None:
    """A national grid of small stores carrying SKU0000001 (the nearby-with-sku query) and a hot SKU."""
    await conn.execute("SET session_replication_role = replica")
    await conn.execute(
        """
        INSERT INTO stores (code, name, kind, latitude, longitude, pickup_enabled, timezone)
        SELECT format('N%s', lpad(i::text, 6, '0')), format('Outlet %s', i), 'store',
               25 + random() * 24, -124 + random() * 57, true, 'UTC'
        FROM generate_series(1, $1) i
        """,
        nearby_stores,
    )
    await conn.execute(
        """
        INSERT INTO inventory_levels (store_code, sku, on_hand)
        SELECT code, 'SKU0000001', floor(random() * 6)::int FROM stores WHERE code LIKE 'N%'
        """
    )
    await conn.execute(
        "INSERT INTO products (id, title, category) VALUES ('FLASH', 'Limited drop', 'drops') ON CONFLICT DO NOTHING"
    )
    await conn.execute(
        "INSERT INTO variants (sku, product_id, price_amount, currency) VALUES ($1, 'FLASH', 4900, 'USD')"
        " ON CONFLICT DO NOTHING",
        FLASH_SKU,
    )
    await conn.execute(
        "INSERT INTO variants (sku, product_id, price_amount, currency) VALUES ($1, 'FLASH', 4900, 'USD')"
        " ON CONFLICT DO NOTHING",
        CEILING_SKU,
    )
    await conn.execute(
        "INSERT INTO inventory_levels (store_code, sku, on_hand) VALUES ($1, $2, $3), ($1, $4, 1000000000)",
        FLASH_STORE,
        FLASH_SKU,
        flash_units,
        CEILING_SKU,
    )
    await conn.execute("RESET session_replication_role")
    await conn.execute("ANALYZE stores; ANALYZE inventory_levels")


async def reset_flash(conn: asyncpg.Connection, units: int) -> None:
    """Before a run on a reused database: the hot SKU's earlier orders and holds go, its stock is `units` again."""
    await conn.execute("DELETE FROM orders WHERE id IN (SELECT order_id FROM order_lines WHERE sku = $1)", FLASH_SKU)
    await conn.execute("DELETE FROM reservations WHERE sku = $1", FLASH_SKU)
    await conn.execute(
        "UPDATE inventory_levels SET on_hand = $3, reserved = 0 WHERE store_code = $1 AND sku = $2",
        FLASH_STORE,
        FLASH_SKU,
        units,
    )


async def seed_carts(
    conn: asyncpg.Connection, prefix: str, count: int, *, flash: bool = False, sample_percent: float = 5
) -> list[str]:
    """`count` open carts with one pickup line each: random in-stock (store, sku) levels, or the hot SKU."""
    if flash:
        lines = "SELECT $2::text AS store_code, $3::text AS sku FROM generate_series(1, $1)"
        args: tuple[object, ...] = (count, FLASH_STORE, FLASH_SKU)
    else:
        # Random in-stock levels at the seeded stores (TABLESAMPLE keeps it cheap on 4M rows).
        lines = (
            f"SELECT store_code, sku FROM inventory_levels TABLESAMPLE SYSTEM ({sample_percent})"
            " WHERE store_code LIKE 'S%' AND on_hand - reserved - safety_stock >= 5 ORDER BY random() LIMIT $1"
        )
        args = (count,)
    rows = await conn.fetch(
        f"""
        WITH picked AS (SELECT row_number() OVER () AS n, store_code, sku FROM ({lines}) x),
        carts AS (
            INSERT INTO carts (id, channel, currency)
            SELECT format('{prefix}-%s', n), 'web', 'USD' FROM picked RETURNING id
        )
        INSERT INTO cart_lines (cart_id, sku, pickup_store, quantity)
        SELECT format('{prefix}-%s', n), sku, store_code, 1 FROM picked
        RETURNING cart_id
        """,
        *args,
    )
    return [r["cart_id"] for r in rows]


def write_checkout_requests(path: Path, carts: list[str]) -> Path:
    path.write_text("".join(f"POST /v1/carts/{c}/checkout\n" for c in carts))
    return path


def write_read_requests(path: Path, kind: str, *, stores: int, skus: int, count: int = 5000) -> Path:
    rng = random.Random(7)
    metros = [(41.8781, -87.6298), (40.7128, -74.0060), (34.0522, -118.2437), (29.7604, -95.3698)]
    lines = []
    for _ in range(count):
        s = [f"S{rng.randint(1, stores):04d}" for _ in range(3)]
        k = [f"SKU{rng.randint(1, skus):07d}" for _ in range(3)]
        lat, lon = rng.choice(metros)
        if kind == "availability":
            lines.append(f"GET /v1/availability?skus={','.join(k)}&stores={','.join(s)}")
        elif kind == "listing_available_at":
            lines.append(f"GET /v1/products?available_at={s[0]}&limit=20")
        elif kind == "listing_near":
            lines.append(f"GET /v1/products?near={lat + rng.uniform(-0.1, 0.1):.4f},{lon:.4f}&radius_km=15&limit=20")
        elif kind == "nearby_sku":
            lines.append(
                f"GET /v1/stores?near={rng.uniform(26, 48):.4f},{rng.uniform(-122, -70):.4f}"
                "&radius_km=50&sku=SKU0000001&limit=20"
            )
        elif kind == "liveness":
            lines.append("GET /health/live")
        else:
            raise ValueError(kind)
    path.write_text("\n".join(lines) + "\n")
    return path
