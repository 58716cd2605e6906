"""Time the local-availability endpoints against a seeded database and print the plans of their SQL.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench python benchmarks/explain_inventory.py

Requests go through the real app (ASGI, no network). Each is run once to warm up, then `--runs` times;
the median wall time of the whole request is reported. Every SQL statement the request sent (through
SQLAlchemy or the `reader` pool) is captured and the heavy ones (the ones that read inventory_levels) are
re-run under EXPLAIN (ANALYZE, BUFFERS), planned with their actual values as the service plans them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event

from commerce.app import create_app
from commerce.settings import Settings

TOKEN = "bench-admin-token"
NYC = "40.7128,-74.0060"
SKUS_100 = ",".join(f"SKU{i:07d}" for i in range(1, 20001, 200))
STORES_200 = ",".join(f"S{i:04d}" for i in range(1, 201))

REQUESTS = [
    ("listing, no store filter (baseline)", "/v1/products?limit=50"),
    ("listing, available_at 1 store", "/v1/products?available_at=S0001&limit=50"),
    ("listing, available_at 3 stores", "/v1/products?available_at=S0001,S0002,S0003&limit=50"),
    ("listing, available_at the 1%-stocked store", "/v1/products?available_at=S0200&limit=50"),
    ("listing, near NYC 25 km", f"/v1/products?near={NYC}&radius_km=25&limit=50"),
    ("listing, available_at 1 store + category", "/v1/products?available_at=S0001&category=camping&limit=50"),
    ("availability matrix 100 skus x 200 stores", f"/v1/availability?skus={SKUS_100}&stores={STORES_200}"),
    ("availability 100 skus near NYC 25 km", f"/v1/availability?skus={SKUS_100}&near={NYC}&radius_km=25"),
    ("nearby stores with sku, 50 km", f"/v1/stores?near={NYC}&radius_km=50&sku=SKU0012345"),
    ("associate lookup by sku", "/v1/stores/S0001/lookup?q=SKU0012345"),
    ("associate lookup by text", "/v1/stores/S0001/lookup?q=jacket"),
]


class RecordingPool:
    """The app's read pool, with every statement its connections run recorded."""

    def __init__(self, pool: Any, captured: list[tuple[str, Any]]) -> None:
        self.pool, self.captured = pool, captured

    def record(self, logged: Any) -> None:
        self.captured.append((logged.query, logged.args))

    async def acquire(self, timeout: float) -> Any:  # noqa: ASYNC109 (the pool's own signature)
        conn = await self.pool.acquire(timeout=timeout)
        conn.add_query_logger(self.record)
        return conn

    async def release(self, conn: Any) -> None:
        conn.remove_query_logger(self.record)
        await self.pool.release(conn)

    async def close(self) -> None:
        await self.pool.close()


async def main(url: str, runs: int, explain: bool) -> None:
    app = create_app(Settings(database_url=url, admin_token=TOKEN, background_workers=False, auth_cache_seconds=60))
    captured: list[tuple[str, Any]] = []
    pg = await asyncpg.connect(
        url.replace("postgresql+asyncpg://", "postgresql://"), server_settings={"plan_cache_mode": "force_custom_plan"}
    )
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:
        app.state.read_pool = RecordingPool(app.state.read_pool, captured)

        @event.listens_for(app.state.engine.sync_engine, "before_cursor_execute")
        def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
            captured.append((statement, parameters))

        headers = {"Authorization": f"Bearer {TOKEN}"}
        for name, path in REQUESTS:
            r = await c.get(path, headers=headers)
            assert r.status_code == 200, (path, r.text)
            times = []
            for _ in range(runs):
                captured.clear()
                started = time.perf_counter()
                r = await c.get(path, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
            body = r.json()
            size = len(body.get("items", []))
            print(f"\n## {name}\n\n`GET {path[:160]}{'...' if len(path) > 160 else ''}`\n")
            print(f"median {statistics.median(times):.1f} ms, min {min(times):.1f} ms over {runs} runs; {size} items")
            if not explain:
                continue
            for statement, params in captured:
                if "inventory_levels" not in statement:
                    continue
                rows = await pg.fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement, *(params or ()))
                print("\n```")
                print(" ".join(statement.split())[:600])
                print("--")
                print("\n".join(row[0] for row in rows))
                print("```")
    await pg.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-explain", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(os.environ["DATABASE_URL"], args.runs, not args.no_explain))
