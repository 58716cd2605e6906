"""Idle cost of the service and how soon a committed event reaches the feed and a webhook.

    python benchmarks/idle_wake.py postgresql://postgres@127.0.0.1:5432/postgres [--idle 60] [--events 300]

Creates a scratch database on that server, starts `commerce serve --workers 2` on it, and:

1. idle: with no requests for `--idle` seconds, the CPU time the server's processes used (from
   /proc, the whole process tree) and the CPU time of the database's backends serving it;
2. latency: `--events` times, one at a time, sets a stock count through the API (PUT
   /v1/inventory/..., whose transaction writes an `inventory.changed` event) and records, from its
   response (the commit), when the relay has numbered the event (a direct connection polls its
   row every 1 ms), when it appears in GET /v1/events (asked right after that, then every 2 ms) and
   when a webhook on 127.0.0.1 receives it; prints the median and p99 of each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

TICK = os.sysconf("SC_CLK_TCK")


def _dsn(url: str, database: str) -> str:
    return make_url(url).set(drivername="postgresql", database=database).render_as_string(hide_password=False)


def tree(root: int) -> list[int]:
    """`root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[int, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.perf_counter()
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.arrivals[int(self.headers["X-Commerce-Event-Seq"])] = at
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def start_server(port: int, data: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "commerce", "serve", "--workers", "2", "--port", str(port), "--data-dir", data],
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p * (len(xs) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args()
    name = f"bench_wake_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(args.url, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = _dsn(args.url, name)
    port = free_port()
    token = "ck_admin_" + uuid.uuid4().hex
    env = {**os.environ, "DATABASE_URL": dsn, "COMMERCE_ADMIN_TOKEN": token, "COMMERCE_LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryDirectory() as data:
        server = start_server(port, data, env)
        try:
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client:
                for _ in range(600):
                    try:
                        if (await client.get("/health")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)
                await asyncio.sleep(5)  # let start-up settle
                pids = tree(server.pid)
                backends = [
                    r["pid"]
                    for r in await admin.fetch(
                        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name
                    )
                ]
                t0, s0, b0 = time.perf_counter(), cpu_seconds(pids), cpu_seconds(backends)
                await asyncio.sleep(args.idle)
                t1, s1, b1 = time.perf_counter(), cpu_seconds(pids), cpu_seconds(backends)
                wall = t1 - t0
                print(
                    f"idle {wall:.0f} s: server {len(pids)} processes {100 * (s1 - s0) / wall:.2f}% of a core, "
                    f"PostgreSQL {len(backends)} backends {100 * (b1 - b0) / wall:.2f}% of a core"
                )

                receiver = Receiver()
                r = await client.put(
                    "/v1/webhooks/bench",
                    json={"url": receiver.url, "types": ["inventory.changed"], "secret": "s" * 20},
                )
                assert r.status_code in (200, 201), r.text
                r = await client.put(
                    "/v1/stores/BENCH", json={"name": "Bench", "kind": "store", "latitude": 41.88, "longitude": -87.63}
                )
                assert r.status_code in (200, 201), r.text
                r = await client.put(
                    "/v1/products/bench",
                    json={
                        "title": "Bench",
                        "variants": [{"sku": "BENCH-1", "price": {"amount": 1000, "currency": "USD"}}],
                    },
                )
                assert r.status_code in (200, 201), r.text
                probe = await asyncpg.connect(dsn)
                numbered: list[float] = []
                feed: list[float] = []
                hook: list[float] = []
                after = 0
                for i in range(args.events):
                    await asyncio.sleep(0.02)
                    r = await client.put("/v1/inventory/BENCH/BENCH-1", json={"on_hand": i + 1})
                    assert r.status_code == 200, r.text
                    committed = time.perf_counter()
                    event_id = await probe.fetchval("SELECT max(id) FROM events")
                    while await probe.fetchval("SELECT seq FROM events WHERE id = $1", event_id) is None:  # noqa: ASYNC110
                        await asyncio.sleep(0.001)
                    numbered.append(time.perf_counter() - committed)
                    while True:
                        page = (await client.get(f"/v1/events?after={after}")).json()
                        if page["items"]:
                            feed.append(time.perf_counter() - committed)
                            after = page["items"][-1]["seq"]
                            break
                        await asyncio.sleep(0.002)
                    while after not in receiver.arrivals:  # noqa: ASYNC110 (filled by the receiver's thread)
                        await asyncio.sleep(0.002)
                    hook.append(receiver.arrivals[after] - committed)
                await probe.close()
                receiver.server.shutdown()
                ns = [x * 1000 for x in numbered]
                ms = [x * 1000 for x in feed]
                hs = [x * 1000 for x in hook]
                print(
                    f"{len(ms)} events: numbered median {statistics.median(ns):.1f} ms p99 {pct(ns, 0.99):.1f} ms; "
                    f"in the feed median {statistics.median(ms):.1f} ms p99 {pct(ms, 0.99):.1f} ms; "
                    f"to the webhook median {statistics.median(hs):.1f} ms p99 {pct(hs, 0.99):.1f} ms"
                )
        finally:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
