"""A Shopify store as the adapter sees it, written from Shopify's public documentation and served
over real HTTP on loopback:

- Admin GraphQL API 2026-10 at `/admin/api/2026-10/graphql.json` (header `X-Shopify-Access-Token`),
  parsed and executed with graphql-core against the subset of the schema the adapter uses:
  `productVariants(query: "sku:...")`, `nodes(ids:)` on InventoryItem with its inventory levels,
  `order(id:) { fulfillmentOrders }`, `locations`, and `inventorySetQuantities` with the 2026-04+
  rules: `@idempotent(key:)` required, `changeFromQuantity` required on every quantity (explicit null
  opts out), all-or-nothing with the documented userError codes and field paths.
- The calculated-cost leaky bucket, reported in `extensions.cost` on every response; a call that
  does not fit is refused with a `THROTTLED` error. Tests can force throttling, or HTTP 429/500
  answers, for a period.
- Webhooks: deliveries signed with `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the raw body) and
  the documented headers, retried on failure, and redeliverable with the same `X-Shopify-Event-Id`.
  Its own changes (orders placed, cancelled, refunded, levels set) send the matching topics.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import uvicorn
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    build_schema,
    execute,
    parse,
    validate,
)
from graphql.execution.values import get_directive_values

API_PATH = "/admin/api/2026-10/graphql.json"

SDL = """
directive @idempotent(key: String!) on FIELD

interface Node { id: ID! }

type Query {
  productVariants(first: Int, query: String): ProductVariantConnection!
  nodes(ids: [ID!]!): [Node]!
  order(id: ID!): Order
  locations(first: Int): LocationConnection!
}

type Mutation {
  inventorySetQuantities(input: InventorySetQuantitiesInput!): InventorySetQuantitiesPayload
}

type ProductVariantConnection { nodes: [ProductVariant!]! }
type ProductVariant implements Node { id: ID! sku: String inventoryItem: InventoryItem! }
type InventoryItem implements Node {
  id: ID!
  sku: String
  inventoryLevels(first: Int): InventoryLevelConnection!
  inventoryLevel(locationId: ID!): InventoryLevel
}
type InventoryLevelConnection { nodes: [InventoryLevel!]! }
type InventoryLevel { id: ID! location: Location! quantities(names: [String!]!): [InventoryQuantity!]! }
type InventoryQuantity { name: String! quantity: Int! }
type Location implements Node { id: ID! name: String! isActive: Boolean! }
type LocationConnection { nodes: [Location!]! }

type Order implements Node { id: ID! name: String! fulfillmentOrders(first: Int): FulfillmentOrderConnection! }
type FulfillmentOrderConnection { nodes: [FulfillmentOrder!]! }
type FulfillmentOrder {
  id: ID!
  status: String!
  assignedLocation: FulfillmentOrderAssignedLocation!
  deliveryMethod: DeliveryMethod
  lineItems(first: Int): FulfillmentOrderLineItemConnection!
}
type FulfillmentOrderAssignedLocation { location: Location }
type DeliveryMethod { methodType: String! }
type FulfillmentOrderLineItemConnection { nodes: [FulfillmentOrderLineItem!]! }
type FulfillmentOrderLineItem { totalQuantity: Int! lineItem: LineItem! }
type LineItem { id: ID! sku: String }

input InventorySetQuantitiesInput {
  name: String!
  reason: String!
  referenceDocumentUri: String
  quantities: [InventoryQuantityInput!]!
}
input InventoryQuantityInput { inventoryItemId: ID! locationId: ID! quantity: Int! changeFromQuantity: Int }

type InventorySetQuantitiesPayload {
  inventoryAdjustmentGroup: InventoryAdjustmentGroup
  userErrors: [InventorySetQuantitiesUserError!]!
}
type InventoryAdjustmentGroup {
  id: ID!
  createdAt: String!
  reason: String!
  referenceDocumentUri: String
  changes: [InventoryChange!]!
}
type InventoryChange { name: String! delta: Int! quantityAfterChange: Int }
type InventorySetQuantitiesUserError { code: String field: [String!] message: String! }
"""

SCHEMA = build_schema(SDL)
SCHEMA.type_map["Node"].resolve_type = lambda obj, info, abstract: obj["__typename"]  # type: ignore[attr-defined]
IDEMPOTENT = SCHEMA.get_directive("idempotent")
REASONS = {"correction", "cycle_count_available", "damaged", "movement_created", "movement_updated", "movement_received",
           "movement_canceled", "other", "promotion", "quality_control", "received", "reservation_created",
           "reservation_deleted", "reservation_updated", "restock", "safety_stock", "shrinkage"}  # fmt: skip
MUTATION_COST = 10
MAX_INPUT = 250


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def numeric(gid: str) -> int:
    return int(gid.rsplit("/", 1)[-1].split("?", 1)[0])


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# --- the calculated query cost (connections multiply by `first`, a mutation costs 10) ---


def _selection_cost(selections: Any, variables: dict[str, Any]) -> int:
    total = 0
    for sel in selections:
        if isinstance(sel, InlineFragmentNode):
            total += _selection_cost(sel.selection_set.selections, variables)
        elif isinstance(sel, FieldNode) and sel.selection_set is not None:
            times = 1
            for arg in sel.arguments or ():
                if arg.name.value in ("first", "ids"):
                    value = _arg_value(arg.value, variables)
                    times = len(value) if isinstance(value, list) else int(value or 1)
            total += 1 + times * _selection_cost(sel.selection_set.selections, variables)
    return total


def _arg_value(node: Any, variables: dict[str, Any]) -> Any:
    kind = node.kind
    if kind == "variable":
        return variables.get(node.name.value)
    if kind == "int_value":
        return int(node.value)
    if kind == "list_value":
        return [_arg_value(v, variables) for v in node.values]
    return getattr(node, "value", None)


def objects_in(value: Any) -> int:
    """The objects a result holds (the actual query cost counts objects returned, scalars are free)."""
    if isinstance(value, dict):
        return 1 + sum(objects_in(v) for v in value.values())
    if isinstance(value, list):
        return sum(objects_in(v) for v in value)
    return 0


def requested_cost(operation: OperationDefinitionNode, variables: dict[str, Any]) -> int:
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * len(operation.selection_set.selections)
    return max(1, _selection_cost(operation.selection_set.selections, variables))


# --- the store ---


@dataclass
class Delivery:
    topic: str
    event_id: str
    webhook_id: str
    body: bytes
    statuses: list[int | str] = field(default_factory=list)


@dataclass
class Failure:
    status: int
    until: float
    count: int | None
    retry_after: str | None


class ShopifyEmulator:
    def __init__(
        self,
        *,
        access_token: str = "shpat_emulator",
        webhook_secret: str = "emulator-webhook-secret",
        shop_domain: str = "emulator.myshopify.com",
        maximum_available: float = 1000.0,
        restore_rate: float = 100.0,
    ) -> None:
        self.access_token = access_token
        self.webhook_secret = webhook_secret
        self.shop_domain = shop_domain
        self.maximum_available = maximum_available
        self.restore_rate = restore_rate
        self._available = maximum_available
        self._bucket_at = time.monotonic()
        self._ids = itertools.count(1001)
        self.locations: dict[str, str] = {}  # gid -> name
        self.variants: dict[str, dict[str, Any]] = {}  # sku -> {variant, item}
        self.items: dict[str, str] = {}  # InventoryItem gid -> sku
        self.levels: dict[tuple[str, str], int] = {}  # (item gid, location gid) -> available
        self.orders: dict[int, dict[str, Any]] = {}  # REST payloads
        self.fulfillment_orders: dict[int, list[dict[str, Any]]] = {}
        self.idempotency: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self.applied_keys: list[str] = []  # idempotency keys whose mutation changed quantities
        self.applied_at: list[float] = []  # when each of them was applied (monotonic)
        self.set_calls = 0  # inventorySetQuantities calls executed (replays included)
        self.quantities_set = 0  # quantities written by applied calls
        self.throttled = 0
        self.forced: list[Failure] = []
        self.throttle_until = 0.0
        self.webhook_url: str | None = None
        self.webhook_retry_delays = [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2]  # 8 attempts, test-scaled
        self.deliveries: list[Delivery] = []
        self.send_level_webhooks = True
        self._tasks: set[asyncio.Task[Any]] = set()
        self._documents: dict[str, DocumentNode] = {}
        self._http = httpx.AsyncClient(timeout=5.0)
        self.url = ""

    # --- setting the store up ---

    def add_location(self, name: str) -> str:
        gid = f"gid://shopify/Location/{next(self._ids)}"
        self.locations[gid] = name
        return gid

    def add_variant(self, sku: str, *, stocked_at: dict[str, int] | None = None) -> str:
        """A product variant with this SKU; returns its InventoryItem gid."""
        n = next(self._ids)
        item = f"gid://shopify/InventoryItem/{n}"
        self.variants[sku] = {"variant": f"gid://shopify/ProductVariant/{n}", "item": item}
        self.items[item] = sku
        for location, available in (stocked_at or {}).items():
            self.levels[(item, location)] = available
        return item

    def item(self, sku: str) -> str:
        return str(self.variants[sku]["item"])

    def sku_of(self, item: str) -> str:
        return self.items[item]

    def available(self, sku: str, location: str) -> int | None:
        return self.levels.get((self.item(sku), location))

    # --- faults ---

    def fail(
        self, status: int, *, seconds: float | None = None, count: int | None = None, retry_after: str | None = None
    ) -> None:
        """Answer every API call with `status` (429, 500, 503...) for `seconds` or the next `count` calls."""
        until = time.monotonic() + seconds if seconds is not None else float("inf")
        self.forced.append(Failure(status, until, count, retry_after))

    def force_throttle(self, seconds: float) -> None:
        """Empty the bucket: every call is THROTTLED for `seconds`."""
        self.throttle_until = time.monotonic() + seconds

    def _forced_failure(self) -> Failure | None:
        now = time.monotonic()
        self.forced = [f for f in self.forced if f.until > now and (f.count is None or f.count > 0)]
        if not self.forced:
            return None
        failure = self.forced[0]
        if failure.count is not None:
            failure.count -= 1
        return failure

    # --- the bucket ---

    def _bucket(self) -> float:
        now = time.monotonic()
        self._available = min(self.maximum_available, self._available + (now - self._bucket_at) * self.restore_rate)
        self._bucket_at = now
        if now < self.throttle_until:
            self._available = 0.0
        return self._available

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": self.maximum_available,
                "currentlyAvailable": int(self._available),
                "restoreRate": self.restore_rate,
            },
        }

    # --- GraphQL ---

    async def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        document = self._documents.get(query)
        if document is None:
            try:
                document = parse(query)
            except GraphQLError as exc:
                return {"errors": [{"message": exc.message, "extensions": {"code": "PARSE_ERROR"}}]}
            errors = validate(SCHEMA, document)
            if errors:
                return {"errors": [{"message": e.message} for e in errors]}
            self._documents[query] = document
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        cost = requested_cost(operation, variables)
        if cost > self.maximum_available:
            return {
                "errors": [
                    {
                        "message": f"Query cost is {cost}, which exceeds the single query max cost limit ({self.maximum_available:g}).",
                        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": self.maximum_available},
                    }
                ],
                "extensions": {"cost": self._cost(cost, None)},
            }
        if self._bucket() < cost:
            self.throttled += 1
            return {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": {"cost": self._cost(cost, None)},
            }
        self._available -= cost
        result = execute(SCHEMA, document, root_value=Root(self), variable_values=variables)
        if asyncio.iscoroutine(result):
            result = await result
        out: dict[str, Any] = {"data": result.data}  # type: ignore[union-attr]
        if result.errors:  # type: ignore[union-attr]
            out["errors"] = [{"message": e.message, "path": e.path} for e in result.errors]  # type: ignore[union-attr]
        # The bucket is charged what the query asked for, then refunded what it did not return.
        actual = cost if operation.operation == OperationType.MUTATION else min(cost, max(1, objects_in(result.data)))  # type: ignore[union-attr]
        self._available = min(self.maximum_available, self._available + cost - actual)
        out["extensions"] = {"cost": self._cost(cost, actual)}
        return out

    def set_quantities(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        self.set_calls += 1
        field_node = info.field_nodes[0]
        directive = get_directive_values(IDEMPOTENT, field_node, info.variable_values)
        if not directive or not directive.get("key"):
            raise GraphQLError("The @idempotent directive is required for this mutation (since 2026-04).")
        key = str(directive["key"])
        fingerprint = msgspec.json.encode(input, order="deterministic")
        if key in self.idempotency:
            seen, response = self.idempotency[key]
            if seen != fingerprint:
                return self._errors(
                    [
                        (
                            "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                            ["input"],
                            "The same idempotency key cannot be used with different operation parameters.",
                        )
                    ]
                )
            return response
        response = self._set_quantities(input, key)
        self.idempotency[key] = (fingerprint, response)
        return response

    @staticmethod
    def _errors(errors: list[tuple[str, list[str], str]]) -> dict[str, Any]:
        return {
            "inventoryAdjustmentGroup": None,
            "userErrors": [{"code": c, "field": f, "message": m} for c, f, m in errors],
        }

    def _set_quantities(self, input: dict[str, Any], key: str) -> dict[str, Any]:
        errors: list[tuple[str, list[str], str]] = []
        if input["name"] not in ("available", "on_hand"):
            errors.append(
                ("INVALID_NAME", ["input", "name"], "The quantity name must be either 'available' or 'on_hand'.")
            )
        if input["reason"] not in REASONS:
            errors.append(("INVALID_REASON", ["input", "reason"], "The specified reason is invalid."))
        uri = input.get("referenceDocumentUri")
        if uri is not None and not re.match(r"^gid://[^/]+/[^/]+/.+", uri):
            errors.append(
                (
                    "INVALID_REFERENCE_DOCUMENT",
                    ["input", "referenceDocumentUri"],
                    "The reference document URI isn't a valid URI.",
                )
            )
        quantities = input["quantities"]
        if len(quantities) > MAX_INPUT:
            errors.append(("INVALID_QUANTITY_TOO_HIGH", ["input", "quantities"], f"At most {MAX_INPUT} quantities."))
        seen_pairs: set[tuple[str, str]] = set()
        for i, q in enumerate(quantities):
            path = ["input", "quantities", str(i)]
            pair = (q["inventoryItemId"], q["locationId"])
            if pair in seen_pairs:
                errors.append(
                    (
                        "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                        path,
                        "The combination of inventoryItemId and locationId must be unique.",
                    )
                )
            seen_pairs.add(pair)
            if pair[0] not in self.items:
                errors.append(
                    (
                        "INVALID_INVENTORY_ITEM",
                        [*path, "inventoryItemId"],
                        "The specified inventory item could not be found.",
                    )
                )
                continue
            if pair[1] not in self.locations:
                errors.append(("INVALID_LOCATION", [*path, "locationId"], "The specified location could not be found."))
                continue
            if pair not in self.levels:
                errors.append(
                    (
                        "ITEM_NOT_STOCKED_AT_LOCATION",
                        [*path, "locationId"],
                        "The specified inventory item is not stocked at the location.",
                    )
                )
                continue
            if q["quantity"] < 0:
                errors.append(("INVALID_QUANTITY_NEGATIVE", [*path, "quantity"], "The quantity can't be negative."))
            if q["quantity"] > 1_000_000_000:
                errors.append(
                    (
                        "INVALID_QUANTITY_TOO_HIGH",
                        [*path, "quantity"],
                        "The quantity can't be higher than 1,000,000,000.",
                    )
                )
            if "changeFromQuantity" not in q:
                errors.append(
                    (
                        "COMPARE_QUANTITY_REQUIRED",
                        [*path, "changeFromQuantity"],
                        "changeFromQuantity must be given (null to opt out).",
                    )
                )
            elif q["changeFromQuantity"] is not None and q["changeFromQuantity"] != self.levels[pair]:
                errors.append(
                    (
                        "CHANGE_FROM_QUANTITY_STALE",
                        [*path, "changeFromQuantity"],
                        "The changeFromQuantity value does not match persisted value.",
                    )
                )
        if errors:
            return self._errors(errors)
        changes = []
        for q in quantities:
            pair = (q["inventoryItemId"], q["locationId"])
            before = self.levels[pair]
            self.levels[pair] = q["quantity"]
            changes.append(
                {"name": input["name"], "delta": q["quantity"] - before, "quantityAfterChange": q["quantity"]}
            )
            if q["quantity"] != before:
                self._level_webhook(pair)
        self.applied_keys.append(key)
        self.applied_at.append(time.monotonic())
        self.quantities_set += len(quantities)
        group = {
            "id": f"gid://shopify/InventoryAdjustmentGroup/{next(self._ids)}",
            "createdAt": now_iso(),
            "reason": input["reason"],
            "referenceDocumentUri": uri,
            "changes": changes,
        }
        return {"inventoryAdjustmentGroup": group, "userErrors": []}

    # --- the merchant's and shoppers' actions ---

    def _line_items(self, lines: list[tuple[str, int, str]]) -> list[dict[str, Any]]:
        out = []
        for sku, quantity, price in lines:
            n = next(self._ids)
            out.append(
                {
                    "id": n,
                    "admin_graphql_api_id": f"gid://shopify/LineItem/{n}",
                    "sku": sku,
                    "title": sku,
                    "quantity": quantity,
                    "price": price,
                    "total_discount": "0.00",
                    "requires_shipping": True,
                    "variant_id": numeric(self.variants[sku]["variant"]),
                }
            )
        return out

    def place_order(
        self,
        lines: list[tuple[str, int, str]],
        location: str,
        *,
        pickup: bool = False,
        pos: bool = False,
        email: str | None = "shopper@example.com",
        send: bool = True,
    ) -> dict[str, Any]:
        """An order (online by default, or at a POS at `location`); Shopify commits its stock at the
        location (available drops). Sends orders/create unless `send=False`."""
        n = next(self._ids)
        order = {
            "id": n,
            "admin_graphql_api_id": f"gid://shopify/Order/{n}",
            "name": f"#{n}",
            "email": email,
            "phone": None,
            "currency": "USD",
            "created_at": now_iso(),
            "cancelled_at": None,
            "financial_status": "paid",
            "source_name": "pos" if pos else "web",
            "location_id": numeric(location) if pos else None,
            "line_items": self._line_items(lines),
        }
        self.orders[n] = order
        self.fulfillment_orders[n] = [
            {
                "id": f"gid://shopify/FulfillmentOrder/{next(self._ids)}",
                "status": "CLOSED" if pos else "OPEN",
                "assignedLocation": {"location": {"id": location, "name": self.locations[location], "isActive": True}},
                "deliveryMethod": {"methodType": "RETAIL" if pos else "PICK_UP" if pickup else "SHIPPING"},
                "lineItems": lambda info, first=None, order=order: {
                    "nodes": [
                        {
                            "totalQuantity": li["quantity"],
                            "lineItem": {"id": li["admin_graphql_api_id"], "sku": li["sku"]},
                        }
                        for li in order["line_items"]
                    ]
                },
            }
        ]
        for li in order["line_items"]:
            self._move((self.item(li["sku"]), location), -li["quantity"])
        if send:
            self.spawn(self.send("orders/create", order))
        return order

    def cancel_order(self, order_id: int, *, send: bool = True) -> dict[str, Any]:
        order = self.orders[order_id]
        order["cancelled_at"] = now_iso()
        order["cancel_reason"] = "customer"
        location = self.fulfillment_orders[order_id][0]["assignedLocation"]["location"]["id"]
        for fo in self.fulfillment_orders[order_id]:
            fo["status"] = "CLOSED"
        for li in order["line_items"]:
            self._move((self.item(li["sku"]), location), li["quantity"])
        if send:
            self.spawn(self.send("orders/cancelled", order))
        return order

    def refund(
        self,
        order_id: int,
        lines: list[tuple[int, int]],
        location: str,
        *,
        restock_type: str = "return",
        send: bool = True,
    ) -> dict[str, Any]:
        """A refund of (line item id, quantity) with that restock type at `location`."""
        order = self.orders[order_id]
        by_id = {li["id"]: li for li in order["line_items"]}
        refund = {
            "id": next(self._ids),
            "order_id": order_id,
            "created_at": now_iso(),
            "restock": restock_type != "no_restock",
            "refund_line_items": [
                {
                    "id": next(self._ids),
                    "line_item_id": line_id,
                    "quantity": quantity,
                    "restock_type": restock_type,
                    "location_id": numeric(location),
                    "line_item": by_id[line_id],
                }
                for line_id, quantity in lines
            ],
        }
        if restock_type == "return":
            for line_id, quantity in lines:
                self._move((self.item(by_id[line_id]["sku"]), location), quantity)
        if send:
            self.spawn(self.send("refunds/create", refund))
        return refund

    def merchant_sets(self, sku: str, location: str, available: int) -> None:
        """A merchant edits `available` in the Shopify admin."""
        pair = (self.item(sku), location)
        self.levels[pair] = available
        self._level_webhook(pair)

    def _move(self, pair: tuple[str, str], delta: int) -> None:
        if pair in self.levels:
            self.levels[pair] += delta
            self._level_webhook(pair)

    def level_payload(self, pair: tuple[str, str]) -> dict[str, Any]:
        item, location = pair
        return {
            "inventory_item_id": numeric(item),
            "location_id": numeric(location),
            "available": self.levels[pair],
            "updated_at": now_iso(),
            "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{numeric(location)}?inventory_item_id={numeric(item)}",
        }

    def _level_webhook(self, pair: tuple[str, str]) -> None:
        if self.send_level_webhooks and self.webhook_url:
            self.spawn(self.send("inventory_levels/update", self.level_payload(pair)))

    # --- webhooks ---

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait until every webhook the store has started sending is delivered or given up."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def send(
        self,
        topic: str,
        payload: dict[str, Any],
        *,
        event_id: str | None = None,
        secret: str | None = None,
        retry: bool = True,
    ) -> Delivery:
        """Deliver one webhook as Shopify does, retrying failures (non-2xx, timeouts) on the test-scaled
        schedule; pass the `event_id` of an earlier delivery to send the same event again."""
        if self.webhook_url is None:
            raise RuntimeError("no webhook_url")
        body = msgspec.json.encode(payload)
        delivery = Delivery(topic, event_id or str(uuid.uuid4()), str(uuid.uuid4()), body)
        self.deliveries.append(delivery)
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign(secret or self.webhook_secret, body),
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-API-Version": "2026-10",
            "X-Shopify-Webhook-Id": delivery.webhook_id,
            "X-Shopify-Event-Id": delivery.event_id,
            "X-Shopify-Triggered-At": now_iso(),
        }
        for delay in [*self.webhook_retry_delays, None] if retry else [None]:
            try:
                response = await self._http.post(self.webhook_url, content=body, headers=headers)
                delivery.statuses.append(response.status_code)
                if 200 <= response.status_code < 300:
                    return delivery
            except httpx.HTTPError as exc:
                delivery.statuses.append(type(exc).__name__)
            if delay is None:
                return delivery
            await asyncio.sleep(delay)
        return delivery

    async def redeliver(self, delivery: Delivery) -> Delivery:
        """The same event again (same X-Shopify-Event-Id, a new X-Shopify-Webhook-Id)."""
        return await self.send(delivery.topic, msgspec.json.decode(delivery.body), event_id=delivery.event_id)

    # --- HTTP ---

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, payload, headers = await self._handle(scope, body)
        raw = msgspec.json.encode(payload)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    *[(k.encode(), v.encode()) for k, v in headers.items()],
                ],
            }
        )
        await send({"type": "http.response.body", "body": raw})

    async def _handle(self, scope: dict[str, Any], body: bytes) -> tuple[int, Any, dict[str, str]]:
        if scope["method"] != "POST" or scope["path"] != API_PATH:
            return 404, {"errors": "Not Found"}, {}
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if headers.get("x-shopify-access-token") != self.access_token:
            return 401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}, {}
        failure = self._forced_failure()
        if failure is not None:
            extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            if failure.status == 429:
                return 429, {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}, extra
            return failure.status, {"errors": "Internal Server Error"}, extra
        try:
            request = msgspec.json.decode(body)
            query, variables = request["query"], request.get("variables") or {}
        except (msgspec.DecodeError, KeyError, TypeError):
            return 400, {"errors": "Bad Request"}, {}
        return 200, await self.graphql(query, variables), {}

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[ShopifyEmulator]:
        """Serve on a free loopback port; `self.url` is the shop URL to configure the adapter with."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(self, log_config=None, access_log=False, lifespan="off"))
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
            await asyncio.sleep(0.01)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        try:
            yield self
        finally:
            for t in list(self._tasks):
                t.cancel()
            server.should_exit = True
            await task
            await self._http.aclose()
            sock.close()


class Root:
    """The query and mutation roots, resolving from the emulator's store."""

    def __init__(self, store: ShopifyEmulator) -> None:
        self.store = store

    def _item(self, item: str) -> dict[str, Any]:
        store = self.store
        sku = store.items.get(item)

        def levels(info: Any, first: int | None = None) -> dict[str, Any]:
            nodes = [self._level(item, location) for (it, location) in store.levels if it == item]
            return {"nodes": nodes[: first or 50]}

        def level(info: Any, locationId: str) -> dict[str, Any] | None:
            if (item, locationId) not in store.levels:
                return None
            return self._level(item, locationId)

        return {
            "__typename": "InventoryItem",
            "id": item,
            "sku": sku,
            "inventoryLevels": levels,
            "inventoryLevel": level,
        }

    def _level(self, item: str, location: str) -> dict[str, Any]:
        store = self.store
        available = store.levels[(item, location)]
        return {
            "id": f"gid://shopify/InventoryLevel/{numeric(location)}?inventory_item_id={numeric(item)}",
            "location": {"id": location, "name": store.locations[location], "isActive": True},
            "quantities": lambda info, names: [
                {"name": n, "quantity": available} for n in names if n in ("available", "on_hand")
            ],
        }

    def productVariants(self, info: Any, first: int | None = None, query: str | None = None) -> dict[str, Any]:
        wanted = None
        if query:
            wanted = {m.group(1) or m.group(2) for m in re.finditer(r'sku:(?:"((?:[^"\\]|\\.)*)"|(\S+))', query)}
            wanted = {w.replace('\\"', '"').replace("\\\\", "\\") for w in wanted}
        nodes = [
            {"__typename": "ProductVariant", "id": v["variant"], "sku": sku, "inventoryItem": self._item(v["item"])}
            for sku, v in self.store.variants.items()
            if wanted is None or sku in wanted
        ]
        return {"nodes": nodes[: first or 50]}

    def nodes(self, info: Any, ids: list[str]) -> list[dict[str, Any] | None]:
        out: list[dict[str, Any] | None] = []
        for gid in ids:
            if gid in self.store.items:
                out.append(self._item(gid))
            elif gid in self.store.locations:
                out.append({"__typename": "Location", "id": gid, "name": self.store.locations[gid], "isActive": True})
            else:
                out.append(None)
        return out

    def order(self, info: Any, id: str) -> dict[str, Any] | None:
        order_id = numeric(id)
        if order_id not in self.store.orders:
            return None
        fos = self.store.fulfillment_orders[order_id]
        return {
            "__typename": "Order",
            "id": id,
            "name": self.store.orders[order_id]["name"],
            "fulfillmentOrders": lambda info, first=None: {"nodes": fos[: first or 50]},
        }

    def locations(self, info: Any, first: int | None = None) -> dict[str, Any]:
        return {
            "nodes": [{"id": g, "name": n, "isActive": True} for g, n in self.store.locations.items()][: first or 50]
        }

    def inventorySetQuantities(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        return self.store.set_quantities(info, input)
