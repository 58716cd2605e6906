from __future__ import annotations

import httpx

from tests.conftest import ADMIN

STORE = {"name": "A", "kind": "store", "latitude": 41.0, "longitude": -87.0}


async def test_malformed_json_is_400_problem(client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/stores/S1", content=b"{not json", headers={**ADMIN, "content-type": "application/json"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "malformed_json"


async def test_unknown_field_is_422_and_writes_nothing(client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/stores/S1", json={**STORE, "colour": "red"}, headers=ADMIN)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_failed" and "colour" in body["detail"]
    assert (await client.get("/v1/stores/S1", headers=ADMIN)).status_code == 404


async def test_wrong_type_is_422(client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/stores/S1", json={**STORE, "latitude": "north"}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nothing-here", headers=ADMIN)
    assert r.status_code == 404 and r.json()["code"] == "not_found"


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    r = await client.delete("/v1/stores/S1", headers=ADMIN)
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


async def test_openapi_document_is_served(client: httpx.AsyncClient) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert "/v1/stores/{code}" in doc["paths"]
    assert doc["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert (await client.get("/schema")).status_code == 200


async def test_nul_characters_are_422_not_500(client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/stores/S1", json={**STORE, "name": "bad\u0000name"}, headers=ADMIN)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_failed"
    r = await client.get("/v1/products", params={"q": "a\u0000b"}, headers=ADMIN)
    assert r.status_code == 422
    # A literal backslash-u0000 text is fine.
    r = await client.put("/v1/stores/S1", json={**STORE, "name": "back\\u0000slash"}, headers=ADMIN)
    assert r.status_code == 201
