"""API keys and customer tokens: issued once, stored only as a SHA-256 hash, looked up per request
with a short cache.

A customer token acts as role `customer` for one customer. The cache never lets one outlive its
expiry (an entry expires with the token), and revoking a customer's tokens drops them from every
process's cache once the revocation has committed: the revoking process after its commit, the others
when the database delivers the revocation's notification (`auth/listener.py`). Should that fail, an
entry still lives no longer than `auth_cache_seconds`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from commerce.auth.models import ApiKey, CustomerToken
from commerce.auth.schemas import CUSTOMER, CUSTOMER_TOKEN_PREFIX, ApiKeyOut, CustomerTokenOut, Principal, Role
from commerce.customers import service as customers
from commerce.errors import NotFound, Unprocessable

STORE_BOUND_ROLES = frozenset({"pos", "associate"})
# Notified (with the customer's id) by a transaction that revokes a customer's tokens.
REVOKED_CHANNEL = "commerce_customer_tokens_revoked"
_NOTIFY_REVOKED = text("SELECT pg_notify(:channel, :customer_id)")


def hash_key(key: str) -> str:
    # Keys and tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(session: AsyncSession, role: Role, store: str | None) -> ApiKeyOut:
    if role in STORE_BOUND_ROLES and store is None:
        raise Unprocessable(f"A {role} key is bound to one store: give `store`.", code="store_required")
    if role not in STORE_BOUND_ROLES and store is not None:
        raise Unprocessable(f"A {role} key is not bound to a store: leave out `store`.", code="store_not_allowed")
    if store is not None:
        exists = await session.scalar(text("SELECT 1 FROM stores WHERE code = :c"), {"c": store})
        if exists is None:
            raise NotFound(f"Store {store!r} does not exist; create it with PUT /v1/stores/{store} first.")
    key = f"ck_{role}_{secrets.token_urlsafe(32)}"
    row = ApiKey(role=role, store_code=store, key_hash=hash_key(key), prefix=key[:12])
    session.add(row)
    await session.flush()
    return ApiKeyOut(id=row.id, role=role, store=store, key=key)


async def create_customer_token(
    session: AsyncSession, customer_id: uuid.UUID, ttl_minutes: int, *, created_by: Principal, now: datetime
) -> CustomerTokenOut:
    """Mint a token for one customer (the retailer's sign-in service calls this once the shopper signed in)."""
    await customers.require_customer(session, customer_id)
    token = f"{CUSTOMER_TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
    expires_at = now + timedelta(minutes=ttl_minutes)
    session.add(
        CustomerToken(
            customer_id=customer_id,
            token_hash=hash_key(token),
            prefix=token[:12],
            created_by=created_by.source[:80],
            created_at=now,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return CustomerTokenOut(token=token, customer_id=customer_id, expires_at=expires_at)


async def revoke_customer_tokens(session: AsyncSession, customer_id: uuid.UUID) -> int:
    """Revoke every live token of the customer; returns how many there were."""
    await customers.require_customer(session, customer_id)
    revoked = await session.scalars(
        update(CustomerToken)
        .where(CustomerToken.customer_id == customer_id, CustomerToken.revoked_at.is_(None))
        .values(revoked_at=text("now()"))
        .returning(CustomerToken.id)
    )
    # Delivered to every service process when (and only if) this transaction commits.
    await session.execute(_NOTIFY_REVOKED, {"channel": REVOKED_CHANNEL, "customer_id": str(customer_id)})
    return len(revoked.all())


# (principal, monotonic time the cache entry dies)
_Entry = tuple[Principal | None, float]


class KeyResolver:
    """Resolves a bearer credential to a Principal; caches hits and misses for `ttl` seconds (a customer
    token's entry no longer than the token lives)."""

    def __init__(self, admin_token: str | None, ttl: float) -> None:
        self.admin_token = admin_token
        self.ttl = ttl
        self._cache: dict[str, _Entry] = {}
        # Bumped by every forget: a lookup that started before a revocation committed does
        # not cache what it read.
        self._generation = 0

    async def resolve(self, engine: AsyncEngine, token: str) -> Principal | None:
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return Principal(key_id="env-admin", role="admin")
        digest = hash_key(token)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        generation = self._generation
        if token.startswith(CUSTOMER_TOKEN_PREFIX):
            principal, lifetime = await self._customer(engine, digest)
        else:
            principal, lifetime = await self._api_key(engine, digest), self.ttl
        if generation == self._generation:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (principal, now + min(self.ttl, lifetime))
        return principal

    async def _api_key(self, engine: AsyncEngine, digest: str) -> Principal | None:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(ApiKey.id, ApiKey.role, ApiKey.store_code).where(
                        ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)
                    )
                )
            ).first()
        return Principal(key_id=str(row.id), role=row.role, store=row.store_code) if row else None

    async def _customer(self, engine: AsyncEngine, digest: str) -> tuple[Principal | None, float]:
        """A live customer token's principal and the seconds it has left."""
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(CustomerToken.id, CustomerToken.customer_id, CustomerToken.expires_at).where(
                        CustomerToken.token_hash == digest,
                        CustomerToken.revoked_at.is_(None),
                        CustomerToken.expires_at > text("now()"),
                    )
                )
            ).first()
        if row is None:
            return None, self.ttl
        left = (row.expires_at - datetime.now(UTC)).total_seconds()
        return Principal(key_id=str(row.id), role=CUSTOMER, customer_id=row.customer_id), max(left, 0.0)

    def forget_customer(self, customer_id: uuid.UUID) -> None:
        """Drop the customer's cached tokens (after their revocation committed)."""
        self._forget(lambda principal: principal.customer_id == customer_id)

    def forget_customers(self) -> None:
        """Drop every cached customer token."""
        self._forget(lambda principal: principal.customer_id is not None)

    def _forget(self, which: Callable[[Principal], bool]) -> None:
        self._generation += 1
        for digest, (principal, _) in list(self._cache.items()):
            if principal is not None and which(principal):
                del self._cache[digest]
