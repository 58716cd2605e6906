"""Orders imported from other systems: exactly once per (source, external_id), prices as charged,
stock reserved as far as it goes with the rest backordered, the customer matched or created."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import httpx
import pytest

from commerce.orders.sweeper import sweep_once
from tests.conftest import ADMIN, Api
from tests.stock import assert_conserved, stock


def line(
    sku: str, qty: int, store: str = "LOOP", kind: str = "ship", price: int = 5000, **extra: Any
) -> dict[str, Any]:
    return {
        "sku": sku,
        "quantity": qty,
        "unit_price": {"amount": price, "currency": "USD"},
        "fulfillment": {"type": kind, "store": store},
        **extra,
    }


def body(external_id: str, *lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "source": "shopify",
        "external_id": external_id,
        "channel": "web",
        "placed_at": (datetime.now(UTC) - timedelta(minutes=3)).isoformat(),
        "currency": "USD",
        "lines": list(lines),
        **extra,
    }


async def level(db_conn: asyncpg.Connection, store: str, sku: str) -> tuple[int, int]:
    row = await db_conn.fetchrow(
        "SELECT on_hand, reserved FROM inventory_levels WHERE store_code = $1 AND sku = $2", store, sku
    )
    return (row["on_hand"], row["reserved"]) if row else (0, 0)


async def counts(db_conn: asyncpg.Connection) -> dict[str, int]:
    row = await db_conn.fetchrow(
        "SELECT (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM order_lines) AS lines,"
        " (SELECT count(*) FROM reservations) AS reservations, (SELECT count(*) FROM inventory_ledger) AS ledger,"
        " (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM events) AS events"
    )
    return dict(row)


@pytest.fixture
async def shop(api: Api, app: Any) -> dict[str, dict[str, str]]:
    await api.store("LOOP", 41.8827, -87.6278, pickup=True, pickup_lead_minutes=30)
    await api.store("WH", 42.0, -87.9, kind="warehouse", pickup=False)
    await api.product("jacket", ["JKT-M", "JKT-L"], price=8900)
    await api.product("cap", ["CAP"], price=2500)
    await stock(app, [("LOOP", "JKT-M", 5), ("LOOP", "JKT-L", 1), ("WH", "JKT-M", 10), ("WH", "CAP", 3)])
    return {"integration": await api.key("integration"), "admin": ADMIN}


async def test_import_reserves_at_the_named_locations_with_the_prices_charged(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection
) -> None:
    r = await client.post(
        "/v1/orders/import",
        json=body(
            "1001",
            line("JKT-M", 2, "LOOP", "pickup", price=7000, discount={"amount": 1000, "currency": "USD"}),
            line("CAP", 1, "WH", "ship", price=1999),
        ),
        headers=shop["integration"],
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["source"] == "shopify" and order["external_id"] == "1001"
    assert order["status"] == "placed"
    assert [(x["sku"], x["location"], x["backordered"]) for x in order["lines"]] == [
        ("JKT-M", "LOOP", 0),
        ("CAP", "WH", 0),
    ]
    assert order["lines"][0]["line_total"] == {"amount": 13000, "currency": "USD"}
    assert order["totals"] == {
        "subtotal": {"amount": 15999, "currency": "USD"},
        "discount_total": {"amount": 1000, "currency": "USD"},
        "total": {"amount": 14999, "currency": "USD"},
    }
    assert order["pickup"]["store"] == "LOOP"
    assert await level(db_conn, "LOOP", "JKT-M") == (5, 2)
    assert await level(db_conn, "WH", "CAP") == (3, 1)
    await assert_conserved(db_conn)

    r = await client.get(f"/v1/orders/{order['id']}", headers=shop["integration"])
    assert r.status_code == 200 and r.json() == order


async def test_a_repeat_is_200_with_the_same_order_and_writes_nothing(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection
) -> None:
    first_body = body("1002", line("JKT-M", 1, "LOOP", "pickup"), customer={"email": "Ann@Example.com"})
    first_body["placed_at"] = datetime.now(timezone(timedelta(hours=5, minutes=30))).isoformat()
    first = await client.post("/v1/orders/import", json=first_body, headers=shop["integration"])
    assert first.status_code == 201, first.text
    before = await counts(db_conn)
    # The same order again, as a redelivery would send it: keys in another order, the same instant
    # written with another offset, from an admin key this time.
    again_body = dict(reversed(list(first_body.items())))
    chicago = timezone(timedelta(hours=-6))
    again_body["placed_at"] = datetime.fromisoformat(first_body["placed_at"]).astimezone(chicago).isoformat()
    assert again_body["placed_at"] != first_body["placed_at"]
    again = await client.post("/v1/orders/import", json=again_body, headers=shop["admin"])
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert await counts(db_conn) == before
    assert await level(db_conn, "LOOP", "JKT-M") == (5, 1)


async def test_another_body_under_the_same_pair_is_an_idempotency_conflict(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection
) -> None:
    r = await client.post("/v1/orders/import", json=body("1003", line("JKT-M", 1)), headers=shop["integration"])
    assert r.status_code == 201, r.text
    before = await counts(db_conn)
    r = await client.post("/v1/orders/import", json=body("1003", line("JKT-M", 2)), headers=shop["integration"])
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "idempotency_conflict"
    assert await counts(db_conn) == before
    # The same external id from another source is another order.
    other = body("1003", line("JKT-M", 2))
    other["source"] = "marketplace"
    r = await client.post("/v1/orders/import", json=other, headers=shop["integration"])
    assert r.status_code == 201, r.text
    assert await level(db_conn, "LOOP", "JKT-M") == (5, 3)


async def test_a_shortfall_is_backordered_and_announced_never_refused(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection
) -> None:
    r = await client.post(
        "/v1/orders/import",
        json=body("1004", line("JKT-L", 3, "LOOP"), line("JKT-M", 4, "WH"), line("CAP", 2, "LOOP")),
        headers=shop["integration"],
    )
    assert r.status_code == 201, r.text
    order = r.json()
    # JKT-L: 1 of 3 at LOOP; JKT-M: all 4 at WH; CAP: LOOP has no level at all.
    assert [(x["sku"], x["quantity"], x["backordered"]) for x in order["lines"]] == [
        ("JKT-L", 3, 2),
        ("JKT-M", 4, 0),
        ("CAP", 2, 2),
    ]
    assert await level(db_conn, "LOOP", "JKT-L") == (1, 1)
    assert await level(db_conn, "WH", "JKT-M") == (10, 4)
    assert await level(db_conn, "LOOP", "CAP") == (0, 0)
    rows = await db_conn.fetch("SELECT type, data FROM events WHERE type LIKE 'order.%' ORDER BY id")
    assert [row["type"] for row in rows] == ["order.placed", "order.backordered"]
    event = json.loads(rows[1]["data"])
    assert event["order_id"] == order["id"] and event["external_id"] == "1004" and event["source"] == "shopify"
    assert [(x["sku"], x["store"], x["reserved"], x["backordered"]) for x in event["lines"]] == [
        ("JKT-L", "LOOP", 1, 2),
        ("CAP", "LOOP", 0, 2),
    ]
    await assert_conserved(db_conn)


async def test_an_order_reserved_in_full_announces_no_backorder(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection
) -> None:
    r = await client.post("/v1/orders/import", json=body("1005", line("JKT-M", 5)), headers=shop["integration"])
    assert r.status_code == 201, r.text
    assert await db_conn.fetchval("SELECT count(*) FROM events WHERE type = 'order.backordered'") == 0
    assert await level(db_conn, "LOOP", "JKT-M") == (5, 5)


async def test_ship_and_pickup_lines_on_one_level_share_what_it_has(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection
) -> None:
    r = await client.post(
        "/v1/orders/import",
        json=body("1006", line("JKT-M", 4, "LOOP", "pickup"), line("JKT-M", 3, "LOOP", "ship")),
        headers=shop["integration"],
    )
    assert r.status_code == 201, r.text
    assert [x["backordered"] for x in r.json()["lines"]] == [0, 2]
    assert await level(db_conn, "LOOP", "JKT-M") == (5, 5)
    held = await db_conn.fetch("SELECT reference, quantity FROM reservations ORDER BY reference")
    assert [(row["reference"].rsplit(":", 1)[1], row["quantity"]) for row in held] == [("pickup", 4), ("ship", 1)]
    await assert_conserved(db_conn)


async def test_cancel_releases_only_what_was_reserved(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection
) -> None:
    r = await client.post(
        "/v1/orders/import",
        json=body("1007", line("JKT-L", 4, "LOOP"), line("JKT-M", 2, "WH")),
        headers=shop["integration"],
    )
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    r = await client.post(f"/v1/orders/{order_id}/cancel", headers=shop["integration"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert await level(db_conn, "LOOP", "JKT-L") == (1, 0)
    assert await level(db_conn, "WH", "JKT-M") == (10, 0)
    await assert_conserved(db_conn)


async def test_ship_consumes_what_was_reserved(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection
) -> None:
    r = await client.post("/v1/orders/import", json=body("1008", line("JKT-L", 2, "LOOP")), headers=shop["integration"])
    order_id = r.json()["id"]
    r = await client.post(f"/v1/orders/{order_id}/ship", headers=shop["integration"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "shipped"
    assert await level(db_conn, "LOOP", "JKT-L") == (0, 0)
    await assert_conserved(db_conn)


async def test_an_imported_pickup_is_collected_or_expires_like_a_checkout(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection, app: Any, api: Api
) -> None:
    loop = await api.key("associate", "LOOP")
    collected = (
        await client.post(
            "/v1/orders/import", json=body("1009", line("JKT-M", 2, "LOOP", "pickup")), headers=shop["integration"]
        )
    ).json()
    for action in ("ready", "collect"):
        r = await client.post(f"/v1/orders/{collected['id']}/{action}", headers=loop)
        assert r.status_code == 200, r.text
    assert await level(db_conn, "LOOP", "JKT-M") == (3, 0)
    queue = await client.get("/v1/stores/LOOP/orders?status=collected", headers=loop)
    assert [o["id"] for o in queue.json()["items"]] == [collected["id"]]

    r = await client.post(
        "/v1/orders/import", json=body("1010", line("JKT-M", 1, "LOOP", "pickup")), headers=shop["integration"]
    )
    hold = datetime.fromisoformat(r.json()["pickup"]["hold_until"])
    assert await sweep_once(app.state.sessionmaker, now=hold + timedelta(seconds=1)) == 1
    assert (await client.get(f"/v1/orders/{r.json()['id']}", headers=ADMIN)).json()["status"] == "expired"
    assert await level(db_conn, "LOOP", "JKT-M") == (3, 0)
    await assert_conserved(db_conn)


async def test_the_customer_is_matched_by_identifier_and_sees_the_order_in_their_history(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection
) -> None:
    r = await client.post("/v1/customers", json={"loyalty_id": "L-77", "email": "bo@example.com"}, headers=ADMIN)
    bo = r.json()["id"]
    r = await client.post("/v1/customers", json={"email": "cy@example.com"}, headers=ADMIN)
    cy = r.json()["id"]

    # The loyalty id wins over an email that belongs to someone else.
    r = await client.post(
        "/v1/orders/import",
        json=body("1011", line("JKT-M", 1), customer={"loyalty_id": " L-77 ", "email": "cy@example.com"}),
        headers=shop["integration"],
    )
    assert r.status_code == 201, r.text
    assert r.json()["customer_id"] == bo
    # An email alone, written differently.
    r = await client.post(
        "/v1/orders/import",
        json=body("1012", line("CAP", 1, "WH"), customer={"email": " CY@example.COM"}),
        headers=shop["integration"],
    )
    assert r.json()["customer_id"] == cy
    history = await client.get(f"/v1/customers/{cy}/orders", headers=ADMIN)
    assert [(p["source"], p["id"]) for p in history.json()["items"]] == [("order", r.json()["id"])]


async def test_an_unknown_customer_is_created_with_every_identifier(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection
) -> None:
    customer = {"email": "dee@example.com", "phone": "+1 (312) 555-0100", "loyalty_id": "L-88"}
    r = await client.post("/v1/orders/import", json=body("1013", line("JKT-M", 1), customer=customer), headers=ADMIN)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["email"] == "dee@example.com" and order["phone"] == "+13125550100"
    found = (await client.get("/v1/customers?phone=%2B13125550100", headers=ADMIN)).json()["items"]
    assert [(c["id"], c["email"], c["loyalty_id"]) for c in found] == [
        (order["customer_id"], "dee@example.com", "L-88")
    ]
    history = await client.get(f"/v1/customers/{order['customer_id']}/orders", headers=ADMIN)
    assert [p["id"] for p in history.json()["items"]] == [order["id"]]
    # Another order from the same shopper lands on the same customer.
    r = await client.post(
        "/v1/orders/import", json=body("1014", line("JKT-M", 1), customer={"phone": "+13125550100"}), headers=ADMIN
    )
    assert r.json()["customer_id"] == order["customer_id"]
    assert await db_conn.fetchval("SELECT count(*) FROM customers") == 1


async def test_a_phone_that_does_not_parse_is_dropped_and_the_order_still_imports(
    client: httpx.AsyncClient, api: Api, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection
) -> None:
    ann = (await api.customer(email="ann@example.com"))["id"]
    # As a web shop sends it: a local number without its area code.
    customer = {"email": "ann@example.com", "phone": "555-0100"}
    r = await client.post("/v1/orders/import", json=body("1020", line("JKT-M", 1), customer=customer), headers=ADMIN)
    assert r.status_code == 201, r.text
    order = r.json()
    # Matched by the email; the order keeps the contact phone as given; the customer is left as she is.
    assert (order["customer_id"], order["phone"]) == (ann, "555-0100")
    assert await db_conn.fetchval("SELECT phone FROM customers WHERE id = $1", uuid.UUID(ann)) is None
    # A new shopper is created with the identifiers that are valid.
    customer = {"email": "new@example.com", "phone": "call me", "loyalty_id": "L-90"}
    r = await client.post("/v1/orders/import", json=body("1021", line("JKT-M", 1), customer=customer), headers=ADMIN)
    assert r.status_code == 201, r.text
    found = (await client.get("/v1/customers", params={"loyalty_id": "L-90"}, headers=ADMIN)).json()["items"]
    assert [(c["id"], c["email"], c["phone"]) for c in found] == [(r.json()["customer_id"], "new@example.com", None)]
    # The phone alone: imported without a customer, nobody created.
    before = await db_conn.fetchval("SELECT count(*) FROM customers")
    r = await client.post(
        "/v1/orders/import", json=body("1022", line("JKT-M", 1), customer={"phone": "555-0100"}), headers=ADMIN
    )
    assert r.status_code == 201, r.text
    assert r.json()["customer_id"] is None
    assert await db_conn.fetchval("SELECT count(*) FROM customers") == before
    # All three orders reserved their stock.
    assert await level(db_conn, "LOOP", "JKT-M") == (5, 3)
    # Customers themselves still refuse it.
    r = await client.post("/v1/customers", json={"phone": "555-0100"}, headers=ADMIN)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_phone")


BAD_IMPORTS: list[tuple[str, dict[str, Any], int, str]] = [
    ("unknown store", body("x", line("JKT-M", 1), line("JKT-M", 1, "NOPE")), 422, "unknown_store"),
    ("unknown sku", body("x", line("JKT-M", 1), line("GHOST", 1)), 422, "unknown_sku"),
    (
        "line in another currency",
        body("x", line("JKT-M", 1) | {"unit_price": {"amount": 100, "currency": "EUR"}}),
        422,
        "currency_mismatch",
    ),
    (
        "discount above the price",
        body("x", line("JKT-M", 2, price=100, discount={"amount": 201, "currency": "USD"})),
        422,
        "invalid_discount",
    ),
    ("duplicate line", body("x", line("JKT-M", 1), line("CAP", 1, "WH"), line("JKT-M", 2)), 422, "duplicate_line"),
    (
        "pickup at two stores",
        body("x", line("JKT-M", 1, "LOOP", "pickup"), line("JKT-M", 1, "WH", "pickup")),
        422,
        "multiple_pickup_stores",
    ),
    ("pickup where none is offered", body("x", line("JKT-M", 1, "WH", "pickup")), 422, "pickup_unavailable"),
    ("zero quantity", body("x", line("JKT-M", 0)), 422, "validation_failed"),
    ("negative price", body("x", line("JKT-M", 1, price=-1)), 422, "validation_failed"),
    ("huge quantity", body("x", line("JKT-M", 1_000_000)), 422, "validation_failed"),
    ("no lines", body("x"), 422, "validation_failed"),
    ("unknown field", body("x", line("JKT-M", 1), note="hi"), 422, "validation_failed"),
    ("unknown channel", body("x", line("JKT-M", 1)) | {"channel": "carrier-pigeon"}, 422, "validation_failed"),
    (
        "placed_at without offset",
        body("x", line("JKT-M", 1)) | {"placed_at": "2026-11-27T10:00:00"},
        422,
        "validation_failed",
    ),
    (
        "placed_at in the future",
        body("x", line("JKT-M", 1)) | {"placed_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        422,
        "invalid_placed_at",
    ),
    ("customer without identifier", body("x", line("JKT-M", 1), customer={}), 422, "identifier_required"),
    (
        "fulfillment without store",
        body("x", line("JKT-M", 1) | {"fulfillment": {"type": "ship"}}),
        422,
        "validation_failed",
    ),
    ("source in capitals", body("x", line("JKT-M", 1)) | {"source": "Shopify"}, 422, "validation_failed"),
]


@pytest.mark.parametrize(("case", "payload", "status", "code"), BAD_IMPORTS, ids=[c[0] for c in BAD_IMPORTS])
async def test_bad_imports_are_refused_with_nothing_written(
    client: httpx.AsyncClient,
    shop: dict[str, dict[str, str]],
    db_conn: asyncpg.Connection,
    case: str,
    payload: dict[str, Any],
    status: int,
    code: str,
) -> None:
    before = await counts(db_conn)
    r = await client.post("/v1/orders/import", json=payload, headers=shop["integration"])
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code
    assert await counts(db_conn) == before
    # Nothing was claimed either: the pair imports fine once the body is right.
    r = await client.post("/v1/orders/import", json=body("x", line("JKT-M", 1)), headers=shop["integration"])
    assert r.status_code == 201, r.text


async def test_every_unknown_reference_is_named(client: httpx.AsyncClient, shop: dict[str, dict[str, str]]) -> None:
    r = await client.post(
        "/v1/orders/import",
        json=body("1015", line("GHOST", 1), line("JKT-M", 1), line("PHANTOM", 1, "WH")),
        headers=shop["integration"],
    )
    assert r.status_code == 422
    assert [e["key"] for e in r.json()["errors"]] == ["lines[0].sku", "lines[2].sku"]


@pytest.mark.parametrize("role", ["storefront", "pos", "associate", "ads"])
async def test_only_integration_and_admin_keys_import_and_find(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], api: Api, db_conn: asyncpg.Connection, role: str
) -> None:
    key = await api.key(role, "LOOP" if role in ("pos", "associate") else None)
    r = await client.post("/v1/orders/import", json=body("1016", line("JKT-M", 1)), headers=key)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "forbidden"
    r = await client.get("/v1/orders?source=shopify&external_id=1016", headers=key)
    assert r.status_code == 403, r.text
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 0
    r = await client.post("/v1/orders/import", json=body("1016", line("JKT-M", 1)))
    assert r.status_code == 401


async def test_find_an_imported_order_by_its_source_and_id(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]]
) -> None:
    imported = []
    for n in range(3):
        r = await client.post("/v1/orders/import", json=body(f"20{n}", line("JKT-M", 1)), headers=shop["integration"])
        imported.append(r.json())
    r = await client.get("/v1/orders", params={"source": "shopify", "external_id": "201"}, headers=shop["integration"])
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [imported[1]], "next_cursor": None}
    r = await client.get("/v1/orders", params={"source": "shopify", "external_id": "999"}, headers=ADMIN)
    assert r.json() == {"items": [], "next_cursor": None}
    r = await client.get("/v1/orders", params={"source": "square", "external_id": "201"}, headers=ADMIN)
    assert r.json()["items"] == []
    # Without external_id: every order from the source, newest first, a page at a time.
    seen, cursor = [], None
    while True:
        params = {"source": "shopify", "limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/orders", params=params, headers=ADMIN)).json()
        seen += [o["external_id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["202", "201", "200"]
    r = await client.get("/v1/orders", headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"
    r = await client.get("/v1/orders", params={"source": "shopify", "cursor": "garbage"}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"


async def test_an_idempotency_key_works_as_on_every_other_post(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection
) -> None:
    payload = body("1017", line("JKT-M", 1))
    headers = shop["integration"] | {"Idempotency-Key": "import-1017"}
    first = await client.post("/v1/orders/import", json=payload, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post("/v1/orders/import", json=payload, headers=headers)
    assert (again.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
    assert again.json() == first.json()
    other = await client.post("/v1/orders/import", json=body("1018", line("JKT-M", 1)), headers=headers)
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_conflict")
    # A new key for the same order: the pair still finds it.
    fresh = await client.post(
        "/v1/orders/import", json=payload, headers=shop["integration"] | {"Idempotency-Key": "import-1017-b"}
    )
    assert fresh.status_code == 200 and fresh.json()["id"] == first.json()["id"]
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 1


async def test_the_database_holds_one_order_per_source_and_external_id(
    client: httpx.AsyncClient, shop: dict[str, dict[str, str]], db_conn: asyncpg.Connection
) -> None:
    r = await client.post("/v1/orders/import", json=body("1019", line("JKT-M", 1)), headers=shop["integration"])
    assert r.status_code == 201, r.text
    with pytest.raises(asyncpg.UniqueViolationError):
        await db_conn.execute(
            "INSERT INTO orders (id, channel, status, currency, subtotal, discount_total, total, source, external_id,"
            " request_hash) VALUES (gen_random_uuid(), 'web', 'placed', 'USD', 0, 0, 0, 'shopify', '1019', 'x')"
        )
