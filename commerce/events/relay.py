"""The relay: gives committed outbox rows their feed number `seq`, after they commit.

Writers insert outbox rows without a `seq`, so they never queue on a shared counter. The relay
numbers the rows it can see (committed ones: rows of rolled-back transactions are never
visible and never numbered) in `id` order, continuing from max(seq), and commits. Numbering
runs under a transaction-scoped advisory lock, so with several service processes one numbers
at a time and the others skip that round; each round starts after the previous one committed.
Numbers therefore only ever append to the end of the feed: a reader paging by `seq` can never
have an event appear behind its position, so it never misses one (the feed is gap-free as a
reader sees it).

The order is causal. When a transaction writes its event after another transaction committed
(typically because it waited for that one's row lock on the same inventory level), its row is
inserted later, so it has a larger `id`, and it cannot become visible before the other one:
it is numbered in the same round after it, or in a later round. A consumer applying
`inventory.changed` snapshots in seq order therefore ends on the newest state. (This relies on
`events.id` coming from an uncached sequence, CACHE 1, which is the bigserial default.)

Why not number by the transaction-id watermark (only rows whose writing transaction id is
below `pg_snapshot_xmin(pg_current_snapshot())`, in (xid, id) order)? That order is the order in
which transactions *started writing*, not the order in which they committed: transaction B
(older id) may write a level after transaction A (newer id) committed its change to it, and
B's rows get numbered first whenever an unrelated transaction with an id between them is still
running; a consumer would then finish on A's stale state. It also makes every long-running
writing transaction in the cluster hold back the whole feed. The watermark is needed when the
number is assigned at insert time (a sequence), not by a relay after commit, so the table does
not record transaction ids.

Wake-ups: a transaction that inserts events sends `EVENTS_WRITTEN` (a statement-level trigger on
`events`, migration 0019), delivered at its commit; each process's relay listens for it
(commerce/notify.py) and runs a round at once, so a committed event is in the feed within a round
trip or two. A round that numbered events sends `FEED_GREW` in its own transaction, which wakes
the webhook dispatchers, the segment worker and bridges. Notifications that arrive during a round
just make the next round start right after it (a burst of commits costs a few rounds, not one per
commit). Without notifications (the listener reconnecting, a transaction pooler) the relay still
runs every `event_relay_interval_seconds`, the safety net.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.background import pause

log = logging.getLogger("commerce.events.relay")

# pg advisory lock key of the relay (any constant bigint no other part of the service uses).
RELAY_LOCK_KEY = 0x636F6D6D_65766E74  # "commevnt"
BATCH = 10_000
# Notification channels: events were written (sent by the trigger), the feed has new numbered events.
EVENTS_WRITTEN = "commerce_events_written"
FEED_GREW = "commerce_feed_grew"

# Statements of their own after the lock: under READ COMMITTED their snapshots then include the
# previous round's numbers. The ids go back as an array so the UPDATE finds its rows by primary
# key (as one set-based statement a large batch estimate made the planner scan the whole table).
_UNNUMBERED = text("SELECT id FROM events WHERE seq IS NULL ORDER BY id LIMIT :batch")
_NUMBER = text(
    """
    UPDATE events e SET seq = top.seq + u.n
    FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS u(id, n),
         (SELECT coalesce(max(seq), 0) AS seq FROM events) AS top
    WHERE e.id = u.id
    """
)


async def number_committed_events(db: AsyncSession, *, batch: int = BATCH) -> int:
    """Number up to `batch` committed outbox rows in id order; returns how many.

    Returns 0 at once if another process holds the relay lock. Runs in the caller's transaction,
    which must commit soon after (it holds the relay lock until then).
    """
    locked = await db.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": RELAY_LOCK_KEY})
    if not locked:
        return 0
    ids = list((await db.scalars(_UNNUMBERED, {"batch": batch})).all())
    if ids:
        await db.execute(_NUMBER, {"ids": ids})
        await db.execute(text("SELECT pg_notify(:channel, '')"), {"channel": FEED_GREW})
    return len(ids)


async def relay_once(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Number everything committed so far, in batches; each batch commits on its own."""
    total = 0
    while True:
        async with sessionmaker() as db, db.begin():
            numbered = await number_committed_events(db)
        total += numbered
        if numbered < BATCH:
            return total


async def run_relay(
    sessionmaker: async_sessionmaker[AsyncSession],
    interval: float,
    stop: asyncio.Event,
    wake: asyncio.Event | None = None,
) -> None:
    """The background loop: number committed events whenever `wake` is set, and every `interval`
    seconds anyway, until `stop` is set.

    It is stopped between rounds, never cancelled in the middle of one.
    """
    wake = wake or asyncio.Event()
    while not stop.is_set():
        wake.clear()  # before the round: a notification during it makes the next one start at once
        try:
            await relay_once(sessionmaker)
        except Exception:
            # A lost connection or a restarting database: log and try again next round.
            log.exception("event relay round failed")
        await pause(interval, stop, wake)
