"""Checkout and the pickup lifecycle through the HTTP API."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from commerce.inventory.rules import StockLine
from commerce.inventory.service import set_on_hand_many
from commerce.orders.sweeper import sweep_once
from tests.conftest import ADMIN, Api


async def stock(app, rows: list[tuple[str, str, int]]) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await set_on_hand_many(db, [StockLine(*r) for r in rows], reason="receipt", source="test")


async def level(db_conn, store: str, sku: str) -> tuple[int, int]:
    row = await db_conn.fetchrow(
        "SELECT on_hand, reserved FROM inventory_levels WHERE store_code=$1 AND sku=$2", store, sku
    )
    return (row["on_hand"], row["reserved"])


async def cart_with(client: httpx.AsyncClient, headers: dict[str, str], *lines: dict[str, object]) -> str:
    r = await client.post("/v1/carts", json={"channel": "web"}, headers=headers)
    assert r.status_code == 201, r.text
    cart_id = str(r.json()["id"])
    for line in lines:
        r = await client.post(f"/v1/carts/{cart_id}/lines", json=line, headers=headers)
        assert r.status_code in (200, 201), r.text
    return cart_id


def pickup(sku: str, qty: int, store: str = "LOOP") -> dict[str, object]:
    return {"sku": sku, "quantity": qty, "fulfillment": {"type": "pickup", "store": store}}


def ship(sku: str, qty: int) -> dict[str, object]:
    return {"sku": sku, "quantity": qty, "fulfillment": {"type": "ship"}}


async def checkout(
    client: httpx.AsyncClient, cart_id: str, headers: dict[str, str], body: dict | None = None, key: str | None = None
) -> httpx.Response:
    return await client.post(
        f"/v1/carts/{cart_id}/checkout",
        json=body or {},
        headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())},
    )


@pytest.fixture
async def shop(api: Api, app) -> dict[str, dict[str, str]]:
    await api.store("LOOP", 41.8827, -87.6278, pickup=True, pickup_lead_minutes=30)
    await api.store("LP", 41.9214, -87.6513, pickup=True)
    await api.store("WH-N", 42.0039, -87.9703, kind="warehouse", pickup=False)
    await api.store("WH-S", 41.50, -87.70, kind="warehouse", pickup=False)
    await api.product("jacket", ["JKT-M", "JKT-L"], price=8900)
    await stock(app, [("LOOP", "JKT-M", 5), ("LOOP", "JKT-L", 1), ("LP", "JKT-M", 2)])
    return {
        "storefront": await api.key("storefront"),
        "loop": await api.key("associate", "LOOP"),
        "lp": await api.key("associate", "LP"),
        "pos": await api.key("pos", "LOOP"),
    }


async def test_pickup_path_from_cart_to_collected(client: httpx.AsyncClient, shop, db_conn) -> None:
    web = shop["storefront"]
    cart_id = await cart_with(client, web, pickup("JKT-M", 2))
    r = await checkout(client, cart_id, web, {"email": "ann@example.com"})
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "placed"
    assert order["pickup"]["store"] == "LOOP"
    hold = datetime.fromisoformat(order["pickup"]["hold_until"])
    created = datetime.fromisoformat(order["created_at"])
    assert timedelta(minutes=30 + 2 * 24 * 60 - 1) < hold - created < timedelta(minutes=30 + 2 * 24 * 60 + 1)
    assert order["totals"]["total"] == {"amount": 17800, "currency": "USD"}
    assert [(line["sku"], line["quantity"], line["location"]) for line in order["lines"]] == [("JKT-M", 2, "LOOP")]
    assert await level(db_conn, "LOOP", "JKT-M") == (5, 2)

    # The cart is closed.
    r = await client.post(f"/v1/carts/{cart_id}/lines", json=pickup("JKT-M", 1), headers=web)
    assert r.status_code == 409

    # The associate sees it on the pick list, readies it, hands it over.
    r = await client.get("/v1/stores/LOOP/orders", params={"status": "placed"}, headers=shop["loop"])
    assert [o["id"] for o in r.json()["items"]] == [order["id"]]
    assert (await client.post(f"/v1/orders/{order['id']}/collect", headers=shop["loop"])).status_code == 409
    r = await client.post(f"/v1/orders/{order['id']}/ready", headers=shop["loop"])
    assert r.status_code == 200
    assert r.json()["status"] == "ready_for_pickup"
    r = await client.post(f"/v1/orders/{order['id']}/collect", headers=shop["loop"])
    assert r.status_code == 200
    assert r.json()["status"] == "collected"
    assert await level(db_conn, "LOOP", "JKT-M") == (3, 0)
    r = await client.post(f"/v1/orders/{order['id']}/cancel", headers=web)
    assert r.status_code == 409
    assert r.json()["code"] == "invalid_state"
    types = [t for (t,) in await db_conn.fetch("SELECT type FROM events WHERE type LIKE 'order.%' ORDER BY id")]
    assert types == ["order.placed", "order.ready_for_pickup", "order.collected"]


async def test_another_stores_associate_and_pos_keys_cannot_act(client: httpx.AsyncClient, shop) -> None:
    cart_id = await cart_with(client, shop["storefront"], pickup("JKT-M", 1))
    order_id = (await checkout(client, cart_id, shop["storefront"])).json()["id"]
    assert (await client.post(f"/v1/orders/{order_id}/ready", headers=shop["lp"])).status_code == 403
    assert (await client.get(f"/v1/orders/{order_id}", headers=shop["lp"])).status_code == 403
    assert (await client.post(f"/v1/orders/{order_id}/ready", headers=shop["pos"])).status_code == 403
    assert (await client.get("/v1/stores/LOOP/orders", headers=shop["lp"])).status_code == 403
    assert (await client.get(f"/v1/orders/{order_id}", headers=shop["loop"])).status_code == 200


async def test_short_lines_are_all_reported_and_nothing_is_left_behind(
    client: httpx.AsyncClient, shop, db_conn
) -> None:
    web = shop["storefront"]
    cart_id = await cart_with(client, web, pickup("JKT-M", 2), pickup("JKT-L", 3), ship("JKT-M", 50))
    ledger_before = await db_conn.fetchval("SELECT count(*) FROM inventory_ledger")
    events_before = await db_conn.fetchval("SELECT count(*) FROM events")
    r = await checkout(client, cart_id, web)
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "insufficient_stock"
    assert sorted((line["sku"], line["store"], line["requested"], line["available"]) for line in body["lines"]) == [
        ("JKT-L", "LOOP", 3, 1),
        ("JKT-M", "LOOP", 50, 5),
    ]
    r = await client.post(f"/v1/carts/{cart_id}/lines", json=ship("JKT-L", 1), headers=web)  # the cart is still open
    assert r.status_code in (200, 201)
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 0
    assert await db_conn.fetchval("SELECT count(*) FROM reservations") == 0
    assert await db_conn.fetchval("SELECT count(*) FROM inventory_ledger") == ledger_before
    assert await db_conn.fetchval("SELECT count(*) FROM events") == events_before
    assert await level(db_conn, "LOOP", "JKT-M") == (5, 0)


async def test_pickup_short_lines_listed_together(client: httpx.AsyncClient, shop) -> None:
    web = shop["storefront"]
    cart_id = await cart_with(client, web, pickup("JKT-M", 9), pickup("JKT-L", 3))
    r = await checkout(client, cart_id, web)
    assert r.status_code == 409
    assert sorted((line["sku"], line["requested"], line["available"]) for line in r.json()["lines"]) == [
        ("JKT-L", 3, 1),
        ("JKT-M", 9, 5),
    ]


async def test_retry_with_the_same_key_returns_the_same_order(client: httpx.AsyncClient, shop, db_conn) -> None:
    web = shop["storefront"]
    cart_id = await cart_with(client, web, pickup("JKT-M", 1))
    first = await checkout(client, cart_id, web, {"email": "a@example.com"}, key="k-1")
    again = await checkout(client, cart_id, web, {"email": "a@example.com"}, key="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = await checkout(client, cart_id, web, {"email": "b@example.com"}, key="k-1")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_conflict"
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 1
    assert await level(db_conn, "LOOP", "JKT-M") == (5, 1)
    r = await client.post(f"/v1/carts/{cart_id}/checkout", json={}, headers=web)
    assert r.status_code == 400
    assert r.json()["code"] == "idempotency_key_required"
    # A new key on a closed cart cannot order twice.
    assert (await checkout(client, cart_id, web, key="k-2")).status_code == 409


async def test_cancel_releases_every_reservation(client: httpx.AsyncClient, shop, db_conn, app) -> None:
    await stock(app, [("WH-N", "JKT-L", 10)])
    web = shop["storefront"]
    cart_id = await cart_with(client, web, pickup("JKT-M", 2), ship("JKT-L", 4))
    order = (await checkout(client, cart_id, web)).json()
    assert await level(db_conn, "WH-N", "JKT-L") == (10, 4)
    r = await client.post(f"/v1/orders/{order['id']}/cancel", headers=web)
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    assert await level(db_conn, "WH-N", "JKT-L") == (10, 0)
    assert await level(db_conn, "LOOP", "JKT-M") == (5, 0)


async def test_ship_lines_go_to_a_warehouse_nearest_the_destination(
    client: httpx.AsyncClient, shop, db_conn, app
) -> None:
    await stock(app, [("WH-N", "JKT-M", 10), ("WH-S", "JKT-M", 3)])
    web = shop["storefront"]
    cart_id = await cart_with(client, web, ship("JKT-M", 2))
    south = {"ship_to": {"latitude": 41.40, "longitude": -87.70}}
    order = (await checkout(client, cart_id, web, south)).json()
    assert order["lines"][0]["location"] == "WH-S"
    assert order["pickup"] is None
    # Without a destination: the warehouse with most available.
    cart_id = await cart_with(client, web, ship("JKT-M", 1))
    assert (await checkout(client, cart_id, web)).json()["lines"][0]["location"] == "WH-N"
    # More than any warehouse has: a store that has it all.
    await stock(app, [("LP", "JKT-M", 30)])
    cart_id = await cart_with(client, web, ship("JKT-M", 20))
    order = (await checkout(client, cart_id, web)).json()
    assert order["lines"][0]["location"] == "LP"
    r = await client.post(f"/v1/orders/{order['id']}/ship", headers=ADMIN)
    assert r.status_code == 200
    assert r.json()["status"] == "shipped"
    assert await level(db_conn, "LP", "JKT-M") == (10, 0)


async def test_uncollected_pickup_orders_expire_by_themselves(client: httpx.AsyncClient, shop, db_conn, app) -> None:
    web = shop["storefront"]
    cart_id = await cart_with(client, web, pickup("JKT-M", 3))
    order = (await checkout(client, cart_id, web)).json()
    hold = datetime.fromisoformat(order["pickup"]["hold_until"])
    assert await sweep_once(app.state.sessionmaker, now=hold - timedelta(minutes=1)) == 0
    assert await sweep_once(app.state.sessionmaker, now=hold + timedelta(seconds=1)) == 1
    got = (await client.get(f"/v1/orders/{order['id']}", headers=web)).json()
    assert got["status"] == "expired"
    assert await level(db_conn, "LOOP", "JKT-M") == (5, 0)
    assert await db_conn.fetchval("SELECT count(*) FROM events WHERE type = 'order.expired'") == 1
    assert await sweep_once(app.state.sessionmaker, now=hold + timedelta(days=1)) == 0


async def test_pickup_at_several_stores_is_refused(client: httpx.AsyncClient, shop) -> None:
    web = shop["storefront"]
    cart_id = await cart_with(client, web, pickup("JKT-M", 1), pickup("JKT-M", 1, store="LP"))
    r = await checkout(client, cart_id, web)
    assert r.status_code == 422
    assert r.json()["code"] == "multiple_pickup_stores"


async def test_empty_cart_is_422(client: httpx.AsyncClient, shop) -> None:
    cart_id = await cart_with(client, shop["storefront"])
    r = await checkout(client, cart_id, shop["storefront"])
    assert r.status_code == 422
    assert r.json()["code"] == "empty_cart"
    r = await checkout(client, "no-such-cart", shop["storefront"])
    assert r.status_code == 404


async def test_a_single_line_pickup_checkout_takes_3_statements_and_answers_what_it_wrote(
    client: httpx.AsyncClient, shop, db_conn, app
) -> None:
    from sqlalchemy import event

    web = shop["storefront"]
    await client.put("/v1/promotions/jackets", json={"title": "J", "kind": "percent_off", "value": 10}, headers=ADMIN)
    cart_id = await cart_with(client, web, pickup("JKT-M", 2))
    # Per driver connection: the statements sent through SQLAlchemy (its cursor events), and what the
    # driver sends by itself (its query logger: BEGIN, COMMIT and the statements sent on the driver
    # connection directly, which SQLAlchemy does not see), each with how many of the former preceded
    # its answer. asyncpg's own type introspection (once per statement and connection) is left out.
    orm: dict[int, list[str]] = {}
    driver: dict[int, list[tuple[str, int]]] = {}
    loggers: dict[int, tuple[Any, Any]] = {}

    def through_sqlalchemy(conn, _cursor, statement, *_args: object) -> None:
        orm.setdefault(id(conn.connection.driver_connection), []).append(statement)

    def lent(dbapi_conn, _record, _proxy) -> None:
        conn = dbapi_conn.driver_connection

        def logged(record) -> None:
            if "typeinfo_tree" not in record.query and "'jit'" not in record.query:
                driver.setdefault(id(conn), []).append((record.query, len(orm.get(id(conn), []))))

        if id(conn) not in loggers:
            conn.add_query_logger(logged)
            loggers[id(conn)] = (conn, logged)

    # The API key is looked up once before (the auth layer's, cached outside tests).
    resolver = app.state.key_resolver
    resolver.ttl, ttl = 60.0, resolver.ttl
    assert (await client.get(f"/v1/carts/{cart_id}", headers=web)).status_code == 200
    engine = app.state.checkout_engine.sync_engine
    event.listen(engine, "before_cursor_execute", through_sqlalchemy)
    event.listen(engine.pool, "checkout", lent)
    try:
        r = await checkout(client, cart_id, web, {"email": "ann@example.com", "phone": "+1 312 555 0100"})
        await asyncio.sleep(0)  # the query logger's callbacks run soon after each query
    finally:
        resolver.ttl = ttl
        event.remove(engine, "before_cursor_execute", through_sqlalchemy)
        event.remove(engine.pool, "checkout", lent)
        for conn, logged in loggers.values():
            conn.remove_query_logger(logged)
    assert r.status_code == 201, r.text
    [conn] = orm
    shown = "\n---\n".join([*orm[conn], *(q for q, _ in driver[conn])])
    # Through SQLAlchemy: key claim, stored response, cart lock and priced lines; the promotions.
    assert len(orm[conn]) == 2, shown
    assert "pg_try_advisory_xact_lock" in orm[conn][0] and "FOR UPDATE" in orm[conn][0], shown
    assert "FROM cart_lines" in orm[conn][0] and "FROM promotions" in orm[conn][1], shown
    # On the driver: BEGIN (with the first statement), then after both the order with its stored
    # response and its reservation (a checkout alone in its transaction needs no separate lock), and
    # COMMIT: 5 round trips.
    assert [(q.split()[0].upper(), before) for q, before in driver[conn]] == [
        ("BEGIN;", 1),
        ("WITH", 2),
        ("COMMIT;", 2),
    ], shown
    place = driver[conn][1][0]
    assert all(f"INSERT INTO {table}" in place for table in ("orders", "idempotency_keys", "reservations")), shown

    # The response is built from what was written: it is what reading the order back answers.
    order = r.json()
    assert (await client.get(f"/v1/orders/{order['id']}", headers=web)).json() == order
    assert order["totals"] == {
        "subtotal": {"amount": 17800, "currency": "USD"},
        "discount_total": {"amount": 1780, "currency": "USD"},
        "total": {"amount": 16020, "currency": "USD"},
    }
    title = await db_conn.fetchval("SELECT title FROM variants WHERE sku = 'JKT-M'")
    assert [(line["title"], line["promotion_id"]) for line in order["lines"]] == [(title, "jackets")]
    data = await db_conn.fetchval("SELECT data FROM events WHERE type = 'order.placed'")
    assert json.loads(data) == {
        "order_id": order["id"],
        "number": order["number"],
        "status": "placed",
        "customer_id": None,
        "channel": "web",
        "pickup_store": "LOOP",
        "total": {"amount": 16020, "currency": "USD"},
    }
    assert await db_conn.fetchval("SELECT status FROM carts WHERE id = $1", cart_id) == "checked_out"


async def test_an_associate_cannot_place_an_order_for_another_store(client: httpx.AsyncClient, shop, db_conn) -> None:
    cart_id = await cart_with(client, shop["lp"], pickup("JKT-M", 1))
    r = await checkout(client, cart_id, shop["lp"])
    assert r.status_code == 403, r.text
    assert await level(db_conn, "LOOP", "JKT-M") == (5, 0)
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 0
    assert await db_conn.fetchval("SELECT status FROM carts WHERE id = $1", cart_id) == "active"


async def test_the_same_key_sent_at_once_places_one_order_and_every_answer_is_it(
    client: httpx.AsyncClient, shop, db_conn
) -> None:
    web = shop["storefront"]
    cart_id = await cart_with(client, web, pickup("JKT-M", 1))
    body = {"email": "ann@example.com"}
    answers = await asyncio.gather(*(checkout(client, cart_id, web, body, key="once") for _ in range(8)))
    placed = [r for r in answers if r.status_code == 201]
    assert placed, [r.text for r in answers]
    # The others found the first still running: 409 request_in_flight, retry shortly.
    assert all(r.status_code == 201 or r.json()["code"] == "request_in_flight" for r in answers), [
        r.text for r in answers
    ]
    assert len({r.content for r in placed}) == 1
    again = await checkout(client, cart_id, web, body, key="once")
    assert again.status_code == 201 and again.content == placed[0].content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 1
    assert await level(db_conn, "LOOP", "JKT-M") == (5, 1)


async def test_a_line_added_while_checkout_waits_for_the_cart_is_in_the_order(
    client: httpx.AsyncClient, shop, db_conn, database_url: str
) -> None:
    """Checkout reads the lines in the statement that locks the cart; an edit that committed while it
    waited for that lock is not in the statement's snapshot, so the lines are read again."""
    from tests.conftest import _asyncpg_dsn

    web = shop["storefront"]
    cart_id = await cart_with(client, web, pickup("JKT-M", 1))
    editor = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        edit = editor.transaction()
        await edit.start()
        # As the cart service edits: the version bump locks the cart, then the line.
        await editor.execute("UPDATE carts SET version = version + 1 WHERE id = $1", cart_id)
        await editor.execute(
            "INSERT INTO cart_lines (cart_id, sku, pickup_store, quantity) VALUES ($1, 'JKT-L', 'LOOP', 1)", cart_id
        )
        task = asyncio.create_task(checkout(client, cart_id, web))
        waiting = None
        for _ in range(200):
            waiting = await db_conn.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'commerce' AND wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting, "checkout never waited for the cart"
        await edit.commit()
    finally:
        await editor.close()
    r = await task
    assert r.status_code == 201, r.text
    assert [(line["sku"], line["quantity"]) for line in r.json()["lines"]] == [("JKT-M", 1), ("JKT-L", 1)]
    assert r.json() == (await client.get(f"/v1/orders/{r.json()['id']}", headers=web)).json()
    assert await level(db_conn, "LOOP", "JKT-L") == (1, 1)
