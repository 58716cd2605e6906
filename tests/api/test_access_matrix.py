"""Who may call what: every role against every endpoint, cell by cell, as API.md's tables say.

`MATRIX` is the whole contract in one table. A cell is
  ok   allowed: never 401, 403 or 404 (the resources named exist) and never 5xx;
  403  the role, or the store a pos/associate key is bound to, may not;
  404  a customer token on another customer's customer, cart or order (existence is not revealed);
  401  no credential.
Columns: pos and associate keys of two stores (the resources are at S1), two customers' tokens
(the resources belong to customer 1), and no key at all.

A new endpoint needs a row here: `test_every_served_endpoint_has_a_row` compares the rows with the
routes in the served OpenAPI document. Rows whose request needs a body or fresh resources say so in
`PREPARE`.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from litestar import Litestar

from tests.conftest import ADMIN, Api

COLUMNS = (
    "admin",
    "storefront",
    "pos@S1",
    "pos@S2",
    "assoc@S1",
    "assoc@S2",
    "ads",
    "integration",
    "cust1",
    "cust2",
    "none",
)

MATRIX = """
method path                                          admin sfront pos1 pos2 as1  as2  ads  integ cust1 cust2 none
GET    /health                                       ok    ok     ok   ok   ok   ok   ok   ok    ok    ok    ok
GET    /health/live                                  ok    ok     ok   ok   ok   ok   ok   ok    ok    ok    ok
POST   /v1/api-keys                                  ok    403    403  403  403  403  403  403   403   403   401

PUT    /v1/stores/{store}                            ok    403    403  403  403  403  403  403   403   403   401
GET    /v1/stores                                    ok    ok     ok   ok   ok   ok   ok   ok    ok    ok    401
GET    /v1/stores/{store}                            ok    ok     ok   ok   ok   ok   ok   ok    ok    ok    401
GET    /v1/stores/{store}/lookup?q={sku}             ok    403    403  403  ok   403  403  403   403   403   401
GET    /v1/stores/{store}/orders                     ok    403    403  403  ok   403  403  403   403   403   401
GET    /v1/stores/{store}/labels?skus={sku}          ok    403    403  403  ok   403  403  403   403   403   401

PUT    /v1/products/{product}                        ok    403    403  403  403  403  403  403   403   403   401
GET    /v1/products                                  ok    ok     ok   ok   ok   ok   ok   ok    ok    ok    401
GET    /v1/products/{product}                        ok    ok     ok   ok   ok   ok   ok   ok    ok    ok    401
GET    /v1/variants?barcode={barcode}                ok    ok     ok   ok   ok   ok   ok   ok    ok    ok    401
GET    /v1/variants/{sku}                            ok    ok     ok   ok   ok   ok   ok   ok    ok    ok    401
POST   /v1/imports/products                          ok    403    403  403  403  403  403  403   403   403   401

PUT    /v1/promotions/{promotion}                    ok    403    403  403  403  403  403  403   403   403   401
GET    /v1/promotions/{promotion}                    ok    403    403  403  403  403  403  403   403   403   401
POST   /v1/promotions/{promotion}/kill               ok    403    403  403  403  403  403  403   403   403   401
POST   /v1/promotions/{promotion}/codes              ok    403    403  403  403  403  403  403   403   403   401

PUT    /v1/segments/{segment}                        ok    403    403  403  403  403  403  403   403   403   401
GET    /v1/segments/{segment}                        ok    403    403  403  403  403  403  403   403   403   401
GET    /v1/segments/{segment}/members                ok    403    403  403  403  403  403  403   403   403   401

GET    /v1/inventory/{store}/{sku}                   ok    ok     ok   403  ok   403  ok   ok    ok    ok    401
PUT    /v1/inventory/{store}/{sku}                   ok    403    ok   403  ok   403  403  ok    403   403   401
POST   /v1/inventory/adjustments                     ok    403    ok   403  ok   403  403  ok    403   403   401
GET    /v1/inventory/{store}/{sku}/ledger            ok    403    403  403  ok   403  403  ok    403   403   401
GET    /v1/availability?skus={sku}&stores={store}    ok    ok     ok   ok   ok   ok   ok   ok    ok    ok    401

POST   /v1/customers                                 ok    403    403  403  ok   ok   403  403   403   403   401
GET    /v1/customers?email={email}                   ok    403    403  403  ok   ok   403  403   403   403   401
GET    /v1/customers/{customer}                      ok    403    403  403  ok   ok   403  403   ok    404   401
PATCH  /v1/customers/{customer}                      ok    403    403  403  ok   ok   403  403   ok    404   401
GET    /v1/customers/{customer}/orders               ok    403    403  403  ok   ok   403  403   ok    404   401
GET    /v1/customers/{customer}/offers               ok    403    403  403  ok   ok   403  403   ok    404   401
GET    /v1/customers/{customer}/profile              ok    403    403  403  ok   ok   403  403   ok    404   401
GET    /v1/customers/{customer}/cart                 ok    403    403  403  ok   ok   403  403   ok    404   401
POST   /v1/customers/{customer}/cart/merge           ok    403    403  403  ok   ok   403  403   ok    404   401
POST   /v1/customers/{customer}/tokens               ok    403    403  403  403  403  403  403   403   403   401
DELETE /v1/customers/{customer}/tokens               ok    403    403  403  403  403  403  403   403   403   401
GET    /v1/me                                        403   403    403  403  403  403  403  403   ok    ok    401
GET    /v1/me/cart                                   403   403    403  403  403  403  403  403   ok    ok    401
POST   /v1/me/cart/merge                             403   403    403  403  403  403  403  403   ok    ok    401
GET    /v1/me/orders                                 403   403    403  403  403  403  403  403   ok    ok    401
GET    /v1/me/offers                                 403   403    403  403  403  403  403  403   ok    ok    401

POST   /v1/carts                                     ok    ok     403  403  ok   ok   403  403   ok    ok    401
GET    /v1/carts/{cart}                              ok    ok     403  403  ok   ok   403  403   ok    404   401
POST   /v1/carts/{cart}/lines                        ok    ok     403  403  ok   ok   403  403   ok    404   401
PATCH  /v1/carts/{cart}/lines/{line}                 ok    ok     403  403  ok   ok   403  403   ok    404   401
DELETE /v1/carts/{cart}/lines/{line}                 ok    ok     403  403  ok   ok   403  403   ok    404   401
POST   /v1/carts/{cart}/codes                        ok    ok     403  403  ok   ok   403  403   ok    404   401
DELETE /v1/carts/{cart}/codes/{code}                 ok    ok     403  403  ok   ok   403  403   ok    404   401
POST   /v1/carts/{cart}/checkout                     ok    ok     403  403  ok   403  403  403   ok    404   401

GET    /v1/orders/{order}                            ok    ok     403  403  ok   403  403  ok    ok    404   401
POST   /v1/orders/{order}/ready                      ok    403    403  403  ok   403  403  403   403   403   401
POST   /v1/orders/{order}/collect                    ok    403    403  403  ok   403  403  403   403   403   401
POST   /v1/orders/{order}/ship                       ok    403    403  403  ok   403  403  ok    403   403   401
POST   /v1/orders/{order}/cancel                     ok    ok     403  403  ok   403  403  ok    ok    404   401
POST   /v1/orders/import                             ok    403    403  403  403  403  403  ok    403   403   401
GET    /v1/orders?source=shopify                     ok    403    403  403  403  403  403  ok    403   403   401

POST   /v1/pos/{store}/events                        ok    403    ok   403  403  403  403  ok    403   403   401

GET    /v1/events                                    ok    403    403  403  403  403  403  ok    403   403   401
PUT    /v1/webhooks/{webhook}                        ok    403    403  403  403  403  403  403   403   403   401
GET    /v1/webhooks                                  ok    403    403  403  403  403  403  403   403   403   401
GET    /v1/webhooks/{webhook}                        ok    403    403  403  403  403  403  403   403   403   401
DELETE /v1/webhooks/{webhook}                        ok    403    403  403  403  403  403  403   403   403   401
GET    /v1/webhooks/{webhook}/deliveries             ok    403    403  403  403  403  403  403   403   403   401

GET    /v1/feeds/local-inventory                     ok    403    403  403  403  403  ok   403   403   403   401

POST   /v1/ad-clicks                                 ok    ok     403  403  403  403  403  403   ok    ok    401
GET    /v1/exports/offline-conversions?{period}&network=google ok 403 403 403 403 403 ok 403  403   403   401
GET    /v1/exports/audiences/{segment}?network=meta  ok    403    403  403  403  403  ok   403   403   403   401
GET    /v1/reports/omnichannel?{period}              ok    403    403  403  403  403  403  403   403   403   401
"""

# Served but not part of the API (the OpenAPI document and its pages).
NOT_API = re.compile(r"^/schema")


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expected: dict[str, str]

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def parse_matrix() -> list[Row]:
    lines = [line.split() for line in MATRIX.strip().splitlines() if line.strip()]
    header, body = lines[0], lines[1:]
    assert len(header) == len(COLUMNS) + 2, "one header per column"
    rows = []
    for cells in body:
        method, path, *expected = cells
        assert len(expected) == len(COLUMNS), f"{method} {path}: {len(expected)} cells for {len(COLUMNS)} columns"
        assert set(expected) <= {"ok", "401", "403", "404"}, f"{method} {path}: unknown cell"
        rows.append(Row(method, path, dict(zip(COLUMNS, expected, strict=True))))
    return rows


def route_of(path: str) -> str:
    """`/v1/carts/{cart}/lines?x=1` and `/v1/carts/{cart_id}/lines` both become `/v1/carts/{}/lines`."""
    return re.sub(r"\{[^}]*\}", "{}", path.split("?", 1)[0]).rstrip("/") or "/"


@dataclass
class Call:
    """What one cell sends: values for the path's placeholders, and a body."""

    values: dict[str, str]
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


class World:
    """The resources every cell works on: two stores, a product with stock, promotions, a webhook, two
    customers (with tokens) and the keys of every column. Built once through the API."""

    def __init__(self, client: httpx.AsyncClient, api: Api) -> None:
        self.client, self.api = client, api
        self.counter = itertools.count(1)
        self.keys: dict[str, dict[str, str]] = {}
        self.values: dict[str, str] = {}

    async def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        r = await self.client.request(method, path, headers={**ADMIN, **kw.pop("headers", {})}, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r

    async def build(self) -> None:
        for code in ("S1", "S2"):
            await self.api.store(code, pickup=True)
        await self.api.store("WH", kind="warehouse", pickup=False)
        await self.admin(
            "PUT",
            "/v1/products/jacket",
            json={
                "title": "Jacket",
                "category": "outerwear",
                "variants": [{"sku": "JKT", "barcode": "0123456789012", "price": {"amount": 5000, "currency": "USD"}}],
            },
        )
        for store in ("S1", "S2", "WH"):
            await self.admin("PUT", f"/v1/inventory/{store}/JKT", json={"on_hand": 100_000})
        await self.admin("PUT", "/v1/promotions/promo", json={"title": "P", "kind": "percent_off", "value": 5})
        await self.admin(
            "PUT", "/v1/promotions/coded", json={"title": "C", "kind": "percent_off", "value": 5, "code": "SAVE5"}
        )
        await self.admin("PUT", "/v1/webhooks/hook", json=self.webhook_body())
        await self.admin("PUT", "/v1/segments/seg", json=segment_body())
        c1 = await self.api.customer(email="c1@example.com", loyalty_id="L-1")
        c2 = await self.api.customer(email="c2@example.com")
        self.values = {
            "store": "S1",
            "sku": "JKT",
            "barcode": "0123456789012",
            "product": "jacket",
            "promotion": "promo",
            "webhook": "hook",
            "email": "c1@example.com",
            "customer": c1["id"],
            "code": "SAVE5",
            "segment": "seg",
        }
        self.keys = {
            "admin": ADMIN,
            "storefront": await self.api.key("storefront"),
            "pos@S1": await self.api.key("pos", "S1"),
            "pos@S2": await self.api.key("pos", "S2"),
            "assoc@S1": await self.api.key("associate", "S1"),
            "assoc@S2": await self.api.key("associate", "S2"),
            "ads": await self.api.key("ads"),
            "integration": await self.api.key("integration"),
            "cust1": await self.api.customer_token(c1["id"]),
            "cust2": await self.api.customer_token(c2["id"]),
            "none": {},
        }

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self.counter)}"

    def webhook_body(self) -> dict[str, Any]:
        return {"url": "http://127.0.0.1:9/hooks", "types": ["order.placed"], "secret": "s" * 16}

    async def customer_cart(self) -> dict[str, str]:
        """Customer 1's active cart with a pickup line and the code on it (fresh after a checkout)."""
        cart = (await self.admin("GET", f"/v1/customers/{self.values['customer']}/cart")).json()["id"]
        lines = (await self.admin("POST", f"/v1/carts/{cart}/lines", json=pickup_line())).json()["lines"]
        await self.admin("POST", f"/v1/carts/{cart}/codes", json={"code": "SAVE5"})
        return {**self.values, "cart": cart, "line": str(lines[0]["id"])}

    async def order(self, *, ready: bool = False, ship: bool = False) -> dict[str, str]:
        """A new order of customer 1: a pickup line at S1 (ready for pickup if `ready`), and a ship line if
        `ship`."""
        values = await self.customer_cart()
        if ship:
            line = {"sku": "JKT", "quantity": 1, "fulfillment": {"type": "ship"}}
            await self.admin("POST", f"/v1/carts/{values['cart']}/lines", json=line)
        r = await self.admin(
            "POST", f"/v1/carts/{values['cart']}/checkout", json={}, headers={"Idempotency-Key": self.unique("k")}
        )
        order = r.json()["id"]
        if ready:
            await self.admin("POST", f"/v1/orders/{order}/ready")
        return {**values, "order": order}

    async def anonymous_cart(self) -> str:
        r = await self.client.post("/v1/carts", json={"channel": "web"}, headers=self.keys["storefront"])
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


async def cart_cell(w: World) -> Call:
    return Call(await w.customer_cart())


async def order_cell(w: World) -> Call:
    return Call(await w.order())


async def ready_order_cell(w: World) -> Call:
    return Call(await w.order(ready=True))


async def shipping_order_cell(w: World) -> Call:
    return Call(await w.order(ship=True))


async def merge_cell(w: World) -> Call:
    return Call(w.values, json={"cart_id": await w.anonymous_cart()})


async def checkout_cell(w: World) -> Call:
    return Call(await w.customer_cart(), json={}, headers={"Idempotency-Key": w.unique("checkout")})


async def revoke_cell(w: World) -> Call:
    # Revoking customer 1's tokens would lock out the cust1 column: revoke a third customer's.
    victim = await w.api.customer(email=f"{w.unique('v')}@example.com")
    await w.api.customer_token(victim["id"])
    return Call({**w.values, "customer": victim["id"]})


async def webhook_cell(w: World) -> Call:
    webhook = w.unique("hook")
    await w.admin("PUT", f"/v1/webhooks/{webhook}", json=w.webhook_body())
    return Call({**w.values, "webhook": webhook})


def with_body(body: Callable[[World], Any]) -> Callable[[World], Awaitable[Call]]:
    async def prepare(w: World) -> Call:
        return Call(w.values, json=body(w))

    return prepare


def pickup_line() -> dict[str, Any]:
    return {"sku": "JKT", "quantity": 1, "fulfillment": {"type": "pickup", "store": "S1"}}


def segment_body() -> dict[str, Any]:
    return {"title": "Regulars", "rules": [{"fact": "orders_count", "op": "gte", "value": 2}]}


async def codes_cell(w: World) -> Call:
    # Single-use codes change how a promotion prices: make them for a promotion of their own.
    promotion = w.unique("receipt")
    await w.admin("PUT", f"/v1/promotions/{promotion}", json={"title": "R", "kind": "percent_off", "value": 5})
    return Call({**w.values, "promotion": promotion}, json={"count": 2, "prefix": "R"})


async def import_cell(w: World) -> Call:
    sku = w.unique("IMP")
    line = {
        "product_id": sku.lower(),
        "title": "Imported",
        "variants": [{"sku": sku, "price": {"amount": 100, "currency": "USD"}}],
    }
    return Call(w.values, content=json.dumps(line).encode() + b"\n", headers={"Content-Type": "application/x-ndjson"})


async def ad_click_cell(w: World) -> Call:
    click = {"network": "google", "click_id": w.unique("Cj0KCQiA-matrix"), "clicked_at": "2026-11-01T10:00:00Z"}
    return Call(w.values, json={**click, "cart_id": await w.anonymous_cart()})


async def period_cell(w: World) -> Call:
    return Call({**w.values, "period": "since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z"})


async def segment_cell(w: World) -> Call:
    segment = w.unique("seg")
    rules = [{"fact": "email_consent", "op": "eq", "value": True}]
    await w.admin("PUT", f"/v1/segments/{segment}", json={"title": segment, "rules": rules})
    return Call({**w.values, "segment": segment})


# What a row's cells send beyond the placeholders' values (the default: nothing).
PREPARE: dict[str, Callable[[World], Awaitable[Call]]] = {
    "POST /v1/api-keys": with_body(lambda w: {"role": "ads"}),
    "PUT /v1/stores/{store}": with_body(
        lambda w: {"name": "S1", "kind": "store", "latitude": 41.88, "longitude": -87.63, "pickup_enabled": True}
    ),
    "PUT /v1/products/{product}": with_body(
        lambda w: {
            "title": "Jacket",
            "category": "outerwear",
            "variants": [{"sku": "JKT", "barcode": "0123456789012", "price": {"amount": 5000, "currency": "USD"}}],
        }
    ),
    "POST /v1/imports/products": import_cell,
    "PUT /v1/promotions/{promotion}": with_body(lambda w: {"title": "P", "kind": "percent_off", "value": 5}),
    "POST /v1/promotions/{promotion}/codes": codes_cell,
    "PUT /v1/segments/{segment}": with_body(lambda w: segment_body()),
    "PUT /v1/inventory/{store}/{sku}": with_body(lambda w: {"on_hand": 100_000}),
    "POST /v1/inventory/adjustments": with_body(
        lambda w: {"store": "S1", "sku": "JKT", "delta": 1, "reason": "receipt"}
    ),
    "POST /v1/customers": with_body(lambda w: {"email": f"{w.unique('new')}@example.com"}),
    "PATCH /v1/customers/{customer}": with_body(lambda w: {"marketing_consent": {"sms": next(w.counter) % 2 == 0}}),
    "POST /v1/customers/{customer}/cart/merge": merge_cell,
    "POST /v1/customers/{customer}/tokens": with_body(lambda w: {"ttl_minutes": 5}),
    "DELETE /v1/customers/{customer}/tokens": revoke_cell,
    "POST /v1/me/cart/merge": merge_cell,
    "POST /v1/carts": with_body(lambda w: {"channel": "web"}),
    "GET /v1/carts/{cart}": cart_cell,
    "POST /v1/carts/{cart}/lines": lambda w: _cart_with_body(w, pickup_line()),
    "PATCH /v1/carts/{cart}/lines/{line}": lambda w: _cart_with_body(w, {"quantity": 2}),
    "DELETE /v1/carts/{cart}/lines/{line}": cart_cell,
    "POST /v1/carts/{cart}/codes": lambda w: _cart_with_body(w, {"code": "SAVE5"}),
    "DELETE /v1/carts/{cart}/codes/{code}": cart_cell,
    "POST /v1/carts/{cart}/checkout": checkout_cell,
    "GET /v1/orders/{order}": order_cell,
    "POST /v1/orders/{order}/ready": order_cell,
    "POST /v1/orders/{order}/collect": ready_order_cell,
    "POST /v1/orders/{order}/ship": shipping_order_cell,
    "POST /v1/orders/{order}/cancel": order_cell,
    "POST /v1/orders/import": with_body(
        lambda w: {
            "source": "shopify",
            "external_id": w.unique("ext"),
            "channel": "web",
            "placed_at": "2026-11-27T10:00:00Z",
            "currency": "USD",
            "lines": [
                {
                    "sku": "JKT",
                    "quantity": 1,
                    "unit_price": {"amount": 5000, "currency": "USD"},
                    "fulfillment": {"type": "ship", "store": "S1"},
                }
            ],
        }
    ),
    "POST /v1/pos/{store}/events": with_body(
        lambda w: {
            "events": [
                {
                    "event_id": w.unique("till"),
                    "type": "receipt",
                    "occurred_at": "2026-11-27T10:00:00Z",
                    "lines": [{"sku": "JKT", "quantity": 1}],
                }
            ]
        }
    ),
    "PUT /v1/webhooks/{webhook}": with_body(lambda w: w.webhook_body()),
    "POST /v1/ad-clicks": ad_click_cell,
    "GET /v1/exports/offline-conversions?{period}&network=google": period_cell,
    "GET /v1/exports/audiences/{segment}?network=meta": segment_cell,
    "GET /v1/reports/omnichannel?{period}": period_cell,
    "DELETE /v1/webhooks/{webhook}": webhook_cell,
}


async def _cart_with_body(w: World, body: dict[str, Any]) -> Call:
    return Call(await w.customer_cart(), json=body)


async def default_cell(w: World) -> Call:
    return Call(w.values)


def outcome(response: httpx.Response) -> str:
    if response.status_code in (401, 403, 404):
        return str(response.status_code)
    return "5xx" if response.status_code >= 500 else "ok"


async def test_every_role_against_every_endpoint(client: httpx.AsyncClient, api: Api) -> None:
    world = World(client, api)
    await world.build()
    wrong: list[str] = []
    calls = 0
    for row in parse_matrix():
        prepare = PREPARE.get(row.key, default_cell)
        for column in COLUMNS:
            call = await prepare(world)
            path = row.path.format(**call.values)
            r = await client.request(
                row.method,
                path,
                json=call.json,
                content=call.content,
                headers={**world.keys[column], **call.headers},
            )
            calls += 1
            got = outcome(r)
            if got != row.expected[column]:
                detail = r.text[:160] if r.status_code != 204 else ""
                wrong.append(f"{row.key} as {column}: expected {row.expected[column]}, got {r.status_code} {detail}")
    assert not wrong, f"{len(wrong)} of {calls} cells differ from API.md:\n" + "\n".join(wrong)


def test_every_served_endpoint_has_a_row(app: Litestar) -> None:
    served = {
        f"{method.upper()} {route_of(path)}"
        for path, item in (app.openapi_schema.paths or {}).items()
        if not NOT_API.match(path)
        for method in ("get", "put", "post", "patch", "delete")
        if getattr(item, method, None) is not None
    }
    in_matrix = {f"{row.method} {route_of(row.path)}" for row in parse_matrix()}
    assert served - in_matrix == set(), "endpoints without a row in MATRIX"
    assert in_matrix - served == set(), "rows for endpoints the service does not serve"
    assert len(in_matrix) == len(parse_matrix()), "one row per endpoint"
    assert set(PREPARE) <= {row.key for row in parse_matrix()}, "PREPARE names a row that is not in MATRIX"


def test_the_matrix_covers_two_customers_and_two_stores_for_every_role() -> None:
    assert {"cust1", "cust2", "pos@S1", "pos@S2", "assoc@S1", "assoc@S2", "none"} <= set(COLUMNS)
    rows = parse_matrix()
    assert all(row.expected["none"] == "401" for row in rows if not row.path.startswith("/health"))
    # Another customer's resources are 404 exactly where the first customer's are allowed.
    for row in rows:
        if row.expected["cust2"] == "404":
            assert row.expected["cust1"] == "ok", row.key


def test_the_openapi_document_names_the_credentials_each_endpoint_takes(app: Litestar) -> None:
    """Each operation's `security` agrees with the matrix: a customer token where a customer is admitted
    (its own resources included), an API key where some key role is, nothing where no key is needed."""
    doc = app.openapi_schema.to_schema()
    operations = {
        f"{method.upper()} {route_of(path)}": op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in ("get", "put", "post", "patch", "delete")
    }
    key_columns = [c for c in COLUMNS if not c.startswith("cust") and c != "none"]
    for row in parse_matrix():
        op = operations[f"{row.method} {route_of(row.path)}"]
        schemes = {name for requirement in op.get("security", []) for name in requirement}
        expected = set()
        if row.expected["none"] != "401":
            assert op.get("security") == [], row.key
            continue
        if any(row.expected[c] != "403" for c in key_columns):
            expected.add("ApiKey")
        if row.expected["cust1"] != "403":
            expected.add("CustomerToken")
        assert schemes == expected, row.key
        assert "**Who may call**" in op["description"], row.key
