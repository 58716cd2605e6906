"""The event relay and the webhook dispatcher as background tasks of the service (a lifespan)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from commerce.events.dispatch import WebhookDispatcher
from commerce.events.relay import EVENTS_WRITTEN, FEED_GREW, run_relay, watch_writes
from commerce.notify import Notifications
from commerce.settings import Settings


@asynccontextmanager
async def event_workers(app: Litestar) -> AsyncIterator[None]:
    """Run the relay and the dispatcher while the app runs (after the database lifespan set up the state).

    Both sleep until woken: the relay when a connection of this process that wrote events went back
    to the pool (or on `EVENTS_WRITTEN`), the dispatcher when a relay numbered some (`FEED_GREW`,
    commerce/notify.py); their intervals are only the safety net.
    """
    settings: Settings = app.state.settings
    notices: Notifications = app.state.notifications
    dispatcher = WebhookDispatcher(app.state.sessionmaker, settings)
    stop, written, grew = asyncio.Event(), asyncio.Event(), asyncio.Event()
    # A (re)connected listener may have missed notifications: then both run a round at once.
    await notices.subscribe(EVENTS_WRITTEN, lambda _: written.set(), written.set)
    await notices.subscribe(FEED_GREW, lambda _: grew.set(), grew.set)
    loops = [
        asyncio.create_task(
            run_relay(app.state.sessionmaker, settings.event_relay_interval_seconds, stop, written, grew.set)
        ),
        asyncio.create_task(dispatcher.run(stop, grew)),
    ]
    loop = asyncio.get_running_loop()
    try:
        with (
            watch_writes(app.state.engine, lambda: loop.call_soon_threadsafe(written.set)),
            watch_writes(app.state.checkout_engine, lambda: loop.call_soon_threadsafe(written.set)),
        ):
            yield
    finally:
        # Loops stop between rounds (no statement is cut off); deliveries in flight are retried later.
        stop.set()
        await asyncio.gather(*loops, return_exceptions=True)
        await dispatcher.close()
