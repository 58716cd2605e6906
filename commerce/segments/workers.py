"""The membership worker: order events from the feed, time-based rechecks and segment backfills.

Orders reach profiles through the event feed: every `order.*` event names its customer, and the
worker, woken when the relay numbered events (commerce/notify.py; every `segment_refresh_seconds`
otherwise), refreshes those customers right after the order committed, so checkout
(and any other writer of orders, such as imports) does nothing for segments in its own
transaction. Its position in the feed is one row (`segment_feed_cursor`), locked while a batch
is applied, so several service processes can run it. If the feed no longer holds its position
(past retention) or it has none yet, it rebuilds every profile in batches, then reads on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.background import every
from commerce.errors import Gone
from commerce.events import service as events
from commerce.events.relay import FEED_GREW
from commerce.events.schemas import EVENT_TYPES
from commerce.notify import Notifications
from commerce.segments import service
from commerce.settings import Settings

log = logging.getLogger("commerce.segments")

ORDER_EVENTS = sorted(t for t in EVENT_TYPES if t.startswith("order."))
_CURSOR = text(
    "SELECT after_seq, rebuild_after, rebuild_from_seq FROM segment_feed_cursor WHERE id = 1 FOR UPDATE SKIP LOCKED"
)
_MOVE = text(
    "UPDATE segment_feed_cursor SET after_seq = :after_seq, rebuild_after = :rebuild_after,"
    " rebuild_from_seq = :rebuild_from_seq WHERE id = 1"
)


async def feed_step(db: AsyncSession, settings: Settings, now: datetime, batch: int = 500) -> int:
    """Apply one batch of order events (or one rebuild batch); returns how much it did (0: caught up)."""
    cursor = (await db.execute(_CURSOR)).first()
    if cursor is None:
        # Another process holds it (nothing to do here), or it is missing (a wiped table): then a
        # rebuild starts on the next step.
        made = await db.scalar(
            text("INSERT INTO segment_feed_cursor (id) VALUES (1) ON CONFLICT DO NOTHING RETURNING id")
        )
        return 0 if made is None else 1
    if cursor.after_seq is not None:
        try:
            page = await events.list_events(
                db, after=cursor.after_seq, types=ORDER_EVENTS, limit=batch, settings=settings
            )
        except Gone:
            log.warning("the event feed no longer holds position %d: rebuilding every profile", cursor.after_seq)
            await db.execute(_MOVE, {"after_seq": None, "rebuild_after": None, "rebuild_from_seq": None})
            return 1
        ids = {uuid.UUID(e.data["customer_id"]) for e in page.items if e.data.get("customer_id")}
        await service.refresh_customers(db, ids, now)
        if page.items:
            await db.execute(_MOVE, {"after_seq": page.next_after, "rebuild_after": None, "rebuild_from_seq": None})
        return len(page.items)

    start = cursor.rebuild_from_seq
    if start is None:
        start = await events.feed_end(db)
    rebuilt = await service.customer_ids_after(db, cursor.rebuild_after, batch)
    await service.refresh_customers(db, rebuilt, now)
    done = len(rebuilt) < batch
    await db.execute(
        _MOVE,
        {
            "after_seq": start if done else None,
            "rebuild_after": None if done else rebuilt[-1],
            "rebuild_from_seq": None if done else start,
        },
    )
    return max(len(rebuilt), 1)


async def run_once(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, now: datetime | None = None
) -> int:
    """Everything pending, each batch in its own transaction; returns how many batches it applied."""
    batches = 0
    for step in ("feed", "recheck", "backfill"):
        while True:
            at = now or datetime.now(UTC)
            async with sessionmaker() as db, db.begin():
                if step == "feed":
                    did = await feed_step(db, settings, at)
                elif step == "recheck":
                    did = await service.recheck_due(db, at)
                else:
                    did = await service.backfill_step(db, at)
            if not did:
                break
            batches += 1
    return batches


@contextlib.asynccontextmanager
async def segment_worker(app: Litestar) -> AsyncIterator[None]:
    """Runs the worker for the app's lifetime (started only when background workers are on)."""
    settings: Settings = app.state.settings
    notices: Notifications = app.state.notifications
    grew = asyncio.Event()
    await notices.subscribe(FEED_GREW, lambda _: grew.set(), grew.set)

    async def one_pass() -> None:
        await run_once(app.state.sessionmaker, settings)

    # Woken by every round of the relay (tens a second under load): a pass reads what they numbered
    # together, so membership follows orders within a quarter second at most, at a few passes a second.
    async with every(settings.segment_refresh_seconds, one_pass, log, "segment membership", grew, min_gap=0.25):
        yield
