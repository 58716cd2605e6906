"""`Idempotency-Key` for POSTs that create or move stock or money.

The same key (scoped to the API key that sent it) with the same body replays the first
response byte for byte; with another body it is 422 `idempotency_conflict`; while the first
request still runs it is 409 `request_in_flight`. The key is claimed with a transaction-scoped
advisory lock and the response is stored in the same transaction as the change it reports, so
a crash or rollback leaves no half-claimed key behind. Only successful responses are stored: a
request that failed changed nothing, so retrying it simply runs it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.params import HeaderParameter
from sqlalchemy import DateTime, Integer, LargeBinary, String, func, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from commerce.auth.schemas import Principal
from commerce.db import Base
from commerce.errors import BadRequest, Conflict, Unprocessable

T = TypeVar("T")

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=255,
        required=False,
        description="Any unique string (a UUID is ideal). Retrying with the same key and body returns the first "
        "response instead of acting twice; keys are kept 24 hours (COMMERCE_IDEMPOTENCY_RETENTION_HOURS).",
    ),
]


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    principal: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)


# Plain SQL rows, not ORM entities, and built once. Checkout claims, reads and stores its key
# inside its own statements with the same SQL (CLAIM with `scope(...)`, STORED_SQL, STORE_SQL).
CLAIM = "pg_try_advisory_xact_lock(hashtextextended(:scope, 7))"
STORED_SQL = "SELECT request_hash, status_code, body FROM idempotency_keys WHERE principal = :principal AND key = :key"
STORE_SQL = (
    "INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body)"
    " VALUES (:principal, :key, :request_hash, :status_code, :body)"
)
_CLAIM = text(f"SELECT {CLAIM}")
_STORED = text(STORED_SQL)
_STORE = text(STORE_SQL)


def scope(principal: str, key: str) -> str:
    """What the claim's advisory lock is taken on: the key, scoped to the API key that sent it."""
    return f"{principal}:{key}"


def require_key(key: str | None) -> str:
    if key is None:
        raise BadRequest(
            "This request needs an `Idempotency-Key` header (for example a UUID) so a retry cannot act twice.",
            code="idempotency_key_required",
        )
    return key


def in_flight() -> Conflict:
    """The answer while another request with the same key holds its claim."""
    return Conflict(
        "A request with this Idempotency-Key is still being processed; retry shortly.", code="request_in_flight"
    )


def same_request(request_hash: str, fingerprint: str) -> None:
    """422 `idempotency_conflict` unless this request asks what the key's first one asked."""
    if request_hash != fingerprint:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request; use a new key.",
            code="idempotency_conflict",
        )


def replay(request_hash: str, status_code: int, body: bytes, fingerprint: str) -> Response[Any]:
    """The stored response of the key's first request (see same_request)."""
    same_request(request_hash, fingerprint)
    return Response(
        body, status_code=status_code, media_type="application/json", headers={"Idempotent-Replayed": "true"}
    )


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """Hash of what was asked; JSON bodies are canonicalised so key order and spacing do not matter."""
    try:
        canonical = msgspec.json.encode(msgspec.json.decode(body), order="sorted") if body.strip() else b""
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


async def idempotent(
    db: AsyncSession,
    request: Request[Principal, Any, Any],
    key: str | None,
    run: Callable[[], Awaitable[T]],
    *,
    status_code: int = 201,
    required: bool = False,
) -> Response[Any]:
    """Run `run` at most once per (caller, key) and return its response, replaying it on retries.

    `run` returns the response body, answered with `status_code`; or a Response, to choose the status
    itself (its status and body are what a retry gets back)."""
    if key is None:
        if required:
            require_key(key)
        direct = await run()
        return direct if isinstance(direct, Response) else Response(direct, status_code=status_code)

    principal = request.user.key_id
    fingerprint = request_fingerprint(request.method, request.url.path, await request.body())
    locked = await db.scalar(_CLAIM, {"scope": scope(principal, key)})
    if not locked:
        raise in_flight()
    # Read in its own statement, after the lock is held: a statement that started before taking the
    # lock could miss a first request that committed (and released the key) just before.
    stored = (await db.execute(_STORED, {"principal": principal, "key": key})).first()
    if stored is not None:
        return replay(stored.request_hash, stored.status_code, stored.body, fingerprint)

    result: Any = await run()
    if isinstance(result, Response):
        status_code, result = result.status_code or status_code, result.content
    body = msgspec.json.encode(result)
    await db.execute(
        _STORE,
        {"principal": principal, "key": key, "request_hash": fingerprint, "status_code": status_code, "body": body},
    )
    return Response(body, status_code=status_code, media_type="application/json")
