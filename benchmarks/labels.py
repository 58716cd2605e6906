"""Shelf label sheets: how long 100 labels take, as SVG and as PDF; and a store page and a product page.

    python -m benchmarks.labels [--server-url postgresql://postgres@127.0.0.1:5432/postgres] [--runs 15]

Two measurements: the rendering alone (QR codes and the sheet, no I/O), and the whole request
(`GET /v1/stores/{code}/labels?skus=<100 SKUs>`) through the app in this process, on a fresh database
seeded with 100 products with GTIN barcodes and an active promotion. Writes its section of
benchmarks/RESULTS.md (kept when `python -m benchmarks` rewrites the file).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from benchmarks.__main__ import machine
from commerce.app import create_app
from commerce.db import migrate
from commerce.pages import label_sheet
from commerce.pages.rules import gtin_check_digit
from commerce.settings import Settings

HERE = Path(__file__).resolve().parent
ADMIN = "bench-labels-admin"
SKUS = 100
SECTION = "labels"


def gtin13(n: int) -> str:
    body = f"200{n:09d}"
    return body + str(gtin_check_digit(body))


def sample_labels() -> list[label_sheet.Label]:
    return [
        label_sheet.Label(
            title=f"Packable Rain Jacket, a long product title number {i} / Medium",
            price="$79.00",
            regular="$89.00" if i % 3 == 0 else None,
            sku=f"JACKET-{i:03d}-M",
            qr_url=f"https://shop.example.com/01/0{gtin13(i)}?store=CHI-LOOP",
        )
        for i in range(SKUS)
    ]


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm up (imports, font metrics)
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def timed_async(fn: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    await fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def over_http(server_url: str, runs: int) -> dict[str, list[float]]:
    name = f"bench_labels_{uuid.uuid4().hex[:8]}"
    admin_dsn = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(migrate, url)
        app = create_app(Settings(database_url=url, admin_token=ADMIN, background_workers=False))
        headers = {"Authorization": f"Bearer {ADMIN}"}
        async with (
            app.lifespan(),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench", headers=headers, timeout=60
            ) as client,
        ):
            store = {"name": "Loop", "kind": "store", "latitude": 41.88, "longitude": -87.63, "pickup_enabled": True}
            assert (await client.put("/v1/stores/CHI-LOOP", json=store)).status_code == 201
            for i in range(SKUS):
                body = {
                    "title": f"Packable Rain Jacket, a long product title number {i}",
                    "category": "outerwear",
                    "variants": [
                        {"sku": f"JACKET-{i:03d}-M", "title": "Medium", "barcode": gtin13(i),
                         "price": {"amount": 8900, "currency": "USD"}}
                    ],
                }  # fmt: skip
                assert (await client.put(f"/v1/products/jacket-{i}", json=body)).status_code == 201
            promo = {
                "title": "Rain days",
                "kind": "percent_off",
                "value": 10,
                "applies_to": {"categories": ["outerwear"]},
            }
            assert (await client.put("/v1/promotions/rain", json=promo)).status_code == 201
            skus = ",".join(f"JACKET-{i:03d}-M" for i in range(SKUS))
            results = {}
            for fmt in ("svg", "pdf"):

                async def get(fmt: str = fmt) -> None:
                    r = await client.get(f"/v1/stores/CHI-LOOP/labels?skus={skus}&format={fmt}")
                    assert r.status_code == 200, r.text

                results[f"GET .../labels?skus=<{SKUS}>&format={fmt} (in-process app, PostgreSQL)"] = await timed_async(
                    get, runs
                )
            for name, path in (
                ("store page", "/stores/CHI-LOOP"),
                ("store product page", "/stores/CHI-LOOP/products/JACKET-000-M"),
            ):

                async def page(path: str = path) -> None:
                    r = await client.get(path)
                    assert r.status_code == 200, r.text

                results[f"GET {path} ({name}, in-process app, PostgreSQL)"] = await timed_async(page, runs * 4)
            return results
    finally:
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def row(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[max(0, round(0.9 * len(ordered)) - 1)]
    return f"| {name} | {len(times)} | {statistics.median(times):.0f} | {p90:.0f} | {max(times):.0f} |"


def record(path: Path, lines: list[str]) -> None:
    block = "\n".join([f"<!-- section:{SECTION} -->", *lines, f"<!-- /section:{SECTION} -->"])
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"(?s)<!-- section:{SECTION} -->.*?<!-- /section:{SECTION} -->")
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    load = os.getloadavg()[0]
    labels = sample_labels()
    rows = [
        row(f"render {SKUS} labels as SVG (no I/O)", timed(lambda: label_sheet.svg_sheet(labels), args.runs)),
        row(f"render {SKUS} labels as PDF (no I/O)", timed(lambda: label_sheet.pdf_sheet(labels), args.runs)),
    ]
    http = asyncio.run(over_http(args.server_url, args.runs))
    rows += [row(name, t) for name, t in http.items()]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Shelf labels",
        "",
        f"Run {now} with `python -m benchmarks.labels --runs {args.runs}` on {machine()}. "
        f"Load average at the start: {load:.1f} (the machine is shared). Target: a sheet of {SKUS} labels in under "
        "a second.",
        "",
        "| what | runs | median ms | p90 ms | max ms |",
        "|---|---|---|---|---|",
        *rows,
    ]
    record(args.output, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
