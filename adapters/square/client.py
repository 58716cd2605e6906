"""Square's API as the adapter uses it: orders, catalog variations, loyalty, inventory changes, events.

Every call goes through the adapters' shared retrying send: 429 `RATE_LIMITED` and 5xx are retried
with exponential backoff and jitter, waiting what `Retry-After` asks. Any other error is a
`SquareRejected` with Square's error `code` (`errors[0].code`); `SquareUnavailable` means the
retries ran out (Square is down or throttling us: the work stays in the inbox for later).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import msgspec

from adapters.client import RETRYABLE_STATUS, RetryableError, RetryPolicy, retry_after_seconds, retry_attempts

log = logging.getLogger("adapters.square.client")

SQUARE_VERSION = "2025-10-16"
LOYALTY_SEARCH_IDS = 30  # SearchLoyaltyAccounts: at most 30 customer ids a query
Json = dict[str, Any]


class SquareRejected(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"Square {status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail


class SquareUnavailable(Exception):
    """Square kept failing (5xx, 429, timeouts) through every retry."""


class SquareClient:
    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {access_token}",
                "Square-Version": SQUARE_VERSION,
                "User-Agent": "commerce-adapter/1",
            },
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, body: Json | None = None) -> Json:
        content = msgspec.json.encode(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else {}
        try:
            async for attempt in retry_attempts(self.retry):
                with attempt:
                    response = await self.http.request(method, path, content=content, headers=headers)
                    if response.status_code in RETRYABLE_STATUS:
                        log.warning("square %s %s: %s, retrying", method, path, response.status_code)
                        raise RetryableError(
                            f"square {method} {path}: {response.status_code}",
                            retry_after_seconds(response.headers.get("Retry-After")),
                        )
        except (RetryableError, httpx.TimeoutException, httpx.TransportError) as exc:
            raise SquareUnavailable(f"square {method} {path}: {exc!r}") from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 400:
            error = (payload or {}).get("errors", [{}])[0] if isinstance(payload, dict) else {}
            raise SquareRejected(
                response.status_code, str(error.get("code", "ERROR")), str(error.get("detail", response.text[:300]))
            )
        return payload if isinstance(payload, dict) else {}

    # --- catalog ---

    async def variations(self, begin_time: str | None = None) -> tuple[list[Json], str | None]:
        """Every ITEM_VARIATION changed after `begin_time` (all when None), and Square's `latest_time`
        to pass next time."""
        found: list[Json] = []
        body: Json = {"object_types": ["ITEM_VARIATION"], "include_deleted_objects": True, "limit": 1000}
        if begin_time:
            body["begin_time"] = begin_time
        latest: str | None = None
        while True:
            page = await self.call("POST", "/v2/catalog/search", body)
            found.extend(page.get("objects") or [])
            latest = page.get("latest_time") or latest
            if not page.get("cursor"):
                return found, latest
            body = {**body, "cursor": page["cursor"]}

    async def variation_by_sku(self, sku: str) -> Json | None:
        page = await self.call(
            "POST",
            "/v2/catalog/search",
            {
                "object_types": ["ITEM_VARIATION"],
                "query": {"exact_query": {"attribute_name": "sku", "attribute_value": sku}},
                "limit": 1,
            },
        )
        objects = page.get("objects") or []
        return objects[0] if objects else None

    # --- orders, customers, loyalty ---

    async def orders(self, order_ids: Sequence[str]) -> list[Json]:
        """Full orders by id (BatchRetrieveOrders, 100 a call); ids Square does not know are absent."""
        found: list[Json] = []
        ids = list(dict.fromkeys(order_ids))
        for start in range(0, len(ids), 100):
            page = await self.call("POST", "/v2/orders/batch-retrieve", {"order_ids": ids[start : start + 100]})
            found.extend(page.get("orders") or [])
        return found

    async def loyalty_accounts(self, customer_ids: Sequence[str]) -> list[Json]:
        """The loyalty accounts of these customers (SearchLoyaltyAccounts, 30 customer ids a call)."""
        found: list[Json] = []
        ids = list(dict.fromkeys(customer_ids))
        for start in range(0, len(ids), LOYALTY_SEARCH_IDS):
            body: Json = {"query": {"customer_ids": ids[start : start + LOYALTY_SEARCH_IDS]}}
            while True:
                page = await self.call("POST", "/v2/loyalty/accounts/search", body)
                found.extend(page.get("loyalty_accounts") or [])
                if not page.get("cursor"):
                    break
                body = {**body, "cursor": page["cursor"]}
        return found

    async def customer(self, customer_id: str) -> Json | None:
        """RetrieveCustomer; None when Square has no such customer (404: deleted, or merged away)."""
        try:
            return (await self.call("GET", f"/v2/customers/{customer_id}")).get("customer")
        except SquareRejected as exc:
            if exc.status == 404:
                return None
            raise

    # --- inventory ---

    async def batch_change(self, body: Json) -> Json:
        """BatchChangeInventory: at most 100 changes with an idempotency key (the same key and body is
        the same request to Square, so a retry never applies twice)."""
        return await self.call("POST", "/v2/inventory/changes/batch-create", body)

    # --- events (recovery of missed webhooks, the last 28 days) ---

    async def events(self, start_at: str, types: Sequence[str]) -> AsyncIterator[Json]:
        body: Json = {
            "limit": 100,
            "query": {
                "filter": {"event_types": list(types), "created_at": {"start_at": start_at}},
                "sort": {"field": "DEFAULT", "order": "ASC"},
            },
        }
        while True:
            page = await self.call("POST", "/v2/events", body)
            for event in page.get("events") or []:
                yield event
            if not page.get("cursor"):
                return
            body = {**body, "cursor": page["cursor"]}
