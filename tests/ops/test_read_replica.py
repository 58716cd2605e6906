"""DATABASE_READ_URL: the one-statement searches answer from a streaming replica, with the primary as fallback.

A real primary and a replica made with `pg_basebackup -R`, on loopback ports, in a temporary folder.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

import commerce.replica
from commerce.settings import Settings
from tests.api.test_webhooks import eventually
from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.ops.clusters import Cluster
from tests.ops.conftest import empty_tables
from tests.ops.metrics_scrape import scrape, value
from tests.ops.test_metrics import served


@pytest.fixture
async def replica_client(clusters: tuple[Cluster, Cluster]) -> AsyncIterator[httpx.AsyncClient]:
    primary, replica = clusters
    await empty_tables(primary.url)
    settings = Settings(
        database_url=primary.url,
        database_read_url=replica.url,
        admin_token=ADMIN_TOKEN,
        background_workers=False,
        auth_cache_seconds=0,
    )
    async with served(settings) as c:
        yield c


async def put_store(client: httpx.AsyncClient, code: str) -> None:
    body = {"name": code, "kind": "store", "latitude": 41.88, "longitude": -87.63}
    r = await client.put(f"/v1/stores/{code}", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text


async def receive(client: httpx.AsyncClient, store: str, sku: str = "TEE-S") -> None:
    body = {"store": store, "sku": sku, "delta": 5, "reason": "receipt"}
    r = await client.post(
        "/v1/inventory/adjustments", json=body, headers={**ADMIN, "Idempotency-Key": f"{store}-{sku}"}
    )
    assert r.status_code in (200, 201), r.text


async def fed(client: httpx.AsyncClient) -> list[str]:
    """Stores in the local-inventory feed (streamed from the replica when there is one)."""
    r = await client.get("/v1/feeds/local-inventory", headers=ADMIN)
    assert r.status_code == 200, r.text
    return sorted({json.loads(line)["store_code"] for line in r.text.splitlines()})


async def listed(client: httpx.AsyncClient) -> list[str]:
    r = await client.get("/v1/stores", headers=ADMIN)
    assert r.status_code == 200, r.text
    return [s["code"] for s in r.json()["items"]]


async def test_searches_answer_from_the_replica(replica_client: httpx.AsyncClient, clusters) -> None:
    client = replica_client
    _primary, replica = clusters
    state = client.app.state  # type: ignore[attr-defined]
    reader = state.replica.reader(state.read_pool)
    assert (await reader.fetch("SELECT pg_is_in_recovery() AS r"))[0]["r"] is True
    assert (await reader.fetch("SELECT inet_server_port() AS p"))[0]["p"] == replica.port

    await put_store(client, "ONE")
    r = await client.put(
        "/v1/products/tee",
        json={"title": "Tee", "variants": [{"sku": "TEE-S", "price": {"amount": 1000, "currency": "USD"}}]},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    await receive(client, "ONE")
    await eventually(lambda: listed_contains(client, "ONE"))
    await eventually(lambda: fed_contains(client, "ONE"))
    standby = await asyncpg.connect(replica.url)
    try:
        # Hold the replica's replay: what the primary writes now is not visible to the searches...
        await standby.execute("SELECT pg_wal_replay_pause()")
        await put_store(client, "TWO")  # written through the primary (a transaction)
        await receive(client, "TWO")
        r = await client.get("/v1/stores/TWO", headers=ADMIN)  # read in a primary transaction
        assert r.status_code == 200
        assert await listed(client) == ["ONE"]  # the list is a replica search
        assert await fed(client) == ["ONE"]  # and so is the local-inventory feed
        samples = await scrape(client)
        assert value(samples, "commerce_db_replica_up") == 1
        assert value(samples, "commerce_db_replica_lag_bytes") > 0
        assert value(samples, "commerce_db_replica_lag_seconds") > 0
        # ... until it replays again.
        await standby.execute("SELECT pg_wal_replay_resume()")
        await eventually(lambda: listed_contains(client, "TWO"))
        assert await fed(client) == ["ONE", "TWO"]
        samples = await scrape(client)
        assert value(samples, "commerce_db_replica_lag_seconds") == 0
        # The searches' connections are on the replica, named as such.
        names = await standby.fetch(
            "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'commerce%'"
        )
        assert {n["application_name"] for n in names} <= {"commerce-replica-reads", "commerce"}
        assert "commerce-replica-reads" in {n["application_name"] for n in names}
    finally:
        await standby.close()


async def listed_contains(client: httpx.AsyncClient, code: str) -> bool:
    return code in await listed(client)


async def fed_contains(client: httpx.AsyncClient, code: str) -> bool:
    return code in await fed(client)


async def test_a_replica_that_stops_answering_falls_back_to_the_primary(
    replica_client: httpx.AsyncClient, clusters, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = replica_client
    _primary, replica = clusters
    monkeypatch.setattr(commerce.replica, "RETRY_AFTER_SECONDS", 0.2)
    await put_store(client, "ONE")
    await eventually(lambda: listed_contains(client, "ONE"))
    replica.stop("immediate")
    try:
        with caplog.at_level(logging.WARNING, logger="commerce.replica"):
            for _ in range(5):  # the first finds the replica gone, the rest skip it
                assert await listed(client) == ["ONE"]
            await put_store(client, "TWO")
            assert await listed(client) == ["ONE", "TWO"]  # answered by the primary
            r = await client.get("/v1/feeds/local-inventory", headers=ADMIN)
            assert r.status_code == 200  # streamed from the primary
        warnings = [r.getMessage() for r in caplog.records if r.name == "commerce.replica"]
        assert len(warnings) == 1, warnings
        assert "not answering" in warnings[0]
        samples = await scrape(client)
        assert value(samples, "commerce_db_replica_up") == 0
    finally:
        replica.start()
    # Back: after the retry delay the searches go to the replica again.
    state = client.app.state  # type: ignore[attr-defined]
    reader = state.replica.reader(state.read_pool)

    async def on_replica() -> bool:
        await asyncio.sleep(0.25)
        return bool((await reader.fetch("SELECT pg_is_in_recovery() AS r"))[0]["r"])

    await eventually(on_replica)
    assert await listed(client) == ["ONE", "TWO"]


def test_searches_use_the_primary_when_no_replica_is_set() -> None:
    assert Settings.from_env({}).database_read_url is None
    assert Settings.from_env({"DATABASE_READ_URL": "postgresql://r/db"}).database_read_url == "postgresql://r/db"
