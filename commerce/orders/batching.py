"""Checkouts placed together: at most N checkout transactions in flight per worker, each placing
every checkout that queued while the others ran (orders/checkout.py), first come first served.

Under load the checkouts of one worker share its event loop and its CPU, and a flash sale puts them
all on one inventory row. One transaction per checkout locks that row once per order, and holds it
while the transaction's other round trips wait their turn on the loop. Here the checkouts that
arrive while N transactions are in the database wait (holding no connection and no lock) and go
together in the next transaction: the hot row is locked once for all of them, one commit makes them
durable, and the statements per order fall with the batch's size. With few checkouts in flight each
goes at once, alone: nothing waits for a batch to fill.

Each order is still all or nothing, and answered as if it had been placed alone (an error for one
order writes nothing of it and does not touch the others). If a transaction of several orders fails
as a whole (a lost connection, a bug), each of its orders is placed again alone, so each gets its
own answer. An order that counts limited promotions or single-use codes is placed alone too.

A checkout that waits longer than `max_wait` for its transaction is answered 503
`service_unavailable` with `Retry-After` (nothing was changed) rather than queueing without end. A
checkout whose client goes away while it waits leaves the queue; once its transaction has begun it
completes (a retry with the same Idempotency-Key gets its answer).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from commerce.db import make_sessionmaker
from commerce.errors import DatabaseUnavailable, DomainError, InsufficientStock, worth_retrying
from commerce.observability.metrics import (
    ADMISSION_QUEUE,
    ADMISSION_REFUSED,
    ADMISSION_WAIT,
    CHECKOUT_BATCH_SIZE,
    CHECKOUTS_REFUSED,
    waiting_for_connection,
)
from commerce.orders.checkout import Answer, CheckoutRequest, Outcome, place
from commerce.settings import Settings

log = logging.getLogger("commerce.checkout")

# Checkout transactions in flight per worker when none is configured (COMMERCE_DB_ADMISSION_LIMIT),
# or the transaction pool's size if smaller. Chosen in benchmarks/NOTES.md ("Checkouts placed together").
DEFAULT_LIMIT = 4
# Orders per transaction at most when none is configured (COMMERCE_CHECKOUT_BATCH_MAX).
DEFAULT_BATCH_MAX = 32
# How long the newest transaction in flight runs before another may begin beside it: one transaction
# at a time places the largest batches (benchmarks/NOTES.md), and a transaction still running after
# this is likely waiting on a lock, which the checkouts behind it need not share.
DEFAULT_STAGGER_SECONDS = 0.1


def default_limit(pool_size: int) -> int:
    """The number of checkout transactions in flight per worker when none is configured."""
    return max(1, min(DEFAULT_LIMIT, pool_size))


class Overloaded(DomainError):
    """The checkout waited its longest for a transaction: retry after `retry_after` seconds."""

    status, code, title = 503, "service_unavailable", "Service unavailable"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "The service is overloaded; nothing was changed. Retry shortly (with the same Idempotency-Key)."
        )
        self.headers = {"Retry-After": str(retry_after)}


@dataclass(eq=False, slots=True)
class _Waiting:
    request: CheckoutRequest
    queued_at: float
    # Set when the checkout is taken into a transaction, then when it is answered.
    taken: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    answer: asyncio.Future[Answer] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    gone: bool = False
    # Must be placed in a transaction of its own (it counts limited promotions or codes, or its
    # transaction of several could not place it).
    alone: bool = False


class CheckoutBatcher:
    """One per worker: `checkout()` answers one request; `limit` transactions in flight at most (0: no
    limit, every checkout in its own transaction at once), `batch_max` orders in each, on `engine`."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        limit: int,
        batch_max: int = DEFAULT_BATCH_MAX,
        max_wait: float = 5.0,
        stagger: float = DEFAULT_STAGGER_SECONDS,
    ) -> None:
        if limit < 0 or batch_max < 1:
            raise ValueError("the limit is at least 0 and a batch at least 1")
        self.engine = engine
        self.sessionmaker = make_sessionmaker(engine)
        self.settings = settings
        self.limit = limit
        self.batch_max = batch_max if limit else 1
        self.max_wait = max_wait
        self.stagger = stagger
        # The transactions in flight, and when each began.
        self._began: dict[asyncio.Task[None], float] = {}
        self._recheck: asyncio.TimerHandle | None = None
        self._queue: deque[_Waiting] = deque()
        self._tasks: set[asyncio.Task[None]] = set()

    async def checkout(self, request: CheckoutRequest) -> Answer:
        """The request's answer; raises the DomainError it is answered with."""
        waiting = _Waiting(request, time.monotonic())
        self._queue.append(waiting)
        ADMISSION_QUEUE.inc()
        self._start()
        if not waiting.taken.done():
            try:
                async with asyncio.timeout(self.max_wait):
                    await asyncio.shield(waiting.taken)
            except BaseException as exc:
                if not waiting.taken.done():
                    waiting.gone = True  # taken off the queue by the next `_take`
                    if isinstance(exc, TimeoutError):
                        ADMISSION_REFUSED.inc()
                        raise Overloaded(max(1, math.ceil(self.max_wait / 2))) from None
                    raise
                if not isinstance(exc, TimeoutError):
                    raise
        return await asyncio.shield(waiting.answer)

    async def drain(self) -> None:
        """Let the transactions in flight finish (at shutdown, before the pool closes)."""
        if self._recheck is not None:
            self._recheck.cancel()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start(self) -> None:
        """Begin a transaction for the queued checkouts when none is in flight, or when fewer than
        `limit` are and the newest of those has run `stagger` seconds (it is likely waiting on a lock:
        the checkouts behind it need not)."""
        loop = asyncio.get_running_loop()
        while self._queue and (not self.limit or len(self._began) < self.limit):
            if self._began and self.limit:
                due = max(self._began.values()) + self.stagger - time.monotonic()
                if due > 0:
                    if self._recheck is None:
                        self._recheck = loop.call_later(due, self._recheck_now)
                    return
            batch = self._take()
            if not batch:
                return
            task = loop.create_task(self._run(batch))
            self._began[task] = time.monotonic()
            self._tasks.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._began.pop(task, None)
        self._start()

    def _recheck_now(self) -> None:
        self._recheck = None
        self._start()

    def _take(self) -> list[_Waiting]:
        """The next batch from the queue's head: at most `batch_max`, no cart or key twice (a second
        checkout of the same cart or key waits for the next transaction, keeping its place), and a
        checkout that must be placed alone only alone."""
        batch: list[_Waiting] = []
        later: list[_Waiting] = []
        carts: set[str] = set()
        scopes: set[str] = set()
        now = time.monotonic()
        while self._queue and len(batch) < self.batch_max:
            waiting = self._queue.popleft()
            if waiting.gone:
                ADMISSION_QUEUE.dec()
                continue
            request = waiting.request
            if request.cart_id in carts or request.scope in scopes or (waiting.alone and batch):
                later.append(waiting)
                continue
            carts.add(request.cart_id)
            scopes.add(request.scope)
            batch.append(waiting)
            if not waiting.taken.done():
                waiting.taken.set_result(None)
                ADMISSION_WAIT.observe(now - waiting.queued_at)
            ADMISSION_QUEUE.dec()
            if waiting.alone:
                break
        self._queue.extendleft(reversed(later))
        return batch

    async def _run(self, batch: list[_Waiting]) -> None:
        try:
            CHECKOUT_BATCH_SIZE.observe(len(batch))
            outcomes = await self._place(batch)
            alone = []
            for waiting, outcome in zip(batch, outcomes, strict=True):
                if outcome is None:
                    alone.append(waiting)
                else:
                    _answer(waiting, outcome)
            if alone:
                # Placed again, each in a transaction of its own, ahead of later arrivals.
                for waiting in alone:
                    waiting.alone = True
                self._queue.extendleft(reversed(alone))
                ADMISSION_QUEUE.inc(len(alone))
        finally:
            for waiting in batch:  # never left waiting, whatever happened above
                if not waiting.alone:
                    _answer(waiting, RuntimeError("checkout: no outcome"))

    async def _place(self, batch: Sequence[_Waiting], *, retry: bool = True) -> list[Outcome | BaseException]:
        """The batch's outcomes (None: place it again alone). A transaction the database rolled back
        or whose connection was lost is tried once more as it was (the keys find orders that did
        commit), and then answered 503; one that failed otherwise is placed again order by order, so
        that the order it failed on does not fail the others."""
        try:
            async with self.sessionmaker() as db, db.begin():
                with waiting_for_connection("checkout"):
                    await db.connection()
                return list(await place(db, [w.request for w in batch], self.settings))
        except Exception as exc:
            if worth_retrying(exc):
                if retry:
                    log.warning("a checkout transaction of %d order(s) failed (%r): trying once more", len(batch), exc)
                    return await self._place(batch, retry=False)
                return [DatabaseUnavailable() if len(batch) > 1 else exc] * len(batch)
            if len(batch) > 1:
                log.warning("a checkout transaction of %d orders failed (%r): placing each alone", len(batch), exc)
                return [None] * len(batch)
            return [exc]


def _answer(waiting: _Waiting, outcome: Outcome | BaseException) -> None:
    """Answer the waiter (after its transaction committed or rolled back), once."""
    if waiting.answer.done():
        return
    if isinstance(outcome, Answer):
        waiting.answer.set_result(outcome)
        if outcome.placed:
            log.info("%s", outcome.placed)
        return
    if isinstance(outcome, InsufficientStock):
        CHECKOUTS_REFUSED.inc()
    waiting.answer.set_exception(outcome or RuntimeError("checkout: placed alone, yet deferred"))
    # Retrieved here too: a client that went away never reads it.
    waiting.answer.add_done_callback(lambda f: f.exception())
