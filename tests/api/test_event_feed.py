"""The change feed: numbering by the relay, paging with `after`, the type filter and validation."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from commerce.events.relay import number_committed_events, relay_once
from tests.conftest import ADMIN


def dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def emit(conn: asyncpg.Connection, type_: str, n: int) -> None:
    await conn.execute("INSERT INTO events (type, data) VALUES ($1, jsonb_build_object('n', $2::int))", type_, n)


async def feed(client, after: int = 0, **params) -> dict:
    r = await client.get("/v1/events", params={"after": after, **params}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_feed_serves_committed_events_in_seq_order_and_pages_with_after(app, client, db_conn) -> None:
    for n in range(5):
        await emit(db_conn, "product.changed" if n % 2 else "inventory.changed", n)
    assert (await feed(client))["items"] == []  # not numbered yet: not in the feed
    assert await relay_once(app.state.sessionmaker) == 5

    first = await feed(client, limit=3)
    assert [e["seq"] for e in first["items"]] == [1, 2, 3]
    assert [e["data"]["n"] for e in first["items"]] == [0, 1, 2]
    assert set(first["items"][0]) == {"seq", "type", "occurred_at", "data"}
    assert first["next_after"] == 3
    second = await feed(client, after=first["next_after"], limit=3)
    assert [e["seq"] for e in second["items"]] == [4, 5]
    empty = await feed(client, after=second["next_after"])
    assert empty == {"items": [], "next_after": 5}

    only_products = await feed(client, types="product.changed")
    assert [e["data"]["n"] for e in only_products["items"]] == [1, 3]
    assert only_products["next_after"] == 4


async def test_feed_rejects_unknown_types_and_bad_limits(client) -> None:
    r = await client.get("/v1/events", params={"types": "inventory.changed,order.teleported"}, headers=ADMIN)
    assert r.status_code == 422
    assert r.json()["code"] == "unknown_event_type"
    assert "order.teleported" in r.json()["detail"]
    for bad in ({"limit": 0}, {"limit": 501}, {"after": -1}, {"after": "x"}):
        r = await client.get("/v1/events", params=bad, headers=ADMIN)
        assert r.status_code == 422, (bad, r.text)


async def test_feed_is_admin_only(client, api) -> None:
    r = await client.get("/v1/events", headers=await api.key("storefront"))
    assert r.status_code == 403
    assert (await client.get("/v1/events")).status_code == 401


async def test_rolled_back_events_are_never_numbered(app, database_url, client, db_conn) -> None:
    conn = await asyncpg.connect(dsn(database_url))
    try:
        tx = conn.transaction()
        await tx.start()
        await emit(conn, "product.changed", 99)
        await tx.rollback()
    finally:
        await conn.close()
    await emit(db_conn, "product.changed", 1)
    await relay_once(app.state.sessionmaker)
    assert [e["data"]["n"] for e in (await feed(client))["items"]] == [1]
    assert await db_conn.fetchval("SELECT count(*) FROM events WHERE seq IS NULL") == 0


async def test_an_open_transaction_does_not_hold_back_events_committed_meanwhile(app, database_url, client, db_conn):
    conn = await asyncpg.connect(dsn(database_url))
    try:
        tx = conn.transaction()
        await tx.start()
        await emit(conn, "product.changed", 1)  # written first, committed last
        await emit(db_conn, "product.changed", 2)
        await relay_once(app.state.sessionmaker)
        page = await feed(client)
        assert [e["data"]["n"] for e in page["items"]] == [2]
        await tx.commit()
    finally:
        await conn.close()
    await relay_once(app.state.sessionmaker)
    # Numbers only append: the late commit comes after what the reader has already seen.
    later = await feed(client, after=page["next_after"])
    assert [(e["seq"], e["data"]["n"]) for e in later["items"]] == [(2, 1)]


async def test_an_event_written_after_another_commit_comes_after_it(app, database_url, client) -> None:
    """B starts writing first, an unrelated transaction is still open, A commits, then B writes again.

    B's second event was written after A committed (as when B waited for A's lock on the same
    level), so a consumer applying them in seq order must see A's before it.
    """
    b, unrelated, a = [await asyncpg.connect(dsn(database_url)) for _ in range(3)]
    try:
        tb, tu = b.transaction(), unrelated.transaction()
        await tb.start()
        await emit(b, "inventory.changed", 1)  # B: older transaction id
        await tu.start()
        await emit(unrelated, "product.changed", 2)  # still running while the others commit
        await emit(a, "inventory.changed", 3)  # A commits (autocommit)
        await emit(b, "inventory.changed", 4)  # B writes after A committed
        await tb.commit()
        await relay_once(app.state.sessionmaker)
        await tu.commit()
        await relay_once(app.state.sessionmaker)
    finally:
        for conn in (b, unrelated, a):
            await conn.close()
    order = [e["data"]["n"] for e in (await feed(client, types="inventory.changed"))["items"]]
    assert order.index(3) < order.index(4)
    assert sorted(order) == [1, 3, 4]


async def test_only_one_process_numbers_at_a_time(app, db_conn) -> None:
    await emit(db_conn, "product.changed", 1)
    async with app.state.sessionmaker() as first, first.begin():
        assert await number_committed_events(first) == 1
        # A second process (another session) skips the round while the first holds the relay lock.
        async with app.state.sessionmaker() as second, second.begin():
            assert await number_committed_events(second) == 0
    assert await db_conn.fetchval("SELECT seq FROM events") == 1


@pytest.mark.parametrize("types", ["", " , "])
async def test_empty_types_means_every_type(client, types) -> None:
    r = await client.get("/v1/events", params={"types": types}, headers=ADMIN)
    assert r.status_code == 200
