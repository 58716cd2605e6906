"""API keys: issued once, stored only as a SHA-256 hash, looked up per request with a short cache."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from commerce.auth.models import ApiKey
from commerce.auth.schemas import ApiKeyOut, Principal, Role
from commerce.errors import NotFound, Unprocessable

STORE_BOUND_ROLES = frozenset({"pos", "associate"})


def hash_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough: nothing to brute-force.
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


class KeyResolver:
    """Resolves a bearer token to a Principal; caches hits and misses for `ttl` seconds."""

    def __init__(self, admin_token: str | None, ttl: float) -> None:
        self.admin_token = admin_token
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def resolve(self, engine: AsyncEngine, token: str) -> Principal | None:
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return Principal(key_id="env-admin", role="admin")
        digest = hash_key(token)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(ApiKey.id, ApiKey.role, ApiKey.store_code).where(
                        ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)
                    )
                )
            ).first()
        principal = Principal(key_id=str(row.id), role=row.role, store=row.store_code) if row else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self.ttl, principal)
        return principal
