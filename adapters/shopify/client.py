"""Shopify's Admin GraphQL API 2026-10, the subset the adapter uses, with Shopify's rate limits respected.

Rate limits: Shopify meters GraphQL by calculated query cost in a leaky bucket per (app, store) and
reports the bucket in every response (`extensions.cost.throttleStatus {maximumAvailable,
currentlyAvailable, restoreRate}`). The client keeps the last report and, before a call, waits
until the bucket would hold the call's estimated cost. A throttled call anyway (HTTP 429, or a
`THROTTLED` error) is retried after the wait the bucket implies or `Retry-After`; 5xx, timeouts
and connection errors are retried with exponential backoff and jitter (stamina).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import httpx
import msgspec

from adapters.client import RetryableError, RetryPolicy, retry_after_seconds, retry_attempts

log = logging.getLogger("adapters.shopify.client")

API_VERSION = "2026-10"
MAX_QUANTITIES = 250  # every input array is capped at 250 items
MUTATION_COST = 10


class ShopifyError(Exception):
    """A GraphQL error other than throttling (bad query, access denied...): retrying will not help."""


class ShopifyUnavailable(ShopifyError):
    """Shopify kept throttling or failing (429, 5xx, timeouts) through every retry."""


class UserError(msgspec.Struct, frozen=True):
    code: str | None
    field: list[str] | None
    message: str

    def quantity_index(self) -> int | None:
        """Which `input.quantities[i]` the error names, if it names one."""
        path = self.field or []
        for before, part in itertools.pairwise(path):
            if before == "quantities" and part.isdigit():
                return int(part)
        return None


class QuantityInput(msgspec.Struct, frozen=True):
    inventoryItemId: str  # Shopify's field names
    locationId: str
    quantity: int
    changeFromQuantity: int | None  # always sent, null opts out of compare-and-set


class FulfillmentOrder(msgspec.Struct, frozen=True):
    location_id: str | None
    method: str | None  # DeliveryMethodType: SHIPPING, PICK_UP, LOCAL, RETAIL, ...
    status: str
    line_items: dict[str, int] | None  # LineItem gid -> quantity; None: the order's only fulfillment order


class Bucket:
    """What Shopify last told us about our leaky bucket, drained forward in time."""

    def __init__(self) -> None:
        self.maximum = 1000.0
        self.available = 1000.0
        self.restore_rate = 100.0
        self.observed_at = time.monotonic()

    def now_available(self) -> float:
        elapsed = time.monotonic() - self.observed_at
        return min(self.maximum, self.available + elapsed * self.restore_rate)

    def wait_for(self, cost: float) -> float:
        """Seconds until `cost` points are available (0 when they are)."""
        missing = min(cost, self.maximum) - self.now_available()
        return max(0.0, missing / self.restore_rate) if self.restore_rate > 0 else 0.0

    def observe(self, throttle: dict[str, Any]) -> None:
        self.maximum = float(throttle.get("maximumAvailable", self.maximum))
        self.available = float(throttle.get("currentlyAvailable", self.available))
        self.restore_rate = float(throttle.get("restoreRate", self.restore_rate)) or self.restore_rate
        self.observed_at = time.monotonic()

    def spend(self, cost: float) -> None:
        self.available = self.now_available() - cost
        self.observed_at = time.monotonic()


SET_QUANTITIES = """
mutation SetAvailable($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}
"""

VARIANTS_BY_SKU = """
query VariantsBySku($query: String!, $first: Int!) {
  productVariants(first: $first, query: $query) {
    nodes { id sku inventoryItem { id } }
  }
}
"""


def item_levels_query(location_ids: list[str]) -> str:
    """Each item's `available` at the given locations only (one aliased `inventoryLevel` per location)."""
    fields = " ".join(
        f'l{i}: inventoryLevel(locationId: "{loc}") {{ quantities(names: ["available"]) {{ name quantity }} }}'
        for i, loc in enumerate(location_ids)
    )
    return f"query ItemLevels($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on InventoryItem {{ id {fields} }} }} }}"


ORDER_FULFILLMENT = """
query OrderFulfillment($id: ID!) {
  order(id: $id) {
    id
    fulfillmentOrders(first: 5) {
      nodes { id status assignedLocation { location { id } } deliveryMethod { methodType } }
    }
  }
}
"""

FULFILLMENT_LINES = """
query FulfillmentLines($id: ID!) {
  order(id: $id) {
    fulfillmentOrders(first: 5) {
      nodes { id lineItems(first: 50) { nodes { totalQuantity lineItem { id } } } }
    }
  }
}
"""

ITEM_SKUS = "query ItemSkus($ids: [ID!]!) { nodes(ids: $ids) { ... on InventoryItem { id sku } } }"

SKU_CHUNK = 25


def sku_query(skus: list[str]) -> str:
    """Shopify search syntax for any of these SKUs (quoted: SKUs hold dashes and spaces)."""
    return " OR ".join('sku:"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in skus)


class ShopifyClient:
    def __init__(
        self,
        shop_url: str,
        access_token: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy(attempts=10, timeout=300.0)
        self.endpoint = f"{shop_url.rstrip('/')}/admin/api/{API_VERSION}/graphql.json"
        self.http = httpx.AsyncClient(
            headers={"X-Shopify-Access-Token": access_token, "Content-Type": "application/json"},
            timeout=timeout,
            transport=transport,
        )
        self.bucket = Bucket()
        self.calls = 0

    async def aclose(self) -> None:
        await self.http.aclose()

    async def execute(self, query: str, variables: dict[str, Any], *, cost: float) -> dict[str, Any]:
        """Run one operation; returns `data`. `cost` is our estimate of its requested query cost."""
        body = msgspec.json.encode({"query": query, "variables": variables})
        try:
            return await self._execute(body, cost)
        except (RetryableError, httpx.TimeoutException, httpx.TransportError) as exc:
            raise ShopifyUnavailable(f"shopify: {exc!r}") from exc

    async def _execute(self, body: bytes, cost: float) -> dict[str, Any]:
        async for attempt in retry_attempts(self.retry):
            with attempt:
                wait = self.bucket.wait_for(cost)
                if wait > 0:
                    log.info("waiting for the rate limit", extra={"seconds": round(wait, 3), "cost": cost})
                    await asyncio.sleep(wait)
                self.bucket.spend(cost)
                self.calls += 1
                response = await self.http.post(self.endpoint, content=body)
                return self._read(response, cost)
        raise AssertionError("unreachable: retry_attempts raises when it gives up")

    def _read(self, response: httpx.Response, cost: float) -> dict[str, Any]:
        payload: Any = None
        if response.headers.get("content-type", "").startswith("application/json"):
            try:
                payload = response.json()
            except ValueError:
                payload = None
        throttle = _throttle_status(payload)
        if throttle:
            self.bucket.observe(throttle)
        if response.status_code == 429:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            log.warning("shopify 429", extra={"retry_after": retry_after})
            raise RetryableError("shopify 429", retry_after if retry_after is not None else self._throttle_wait(cost))
        if response.status_code >= 500:
            log.warning("shopify %s", response.status_code)
            raise RetryableError(
                f"shopify {response.status_code}", retry_after_seconds(response.headers.get("Retry-After"))
            )
        if response.status_code >= 400 or not isinstance(payload, dict):
            raise ShopifyError(f"shopify {response.status_code}: {response.text[:300]}")
        errors = payload.get("errors") or []
        if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
            requested = ((payload.get("extensions") or {}).get("cost") or {}).get("requestedQueryCost")
            wait = self._throttle_wait(float(requested) if requested else cost)
            log.warning("shopify THROTTLED", extra={"wait": round(wait, 3)})
            raise RetryableError("shopify THROTTLED", wait)
        if errors:
            raise ShopifyError("; ".join(str(e.get("message")) for e in errors))
        return dict(payload.get("data") or {})

    def _throttle_wait(self, cost: float) -> float:
        return max(0.05, self.bucket.wait_for(cost))

    # --- the operations ---

    async def set_available(
        self, quantities: list[QuantityInput], *, key: str, reference: str, reason: str = "correction"
    ) -> list[UserError]:
        """`inventorySetQuantities` (name `available`) with compare-and-set and an idempotency key.
        Returns the userErrors (empty: every quantity was set)."""
        if not 0 < len(quantities) <= MAX_QUANTITIES:
            raise ValueError(f"1 to {MAX_QUANTITIES} quantities per call, got {len(quantities)}")
        variables = {
            "key": key,
            "input": {
                "name": "available",
                "reason": reason,
                "referenceDocumentUri": reference,
                "quantities": msgspec.to_builtins(quantities),
            },
        }
        data = await self.execute(SET_QUANTITIES, variables, cost=MUTATION_COST)
        result = data.get("inventorySetQuantities") or {}
        return msgspec.convert(result.get("userErrors") or [], list[UserError])

    async def inventory_items_by_sku(self, skus: list[str]) -> dict[str, str]:
        """SKU -> InventoryItem gid for the SKUs Shopify has (the others are absent from the answer)."""
        found: dict[str, str] = {}
        for start in range(0, len(skus), SKU_CHUNK):
            chunk = skus[start : start + SKU_CHUNK]
            first = min(250, 2 * len(chunk))
            data = await self.execute(VARIANTS_BY_SKU, {"query": sku_query(chunk), "first": first}, cost=2 + 2 * first)
            wanted = set(chunk)
            for node in (data.get("productVariants") or {}).get("nodes") or []:
                sku = node.get("sku")
                # `sku:` is a search, not an equality: keep exact matches only
                if sku in wanted and node.get("inventoryItem"):
                    found.setdefault(sku, node["inventoryItem"]["id"])
        return found

    async def skus_of_items(self, item_ids: list[str]) -> dict[str, str]:
        """InventoryItem gid -> SKU, for items that have one."""
        out: dict[str, str] = {}
        for start in range(0, len(item_ids), 100):
            ids = item_ids[start : start + 100]
            data = await self.execute(ITEM_SKUS, {"ids": ids}, cost=1 + len(ids))
            for node in data.get("nodes") or []:
                if node and node.get("sku"):
                    out[node["id"]] = node["sku"]
        return out

    async def available_levels(self, item_ids: list[str], location_ids: list[str]) -> dict[tuple[str, str], int]:
        """(InventoryItem gid, Location gid) -> available, for the levels that exist (an item not stocked
        at a location has none)."""
        out: dict[tuple[str, str], int] = {}
        if not item_ids or not location_ids:
            return out
        query = item_levels_query(location_ids)
        per_item = 2 * len(location_ids) + 1
        chunk = max(1, min(250, 800 // per_item))
        for start in range(0, len(item_ids), chunk):
            ids = item_ids[start : start + chunk]
            data = await self.execute(query, {"ids": ids}, cost=1 + per_item * len(ids))
            for node in data.get("nodes") or []:
                if not node:
                    continue
                for i, location in enumerate(location_ids):
                    level = node.get(f"l{i}")
                    for q in (level or {}).get("quantities") or []:
                        if q.get("name") == "available":
                            out[(node["id"], location)] = int(q["quantity"])
        return out

    async def fulfillment_orders(self, order_gid: str) -> list[FulfillmentOrder]:
        """The order's fulfillment orders: where each is assigned and how it is delivered. Their line items
        are asked for only when there are several (one fulfillment order holds every line): a cheaper query."""
        data = await self.execute(ORDER_FULFILLMENT, {"id": order_gid}, cost=25)
        nodes = ((data.get("order") or {}).get("fulfillmentOrders") or {}).get("nodes") or []
        lines: dict[str, dict[str, int]] = {}
        if len(nodes) > 1:
            more = await self.execute(FULFILLMENT_LINES, {"id": order_gid}, cost=520)
            for fo in ((more.get("order") or {}).get("fulfillmentOrders") or {}).get("nodes") or []:
                lines[fo["id"]] = {
                    n["lineItem"]["id"]: int(n.get("totalQuantity") or 0)
                    for n in (fo.get("lineItems") or {}).get("nodes") or []
                    if n.get("lineItem")
                }
        return [
            FulfillmentOrder(
                location_id=((fo.get("assignedLocation") or {}).get("location") or {}).get("id"),
                method=(fo.get("deliveryMethod") or {}).get("methodType"),
                status=str(fo.get("status")),
                line_items=lines.get(fo["id"]),
            )
            for fo in nodes
        ]


def _throttle_status(payload: Any) -> dict[str, Any] | None:
    if not isinstance(payload, dict):
        return None
    cost = (payload.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus")
    return dict(status) if isinstance(status, dict) else None
