from __future__ import annotations

import httpx
import pytest

from tests.conftest import ADMIN, Api, bearer


async def test_health_needs_no_key(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json()["database"] == "ok"


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
async def test_missing_or_unknown_key_is_401_problem(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = await client.get("/v1/stores", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "unauthorized"


async def test_issued_key_is_shown_once_and_stored_hashed(client: httpx.AsyncClient, api: Api, db_conn) -> None:
    r = await client.post("/v1/api-keys", json={"role": "storefront"}, headers=ADMIN)
    assert r.status_code == 201
    body = r.json()
    assert body["role"] == "storefront" and body["store"] is None
    stored = await db_conn.fetchval("SELECT key_hash FROM api_keys WHERE id = $1", body["id"])
    assert stored != body["key"] and len(stored) == 64
    assert body["key"] not in str(await db_conn.fetch("SELECT * FROM api_keys"))
    assert (await client.get("/v1/stores", headers=bearer(body["key"]))).status_code == 200


async def test_store_bound_roles_need_an_existing_store(client: httpx.AsyncClient, api: Api) -> None:
    r = await client.post("/v1/api-keys", json={"role": "pos"}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "store_required"
    r = await client.post("/v1/api-keys", json={"role": "pos", "store": "GHOST"}, headers=ADMIN)
    assert r.status_code == 404
    r = await client.post("/v1/api-keys", json={"role": "ads", "store": "GHOST"}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "store_not_allowed"
    await api.store("S1")
    r = await client.post("/v1/api-keys", json={"role": "associate", "store": "S1"}, headers=ADMIN)
    assert r.status_code == 201 and r.json()["store"] == "S1"


@pytest.mark.parametrize("role", ["storefront", "ads", "pos", "associate"])
async def test_only_admin_issues_keys_and_edits_stores_and_products(
    client: httpx.AsyncClient, api: Api, role: str
) -> None:
    await api.store("S1")
    key = await api.key(role, "S1" if role in ("pos", "associate") else None)
    r = await client.post("/v1/api-keys", json={"role": "admin"}, headers=key)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.put(
        "/v1/stores/S1", json={"name": "x", "kind": "store", "latitude": 0, "longitude": 0}, headers=key
    )
    assert r.status_code == 403
    r = await client.put(
        "/v1/products/p",
        json={"title": "x", "variants": [{"sku": "A", "price": {"amount": 1, "currency": "USD"}}]},
        headers=key,
    )
    assert r.status_code == 403
    # ...but every role may read.
    assert (await client.get("/v1/stores/S1", headers=key)).status_code == 200


async def test_unknown_role_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/api-keys", json={"role": "root"}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"


async def test_liveness_answers_without_a_key(client: httpx.AsyncClient) -> None:
    r = await client.get("/health/live")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_cli_issues_keys_and_refuses_unknown_stores(database_url: str) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": database_url}
    out = subprocess.run(
        [sys.executable, "-m", "commerce", "keys", "create", "--role", "storefront"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("ck_storefront_")
    bad = subprocess.run(
        [sys.executable, "-m", "commerce", "keys", "create", "--role", "pos", "--store", "NOPE"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert "does not exist" in bad.stderr
