from __future__ import annotations

import httpx

from tests.conftest import ADMIN, Api


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
    r = await client.post("/v1/customers", json={"phone": "555 0101", "loyalty_id": "L-1"}, headers=ADMIN)
    assert r.status_code == 409 and r.json()["errors"][0]["key"] == "loyalty_id"


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
