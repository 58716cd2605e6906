"""Benchmarks in one command: `python -m benchmarks` (add `--smoke` for a seconds-long check that
the scripts still work).

It creates a fresh database on a PostgreSQL server, seeds it (200 stores x 20k SKUs = 4M levels, a
national grid of 100k stores, a hot SKU, tens of thousands of open carts), starts the service as a
real server process, loads it with wrk, measures the same SQL with pgbench (the database's
ceiling) and a no-database endpoint (the framework's ceiling), and writes benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import psutil

from benchmarks import workloads
from benchmarks.seed_inventory import seed
from commerce.db import migrate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ADMIN = "bench-admin-token"
# Database connections of the service, all workers together: transaction pool, its overflow, read pool.
TX_POOL, TX_OVERFLOW, READ_POOL = 32, 16, 24
# pgbench's flash-sale ceiling: as many clients as the service has transaction connections.
FLASH_CEILING_CLIENTS = TX_POOL + TX_OVERFLOW
# PostgreSQL and the load generator share the machine with the service: one worker per two cores
# leaves them room (on 2 cores the reads' tails were far shorter with 1 worker than with 2; checkout,
# heavier in Python, went faster with 2; see NOTES.md), so both are measured.
DEFAULT_WORKERS = max(1, (os.cpu_count() or 2) // 2)


@dataclass
class Result:
    name: str
    clients: int
    throughput: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    ceiling: float | None = None
    ceiling_name: str = ""
    rss_mb: float | None = None
    note: str = ""
    workers: int | None = None
    admission: str = ""
    # False for a row whose "throughput" is a count of responses (the flash sale's 201s and 409s apart).
    rate: bool = True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_database(url: str, name: str) -> str:
    return re.sub(r"/[^/?]*(\?|$)", f"/{name}\\1", url.split("://", 1)[1], count=1).join(
        [url.split("://", 1)[0] + "://", ""]
    )


class Server:
    """The service as a real process (granian, N workers), started and stopped by the benchmark."""

    def __init__(self, url: str, workers: int, background: bool, admission: str | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "COMMERCE_ADMIN_TOKEN": ADMIN,
            "COMMERCE_LOG_LEVEL": "WARNING",
            "COMMERCE_BACKGROUND_WORKERS": "true" if background else "false",
            # Connections shared out among the workers, within the server's 100.
            "COMMERCE_DB_POOL_SIZE": str(TX_POOL // workers),
            "COMMERCE_DB_MAX_OVERFLOW": str(TX_OVERFLOW // workers),
            "COMMERCE_DB_READ_POOL_SIZE": str(READ_POOL // workers),
            "PYTHONPATH": str(ROOT),
        }
        if admission is not None:
            env["COMMERCE_DB_ADMISSION_LIMIT"] = admission
        self.log = open(tempfile.mkstemp(prefix="bench-server-", suffix=".log")[1], "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "commerce", "serve", "--port", str(self.port), "--workers", str(workers)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for _ in range(300):
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start; see {self.log.name}")

    def peak_rss_mb(self) -> float:
        """Largest peak resident set size (VmHWM) among the worker processes."""
        peaks = []
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                status = Path(f"/proc/{child.pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"VmHWM:\s+(\d+) kB", status)
            if match:
                peaks.append(int(match.group(1)) / 1024)
        return max(peaks, default=0.0)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # Still finishing requests a load left queued (a busy machine): the next workload needs it gone.
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.log.close()


def storefront_key(server: Server) -> str:
    r = httpx.post(
        f"{server.base}/v1/api-keys", json={"role": "storefront"}, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    r.raise_for_status()
    return str(r.json()["key"])


def cpu_seconds(server: Server) -> tuple[float, float]:
    """CPU time used so far by the service's processes and by PostgreSQL's (user + system, seconds)."""

    def used(processes: list[psutil.Process]) -> float:
        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    service = psutil.Process(server.proc.pid)
    database = [p for p in psutil.process_iter(["name"]) if p.info["name"] in ("postgres", "postgresql")]
    return used([service, *service.children(recursive=True)]), used(database)


def settle(server: Server, most: float = 180.0) -> None:
    """Wait until the service's background workers have caught up with what came before (the pgbench
    ceilings write tens of thousands of events that a new server's relay numbers and its workers
    read): its processes near idle for a second, or `most` seconds."""
    deadline = time.monotonic() + most
    used = cpu_seconds(server)[0]
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu_seconds(server)[0]
        if now - used < 0.05:
            return
        used = now


def run_wrk(server: Server, requests_file: Path, token: str, *, clients: int, seconds: int, once: bool) -> dict:
    threads = 2
    before = cpu_seconds(server)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{clients}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(HERE / "wrk" / "requests.lua"),
            server.base,
            "--",
            str(requests_file),
            str(threads),
            token,
            "once" if once else "cycle",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRK_JSON "))
    data: dict = json.loads(line.removeprefix("WRK_JSON "))
    after = cpu_seconds(server)
    data["service_cpu_s"], data["database_cpu_s"] = after[0] - before[0], after[1] - before[1]
    return data


def wrk_result(
    name: str,
    clients: int,
    data: dict,
    server: Server,
    note: str = "",
    ceiling: tuple[float, float, float] | None = None,
    ceiling_name: str = "pgbench, the same transaction, just before",
) -> Result:
    """A wrk run as a result row; `ceiling` is pgbench's (tx/s, p50, p99) for the same transaction."""
    seconds = data["duration_us"] / 1e6
    ok = sum(n for code, n in data["statuses"].items() if code.startswith("2"))
    measured = data.get("by_status", {}).get("0")
    if measured:
        # wrk's percentiles include the samples its coordinated-omission correction adds for pauses;
        # the measured responses' own percentiles beside them.
        raw = f"measured p50/p99 {measured['p50_us'] / 1000:.1f}/{measured['p99_us'] / 1000:.1f} ms"
        note = f"{note}; {raw}" if note else raw
    answered = sum(data["statuses"].values())
    if answered and "service_cpu_s" in data:
        # Over the whole run (the machine's other work included for PostgreSQL's share).
        cpu = (
            f"CPU per response: service {data['service_cpu_s'] * 1000 / answered:.2f} ms,"
            f" PostgreSQL {data['database_cpu_s'] * 1000 / answered:.2f} ms"
        )
        note = f"{note}; {cpu}" if note else cpu
    return Result(
        name=name,
        clients=clients,
        throughput=ok / seconds if seconds else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        statuses=data["statuses"],
        rss_mb=server.peak_rss_mb(),
        note=note,
        ceiling=ceiling[0] if ceiling else None,
        ceiling_name=ceiling_name if ceiling else "",
    )


async def checkpoint(url: str) -> None:
    """Flush dirty pages now, so a timed write workload does not pay for the previous one's checkpoint."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


STORE_SQL, SKU_SQL = "format('S%s', lpad(:s::text, 4, '0'))", "format('SKU%s', lpad(:k::text, 7, '0'))"


def pgbench_script(name: str) -> str:
    """A pgbench script of benchmarks/pgbench/. "hot:NAME" is script NAME with every client on one hot
    level (the flash sale's ceiling): row locks on it serialise the transactions, as in the service."""
    if not name.startswith("hot:"):
        return (HERE / "pgbench" / name).read_text()
    script = pgbench_script(name.removeprefix("hot:"))
    if STORE_SQL not in script or SKU_SQL not in script:
        raise RuntimeError(f"{name} no longer picks its level with STORE_SQL and SKU_SQL; update both")
    return script.replace(STORE_SQL, f"'{workloads.FLASH_STORE}'").replace(SKU_SQL, f"'{workloads.CEILING_SKU}'")


def run_pgbench(
    url: str, script: str, *, clients: int, seconds: int, stores: int, skus: int
) -> tuple[float, float, float]:
    """(tps, p50 ms, p99 ms) of `script` (see pgbench_script) run by pgbench against the benchmark database."""
    with tempfile.TemporaryDirectory() as tmp:
        script_file = Path(tmp) / "script.sql"
        script_file.write_text(pgbench_script(script))
        subprocess.run(
            [
                "pgbench",
                "-n",
                # Prepared, as the service sends its statements: in the simple protocol pgbench plans
                # every statement of every transaction, which the service never pays.
                "-M",
                "prepared",
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(seconds),
                "-D",
                f"stores={stores}",
                "-D",
                f"skus={skus}",
                "-f",
                str(script_file),
                "-l",
                "--log-prefix",
                f"{tmp}/tx",
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp,
        )
        latencies = []
        for log in Path(tmp).glob("tx*"):
            for line in log.read_text().splitlines():
                parts = line.split()
                if len(parts) > 2:
                    latencies.append(int(parts[2]) / 1000)
    latencies.sort()
    tps = len(latencies) / seconds
    return tps, statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]


def run_pos_ingest(server_url: str, seconds: int) -> Result:
    """POS ingest in 1,000-event batches (benchmarks/pos_ingest.py: app in-process, its own database)."""
    out = subprocess.run(
        [sys.executable, str(HERE / "pos_ingest.py"), "--seconds", str(max(seconds, 3)), "--server-url", server_url],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    lines_per_s = float(re.search(r"lines/s: ([\d,]+)", out).group(1).replace(",", ""))  # type: ignore[union-attr]
    p50, p99 = re.search(r"p50: (\d+) ms\s+p99: (\d+) ms", out).groups()  # type: ignore[union-attr]
    return Result(
        name="POS ingest, lines/s (1,000-event batches, in-process app)",
        clients=2,
        throughput=lines_per_s,
        p50_ms=float(p50),
        p99_ms=float(p99),
        note="latency is per batch; see NOTES.md",
    )


async def flash_check(url: str, units: int) -> tuple[int, int, int, float]:
    """(orders for the hot SKU, its reserved units, its available units, orders per second while selling)."""
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, extract(epoch FROM max(o.created_at) - min(o.created_at)) AS span"
            " FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE l.sku = $1",
            workloads.FLASH_SKU,
        )
        level = await conn.fetchrow(
            "SELECT reserved, greatest(on_hand - reserved - safety_stock, 0) AS available FROM inventory_levels"
            " WHERE store_code = $1 AND sku = $2",
            workloads.FLASH_STORE,
            workloads.FLASH_SKU,
        )
    finally:
        await conn.close()
    span = float(row["span"] or 0) or 1e-9
    return int(row["n"]), int(level["reserved"]), int(level["available"]), int(row["n"]) / span


def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    return f"{platform.node() or 'host'}: {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def write_results(results: list[Result], path: Path, *, config: str, extra: list[str]) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"Run {now} with `python -m benchmarks {config}` on {machine()}.",
        "Load generator (wrk, 2 threads), service and PostgreSQL share the machine.",
        "",
        "| workload | workers | admission | clients | ok req/s | p50 ms | p99 ms | ceiling | ratio | peak RSS/worker MB | statuses | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ceiling = f"{r.ceiling:.0f} ({r.ceiling_name})" if r.ceiling else ""
        ratio = f"{r.throughput / r.ceiling:.0%}" if r.ceiling else ""
        rss = f"{r.rss_mb:.0f}" if r.rss_mb else ""
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items()))
        lines.append(
            f"| {r.name} | {r.workers or ''} | {r.admission} | {r.clients} | {r.throughput:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {ceiling} | {ratio} "
            f"| {rss} | {statuses} | {r.note} |"
        )
    path.write_text("\n".join([*lines, "", *extra, "", *kept_sections(path)]))


def kept_sections(path: Path) -> list[str]:
    """Sections other benchmark scripts record in the same file (between `<!-- section:NAME -->` and
    `<!-- /section:NAME -->`), kept when this run rewrites it."""
    if not path.exists():
        return []
    return [
        m.group(0) + "\n" for m in re.finditer(r"(?s)<!-- section:(\w+) -->.*?<!-- /section:\1 -->", path.read_text())
    ]


READS = ("liveness", "availability", "listing_available_at", "listing_near", "nearby_sku")
WORKLOADS = (*READS, "checkout", "flash", "relay_off", "pos", "pgbench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server-url",
        default=os.environ.get("BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="A PostgreSQL server URL; the benchmark creates (and drops) its own database there.",
    )
    parser.add_argument("--smoke", action="store_true", help="Tiny data and one-second runs: do the scripts work?")
    parser.add_argument("--seconds", type=int, default=15, help="Duration of each timed workload.")
    parser.add_argument(
        "--workers",
        type=lambda v: [int(n) for n in v.split(",")],
        default=None,
        help="Comma-separated service worker counts; the service workloads run once for each"
        " (default: one per two cores, and one per core; with --smoke only the first).",
    )
    parser.add_argument(
        "--admission",
        type=lambda v: [None if a == "default" else "0" if a == "off" else str(int(a)) for a in v.split(",")],
        default=[None],
        help="Comma-separated admission limits per worker (COMMERCE_DB_ADMISSION_LIMIT: a number, `off`, or"
        " `default` for the service's own); the service workloads run once for each (default: `default`).",
    )
    parser.add_argument(
        "--database", default="commerce_bench", help="Name of the database the benchmark creates (and drops)."
    )
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark database afterwards.")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="Use the database a --keep run left (seeds only fresh carts); implies --keep.",
    )
    parser.add_argument(
        "--only",
        type=lambda v: set(v.split(",")),
        default=set(WORKLOADS),
        help=f"Comma-separated workloads to run, of: {','.join(WORKLOADS)} (default: all).",
    )
    args = parser.parse_args()
    if args.only - set(WORKLOADS):
        parser.error(f"unknown workloads: {', '.join(sorted(args.only - set(WORKLOADS)))}")
    args.keep = args.keep or args.reuse
    if args.workers is None:
        args.workers = [DEFAULT_WORKERS] if args.smoke else sorted({DEFAULT_WORKERS, os.cpu_count() or 2})
    if shutil.which("wrk") is None or shutil.which("pgbench") is None:
        sys.exit("wrk and pgbench are needed: apt-get install wrk postgresql-client")
    if args.smoke:
        stores, skus, nearby, flash_units, carts, flash_carts, seconds = 8, 400, 2000, 20, 400, 600, 1
    else:
        stores, skus, nearby, flash_units, carts, flash_carts, seconds = (
            200,
            20000,
            100_000,
            500,
            25000,
            5000,
            args.seconds,
        )
    asyncio.run(run(args, stores, skus, nearby, flash_units, carts, flash_carts, seconds))


async def load_service(
    url: str,
    work: Path,
    workers: int,
    only: set[str],
    seconds: int,
    stores: int,
    skus: int,
    cart_sets: dict[int, list[str]],
    relay_off: list[str],
    flash: list[str],
    flash_units: int,
    ceilings: bool,
    notes: list[str],
    admission: str | None = None,
) -> list[Result]:
    """The wrk workloads against the service run with `workers` worker processes and the admission limit
    `admission` (COMMERCE_DB_ADMISSION_LIMIT; None: the service's default), with `ceilings` the pgbench
    ceilings of its write workloads too, described in `notes`."""
    results: list[Result] = []

    def record(result: Result) -> None:
        result.workers = workers
        result.admission = admission or "default"
        results.append(result)
        print(result, flush=True)

    server = Server(url, workers, background=True, admission=admission)
    try:
        token = storefront_key(server)
        # Each read at 32 clients (the machine saturated: throughput, and latency that is mostly
        # queueing) and at 4 (below saturation: the request's own latency).
        for kind in READS:
            if kind not in only:
                continue
            file = workloads.write_read_requests(work / f"{kind}.txt", kind, stores=stores, skus=skus)
            for clients in (32, 4):
                data = run_wrk(server, file, token, clients=clients, seconds=seconds, once=False)
                record(wrk_result(kind, clients, data, server))
    finally:
        server.stop()

    # The database's ceilings for the write workloads are measured right before them, in the same
    # database state, with no service connected (they would take the server's connections); each write
    # workload starts after a CHECKPOINT, so none inherits another's. Beside each, the Saleor-style
    # transaction (checkout_saleor.sql: the stock rows locked with SELECT ... FOR UPDATE first, read,
    # then updated with the values the application computed): what the one-statement design buys.
    label = f"{workers} worker(s){f', admission {admission}' if admission else ''}"

    async def ceiling(script: str, clients: int, what: str) -> tuple[float, float, float]:
        await checkpoint(url)
        measured = run_pgbench(url, script, clients=clients, seconds=seconds, stores=stores, skus=skus)
        notes.append(
            f"- {label}: pgbench, {what}, {clients} clients: {measured[0]:.0f} tx/s,"
            f" p50 {measured[1]:.1f} ms, p99 {measured[2]:.1f} ms"
        )
        return measured

    hot_level = f"{workloads.FLASH_STORE}/{workloads.CEILING_SKU}"
    checkout_ceiling = flash_ceiling = None
    if ceilings and (cart_sets or relay_off):
        checkout_ceiling = await ceiling("checkout.sql", 32, "checkout transaction (benchmarks/pgbench/checkout.sql)")
        await ceiling("checkout_saleor.sql", 32, "Saleor-style checkout (benchmarks/pgbench/checkout_saleor.sql)")
    if ceilings and flash:
        flash_ceiling = await ceiling(
            "hot:checkout.sql", FLASH_CEILING_CLIENTS, f"the checkout transaction on one hot level ({hot_level})"
        )
        await ceiling(
            "hot:checkout_saleor.sql",
            FLASH_CEILING_CLIENTS,
            f"the Saleor-style checkout on one hot level ({hot_level})",
        )
    if cart_sets or flash:
        server = Server(url, workers, background=True, admission=admission)
        try:
            token = storefront_key(server)
            settle(server)
            for clients, cart_ids in cart_sets.items():
                await checkpoint(url)
                print(f"checkout at {clients} clients over {len(cart_ids)} carts", flush=True)
                file = workloads.write_checkout_requests(work / f"checkout{clients}.txt", cart_ids)
                data = run_wrk(server, file, token, clients=clients, seconds=seconds, once=True)
                record(wrk_result("checkout (relay on)", clients, data, server, ceiling=checkout_ceiling))
            if flash:
                await checkpoint(url)
                file = workloads.write_checkout_requests(work / "flash.txt", flash)
                # Long enough for every shopper to be answered on a busy machine (the run ends when the
                # carts run out).
                data = run_wrk(server, file, token, clients=256, seconds=max(4 * seconds, 10), once=True)
                sold, reserved, available, rate = await flash_check(url, flash_units)
                verdict = "exact" if sold == flash_units == reserved and available == 0 else "MISMATCH"
                flash_result = wrk_result(
                    "flash sale (one SKU), orders/s while selling",
                    256,
                    data,
                    server,
                    note=f"{flash_units} units: {sold} orders, reserved {reserved}, available {available}"
                    f" ({verdict}); latency and statuses over the {sum(data['statuses'].values())} of {len(flash)}"
                    " shoppers answered before wrk stopped (it stops a thread, and drops the requests it has in"
                    " flight, when its last line is sent)",
                    ceiling=flash_ceiling,
                    ceiling_name="pgbench, the same transaction on the hot row, just before",
                )
                flash_result.throughput = rate
                record(flash_result)
                # The shoppers who bought and those told "sold out", apart: the sold-out ones should hear
                # it quickly, whatever the buyers' latency.
                for status, what in (("201", "bought (201)"), ("409", "were told sold out (409)")):
                    split = data["by_status"].get(status)
                    if split:
                        record(
                            Result(
                                name=f"flash sale: latency of the shoppers who {what}",
                                clients=256,
                                throughput=split["n"],
                                p50_ms=split["p50_us"] / 1000,
                                p99_ms=split["p99_us"] / 1000,
                                statuses={status: split["n"]},
                                note="req/s column: responses, not per second; measured latencies",
                                rate=False,
                            )
                        )
        finally:
            server.stop()

    if relay_off:
        server = Server(url, workers, background=False, admission=admission)
        try:
            token = storefront_key(server)
            await checkpoint(url)
            file = workloads.write_checkout_requests(work / "off32.txt", relay_off)
            data = run_wrk(server, file, token, clients=32, seconds=seconds, once=True)
            record(wrk_result("checkout (relay off)", 32, data, server, ceiling=checkout_ceiling))
        finally:
            server.stop()
    return results


async def run(
    args: argparse.Namespace,
    stores: int,
    skus: int,
    nearby: int,
    flash_units: int,
    carts: int,
    flash_carts: int,
    seconds: int,
) -> None:
    name = args.database
    url = with_database(args.server_url, name)
    admin = await asyncpg.connect(args.server_url)
    reuse = args.reuse and await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    if not reuse:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    results: list[Result] = []
    extra: list[str] = []
    ceiling_notes: list[str] = []
    only = args.only
    try:
        t0 = time.perf_counter()
        await asyncio.to_thread(migrate, url)
        conn = await asyncpg.connect(url)
        if not reuse:
            await seed(url, stores, skus)
            await workloads.seed_extras(conn, nearby_stores=nearby, flash_units=flash_units)
        sample = 100 if args.smoke else 5
        print(f"{'reused' if reuse else 'seeded'} in {time.perf_counter() - t0:.0f}s", flush=True)
        for workers in args.workers:
            for admission in args.admission:
                await workloads.reset_flash(conn, flash_units)
                run_id = f"r{int(time.time())}w{workers}a{admission or 'd'}"

                async def carts_for(prefix: str, run_id: str = run_id) -> list[str]:
                    return await workloads.seed_carts(conn, f"{run_id}{prefix}", carts, sample_percent=sample)

                cart_sets = {c: await carts_for(f"c{c}") for c in (32, 128)} if "checkout" in only else {}
                relay_off = await carts_for("off32") if "relay_off" in only else []
                flash = (
                    await workloads.seed_carts(conn, f"{run_id}flash", flash_carts, flash=True)
                    if "flash" in only
                    else []
                )
                await conn.execute("VACUUM ANALYZE")
                results += await load_service(
                    url,
                    work,
                    workers,
                    only,
                    seconds,
                    stores,
                    skus,
                    cart_sets,
                    relay_off,
                    flash,
                    flash_units,
                    ceilings="pgbench" in only,
                    notes=ceiling_notes,
                    admission=admission,
                )
        await conn.close()

        if "pos" in only:
            results.append(run_pos_ingest(args.server_url, seconds))
            print(results[-1], flush=True)

        if "pgbench" not in only:
            return
        await checkpoint(url)
        read_tps, r50, r99 = run_pgbench(url, "availability.sql", clients=32, seconds=seconds, stores=stores, skus=skus)
        # The framework's ceiling for each worker count: the liveness endpoint at 32 clients.
        liveness = {r.workers: r.throughput for r in results if r.name == "liveness" and r.clients == 32}
        for r in results:
            if r.name == "availability":
                r.ceiling, r.ceiling_name = read_tps, "pgbench availability"
            elif r.ceiling is None and r.rate and r.workers in liveness and r.name != "liveness":
                r.ceiling, r.ceiling_name = liveness[r.workers], "liveness endpoint"
        extra += [
            "## Ceilings measured in the same run",
            "",
            *ceiling_notes,
            f"- pgbench, availability read (benchmarks/pgbench/availability.sql), 32 clients: {read_tps:.0f} tx/s,"
            f" p50 {r50:.1f} ms, p99 {r99:.1f} ms",
            *(
                f"- framework: `GET /health/live` (no database), {w} worker(s), 32 clients: {rate:.0f} req/s"
                for w, rate in liveness.items()
            ),
            "",
            f"Data: {stores} stores x {skus} SKUs ({stores * skus:,} levels), {nearby:,} extra stores for the nearby query,"
            f" {flash_units} units of one hot SKU for {flash_carts} shoppers; service workers as in the table.",
        ]
    finally:
        config = " ".join(
            part
            for part in (
                "--smoke" if args.smoke else "",
                f"--seconds {args.seconds}" if args.seconds != 15 else "",
                "--reuse" if args.reuse else "",
                f"--workers {','.join(map(str, args.workers))}",
                f"--admission {','.join(a or 'default' for a in args.admission)}" if args.admission != [None] else "",
                f"--database {args.database}" if args.database != "commerce_bench" else "",
                f"--only {','.join(w for w in WORKLOADS if w in only)}" if only != set(WORKLOADS) else "",
            )
            if part
        )
        write_results(results, args.output, config=config, extra=extra)
        print(f"results written to {args.output}")
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            admin = await asyncpg.connect(args.server_url)
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await admin.close()


if __name__ == "__main__":
    main()
