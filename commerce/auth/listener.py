"""Revoked customer tokens stop at once in every service process, not only the one that revoked them.

Revoking writes a PostgreSQL notification in the same transaction (`auth.service.REVOKED_CHANNEL`),
which the database delivers when, and only if, that transaction commits. Each process listens on a
connection of its own and drops the customer's tokens from its credential cache. While that
connection is down (a restart of the database, a pooler that does not pass LISTEN through) the cache
still lets an entry live no longer than `auth_cache_seconds`; on reconnecting the process forgets every
cached customer token, as it may have missed a revocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import asyncpg
from litestar import Litestar

from commerce.auth.service import REVOKED_CHANNEL, KeyResolver
from commerce.background import every
from commerce.db import SERVER_SETTINGS, driver_dsn

log = logging.getLogger("commerce.auth")

RECONNECT_SECONDS = 5.0


@contextlib.asynccontextmanager
async def revocation_listener(app: Litestar) -> AsyncIterator[None]:
    resolver: KeyResolver = app.state.key_resolver
    dsn = driver_dsn(app.state.settings.database_url)

    def revoked(_: object, __: int, ___: str, payload: str) -> None:
        try:
            resolver.forget_customer(uuid.UUID(payload))
        except ValueError:
            log.warning("ignored a token revocation notice with payload %r", payload)

    async def listen() -> None:
        conn = await asyncpg.connect(
            dsn, server_settings={**SERVER_SETTINGS, "application_name": "commerce-auth-listener"}
        )
        try:
            closed = asyncio.Event()
            conn.add_termination_listener(lambda _: closed.set())
            await conn.add_listener(REVOKED_CHANNEL, revoked)
            resolver.forget_customers()  # revocations while nobody listened went unheard
            await closed.wait()
            log.warning("the token revocation listener lost its connection; reconnecting")
        finally:
            await conn.close()

    async with every(RECONNECT_SECONDS, listen, log, "token revocation listener"):
        yield
