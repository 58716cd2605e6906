"""Admission control through the API: with one transaction admitted at a time, concurrent checkouts all
complete and a flash sale still sells exactly its stock; a transaction that waits too long is told to retry."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import msgspec

from commerce.settings import Settings
from tests.api.test_checkout import cart_with, pickup, stock
from tests.conftest import Api, app_client


def one_at_a_time(settings: Settings, wait: float = 60.0) -> Settings:
    return msgspec.structs.replace(settings, db_admission_limit=1, db_admission_wait_seconds=wait)


async def buy(client: httpx.AsyncClient, headers: dict[str, str], cart_id: str) -> httpx.Response:
    return await client.post(
        f"/v1/carts/{cart_id}/checkout", json={}, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}
    )


async def test_concurrent_checkouts_all_complete_one_at_a_time(
    client: httpx.AsyncClient, api: Api, app, db_conn, settings: Settings
) -> None:
    await api.store("LOOP", pickup=True)
    await api.product("tee", ["TEE-1", "TEE-2"], price=2000)
    await stock(app, [("LOOP", "TEE-1", 100), ("LOOP", "TEE-2", 100)])
    web = await api.key("storefront")
    carts = [await cart_with(client, web, pickup(f"TEE-{1 + n % 2}", 2)) for n in range(40)]
    async with app_client(one_at_a_time(settings)) as limited:
        responses = await asyncio.gather(*(buy(limited, web, c) for c in carts))
    assert [r.status_code for r in responses] == [201] * 40, [r.text for r in responses if r.status_code != 201]
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 40
    assert await db_conn.fetchval("SELECT sum(reserved) FROM inventory_levels WHERE store_code = 'LOOP'") == 80


async def test_flash_sale_is_exact_one_at_a_time(
    client: httpx.AsyncClient, api: Api, app, db_conn, settings: Settings
) -> None:
    await api.store("LOOP", pickup=True)
    await api.product("drop", ["DROP-1"], price=5000)
    await stock(app, [("LOOP", "DROP-1", 7)])
    web = await api.key("storefront")
    carts = [await cart_with(client, web, pickup("DROP-1", 1)) for _ in range(120)]
    async with app_client(one_at_a_time(settings)) as limited:
        statuses = [r.status_code for r in await asyncio.gather(*(buy(limited, web, c) for c in carts))]
    assert (statuses.count(201), statuses.count(409)) == (7, 113)
    row = await db_conn.fetchrow("SELECT on_hand, reserved FROM inventory_levels WHERE sku = 'DROP-1'")
    assert (row["on_hand"], row["reserved"]) == (7, 7)
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 7


async def test_a_checkout_that_waits_too_long_is_told_to_retry(
    client: httpx.AsyncClient, api: Api, app, db_conn, settings: Settings
) -> None:
    await api.store("LOOP", pickup=True)
    await api.product("tee", ["TEE-1"], price=2000)
    await stock(app, [("LOOP", "TEE-1", 5)])
    web = await api.key("storefront")
    cart = await cart_with(client, web, pickup("TEE-1", 1))
    # The in-process app shares this event loop: take its only slot, as a long transaction would.
    async with app_client(one_at_a_time(settings, wait=0.05)) as limited:
        gate = limited._transport.app.state.admission  # type: ignore[attr-defined]
        async with gate.slot():
            refused = await buy(limited, web, cart)
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["code"] == "service_unavailable"
        assert await db_conn.fetchval("SELECT count(*) FROM orders") == 0
        # Nothing was changed, and the slot is back: the retry goes through.
        assert (await buy(limited, web, cart)).status_code == 201
