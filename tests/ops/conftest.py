"""One primary with a streaming replica for the operations tests (started once, stopped at the end)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from commerce.db import migrate
from tests.ops.clusters import Cluster, primary_and_replica


@pytest.fixture(scope="session")
def clusters() -> Iterator[tuple[Cluster, Cluster]]:
    with tempfile.TemporaryDirectory(prefix="commerce-ops-pg-") as tmp, primary_and_replica(Path(tmp)) as pair:
        # In a thread: Alembic's async env runs its own event loop, and the tests' loop may be running.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(migrate, pair[0].url).result()
        yield pair


async def empty_tables(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        await conn.execute(f"TRUNCATE {', '.join(t['tablename'] for t in tables)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
