"""Revoked customer tokens stop at once in every service process, not only the one that revoked them.

Revoking writes a PostgreSQL notification in the same transaction (`auth.service.REVOKED_CHANNEL`),
which the database delivers when, and only if, that transaction commits. Each process hears it on
its notification listener (commerce/notify.py) and drops the customer's tokens from its credential
cache. While the listener is down (a restart of the database, a pooler that does not pass LISTEN
through) the cache still lets an entry live no longer than `auth_cache_seconds`; on reconnecting the
process forgets every cached customer token, as it may have missed a revocation.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from litestar import Litestar

from commerce.auth.service import REVOKED_CHANNEL, KeyResolver
from commerce.notify import Notifications

log = logging.getLogger("commerce.auth")


@contextlib.asynccontextmanager
async def revocation_listener(app: Litestar) -> AsyncIterator[None]:
    resolver: KeyResolver = app.state.key_resolver
    notices: Notifications = app.state.notifications

    def revoked(payload: str) -> None:
        try:
            resolver.forget_customer(uuid.UUID(payload))
        except ValueError:
            log.warning("ignored a token revocation notice with payload %r", payload)

    # Revocations while nobody listened went unheard: forget every cached customer token then.
    await notices.subscribe(REVOKED_CHANNEL, revoked, resolver.forget_customers)
    yield
