"""Periodic jobs inside the service: run a pass every N seconds, or sooner when woken."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable


async def pause(seconds: float, *events: asyncio.Event) -> None:
    """Wait until any of `events` is set or `seconds` have passed, whichever comes first."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _every(
    interval: float,
    one_pass: Callable[[], Awaitable[None]],
    log: logging.Logger,
    what: str,
    wake: asyncio.Event | None,
    min_gap: float,
) -> None:
    wake = wake or asyncio.Event()
    while True:
        # Cleared before the pass: a wake-up during it makes the next pass start at once.
        wake.clear()
        try:
            await one_pass()
        except Exception:  # keep going: one failed pass must not stop the job for good
            log.exception("%s failed; retrying in %.0f s", what, interval)
        if min_gap:
            await asyncio.sleep(min_gap)
        await pause(interval, wake)


@contextlib.asynccontextmanager
async def every(
    interval: float,
    one_pass: Callable[[], Awaitable[None]],
    log: logging.Logger,
    what: str,
    wake: asyncio.Event | None = None,
    min_gap: float = 0.0,
) -> AsyncIterator[None]:
    """Run `one_pass` now and then every `interval` seconds (or as soon as `wake` is set, but never
    sooner than `min_gap` seconds after the last pass) until the block exits (then cancel it)."""
    task = asyncio.create_task(_every(interval, one_pass, log, what, wake, min_gap), name=what)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
