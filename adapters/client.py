"""Our HTTP API as an adapter sees it: an integration key, retries, idempotency keys, the event feed.

`CommerceClient` retries what is worth retrying (connection errors, timeouts, 5xx, 429, and 409
`request_in_flight` for an idempotent POST still running) with stamina's exponential backoff and
jitter, waiting what `Retry-After` asks when the server says. Any other 4xx is a `CommerceRejected`
carrying the problem's stable `code`: the request itself is wrong and repeating it changes nothing
(the caller dead-letters it). `CommerceUnavailable` means the retries ran out.

Writes that move stock take an `idempotency_key`: pass the same key when repeating the same write
(after a crash, say), a new one for a new write.
"""

from __future__ import annotations

import email.utils
import logging
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import stamina

log = logging.getLogger("adapters.client")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class CommerceRejected(Exception):
    """A 4xx from our API: the request is wrong as sent (unknown SKU or store, bad body, invalid state...)."""

    def __init__(self, status: int, code: str, detail: str, body: Any = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.body = body


class CommerceUnavailable(Exception):
    """Our API could not be reached or kept failing (5xx, timeouts) through every retry."""


class RetryableError(Exception):
    """Raise inside a `retry_attempts` block to retry; `retry_after` (seconds) overrides the backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# --- the shapes we read (clients tolerate extra fields: these Structs ignore unknown ones) ---


class Event(msgspec.Struct, frozen=True):
    seq: int
    type: str
    occurred_at: datetime
    data: dict[str, Any]


class EventPage(msgspec.Struct, frozen=True):
    items: list[Event]
    next_after: int


class Level(msgspec.Struct, frozen=True):
    store: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int


class PosResult(msgspec.Struct, frozen=True):
    event_id: str | None
    status: str
    code: str | None = None
    detail: str | None = None


class RetryPolicy(msgspec.Struct, frozen=True):
    """How hard to retry. Tests shrink the waits; production keeps the defaults."""

    attempts: int = 8
    timeout: float = 120.0  # total seconds across attempts
    wait_initial: float = 0.2
    wait_max: float = 10.0
    wait_jitter: float = 0.5
    max_retry_after: float = 60.0


def retry_hook(policy: RetryPolicy) -> Any:
    """stamina's `on=`: retry RetryableError (waiting its retry_after when given), timeouts and
    connection errors; anything else propagates at once."""

    def on(exc: Exception) -> bool | float:
        if isinstance(exc, RetryableError):
            if exc.retry_after is not None:
                return min(exc.retry_after, policy.max_retry_after)
            return True
        return isinstance(exc, httpx.TimeoutException | httpx.TransportError)

    return on


def retry_attempts(policy: RetryPolicy) -> Any:
    """`async for attempt in retry_attempts(policy): with attempt: ...` with the policy's limits."""
    return stamina.retry_context(
        on=retry_hook(policy),
        attempts=policy.attempts,
        timeout=policy.timeout,
        wait_initial=policy.wait_initial,
        wait_max=policy.wait_max,
        wait_jitter=policy.wait_jitter,
    )


class CommerceClient:
    """One connection pool to our API with one integration key."""

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}", "User-Agent": "commerce-adapter/1"},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> CommerceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Send with retries; returns a 2xx response or raises CommerceRejected / CommerceUnavailable."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        content = msgspec.json.encode(json) if json is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        policy = self.retry
        try:
            async for attempt in retry_attempts(policy):
                with attempt:
                    response = await self.http.request(method, path, content=content, params=params, headers=headers)
                    if response.status_code in RETRYABLE_STATUS or _in_flight(response):
                        log.warning(
                            "commerce %s %s: %s, retrying",
                            method,
                            path,
                            response.status_code,
                            extra={"attempt": attempt.num},
                        )
                        raise RetryableError(
                            f"{method} {path}: {response.status_code}",
                            retry_after_seconds(response.headers.get("Retry-After")),
                        )
        except (RetryableError, httpx.TimeoutException, httpx.TransportError) as exc:
            raise CommerceUnavailable(f"{method} {path}: {exc!r}") from exc
        if response.status_code >= 400:
            body = _json_or_none(response)
            code = str(body.get("code", "error")) if isinstance(body, dict) else "error"
            detail = str(body.get("detail", response.text[:300])) if isinstance(body, dict) else response.text[:300]
            raise CommerceRejected(response.status_code, code, detail, body)
        return response

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        return (await self.request(method, path, **kw)).json()

    # --- the event feed ---

    async def events(self, after: int, types: list[str] | None = None, limit: int = 500) -> EventPage:
        params: dict[str, Any] = {"after": after, "limit": limit}
        if types:
            params["types"] = ",".join(types)
        response = await self.request("GET", "/v1/events", params=params)
        return msgspec.json.decode(response.content, type=EventPage)

    # --- inventory ---

    async def get_level(self, store: str, sku: str) -> Level:
        response = await self.request("GET", f"/v1/inventory/{store}/{sku}")
        return msgspec.json.decode(response.content, type=Level)

    async def set_level(
        self, store: str, sku: str, on_hand: int, *, counted_at: datetime | None = None, safety_stock: int | None = None
    ) -> Level:
        body: dict[str, Any] = {"on_hand": on_hand}
        if counted_at is not None:
            body["counted_at"] = counted_at.isoformat()
        if safety_stock is not None:
            body["safety_stock"] = safety_stock
        response = await self.request("PUT", f"/v1/inventory/{store}/{sku}", json=body)
        return msgspec.json.decode(response.content, type=Level)

    async def adjust(
        self, store: str, sku: str, delta: int, reason: str, *, idempotency_key: str, note: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"store": store, "sku": sku, "delta": delta, "reason": reason}
        if note is not None:
            body["note"] = note
        return dict(await self._json("POST", "/v1/inventory/adjustments", json=body, idempotency_key=idempotency_key))

    async def ledger(self, store: str, sku: str, limit: int = 500) -> list[dict[str, Any]]:
        page = await self._json("GET", f"/v1/inventory/{store}/{sku}/ledger", params={"limit": limit})
        return list(page["items"])

    async def availability(self, skus: list[str], stores: list[str]) -> dict[tuple[str, str], int]:
        """(store, sku) -> available; 0 where nothing is available or the SKU is unknown."""
        out: dict[tuple[str, str], int] = {}
        for start in range(0, len(skus), 100):
            params = {"skus": ",".join(skus[start : start + 100]), "stores": ",".join(stores)}
            for row in (await self._json("GET", "/v1/availability", params=params))["items"]:
                out[(row["store"], row["sku"])] = int(row["available"])
        return out

    # --- catalog ---

    async def all_skus(self) -> list[str]:
        """Every variant's SKU, paging through the catalog."""
        skus: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = await self._json("GET", "/v1/products", params=params)
            skus.extend(v["sku"] for p in page["items"] for v in p.get("variants", []))
            cursor = page.get("next_cursor")
            if not cursor:
                return skus

    # --- POS ---

    async def pos_events(self, store: str, events: list[dict[str, Any]]) -> list[PosResult]:
        """A batch of up to 1,000 POS events; each applies exactly once per (store, event_id)."""
        response = await self.request("POST", f"/v1/pos/{store}/events", json={"events": events})
        return msgspec.json.decode(response.content, type=dict[str, list[PosResult]])["results"]

    # --- orders ---

    async def import_order(self, order: dict[str, Any]) -> dict[str, Any]:
        """`POST /v1/orders/import`: idempotent per (source, external_id); a repeat returns the same order."""
        key = f"{order['source']}:{order['external_id']}"
        return dict(await self._json("POST", "/v1/orders/import", json=order, idempotency_key=key))

    async def find_imported_order(self, source: str, external_id: str) -> dict[str, Any] | None:
        page = await self._json("GET", "/v1/orders", params={"source": source, "external_id": external_id})
        items = page.get("items", []) if isinstance(page, dict) else page
        return dict(items[0]) if items else None

    async def get_order(self, order_id: str) -> dict[str, Any]:
        return dict(await self._json("GET", f"/v1/orders/{order_id}"))

    async def cancel_order(self, order_id: str) -> dict[str, Any]:
        """Cancel; an order already cancelled is returned as it is (repeating a cancel changes nothing)."""
        try:
            return dict(await self._json("POST", f"/v1/orders/{order_id}/cancel"))
        except CommerceRejected as exc:
            if exc.code == "invalid_state":
                order = await self.get_order(order_id)
                if order.get("status") == "cancelled":
                    return order
            raise


def _in_flight(response: httpx.Response) -> bool:
    if response.status_code != 409:
        return False
    body = _json_or_none(response)
    return isinstance(body, dict) and body.get("code") == "request_in_flight"


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
