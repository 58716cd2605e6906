"""Failover under checkout load: `python -m benchmarks.failover [--output docs/OPERATIONS.md]`.

A Patroni cluster on loopback (one etcd, two PostgreSQL nodes, synchronous mode), the service
in-process with a multi-host `DATABASE_URL` (`target_session_attrs=read-write`), shoppers checking
out in a loop, each checkout retried with the same Idempotency-Key until it is answered. The
primary (its Patroni and its PostgreSQL) is killed with SIGKILL mid-load. Measured:

- seconds from the kill until checkouts succeed again, and the longest gap between successes;
- every order that got a 201 is in the database afterwards;
- no Idempotency-Key made two orders (every 201 for a key names the same order, and the orders
  table holds one order per key at most);
- conservation: on_hand = sum of the ledger, reserved = sum of the active reservations.

Needs Debian's patroni, etcd-server and postgresql; run as root (the servers run as `postgres`) or as
the postgres user. Writes the results into the file given by --output between the
`<!-- failover-results -->` markers (or prints them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

HERE = Path(__file__).resolve().parent
ADMIN = "failover-admin-token"
MARK_BEGIN, MARK_END = "<!-- failover-results -->", "<!-- /failover-results -->"
# Patroni timing: the leader key lives `ttl` seconds; a replica promotes once it has expired.
TTL, LOOP_WAIT, RETRY_TIMEOUT = 10, 1, 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise SystemExit("PostgreSQL server binaries are missing (apt-get install postgresql)")
    return found[-1].parent


def as_postgres() -> dict[str, Any]:
    if os.getuid() != 0:
        return {}
    pw = pwd.getpwnam("postgres")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


@dataclass
class Node:
    name: str
    pg_port: int
    api_port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


def patroni_yaml(tmp: Path, node: Node, etcd_port: int) -> str:
    return f"""scope: commerce
name: {node.name}
log:
  level: WARNING
restapi:
  listen: 127.0.0.1:{node.api_port}
  connect_address: 127.0.0.1:{node.api_port}
etcd3:
  hosts: 127.0.0.1:{etcd_port}
bootstrap:
  dcs:
    ttl: {TTL}
    loop_wait: {LOOP_WAIT}
    retry_timeout: {RETRY_TIMEOUT}
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: false
      parameters:
        max_connections: 100
        wal_level: replica
        hot_standby: "on"
        max_wal_senders: 5
        max_replication_slots: 5
        wal_keep_size: 128MB
  initdb:
    - encoding: UTF8
    - auth: trust
  pg_hba:
    - local all all trust
    - host replication all 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:{node.pg_port}
  connect_address: 127.0.0.1:{node.pg_port}
  data_dir: {tmp / node.name}
  bin_dir: {pg_bin()}
  pgpass: {tmp / (node.name + ".pgpass")}
  authentication:
    superuser:
      username: postgres
      password: postgres
    replication:
      username: replicator
      password: replicator
  parameters:
    unix_socket_directories: {tmp}
    shared_buffers: 64MB
"""


class Cluster:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.etcd_port, self.etcd_peer = free_port(), free_port()
        self.nodes = [Node("node1", free_port(), free_port()), Node("node2", free_port(), free_port())]
        self.etcd: subprocess.Popen[bytes] | None = None
        self.logs: list[Any] = []

    def _spawn(self, args: list[str], log_name: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        log = (self.tmp / log_name).open("ab")
        self.logs.append(log)
        return subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True, **kwargs)

    def start(self) -> None:
        etcd = shutil.which("etcd") or "/usr/bin/etcd"
        self.etcd = self._spawn(
            [
                etcd, "--name", "e0", "--data-dir", str(self.tmp / "etcd"),
                "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
                "--initial-cluster", f"e0=http://127.0.0.1:{self.etcd_peer}",
            ],
            "etcd.log",
        )  # fmt: skip
        wait_http(f"http://127.0.0.1:{self.etcd_port}/health", 30)
        for node in self.nodes:
            config = self.tmp / f"{node.name}.yml"
            config.write_text(patroni_yaml(self.tmp, node, self.etcd_port))
            if os.getuid() == 0:
                os.chown(config, *_ids())
            node.proc = self._spawn(
                [shutil.which("patroni") or "/usr/bin/patroni", str(config)], f"{node.name}.log", **as_postgres()
            )
            if node is self.nodes[0]:
                wait_http(f"{node.api}/primary", 90)
        wait_http(f"{self.nodes[1].api}/sync", 90)

    def leader(self) -> Node:
        for node in self.nodes:
            with contextlib.suppress(httpx.HTTPError):
                if (
                    node.proc
                    and node.proc.poll() is None
                    and httpx.get(f"{node.api}/primary", timeout=1).status_code == 200
                ):
                    return node
        raise RuntimeError("no leader")

    def kill(self, node: Node) -> None:
        """The host is gone: Patroni and PostgreSQL die at once, without a word to anyone."""
        assert node.proc is not None
        postmaster = (self.tmp / node.name / "postmaster.pid").read_text().split()[0]
        os.killpg(node.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(postmaster), signal.SIGKILL)
        node.proc.wait()

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc and node.proc.poll() is None:
                os.killpg(node.proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.proc.wait(30)
                if node.proc.poll() is None:
                    os.killpg(node.proc.pid, signal.SIGKILL)
                    node.proc.wait()
        # Any PostgreSQL left behind (its Patroni was killed first).
        for node in self.nodes:
            pid_file = self.tmp / node.name / "postmaster.pid"
            if pid_file.exists():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        if self.etcd and self.etcd.poll() is None:
            self.etcd.terminate()
            self.etcd.wait(10)
        for log in self.logs:
            log.close()

    @property
    def url(self) -> str:
        hosts = "&".join(f"host=127.0.0.1:{n.pg_port}" for n in self.nodes)
        return f"postgresql://postgres:postgres@/commerce?{hosts}&target_session_attrs=read-write"


def _ids() -> tuple[int, int]:
    pw = pwd.getpwnam("postgres")
    return pw.pw_uid, pw.pw_gid


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s")


@contextlib.contextmanager
def patroni_cluster() -> Iterator[Cluster]:
    for binary in ("patroni", "etcd"):
        if not shutil.which(binary):
            raise SystemExit(f"{binary} is missing (apt-get install patroni etcd-server)")
    with tempfile.TemporaryDirectory(prefix="commerce-failover-") as tmp:
        if os.getuid() == 0:
            os.chown(tmp, *_ids())
        cluster = Cluster(Path(tmp))
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()


@dataclass
class Attempt:
    key: str
    started: float
    ended: float
    status: int
    order_id: str | None


@dataclass
class Load:
    attempts: list[Attempt] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def retried(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send until the service answers something other than a 5xx (the database is failing over)."""
    while True:
        try:
            r = await client.request(method, url, **kwargs)
        except httpx.HTTPError:
            r = None
        if r is not None and r.status_code < 500:
            return r
        await asyncio.sleep(0.2)


async def shopper(client: httpx.AsyncClient, headers: dict[str, str], load: Load) -> None:
    while not load.stop.is_set():
        r = await retried(client, "POST", "/v1/carts", json={"channel": "web"}, headers=headers)
        cart = r.json()["id"]
        line = {"sku": "FAIL-1", "quantity": 1, "fulfillment": {"type": "pickup", "store": "LOOP"}}
        await retried(client, "POST", f"/v1/carts/{cart}/lines", json=line, headers=headers)
        key = str(uuid.uuid4())
        while True:  # the same key until the checkout is answered
            started = time.monotonic()
            try:
                r = await client.post(
                    f"/v1/carts/{cart}/checkout", json={}, headers={**headers, "Idempotency-Key": key}
                )
                status, body = r.status_code, (r.json() if r.status_code == 201 else None)
            except httpx.HTTPError:
                status, body = 599, None
            load.attempts.append(Attempt(key, started, time.monotonic(), status, body and body["id"]))
            if status < 500:
                break
            await asyncio.sleep(0.2)


async def run(seconds_before: float, seconds_after: float, shoppers: int) -> dict[str, Any]:
    from commerce.app import create_app
    from commerce.db import migrate
    from commerce.settings import Settings

    with patroni_cluster() as cluster:
        leader = cluster.leader()
        conn = await asyncpg.connect(f"postgresql://postgres:postgres@127.0.0.1:{leader.pg_port}/postgres")
        await conn.execute("CREATE DATABASE commerce")
        await conn.close()
        await asyncio.to_thread(migrate, cluster.url)
        settings = Settings(
            database_url=cluster.url,
            admin_token=ADMIN,
            background_workers=False,
            auth_cache_seconds=0,
            log_level="WARNING",
        )
        app = create_app(settings)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        admin = {"Authorization": f"Bearer {ADMIN}"}
        load = Load()
        async with (
            app.lifespan(),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://commerce") as client,
        ):
            store = {"name": "Loop", "kind": "store", "latitude": 41.88, "longitude": -87.63, "pickup_enabled": True}
            assert (await client.put("/v1/stores/LOOP", json=store, headers=admin)).status_code == 201
            product = {"title": "Drop", "variants": [{"sku": "FAIL-1", "price": {"amount": 100, "currency": "USD"}}]}
            assert (await client.put("/v1/products/drop", json=product, headers=admin)).status_code == 201
            r = await client.post(
                "/v1/inventory/adjustments",
                json={"store": "LOOP", "sku": "FAIL-1", "delta": 1_000_000, "reason": "receipt"},
                headers={**admin, "Idempotency-Key": "seed"},
            )
            assert r.status_code in (200, 201), r.text
            r = await client.post("/v1/api-keys", json={"role": "storefront"}, headers=admin)
            web = {"Authorization": f"Bearer {r.json()['key']}"}

            tasks = [asyncio.create_task(shopper(client, web, load)) for _ in range(shoppers)]
            await asyncio.sleep(seconds_before)
            killed = cluster.leader()
            kill_at = time.monotonic()
            await asyncio.to_thread(cluster.kill, killed)
            while not any(a.status == 201 and a.started > kill_at for a in load.attempts):
                if time.monotonic() - kill_at > 120:
                    raise TimeoutError("checkouts did not succeed again within 120 s")
                await asyncio.sleep(0.05)
            await asyncio.sleep(seconds_after)
            load.stop.set()
            await asyncio.gather(*tasks)
            new_leader = cluster.leader()
        return await verify(cluster, load, killed, new_leader, kill_at, shoppers)


async def verify(
    cluster: Cluster, load: Load, killed: Node, leader: Node, kill_at: float, shoppers: int
) -> dict[str, Any]:
    conn = await asyncpg.connect(f"postgresql://postgres:postgres@127.0.0.1:{leader.pg_port}/commerce")
    try:
        order_ids = {str(r["id"]) for r in await conn.fetch("SELECT id FROM orders")}
        bad_levels = await conn.fetchval(
            """
            SELECT count(*) FROM inventory_levels l
            LEFT JOIN (SELECT store_code, sku, sum(delta) d FROM inventory_ledger GROUP BY 1, 2) g USING (store_code, sku)
            LEFT JOIN (SELECT store_code, sku, sum(quantity) q FROM reservations WHERE status = 'active' GROUP BY 1, 2) r
                USING (store_code, sku)
            WHERE l.on_hand <> coalesce(g.d, 0) OR l.reserved <> coalesce(r.q, 0)
            """
        )
    finally:
        await conn.close()
    ok = [a for a in load.attempts if a.status == 201]
    by_key: dict[str, set[str]] = {}
    for a in ok:
        by_key.setdefault(a.key, set()).add(str(a.order_id))
    answered_ids = {oid for ids in by_key.values() for oid in ids}
    first_after = min(a.ended for a in ok if a.started > kill_at)
    ends = sorted(a.ended for a in ok)
    gaps = [b - a for a, b in itertools.pairwise(ends)]
    failed = [a for a in load.attempts if a.status >= 500]
    retried_keys = {a.key for a in failed}
    latencies = [a.ended - a.started for a in ok if a.started < kill_at]
    return {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "shoppers": shoppers,
        "checkouts_201": len(ok),
        "keys_201": len(by_key),
        "orders_in_db": len(order_ids),
        "missing_after_201": len(answered_ids - order_ids),
        "keys_with_two_orders": sum(1 for ids in by_key.values() if len(ids) > 1),
        "orders_without_201": len(order_ids - answered_ids),
        "seconds_to_recover": round(first_after - kill_at, 2),
        "longest_gap_s": round(max(gaps), 2) if gaps else None,
        "failed_attempts": len(failed),
        "keys_retried": len(retried_keys),
        "keys_retried_then_201": len(retried_keys & set(by_key)),
        "levels_not_conserved": int(bad_levels),
        "p50_ms_before": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "killed": killed.name,
        "new_leader": leader.name,
        "ttl": TTL,
        "loop_wait": LOOP_WAIT,
    }


def report(r: dict[str, Any]) -> str:
    ok = (
        r["missing_after_201"] == 0
        and r["keys_with_two_orders"] == 0
        and r["levels_not_conserved"] == 0
        and r["orders_without_201"] == 0
    )
    return f"""{MARK_BEGIN}
Run of {r["when"]} (`python -m benchmarks.failover`; Patroni ttl {r["ttl"]} s, loop_wait {r["loop_wait"]} s,
synchronous mode; {r["shoppers"]} shoppers in one service process; {r["killed"]} killed with SIGKILL,
{r["new_leader"]} promoted):

| measured | value |
|---|---|
| seconds from the kill until a checkout succeeded again | **{r["seconds_to_recover"]}** |
| longest gap between two successful checkouts | {r["longest_gap_s"]} s |
| checkouts answered 201 (distinct keys) | {r["checkouts_201"]} ({r["keys_201"]}) |
| attempts answered 5xx or not answered (retried with the same key) | {r["failed_attempts"]} over {r["keys_retried"]} keys, {r["keys_retried_then_201"]} of them 201 on a retry |
| orders in the database afterwards | {r["orders_in_db"]} |
| orders that got a 201 but are missing | {r["missing_after_201"]} |
| keys that made two orders | {r["keys_with_two_orders"]} |
| orders no shopper got a 201 for | {r["orders_without_201"]} |
| levels breaking conservation (on_hand = ledger, reserved = active reservations) | {r["levels_not_conserved"]} |
| checkout p50 before the kill | {r["p50_ms_before"]} ms |

{"All invariants held." if ok else "**An invariant was broken: see the rows above.**"}
{MARK_END}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, help="write the results into this file between the markers")
    parser.add_argument("--before", type=float, default=5.0, help="seconds of load before the kill")
    parser.add_argument("--after", type=float, default=5.0, help="seconds of load after checkouts succeed again")
    parser.add_argument("--shoppers", type=int, default=8)
    args = parser.parse_args()
    results = asyncio.run(run(args.before, args.after, args.shoppers))
    text = report(results)
    print(text)
    if args.output:
        current = args.output.read_text() if args.output.exists() else ""
        if MARK_BEGIN in current:
            head, _, rest = current.partition(MARK_BEGIN)
            current = head + text + rest.partition(MARK_END)[2]
        else:
            current += "\n" + text + "\n"
        args.output.write_text(current)
    bad = results["missing_after_201"] or results["keys_with_two_orders"] or results["levels_not_conserved"]
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
