"""PostgreSQL notifications in a service process: one listening connection for every channel.

Parts of the service that want to hear about a change another process committed (a token
revocation, new events) subscribe to a channel here. A notification issued in a transaction is
delivered only when, and only if, that transaction commits. The process listens on one connection
of its own (LISTEN needs a session, so never a pooled connection); when it is lost (a restarting
database, a killed backend) the listener reconnects every `RECONNECT_SECONDS` and, having perhaps
missed notifications meanwhile, calls every subscriber's `missed` callback once it listens again.

Behind a transaction-mode pooler (`db_transaction_pooler`) LISTEN does not work (the server
connection goes back to the pool after each transaction), so nothing is listened for unless
`database_listen_url` names a direct session connection to the same database; without one every
subscriber falls back to what it does without notifications (caches expire, workers poll at their
safety-net interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import asyncpg
from litestar import Litestar

from commerce.background import every
from commerce.db import SERVER_SETTINGS, driver_dsn
from commerce.settings import Settings

log = logging.getLogger("commerce.notify")

RECONNECT_SECONDS = 5.0
APPLICATION_NAME = "commerce-listener"


@dataclass(frozen=True)
class Subscription:
    channel: str
    heard: Callable[[str], None]  # called with the payload of each notification
    missed: Callable[[], None]  # called on (re)connecting: notifications may have gone unheard


class Notifications:
    """The process's subscriptions and, while it is up, its listening connection."""

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self.subscriptions: list[Subscription] = []
        self.conn: asyncpg.Connection | None = None

    @property
    def listening(self) -> bool:
        return self.conn is not None and not self.conn.is_closed()

    async def subscribe(
        self, channel: str, heard: Callable[[str], None], missed: Callable[[], None] | None = None
    ) -> None:
        sub = Subscription(channel, heard, missed or (lambda: None))
        self.subscriptions.append(sub)
        if self.listening:
            assert self.conn is not None
            await self.conn.add_listener(channel, self._callback(sub))
            sub.missed()

    @staticmethod
    def _callback(sub: Subscription) -> Callable[[object, int, str, str], None]:
        def callback(_: object, __: int, ___: str, payload: str) -> None:
            try:
                sub.heard(payload)
            except Exception:
                log.exception("a %s notification handler failed", sub.channel)

        return callback

    async def listen_until_lost(self) -> None:
        """Connect, LISTEN on every subscribed channel and wait until the connection is lost."""
        assert self.dsn is not None
        conn = await asyncpg.connect(
            self.dsn, server_settings={**SERVER_SETTINGS, "application_name": APPLICATION_NAME}
        )
        try:
            closed = asyncio.Event()
            conn.add_termination_listener(lambda _: closed.set())
            for sub in list(self.subscriptions):
                await conn.add_listener(sub.channel, self._callback(sub))
            self.conn = conn
            for sub in list(self.subscriptions):
                sub.missed()
            await closed.wait()
            log.warning("the notification listener lost its connection; reconnecting")
        finally:
            self.conn = None
            await conn.close()


def listen_dsn(settings: Settings) -> str | None:
    """Where to LISTEN: a session connection to the service's database, or nowhere (see the module doc)."""
    if settings.database_listen_url:
        return driver_dsn(settings.database_listen_url)
    if settings.db_transaction_pooler or not settings.database_url:
        return None
    return driver_dsn(settings.database_url)


@contextlib.asynccontextmanager
async def notifications(app: Litestar) -> AsyncIterator[None]:
    """The lifespan: `app.state.notifications` for the later lifespans, listening while the app runs."""
    notices = Notifications(listen_dsn(app.state.settings))
    app.state.notifications = notices
    if notices.dsn is None:
        log.info("no session connection to LISTEN on (transaction pooler): background workers poll instead")
        yield
        return
    async with every(RECONNECT_SECONDS, notices.listen_until_lost, log, "notification listener"):
        yield
