"""Retention: what the service keeps only for a while, and the job that deletes it afterwards.

- Idempotency records: `idempotency_retention_hours` (24 by default). A retry after that runs the
  request again; by then a checkout's cart is closed, so a late replay is refused, not repeated.
- Webhook delivery log: `webhook_delivery_retention_days` (7).
- The change feed: numbered events older than `event_retention_days` (7), but never one that a
  registered webhook has not been sent yet. Events go from the start of the feed only, so what is
  left has no holes; a reader whose position fell behind the start gets 410 `feed_position_expired`
  (`events.service.list_events`) instead of a silent gap.
- Customer tokens: a week after they expired or were revoked (`CUSTOMER_TOKEN_RETENTION`); they
  no longer work by then, the week keeps them for looking into a sign-in.

Deletes run in batches of `BATCH` rows, each in its own short transaction, with SKIP LOCKED so
several service processes can run the job at once. The service runs it every
`retention_sweep_seconds`; `commerce purge` runs it once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import msgspec
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import TextClause

from commerce.background import every
from commerce.settings import Settings

log = logging.getLogger("commerce.retention")

BATCH = 5000
CUSTOMER_TOKEN_RETENTION = timedelta(days=7)

_IDEMPOTENCY = text(
    "DELETE FROM idempotency_keys WHERE (principal, key) IN ("
    " SELECT principal, key FROM idempotency_keys WHERE created_at < :cutoff LIMIT :batch FOR UPDATE SKIP LOCKED)"
)
_DELIVERIES = text(
    "DELETE FROM webhook_deliveries WHERE id IN ("
    " SELECT id FROM webhook_deliveries WHERE at < :cutoff LIMIT :batch FOR UPDATE SKIP LOCKED)"
)
# The feed's start moves to the first event that is recent enough or that some webhook or bridge still needs,
# whichever comes first; everything numbered before it goes, oldest first. The newest numbered event
# always stays: the relay numbers on from it.
_FEED_KEEP_FROM = text(
    """
    SELECT least(
        (SELECT min(seq) FROM events WHERE seq IS NOT NULL AND occurred_at >= :cutoff),
        (SELECT min(last_delivered_seq) + 1 FROM webhooks),
        (SELECT min(last_published_seq) + 1 FROM event_bridges),
        (SELECT max(seq) FROM events)
    )
    """
)
_CUSTOMER_TOKENS = text(
    "DELETE FROM customer_tokens WHERE id IN ("
    " SELECT id FROM customer_tokens WHERE least(expires_at, revoked_at) < :cutoff LIMIT :batch"
    " FOR UPDATE SKIP LOCKED)"
)
_EVENTS = text(
    "DELETE FROM events WHERE id IN ("
    " SELECT id FROM events WHERE seq < :keep_from ORDER BY seq LIMIT :batch FOR UPDATE SKIP LOCKED)"
)


class Purged(msgspec.Struct, frozen=True):
    idempotency_keys: int
    webhook_deliveries: int
    events: int
    customer_tokens: int = 0


async def _in_batches(sessionmaker: async_sessionmaker[AsyncSession], statement: TextClause, **params: object) -> int:
    total = 0
    while True:
        async with sessionmaker() as db, db.begin():
            result = await db.execute(statement, {**params, "batch": BATCH})
        deleted = int(result.rowcount)  # type: ignore[attr-defined]  # a DELETE gives a CursorResult
        total += deleted
        if deleted < BATCH:
            return total


async def purge(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, now: datetime | None = None
) -> Purged:
    """Delete everything past its retention; returns how many rows of each kind went."""
    now = now or datetime.now(UTC)
    keys = await _in_batches(
        sessionmaker, _IDEMPOTENCY, cutoff=now - timedelta(hours=settings.idempotency_retention_hours)
    )
    deliveries = await _in_batches(
        sessionmaker, _DELIVERIES, cutoff=now - timedelta(days=settings.webhook_delivery_retention_days)
    )
    async with sessionmaker() as db:
        keep_from = await db.scalar(_FEED_KEEP_FROM, {"cutoff": now - timedelta(days=settings.event_retention_days)})
    events = 0 if keep_from is None else await _in_batches(sessionmaker, _EVENTS, keep_from=int(keep_from))
    tokens = await _in_batches(sessionmaker, _CUSTOMER_TOKENS, cutoff=now - CUSTOMER_TOKEN_RETENTION)
    return Purged(idempotency_keys=keys, webhook_deliveries=deliveries, events=events, customer_tokens=tokens)


@contextlib.asynccontextmanager
async def retention_sweeper(app: Litestar) -> AsyncIterator[None]:
    """Runs the retention job for the app's lifetime (started only when background workers are on)."""
    sessionmaker, settings = app.state.sessionmaker, app.state.settings

    async def one_pass() -> None:
        purged = await purge(sessionmaker, settings)
        if purged.idempotency_keys or purged.webhook_deliveries or purged.events or purged.customer_tokens:
            log.info(
                "retention: deleted %d idempotency record(s), %d webhook delivery log row(s), %d feed event(s), "
                "%d customer token(s)",
                purged.idempotency_keys,
                purged.webhook_deliveries,
                purged.events,
                purged.customer_tokens,
            )

    async with every(settings.retention_sweep_seconds, one_pass, log, "retention pass"):
        yield
