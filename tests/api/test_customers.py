from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from commerce.ads import rules as ads_rules
from commerce.customers import rules
from tests.conftest import ADMIN, Api
from tests.shopping import sync


async def test_create_normalises_and_finds_by_each_identifier(client: httpx.AsyncClient, api: Api) -> None:
    await api.store("S1")
    associate = await api.key("associate", "S1")
    r = await client.post(
        "/v1/customers",
        json={"email": " Ana@Example.COM ", "phone": "+1 (312) 555-0100", "loyalty_id": "L-42"},
        headers=associate,
    )
    assert r.status_code == 201, r.text
    ana = r.json()
    assert (ana["email"], ana["phone"], ana["loyalty_id"]) == ("ana@example.com", "+13125550100", "L-42")
    assert (await client.get(f"/v1/customers/{ana['id']}", headers=associate)).json() == ana
    for params in ({"email": "ANA@example.com"}, {"phone": "+1 312-555-0100"}, {"loyalty_id": "L-42"}):
        r = await client.get("/v1/customers", params=params, headers=associate)
        assert r.status_code == 200 and [c["id"] for c in r.json()["items"]] == [ana["id"]], params
    r = await client.get("/v1/customers", params={"email": "nobody@example.com"}, headers=associate)
    assert r.json()["items"] == []
    assert (await client.get("/v1/customers", headers=associate)).status_code == 422


async def test_identifier_of_another_customer_is_409_naming_it(client: httpx.AsyncClient) -> None:
    await client.post("/v1/customers", json={"email": "ana@example.com", "loyalty_id": "L-1"}, headers=ADMIN)
    r = await client.post("/v1/customers", json={"email": "ANA@example.com"}, headers=ADMIN)
    assert r.status_code == 409 and r.json()["code"] == "identifier_taken"
    assert r.json()["errors"][0]["key"] == "email"
    r = await client.post("/v1/customers", json={"phone": "(312) 555-0101", "loyalty_id": "L-1"}, headers=ADMIN)
    assert r.status_code == 409 and r.json()["errors"][0]["key"] == "loyalty_id"


async def test_a_409_names_the_customer_holding_the_identifier_to_those_who_may_read_customers(
    client: httpx.AsyncClient, api: Api
) -> None:
    ana = (await api.customer(email="ana@example.com", loyalty_id="L-1"))["id"]
    bo = (await api.customer(email="bo@example.com"))["id"]
    await api.store("S1")
    associate = await api.key("associate", "S1")
    for headers in (ADMIN, associate):
        r = await client.post("/v1/customers", json={"email": "new@example.com", "loyalty_id": "L-1"}, headers=headers)
        assert r.status_code == 409 and r.json()["code"] == "identifier_taken"
        assert r.json()["customer_id"] == ana
        assert f"PATCH /v1/customers/{ana}" in r.json()["detail"]
        r = await client.patch(f"/v1/customers/{bo}", json={"loyalty_id": " L-1 "}, headers=headers)
        assert (r.status_code, r.json()["customer_id"]) == (409, ana)
    # A shopper changing their own email to someone else's learns only that it is taken.
    r = await client.patch(
        f"/v1/customers/{bo}", json={"email": "ANA@example.com"}, headers=await api.customer_token(bo)
    )
    assert r.status_code == 409 and r.json()["code"] == "identifier_taken"
    assert "customer_id" not in r.json() and ana not in r.json()["detail"]


async def test_customer_needs_an_identifier_and_valid_values(client: httpx.AsyncClient) -> None:
    for body in ({}, {"email": "not-an-email"}, {"phone": "call me"}, {"phone": "12"}, {"name": "Ana"}):
        r = await client.post("/v1/customers", json=body, headers=ADMIN)
        assert r.status_code == 422, body
    assert (await client.get("/v1/customers/00000000-0000-0000-0000-000000000000", headers=ADMIN)).status_code == 404


async def test_only_admin_and_associate_keys_create_and_find_customers(client: httpx.AsyncClient, api: Api) -> None:
    await api.store("S1")
    associate = await api.key("associate", "S1")
    r = await client.post("/v1/customers", json={"email": "a@b.co"}, headers=associate)
    assert r.status_code == 201
    customer_id = r.json()["id"]
    for role in ("pos", "ads", "storefront", "integration"):
        key = await api.key(role, "S1" if role == "pos" else None)
        assert (await client.get("/v1/customers", params={"email": "a@b.co"}, headers=key)).status_code == 403
        assert (await client.get(f"/v1/customers/{customer_id}", headers=key)).status_code == 403
        assert (await client.post("/v1/customers", json={"email": "x@b.co"}, headers=key)).status_code == 403


async def consent_log(db_conn, customer_id: str) -> list[tuple[str, bool, str]]:
    rows = await db_conn.fetch(
        "SELECT channel, granted, source FROM consent_changes WHERE customer_id = $1 ORDER BY id", customer_id
    )
    return [(r["channel"], r["granted"], r["source"]) for r in rows]


async def test_consent_is_kept_with_every_change_its_time_and_source(
    client: httpx.AsyncClient, api: Api, db_conn
) -> None:
    r = await client.post(
        "/v1/customers", json={"email": "ana@example.com", "marketing_consent": {"email": True}}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    ana = r.json()
    assert ana["marketing_consent"] == {"email": True, "sms": False}
    assert await consent_log(db_conn, ana["id"]) == [("email", True, "admin:env-admin")]

    token = await api.customer_token(ana["id"])
    token_id = await db_conn.fetchval("SELECT id FROM customer_tokens WHERE customer_id = $1", ana["id"])
    # Email consent is already given: only the SMS change is a change.
    r = await client.patch(
        f"/v1/customers/{ana['id']}", json={"marketing_consent": {"email": True, "sms": True}}, headers=token
    )
    assert r.status_code == 200, r.text
    assert r.json()["marketing_consent"] == {"email": True, "sms": True}
    await api.store("S1")
    associate = await api.key("associate", "S1")
    r = await client.patch(
        f"/v1/customers/{ana['id']}", json={"marketing_consent": {"email": False}}, headers=associate
    )
    assert r.json()["marketing_consent"] == {"email": False, "sms": True}
    associate_id = await db_conn.fetchval("SELECT id FROM api_keys WHERE role = 'associate'")
    assert await consent_log(db_conn, ana["id"]) == [
        ("email", True, "admin:env-admin"),
        ("sms", True, f"customer:{token_id}"),
        ("email", False, f"associate:{associate_id}"),
    ]
    times = await db_conn.fetch("SELECT changed_at FROM consent_changes ORDER BY id")
    assert [t["changed_at"] for t in times] == sorted(t["changed_at"] for t in times)
    assert (await client.get("/v1/me", headers=token)).json()["marketing_consent"] == {"email": False, "sms": True}


async def test_patch_changes_identifiers_and_refuses_taken_ones(client: httpx.AsyncClient, api: Api, db_conn) -> None:
    ana = await api.customer(email="ana@example.com", phone="(312) 555-0100")
    await api.customer(email="bo@example.com", loyalty_id="L-2")
    url = f"/v1/customers/{ana['id']}"
    r = await client.patch(url, json={"email": " ANA.NEW@example.com", "loyalty_id": "L-1"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert (r.json()["email"], r.json()["phone"], r.json()["loyalty_id"]) == (
        "ana.new@example.com",
        "+13125550100",
        "L-1",
    )
    for body, key in (({"email": "BO@example.com"}, "email"), ({"loyalty_id": "L-2"}, "loyalty_id")):
        r = await client.patch(url, json=body, headers=ADMIN)
        assert r.status_code == 409 and r.json()["code"] == "identifier_taken", body
        assert r.json()["errors"][0]["key"] == key
    # Its own identifier again is no conflict; null removes one, but one must remain.
    assert (await client.patch(url, json={"email": "ana.new@example.com"}, headers=ADMIN)).status_code == 200
    r = await client.patch(url, json={"phone": None, "loyalty_id": None}, headers=ADMIN)
    assert r.status_code == 200 and (r.json()["phone"], r.json()["loyalty_id"]) == (None, None)
    r = await client.patch(url, json={"email": None}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "identifier_required"
    for body in (
        {"name": "Ana"},
        {"email": "nope"},
        {"marketing_consent": {"email": "yes"}},
        {"marketing_consent": {"fax": True}},
    ):
        assert (await client.patch(url, json=body, headers=ADMIN)).status_code == 422, body
    assert (await client.patch(f"/v1/customers/{uuid.uuid4()}", json={}, headers=ADMIN)).status_code == 404
    # Nothing above changed the consent, so nothing was logged.
    assert await db_conn.fetchval("SELECT count(*) FROM consent_changes") == 0


async def test_a_shopper_changes_their_contact_details_but_not_the_loyalty_id(
    client: httpx.AsyncClient, api: Api
) -> None:
    ana = await api.customer(email="ana@example.com", loyalty_id="L-1")
    token = await api.customer_token(ana["id"])
    url = f"/v1/customers/{ana['id']}"
    r = await client.patch(url, json={"phone": "+1 312 555 0199"}, headers=token)
    assert r.status_code == 200 and r.json()["phone"] == "+13125550199"
    r = await client.patch(url, json={"loyalty_id": "L-SOMEONE-ELSES"}, headers=token)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert (await client.get("/v1/me", headers=token)).json()["loyalty_id"] == "L-1"


async def test_offers_are_the_active_uncoded_promotions_in_the_engines_order(
    client: httpx.AsyncClient, api: Api
) -> None:
    ana = await api.customer(email="ana@example.com")
    token = await api.customer_token(ana["id"])
    assert (await client.get("/v1/me/offers", headers=token)).json()["items"] == []
    promotions = {
        "old-low": {"title": "Old", "kind": "percent_off", "value": 5},
        "new-low": {"title": "New", "kind": "percent_off", "value": 10},
        "newer-low": {"title": "Newer", "kind": "percent_off", "value": 5},
        "high": {"title": "High", "kind": "percent_off", "value": 5, "priority": 10, "channels": ["store"]},
        "coded": {"title": "Coded", "kind": "percent_off", "value": 20, "code": "SECRET"},
        "later": {"title": "Later", "kind": "percent_off", "value": 20, "starts_at": "2999-01-01T00:00:00Z"},
        "killed": {"title": "Killed", "kind": "amount_off", "value": 100, "currency": "USD", "priority": 99},
    }
    for promotion_id, body in promotions.items():
        r = await client.put(f"/v1/promotions/{promotion_id}", json=body, headers=ADMIN)
        assert r.status_code in (200, 201), r.text
    await client.post("/v1/promotions/killed/kill", headers=ADMIN)
    r = await client.get("/v1/me/offers", headers=token)
    assert r.status_code == 200
    offers = r.json()["items"]
    assert [o["id"] for o in offers] == ["high", "new-low", "old-low", "newer-low"]
    assert offers[0]["channels"] == ["store"] and offers[2]["applies_to"] is None
    assert "code" not in offers[0] and "override_guardrail" not in offers[0]
    assert (await client.get(f"/v1/customers/{ana['id']}/offers", headers=ADMIN)).json() == r.json()


async def test_phones_are_stored_in_e164_and_an_invalid_one_is_422_invalid_phone(
    client: httpx.AsyncClient, api: Api
) -> None:
    # Written without a country code (read in the default region, US) or with it: one number.
    ana = await api.customer(email="ana@example.com", phone="312.555.0177")
    assert ana["phone"] == "+13125550177"
    r = await client.post("/v1/customers", json={"phone": "+1 (312) 555-0177"}, headers=ADMIN)
    assert r.status_code == 409 and r.json()["errors"][0]["key"] == "phone"
    r = await client.post("/v1/customers", json={"phone": "+44 20 7946 0958"}, headers=ADMIN)
    assert r.status_code == 201 and r.json()["phone"] == "+442079460958"
    for phone in ("555 0100", "+1 555 555", "call me", "+999 1234 5678"):
        r = await client.post("/v1/customers", json={"phone": phone}, headers=ADMIN)
        assert (r.status_code, r.json()["code"]) == (422, "invalid_phone"), phone
        r = await client.patch(f"/v1/customers/{ana['id']}", json={"phone": phone}, headers=ADMIN)
        assert (r.status_code, r.json()["code"]) == (422, "invalid_phone"), phone
    r = await client.patch(f"/v1/customers/{ana['id']}", json={"phone": "(312) 555-0178"}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["phone"] == "+13125550178"


def test_the_default_region_reads_a_number_without_a_country_code() -> None:
    assert rules.normalise_phone("020 7946 0958", "GB") == "+442079460958"
    assert rules.normalise_phone("(312) 555-0100", "us") == "+13125550100"
    assert rules.e164("020 7946 0958", "US") is None
    assert ads_rules.google_phone("3125550100", "US") == rules.e164("+1 312 555 0100")


def _migration_0019() -> Any:
    path = Path(__file__).parents[2] / "migrations" / "versions" / "0019_pos_customer.py"
    spec = importlib.util.spec_from_file_location("migration_0019", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_migration_0019_rewrites_stored_phones_in_e164_and_leaves_collisions(
    database_url: str, db_conn: asyncpg.Connection
) -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    stored = ["3125550199", "+13125550188", "(312) 555-0188", "5550100", "+442079460958"]
    for n, (ident, phone) in enumerate(zip(ids, stored, strict=True)):
        await db_conn.execute(
            "INSERT INTO customers (id, phone, created_at) VALUES ($1, $2, now() - make_interval(mins => $3))",
            ident,
            phone,
            10 - n,
        )
    engine = create_async_engine(make_url(database_url).set(drivername="postgresql+asyncpg"))
    try:
        async with engine.begin() as conn:
            rewritten, collided = await conn.run_sync(_migration_0019().normalise_phones, "US")
    finally:
        await engine.dispose()
    assert (rewritten, collided) == (1, [str(ids[2])])
    rows = {r["id"]: r["phone"] for r in await db_conn.fetch("SELECT id, phone FROM customers")}
    # Rewritten; already E.164; left: another customer has its number; left: not a valid number; E.164.
    assert [rows[i] for i in ids] == ["+13125550199", "+13125550188", "(312) 555-0188", "5550100", "+442079460958"]


async def test_migration_0019_has_the_segment_worker_rebuild_profiles_of_customers_it_created(
    app: Any, database_url: str, db_conn: asyncpg.Connection
) -> None:
    await sync(app)
    assert await db_conn.fetchval("SELECT after_seq FROM segment_feed_cursor") is not None
    # As the migration creates them: a customer holding just a loyalty id, with no profile.
    created = uuid.uuid4()
    await db_conn.execute("INSERT INTO customers (id, loyalty_id) VALUES ($1, 'L-OLD')", created)
    engine = create_async_engine(make_url(database_url).set(drivername="postgresql+asyncpg"))
    try:
        async with engine.begin() as conn:
            asked = await conn.run_sync(_migration_0019().request_profile_rebuild)
        assert asked
        assert await db_conn.fetchval("SELECT after_seq FROM segment_feed_cursor") is None
        # The worker rebuilds every profile, then reads the feed on.
        await sync(app)
        assert await db_conn.fetchval("SELECT count(*) FROM customer_profiles WHERE customer_id = $1", created) == 1
        after = await db_conn.fetchval("SELECT after_seq FROM segment_feed_cursor")
        assert after is not None
        # Every customer has a profile: nothing to ask for, the cursor stays.
        async with engine.begin() as conn:
            assert not await conn.run_sync(_migration_0019().request_profile_rebuild)
        assert await db_conn.fetchval("SELECT after_seq FROM segment_feed_cursor") == after
    finally:
        await engine.dispose()
