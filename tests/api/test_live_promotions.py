"""Each process keeps the live promotions in memory (promotions/live.py): a change made anywhere (another
process, plain SQL) prices at the very next pricing, limits are read per pricing, time windows are
checked when pricing, and codes match by one normalisation rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from commerce.carts.pricing import cart_head, price_lines
from commerce.promotions.models import Promotion
from commerce.settings import Settings
from tests.conftest import ADMIN, Api, app_client
from tests.shopping import order
from tests.stock import stock


@pytest.fixture
async def shop(api: Api, app: Any) -> None:
    await api.store("LOOP")
    await api.product("grinder", ["GRINDER"], price=10_000, category="tools")
    await stock(app, [("LOOP", "GRINDER", 100)])


async def put_promotion(client: httpx.AsyncClient, promotion_id: str, **body: Any) -> httpx.Response:
    body = {"title": promotion_id, "kind": "percent_off", "value": 20, **body}
    r = await client.put(f"/v1/promotions/{promotion_id}", json=body, headers=ADMIN)
    assert r.status_code in (200, 201), r.text
    return r


async def new_cart(client: httpx.AsyncClient, customer_id: str | None = None) -> str:
    body = {"channel": "web"} if customer_id is None else {"channel": "web", "customer_id": customer_id}
    cart = (await client.post("/v1/carts", json=body, headers=ADMIN)).json()["id"]
    line = {"sku": "GRINDER", "quantity": 1, "fulfillment": {"type": "pickup", "store": "LOOP"}}
    assert (await client.post(f"/v1/carts/{cart}/lines", json=line, headers=ADMIN)).status_code in (200, 201)
    return str(cart)


async def priced(client: httpx.AsyncClient, cart: str) -> tuple[int, str | None]:
    line = (await client.get(f"/v1/carts/{cart}", headers=ADMIN)).json()["lines"][0]
    return line["discount"]["amount"], line["promotion_id"]


async def test_a_change_in_another_process_prices_at_the_next_pricing(
    client: httpx.AsyncClient, api: Api, settings: Settings, db_conn: asyncpg.Connection, shop: None
) -> None:
    customer = (await api.customer(email="ann@example.com"))["id"]
    cart = await new_cart(client, customer)
    assert await priced(client, cart) == (0, None)  # this process has loaded the (no) live promotions

    async with app_client(settings) as other:  # another process: its own engine and its own index
        await put_promotion(other, "grinder", applies_to={"skus": ["GRINDER"]})
        assert await priced(client, cart) == (2_000, "grinder")
        await put_promotion(other, "grinder", value=30, applies_to={"skus": ["GRINDER"]})
        assert await priced(client, cart) == (3_000, "grinder")
        assert (await other.post("/v1/promotions/grinder/kill", headers=ADMIN)).status_code == 200
        assert await priced(client, cart) == (0, None)

    # Written with plain SQL, outside any service process.
    await db_conn.execute(
        "INSERT INTO promotions (id, title, kind, value, categories) VALUES ('tools', 'tools', 'percent_off', 10, '{tools}')"
    )
    assert await priced(client, cart) == (1_000, "tools")
    await db_conn.execute("UPDATE promotions SET ends_at = now() - interval '1 second' WHERE id = 'tools'")
    assert await priced(client, cart) == (0, None)
    await db_conn.execute("DELETE FROM promotions")
    await db_conn.execute(
        "INSERT INTO promotions (id, title, kind, value, total_limit) VALUES ('all', 'all', 'percent_off', 5, 1)"
    )
    assert await priced(client, cart) == (500, "all")

    # Checkout prices the same way; counting the limit does not move the version (no reload), and the
    # used-up limit, read per pricing, stops the promotion at once.
    version = await db_conn.fetchval("SELECT version FROM promotions_version")
    placed = await client.post(f"/v1/carts/{cart}/checkout", json={}, headers={**ADMIN, "Idempotency-Key": "one"})
    assert placed.status_code == 201 and placed.json()["lines"][0]["promotion_id"] == "all", placed.text
    assert await db_conn.fetchval("SELECT version FROM promotions_version") == version
    assert await priced(client, await new_cart(client)) == (0, None)


async def test_time_windows_are_checked_when_pricing_not_when_loading(
    client: httpx.AsyncClient, app: Any, shop: None
) -> None:
    start = datetime.now(UTC) + timedelta(hours=1)
    await put_promotion(
        client,
        "evening",
        applies_to={"skus": ["GRINDER"]},
        starts_at=start.isoformat(),
        ends_at=(start + timedelta(hours=1)).isoformat(),
    )
    cart = await new_cart(client)

    async def at(now: datetime) -> str | None:
        async with app.state.sessionmaker() as db, db.begin():
            return (await price_lines(db, await cart_head(db, cart), now=now)).lines[0].promotion_id

    # Loaded before it starts; nothing changes the promotions afterwards.
    assert await at(datetime.now(UTC)) is None
    assert await at(start + timedelta(minutes=30)) == "evening"
    assert await at(start + timedelta(hours=1)) is None


async def test_the_version_trigger_covers_every_column_but_redemptions(db_conn: asyncpg.Connection) -> None:
    """A new column of promotions must be added to the trigger's UPDATE OF list (a change to it would
    otherwise not reach the processes)."""
    watched = await db_conn.fetch(
        "SELECT a.attname FROM pg_trigger t JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = ANY(t.tgattr)"
        " WHERE t.tgname = 'promotions_changed'"
    )
    assert {r["attname"] for r in watched} == set(Promotion.__table__.columns.keys()) - {"redemptions"}


async def test_codes_match_by_casefold_everywhere(
    client: httpx.AsyncClient, db_conn: asyncpg.Connection, shop: None
) -> None:
    """ "Straße" casefolds to "strasse" (lower() leaves it "straße"): the code is found, priced and
    checked out as one."""
    await put_promotion(client, "street", code="STRASSE", applies_to={"skus": ["GRINDER"]})
    assert await db_conn.fetchval("SELECT code_key FROM promotions WHERE id = 'street'") == "strasse"
    cart = await new_cart(client)
    r = await client.post(f"/v1/carts/{cart}/codes", json={"code": " Straße "}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["codes"] == ["STRASSE"]
    assert await priced(client, cart) == (2_000, "street")

    r = await client.post("/v1/promotions/street/codes", json={"count": 1, "prefix": "STRASSE"}, headers=ADMIN)
    code = r.json()["codes"][0]
    assert await db_conn.fetchval("SELECT code_key FROM promotion_codes") == code.casefold()
    typed = code.replace("STRASSE", "straße")
    placed = await order(client, None, ("GRINDER", 1), codes=(typed,))
    assert placed.status_code == 201 and placed.json()["lines"][0]["promotion_id"] == "street", placed.text
    assert await db_conn.fetchval("SELECT order_id FROM promotion_codes") == uuid.UUID(placed.json()["id"])
