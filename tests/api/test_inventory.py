"""Per-store inventory over HTTP: reading levels, counts, adjustments, the ledger, the role/store matrix."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from commerce.inventory import service
from commerce.inventory.rules import StockLine
from tests.conftest import ADMIN, Api, bearer
from tests.stock import assert_conserved, stock


async def key_with_id(client: httpx.AsyncClient, role: str, store: str | None = None) -> tuple[dict[str, str], str]:
    body: dict[str, Any] = {"role": role} | ({"store": store} if store else {})
    r = await client.post("/v1/api-keys", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return bearer(r.json()["key"]), r.json()["id"]


@pytest.fixture
async def shop(api: Api, app: Any) -> None:
    await api.store("A")
    await api.store("B")
    await api.product("jacket", ["J-S", "J-M"])
    await stock(app, [("A", "J-S", 10)])


async def test_full_view_for_staff_roles(shop: None, client: httpx.AsyncClient, api: Api, app: Any) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await service.reserve_lines(db, [StockLine("A", "J-S", 3)], reference="o1", source="t")
    full = {"store": "A", "sku": "J-S", "on_hand": 10, "reserved": 3, "safety_stock": 0, "available": 7}
    for headers in (ADMIN, await api.key("pos", "A"), await api.key("associate", "A")):
        r = await client.get("/v1/inventory/A/J-S", headers=headers)
        assert r.status_code == 200 and r.json() == full


async def test_storefront_and_ads_see_available_only(shop: None, client: httpx.AsyncClient, api: Api) -> None:
    for role in ("storefront", "ads"):
        r = await client.get("/v1/inventory/A/J-S", headers=await api.key(role))
        assert r.status_code == 200 and r.json() == {"store": "A", "sku": "J-S", "available": 10}


async def test_known_store_and_sku_without_level_read_as_zeros(shop: None, client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/inventory/B/J-M", headers=ADMIN)
    assert r.status_code == 200
    assert r.json() == {"store": "B", "sku": "J-M", "on_hand": 0, "reserved": 0, "safety_stock": 0, "available": 0}


@pytest.mark.parametrize("path", ["/v1/inventory/NOPE/J-S", "/v1/inventory/A/NOPE"])
async def test_unknown_store_or_sku_is_404(shop: None, client: httpx.AsyncClient, path: str) -> None:
    for p in (path, path + "/ledger"):
        r = await client.get(p, headers=ADMIN)
        assert r.status_code == 404 and r.json()["code"] == "not_found", p
    r = await client.put(path, json={"on_hand": 1}, headers=ADMIN)
    assert r.status_code == 404


async def test_store_bound_keys_stay_in_their_store(shop: None, client: httpx.AsyncClient, api: Api) -> None:
    for role in ("pos", "associate"):
        other = await api.key(role, "B")
        assert (await client.get("/v1/inventory/A/J-S", headers=other)).status_code == 403
        r = await client.put("/v1/inventory/A/J-S", json={"on_hand": 1}, headers=other)
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
        adj = {"store": "A", "sku": "J-S", "delta": 1, "reason": "receipt"}
        assert (await client.post("/v1/inventory/adjustments", json=adj, headers=other)).status_code == 403
        assert (await client.get("/v1/inventory/A/J-S/ledger", headers=other)).status_code == 403
    assert (await client.get("/v1/inventory/A/J-S")).status_code == 401


@pytest.mark.parametrize("role", ["storefront", "ads"])
async def test_read_only_roles_cannot_write(shop: None, client: httpx.AsyncClient, api: Api, role: str) -> None:
    headers = await api.key(role)
    assert (await client.put("/v1/inventory/A/J-S", json={"on_hand": 1}, headers=headers)).status_code == 403
    adj = {"store": "A", "sku": "J-S", "delta": 1, "reason": "receipt"}
    assert (await client.post("/v1/inventory/adjustments", json=adj, headers=headers)).status_code == 403
    assert (await client.get("/v1/inventory/A/J-S/ledger", headers=headers)).status_code == 403


async def test_pos_key_may_not_read_the_ledger(shop: None, client: httpx.AsyncClient, api: Api) -> None:
    r = await client.get("/v1/inventory/A/J-S/ledger", headers=await api.key("pos", "A"))
    assert r.status_code == 403


async def test_count_sets_on_hand_and_ledger_names_the_key(shop: None, client: httpx.AsyncClient, db_conn: Any) -> None:
    headers, key_id = await key_with_id(client, "pos", "A")
    body = {"on_hand": 4, "safety_stock": 1, "counted_at": "2026-11-23T09:00:00+01:00"}
    r = await client.put("/v1/inventory/A/J-S", json=body, headers=headers)
    assert r.status_code == 200
    assert r.json() == {"store": "A", "sku": "J-S", "on_hand": 4, "reserved": 0, "safety_stock": 1, "available": 3}
    row = await db_conn.fetchrow(
        "SELECT delta, reason, source FROM inventory_ledger WHERE store_code='A' AND sku='J-S' ORDER BY id DESC LIMIT 1"
    )
    assert dict(row) == {"delta": -6, "reason": "count", "source": f"pos:{key_id}"}
    counted = await db_conn.fetchval("SELECT counted_at FROM inventory_levels WHERE store_code='A' AND sku='J-S'")
    assert counted.isoformat() == "2026-11-23T08:00:00+00:00"
    # A first count creates the level.
    r = await client.put("/v1/inventory/A/J-M", json={"on_hand": 2}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["on_hand"] == 2
    await assert_conserved(db_conn)


async def test_an_older_count_cannot_undo_a_newer_one(shop: None, client: httpx.AsyncClient, db_conn: Any) -> None:
    newer = {"on_hand": 7, "counted_at": "2026-11-23T10:00:00Z"}
    assert (await client.put("/v1/inventory/A/J-S", json=newer, headers=ADMIN)).status_code == 200
    r = await client.put(
        "/v1/inventory/A/J-S", json={"on_hand": 3, "counted_at": "2026-11-23T09:59:00Z"}, headers=ADMIN
    )
    assert r.status_code == 409 and r.json()["code"] == "stale_count"
    assert await db_conn.fetchval("SELECT on_hand FROM inventory_levels WHERE store_code='A' AND sku='J-S'") == 7
    # The same time again, or no time at all, is applied.
    assert (await client.put("/v1/inventory/A/J-S", json={**newer, "on_hand": 6}, headers=ADMIN)).status_code == 200
    r = await client.put("/v1/inventory/A/J-S", json={"on_hand": 5}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["on_hand"] == 5
    await assert_conserved(db_conn)


@pytest.mark.parametrize(
    "body",
    [
        {"on_hand": -1},
        {"on_hand": 1, "safety_stock": -1},
        {"on_hand": 1, "counted_at": "2026-11-23T09:00:00"},
        {"on_hand": 1, "extra": True},
        {},
    ],
)
async def test_invalid_count_is_422(shop: None, client: httpx.AsyncClient, db_conn: Any, body: dict[str, Any]) -> None:
    r = await client.put("/v1/inventory/A/J-S", json=body, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == "validation_failed", r.text
    assert await db_conn.fetchval("SELECT on_hand FROM inventory_levels WHERE store_code='A' AND sku='J-S'") == 10


async def test_adjustment_moves_stock_and_is_explained(shop: None, client: httpx.AsyncClient, db_conn: Any) -> None:
    headers, key_id = await key_with_id(client, "associate", "A")
    body = {"store": "A", "sku": "J-S", "delta": -2, "reason": "damage", "note": "torn sleeve"}
    r = await client.post("/v1/inventory/adjustments", json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json() == {"store": "A", "sku": "J-S", "on_hand": 8, "reserved": 0, "safety_stock": 0, "available": 8}
    r = await client.post(
        "/v1/inventory/adjustments", json={"store": "B", "sku": "J-M", "delta": 5, "reason": "receipt"}, headers=ADMIN
    )
    assert r.status_code == 201 and r.json()["on_hand"] == 5
    row = await db_conn.fetchrow("SELECT reason, source, note FROM inventory_ledger ORDER BY id DESC OFFSET 1 LIMIT 1")
    assert dict(row) == {"reason": "damage", "source": f"associate:{key_id}", "note": "torn sleeve"}
    event = await db_conn.fetchval("SELECT data FROM events WHERE type = 'inventory.changed' ORDER BY id DESC LIMIT 1")
    assert '"available": 5' in event
    await assert_conserved(db_conn)


@pytest.mark.parametrize(
    ("patch", "code"),
    [
        ({"delta": 0}, "validation_failed"),
        ({"reason": "receipt", "delta": -1}, "validation_failed"),
        ({"reason": "damage", "delta": 1}, "validation_failed"),
        ({"reason": "shrink", "delta": 2}, "validation_failed"),
        ({"reason": "transfer_in", "delta": -2}, "validation_failed"),
        ({"reason": "stolen"}, "validation_failed"),
        ({"delta": 1.5}, "validation_failed"),
        ({"note": "x" * 501}, "validation_failed"),
        ({"colour": "red"}, "validation_failed"),
    ],
)
async def test_invalid_adjustment_is_422(
    shop: None, client: httpx.AsyncClient, db_conn: Any, patch: dict[str, Any], code: str
) -> None:
    body = {"store": "A", "sku": "J-S", "delta": -1, "reason": "correction", **patch}
    r = await client.post("/v1/inventory/adjustments", json=body, headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] == code, r.text
    assert await db_conn.fetchval("SELECT count(*) FROM inventory_ledger") == 1


async def test_adjustment_below_reserved_is_409_and_changes_nothing(
    shop: None, client: httpx.AsyncClient, app: Any, db_conn: Any
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await service.reserve_lines(db, [StockLine("A", "J-S", 8)], reference="o1", source="t")
    body = {"store": "A", "sku": "J-S", "delta": -3, "reason": "shrink"}
    r = await client.post("/v1/inventory/adjustments", json=body, headers=ADMIN)
    assert r.status_code == 409 and r.json()["code"] == "insufficient_stock"
    assert r.json()["lines"] == [{"sku": "J-S", "store": "A", "requested": 3, "available": 2}]
    assert await db_conn.fetchval("SELECT on_hand FROM inventory_levels WHERE store_code='A' AND sku='J-S'") == 10
    r = await client.post("/v1/inventory/adjustments", json={**body, "delta": -2}, headers=ADMIN)
    assert r.status_code == 201 and r.json()["on_hand"] == 8 and r.json()["available"] == 0
    # No level yet at B: nothing to remove.
    r = await client.post("/v1/inventory/adjustments", json={**body, "store": "B"}, headers=ADMIN)
    assert r.status_code == 409
    r = await client.post(
        "/v1/inventory/adjustments", json={**body, "store": "NOPE", "delta": 1, "reason": "receipt"}, headers=ADMIN
    )
    assert r.status_code == 404
    await assert_conserved(db_conn)


async def test_ledger_newest_first_with_keyset_pages(shop: None, client: httpx.AsyncClient, api: Api) -> None:
    for delta in (1, 2, 3):
        body = {"store": "A", "sku": "J-S", "delta": delta, "reason": "receipt"}
        assert (await client.post("/v1/inventory/adjustments", json=body, headers=ADMIN)).status_code == 201
    headers = await api.key("associate", "A")
    r = await client.get("/v1/inventory/A/J-S/ledger?limit=2", headers=headers)
    assert r.status_code == 200
    page = r.json()
    assert [e["delta"] for e in page["items"]] == [3, 2]
    first = page["items"][0]
    assert first["reason"] == "receipt" and first["source"] == "admin:env-admin" and first["reference"] is None
    assert first["on_hand_after"] == 16 and first["reserved_after"] == 0 and first["reserved_delta"] == 0
    assert first["at"].endswith(("Z", "+00:00"))
    r = await client.get(f"/v1/inventory/A/J-S/ledger?limit=2&cursor={page['next_cursor']}", headers=headers)
    assert [e["delta"] for e in r.json()["items"]] == [1, 10]
    assert r.json()["next_cursor"] is not None
    r = await client.get(f"/v1/inventory/A/J-S/ledger?limit=2&cursor={r.json()['next_cursor']}", headers=headers)
    assert r.json() == {"items": [], "next_cursor": None}
    for bad in ("garbage", "WyJ4Il0"):  # not base64 JSON; a list holding a string
        r = await client.get(f"/v1/inventory/A/J-S/ledger?cursor={bad}", headers=headers)
        assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"
