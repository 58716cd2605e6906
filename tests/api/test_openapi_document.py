"""The served OpenAPI document states the constraints the service enforces."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


@pytest.fixture
async def doc(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def parameter(doc: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    [found] = [p for p in doc["paths"][path][method]["parameters"] if p["name"] == name]
    return dict(found)


async def test_checkout_requires_an_idempotency_key(doc: dict[str, Any]) -> None:
    key = parameter(doc, "/v1/carts/{cart_id}/checkout", "post", "Idempotency-Key")
    assert key["required"] is True and key["in"] == "header"
    assert {"type": "null"} not in key["schema"].get("oneOf", [])
    # Elsewhere it stays optional.
    assert parameter(doc, "/v1/inventory/adjustments", "post", "Idempotency-Key")["required"] is False


async def test_cursors_have_their_format(doc: dict[str, Any]) -> None:
    for path in ("/v1/inventory/{store}/{sku}/ledger", "/v1/stores", "/v1/products"):
        schema = parameter(doc, path, "get", "cursor")["schema"]
        assert schema["pattern"] == "^[A-Za-z0-9_-]+$" and schema["maxLength"] == 2048, path


async def test_stock_inputs_state_their_bounds(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    delta = schemas["AdjustmentIn"]["properties"]["delta"]
    assert delta["not"] == {"const": 0} and (delta["minimum"], delta["maximum"]) == (-10_000_000, 10_000_000)
    count = schemas["CountIn"]["properties"]
    assert count["safety_stock"]["minimum"] == 0 and count["on_hand"]["minimum"] == 0


async def test_currencies_are_the_iso_4217_list(doc: dict[str, Any]) -> None:
    currency = doc["components"]["schemas"]["Money"]["properties"]["currency"]
    assert {"USD", "EUR", "JPY"} <= set(currency["enum"]) and "ZZZ" not in currency["enum"]
