"""The service through PgBouncer in transaction mode (Debian's pgbouncer, started here on loopback).

asyncpg prepares every statement, and in transaction mode a prepared statement does not outlive its
transaction's server connection: the engine runs without statement caches and with unique statement
names (db.through_transaction_pooler). Without that, statements collide or vanish (the first test
shows the failure this avoids).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from commerce.settings import Settings
from tests.concurrency.test_flash_sale import test_flash_sale_sells_exactly_the_stock as flash_sale
from tests.conftest import ADMIN, ADMIN_TOKEN, Api
from tests.ops.clusters import Cluster, pgbouncer
from tests.ops.conftest import empty_tables
from tests.ops.test_metrics import served


@pytest.fixture(scope="module")
def bouncer(clusters: tuple[Cluster, Cluster]) -> Iterator[str]:
    primary, _ = clusters
    with tempfile.TemporaryDirectory(prefix="commerce-pgbouncer-") as tmp, pgbouncer(Path(tmp), primary.port) as port:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"


@pytest.fixture
async def bouncer_client(bouncer: str, clusters: tuple[Cluster, Cluster]) -> AsyncIterator[httpx.AsyncClient]:
    await empty_tables(clusters[0].url)
    settings = Settings(
        database_url=bouncer,
        db_transaction_pooler=True,
        admin_token=ADMIN_TOKEN,
        background_workers=False,
        auth_cache_seconds=0,
    )
    async with served(settings) as client:
        yield client


async def test_statements_prepared_by_name_break_without_the_pooler_settings(bouncer: str) -> None:
    """What the settings avoid: asyncpg's default statement cache through transaction pooling."""
    conns = [await asyncpg.connect(bouncer) for _ in range(2)]

    async def rounds() -> None:
        for _ in range(20):
            await asyncio.gather(*(c.fetchval("SELECT $1::int + 1", 1) for c in conns))
            await asyncio.gather(*(c.fetchval("SELECT $1::text", "x") for c in conns))

    try:
        with pytest.raises(asyncpg.PostgresError):
            await rounds()
    finally:
        for c in conns:
            await c.close()


async def test_the_api_works_through_pgbouncer(bouncer_client: httpx.AsyncClient, clusters) -> None:
    client = bouncer_client
    api = Api(client)
    await api.store("LOOP", 41.8827, -87.6278, pickup=True)
    await api.product("tee", ["TEE-S", "TEE-M"])
    for _ in range(3):  # the same statements again: no stale or colliding prepared statements
        r = await client.get("/v1/stores?near=41.88,-87.63&radius_km=5", headers=ADMIN)
        assert r.status_code == 200, r.text
        assert [s["code"] for s in r.json()["items"]] == ["LOOP"]
        r = await client.get("/v1/products?available_at=LOOP", headers=ADMIN)
        assert r.status_code == 200, r.text
        r = await client.get("/v1/variants/TEE-S", headers=ADMIN)
        assert r.status_code == 200, r.text


async def test_flash_sale_through_pgbouncer_sells_exactly_the_stock(
    bouncer_client: httpx.AsyncClient, clusters
) -> None:
    client = bouncer_client
    direct = await asyncpg.connect(clusters[0].url)
    try:
        await flash_sale(client, Api(client), client.app, direct)  # type: ignore[attr-defined]
    finally:
        await direct.close()
