"""Admission control: at most N database transactions in flight per worker, the rest waiting in FIFO order.

Every round trip of a transaction waits for its turn on the worker's event loop. With 32 or 256
transactions in flight on one loop, each waits behind the others' Python work once per round trip,
so a transaction that holds row locks (a checkout's reservation) holds them for that whole
interleaving, and latency spreads into a long tail. Admitting a bounded number at a time, first
come first served, keeps each admitted transaction short; the others wait before they begin, holding
no connection and no lock. It applies to the routes marked `opt=ADMITTED` (checkout, the contended
write), not to every transaction: reads and other writes are not queued behind checkouts.

A waiter that waits longer than `max_wait` is answered 503 `service_unavailable` with `Retry-After`
(nothing was changed), rather than queueing without end. A waiter that goes away (client gone,
request cancelled) leaves the queue without taking a slot, and a slot handed to it just as it left is
passed on to the next waiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator

from commerce.errors import DomainError
from commerce.observability.metrics import ADMISSION_QUEUE, ADMISSION_REFUSED, ADMISSION_WAIT

ADMISSION_OPT = "admission"
# Route option of the routes whose transaction waits for admission (`@post(..., opt=ADMITTED)`).
ADMITTED = {ADMISSION_OPT: True}


class Overloaded(DomainError):
    """The transaction waited its longest for admission: retry after `retry_after` seconds."""

    status, code, title = 503, "service_unavailable", "Service unavailable"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "The service is overloaded; nothing was changed. Retry shortly (with the same Idempotency-Key)."
        )
        self.headers = {"Retry-After": str(retry_after)}


class Admission:
    """A FIFO gate with `limit` slots; `slot()` holds one for the duration of its block."""

    def __init__(self, limit: int, max_wait: float) -> None:
        if limit < 1:
            raise ValueError("the admission limit is at least 1")
        self.limit = limit
        self.max_wait = max_wait
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    async def acquire(self) -> None:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            ADMISSION_WAIT.observe(0.0)
            return
        started = time.monotonic()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        ADMISSION_QUEUE.inc()
        try:
            async with asyncio.timeout(self.max_wait):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over as this waiter left: it goes to the next one.
                self.release()
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                ADMISSION_REFUSED.inc()
                raise Overloaded(max(1, math.ceil(self.max_wait / 2))) from None
            raise
        finally:
            ADMISSION_QUEUE.dec()
            ADMISSION_WAIT.observe(time.monotonic() - started)

    def release(self) -> None:
        """Hand the slot to the first waiter, or free it. The waiter's count of `in_flight` is the
        releaser's: a handed-over slot is never free in between, so no newcomer overtakes the queue."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # not one cancelled that has yet to take itself off the queue
                waiter.set_result(None)
                return
        self.in_flight -= 1


DEFAULT_LIMIT = 8


def default_limit(pool_size: int) -> int:
    """The admission limit when none is configured: 8, or the worker's transaction pool size if smaller.

    Chosen from benchmarks/NOTES.md ("Checkout, third round"): 8 per worker kept checkout's p99 within
    1.1-1.8x its p50 at 128 clients (about 3x without) at the same throughput, with 1 and 2 workers."""
    return max(1, min(DEFAULT_LIMIT, pool_size))
