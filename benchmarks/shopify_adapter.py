"""Shopify adapter throughput: inventory changes per second pushed from our feed to Shopify.

Creates a fresh database on a PostgreSQL server (`--server-url`, default the local server), builds
it with the migrations, seeds `--stores` stores and `--skus` SKUs, and serves the app over real HTTP
on loopback in this process (background workers on: the relay numbers the feed) together with the
Shopify emulator (tests/adapters/emulators/shopify.py, restore rate `--restore-rate` points/s:
100 is Shopify's Standard plan, 1,000 Plus). The adapter runs as its own process
(`python -m adapters.shopify --config FILE`), as in production.

Two waves, each a count of every (store, SKU) level sent as POS `count` batches while the adapter is
stopped, so the feed holds them all when it starts:
  cold  first start: SKU lookups (productVariants by SKU), level reads for changeFromQuantity, writes
  warm  restart with its state (SKU cache, known Shopify levels): the steady-state path
Each wave is timed from the adapter's /health answering to the emulator holding every new value.
Prints changes/s (feed events applied per second) and Shopify calls, then drops the database.

    python benchmarks/shopify_adapter.py --skus 5000 --stores 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import msgspec
import uvicorn
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pos_ingest import dsn, seed  # noqa: E402
from commerce.app import create_app  # noqa: E402
from commerce.db import migrate  # noqa: E402
from commerce.settings import Settings  # noqa: E402
from tests.adapters.emulators.shopify import ShopifyEmulator  # noqa: E402

ADMIN_TOKEN = "bench-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def serve(app: object) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))  # type: ignore[arg-type]
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.02)
    return server, task, f"http://127.0.0.1:{sock.getsockname()[1]}"


async def count_everything(client: httpx.AsyncClient, stores: list[str], skus: list[str], value: int) -> int:
    """One POS `count` per level (value depends on the SKU so levels differ); returns events written."""
    written = 0
    for store in stores:
        for start in range(0, len(skus), 1000):
            events = [
                {
                    "event_id": f"count-{value}-{uuid.uuid4().hex}",
                    "type": "count",
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "lines": [{"sku": sku, "quantity": value + i % 7}],
                }
                for i, sku in enumerate(skus[start : start + 1000], start)
            ]
            r = await client.post(f"/v1/pos/{store}/events", json={"events": events})
            r.raise_for_status()
            written += sum(1 for x in r.json()["results"] if x["status"] == "applied")
    return written


async def feed_end(client: httpx.AsyncClient) -> int:
    after = 0
    while True:
        page = (
            await client.get("/v1/events", params={"after": after, "limit": 500, "types": "inventory.changed"})
        ).json()
        if not page["items"]:
            return after
        after = page["next_after"]


async def start_adapter(config: Path, port: int) -> tuple[asyncio.subprocess.Process, float]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.shopify", "--config", str(config), cwd=ROOT,
        env={**os.environ, "COMMERCE_LOG_LEVEL": os.environ.get("BENCH_ADAPTER_LOG_LEVEL", "WARNING")},
    )  # fmt: skip
    async with httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                    return process, time.perf_counter()
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.02)


async def wave(
    name: str, client: httpx.AsyncClient, emulator: ShopifyEmulator, config: Path, port: int,
    stores: list[str], locations: dict[str, str], skus: list[str], value: int,
) -> dict[str, float]:  # fmt: skip
    events = await count_everything(client, stores, skus, value)
    while await feed_end(client) < events:  # noqa: ASYNC110 - polling another system
        await asyncio.sleep(0.05)
    calls_before, applied_before = emulator.set_calls, len(emulator.applied_at)
    spawned = time.perf_counter()
    process, ready = await start_adapter(config, port)
    expected = {(emulator.item(sku), locations[s]): value + i % 7 for s in stores for i, sku in enumerate(skus)}
    while any(emulator.levels.get(pair) != q for pair, q in expected.items()):  # noqa: ASYNC110 - polling
        await asyncio.sleep(0.01)
    done = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    await process.wait()
    # From the first write Shopify received to the last: the pushing itself, startup and lookups aside.
    writes = emulator.applied_at[applied_before:]
    pushing = max(writes[-1] - writes[0], 1e-6) if len(writes) > 1 else float("nan")
    elapsed = done - spawned
    out = {
        "events": events,
        "seconds_from_start": elapsed,
        "startup_seconds": ready - spawned,
        "changes_per_s_from_start": events / elapsed,
        "pushing_seconds": pushing,
        "changes_per_s_pushing": events / pushing,
        "set_calls": emulator.set_calls - calls_before,
        "throttled": emulator.throttled,
    }
    print(
        f"{name}: {events} changes; from process start {elapsed:.2f} s (startup {ready - spawned:.2f} s) = "
        f"{events / elapsed:,.0f} changes/s; first to last write {pushing:.2f} s = {events / pushing:,.0f} changes/s "
        f"({out['set_calls']} inventorySetQuantities calls, {emulator.throttled} throttled so far)",
        flush=True,
    )
    return out


async def run(args: argparse.Namespace) -> None:
    name = f"bench_shopify_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn(args.server_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = make_url(args.server_url).set(database=name).render_as_string(hide_password=False)
    stores = [f"S{n:02d}" for n in range(args.stores)]
    skus = [f"SKU-{n:06d}" for n in range(args.skus)]
    server = task = None
    try:
        await asyncio.to_thread(migrate, url)
        await seed(dsn(args.server_url, name), stores, skus)
        settings = Settings(
            database_url=url, admin_token=ADMIN_TOKEN, log_level="WARNING", event_relay_interval_seconds=0.02
        )
        server, task, base = await serve(create_app(settings))
        emulator = ShopifyEmulator(restore_rate=args.restore_rate)
        async with emulator.serve(), httpx.AsyncClient(base_url=base, headers=ADMIN, timeout=60) as client:
            locations = {s: emulator.add_location(s) for s in stores}
            for sku in skus:
                emulator.add_variant(sku, stocked_at=dict.fromkeys(locations.values(), 0))
            key = (await client.post("/v1/api-keys", json={"role": "integration"})).json()["key"]
            with tempfile.TemporaryDirectory(prefix="bench-shopify-") as tmp:
                port = _free_port()
                config = Path(tmp) / "shopify.toml"
                config.write_text(
                    f'[commerce]\nurl = "{base}"\nkey = "{key}"\n[listen]\nhost = "127.0.0.1"\nport = {port}\n'
                    f'[state]\ndir = "state"\n[shopify]\nshop_url = "{emulator.url}"\n'
                    f'access_token = "{emulator.access_token}"\nwebhook_secret = "{emulator.webhook_secret}"\n'
                    "[shopify.locations]\n" + "".join(f'"{s}" = "{loc}"\n' for s, loc in locations.items())
                )
                cold = await wave("cold", client, emulator, config, port, stores, locations, skus, 10)
                warm = await wave("warm", client, emulator, config, port, stores, locations, skus, 20)
        print(msgspec.json.encode({"cold": cold, "warm": warm, "restore_rate": args.restore_rate}).decode())
    finally:
        if server is not None and task is not None:
            server.should_exit = True
            await task
        admin = await asyncpg.connect(dsn(args.server_url))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skus", type=int, default=5000)
    parser.add_argument("--stores", type=int, default=2)
    parser.add_argument("--restore-rate", type=float, default=1000.0, help="Emulated bucket restore rate, points/s")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
