from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from commerce.db import make_engine, make_sessionmaker
from commerce.errors import DatabaseUnavailable
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
    assert {m.strip() for m in r.headers["allow"].split(",")} >= {"GET", "PUT"}
    assert "DELETE" not in r.headers["allow"]


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
    # In a path (an id, a code, a SKU): nothing has it, 404, for the API and the public pages alike.
    for path in ("/v1/stores/S%00", "/v1/products/p%00", "/v1/variants/%00", "/v1/inventory/S1/%00", "/stores/%00"):
        r = await client.get(path, headers=ADMIN)
        assert r.status_code == 404, (path, r.status_code)


async def _deadlock(sessionmaker: Any) -> DBAPIError:
    """Two transactions lock stores S1 and S2 in opposite orders; PostgreSQL rolls one back (40P01)."""
    first_locked, second_locked = asyncio.Event(), asyncio.Event()
    lock = text("SELECT 1 FROM stores WHERE code = :code FOR UPDATE")

    async def session(mine: str, theirs: str, locked: asyncio.Event, other: asyncio.Event) -> None:
        async with sessionmaker() as db, db.begin():
            await db.execute(lock, {"code": mine})
            locked.set()
            await other.wait()
            await db.execute(lock, {"code": theirs})

    outcomes = await asyncio.gather(
        session("S1", "S2", first_locked, second_locked),
        session("S2", "S1", second_locked, first_locked),
        return_exceptions=True,
    )
    [error] = [o for o in outcomes if isinstance(o, BaseException)]
    assert isinstance(error, DBAPIError)
    return error


async def _serialization_failure(sessionmaker: Any) -> DBAPIError:
    """A repeatable-read transaction updates a row another committed after it began (40001)."""
    async with sessionmaker() as db:
        try:
            async with db.begin():
                await db.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
                await db.execute(text("SELECT name FROM stores WHERE code = 'S1'"))
                async with sessionmaker() as other, other.begin():
                    await other.execute(text("UPDATE stores SET name = 'changed' WHERE code = 'S1'"))
                await db.execute(text("UPDATE stores SET name = 'mine' WHERE code = 'S1'"))
        except DBAPIError as exc:
            return exc
    raise AssertionError("no serialization failure")


@pytest.mark.parametrize(("make_error", "sqlstate"), [(_deadlock, "40P01"), (_serialization_failure, "40001")])
async def test_deadlock_and_serialization_failure_are_503_retry(
    client: httpx.AsyncClient, app: Any, database_url: str, make_error: Any, sqlstate: str
) -> None:
    """Rolled back by PostgreSQL: nothing was changed, so the answer is 503 "retry", like a lost connection."""
    for code in ("S1", "S2"):
        assert (await client.put(f"/v1/stores/{code}", json=STORE, headers=ADMIN)).status_code == 201
    engine = make_engine(database_url, null_pool=True)
    try:
        error = await make_error(make_sessionmaker(engine))
    finally:
        await engine.dispose()
    assert getattr(error.orig, "sqlstate", None) == sqlstate
    request = SimpleNamespace(method="POST", url=SimpleNamespace(path="/v1/carts/c/checkout"))
    response = app.exception_handlers[DBAPIError](request, error)
    lost_connection = DatabaseUnavailable().detail
    assert response.status_code == 503
    assert response.media_type == "application/problem+json"
    assert response.content.code == "service_unavailable"
    # The same "nothing was changed, retry" as a lost connection.
    assert response.content.detail.endswith(lost_connection[lost_connection.index(";") :])
    # And the same when the statement went to the driver connection directly (checkout's last one).
    driver_error = error.orig.__cause__
    assert isinstance(driver_error, asyncpg.PostgresError) and driver_error.sqlstate == sqlstate
    response = app.exception_handlers[asyncpg.PostgresError](request, driver_error)
    assert response.status_code == 503 and response.content.code == "service_unavailable"


async def test_a_constraint_race_on_a_driver_statement_is_409_not_500(app: Any, db_conn: asyncpg.Connection) -> None:
    await db_conn.execute("CREATE TEMPORARY TABLE once (id int PRIMARY KEY)")
    await db_conn.execute("INSERT INTO once VALUES (1)")
    with pytest.raises(asyncpg.UniqueViolationError) as raised:
        await db_conn.execute("INSERT INTO once VALUES (1)")
    request = SimpleNamespace(method="POST", url=SimpleNamespace(path="/v1/carts/c/checkout"))
    response = app.exception_handlers[asyncpg.PostgresError](request, raised.value)
    assert response.status_code == 409 and response.content.code == "conflict"
