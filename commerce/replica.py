"""Reads from a streaming replica (DATABASE_READ_URL), with the primary as the fallback.

Only the one-statement searches (`db.ReadDb`: listings by store, nearby stores, availability, the
store list) and the streamed local-inventory feed go to the replica: they tolerate being a few milliseconds behind. Carts, checkout and
everything that reads its own writes keep using the primary's transactions.

A replica that stops answering (refused, dropped or timed-out connections, recovery conflicts)
does not fail requests: the statement is run again on the primary's read pool, a warning is
logged, and the replica is left alone for `RETRY_AFTER_SECONDS` before it is tried again (a
warning is logged once per outage, and once when it answers again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import asyncpg
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from commerce.db import READ_POOL_TIMEOUT_SECONDS, make_engine, make_read_pool
from commerce.errors import DatabaseUnavailable
from commerce.observability.metrics import POOL_IN_USE, waiting_for_connection

log = logging.getLogger("commerce.replica")

RETRY_AFTER_SECONDS = 5.0
# A replica that does not hand out a connection quickly is treated as down: the primary answers.
CONNECT_TIMEOUT_SECONDS = 2.0

# What "the replica stopped answering" looks like to the driver (anything else is the statement's own
# error and would fail on the primary just the same).
REPLICA_DOWN = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TransactionRollbackError,  # canceled by a conflict with recovery
    asyncpg.AdminShutdownError,
)

_LAG = """
SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn() AS replayed,
       CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8 AS seconds
"""


class Replica:
    """The replica's pool and whether it is answering (one per process)."""

    def __init__(self, pool: Any, engine: AsyncEngine) -> None:
        self.pool = pool
        # For the streamed local-inventory feed (it reads through SQLAlchemy, on a connection of its own).
        self.engine = engine
        self.down_until = 0.0
        self.down_since: float | None = None

    @classmethod
    async def connect(cls, url: str, size: int) -> Replica:
        pool = await make_read_pool(url, size, application_name="commerce-replica-reads")
        return cls(pool, make_engine(url, pool_size=2, max_overflow=2))

    async def engine_for_stream(self, primary: AsyncEngine) -> AsyncEngine:
        """The replica's engine for a long read if it answers now, else the primary's."""
        if self.usable():
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS), self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            except (*REPLICA_DOWN, DBAPIError) as exc:
                self.failed(exc)
            else:
                self.answered()
                return self.engine
        return primary

    def usable(self) -> bool:
        return time.monotonic() >= self.down_until

    def failed(self, exc: BaseException) -> None:
        self.down_until = time.monotonic() + RETRY_AFTER_SECONDS
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning(
                "read replica is not answering (%s: %s); the primary answers the searches, retrying the replica "
                "every %.0f s",
                type(exc).__name__,
                exc,
                RETRY_AFTER_SECONDS,
            )

    def answered(self) -> None:
        if self.down_since is not None:
            log.warning("read replica answers again after %.1f s", time.monotonic() - self.down_since)
            self.down_since = None

    def reader(self, primary_pool: Any) -> ReplicaFirstReader:
        return ReplicaFirstReader(self, primary_pool)

    async def close(self) -> None:
        await self.pool.close()
        await self.engine.dispose()

    async def lag_metrics(self, primary_pool: Any) -> list[GaugeMetricFamily]:
        """Replica lag: WAL bytes the replica has not replayed yet, and seconds behind the primary."""
        up = GaugeMetricFamily("commerce_db_replica_up", "1 when the read replica answers and is in recovery")
        lag_bytes = GaugeMetricFamily("commerce_db_replica_lag_bytes", "WAL the replica has not replayed yet")
        lag_seconds = GaugeMetricFamily(
            "commerce_db_replica_lag_seconds",
            "Seconds since the last replayed transaction's commit, while WAL is waiting to be replayed (0 when caught up)",
        )
        try:
            async with self.pool.acquire(timeout=CONNECT_TIMEOUT_SECONDS) as conn:
                row = await conn.fetchrow(_LAG)
            async with primary_pool.acquire(timeout=READ_POOL_TIMEOUT_SECONDS) as conn:
                behind = await conn.fetchval(
                    "SELECT greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn), 0)::float8", row["replayed"]
                )
        except REPLICA_DOWN:
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1 if row["in_recovery"] else 0)
        lag_bytes.add_metric([], behind or 0)
        lag_seconds.add_metric([], row["seconds"])
        return [up, lag_bytes, lag_seconds]


class ReplicaFirstReader:
    """A `db.Reader` that runs each statement on the replica while it answers, else on the primary."""

    def __init__(self, replica: Replica, primary_pool: Any) -> None:
        self.replica = replica
        self.primary_pool = primary_pool

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        if self.replica.usable():
            try:
                rows = await self._fetch(self.replica.pool, "replica", CONNECT_TIMEOUT_SECONDS, query, args)
            except REPLICA_DOWN as exc:
                self.replica.failed(exc)
            else:
                self.replica.answered()
                return rows
        try:
            return await self._fetch(self.primary_pool, "read", READ_POOL_TIMEOUT_SECONDS, query, args)
        except REPLICA_DOWN as exc:
            raise DatabaseUnavailable() from exc

    @staticmethod
    async def _fetch(pool: Any, name: str, acquire_timeout: float, query: str, args: tuple[Any, ...]) -> list[Any]:
        with waiting_for_connection(name):
            conn = await pool.acquire(timeout=acquire_timeout)
        in_use = POOL_IN_USE.labels(name)
        in_use.inc()
        try:
            rows: list[Any] = await conn.fetch(query, *args)
            return rows
        finally:
            in_use.dec()
            await pool.release(conn)
