"""Customer tokens: minted by an admin for one customer, stored hashed, acting for that customer only,
refused once expired or revoked (also when the lookup is cached)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import pytest
from litestar import Litestar

from commerce.settings import Settings
from tests.api.test_checkout import cart_with, checkout, pickup, stock
from tests.conftest import ADMIN, Api, app_client, bearer


async def test_token_is_shown_once_stored_hashed_and_acts_for_its_customer(
    client: httpx.AsyncClient, api: Api, db_conn
) -> None:
    ana = await api.customer(email="ana@example.com")
    before = datetime.now(UTC)
    r = await client.post(f"/v1/customers/{ana['id']}/tokens", json={"ttl_minutes": 90}, headers=ADMIN)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["customer_id"] == ana["id"] and body["token"].startswith("ct_")
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(minutes=89) < expires_at < datetime.now(UTC) + timedelta(minutes=91)
    rows = await db_conn.fetch("SELECT * FROM customer_tokens")
    assert len(rows) == 1 and rows[0]["token_hash"] != body["token"] and len(rows[0]["token_hash"]) == 64
    assert body["token"] not in str(rows) and rows[0]["created_by"] == "admin:env-admin"

    token = bearer(body["token"])
    assert (await client.get("/v1/me", headers=token)).json() == ana
    assert (await client.get(f"/v1/customers/{ana['id']}", headers=token)).json() == ana
    # A cart created with the token belongs to the customer: it is their one active cart.
    r = await client.post("/v1/carts", json={"channel": "mobile"}, headers=token)
    assert r.status_code == 201 and r.json()["customer_id"] == ana["id"]
    assert (await client.get("/v1/me/cart", headers=token)).json()["id"] == r.json()["id"]
    # The default lifetime is a day.
    r = await client.post(f"/v1/customers/{ana['id']}/tokens", headers=ADMIN)
    lifetime = datetime.fromisoformat(r.json()["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=23, minutes=59) < lifetime <= timedelta(hours=24)


async def test_minting_is_admin_only_and_bounded(client: httpx.AsyncClient, api: Api) -> None:
    ana = await api.customer(email="ana@example.com")
    url = f"/v1/customers/{ana['id']}/tokens"
    for ttl in (0, 43_201, -5, None):
        r = await client.post(url, json={"ttl_minutes": ttl}, headers=ADMIN)
        assert r.status_code == 422, (ttl, r.text)
    assert (await client.post(url, json={"ttl_minutes": 43_200}, headers=ADMIN)).status_code == 201
    assert (await client.post(url, json={"ttl": 5}, headers=ADMIN)).status_code == 422
    r = await client.post(f"/v1/customers/{uuid.uuid4()}/tokens", headers=ADMIN)
    assert r.status_code == 404
    await api.store("S1")
    for key in (await api.key("storefront"), await api.key("associate", "S1"), await api.customer_token(ana["id"])):
        assert (await client.post(url, headers=key)).status_code == 403
        assert (await client.delete(url, headers=key)).status_code == 403


async def test_expired_token_is_401(client: httpx.AsyncClient, api: Api, db_conn) -> None:
    ana = await api.customer(email="ana@example.com")
    token = await api.customer_token(ana["id"], ttl_minutes=5)
    assert (await client.get("/v1/me", headers=token)).status_code == 200
    await db_conn.execute(
        "UPDATE customer_tokens SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 second'"
    )
    r = await client.get("/v1/me", headers=token)
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"


@contextlib.asynccontextmanager
async def service_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """One more service process on the test database, as deployed: credential lookups cached for five
    minutes."""
    async with app_client(msgspec.structs.replace(settings, auth_cache_seconds=300)) as c:
        yield c


@pytest.fixture
async def cached_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with service_process(settings) as client:
        yield client


async def test_revocation_reaches_the_other_service_processes(settings: Settings, api: Api) -> None:
    ana = await api.customer(email="ana@example.com")
    token = await api.customer_token(ana["id"])
    async with service_process(settings) as one, service_process(settings) as other:
        for process in (one, other):
            assert (await process.get("/v1/me", headers=token)).status_code == 200  # now cached in both
        assert (await one.delete(f"/v1/customers/{ana['id']}/tokens", headers=ADMIN)).status_code == 204
        assert (await one.get("/v1/me", headers=token)).status_code == 401
        # The other process hears of it from the database (a notification delivered on commit).
        statuses = []
        for _ in range(100):
            statuses.append((await other.get("/v1/me", headers=token)).status_code)
            if statuses[-1] == 401:
                break
            await asyncio.sleep(0.02)
        assert statuses[-1] == 401, statuses


async def test_revocation_takes_effect_at_once_although_lookups_are_cached(
    cached_client: httpx.AsyncClient, api: Api
) -> None:
    client = cached_client
    ana, bo = await api.customer(email="ana@example.com"), await api.customer(email="bo@example.com")
    phone, laptop = await api.customer_token(ana["id"]), await api.customer_token(ana["id"])
    theirs = await api.customer_token(bo["id"])
    for token in (phone, laptop, theirs):
        assert (await client.get("/v1/me", headers=token)).status_code == 200  # now cached
    r = await client.delete(f"/v1/customers/{ana['id']}/tokens", headers=ADMIN)
    assert r.status_code == 204
    for token in (phone, laptop):
        r = await client.get("/v1/me", headers=token)
        assert r.status_code == 401, r.text
    assert (await client.get("/v1/me", headers=theirs)).status_code == 200
    # Signing in again works.
    assert (await client.get("/v1/me", headers=await api.customer_token(ana["id"]))).status_code == 200
    r = await client.delete(f"/v1/customers/{uuid.uuid4()}/tokens", headers=ADMIN)
    assert r.status_code == 404


async def test_a_cached_token_still_stops_at_its_expiry(cached_client: httpx.AsyncClient, api: Api, db_conn) -> None:
    ana = await api.customer(email="ana@example.com")
    token = await api.customer_token(ana["id"])
    await db_conn.execute("UPDATE customer_tokens SET expires_at = now() + interval '1 second'")
    assert (await cached_client.get("/v1/me", headers=token)).status_code == 200  # cached until its expiry
    await asyncio.sleep(1.2)
    assert (await cached_client.get("/v1/me", headers=token)).status_code == 401


@pytest.fixture
async def two_shoppers(api: Api, app: Litestar) -> dict[str, dict[str, str]]:
    await api.store("LOOP", pickup=True)
    await api.product("jacket", ["JKT"], price=5000)
    await stock(app, [("LOOP", "JKT", 20)])
    ana, bo = await api.customer(email="ana@example.com"), await api.customer(email="bo@example.com")
    return {
        "ana": await api.customer_token(ana["id"]),
        "bo": await api.customer_token(bo["id"]),
        "ana_id": {"id": ana["id"]},
        "bo_id": {"id": bo["id"]},
        "web": await api.key("storefront"),
    }


async def test_another_customers_cart_order_and_history_are_404(
    client: httpx.AsyncClient, two_shoppers: dict[str, dict[str, str]]
) -> None:
    ana, bo, web = two_shoppers["ana"], two_shoppers["bo"], two_shoppers["web"]
    ana_id = two_shoppers["ana_id"]["id"]
    cart_id = await cart_with(client, ana, pickup("JKT", 1))
    order = (await checkout(client, cart_id, ana)).json()
    assert order["customer_id"] == ana_id
    bo_cart = await cart_with(client, bo, pickup("JKT", 1))
    for method, url, body in [
        ("GET", f"/v1/carts/{bo_cart}", None),
        ("POST", f"/v1/carts/{bo_cart}/lines", pickup("JKT", 1)),
        ("POST", f"/v1/carts/{bo_cart}/codes", {"code": "NOPE"}),
        ("GET", f"/v1/orders/{order['id']}", None),
        ("GET", f"/v1/customers/{ana_id}", None),
        ("GET", f"/v1/customers/{ana_id}/orders", None),
        ("GET", f"/v1/customers/{ana_id}/cart", None),
        ("PATCH", f"/v1/customers/{ana_id}", {"marketing_consent": {"email": True}}),
    ]:
        r = await client.request(method, url, json=body, headers=ana if url.startswith("/v1/carts/") else bo)
        assert r.status_code == 404 and r.json()["code"] == "not_found", (method, url, r.text)
    r = await checkout(client, bo_cart, ana)
    assert r.status_code == 404
    r = await client.post(f"/v1/orders/{order['id']}/cancel", headers=bo)
    assert r.status_code == 404
    r = await client.post("/v1/me/cart/merge", json={"cart_id": bo_cart}, headers=ana)
    assert r.status_code == 404
    # The owner (and the storefront holding the id) still can.
    assert (await client.post(f"/v1/orders/{order['id']}/cancel", headers=ana)).json()["status"] == "cancelled"
    assert (await client.get(f"/v1/carts/{bo_cart}", headers=web)).status_code == 200


async def test_a_cart_filled_before_signing_in_merges_and_its_order_joins_the_history(
    client: httpx.AsyncClient, two_shoppers: dict[str, dict[str, str]]
) -> None:
    ana, web = two_shoppers["ana"], two_shoppers["web"]
    anonymous = await cart_with(client, web, pickup("JKT", 2))
    r = await client.post("/v1/me/cart/merge", json={"cart_id": anonymous}, headers=ana)
    assert r.status_code == 200, r.text
    mine = r.json()
    assert mine["customer_id"] == two_shoppers["ana_id"]["id"] and mine["lines"][0]["quantity"] == 2
    assert (await client.get("/v1/me/cart", headers=ana)).json()["id"] == mine["id"]
    # The public key that filled the merged cart does not learn the customer's cart from it.
    closed = (await client.get(f"/v1/carts/{anonymous}", headers=web)).json()
    assert (closed["status"], closed["merged_into"]) == ("merged", None)
    assert (await client.get(f"/v1/carts/{anonymous}", headers=ana)).json()["merged_into"] == mine["id"]
    # An anonymous cart checked out with the token becomes the shopper's order.
    other = await cart_with(client, web, pickup("JKT", 1))
    order = (await checkout(client, other, ana)).json()
    assert order["customer_id"] == two_shoppers["ana_id"]["id"]
    history = (await client.get("/v1/me/orders", headers=ana)).json()["items"]
    assert [item["id"] for item in history] == [order["id"]]


async def test_who_may_name_a_carts_customer(
    client: httpx.AsyncClient, two_shoppers: dict[str, dict[str, str]], api: Api
) -> None:
    ana_id, bo_id = two_shoppers["ana_id"]["id"], two_shoppers["bo_id"]["id"]
    r = await client.post("/v1/carts", json={"channel": "web", "customer_id": ana_id}, headers=two_shoppers["web"])
    assert r.status_code == 403
    r = await client.post("/v1/carts", json={"channel": "web", "customer_id": bo_id}, headers=two_shoppers["ana"])
    assert r.status_code == 403
    r = await client.post("/v1/carts", json={"channel": "web", "customer_id": ana_id}, headers=two_shoppers["ana"])
    assert r.status_code == 201 and r.json()["customer_id"] == ana_id
    associate = await api.key("associate", "LOOP")
    r = await client.post("/v1/carts", json={"channel": "store", "customer_id": bo_id}, headers=associate)
    assert r.status_code == 201 and r.json()["customer_id"] == bo_id


async def test_me_is_for_customer_tokens_only(client: httpx.AsyncClient, api: Api) -> None:
    for key in (ADMIN, await api.key("storefront")):
        for path in ("/v1/me", "/v1/me/cart", "/v1/me/orders", "/v1/me/offers"):
            r = await client.get(path, headers=key)
            assert r.status_code == 403 and r.json()["code"] == "forbidden", path
    assert (await client.get("/v1/me")).status_code == 401
    assert (await client.get("/v1/me", headers=bearer("ct_" + "x" * 43))).status_code == 401


async def test_tokens_go_a_week_after_they_expired_or_were_revoked(
    client: httpx.AsyncClient, api: Api, app: Litestar, db_conn
) -> None:
    from commerce.retention import purge

    ana = await api.customer(email="ana@example.com")
    for _ in range(4):
        await api.customer_token(ana["id"])
    ids = [r["id"] for r in await db_conn.fetch("SELECT id FROM customer_tokens ORDER BY id")]
    await db_conn.execute(
        "UPDATE customer_tokens SET created_at = now() - interval '30 days', expires_at = now() - interval '8 days'"
        " WHERE id = $1",
        ids[0],
    )
    await db_conn.execute(
        "UPDATE customer_tokens SET created_at = now() - interval '30 days', expires_at = now() - interval '6 days'"
        " WHERE id = $1",
        ids[1],
    )
    await db_conn.execute("UPDATE customer_tokens SET revoked_at = now() - interval '8 days' WHERE id = $1", ids[2])
    purged = await purge(app.state.sessionmaker, app.state.settings)
    assert purged.customer_tokens == 2
    assert {r["id"] for r in await db_conn.fetch("SELECT id FROM customer_tokens")} == {ids[1], ids[3]}


async def test_a_listener_that_lost_its_connection_reconnects_and_forgets_cached_tokens(
    settings: Settings, api: Api, db_conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from commerce import notify

    monkeypatch.setattr(notify, "RECONNECT_SECONDS", 0.05)
    ana = await api.customer(email="ana@example.com")
    token = await api.customer_token(ana["id"])
    listeners = (
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'commerce-listener' AND datname = current_database()"
    )
    async with service_process(settings) as process:
        before = {r["pid"] for r in await db_conn.fetch(listeners)}
        assert (await process.get("/v1/me", headers=token)).status_code == 200  # now cached
        await db_conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY($1)", list(before)
        )
        # Revoked while nobody listened: no notification reaches the process.
        await db_conn.execute("UPDATE customer_tokens SET revoked_at = now()")
        for _ in range(200):
            now = {r["pid"] for r in await db_conn.fetch(listeners)}
            if now - before:
                break
            await asyncio.sleep(0.02)
        assert now - before, "the listener did not reconnect"
        statuses = []
        for _ in range(50):
            statuses.append((await process.get("/v1/me", headers=token)).status_code)
            if statuses[-1] == 401:
                break
            await asyncio.sleep(0.02)
        assert statuses[-1] == 401, statuses
