"""Expires pickup orders nobody collected, inside the service, without anyone calling an endpoint."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.background import every
from commerce.observability.metrics import RESERVATIONS_EXPIRED
from commerce.orders.service import expire_due

log = logging.getLogger("commerce.orders.sweeper")


async def sweep_once(sessionmaker: async_sessionmaker[AsyncSession], now: datetime | None = None) -> int:
    """Expire every overdue order, in batches, each batch in its own transaction."""
    total = 0
    while True:
        async with sessionmaker() as db, db.begin():
            expired = await expire_due(db, now or datetime.now(UTC))
        total += expired
        RESERVATIONS_EXPIRED.inc(expired)
        if expired == 0:
            return total


@contextlib.asynccontextmanager
async def expiry_sweeper(app: Litestar) -> AsyncIterator[None]:
    """Runs the sweeper for the app's lifetime (started only when background workers are on)."""
    sessionmaker = app.state.sessionmaker

    async def one_pass() -> None:
        expired = await sweep_once(sessionmaker)
        if expired:
            log.info("expired %d pickup order(s) past their hold", expired)

    async with every(app.state.settings.expiry_sweep_seconds, one_pass, log, "expiry sweep"):
        yield
