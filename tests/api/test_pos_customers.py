"""Customer identifiers on till events: a sale or return carrying a loyalty id, an email or a phone is linked
to that customer (matched as an imported order's, or created) and joins their history, profile, segments and
ad conversions."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.api.test_ads import click, export, gclid, ndjson
from tests.conftest import ADMIN, Api, _asyncpg_dsn
from tests.shopping import sync
from tests.stock import stock

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def shop(api: Api, app: Any) -> None:
    await api.store("LOOP")
    await api.store("RN")
    await api.product("beans", ["BEANS"], price=1_200)
    await stock(app, [("LOOP", "BEANS", 1_000), ("RN", "BEANS", 1_000)])


def sale(event_id: str, customer: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": event_id,
        "type": "sale",
        "occurred_at": (NOW - timedelta(hours=1)).isoformat(),
        "lines": [{"sku": "BEANS", "quantity": 1, "unit_price": {"amount": 1_200, "currency": "USD"}}],
        **extra,
    }
    if customer is not None:
        event["customer"] = customer
    return event


async def send(client: httpx.AsyncClient, events: list[Any], store: str = "LOOP") -> list[dict[str, Any]]:
    r = await client.post(f"/v1/pos/{store}/events", json={"events": events}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return list(r.json()["results"])


async def till_sales(client: httpx.AsyncClient, customer_id: str) -> list[str]:
    r = await client.get(f"/v1/customers/{customer_id}/orders", params={"limit": 50}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"] if item["source"] == "pos"]


async def find(client: httpx.AsyncClient, **identifier: str) -> list[dict[str, Any]]:
    r = await client.get("/v1/customers", params=identifier, headers=ADMIN)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_a_sale_with_an_email_or_a_phone_joins_the_existing_customers_history(
    client: httpx.AsyncClient, api: Api, db_conn: asyncpg.Connection, shop: None
) -> None:
    ann = await api.customer(email="ann@example.com")
    bob = await api.customer(phone="+1 (312) 555-0100")
    results = await send(
        client,
        [
            sale("by-email", {"email": "  Ann@Example.COM "}),
            # Another way of writing Bob's number: normalised as customers' phones are.
            sale("by-phone", {"phone": "+1 312-555-0100"}),
            sale("by-nobody"),
        ],
    )
    assert [r["status"] for r in results] == ["applied"] * 3
    assert await till_sales(client, ann["id"]) == ["by-email"]
    assert await till_sales(client, bob["id"]) == ["by-phone"]
    assert await db_conn.fetchval("SELECT count(*) FROM customers") == 2
    assert await db_conn.fetchval("SELECT customer_id FROM pos_events WHERE event_id = 'by-nobody'") is None


async def test_new_identifiers_make_one_customer_and_the_loyalty_id_is_matched_first(
    client: httpx.AsyncClient, api: Api, db_conn: asyncpg.Connection, shop: None
) -> None:
    ann = await api.customer(email="ann@example.com", loyalty_id="L-ANN")
    results = await send(
        client,
        [
            sale("new-1", {"email": "New@Example.com", "phone": "+44 20 7946 0958"}),
            # The same person in the same batch, by the phone alone.
            sale("new-2", {"phone": "+442079460958"}),
            # A loyalty id wins over an email held by another customer.
            sale("ann-1", {"email": "new@example.com", "loyalty_id": "L-ANN"}),
            # The top-level loyalty id and the customer object's combine.
            sale("ann-2", {"email": "ann@example.com"}, loyalty_id="L-ANN"),
            {**sale("ann-3"), "type": "return", "loyalty_id": "L-ANN"},
        ],
    )
    assert [r["status"] for r in results] == ["applied"] * 5
    [new] = await find(client, email="new@example.com")
    assert (new["phone"], new["loyalty_id"]) == ("+442079460958", None)
    assert sorted(await till_sales(client, new["id"])) == ["new-1", "new-2"]
    assert sorted(await till_sales(client, ann["id"])) == ["ann-1", "ann-2", "ann-3"]
    # A sale in another store by the phone alone, later: the same customer.
    assert (await send(client, [sale("new-3", {"phone": "+44 (20) 7946-0958"})], store="RN"))[0]["status"] == "applied"
    assert sorted(await till_sales(client, new["id"])) == ["new-1", "new-2", "new-3"]
    assert await db_conn.fetchval("SELECT count(*) FROM customers") == 2


async def on_hand(db_conn: asyncpg.Connection, store: str = "LOOP") -> int:
    return int(
        await db_conn.fetchval("SELECT on_hand FROM inventory_levels WHERE store_code = $1 AND sku = 'BEANS'", store)
    )


async def test_a_bad_identifier_never_stops_its_sale(
    client: httpx.AsyncClient, db_conn: asyncpg.Connection, shop: None
) -> None:
    before = await on_hand(db_conn)
    batch = [
        sale("good", {"email": "good@example.com"}),
        sale("bad-email", {"email": "not-an-email"}),
        sale("bad-phone", {"phone": "call me maybe"}),
        sale("short-phone", {"phone": "12"}),
        sale("spaced-loyalty", loyalty_id="1234 5678 9012"),
        sale("long-loyalty", loyalty_id="L" * 65),
        sale("too-long-loyalty", loyalty_id="L" * 101),
        sale("two-loyalties", {"loyalty_id": "L-1"}, loyalty_id="L-2"),
        sale("unknown-field", {"name": "Ann"}),
        sale("not-a-string", {"email": 42}),
    ]
    results = await send(client, batch)
    assert results[0] == {"event_id": "good", "status": "applied"}
    assert [(r["event_id"], r["status"], r["code"]) for r in results[1:]] == [
        (e["event_id"], "applied", "customer_not_linked") for e in batch[1:]
    ]
    details = {r["event_id"]: r["detail"] for r in results[1:]}
    assert "`email` 'not-an-email' ignored" in details["bad-email"]
    assert "`phone` 'call me maybe' ignored" in details["bad-phone"] and "not a valid number" in details["bad-phone"]
    assert "`loyalty_id` '1234 5678 9012' ignored" in details["spaced-loyalty"]
    assert "differ" in details["two-loyalties"]
    assert "`customer` ignored" in details["unknown-field"]
    assert "`loyalty_id` ignored" in details["too-long-loyalty"]
    # Every sale moved the stock; only the good one is linked to a customer.
    assert await on_hand(db_conn) == before - len(batch)
    assert await db_conn.fetchval("SELECT count(*) FROM pos_events") == len(batch)
    assert await db_conn.fetchval("SELECT count(*) FROM pos_events WHERE customer_id IS NOT NULL") == 1
    assert await db_conn.fetchval("SELECT array_agg(email) FROM customers") == ["good@example.com"]
    # The till sent the loyalty id it had: it is kept with the sale.
    assert await db_conn.fetchval("SELECT loyalty_id FROM pos_events WHERE event_id = 'spaced-loyalty'") == (
        "1234 5678 9012"
    )
    # Resent (corrected or not), they are duplicates: the stock moved once.
    again = await send(client, [*batch[1:], sale("bad-email", {"email": "fixed@example.com"})])
    assert {(r["status"], r.get("code")) for r in again} == {("duplicate", None)}
    assert await on_hand(db_conn) == before - len(batch)


async def test_a_bad_phone_beside_a_good_email_links_by_the_email(
    client: httpx.AsyncClient, api: Api, db_conn: asyncpg.Connection, shop: None
) -> None:
    ann = await api.customer(email="ann@example.com")
    before = await on_hand(db_conn)
    results = await send(
        client,
        [
            sale("ann-1", {"email": "ann@example.com", "phone": "555-0100"}),
            sale("new-1", {"email": "new@example.com", "phone": "555-0100", "loyalty_id": "1 2"}),
        ],
    )
    assert [(r["status"], r["code"]) for r in results] == [("applied", "customer_identifier_ignored")] * 2
    assert "`phone` '555-0100' ignored" in results[0]["detail"]
    assert "`loyalty_id` '1 2' ignored" in results[1]["detail"]
    assert await on_hand(db_conn) == before - 2
    assert await till_sales(client, ann["id"]) == ["ann-1"]
    # The new customer holds only the identifiers that were valid.
    [new] = await find(client, email="new@example.com")
    assert (new["phone"], new["loyalty_id"]) == (None, None)
    assert await till_sales(client, new["id"]) == ["new-1"]


async def test_a_replayed_sale_does_not_create_its_customer_twice(
    client: httpx.AsyncClient, db_conn: asyncpg.Connection, shop: None
) -> None:
    batch = [
        sale("s-1", {"email": "once@example.com", "phone": "(312) 555-0199"}),
        sale("s-2", {"phone": "+1 3125550199"}),
    ]
    assert [r["status"] for r in await send(client, batch)] == ["applied", "applied"]
    assert [r["status"] for r in await send(client, batch)] == ["duplicate", "duplicate"]
    [customer] = await db_conn.fetch("SELECT id, email, phone FROM customers")
    assert (customer["email"], customer["phone"]) == ("once@example.com", "+13125550199")
    linked = await db_conn.fetch("SELECT DISTINCT customer_id FROM pos_events")
    assert [r["customer_id"] for r in linked] == [customer["id"]]


async def test_concurrent_batches_naming_the_same_new_email_make_one_customer(
    client: httpx.AsyncClient, db_conn: asyncpg.Connection, database_url: str, shop: None
) -> None:
    # Another transaction holds the email (uncommitted), so both batches reach the customer insert and wait on
    # it together; when it rolls back they race to create the customer.
    blocker = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("INSERT INTO customers (id, email) VALUES ($1, 'race@example.com')", uuid.uuid4())
        batches = [
            asyncio.create_task(send(client, [sale(f"{store}-1", {"email": "race@example.com"})], store=store))
            for store in ("LOOP", "RN")
        ]
        for _ in range(500):
            waiting = await db_conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE '%INSERT INTO customers%'"
            )
            if waiting == 2:
                break
            await asyncio.sleep(0.02)
        assert waiting == 2
        await tx.rollback()
        results = await asyncio.gather(*batches)
    finally:
        await blocker.close()
    assert [r[0]["status"] for r in results] == ["applied", "applied"]
    [customer] = await db_conn.fetch("SELECT id FROM customers WHERE email = 'race@example.com'")
    linked = await db_conn.fetch("SELECT customer_id FROM pos_events ORDER BY store_code")
    assert [r["customer_id"] for r in linked] == [customer["id"]] * 2


async def test_a_sale_by_email_updates_the_profile_and_segments_in_its_transaction(
    client: httpx.AsyncClient, api: Api, app: Any, shop: None
) -> None:
    ann = await api.customer(email="ann@example.com")
    r = await client.put(
        "/v1/segments/bean-buyers",
        json={"title": "Bean buyers", "rules": [{"fact": "bought_sku", "op": "eq", "value": "BEANS"}]},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    await sync(app)
    assert (await send(client, [sale("s-1", {"email": "ann@example.com"})], store="RN"))[0]["status"] == "applied"

    # No worker run: the till batch refreshed the profile and membership.
    r = await client.get(f"/v1/customers/{ann['id']}/profile", headers=ADMIN)
    assert r.status_code == 200, r.text
    profile = r.json()
    assert profile["orders_count"] == 1 and profile["channels"] == {"store": 1}
    assert profile["lifetime_value"] == {"amount": 1_200, "currency": "USD"}
    assert profile["favorite_store"] == "RN"
    r = await client.get("/v1/segments/bean-buyers/members", headers=ADMIN)
    assert [m["customer_id"] for m in r.json()["items"]] == [ann["id"]]


async def test_an_offline_conversion_export_has_a_sale_matched_by_email(
    client: httpx.AsyncClient, api: Api, shop: None
) -> None:
    ann = await api.customer(email="ann@example.com", marketing_consent={"email": True})
    bought = NOW - timedelta(days=1)
    r = await click(client, ADMIN, "google", gclid(1), bought - timedelta(days=3), customer_id=ann["id"])
    assert r.status_code == 201, r.text
    results = await send(client, [sale("s-1", {"email": "ANN@example.com"}, occurred_at=bought.isoformat())])
    assert results[0]["status"] == "applied"
    rows = ndjson(await export(client, "google", "ndjson"))
    assert [(row["conversion_id"], row["click"]["click_id"]) for row in rows] == [("pos:LOOP:s-1", gclid(1))]


async def test_the_customer_a_till_sale_created_is_looked_up_and_updated_not_created_again(
    client: httpx.AsyncClient, shop: None
) -> None:
    assert (await send(client, [sale("s-1", loyalty_id="L-NEW")]))[0]["status"] == "applied"
    # Signing the shopper up afterwards with that loyalty card: the customer already exists.
    r = await client.post("/v1/customers", json={"loyalty_id": "L-NEW", "email": "new@example.com"}, headers=ADMIN)
    assert r.status_code == 409 and r.json()["code"] == "identifier_taken"
    # The conflict names that customer, to be updated instead.
    [found] = await find(client, loyalty_id="L-NEW")
    assert r.json()["customer_id"] == found["id"]
    r = await client.patch(f"/v1/customers/{r.json()['customer_id']}", json={"email": "new@example.com"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert await till_sales(client, found["id"]) == ["s-1"]
    # Later sales by the email alone join the same customer.
    assert (await send(client, [sale("s-2", {"email": "new@example.com"})]))[0]["status"] == "applied"
    assert sorted(await till_sales(client, found["id"])) == ["s-1", "s-2"]


async def test_a_square_e164_phone_finds_the_customer_who_gave_it_without_a_country_code(
    client: httpx.AsyncClient, api: Api, db_conn: asyncpg.Connection, shop: None
) -> None:
    kim = (await api.customer(phone="312-555-0161"))["id"]
    results = await send(client, [sale("sq-1", {"phone": "+13125550161"}), sale("bad", {"phone": "555 0100"})])
    assert results[0] == {"event_id": "sq-1", "status": "applied"}
    assert (results[1]["status"], results[1]["code"]) == ("applied", "customer_not_linked")
    assert len(await till_sales(client, kim)) == 1
    linked = await db_conn.fetchval("SELECT customer_id FROM pos_events WHERE event_id = 'sq-1'")
    assert str(linked) == kim
    assert await db_conn.fetchval("SELECT count(*) FROM customers") == 1
