"""The feed bridged to NATS JetStream: `commerce bridge nats --url nats://...`.

Every numbered event is published, in seq order, to the subject `<prefix>.<event type>` of a
JetStream stream (created when missing, capturing `<prefix>.>`), with the feed's JSON event as the
body and `Nats-Msg-Id: <seq>`, so JetStream drops a second copy of an event it already holds.

Each event is published and acknowledged before the next one is sent: a failed publish can never
leave a later event in the stream ahead of an earlier one. The durable cursor
(`event_bridges.last_published_seq`) moves only after JetStream acknowledged every event up to it.
After a crash the bridge resumes from that cursor, or from the stream's own last `Nats-Msg-Id` if
that is further on (a crash between the acknowledgement and the cursor update), so the stream holds
every event once and in order even when the restart comes after JetStream's duplicate window.
Retention keeps the events a bridge has not published yet (retention.py).

One bridge of a name publishes at a time: it holds a session advisory lock on a connection of its
own, so a second process started with the same name waits as a standby and takes over when the
first one's connection goes. A bridge that loses its lock connection stops (exit status 1) rather
than publish beside its successor; run it under a supervisor that restarts it.

That connection also LISTENs for the relay's `FEED_GREW` notification, so the bridge publishes as
soon as events are numbered; `poll_seconds` is only the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec
import nats
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.background import pause
from commerce.events.relay import FEED_GREW
from commerce.events.schemas import Event

log = logging.getLogger("commerce.events.bridge")

MSG_ID_HEADER = "Nats-Msg-Id"
# The feed's JSON event, as webhooks and GET /v1/events have it.
_encode = msgspec.json.Encoder().encode

_CLAIM = text(
    """
    INSERT INTO event_bridges (name, target) VALUES (:name, :target)
    ON CONFLICT (name) DO UPDATE SET target = excluded.target
    RETURNING last_published_seq
    """
)
_NEXT = text("SELECT seq, type, occurred_at, data FROM events WHERE seq > :after ORDER BY seq LIMIT :limit")
_FEED_START = text("SELECT min(seq) FROM events")
_ADVANCE = text(
    "UPDATE event_bridges SET last_published_seq = greatest(last_published_seq, :seq), updated_at = now() "
    "WHERE name = :name"
)


class LockLost(Exception):
    """The connection holding the bridge's lock is gone: another process may be publishing now."""


class FeedPositionLost(Exception):
    """Events the bridge had not published were deleted by retention: the stream would have a hole."""


@dataclass(frozen=True)
class BridgeConfig:
    url: str
    name: str = "nats"
    stream: str = "COMMERCE_EVENTS"
    subject_prefix: str = "commerce.events"
    batch: int = 500
    poll_seconds: float = 5.0
    # JetStream drops a message whose Nats-Msg-Id it saw within this window.
    duplicate_window_seconds: float = 120.0


class NatsBridge:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], config: BridgeConfig) -> None:
        self.sessionmaker = sessionmaker
        self.config = config
        self.nc: Any = None
        self.js: Any = None
        self.cursor = 0
        self.lock: asyncpg.Connection | None = None
        self.wake = asyncio.Event()

    async def take_lock(self, dsn: str, stop: asyncio.Event) -> bool:
        """Wait until no other process publishes under this bridge's name (a standby waits here);
        False if `stop` was set first."""
        name = self.config.name
        self.lock = await asyncpg.connect(dsn, server_settings={"application_name": f"commerce-bridge-{name}"})
        waiting = False
        while not stop.is_set():
            if await self.lock.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", f"bridge:{name}"):
                if waiting:
                    log.info("bridge %s takes over", name)
                await self.lock.add_listener(FEED_GREW, lambda *_: self.wake.set())
                return True
            if not waiting:
                log.info("another bridge named %s is publishing; standing by to take over", name)
                waiting = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        return False

    def check_lock(self) -> None:
        if self.lock is not None and self.lock.is_closed():
            raise LockLost(self.config.name)

    async def connect(self) -> None:
        c = self.config
        self.nc = await nats.connect(c.url, name=f"commerce-bridge-{c.name}", max_reconnect_attempts=-1)
        self.js = self.nc.jetstream()
        try:
            await self.js.stream_info(c.stream)
        except NotFoundError:
            await self.js.add_stream(
                StreamConfig(
                    name=c.stream, subjects=[f"{c.subject_prefix}.>"], duplicate_window=c.duplicate_window_seconds
                )
            )
            log.info("created JetStream stream %s for %s.>", c.stream, c.subject_prefix)
        async with self.sessionmaker() as db, db.begin():
            stored = int((await db.execute(_CLAIM, {"name": c.name, "target": f"{c.url} {c.stream}"})).scalar_one())
        in_stream = await self.last_seq_in_stream()
        self.cursor = max(stored, in_stream)
        if self.cursor > stored:
            await self.advance(self.cursor)
        log.info("bridge %s publishing the feed after seq %d to %s", c.name, self.cursor, c.stream)

    async def last_seq_in_stream(self) -> int:
        """The feed seq of the newest message in the stream (0 when it is empty)."""
        info = await self.js.stream_info(self.config.stream)
        if not info.state.messages:
            return 0
        last = await self.js.get_msg(self.config.stream, seq=info.state.last_seq)
        return int((last.headers or {}).get(MSG_ID_HEADER, 0))

    async def advance(self, seq: int) -> None:
        async with self.sessionmaker() as db, db.begin():
            await db.execute(_ADVANCE, {"name": self.config.name, "seq": seq})

    async def publish_pending(self) -> int:
        """Publish up to one batch of events after the cursor; returns how many."""
        self.check_lock()
        async with self.sessionmaker() as db, db.begin():
            rows = (await db.execute(_NEXT, {"after": self.cursor, "limit": self.config.batch})).all()
            if rows and rows[0].seq != self.cursor + 1 and self.cursor > 0:
                start = await db.scalar(_FEED_START)
                if start is not None and start > self.cursor + 1:
                    raise FeedPositionLost(
                        f"events {self.cursor + 1}..{start - 1} were deleted before the bridge published them"
                    )
        for row in rows:
            event = Event(seq=row.seq, type=row.type, occurred_at=row.occurred_at, data=row.data)
            await self.js.publish(
                f"{self.config.subject_prefix}.{event.type}",
                _encode(event),
                stream=self.config.stream,
                headers={MSG_ID_HEADER: str(event.seq)},
            )
            self.cursor = event.seq
        if rows:
            await self.advance(self.cursor)
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set: everything pending, then whatever the relay numbers next."""
        while not stop.is_set():
            self.wake.clear()  # before the round: events numbered during it wake the next one
            try:
                published = await self.publish_pending()
            except (FeedPositionLost, LockLost):
                raise
            except Exception:
                # NATS or the database unreachable: the cursor is where the last acknowledged batch left it.
                log.exception("bridge round failed; retrying")
                published = 0
                await self.resync()
            if published < self.config.batch:
                await pause(self.config.poll_seconds, stop, self.wake)

    async def resync(self) -> None:
        """After a failed publish: continue after what the stream holds (a publish may have landed)."""
        with contextlib.suppress(Exception):
            in_stream = await self.last_seq_in_stream()
            self.cursor = max(self.cursor, in_stream)

    async def close(self) -> None:
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        if self.lock is not None:
            with contextlib.suppress(Exception):
                await self.lock.close()
