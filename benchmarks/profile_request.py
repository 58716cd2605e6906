"""Where one request's time goes: the app in-process, one request path run N times in sequence.

    python -m benchmarks.profile_request postgresql://postgres@127.0.0.1:5432/commerce_bench \
        "/v1/products?available_at=S0001&limit=20" --n 300 [--pyinstrument]

Against a seeded database (`python -m benchmarks --keep` leaves one, `commerce_bench`). Prints,
per request: wall time, Python CPU of this process (client and server), the number of SQL
statements and their summed round-trip time as seen by SQLAlchemy (the transaction pool: the
one-statement searches on the `reader` pool do not show there), and the response size. With
`--pyinstrument`, a call-tree profile of the measured requests follows.

    python -m benchmarks.profile_request postgresql://postgres@127.0.0.1:5432/commerce_bench checkout --n 300

`checkout` as the path: each measured request checks out a fresh one-line pickup cart (seeded
before the clock starts, as the benchmark's checkout workload seeds them) with its own
Idempotency-Key, and must answer 201. Statements sent on the driver connection directly (not
through SQLAlchemy's cursor) are counted too, by asyncpg's query logger on every connection.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time
import uuid
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event

from benchmarks import workloads
from commerce.app import create_app
from commerce.settings import Settings

TOKEN = "profile-admin-token"
_TRANSACTION = re.compile(r"(BEGIN|COMMIT|ROLLBACK)\b", re.IGNORECASE)


async def checkout_requests(url: str, count: int) -> list[str]:
    """`count` fresh one-line pickup carts (the benchmark's checkout carts), as checkout paths."""
    conn = await asyncpg.connect(url)
    try:
        prefix = f"profile{int(time.time() * 1000)}"
        carts = await workloads.seed_carts(conn, prefix, count, sample_percent=100)
        await conn.execute("ANALYZE carts; ANALYZE cart_lines")
    finally:
        await conn.close()
    if len(carts) < count:
        raise SystemExit(f"only {len(carts)} in-stock levels for {count} checkouts: seed more stock")
    return [f"/v1/carts/{cart}/checkout" for cart in carts]


async def run(url: str, path: str, n: int, profile: bool) -> None:
    app = create_app(Settings(database_url=url, admin_token=TOKEN, background_workers=False, log_level="WARNING"))
    sql: list[tuple[str, float]] = []
    checkouts = await checkout_requests(url, n + 20) if path == "checkout" else []
    async with app.lifespan():

        def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
            conn.info["t0"] = time.perf_counter()

        def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
            sql.append((" ".join(statement.split())[:100], time.perf_counter() - conn.info.pop("t0")))

        def logged(record: Any) -> None:
            if not record.query.startswith("-- sqlalchemy"):
                sql.append((" ".join(record.query.split())[:100], record.elapsed))

        def log_driver_queries(dbapi_conn: Any, _record: Any) -> None:
            # Statements sent on the driver connection itself, bypassing SQLAlchemy's cursor.
            dbapi_conn.driver_connection.add_query_logger(logged)

        # The request transactions' pool and checkout's own.
        for engine in (app.state.engine, app.state.checkout_engine):
            event.listen(engine.sync_engine, "before_cursor_execute", before)
            event.listen(engine.sync_engine, "after_cursor_execute", after)
            event.listen(engine.sync_engine, "connect", log_driver_queries)

        async def request(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
            if not checkouts:
                return await client.get(path, headers=headers)
            r = await client.post(checkouts.pop(), json={}, headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
            if r.status_code != 201:
                raise SystemExit(f"checkout answered {r.status_code}: {r.text}")
            return r

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://profile") as client:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            for _ in range(20):  # warm-up: connections, prepared statements, caches
                r = await request(client, headers)
                r.raise_for_status()
            walls, cpus, statements, trips, sql_ms = [], [], [], [], []
            by_statement: dict[str, list[float]] = {}
            profiler = None
            if profile:
                from pyinstrument import Profiler

                profiler = Profiler(async_mode="disabled")
                profiler.start()
            for _ in range(n):
                sql.clear()
                w0, c0 = time.perf_counter(), time.process_time()
                r = await request(client, headers)
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
                statements.append(sum(1 for text, _ in sql if not _TRANSACTION.match(text)))
                trips.append(len(sql))
                sql_ms.append(sum(t for _, t in sql))
                for text, t in sql:
                    by_statement.setdefault(text, []).append(t)
            if profiler is not None:
                profiler.stop()
    ms = 1000.0
    print(
        f"{path}: status {r.status_code}, {len(r.content):,} bytes, {statements[-1]} SQL statements,"
        f" {trips[-1]} round trips with BEGIN and COMMIT (when the driver sends them itself)"
    )
    print(
        f"median per request: wall {statistics.median(walls) * ms:.2f} ms, Python CPU {statistics.median(cpus) * ms:.2f} ms,"
        f" SQL round trips {statistics.median(sql_ms) * ms:.2f} ms"
    )
    for text, times in sorted(by_statement.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {statistics.median(times) * ms:7.2f} ms median x{len(times) / n:.1f}/request  {text}")
    if profiler is not None:
        print(profiler.output_text(unicode=True, color=False, show_all=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database_url")
    parser.add_argument("path", help="A GET path with its query string, or `checkout`")
    parser.add_argument("--n", type=int, default=200, help="Measured requests (after 20 warm-up ones)")
    parser.add_argument("--pyinstrument", action="store_true", help="Print a call-tree profile of the requests")
    args = parser.parse_args()
    asyncio.run(run(args.database_url, args.path, args.n, args.pyinstrument))


if __name__ == "__main__":
    main()
