"""The event relay and the webhook dispatcher as background tasks of the service (a lifespan)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from commerce.events.dispatch import WebhookDispatcher
from commerce.events.relay import run_relay
from commerce.settings import Settings


@asynccontextmanager
async def event_workers(app: Litestar) -> AsyncIterator[None]:
    """Run the relay and the dispatcher while the app runs (after the database lifespan set up the state)."""
    settings: Settings = app.state.settings
    dispatcher = WebhookDispatcher(app.state.sessionmaker, settings)
    stop = asyncio.Event()
    loops = [
        asyncio.create_task(run_relay(app.state.sessionmaker, settings.event_relay_interval_seconds, stop)),
        asyncio.create_task(dispatcher.run(stop)),
    ]
    try:
        yield
    finally:
        # Loops stop between rounds (no statement is cut off); deliveries in flight are retried later.
        stop.set()
        await asyncio.gather(*loops, return_exceptions=True)
        await dispatcher.close()
