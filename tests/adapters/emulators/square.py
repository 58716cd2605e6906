"""A Square seller account, played over real HTTP on loopback, from Square's public API reference.

What it serves (paths and shapes as in developer.squareup.com/reference/square):

- `POST /v2/catalog/search` (SearchCatalogObjects: `object_types`, `query.exact_query`, `begin_time`,
  `cursor`, `limit`) over ITEM_VARIATION objects with `item_variation_data.sku`.
- `GET /v2/orders/{id}` and `POST /v2/orders/batch-retrieve` (`order_ids`): full orders with
  `line_items[]` (quantities as decimal strings), `returns[]`, `customer_id`, `closed_at`, `version`.
- `POST /v2/inventory/changes/batch-create` (BatchChangeInventory): `idempotency_key` (the same key
  returns the first response), at most 100 `changes` (PHYSICAL_COUNT or ADJUSTMENT with its
  `from_state` / `to_state`), applied by their client-supplied `occurred_at`, so they may arrive out of
  order: the quantity is the newest physical count by `occurred_at` plus the adjustments after it
  ("Square tracks inventory by adding up all adjustments since the last physical count", Inventory API
  process flow), not the last change written; `ignore_unchanged_counts` (physical counts only).
- `POST /v2/inventory/counts/batch-retrieve`, `POST /v2/loyalty/accounts/search` (by `customer_ids`, at
  most 30; LoyaltyAccount `customer_id`, `mapping.phone_number` in E.164), `GET /v2/customers/{id}`
  (Customer `email_address`, `phone_number`; 404 `NOT_FOUND` once deleted), `POST /v2/events`
  (SearchEvents: 28 days, `limit` <= 100, `cursor`).
- Errors as `{"errors": [{"category", "code", "detail"}]}`; `RATE_LIMITED` 429 with `Retry-After`
  and 5xx during forced failure periods.

The till (`ring_up`, `ring_return`, `stocktake`) records what a Square POS would and emits the webhooks
Square sends (`order.created`, `order.updated`, `refund.created`, `refund.updated`,
`inventory.count.updated`), each signed as Square signs them: `x-square-hmacsha256-signature` =
base64(HMAC-SHA256(signature key, notification URL + raw body)). Deliveries go out from a sender
thread that retries until a 2xx (as Square does), or one at a time with `send()` for tests that
choose the order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import socket
import string
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import uvicorn
from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath, JSONBody

Json = dict[str, Any]
_ALNUM = string.ascii_uppercase + string.digits


def square_id(length: int = 24) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def decimal_string(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def sign(signature_key: str, notification_url: str, body: bytes) -> str:
    digest = hmac.new(signature_key.encode(), notification_url.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _error(status: int, category: str, code: str, detail: str, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        {"errors": [{"category": category, "code": code, "detail": detail}]}, status_code=status, headers=headers
    )


# InventoryAdjustment state changes that touch IN_STOCK (the only state counted here): stock received
# (NONE -> IN_STOCK), sold, wasted or written off, and customer returns put back.
ADJUSTMENT_STATES = frozenset(
    {
        ("NONE", "IN_STOCK"),
        ("IN_STOCK", "SOLD"),
        ("IN_STOCK", "WASTE"),
        ("IN_STOCK", "NONE"),
        ("RETURNED_BY_CUSTOMER", "IN_STOCK"),
        ("SOLD", "IN_STOCK"),
    }
)


@dataclass
class _Failure:
    status: int
    remaining: int | None  # requests left to fail; None: until `until`
    until: float
    retry_after: int | None


@dataclass
class SquareEmulator:
    access_token: str = field(default_factory=lambda: "EAAA" + secrets.token_hex(16))
    signature_key: str = field(default_factory=lambda: secrets.token_urlsafe(22))
    merchant_id: str = field(default_factory=lambda: square_id(13))
    notification_url: str | None = None
    """The webhook subscription's notification URL; deliveries go there once set."""
    announce_sale_counts: bool = True
    """Square announces every count change; off, only stocktakes and API changes are announced (so a
    test can interleave sales with counts of its own choosing)."""

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.variations: dict[str, Json] = {}
        self.orders: dict[str, Json] = {}
        self.refunds: dict[str, Json] = {}
        self.loyalty_accounts: dict[str, Json] = {}  # by customer id
        self.customers: dict[str, Json] = {}
        self.retrieved_customers: list[str] = []  # ids asked for with RetrieveCustomer, in order
        self.inventory_changes: list[Json] = []  # InventoryChange objects, every one applied
        self.events: list[Json] = []  # every event Square made (the Events API reads these)
        self.outbox: list[Json] = []  # events waiting for the sender thread
        self.delivered: list[tuple[str, int]] = []  # (event_id, status) of each attempt
        self.batch_requests: list[Json] = []  # bodies of batch-create calls that were accepted
        self._idempotent: dict[str, tuple[str, Json]] = {}
        self._failure: _Failure | None = None
        self._last_now = datetime.now(UTC)
        self._clock = itertools.count(1)
        self._wake = threading.Condition(self.lock)
        self._sender: threading.Thread | None = None
        self._stop_sending = False
        self.base_url = ""

    def now(self) -> datetime:
        """Square's clock: strictly increasing, so two changes are never at the same instant."""
        with self.lock:
            self._last_now = max(datetime.now(UTC), self._last_now + timedelta(microseconds=1))
            return self._last_now

    # --- the seller's setup -------------------------------------------------------------------

    def add_variation(self, sku: str | None, *, name: str = "Regular", price: int = 1000) -> str:
        object_id = square_id()
        with self.lock:
            self.variations[object_id] = {
                "type": "ITEM_VARIATION",
                "id": object_id,
                "version": next(self._clock),
                "updated_at": rfc3339(self.now()),
                "is_deleted": False,
                "present_at_all_locations": True,
                "item_variation_data": {
                    "item_id": square_id(),
                    "name": name,
                    **({"sku": sku} if sku is not None else {}),
                    "pricing_type": "FIXED_PRICING",
                    "price_money": {"amount": price, "currency": "USD"},
                    "track_inventory": True,
                },
            }
        return object_id

    def set_sku(self, object_id: str, sku: str) -> None:
        with self.lock:
            variation = self.variations[object_id]
            variation["item_variation_data"]["sku"] = sku
            variation["version"] = next(self._clock)
            variation["updated_at"] = rfc3339(self.now())

    def add_customer(
        self, *, email: str | None = None, phone: str | None = None, loyalty_phone: str | None = None
    ) -> str:
        customer_id = square_id(26)
        with self.lock:
            at = rfc3339(self.now())
            self.customers[customer_id] = {
                "id": customer_id,
                "created_at": at,
                "updated_at": at,
                "version": 0,
                **({"email_address": email} if email else {}),
                **({"phone_number": phone} if phone else {}),
            }
            if loyalty_phone:
                self.loyalty_accounts[customer_id] = {
                    "id": secrets.token_hex(8),
                    "program_id": "program-1",
                    "balance": 0,
                    "customer_id": customer_id,
                    "mapping": {"id": secrets.token_hex(8), "phone_number": loyalty_phone},
                }
        return customer_id

    def delete_customer(self, customer_id: str) -> None:
        """DeleteCustomer: the profile is gone (RetrieveCustomer answers 404); its loyalty account with it."""
        with self.lock:
            self.customers.pop(customer_id, None)
            self.loyalty_accounts.pop(customer_id, None)

    # --- inventory, by client-supplied time as Square applies it ------------------------------

    def quantity(self, catalog_object_id: str, location_id: str) -> Decimal:
        """IN_STOCK units: the newest physical count plus every adjustment at or after it."""
        with self.lock:
            relevant = []
            for change in self.inventory_changes:
                body = change.get("physical_count") or change.get("adjustment") or {}
                if body.get("catalog_object_id") == catalog_object_id and body.get("location_id") == location_id:
                    relevant.append((parse_time(body["occurred_at"]), change["type"], body))
            relevant.sort(key=lambda r: r[0])
            total = Decimal(0)
            for _, kind, body in relevant:
                if kind == "PHYSICAL_COUNT":
                    total = Decimal(body["quantity"])
                elif body.get("to_state") == "IN_STOCK":
                    total += Decimal(body["quantity"])
                elif body.get("from_state") == "IN_STOCK":
                    total -= Decimal(body["quantity"])
            return total

    def _count_object(self, catalog_object_id: str, location_id: str, at: datetime) -> Json:
        return {
            "catalog_object_id": catalog_object_id,
            "catalog_object_type": "ITEM_VARIATION",
            "state": "IN_STOCK",
            "location_id": location_id,
            "quantity": decimal_string(self.quantity(catalog_object_id, location_id)),
            "calculated_at": rfc3339(at),
        }

    def _record_changes(self, changes: list[Json], *, announce: bool = True) -> list[Json]:
        """Apply changes and announce the counts that moved in one `inventory.count.updated`; returns
        those counts (the same objects a BatchChangeInventory response carries)."""
        with self.lock:
            touched = []
            for change in changes:
                body = change.get("physical_count") or change.get("adjustment") or {}
                pair = (body["catalog_object_id"], body["location_id"])
                before = self.quantity(*pair)
                self.inventory_changes.append(change)
                if self.quantity(*pair) != before and pair not in touched:
                    touched.append(pair)
            now = self.now()
            counts = [self._count_object(c, loc, now) for c, loc in touched]
            if counts and announce:
                self._emit("inventory.count.updated", "inventory_counts", square_id(), {"inventory_counts": counts})
            return counts

    def set_stock(self, location_id: str, catalog_object_id: str, quantity: int, at: datetime | None = None) -> None:
        """Stock as it was before the test, with no webhook (the account's history)."""
        at = at or self.now() - timedelta(days=1)
        with self.lock:
            self.inventory_changes.append(self._physical_count(location_id, catalog_object_id, quantity, at))

    def _physical_count(self, location_id: str, catalog_object_id: str, quantity: int, at: datetime) -> Json:
        return {
            "type": "PHYSICAL_COUNT",
            "physical_count": {
                "id": square_id(),
                "catalog_object_id": catalog_object_id,
                "state": "IN_STOCK",
                "location_id": location_id,
                "quantity": str(quantity),
                "occurred_at": rfc3339(at),
                "created_at": rfc3339(self.now()),
            },
        }

    # --- the till -----------------------------------------------------------------------------

    def _line(self, catalog_object_id: str, quantity: int | str) -> Json:
        variation = self.variations.get(catalog_object_id, {}).get("item_variation_data", {})
        price = variation.get("price_money", {"amount": 1000, "currency": "USD"})
        return {
            "uid": square_id(10),
            "name": variation.get("name", "Item"),
            "quantity": str(quantity),
            "catalog_object_id": catalog_object_id,
            "catalog_version": 1,
            "base_price_money": dict(price),
            "total_money": {"amount": int(Decimal(str(quantity)) * price["amount"]), "currency": price["currency"]},
        }

    def ring_up(
        self,
        location_id: str,
        lines: list[tuple[str, int | str]],
        *,
        customer_id: str | None = None,
        at: datetime | None = None,
        updates: int = 2,
    ) -> str:
        """A sale completed at the till: the order, its webhooks (`order.created`, then `updates`
        `order.updated` naming the completed order in later versions) and the stock it took."""
        closed_at = at or self.now()
        order_id = square_id(29)
        with self.lock:
            order: Json = {
                "id": order_id,
                "location_id": location_id,
                "source": {"name": "Square Point of Sale"},
                "line_items": [self._line(c, q) for c, q in lines],
                "state": "COMPLETED",
                "version": 1,
                "created_at": rfc3339(closed_at),
                "updated_at": rfc3339(closed_at),
                "closed_at": rfc3339(closed_at),
                "total_money": {"amount": 0, "currency": "USD"},
            }
            order["total_money"]["amount"] = sum(li["total_money"]["amount"] for li in order["line_items"])
            if customer_id:
                order["customer_id"] = customer_id
            self.orders[order_id] = order
            self._emit_order("order.created", order)
            for _ in range(updates):
                order["version"] += 1
                order["updated_at"] = rfc3339(self.now())
                self._emit_order("order.updated", order)
            self._record_changes(
                [self._adjustment(location_id, c, q, "IN_STOCK", "SOLD", closed_at, order_id) for c, q in lines],
                announce=self.announce_sale_counts,
            )
        return order_id

    def ring_return(
        self,
        location_id: str,
        source_order_id: str | None,
        lines: list[tuple[str, int | str]],
        *,
        at: datetime | None = None,
    ) -> tuple[str, str]:
        """Items brought back: a return order (its `returns[]`), a refund naming it, the restock.
        Returns (return order id, return uid)."""
        closed_at = at or self.now()
        order_id, return_uid, refund_id = square_id(29), square_id(10), square_id(30)
        with self.lock:
            return_lines = []
            for catalog_object_id, quantity in lines:
                line = self._line(catalog_object_id, quantity)
                return_lines.append({**line, "source_line_item_uid": square_id(10)})
            order: Json = {
                "id": order_id,
                "location_id": location_id,
                "returns": [
                    {
                        "uid": return_uid,
                        **({"source_order_id": source_order_id} if source_order_id else {}),
                        "return_line_items": return_lines,
                    }
                ],
                "state": "COMPLETED",
                "version": 1,
                "created_at": rfc3339(closed_at),
                "updated_at": rfc3339(closed_at),
                "closed_at": rfc3339(closed_at),
                "refunds": [{"id": refund_id, "location_id": location_id, "status": "COMPLETED"}],
            }
            self.orders[order_id] = order
            self._emit_order("order.created", order)
            refund = {
                "id": refund_id,
                "status": "PENDING",
                "location_id": location_id,
                "amount_money": {"amount": sum(li["total_money"]["amount"] for li in return_lines), "currency": "USD"},
                "order_id": order_id,
                "created_at": rfc3339(closed_at),
                "updated_at": rfc3339(closed_at),
            }
            self.refunds[refund_id] = refund
            self._emit("refund.created", "refund", refund_id, {"refund": dict(refund)})
            order["version"] += 1
            self._emit_order("order.updated", order)
            refund["status"] = "COMPLETED"
            self._emit("refund.updated", "refund", refund_id, {"refund": dict(refund)})
            self._record_changes(
                [self._adjustment(location_id, c, q, "NONE", "IN_STOCK", closed_at, order_id) for c, q in lines],
                announce=self.announce_sale_counts,
            )
        return order_id, return_uid

    def stocktake(self, location_id: str, catalog_object_id: str, quantity: int, at: datetime | None = None) -> None:
        """A physical count entered on the Square dashboard."""
        self._record_changes([self._physical_count(location_id, catalog_object_id, quantity, at or self.now())])

    def _adjustment(
        self,
        location_id: str,
        catalog_object_id: str,
        quantity: int | str,
        from_state: str,
        to_state: str,
        at: datetime,
        ref: str,
    ) -> Json:
        return {
            "type": "ADJUSTMENT",
            "adjustment": {
                "id": square_id(),
                "from_state": from_state,
                "to_state": to_state,
                "location_id": location_id,
                "catalog_object_id": catalog_object_id,
                "quantity": str(quantity),
                "occurred_at": rfc3339(at),
                "transaction_id": ref,
            },
        }

    # --- webhooks ------------------------------------------------------------------------------

    def _emit_order(self, event_type: str, order: Json) -> None:
        key = event_type.replace(".", "_")
        thin = {k: order[k] for k in ("location_id", "state", "version", "created_at", "updated_at")}
        self._emit(event_type, key, order["id"], {key: {"order_id": order["id"], **thin}})

    def _emit(self, event_type: str, data_type: str, object_id: str, obj: Json) -> Json:
        event = {
            "merchant_id": self.merchant_id,
            "type": event_type,
            "event_id": secrets.token_hex(16),
            "created_at": rfc3339(self.now()),
            "data": {"type": data_type, "id": object_id, "object": json.loads(json.dumps(obj))},
        }
        with self.lock:
            self.events.append(event)
            if self.notification_url:
                self.outbox.append(event)
                self._wake.notify_all()
        return event

    def forget_outbox(self) -> list[Json]:
        """Drop undelivered webhooks (as when Square gave up on an endpoint); returns them."""
        with self.lock:
            dropped, self.outbox = self.outbox, []
            return dropped

    def body_of(self, event: Json) -> bytes:
        return json.dumps(event, separators=(",", ":")).encode()

    def headers_for(self, body: bytes, url: str | None = None) -> dict[str, str]:
        assert self.notification_url
        return {
            "content-type": "application/json",
            "x-square-hmacsha256-signature": sign(self.signature_key, url or self.notification_url, body),
            "square-environment": "Production",
            "square-initial-delivery-timestamp": rfc3339(self.now()),
            "square-retry-number": "0",
        }

    async def send(self, event: Json) -> int:
        """Deliver one event now, from the caller's loop; returns the receiver's status."""
        assert self.notification_url
        body = self.body_of(event)
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.post(self.notification_url, content=body, headers=self.headers_for(body))
        with self.lock:
            self.delivered.append((event["event_id"], r.status_code))
        return r.status_code

    def start_sending(self, *, twice: bool = False) -> None:
        """Deliver the outbox in order from a thread, retrying each event until a 2xx; `twice`
        sends each event a second time after its first success (Square may deliver more than once)."""
        self._stop_sending = False

        def run() -> None:
            with httpx.Client(timeout=10) as client:
                while True:
                    with self.lock:
                        while not self.outbox and not self._stop_sending:
                            self._wake.wait(0.5)
                        if self._stop_sending:
                            return
                        event = self.outbox[0]
                    body = self.body_of(event)
                    delay, sent = 0.05, 0
                    while not self._stop_sending and sent < (2 if twice else 1):
                        try:
                            assert self.notification_url
                            r = client.post(self.notification_url, content=body, headers=self.headers_for(body))
                            status = r.status_code
                        except httpx.HTTPError:
                            status = 0
                        with self.lock:
                            self.delivered.append((event["event_id"], status))
                        if 200 <= status < 300:
                            sent += 1
                        else:
                            time.sleep(delay)
                            delay = min(delay * 2, 0.5)
                    with self.lock:
                        if self.outbox and self.outbox[0] is event and sent:
                            self.outbox.pop(0)

        self._sender = threading.Thread(target=run, name="square-webhooks", daemon=True)
        self._sender.start()

    def stop_sending(self) -> None:
        with self.lock:
            self._stop_sending = True
            self._wake.notify_all()
        if self._sender is not None:
            self._sender.join(timeout=15)
            self._sender = None

    # --- forced failures -----------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 429, retry_after: int | None = 1) -> None:
        with self.lock:
            self._failure = _Failure(status, count, float("inf"), retry_after)

    def fail_for(self, seconds: float, status: int = 503, retry_after: int | None = None) -> None:
        with self.lock:
            self._failure = _Failure(status, None, time.monotonic() + seconds, retry_after)

    def _forced_failure(self) -> Response[Any] | None:
        with self.lock:
            failure = self._failure
            if failure is None:
                return None
            if failure.remaining is not None:
                if failure.remaining <= 0:
                    self._failure = None
                    return None
                failure.remaining -= 1
            elif time.monotonic() >= failure.until:
                self._failure = None
                return None
        headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else None
        if failure.status == 429:
            return _error(429, "RATE_LIMIT_ERROR", "RATE_LIMITED", "Rate limit exceeded.", headers)
        return _error(failure.status, "API_ERROR", "SERVICE_UNAVAILABLE", "Service unavailable.", headers)

    # --- the HTTP API ----------------------------------------------------------------------------

    def app(self) -> Litestar:
        emulator = self

        async def before(request: Request[Any, Any, Any]) -> Response[Any] | None:
            failure = emulator._forced_failure()
            if failure is not None:
                return failure
            if request.headers.get("authorization") != f"Bearer {emulator.access_token}":
                return _error(401, "AUTHENTICATION_ERROR", "UNAUTHORIZED", "The access token is not valid.")
            return None

        @post("/v2/catalog/search", status_code=200)
        async def search_catalog(data: JSONBody[Json]) -> Any:
            return emulator.search_catalog(data)

        @get("/v2/orders/{order_id:str}")
        async def retrieve_order(order_id: FromPath[str]) -> Any:
            with emulator.lock:
                order = emulator.orders.get(order_id)
                if order is None:
                    return _error(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", f"Order {order_id} not found.")
                return {"order": json.loads(json.dumps(order))}

        @post("/v2/orders/batch-retrieve", status_code=200)
        async def batch_retrieve_orders(data: JSONBody[Json]) -> Any:
            ids = data.get("order_ids") or []
            if not ids or len(ids) > 100:
                return _error(400, "INVALID_REQUEST_ERROR", "INVALID_ARRAY_LENGTH", "1 to 100 order_ids.")
            with emulator.lock:
                found = [json.loads(json.dumps(emulator.orders[i])) for i in ids if i in emulator.orders]
            return {"orders": found}

        @post("/v2/inventory/changes/batch-create", status_code=200)
        async def batch_create(data: JSONBody[Json]) -> Any:
            return emulator.batch_change(data)

        @post("/v2/inventory/counts/batch-retrieve", status_code=200)
        async def batch_retrieve_counts(data: JSONBody[Json]) -> Any:
            with emulator.lock:
                ids = data.get("catalog_object_ids") or list(emulator.variations)
                locations = data.get("location_ids") or []
                now = self.now()
                return {"counts": [emulator._count_object(c, loc, now) for c in ids for loc in locations]}

        @post("/v2/loyalty/accounts/search", status_code=200)
        async def search_loyalty(data: JSONBody[Json]) -> Any:
            customer_ids = (data.get("query") or {}).get("customer_ids") or []
            if len(customer_ids) > 30:
                return _error(400, "INVALID_REQUEST_ERROR", "INVALID_ARRAY_LENGTH", "At most 30 customer_ids.")
            with emulator.lock:
                accounts = [emulator.loyalty_accounts[c] for c in customer_ids if c in emulator.loyalty_accounts]
            return {"loyalty_accounts": accounts}

        @get("/v2/customers/{customer_id:str}")
        async def retrieve_customer(customer_id: FromPath[str]) -> Any:
            with emulator.lock:
                emulator.retrieved_customers.append(customer_id)
                customer = emulator.customers.get(customer_id)
            if customer is None:
                return _error(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", f"Customer {customer_id} not found.")
            return {"customer": customer}

        @post("/v2/events", status_code=200)
        async def search_events(data: JSONBody[Json]) -> Any:
            return emulator.search_events(data)

        return Litestar(
            [
                search_catalog,
                retrieve_order,
                batch_retrieve_orders,
                batch_create,
                batch_retrieve_counts,
                search_loyalty,
                retrieve_customer,
                search_events,
            ],
            before_request=before,
            openapi_config=None,
            logging_config=None,
        )

    def search_catalog(self, data: Json) -> Any:
        if data.get("object_types") not in (None, ["ITEM_VARIATION"]):
            return {"objects": []}
        exact = (data.get("query") or {}).get("exact_query")
        begin = parse_time(data["begin_time"]) if data.get("begin_time") else None
        limit = min(int(data.get("limit") or 100), 1000)
        start = int(data.get("cursor") or 0)
        with self.lock:
            found = []
            for obj in sorted(self.variations.values(), key=lambda o: o["id"]):
                if exact and (
                    exact.get("attribute_name") != "sku"
                    or obj["item_variation_data"].get("sku") != exact.get("attribute_value")
                ):
                    continue
                if begin is not None and parse_time(obj["updated_at"]) <= begin:
                    continue
                found.append(json.loads(json.dumps(obj)))
            latest = max((o["updated_at"] for o in self.variations.values()), default=rfc3339(self.now()))
        page = found[start : start + limit]
        body: Json = {"objects": page, "latest_time": latest}
        if start + limit < len(found):
            body["cursor"] = str(start + limit)
        return body

    def batch_change(self, data: Json) -> Any:
        key = data.get("idempotency_key")
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            return _error(400, "INVALID_REQUEST_ERROR", "MISSING_REQUIRED_PARAMETER", "idempotency_key is required.")
        changes = data.get("changes") or []
        if len(changes) > 100:
            return _error(400, "INVALID_REQUEST_ERROR", "ARRAY_LENGTH_TOO_LONG", "At most 100 changes per request.")
        fingerprint = json.dumps(data, sort_keys=True)
        with self.lock:
            if key in self._idempotent:
                first_body, response = self._idempotent[key]
                if first_body != fingerprint:
                    return _error(400, "INVALID_REQUEST_ERROR", "IDEMPOTENCY_KEY_REUSED", "Key used with another body.")
                return response
            applied = []
            for change in changes:
                kind = change.get("type")
                field_name = {"PHYSICAL_COUNT": "physical_count", "ADJUSTMENT": "adjustment"}.get(str(kind))
                if field_name is None or field_name not in change:
                    return _error(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "PHYSICAL_COUNT or ADJUSTMENT only.")
                body = dict(change[field_name])
                required = ["catalog_object_id", "location_id", "quantity", "occurred_at"]
                required += ["state"] if kind == "PHYSICAL_COUNT" else ["from_state", "to_state"]
                for name in required:
                    if name not in body:
                        return _error(400, "INVALID_REQUEST_ERROR", "MISSING_REQUIRED_PARAMETER", name)
                if body["catalog_object_id"] not in self.variations:
                    return _error(400, "INVALID_REQUEST_ERROR", "NOT_FOUND", f"{body['catalog_object_id']} unknown.")
                quantity = Decimal(body["quantity"])
                pair = (body["catalog_object_id"], body["location_id"])
                if kind == "ADJUSTMENT":
                    if (body["from_state"], body["to_state"]) not in ADJUSTMENT_STATES or quantity <= 0:
                        return _error(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "Not an adjustment Square makes.")
                elif data.get("ignore_unchanged_counts", True) and quantity == self.quantity(*pair):
                    continue
                body.setdefault("id", square_id())
                body["created_at"] = rfc3339(self.now())
                applied.append({"type": kind, field_name: body})
            response = {"counts": self._record_changes(applied), "changes": applied}
            self._idempotent[key] = (fingerprint, response)
            self.batch_requests.append(json.loads(fingerprint))
            return response

    def search_events(self, data: Json) -> Any:
        limit = int(data.get("limit") or 100)
        if not 1 <= limit <= 100:
            return _error(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "limit is 1 to 100.")
        query = data.get("query") or {}
        flt = query.get("filter") or {}
        created = flt.get("created_at") or {}
        oldest = self.now() - timedelta(days=28)
        start_at = max(parse_time(created["start_at"]), oldest) if created.get("start_at") else oldest
        end_at = parse_time(created["end_at"]) if created.get("end_at") else None
        types = set(flt.get("event_types") or [])
        descending = (query.get("sort") or {}).get("order", "DESC") == "DESC"
        with self.lock:
            found = [
                e
                for e in self.events
                if start_at <= parse_time(e["created_at"])
                and (end_at is None or parse_time(e["created_at"]) < end_at)
                and (not types or e["type"] in types)
            ]
        if descending:
            found.reverse()
        start = int(data.get("cursor") or 0)
        page = found[start : start + limit]
        body: Json = {
            "events": page,
            "metadata": [{"event_id": e["event_id"], "api_version": "2025-10-16"} for e in page],
        }
        if start + limit < len(found):
            body["cursor"] = str(start + limit)
        return body


@contextmanager
def serve_square(emulator: SquareEmulator) -> Iterator[SquareEmulator]:
    """Serve the emulator on a free loopback port from a thread; `emulator.base_url` is set."""
    server = uvicorn.Server(uvicorn.Config(emulator.app(), log_level="warning", lifespan="off"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="square-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the Square emulator did not start")
        time.sleep(0.01)
    emulator.base_url = f"http://127.0.0.1:{port}"
    try:
        yield emulator
    finally:
        emulator.stop_sending()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
