"""Expires pickup orders nobody collected, inside the service, without anyone calling an endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.orders.service import expire_due

log = logging.getLogger("commerce.orders.sweeper")


async def sweep_once(sessionmaker: async_sessionmaker[AsyncSession], now: datetime | None = None) -> int:
    """Expire every overdue order, in batches, each batch in its own transaction."""
    total = 0
    while True:
        async with sessionmaker() as db, db.begin():
            expired = await expire_due(db, now or datetime.now(UTC))
        total += expired
        if expired == 0:
            return total


async def _run(sessionmaker: async_sessionmaker[AsyncSession], interval: float) -> None:
    while True:
        try:
            expired = await sweep_once(sessionmaker)
            if expired:
                log.info("expired %d pickup order(s) past their hold", expired)
        except Exception:  # keep sweeping: one bad pass must not stop expiry for good
            log.exception("expiry sweep failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def expiry_sweeper(app: Litestar) -> AsyncIterator[None]:
    """Runs the sweeper for the app's lifetime (started only when background workers are on)."""
    interval = app.state.settings.expiry_sweep_seconds
    task = asyncio.create_task(_run(app.state.sessionmaker, interval), name="expiry-sweeper")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
