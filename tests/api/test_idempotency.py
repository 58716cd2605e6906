"""The Idempotency-Key contract, exercised on stock adjustments (the generic mechanism every stock POST uses)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.api.test_inventory import key_with_id
from tests.conftest import ADMIN, Api
from tests.stock import assert_conserved

URL = "/v1/inventory/adjustments"
BODY = {"store": "A", "sku": "J-S", "delta": 5, "reason": "receipt", "note": "PO 1"}


@pytest.fixture
async def shop(api: Api) -> None:
    await api.store("A")
    await api.product("jacket", ["J-S"])


async def ledger_count(db_conn: Any) -> int:
    return int(await db_conn.fetchval("SELECT count(*) FROM inventory_ledger"))


async def on_hand(db_conn: Any) -> int:
    return int(await db_conn.fetchval("SELECT on_hand FROM inventory_levels WHERE store_code='A' AND sku='J-S'"))


async def test_same_key_and_body_replays_the_first_response(
    shop: None, client: httpx.AsyncClient, db_conn: Any
) -> None:
    headers = {**ADMIN, "Idempotency-Key": "k-1"}
    first = await client.post(URL, json=BODY, headers=headers)
    assert first.status_code == 201 and first.json()["on_hand"] == 5
    # Same body with its keys in another order and other spacing is the same request.
    reordered = httpx.Headers({**headers, "Content-Type": "application/json"})
    again = await client.post(
        URL, content=b'{"note":"PO 1", "reason":"receipt","delta":5,"sku":"J-S","store":"A"}', headers=reordered
    )
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await ledger_count(db_conn) == 1 and await on_hand(db_conn) == 5
    events = await db_conn.fetchval("SELECT count(*) FROM events WHERE type = 'inventory.changed'")
    assert events == 1


async def test_same_key_with_another_body_is_422(shop: None, client: httpx.AsyncClient, db_conn: Any) -> None:
    headers = {**ADMIN, "Idempotency-Key": "k-2"}
    assert (await client.post(URL, json=BODY, headers=headers)).status_code == 201
    r = await client.post(URL, json={**BODY, "delta": 6}, headers=headers)
    assert r.status_code == 422 and r.json()["code"] == "idempotency_conflict"
    assert await ledger_count(db_conn) == 1 and await on_hand(db_conn) == 5


async def test_without_a_key_each_request_applies(shop: None, client: httpx.AsyncClient, db_conn: Any) -> None:
    for _ in range(2):
        assert (await client.post(URL, json=BODY, headers=ADMIN)).status_code == 201
    assert await on_hand(db_conn) == 10


async def test_keys_are_scoped_to_the_api_key(shop: None, client: httpx.AsyncClient, db_conn: Any) -> None:
    pos, _ = await key_with_id(client, "pos", "A")
    associate, _ = await key_with_id(client, "associate", "A")
    for headers in (pos, associate, ADMIN):
        r = await client.post(URL, json=BODY, headers={**headers, "Idempotency-Key": "shared"})
        assert r.status_code == 201 and r.headers.get("Idempotent-Replayed") is None
    assert await ledger_count(db_conn) == 3 and await on_hand(db_conn) == 15
    # Another key's use of the string does not make a different body a conflict here.
    r = await client.post(URL, json={**BODY, "delta": 1}, headers={**pos, "Idempotency-Key": "other"})
    assert r.status_code == 201


async def test_same_key_while_the_first_is_running_is_409(
    shop: None, client: httpx.AsyncClient, app: Any, db_conn: Any
) -> None:
    headers, key_id = await key_with_id(client, "pos", "A")
    headers = {**headers, "Idempotency-Key": "slow"}
    # Hold the key's claim the way a first request does while it is still in its transaction.
    async with app.state.sessionmaker() as first, first.begin():
        await first.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:scope, 7))"), {"scope": f"{key_id}:slow"}
        )
        r = await client.post(URL, json=BODY, headers=headers)
        assert r.status_code == 409 and r.json()["code"] == "request_in_flight"
        assert await ledger_count(db_conn) == 0
    # Once the first finishes the retry goes through (the first stored nothing here, so it runs once).
    r = await client.post(URL, json=BODY, headers=headers)
    assert r.status_code == 201 and await on_hand(db_conn) == 5


async def test_concurrent_duplicates_apply_once(shop: None, client: httpx.AsyncClient, db_conn: Any) -> None:
    headers = {**ADMIN, "Idempotency-Key": "burst"}
    responses = await asyncio.gather(*(client.post(URL, json=BODY, headers=headers) for _ in range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}
    assert all(r.json()["code"] == "request_in_flight" for r in responses if r.status_code == 409)
    assert await ledger_count(db_conn) == 1 and await on_hand(db_conn) == 5
    await assert_conserved(db_conn)


async def test_a_failed_request_is_not_stored_and_may_be_retried(
    shop: None, client: httpx.AsyncClient, db_conn: Any
) -> None:
    headers = {**ADMIN, "Idempotency-Key": "retry-me"}
    take = {"store": "A", "sku": "J-S", "delta": -2, "reason": "damage"}
    r = await client.post(URL, json=take, headers=headers)
    assert r.status_code == 409 and r.json()["code"] == "insufficient_stock"
    assert await db_conn.fetchval("SELECT count(*) FROM idempotency_keys") == 0
    assert (await client.post(URL, json=BODY, headers=ADMIN)).status_code == 201
    r = await client.post(URL, json=take, headers=headers)
    assert r.status_code == 201 and r.json()["on_hand"] == 3
    replay = await client.post(URL, json=take, headers=headers)
    assert replay.status_code == 201 and replay.content == r.content and await on_hand(db_conn) == 3


async def test_invalid_key_header_is_422(shop: None, client: httpx.AsyncClient) -> None:
    r = await client.post(URL, json=BODY, headers={**ADMIN, "Idempotency-Key": "x" * 256})
    assert r.status_code == 422
