"""The relay: gives committed outbox rows their feed number `seq`, in commit-safe order.

Writers insert outbox rows with their transaction id (`txid`) and no `seq`, so they never queue
on a shared counter. Transactions commit in any order: numbering rows as soon as they are
visible would let a row of a transaction that commits later appear behind a position a reader
has already paged past, and the reader would never see it.

The fix is the transaction-id watermark: `pg_snapshot_xmin(pg_current_snapshot())` is the
oldest transaction still in progress (cluster-wide). Every transaction with a smaller id has
finished, so no row with `txid` below it can appear any more: those rows are final and are
numbered, in (txid, id) order, continuing from max(seq). A reader paging the feed by `seq`
therefore sees a gap-free sequence in which nothing ever appears behind it. Rows of rolled-back
transactions are invisible and never numbered.

A long-running writing transaction (one holding a transaction id, in any database of the
cluster) holds back the watermark: events committed after it started wait, unnumbered, until it
ends. That is what keeps the feed gap-free; the service's statement timeout bounds its own
transactions, and `idle_in_transaction_session_timeout` is worth setting in production.

Numbering runs under a transaction-scoped advisory lock: with several service processes one
numbers at a time and the others skip that round.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger("commerce.events.relay")

# pg advisory lock key of the relay (any constant bigint no other part of the service uses).
RELAY_LOCK_KEY = 0x636F6D6D_65766E74  # "commevnt"
BATCH = 10_000

_NUMBER = text(
    """
    WITH horizon AS (
        SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin
    ), base AS (
        SELECT coalesce(max(seq), 0) AS top FROM events
    ), todo AS (
        SELECT e.id, row_number() OVER (ORDER BY e.txid, e.id) AS n
        FROM events e, horizon
        WHERE e.seq IS NULL AND e.txid < horizon.xmin
        ORDER BY e.txid, e.id
        LIMIT :batch
    )
    UPDATE events e SET seq = base.top + todo.n
    FROM todo, base
    WHERE e.id = todo.id
    """
)


async def number_committed_events(db: AsyncSession, *, batch: int = BATCH) -> int:
    """Number up to `batch` committed outbox rows; returns how many (0 if another process holds the relay).

    Runs in the caller's transaction, which must commit soon after (it holds the relay lock).
    """
    locked = await db.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": RELAY_LOCK_KEY})
    if not locked:
        return 0
    result = await db.execute(_NUMBER, {"batch": batch})
    return int(result.rowcount)  # type: ignore[attr-defined]


async def relay_once(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Number everything committed so far, in batches; each batch commits on its own."""
    total = 0
    while True:
        async with sessionmaker() as db, db.begin():
            numbered = await number_committed_events(db)
        total += numbered
        if numbered < BATCH:
            return total


async def run_relay(sessionmaker: async_sessionmaker[AsyncSession], interval: float) -> None:
    """The background loop: number committed events every `interval` seconds until cancelled."""
    while True:
        try:
            await relay_once(sessionmaker)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A lost connection or a restarting database: log and try again next round.
            log.exception("event relay round failed")
        await asyncio.sleep(interval)
