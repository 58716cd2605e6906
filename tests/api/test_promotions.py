from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, Api


def promotion(**kw: Any) -> dict[str, Any]:
    return {"title": "Sale", "kind": "percent_off", "value": 20, **kw}


async def put(client: httpx.AsyncClient, pid: str, body: dict[str, Any], headers: dict[str, str] = ADMIN):
    return await client.put(f"/v1/promotions/{pid}", json=body, headers=headers)


async def test_put_creates_then_replaces_and_records_events(client: httpx.AsyncClient, db_conn) -> None:
    r = await put(client, "fall", promotion(applies_to={"categories": ["outerwear"]}, channels=["web"], priority=3))
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["applies_to"] == {"skus": None, "categories": ["outerwear"]}
    assert got["channels"] == ["web"] and got["priority"] == 3 and got["active"] is True
    assert got["override_guardrail"] is None
    r = await put(client, "fall", promotion(value=25))
    assert r.status_code == 200 and r.json()["value"] == 25 and r.json()["applies_to"] is None
    assert (await client.get("/v1/promotions/fall", headers=ADMIN)).json()["value"] == 25
    assert await db_conn.fetchval("SELECT count(*) FROM events WHERE type = 'promotion.changed'") == 2


async def test_percent_above_ceiling_is_guardrail_422_unless_overridden(client: httpx.AsyncClient) -> None:
    r = await put(client, "wild", promotion(value=60))
    assert r.status_code == 422 and r.json()["code"] == "discount_guardrail"
    assert (await client.get("/v1/promotions/wild", headers=ADMIN)).status_code == 404
    r = await put(client, "wild", promotion(value=60, override_guardrail={"reason": "clearance approved by CFO"}))
    assert r.status_code == 201, r.text
    override = r.json()["override_guardrail"]
    assert override["reason"] == "clearance approved by CFO" and override["by"] == "env-admin" and override["at"]
    assert (await client.get("/v1/promotions/wild", headers=ADMIN)).json()["override_guardrail"] == override


async def test_amount_above_a_targeted_price_is_guardrail_422(client: httpx.AsyncClient, api: Api) -> None:
    await api.product("sock", ["SOCK"], price=500, category="socks")
    await api.product("coat", ["COAT"], price=20_000, category="outerwear")
    body = promotion(kind="amount_off", value=1_000, currency="USD")
    r = await put(client, "ten-off", {**body, "applies_to": {"categories": ["socks"]}})
    assert r.status_code == 422 and r.json()["code"] == "discount_guardrail"
    r = await put(client, "ten-off", {**body, "applies_to": {"skus": ["COAT"]}})
    assert r.status_code == 201
    # "Everything" compares with the cheapest item in the promotion's currency.
    r = await put(client, "all-off", body)
    assert r.status_code == 422 and r.json()["code"] == "discount_guardrail"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (promotion(value=101), "validation_failed"),
        (promotion(value=0), "validation_failed"),
        (promotion(currency="USD"), "validation_failed"),
        (promotion(kind="amount_off", value=100), "validation_failed"),
        (promotion(starts_at="2026-12-01T00:00:00Z", ends_at="2026-11-01T00:00:00Z"), "invalid_window"),
        (promotion(starts_at="2026-12-01T00:00:00"), "validation_failed"),
        (promotion(applies_to={}), "validation_failed"),
        (promotion(kind="bogo"), "validation_failed"),
        (promotion(channels=["fax"]), "validation_failed"),
        (promotion(value=10, surprise=1), "validation_failed"),
    ],
)
async def test_invalid_promotion_is_422(client: httpx.AsyncClient, body: dict[str, Any], code: str) -> None:
    r = await put(client, "bad", body)
    assert r.status_code == 422 and r.json()["code"] == code, r.text


async def test_codes_are_unique_ignoring_case(client: httpx.AsyncClient) -> None:
    assert (await put(client, "a", promotion(code="SAVE20"))).status_code == 201
    r = await put(client, "b", promotion(code="save20"))
    assert r.status_code == 409 and r.json()["code"] == "code_taken"
    assert (await put(client, "a", promotion(code="Save20"))).status_code == 200


async def test_kill_switches_off_and_is_admin_only(client: httpx.AsyncClient, api: Api, db_conn) -> None:
    await put(client, "p", promotion())
    storefront = await api.key("storefront")
    assert (await client.post("/v1/promotions/p/kill", headers=storefront)).status_code == 403
    assert (await client.get("/v1/promotions/p", headers=storefront)).status_code == 403
    r = await client.post("/v1/promotions/p/kill", headers=ADMIN)
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["killed_at"]
    assert (await client.post("/v1/promotions/p/kill", headers=ADMIN)).status_code == 200
    assert (await client.post("/v1/promotions/nope/kill", headers=ADMIN)).status_code == 404
    kinds = await db_conn.fetch("SELECT data->>'action' AS a FROM events WHERE type='promotion.changed' ORDER BY id")
    assert [k["a"] for k in kinds] == ["upserted", "killed"]
    # Replacing it does not switch it back on.
    assert (await put(client, "p", promotion(value=10))).json()["active"] is False
