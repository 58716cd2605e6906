"""Adapter tests run the real service over real HTTP on loopback (with its background workers, so the
event feed is numbered), a platform emulator over real HTTP, and the adapter daemon, in process or as
a separate process that can be killed."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import msgspec
import pytest
import uvicorn

from adapters.config import load_config
from adapters.shopify.daemon import run
from commerce.app import create_app
from commerce.settings import Settings
from tests.adapters.emulators.shopify import ShopifyEmulator
from tests.adapters.harness import FAST_RETRY, ROOT, AdapterHandle, free_port, wait_until, write_config


@pytest.fixture(scope="package")
async def live_service(settings: Settings) -> AsyncIterator[str]:
    """The service on a loopback port, background workers on (the relay numbers the feed). Stopped
    after the adapter tests: its webhook dispatcher and relay would race the tests of those workers."""
    # A small pool: the PostgreSQL server may be shared with other test runs.
    live = msgspec.structs.replace(
        settings,
        background_workers=True,
        event_relay_interval_seconds=0.02,
        db_pool_size=4,
        db_max_overflow=4,
        db_read_pool_size=2,
    )
    app = create_app(live)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task
    sock.close()


@pytest.fixture
async def service(live_service: str, database_url: str, admin: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of the live service (tables emptied before the test: `database_url` is used)."""
    async with httpx.AsyncClient(base_url=live_service, headers=admin, timeout=10.0) as client:
        yield client


@pytest.fixture
async def emulator() -> AsyncIterator[ShopifyEmulator]:
    emu = ShopifyEmulator()
    async with emu.serve():
        yield emu


@pytest.fixture
async def start_adapter(
    tmp_path: Path, live_service: str, service: httpx.AsyncClient, emulator: ShopifyEmulator
) -> AsyncIterator[Callable[..., Awaitable[AdapterHandle]]]:
    """Start the Shopify adapter for this test's emulator; `process=True` runs `commerce adapter shopify
    --config FILE` as a separate process. The emulator's webhooks go to it."""

    r = await service.post("/v1/api-keys", json={"role": "integration"})
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    port = free_port()
    config_path = tmp_path / "shopify.toml"
    handles: list[AdapterHandle] = []

    async def start(
        locations: dict[str, str], *, process: bool = False, shopify_owned: list[str] | None = None, launch: bool = True
    ) -> AdapterHandle:
        write_config(
            config_path, service_url=live_service, key=key, shop_url=emulator.url, secret=emulator.webhook_secret,
            token=emulator.access_token, port=port, locations=locations, shopify_owned=shopify_owned,
        )  # fmt: skip
        handle = AdapterHandle(f"http://127.0.0.1:{port}", config_path, tmp_path / "state")
        if not launch:
            return handle
        emulator.webhook_url = handle.url + "/webhooks/shopify"  # deliveries retry until it listens
        if process:
            env = {**os.environ, "COMMERCE_LOG_LEVEL": "WARNING"}
            handle.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "adapters.shopify", "--config", str(config_path),
                cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        else:
            started = asyncio.Event()
            handle.task = asyncio.get_running_loop().create_task(
                run(load_config(config_path, "shopify"), retry=FAST_RETRY, started=started)
            )
            waiter = asyncio.ensure_future(started.wait())
            await asyncio.wait([waiter, handle.task], return_when=asyncio.FIRST_COMPLETED)
            if handle.task.done():
                await handle.task
        async with httpx.AsyncClient() as http:

            async def healthy() -> bool:
                try:
                    return (await http.get(handle.url + "/health")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_until(healthy, within=20.0, what="the adapter's /health")
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        await handle.stop()
