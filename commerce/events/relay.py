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

Wake-ups: when a connection of this process's pool that inserted events goes back to the pool
(after its transaction ended), the process's relay runs a round at once (`watch_writes`), so a
committed event is in the feed within a round trip or two. Writers pay nothing for it: no
notification in their transaction (a NOTIFY there would serialise the commits of every writing
transaction on PostgreSQL's notification queue lock, which cost a third of the write throughput
in benchmarks/event_feed.py). A relay that finds another process numbering waits for the lock
instead of skipping, so an event committed meanwhile is not left for the next poll. A round that
numbered events sends `FEED_GREW` in its own transaction, which wakes the webhook dispatchers, the
segment worker and bridges of every process (commerce/notify.py), and other processes can wake the
relays with `EVENTS_WRITTEN`. Wake-ups during a round only make the next round start right after
it (a burst of commits costs a few rounds, not one per commit). Without them (writes from outside
the service) the relay still runs every `event_relay_interval_seconds`, the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from commerce.background import pause

log = logging.getLogger("commerce.events.relay")

# pg advisory lock key of the relay (any constant bigint no other part of the service uses).
RELAY_LOCK_KEY = 0x636F6D6D_65766E74  # "commevnt"
BATCH = 10_000
# The shortest time between two rounds: under load (a commit every few milliseconds, each waking the
# relay) the events of the commits in between are numbered together, and the dispatcher and the
# other readers the round wakes run once for all of them; an idle relay woken runs at once.
MIN_GAP_SECONDS = 0.02
# Notification channels: events were written (any process may send it), the feed has new numbered events.
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


async def number_committed_events(db: AsyncSession, *, batch: int = BATCH, wait: bool = False) -> int:
    """Number up to `batch` committed outbox rows in id order; returns how many.

    Returns 0 at once if another process holds the relay lock, or with `wait`, waits for it. Runs in
    the caller's transaction, which must commit soon after (it holds the relay lock until then).
    """
    if wait:
        await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": RELAY_LOCK_KEY})
    else:
        locked = await db.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": RELAY_LOCK_KEY})
        if not locked:
            return 0
    ids = list((await db.scalars(_UNNUMBERED, {"batch": batch})).all())
    if ids:
        await db.execute(_NUMBER, {"ids": ids})
        await db.execute(text("SELECT pg_notify(:channel, '')"), {"channel": FEED_GREW})
    return len(ids)


async def relay_once(sessionmaker: async_sessionmaker[AsyncSession], *, wait: bool = False) -> int:
    """Number everything committed so far, in batches; each batch commits on its own."""
    total = 0
    while True:
        async with sessionmaker() as db, db.begin():
            numbered = await number_committed_events(db, wait=wait)
        total += numbered
        if numbered < BATCH:
            return total


_WRITES_EVENTS = re.compile(r"\binsert\s+into\s+events\b", re.IGNORECASE)


_WROTE_EVENTS = "events_written"


def note_events_written(conn: AsyncConnection) -> None:
    """Say that a statement sent on `conn`'s driver connection itself (which `watch_writes` does not
    see) inserted events: the relay is woken when the connection goes back to the pool."""
    conn.info[_WROTE_EVENTS] = True


@contextlib.contextmanager
def watch_writes(engine: AsyncEngine, wrote: Callable[[], object]) -> Iterator[None]:
    """Call `wrote` whenever a connection of `engine` that inserted events goes back to its pool
    (its transaction committed or rolled back: a spurious round is harmless), while the block runs."""
    pool = engine.sync_engine.pool

    def executing(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "events" in statement and _WRITES_EVENTS.search(statement):
            conn.info[_WROTE_EVENTS] = True

    def returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None and record.info.pop(_WROTE_EVENTS, False):
            wrote()

    event.listen(engine.sync_engine, "before_cursor_execute", executing)
    event.listen(pool, "checkin", returned)
    try:
        yield
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", executing)
        event.remove(pool, "checkin", returned)


async def run_relay(
    sessionmaker: async_sessionmaker[AsyncSession],
    interval: float,
    stop: asyncio.Event,
    wake: asyncio.Event | None = None,
    numbered: Callable[[], object] | None = None,
) -> None:
    """The background loop: number committed events whenever `wake` is set, and every `interval`
    seconds anyway, until `stop` is set. `numbered` is called after a round that numbered events
    (this process's dispatcher needs no notification to hear of them).

    It is stopped between rounds, never cancelled in the middle of one.
    """
    wake = wake or asyncio.Event()
    while not stop.is_set():
        woken = wake.is_set()
        wake.clear()  # before the round: a wake-up during it makes the next one start at once
        try:
            # Woken: wait for the lock if another process numbers now (it may not have seen our rows).
            if await relay_once(sessionmaker, wait=woken) and numbered is not None:
                numbered()
        except Exception:
            # A lost connection or a restarting database: log and try again next round.
            log.exception("event relay round failed")
        await asyncio.sleep(MIN_GAP_SECONDS)
        await pause(interval, stop, wake)
