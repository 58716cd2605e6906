"""The event relay and the webhook dispatcher as background tasks of the service (a lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
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
    tasks = [
        asyncio.create_task(run_relay(app.state.sessionmaker, settings.event_relay_interval_seconds), name="relay"),
        asyncio.create_task(dispatcher.run(), name="webhook-dispatcher"),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await dispatcher.close()
