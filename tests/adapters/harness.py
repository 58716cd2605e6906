"""Helpers for the adapter tests (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.client import RetryPolicy

FAST_RETRY = RetryPolicy(attempts=8, timeout=20.0, wait_initial=0.02, wait_max=0.3, wait_jitter=0.05)
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until(check: Callable[[], Awaitable[bool]], within: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class AdapterHandle:
    url: str
    config_path: Path
    state_dir: Path
    task: asyncio.Task[None] | None = None
    process: asyncio.subprocess.Process | None = None

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await self.process.wait()
        self.process = None

    async def kill(self) -> None:
        """SIGKILL the adapter process: no cleanup runs, as in a crash."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()
        self.process = None


def write_config(
    path: Path, *, service_url: str, key: str, shop_url: str, secret: str, token: str, port: int,
    locations: dict[str, str], shopify_owned: list[str] | None = None,
) -> None:  # fmt: skip
    lines = [
        "[commerce]", f'url = "{service_url}"', f'key = "{key}"', "",
        "[listen]", 'host = "127.0.0.1"', f"port = {port}", "",
        "[state]", 'dir = "state"', "",
        "[shopify]", f'shop_url = "{shop_url}"', f'access_token = "{token}"', f'webhook_secret = "{secret}"',
        f"shopify_owned = {list(shopify_owned or [])!r}".replace("'", '"'),
        "[shopify.locations]", *[f'"{store}" = "{loc}"' for store, loc in locations.items()],
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


async def seed_store(service: Any, code: str, *, kind: str = "store") -> None:
    body = {"name": code, "kind": kind, "latitude": 41.88, "longitude": -87.63, "pickup_enabled": kind == "store"}
    r = await service.put(f"/v1/stores/{code}", json=body)
    assert r.status_code in (200, 201), r.text


async def seed_catalog(service: Any, skus: list[str], price: int = 1999) -> None:
    variants = [{"sku": s, "price": {"amount": price, "currency": "USD"}} for s in skus]
    r = await service.put("/v1/products/p-" + skus[0].lower(), json={"title": "Thing", "variants": variants})
    assert r.status_code in (200, 201), r.text


async def set_on_hand(service: Any, store: str, sku: str, on_hand: int) -> None:
    r = await service.put(f"/v1/inventory/{store}/{sku}", json={"on_hand": on_hand})
    assert r.status_code == 200, r.text


async def store_with_stock(service: Any, emulator: Any, stock: dict[str, int], code: str = "CHI-LOOP") -> str:
    """Our store `code` with this on_hand per SKU, and its Shopify location (on the emulator) with each
    SKU stocked at 0; returns the location id."""
    await seed_store(service, code)
    await seed_catalog(service, sorted(stock))
    for sku, on_hand in stock.items():
        await set_on_hand(service, code, sku, on_hand)
    location = str(emulator.add_location("Chicago Loop"))
    for sku in stock:
        emulator.add_variant(sku, stocked_at={location: 0})
    return location


async def level(service: Any, store: str, sku: str) -> dict[str, Any]:
    r = await service.get(f"/v1/inventory/{store}/{sku}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def ledger(service: Any, store: str, sku: str) -> list[dict[str, Any]]:
    r = await service.get(f"/v1/inventory/{store}/{sku}/ledger", params={"limit": 500})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def imported(service: Any, external_id: int | str) -> list[dict[str, Any]]:
    r = await service.get("/v1/orders", params={"source": "shopify", "external_id": str(external_id)})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def adapter_idle(handle: AdapterHandle, emulator: Any) -> None:
    """Wait until the emulator has delivered every webhook and the adapter has applied them and caught up
    with our feed."""
    import httpx

    await emulator.settle()

    async def idle() -> bool:
        async with httpx.AsyncClient() as http:
            health = (await http.get(handle.url + "/health")).json()
        return bool(health["inbox_pending"] == 0 and health["lag_events"] == 0)

    await wait_until(idle, what="the adapter to be idle")
