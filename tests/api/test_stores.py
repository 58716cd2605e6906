from __future__ import annotations

import httpx
import pytest
from geopy.distance import geodesic

from tests.conftest import ADMIN, Api

LOOP = (41.8827, -87.6278)


async def test_upsert_creates_then_updates(client: httpx.AsyncClient) -> None:
    body = {
        "name": "Loop",
        "kind": "store",
        "latitude": LOOP[0],
        "longitude": LOOP[1],
        "pickup_enabled": True,
        "timezone": "America/Chicago",
        "address": "108 N State St",
        "pickup_lead_minutes": 30,
    }
    r = await client.put("/v1/stores/LOOP", json=body, headers=ADMIN)
    assert r.status_code == 201
    # Without published hours, whether it is open now is unknown.
    no_hours = {"phone": None, "opening_hours": [], "special_hours": [], "open_now": None}
    assert r.json() == {"code": "LOOP", **body, **no_hours}
    r = await client.put("/v1/stores/LOOP", json={**body, "name": "Loop Flagship"}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["name"] == "Loop Flagship"
    got = (await client.get("/v1/stores/LOOP", headers=ADMIN)).json()
    assert got["name"] == "Loop Flagship" and got["pickup_lead_minutes"] == 30


@pytest.mark.parametrize(
    "patch",
    [
        {"latitude": 90.01},
        {"latitude": -91},
        {"longitude": 180.5},
        {"longitude": -181},
        {"kind": "kiosk"},
        {"timezone": "Mars/Olympus"},
        {"name": ""},
        {"pickup_lead_minutes": -1},
    ],
)
async def test_invalid_store_is_422(client: httpx.AsyncClient, patch: dict[str, object]) -> None:
    body = {"name": "x", "kind": "store", "latitude": 1.0, "longitude": 1.0, **patch}
    r = await client.put("/v1/stores/BAD", json=body, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_failed"


async def test_missing_store_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/stores/NOPE", headers=ADMIN)
    assert r.status_code == 404 and r.json()["code"] == "not_found"


async def test_nearby_sorted_by_geodesic_distance_within_radius(client: httpx.AsyncClient, api: Api) -> None:
    points = {
        "LOOP": LOOP,
        "LP": (41.9214, -87.6513),
        "HP": (41.7943, -87.5907),
        "EVN": (42.0451, -87.6877),
        "NAPV": (41.7508, -88.1535),
        "MKE": (43.0389, -87.9065),
    }
    for code, (lat, lon) in points.items():
        await api.store(code, lat, lon)
    r = await client.get("/v1/stores", params={"near": "41.8800,-87.6300", "radius_km": 50}, headers=ADMIN)
    assert r.status_code == 200
    items = r.json()["items"]
    codes = [i["code"] for i in items]
    assert "MKE" not in codes  # ~130 km away
    expected = sorted(
        (c for c in points if geodesic((41.88, -87.63), points[c]).km <= 50),
        key=lambda c: geodesic((41.88, -87.63), points[c]).km,
    )
    assert codes == expected
    for item in items:
        true_km = geodesic((41.88, -87.63), points[item["code"]]).km
        assert item["distance_km"] == pytest.approx(true_km, rel=0.005)


async def test_nearby_filters_kind_and_pickup(client: httpx.AsyncClient, api: Api) -> None:
    await api.store("A", 41.88, -87.63, pickup=True)
    await api.store("B", 41.89, -87.63, pickup=False)
    await api.store("W", 41.90, -87.63, kind="warehouse", pickup=False)
    near = {"near": "41.88,-87.63", "radius_km": 10}
    r = await client.get("/v1/stores", params={**near, "pickup": "true"}, headers=ADMIN)
    assert [i["code"] for i in r.json()["items"]] == ["A"]
    r = await client.get("/v1/stores", params={**near, "kind": "warehouse"}, headers=ADMIN)
    assert [i["code"] for i in r.json()["items"]] == ["W"]


async def test_nearby_pages_with_cursor(client: httpx.AsyncClient, api: Api) -> None:
    for i in range(7):
        await api.store(f"S{i}", 41.88 + i * 0.01, -87.63)
    seen: list[str] = []
    params: dict[str, object] = {"near": "41.88,-87.63", "radius_km": 50, "limit": 3}
    while True:
        body = (await client.get("/v1/stores", params=params, headers=ADMIN)).json()
        seen += [i["code"] for i in body["items"]]
        if not body["next_cursor"]:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == [f"S{i}" for i in range(7)]


async def test_nearby_across_the_antimeridian(client: httpx.AsyncClient, api: Api) -> None:
    await api.store("FIJI-E", -17.0, 179.9)
    await api.store("FIJI-W", -17.0, -179.9)
    r = await client.get("/v1/stores", params={"near": "-17.0,179.99", "radius_km": 50}, headers=ADMIN)
    assert sorted(i["code"] for i in r.json()["items"]) == ["FIJI-E", "FIJI-W"]


@pytest.mark.parametrize(
    "params",
    [
        {"near": "91,0"},
        {"near": "0,181"},
        {"near": "abc"},
        {"near": "1,2,3"},
        {"near": "1,2", "radius_km": 0},
        {"near": "1,2", "radius_km": 5000},
        {"cursor": "garbage!"},
    ],
)
async def test_bad_nearby_query_is_422(client: httpx.AsyncClient, params: dict[str, object]) -> None:
    r = await client.get("/v1/stores", params=params, headers=ADMIN)
    assert r.status_code == 422, r.text


async def test_list_without_near_pages_by_code(client: httpx.AsyncClient, api: Api) -> None:
    for code in ["C", "A", "B"]:
        await api.store(code)
    body = (await client.get("/v1/stores", params={"limit": 2}, headers=ADMIN)).json()
    assert [i["code"] for i in body["items"]] == ["A", "B"]
    body = (await client.get("/v1/stores", params={"limit": 2, "cursor": body["next_cursor"]}, headers=ADMIN)).json()
    assert [i["code"] for i in body["items"]] == ["C"] and body["next_cursor"] is None
