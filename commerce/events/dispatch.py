"""The webhook dispatcher: pushes numbered events to each webhook, at least once and in seq order.

Per webhook, events are delivered one at a time from the durable cursor `last_delivered_seq`;
a failing event is retried (exponential backoff with jitter, capped, by `stamina`) and blocks
the later ones until it succeeds. The cursor moves only after the receiver answered 2xx, so a
crash between the POST and the cursor update sends that event again (at least once).

Several service processes may run a dispatcher: a process claims a webhook by taking a lease
(`lease_owner`, `lease_until`) in a short transaction, delivers without holding a transaction
open (an open writing transaction would hold back the relay's watermark), renews the lease on
every attempt and gives it back when done. A crashed process's lease simply runs out.
HTTP calls happen only here, never inside a request's transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import msgspec
import stamina
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.background import pause
from commerce.events.relay import MIN_GAP_SECONDS
from commerce.events.rules import SEQ_HEADER, SIGNATURE_HEADER, sign
from commerce.events.schemas import Event
from commerce.observability.metrics import WEBHOOK_FAILURES
from commerce.settings import Settings

log = logging.getLogger("commerce.events.dispatch")

BATCH = 100
T = TypeVar("T")


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx (or could not be reached): retry later."""


class LeaseLost(Exception):
    """Another process took this webhook over (our lease ran out): stop delivering for it."""


@dataclass(frozen=True)
class Target:
    url: str
    secret: str
    types: list[str]
    last_delivered_seq: int
    failed_attempts: int


_CLAIM = text(
    """
    UPDATE webhooks w SET lease_owner = :owner, lease_until = now() + make_interval(secs => :lease)
    WHERE w.id IN (
        SELECT h.id FROM webhooks h
        WHERE h.next_attempt_at <= now()
          AND (h.lease_until IS NULL OR h.lease_until < now())
          AND h.last_delivered_seq < (SELECT coalesce(max(seq), 0) FROM events)
          AND NOT (h.id = ANY(CAST(:busy AS varchar[])))
        ORDER BY h.next_attempt_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    RETURNING w.id
    """
)

_PENDING = text(
    """
    SELECT e.seq, e.type, e.occurred_at, e.data, (SELECT coalesce(max(seq), 0) FROM events) AS feed_end
    FROM (SELECT 1) one
    LEFT JOIN LATERAL (
        SELECT seq, type, occurred_at, data FROM events
        WHERE seq > :after AND type = ANY(CAST(:types AS varchar[]))
        ORDER BY seq LIMIT :limit
    ) e ON true
    """
)

_DELIVERED = text(
    """
    WITH log AS (
        INSERT INTO webhook_deliveries (webhook_id, seq, attempt, status_code, duration_ms)
        VALUES (:id, :seq, :attempt, :status_code, :duration_ms)
    )
    UPDATE webhooks SET last_delivered_seq = greatest(last_delivered_seq, :seq), failed_attempts = 0,
        next_attempt_at = now(), lease_until = now() + make_interval(secs => :lease)
    WHERE id = :id AND lease_owner = :owner
    """
)

_FAILED = text(
    """
    WITH log AS (
        INSERT INTO webhook_deliveries (webhook_id, seq, attempt, status_code, error, duration_ms, next_attempt_at)
        VALUES (:id, :seq, :attempt, :status_code, :error, :duration_ms, now() + make_interval(secs => :wait))
    )
    UPDATE webhooks SET failed_attempts = :attempt, next_attempt_at = now() + make_interval(secs => :wait),
        lease_until = now() + make_interval(secs => CAST(:wait AS float8) + CAST(:lease AS float8))
    WHERE id = :id AND lease_owner = :owner
    """
)


class WebhookDispatcher:
    """Delivers events to every due webhook; one asyncio task per webhook this process holds."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.owner = uuid.uuid4()
        # Long enough to cover one HTTP attempt and the bookkeeping after it; renewed on every attempt.
        self.lease_seconds = settings.webhook_timeout_seconds + 30.0
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(settings.webhook_timeout_seconds), follow_redirects=False)
        self.tasks: dict[str, asyncio.Task[bool]] = {}
        self.wake = asyncio.Event()
        # Bookkeeping statements run to completion even when delivery is cancelled at shutdown.
        self.bookkeeping: set[asyncio.Task[Any]] = set()

    async def run(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        """The background loop: look for due webhooks whenever `wake` is set (the relay numbered events,
        a delivery run ended) and every `webhook_poll_seconds` anyway (retries that came due, the
        safety net), until `stop` is set."""
        self.wake = wake or self.wake
        while not stop.is_set():
            self.wake.clear()
            try:
                await self.dispatch_due()
            except Exception:
                log.exception("webhook dispatch round failed")
            await asyncio.sleep(MIN_GAP_SECONDS)  # under load, one round for the relay's rounds in between
            await pause(self.settings.webhook_poll_seconds, stop, self.wake)

    async def dispatch_due(self, limit: int = 50) -> None:
        """Claim due webhooks with undelivered events and start delivering for each."""
        async with self.sessionmaker() as db, db.begin():
            rows = await db.execute(
                _CLAIM, {"owner": self.owner, "lease": self.lease_seconds, "busy": list(self.tasks), "limit": limit}
            )
            claimed = [r.id for r in rows]
        for webhook_id in claimed:
            task = asyncio.create_task(self._deliver_pending(webhook_id), name=f"webhook:{webhook_id}")
            self.tasks[webhook_id] = task
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[bool]) -> None:
        webhook_id = task.get_name().removeprefix("webhook:")
        if self.tasks.get(webhook_id) is task:
            del self.tasks[webhook_id]
        if not task.cancelled() and task.exception() is None and task.result():
            # Events numbered while this webhook was busy were skipped by the claim: look again (only
            # after a clean run, so a failing one waits for the poll instead of looping).
            self.wake.set()

    async def close(self) -> None:
        """Stop delivering (an attempt in flight is abandoned and sent again later) and give leases back.

        Call it after the `run` loop has stopped.
        """
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*self.bookkeeping, return_exceptions=True)
        await self.http.aclose()
        try:
            async with self.sessionmaker() as db, db.begin():
                await db.execute(
                    text("UPDATE webhooks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = :owner"),
                    {"owner": self.owner},
                )
        except Exception:
            # The leases run out by themselves; another process picks the webhooks up then.
            log.exception("could not give back the webhook leases")

    async def _finish(self, work: Coroutine[Any, Any, T]) -> T:
        """Await a bookkeeping statement that is not abandoned half-way if delivery is cancelled."""
        task = asyncio.ensure_future(work)
        self.bookkeeping.add(task)
        task.add_done_callback(self.bookkeeping.discard)
        return await asyncio.shield(task)

    async def _deliver_pending(self, webhook_id: str) -> bool:
        """Deliver everything pending for one webhook; True if it ran to the feed's end."""
        try:
            while True:
                target = await self._finish(self._target(webhook_id))
                if target is None:
                    return False
                events, feed_end = await self._finish(self._pending(target))
                for event in events:
                    await self._deliver_with_retries(webhook_id, event)
                if len(events) < BATCH:
                    # Everything up to the feed's end is delivered or not of this webhook's types.
                    await self._finish(self._skip_to(webhook_id, feed_end))
                    break
            await self._finish(self._release(webhook_id))
            return True
        except LeaseLost:
            log.warning("webhook %s was taken over by another dispatcher", webhook_id)
            return False
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivering to webhook %s failed", webhook_id)
            await self._finish(self._release(webhook_id))
            return False

    async def _target(self, webhook_id: str) -> Target | None:
        async with self.sessionmaker() as db, db.begin():
            row = (
                await db.execute(
                    text(
                        "SELECT url, secret, types, last_delivered_seq, failed_attempts, lease_owner FROM webhooks "
                        "WHERE id = :id"
                    ),
                    {"id": webhook_id},
                )
            ).first()
        if row is None:
            return None
        if row.lease_owner != self.owner:
            raise LeaseLost(webhook_id)
        return Target(row.url, row.secret, list(row.types), row.last_delivered_seq, row.failed_attempts)

    async def _pending(self, target: Target) -> tuple[list[Event], int]:
        async with self.sessionmaker() as db, db.begin():
            rows = (
                await db.execute(_PENDING, {"after": target.last_delivered_seq, "types": target.types, "limit": BATCH})
            ).all()
        events = [Event(seq=r.seq, type=r.type, occurred_at=r.occurred_at, data=r.data) for r in rows if r.seq]
        return events, int(rows[0].feed_end)

    async def _deliver_with_retries(self, webhook_id: str, event: Event) -> None:
        s = self.settings
        async for attempt in stamina.retry_context(
            on=DeliveryFailed,
            attempts=None,
            timeout=None,
            wait_initial=s.webhook_backoff_initial_seconds,
            wait_max=s.webhook_backoff_max_seconds,
            wait_jitter=s.webhook_backoff_jitter_seconds,
        ):
            with attempt:
                await self._attempt(webhook_id, event, attempt.next_wait)

    async def _attempt(self, webhook_id: str, event: Event, next_wait: float) -> None:
        """POST the event once and record the outcome; raises DeliveryFailed unless the receiver took it."""
        target = await self._finish(self._target(webhook_id))
        if target is None:
            raise LeaseLost(webhook_id)
        if event.seq <= target.last_delivered_seq:
            return
        body = msgspec.json.encode(event)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(target.secret, body),
            SEQ_HEADER: str(event.seq),
        }
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            response = await self.http.post(target.url, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"receiver answered {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        duration_ms = int((time.perf_counter() - started) * 1000)
        params: dict[str, Any] = {
            "id": webhook_id,
            "owner": self.owner,
            "seq": event.seq,
            "attempt": target.failed_attempts + 1,
            "status_code": status_code,
            "duration_ms": duration_ms,
            "lease": self.lease_seconds,
        }
        recorded = await self._finish(self._record(params, error, next_wait))
        if not recorded:
            raise LeaseLost(webhook_id)
        if error is not None:
            WEBHOOK_FAILURES.labels(webhook_id).inc()
            raise DeliveryFailed(error)

    async def _record(self, params: dict[str, Any], error: str | None, next_wait: float) -> bool:
        """Log the attempt and move the cursor (or schedule the retry); False if the lease was lost."""
        async with self.sessionmaker() as db, db.begin():
            if error is None:
                updated = await db.execute(_DELIVERED, params)
            else:
                updated = await db.execute(_FAILED, {**params, "error": error, "wait": next_wait})
        return bool(updated.rowcount)  # type: ignore[attr-defined]

    async def _skip_to(self, webhook_id: str, feed_end: int) -> None:
        async with self.sessionmaker() as db, db.begin():
            await db.execute(
                text(
                    "UPDATE webhooks SET last_delivered_seq = greatest(last_delivered_seq, :seq) "
                    "WHERE id = :id AND lease_owner = :owner"
                ),
                {"id": webhook_id, "seq": feed_end, "owner": self.owner},
            )

    async def _release(self, webhook_id: str) -> None:
        async with self.sessionmaker() as db, db.begin():
            await db.execute(
                text(
                    "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL WHERE id = :id AND lease_owner = :owner"
                ),
                {"id": webhook_id, "owner": self.owner},
            )
