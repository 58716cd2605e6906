"""The relay and the webhook dispatcher are woken when there is work, not by their (safety-net) polls.

Each test runs a service process with background workers whose polls are 30 s apart: an event that
reaches the feed and a webhook within a few seconds got there because something woke them (the
process's own write, or a notification heard on its listening connection). These are functional checks of the wake-up with generous bounds, not timings (those are in
benchmarks/idle_wake.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import msgspec
import pytest

from commerce import notify
from commerce.events.relay import EVENTS_WRITTEN
from commerce.settings import Settings
from tests.api.test_webhooks import Receiver
from tests.conftest import ADMIN, Api, app_client

SLOW = 30.0  # the safety-net polls: far longer than any wait below
SOON = 5.0  # generous: a woken worker takes milliseconds
LISTENERS = "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()"


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
    r.thread.join()


@contextlib.asynccontextmanager
async def service_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A service process with its background workers on, polling only every 30 s."""
    live = msgspec.structs.replace(
        settings,
        background_workers=True,
        event_relay_interval_seconds=SLOW,
        webhook_poll_seconds=SLOW,
        segment_refresh_seconds=SLOW,
    )
    async with app_client(live) as c:
        yield c


async def feed_end(client: httpx.AsyncClient) -> int:
    seq = 0
    while True:
        page = (await client.get("/v1/events", params={"after": seq, "limit": 500}, headers=ADMIN)).json()
        if not page["items"]:
            return seq
        seq = page["next_after"]


async def arrives(client: httpx.AsyncClient, hooks: Receiver, after: int, n: int) -> None:
    """Event `n` (written after seq `after`) reaches the feed and the webhook within SOON seconds."""
    deadline = time.monotonic() + SOON
    seen: list[int] = []
    while time.monotonic() < deadline:
        r = await client.get("/v1/events", params={"after": after, "types": "inventory.changed"}, headers=ADMIN)
        seen = [e["data"]["on_hand"] for e in r.json()["items"]]
        if n in seen:
            break
        await asyncio.sleep(0.02)
    assert n in seen, f"event {n} is not in the feed after {SOON} s (the relay was not woken): {seen}"
    while time.monotonic() < deadline and n not in [b["data"]["on_hand"] for b in hooks.accepted()]:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    delivered = [b["data"]["on_hand"] for b in hooks.accepted()]
    assert n in delivered, f"event {n} was not delivered after {SOON} s (the dispatcher was not woken): {delivered}"


async def set_stock(client: httpx.AsyncClient, store: str, n: int) -> None:
    """A stock count through the service: its transaction writes an `inventory.changed` event."""
    r = await client.put(f"/v1/inventory/{store}/{store}-TEE", json={"on_hand": n}, headers=ADMIN)
    assert r.status_code == 200, r.text


async def subscribe(client: httpx.AsyncClient, hooks: Receiver, store: str) -> None:
    api = Api(client)
    await api.store(store, 41.8827, -87.6278, pickup=True)
    await api.product(f"{store.lower()}-tee", [f"{store}-TEE"])
    r = await client.put(
        "/v1/webhooks/wake",
        json={"url": hooks.url, "types": ["inventory.changed"], "secret": "s3cret-s3cret-s3cret"},
        headers=ADMIN,
    )
    assert r.status_code in (200, 201), r.text


async def test_a_committed_event_wakes_the_relay_and_the_dispatcher(settings: Settings, hooks: Receiver) -> None:
    async with service_process(settings) as process:
        await subscribe(process, hooks, "WAKE1")
        await asyncio.sleep(0.2)  # the workers' first rounds (at start-up) are over: now they sleep
        after = await feed_end(process)
        for n in (1, 2):
            await set_stock(process, "WAKE1", n)
            await arrives(process, hooks, after, n)


async def written_elsewhere(conn: asyncpg.Connection, n: int) -> None:
    """An event written by another program, which wakes the relays with a notification on commit."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO events (type, data) VALUES ('inventory.changed', jsonb_build_object('on_hand', $1::int))", n
        )
        await conn.execute("SELECT pg_notify($1, '')", EVENTS_WRITTEN)


async def test_the_workers_recover_a_lost_listening_connection(
    settings: Settings, db_conn: asyncpg.Connection, hooks: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "RECONNECT_SECONDS", 0.1)
    before = {r["pid"] for r in await db_conn.fetch(LISTENERS, notify.APPLICATION_NAME)}
    async with service_process(settings) as process:
        await subscribe(process, hooks, "WAKE2")
        await asyncio.sleep(0.2)
        ours = {r["pid"] for r in await db_conn.fetch(LISTENERS, notify.APPLICATION_NAME)} - before
        assert ours, "the service process does not listen"
        after = await feed_end(process)
        await written_elsewhere(db_conn, 1)  # heard through the listener
        await arrives(process, hooks, after, 1)
        await db_conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY($1)", list(ours))
        # Written while nobody listened: its notification is lost; the reconnected listener makes up
        # for it by waking the relay.
        await written_elsewhere(db_conn, 2)
        await arrives(process, hooks, after, 2)
        now: set[int] = set()
        deadline = time.monotonic() + SOON
        while time.monotonic() < deadline and not now:
            now = {r["pid"] for r in await db_conn.fetch(LISTENERS, notify.APPLICATION_NAME)} - before - ours
            await asyncio.sleep(0.02)
        assert now, "the listener did not reconnect"
        # And it listens again: the next one is heard.
        await written_elsewhere(db_conn, 3)
        await arrives(process, hooks, after, 3)


def test_behind_a_transaction_pooler_nothing_listens_unless_a_direct_url_is_given() -> None:
    url = "postgresql://postgres@127.0.0.1:6432/shop"
    assert notify.listen_dsn(Settings(database_url=url)) is not None
    assert notify.listen_dsn(Settings(database_url=url, db_transaction_pooler=True)) is None
    direct = notify.listen_dsn(
        Settings(
            database_url=url,
            db_transaction_pooler=True,
            database_listen_url="postgresql://postgres@127.0.0.1:5432/shop",
        )
    )
    assert direct is not None and ":5432/shop" in direct


async def test_a_checkout_wakes_the_relay_and_the_dispatcher(settings: Settings, hooks: Receiver) -> None:
    """Checkout writes its events on the driver connection itself, which SQLAlchemy's statement events
    do not see: its commit must still wake the relay (and through it the dispatcher)."""
    from tests.api.test_checkout import cart_with, checkout, pickup

    async with service_process(settings) as process:
        api = Api(process)
        await api.store("WAKE3", 41.8827, -87.6278, pickup=True)
        await api.product("wake3-tee", ["WAKE3-TEE"])
        await set_stock(process, "WAKE3", 5)
        web = await api.key("storefront")
        r = await process.put(
            "/v1/webhooks/placed",
            json={"url": hooks.url, "types": ["order.placed"], "secret": "s3cret-s3cret-s3cret"},
            headers=ADMIN,
        )
        assert r.status_code in (200, 201), r.text
        cart_id = await cart_with(process, web, pickup("WAKE3-TEE", 1, "WAKE3"))
        await asyncio.sleep(0.2)  # the rounds woken by the set-up are over: now the workers sleep
        after = await feed_end(process)
        r = await checkout(process, cart_id, web)
        assert r.status_code == 201, r.text
        order_id = r.json()["id"]
        deadline = time.monotonic() + SOON
        placed: list[str] = []
        while time.monotonic() < deadline and order_id not in placed:
            feed = await process.get("/v1/events", params={"after": after, "types": "order.placed"}, headers=ADMIN)
            placed = [e["data"]["order_id"] for e in feed.json()["items"]]
            await asyncio.sleep(0.02)
        assert order_id in placed, f"order.placed is not in the feed after {SOON} s (the relay was not woken)"
        while time.monotonic() < deadline and order_id not in [b["data"]["order_id"] for b in hooks.accepted()]:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        assert order_id in [b["data"]["order_id"] for b in hooks.accepted()], "order.placed was not delivered"
