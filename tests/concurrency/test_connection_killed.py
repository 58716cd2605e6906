"""A checkout whose database connection dies mid-transaction leaves nothing behind: tried once more on a
fresh connection, then answered 503 if that one dies too."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx

from tests.api.test_checkout import cart_with, pickup, stock
from tests.conftest import Api, _asyncpg_dsn


async def two_line_cart(client: httpx.AsyncClient, api: Api, app) -> tuple[dict[str, str], str]:  # type: ignore[no-untyped-def]
    """A storefront key and a cart of SKU-A and SKU-B, 5 of each in stock at LOOP."""
    await api.store("LOOP", pickup=True)
    await api.product("p", ["SKU-A", "SKU-B"], price=1000)
    await stock(app, [("LOOP", "SKU-A", 5), ("LOOP", "SKU-B", 5)])
    web = await api.key("storefront")
    return web, await cart_with(client, web, pickup("SKU-A", 1), pickup("SKU-B", 1))


@contextlib.asynccontextmanager
async def sku_b_held(database_url: str) -> AsyncIterator[None]:
    """Hold SKU-B's level from another connection, so a checkout blocks inside its transaction."""
    blocker = await asyncpg.connect(_asyncpg_dsn(database_url))
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("SELECT 1 FROM inventory_levels WHERE sku = 'SKU-B' FOR UPDATE")
    try:
        yield
    finally:
        await tx.rollback()
        await blocker.close()


async def kill_lock_waiters(db_conn, count: int) -> None:  # type: ignore[no-untyped-def]
    """Terminate the service's next `count` backends seen waiting for a lock, one after another."""
    killed: list[int] = []
    for _ in range(400):
        victim = await db_conn.fetchval(
            # This run's database only: other runs on a shared server have lock waiters of their own.
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'commerce' AND wait_event_type = 'Lock'"
            " AND datname = current_database() AND NOT pid = ANY($1::int[])",
            killed,
        )
        if victim:
            assert await db_conn.fetchval("SELECT pg_terminate_backend($1)", victim)
            killed.append(victim)
            if len(killed) == count:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the checkout reached the locked row {len(killed)} time(s), not {count}")


async def test_killed_connection_mid_checkout_leaves_no_partial_order(
    client: httpx.AsyncClient, api: Api, app, db_conn, database_url: str
) -> None:
    web, cart_id = await two_line_cart(client, api, app)
    ledger_before = await db_conn.fetchval("SELECT count(*) FROM inventory_ledger")

    async with sku_b_held(database_url):
        task = asyncio.create_task(
            client.post(f"/v1/carts/{cart_id}/checkout", json={}, headers={**web, "Idempotency-Key": str(uuid.uuid4())})
        )
        # The first loss is retried once on a fresh connection (the Idempotency-Key makes that safe):
        # kill both tries while they wait for the row.
        await kill_lock_waiters(db_conn, 2)
    r = await task
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "service_unavailable"

    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 0
    assert await db_conn.fetchval("SELECT count(*) FROM reservations") == 0
    assert await db_conn.fetchval("SELECT count(*) FROM inventory_ledger") == ledger_before
    assert await db_conn.fetchval("SELECT sum(reserved) FROM inventory_levels") == 0
    assert await db_conn.fetchval("SELECT count(*) FROM events WHERE type = 'order.placed'") == 0

    # The service keeps serving: the same cart checks out on the next try.
    r = await client.post(
        f"/v1/carts/{cart_id}/checkout", json={}, headers={**web, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert r.status_code == 201, r.text


async def test_search_connections_killed_between_requests_recover(client: httpx.AsyncClient, api: Api, db_conn) -> None:
    """The one-statement searches use a pool of their own; a server that dropped its connections
    costs at most a 503 (retry), never a 500, and the next request is served."""
    await api.store("NEAR", 41.88, -87.63)
    web = await api.key("storefront")
    search = "/v1/stores?near=41.88,-87.63&radius_km=5"
    for _ in range(3):
        assert (await client.get(search, headers=web)).status_code == 200
    killed = await db_conn.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = 'commerce-reads' AND datname = current_database()"
    )
    assert killed >= 1
    first = await client.get(search, headers=web)
    assert first.status_code in (200, 503), first.text
    if first.status_code == 503:
        assert first.json()["code"] == "service_unavailable"
    again = await client.get(search, headers=web)
    assert again.status_code == 200, again.text
    assert [s["code"] for s in again.json()["items"]] == ["NEAR"]


async def test_transaction_connections_killed_between_requests_recover(
    client: httpx.AsyncClient, api: Api, db_conn
) -> None:
    """Pooled transaction connections are not pinged before use: a server that dropped them costs at
    most one 503 (retry), never a 500, and the pool is renewed for the next request."""
    await api.store("HERE", 41.88, -87.63)
    web = await api.key("storefront")  # looked up through the pool on every request (no key cache in tests)
    for _ in range(3):
        assert (await client.get("/v1/stores/HERE", headers=web)).status_code == 200
    killed = await db_conn.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = 'commerce' AND datname = current_database()"
    )
    assert killed >= 1
    first = await client.get("/v1/stores/HERE", headers=web)
    assert first.status_code in (200, 503), first.text
    if first.status_code == 503:
        assert first.json()["code"] == "service_unavailable"
    for _ in range(3):
        again = await client.get("/v1/stores/HERE", headers=web)
        assert again.status_code == 200, again.text


async def test_a_checkout_whose_connection_dies_once_is_placed_once_on_a_fresh_one(
    client: httpx.AsyncClient, api: Api, app, db_conn, database_url: str
) -> None:
    web, cart_id = await two_line_cart(client, api, app)
    # A checkout first: connections an earlier test's killed backends left dead in the pool are
    # renewed (the first lost one invalidates the pool), so the try killed below is this order's first.
    warm = await cart_with(client, web, pickup("SKU-A", 1))
    r = await client.post(f"/v1/carts/{warm}/checkout", json={}, headers={**web, "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    ledger_before = await db_conn.fetchval("SELECT count(*) FROM inventory_ledger")
    async with sku_b_held(database_url):
        task = asyncio.create_task(
            client.post(f"/v1/carts/{cart_id}/checkout", json={}, headers={**web, "Idempotency-Key": str(uuid.uuid4())})
        )
        await kill_lock_waiters(db_conn, 1)
        await asyncio.sleep(0.2)  # the second try waits on the row in turn
    r = await task
    assert r.status_code == 201, r.text
    # Exactly one order's worth beside the first: nothing of the killed transaction remains.
    assert await db_conn.fetchval("SELECT count(*) FROM orders WHERE cart_id = $1", cart_id) == 1
    assert await db_conn.fetchval("SELECT count(*) FROM reservations") == 3
    assert await db_conn.fetchval("SELECT count(*) FROM inventory_ledger") == ledger_before + 2
    assert await db_conn.fetchval("SELECT sum(reserved) FROM inventory_levels") == 3
    assert await db_conn.fetchval("SELECT count(*) FROM events WHERE type = 'order.placed'") == 2
