"""Periodic jobs inside the service: run a pass every N seconds for the app's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable


async def _every(interval: float, one_pass: Callable[[], Awaitable[None]], log: logging.Logger, what: str) -> None:
    while True:
        try:
            await one_pass()
        except Exception:  # keep going: one failed pass must not stop the job for good
            log.exception("%s failed; retrying in %.0f s", what, interval)
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def every(
    interval: float, one_pass: Callable[[], Awaitable[None]], log: logging.Logger, what: str
) -> AsyncIterator[None]:
    """Run `one_pass` now and then every `interval` seconds until the block exits (then cancel it)."""
    task = asyncio.create_task(_every(interval, one_pass, log, what), name=what)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
