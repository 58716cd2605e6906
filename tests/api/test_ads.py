"""Ad clicks joined to customers, offline-conversion and audience exports, and the omnichannel report."""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from commerce.ads.exports import stream_conversions
from tests.conftest import ADMIN, Api
from tests.shopping import order, sync, till
from tests.stock import stock

NOW = datetime.now(UTC).replace(microsecond=0)
PERIOD = {"since": (NOW - timedelta(days=30)).isoformat(), "until": (NOW + timedelta(days=1)).isoformat()}


def gclid(n: int) -> str:
    return f"Cj0KCQiA-test-gclid-{n:04d}_abcdefgh"


def fbclid(n: int) -> str:
    return f"IwAR-test-fbclid-{n:04d}_abcdefgh"


@pytest.fixture
async def shop(api: Api, app: Any) -> None:
    await api.store("LOOP")
    await api.product("beans", ["BEANS"], price=1_200)
    await stock(app, [("LOOP", "BEANS", 1_000)])


async def click(
    client: httpx.AsyncClient, headers: dict[str, str], network: str, click_id: str, at: datetime, **extra: Any
) -> httpx.Response:
    body = {"network": network, "click_id": click_id, "clicked_at": at.isoformat(), **extra}
    return await client.post("/v1/ad-clicks", json=body, headers=headers)


async def consenting(api: Api, name: str, loyalty_id: str, *, email: bool = True, sms: bool = True) -> dict[str, Any]:
    return await api.customer(
        email=f"{name}.Smith+store@Gmail.com",
        phone="(312) 555-0100" if name == "ann" else "(312) 555-0142",
        loyalty_id=loyalty_id,
        marketing_consent={"email": email, "sms": sms},
    )


async def export(client: httpx.AsyncClient, network: str, fmt: str, **period: str) -> httpx.Response:
    params = {"network": network, "format": fmt, **(period or PERIOD)}
    return await client.get("/v1/exports/offline-conversions", params=params, headers=ADMIN)


def ndjson(r: httpx.Response) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines() if line]


async def test_a_click_is_recorded_once_and_joined_to_the_token_customer(
    client: httpx.AsyncClient, api: Api, db_conn: Any, shop: None
) -> None:
    ann = await consenting(api, "ann", "L-ANN")
    token = await api.customer_token(ann["id"])
    r = await click(client, token, "google", gclid(1), NOW - timedelta(days=1), campaign="autumn")
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["customer_id"] == ann["id"] and first["click_id_type"] == "gclid"
    again = await click(client, token, "google", gclid(1), NOW, campaign="other")
    assert again.status_code == 200 and again.json() == first
    assert await db_conn.fetchval("SELECT count(*) FROM ad_clicks") == 1
    # Another shopper sending the same click id learns nothing about whose it is.
    bob = await api.customer(email="bob@example.com")
    r = await click(client, await api.customer_token(bob["id"]), "google", gclid(1), NOW)
    assert r.status_code == 200 and r.json()["customer_id"] is None
    assert await db_conn.fetchval("SELECT customer_id::text FROM ad_clicks") == ann["id"]


async def test_bad_clicks_are_refused(client: httpx.AsyncClient, api: Api, shop: None) -> None:
    ann = await consenting(api, "ann", "L-ANN")
    token = await api.customer_token(ann["id"])
    storefront = await api.key("storefront")
    for network, click_id, at, extra in [
        ("google", "bad id with spaces", NOW, {}),
        ("google", "short", NOW, {}),
        ("google", gclid(1), NOW + timedelta(hours=1), {}),
        ("meta", fbclid(1), NOW, {"click_id_type": "gclid"}),
    ]:
        r = await click(client, token, network, click_id, at, **extra)
        assert r.status_code == 422 and r.json()["code"] == "validation_failed", r.text
    r = await client.post(
        "/v1/ad-clicks", json={"network": "bing", "click_id": gclid(1), "clicked_at": NOW.isoformat()}, headers=token
    )
    assert r.status_code == 422
    r = await client.post(
        "/v1/ad-clicks",
        json={"network": "google", "click_id": gclid(1), "clicked_at": "2026-01-01T00:00:00"},
        headers=token,
    )
    assert r.status_code == 422
    # Anonymous without a cart: nobody to join it to. A cart that does not exist: 404.
    r = await click(client, storefront, "google", gclid(2), NOW)
    assert r.status_code == 422
    r = await click(client, storefront, "google", gclid(2), NOW, cart_id="no-such-cart")
    assert r.status_code == 404
    r = await click(client, storefront, "google", gclid(2), NOW, customer_id=ann["id"])
    assert r.status_code == 403
    # Another customer's cart is not there for this token.
    bob = await api.customer(email="bob@example.com")
    bob_cart = (await client.get(f"/v1/customers/{bob['id']}/cart", headers=ADMIN)).json()["id"]
    r = await click(client, token, "google", gclid(3), NOW, cart_id=bob_cart)
    assert r.status_code == 404
    for role in ("pos", "associate", "ads", "integration"):
        r = await click(
            client, await api.key(role, "LOOP" if role in ("pos", "associate") else None), "google", gclid(4), NOW
        )
        assert r.status_code == 403


async def test_an_anonymous_click_joins_the_customer_its_cart_is_merged_into(
    client: httpx.AsyncClient, api: Api, shop: None
) -> None:
    ann = await consenting(api, "ann", "L-ANN")
    storefront = await api.key("storefront")
    cart = (await client.post("/v1/carts", json={"channel": "web"}, headers=storefront)).json()["id"]
    r = await click(client, storefront, "google", gclid(1), NOW - timedelta(days=3), cart_id=cart)
    assert r.status_code == 201 and r.json()["customer_id"] is None
    await till(client, "LOOP", "L-ANN", ("BEANS", 1, 1_200), at=NOW - timedelta(days=1))
    assert ndjson(await export(client, "google", "ndjson")) == []

    # Ann signs in on that device: the anonymous cart merges into hers, and the click is hers.
    token = await api.customer_token(ann["id"])
    r = await client.post("/v1/me/cart/merge", json={"cart_id": cart}, headers=token)
    assert r.status_code == 200, r.text
    rows = ndjson(await export(client, "google", "ndjson"))
    assert [(row["customer_id"], row["click"]["click_id"]) for row in rows] == [(ann["id"], gclid(1))]


async def test_the_window_is_inclusive_of_89_days_and_excludes_91(
    client: httpx.AsyncClient, api: Api, admin: dict[str, str], shop: None
) -> None:
    ann = await consenting(api, "ann", "L-ANN")
    bob = await consenting(api, "bob", "L-BOB")
    bought = NOW - timedelta(days=1)
    assert (
        await click(client, admin, "google", gclid(1), bought - timedelta(days=89), customer_id=ann["id"])
    ).status_code == 201
    assert (
        await click(client, admin, "google", gclid(2), bought - timedelta(days=91), customer_id=bob["id"])
    ).status_code == 201
    # Meta's window is 28 days: 27 in, 29 out.
    assert (
        await click(client, admin, "meta", fbclid(1), bought - timedelta(days=27), customer_id=ann["id"])
    ).status_code == 201
    assert (
        await click(client, admin, "meta", fbclid(2), bought - timedelta(days=29), customer_id=bob["id"])
    ).status_code == 201
    ann_sale = await till(client, "LOOP", "L-ANN", ("BEANS", 1, 1_200), at=bought)
    await till(client, "LOOP", "L-BOB", ("BEANS", 1, 1_200), at=bought)

    google = ndjson(await export(client, "google", "ndjson"))
    assert [r["conversion_id"] for r in google] == [f"pos:LOOP:{ann_sale}"]
    meta = ndjson(await export(client, "meta", "meta_ndjson"))
    assert [e["event_id"] for e in meta] == [f"pos:LOOP:{ann_sale}"]


async def test_the_last_click_before_the_purchase_wins(
    client: httpx.AsyncClient, api: Api, admin: dict[str, str], shop: None
) -> None:
    ann = await consenting(api, "ann", "L-ANN")
    bought = NOW - timedelta(days=2)
    for n, days, campaign in [(1, 20, "early"), (2, 3, "latest"), (3, 10, "middle")]:
        r = await click(
            client, admin, "google", gclid(n), bought - timedelta(days=days), campaign=campaign, customer_id=ann["id"]
        )
        assert r.status_code == 201
    # A click after the purchase cannot have caused it.
    await click(client, admin, "google", gclid(4), bought + timedelta(hours=1), campaign="after", customer_id=ann["id"])
    sale = await till(client, "LOOP", "L-ANN", ("BEANS", 2, 1_250), ("BEANS", 1, 999), at=bought)

    rows = ndjson(await export(client, "google", "ndjson"))
    assert len(rows) == 1
    row = rows[0]
    assert row["click"]["campaign"] == "latest" and row["click"]["click_id"] == gclid(2)
    assert row["value"] == {"amount": 3_499, "currency": "USD"} and row["value_decimal"] == "34.99"
    assert row["hashed_email"] == hashlib.sha256(b"annsmith@gmail.com").hexdigest()
    assert row["hashed_phone"] == hashlib.sha256(b"+13125550100").hexdigest()
    assert row["items"] == [{"sku": "BEANS", "quantity": 2}, {"sku": "BEANS", "quantity": 1}]

    r = await export(client, "google", "google_csv")
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    lines = r.text.splitlines()
    assert lines[0] == "Parameters:TimeZone=+0000"
    assert list(csv.reader(io.StringIO("\n".join(lines[1:])))) == [
        ["Google Click ID", "Conversion Name", "Conversion Time", "Conversion Value", "Conversion Currency"],
        [gclid(2), "In-store purchase", bought.strftime("%Y-%m-%d %H:%M:%S+00:00"), "34.99", "USD"],
    ]
    # The same period again gives the same conversion ids: an upload deduplicates.
    assert ndjson(await export(client, "google", "ndjson"))[0]["conversion_id"] == f"pos:LOOP:{sale}"


async def test_gbraid_and_wbraid_purchases_are_in_ndjson_and_not_in_the_google_file(
    client: httpx.AsyncClient, api: Api, admin: dict[str, str], shop: None
) -> None:
    ann = await consenting(api, "ann", "L-ANN")
    bob = await consenting(api, "bob", "L-BOB")
    bought = NOW - timedelta(days=1)
    for customer, click_id, kind in [(ann, "gbraid-0ABCDEFGHIJ", "gbraid"), (bob, "wbraid-0ABCDEFGHIJ", "wbraid")]:
        r = await click(
            client,
            admin,
            "google",
            click_id,
            bought - timedelta(days=2),
            click_id_type=kind,
            customer_id=customer["id"],
        )
        assert r.status_code == 201, r.text
    await till(client, "LOOP", "L-ANN", ("BEANS", 1, 1_200), at=bought)
    await till(client, "LOOP", "L-BOB", ("BEANS", 1, 1_200), at=bought)

    rows = ndjson(await export(client, "google", "ndjson"))
    assert sorted((r["click"]["click_id_type"], r["click"]["click_id"]) for r in rows) == [
        ("gbraid", "gbraid-0ABCDEFGHIJ"),
        ("wbraid", "wbraid-0ABCDEFGHIJ"),
    ]
    r = await export(client, "google", "google_csv")
    assert r.status_code == 200
    assert r.text.splitlines()[1:] == [
        "Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency"
    ]


async def test_a_sale_without_a_till_price_is_valued_at_the_catalog_price(
    client: httpx.AsyncClient, api: Api, admin: dict[str, str], db_conn: Any, shop: None
) -> None:
    ann = await consenting(api, "ann", "L-ANN")
    bought = NOW - timedelta(days=1)
    await click(client, admin, "google", gclid(1), bought - timedelta(days=2), campaign="c", customer_id=ann["id"])
    sale = {
        "event_id": "unpriced",
        "type": "sale",
        "occurred_at": bought.isoformat(),
        "loyalty_id": "L-ANN",
        "lines": [
            {"sku": "BEANS", "quantity": 2},
            {"sku": "BEANS", "quantity": 1, "unit_price": {"amount": 999, "currency": "USD"}},
        ],
    }
    r = await client.post("/v1/pos/LOOP/events", json={"events": [sale]}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "applied", r.text
    # No value is stored for it; the export and the report value the unpriced line at the catalog's 1,200.
    assert await db_conn.fetchval("SELECT total_minor FROM pos_events WHERE event_id = 'unpriced'") is None
    [row] = ndjson(await export(client, "google", "ndjson"))
    assert row["value"] == {"amount": 2 * 1_200 + 999, "currency": "USD"}
    report = (await client.get("/v1/reports/omnichannel", params=PERIOD, headers=ADMIN)).json()
    assert [f["revenue"] for f in report["influenced_store_revenue"]] == [{"amount": 3_399, "currency": "USD"}]
    assert [f["revenue"] for f in report["store_purchases_all"]] == [{"amount": 3_399, "currency": "USD"}]


async def test_meta_events_follow_the_conversions_api(
    client: httpx.AsyncClient, api: Api, admin: dict[str, str], shop: None
) -> None:
    ann = await consenting(api, "ann", "L-ANN")
    bought = NOW - timedelta(days=1)
    clicked = bought - timedelta(days=2)
    await click(client, admin, "meta", fbclid(1), clicked, customer_id=ann["id"])
    sale = await till(client, "LOOP", "L-ANN", ("BEANS", 3, 1_205), at=bought)
    [event] = ndjson(await export(client, "meta", "meta_ndjson"))
    assert event["event_name"] == "Purchase" and event["action_source"] == "physical_store"
    assert event["event_time"] == int(bought.timestamp()) and event["event_id"] == f"pos:LOOP:{sale}"
    assert event["custom_data"]["currency"] == "USD"
    assert event["custom_data"]["value"] == 36.15  # a JSON number written from integer cents
    assert '"value":36.15' in (await export(client, "meta", "meta_ndjson")).text
    user = event["user_data"]
    assert user["em"] == [hashlib.sha256(b"ann.smith+store@gmail.com").hexdigest()]
    assert user["ph"] == [hashlib.sha256(b"13125550100").hexdigest()]
    assert user["fbc"] == f"fb.1.{int(clicked.timestamp()) * 1000}.{fbclid(1)}"
    assert (await export(client, "google", "meta_ndjson")).status_code == 422
    assert (await export(client, "meta", "google_csv")).status_code == 422


async def test_consent_is_read_at_export_time(
    client: httpx.AsyncClient, api: Api, admin: dict[str, str], shop: None
) -> None:
    ann = await consenting(api, "ann", "L-ANN")
    await click(client, admin, "google", gclid(1), NOW - timedelta(days=5), customer_id=ann["id"])
    await till(client, "LOOP", "L-ANN", ("BEANS", 1, 1_200), at=NOW - timedelta(days=1))
    assert len(ndjson(await export(client, "google", "ndjson"))) == 1

    # Email consent withdrawn after the click: the phone alone is sent.
    r = await client.patch(f"/v1/customers/{ann['id']}", json={"marketing_consent": {"email": False}}, headers=ADMIN)
    assert r.status_code == 200, r.text
    [row] = ndjson(await export(client, "google", "ndjson"))
    assert row["hashed_email"] is None and row["hashed_phone"] is not None
    # Every consent withdrawn: the purchase is left out.
    await client.patch(f"/v1/customers/{ann['id']}", json={"marketing_consent": {"sms": False}}, headers=ADMIN)
    assert ndjson(await export(client, "google", "ndjson")) == []
    assert (await export(client, "google", "google_csv")).text.count("\n") == 2  # parameters and header only


async def test_collected_pickups_are_in_store_purchases(
    client: httpx.AsyncClient, api: Api, admin: dict[str, str], app: Any, shop: None
) -> None:
    ann = await consenting(api, "ann", "L-ANN")
    await click(client, admin, "google", gclid(1), NOW - timedelta(days=1), customer_id=ann["id"], campaign="bopis")
    placed = await order(client, ann["id"], ("BEANS", 2))
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    assert ndjson(await export(client, "google", "ndjson")) == []  # not collected yet
    assert (await client.post(f"/v1/orders/{order_id}/ready", headers=ADMIN)).status_code == 200
    assert (await client.post(f"/v1/orders/{order_id}/collect", headers=ADMIN)).status_code == 200
    [row] = ndjson(await export(client, "google", "ndjson"))
    assert row["conversion_id"] == f"order:{order_id}" and row["source"] == "pickup"
    assert row["value"] == {"amount": 2_400, "currency": "USD"}


async def test_export_parameters_are_checked(client: httpx.AsyncClient, api: Api) -> None:
    base = {"network": "google", "format": "ndjson"}
    for params in [
        {**base, "since": NOW.isoformat(), "until": (NOW - timedelta(days=1)).isoformat()},
        {**base, "since": "yesterday", "until": NOW.isoformat()},
        {**base, **PERIOD, "format": "xml"},
        {**base, **PERIOD, "network": "bing"},
        {"network": "google"},
    ]:
        r = await client.get("/v1/exports/offline-conversions", params=params, headers=ADMIN)
        assert r.status_code in (400, 422), (params, r.status_code, r.text)
    ads = await api.key("ads")
    assert (
        await client.get("/v1/exports/offline-conversions", params={**base, **PERIOD}, headers=ads)
    ).status_code == 200
    storefront = await api.key("storefront")
    r = await client.get("/v1/exports/offline-conversions", params={**base, **PERIOD}, headers=storefront)
    assert r.status_code == 403
    assert (await client.get("/v1/reports/omnichannel", params=PERIOD, headers=ads)).status_code == 403


async def test_an_audience_is_the_segments_consented_members_hashed(
    client: httpx.AsyncClient, api: Api, app: Any, shop: None
) -> None:
    ann = await consenting(api, "ann", "L-ANN")
    await consenting(api, "bob", "L-BOB", email=False, sms=True)
    await api.customer(email="cy@example.com", loyalty_id="L-CY")  # no consent
    await api.customer(email="dee@example.com", loyalty_id="L-DEE", marketing_consent={"email": True, "sms": True})
    for loyalty in ("L-ANN", "L-BOB", "L-CY"):
        await till(client, "LOOP", loyalty, ("BEANS", 1, 1_200))
    r = await client.put(
        "/v1/segments/bean-buyers",
        json={"title": "Bean buyers", "rules": [{"fact": "bought_sku", "op": "eq", "value": "BEANS"}]},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    r = await client.get("/v1/exports/audiences/bean-buyers", params={"network": "google"}, headers=ADMIN)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"  # still backfilling
    await sync(app)

    r = await client.get(
        "/v1/exports/audiences/bean-buyers", params={"network": "google"}, headers=await api.key("ads")
    )
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["Email", "Phone"]
    assert sorted(rows[1:]) == sorted(
        [
            [hashlib.sha256(b"annsmith@gmail.com").hexdigest(), hashlib.sha256(b"+13125550100").hexdigest()],
            ["", hashlib.sha256(b"+13125550142").hexdigest()],
        ]
    )
    r = await client.get("/v1/exports/audiences/bean-buyers", params={"network": "meta"}, headers=ADMIN)
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["email", "phone"]
    assert [
        hashlib.sha256(b"ann.smith+store@gmail.com").hexdigest(),
        hashlib.sha256(b"13125550100").hexdigest(),
    ] in rows
    assert ann["id"]
    r = await client.get("/v1/exports/audiences/nope", params={"network": "meta"}, headers=ADMIN)
    assert r.status_code == 404


async def test_the_omnichannel_report(
    client: httpx.AsyncClient, api: Api, admin: dict[str, str], app: Any, db_conn: Any, shop: None
) -> None:
    ann = await consenting(api, "ann", "L-ANN")
    bob = await consenting(api, "bob", "L-BOB", email=False, sms=False)
    await api.customer(email="cy@example.com", loyalty_id="L-CY")
    await click(client, admin, "google", gclid(1), NOW - timedelta(days=10), customer_id=ann["id"], campaign="autumn")
    await click(client, admin, "meta", fbclid(1), NOW - timedelta(days=5), customer_id=bob["id"], campaign="reels")
    await till(client, "LOOP", "L-ANN", ("BEANS", 1, 1_000), at=NOW - timedelta(days=2))
    await till(client, "LOOP", "L-BOB", ("BEANS", 2, 1_000), at=NOW - timedelta(days=1))
    await till(client, "LOOP", "L-CY", ("BEANS", 5, 1_000), at=NOW - timedelta(days=1))
    # Ann also orders online and collects; Bob's online pickup order is a no-show; an associate's order
    # for Cy in store is collected but is not an online order.
    collected = (await order(client, ann["id"], ("BEANS", 1), channel="web")).json()["id"]
    await client.post(f"/v1/orders/{collected}/ready", headers=ADMIN)
    await client.post(f"/v1/orders/{collected}/collect", headers=ADMIN)
    no_show = (await order(client, bob["id"], ("BEANS", 1), channel="mobile")).json()["id"]
    await db_conn.execute("UPDATE orders SET hold_until = now() - interval '1 minute' WHERE id = $1::uuid", no_show)
    async with app.state.sessionmaker() as db, db.begin():
        from commerce.orders.service import expire_due

        assert await expire_due(db, datetime.now(UTC)) == 1
    await order(client, None, ("BEANS", 1), channel="store")

    r = await client.get("/v1/reports/omnichannel", params=PERIOD, headers=ADMIN)
    assert r.status_code == 200, r.text
    report = r.json()
    influenced = {(f["network"], f["campaign"]): f for f in report["influenced_store_revenue"]}
    # Ann: her till sale and her collected pickup (10 and 8 days after the click); Bob: his till sale.
    assert influenced[("google", "autumn")]["purchases"] == 2
    assert influenced[("google", "autumn")]["revenue"] == {"amount": 1_000 + 1_200, "currency": "USD"}
    assert influenced[("meta", "reels")]["revenue"] == {"amount": 2_000, "currency": "USD"}
    assert len(influenced) == 2
    assert report["pickup"] == {
        "orders": 3,
        "collected": 1,
        "expired": 1,
        "cancelled": 0,
        "open": 1,
        "no_show_rate": "0.5000",
    }
    assert report["online_orders_picked_up"] == [
        {"currency": "USD", "purchases": 1, "customers": 1, "revenue": {"amount": 1_200, "currency": "USD"}}
    ]
    # Ann and Bob ordered online (Bob's order expired, so only Ann counts as an online buyer).
    assert report["store_purchases_by_online_buyers"] == [
        {"currency": "USD", "purchases": 1, "customers": 1, "revenue": {"amount": 1_000, "currency": "USD"}}
    ]
    assert report["store_purchases_all"] == [
        {"currency": "USD", "purchases": 3, "customers": 3, "revenue": {"amount": 8_000, "currency": "USD"}}
    ]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads resident memory from /proc (Linux)")
async def test_a_100k_row_export_streams_in_constant_memory(app: Any, db_conn: Any, shop: None) -> None:
    customers, sales = 10_000, 100_000
    # Set-based: customers with consent and a click each, then 100k loyalty sales spread over them (each linked
    # to its customer and with its value, as ingest stores them).
    await db_conn.execute(
        """
        INSERT INTO customers (id, email, phone, loyalty_id, email_consent, sms_consent)
        SELECT gen_random_uuid(), 'shopper' || i || '@example.com', '+1312' || (2000000 + i), 'L-' || i, true, true
        FROM generate_series(1, $1) i
        """,
        customers,
    )
    await db_conn.execute(
        """
        INSERT INTO ad_clicks (network, click_id, click_id_type, clicked_at, campaign, customer_id)
        SELECT 'google', 'Cj0KCQiA-bulk-' || lpad(c.loyalty_id, 12, '0'), 'gclid', now() - interval '20 days',
               'bulk', c.id
        FROM customers c
        """
    )
    await db_conn.execute(
        """
        INSERT INTO pos_events (store_code, event_id, type, occurred_at, loyalty_id, customer_id, lines, total_minor,
                                currency)
        SELECT 'LOOP', 'bulk-' || i, 'sale', now() - interval '10 days' + i * interval '1 second',
               'L-' || (1 + i % $2), (SELECT c.id FROM customers c WHERE c.loyalty_id = 'L-' || (1 + i % $2)),
               jsonb_build_array(jsonb_build_object('sku', 'BEANS', 'quantity', 1 + i % 3,
                                 'unit_price', jsonb_build_object('amount', 1200, 'currency', 'USD'))),
               (1 + i % 3) * 1200, 'USD'
        FROM generate_series(1, $1) i
        """,
        sales,
        customers,
    )
    await db_conn.execute("ANALYZE customers; ANALYZE ad_clicks; ANALYZE pos_events")

    gc.collect()
    started = time.perf_counter()
    baseline = peak = _rss_bytes()
    rows = size = 0
    chunks = stream_conversions(
        app.state.engine,
        app.state.settings,
        network="google",
        fmt="ndjson",
        since=NOW - timedelta(days=30),
        until=NOW + timedelta(days=1),
    )
    async for chunk in chunks:
        rows += chunk.count(b"\n")
        size += len(chunk)
        peak = max(peak, _rss_bytes())
    growth = peak - baseline
    print(
        f"\n100k-row export: {rows} rows, {size / 2**20:.1f} MiB streamed in {time.perf_counter() - started:.1f} s, "
        f"peak RSS +{growth / 2**20:.1f} MiB"
    )
    assert rows == sales
    # Holding the export would take its whole size; streaming it takes a few chunks' worth.
    assert size > 50 * 2**20
    assert growth < 25 * 2**20, f"peak RSS grew by {growth / 2**20:.1f} MiB while streaming {size / 2**20:.1f} MiB"
