"""Checkouts placed together (orders/batching.py), through the API: checkouts that queue while one
transaction is in flight share the next one, and each order is still all or nothing and answered as
if placed alone; a checkout that waits too long for its transaction is told to retry."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator

import httpx
import msgspec
import pytest

from commerce.settings import Settings
from tests.api.test_checkout import cart_with, level, pickup, ship, stock
from tests.conftest import ADMIN, Api, app_client


def one_at_a_time(settings: Settings, wait: float = 60.0) -> Settings:
    return msgspec.structs.replace(settings, db_admission_limit=1, db_admission_wait_seconds=wait)


async def buy(
    client: httpx.AsyncClient, headers: dict[str, str], cart_id: str, key: str | None = None
) -> httpx.Response:
    return await client.post(
        f"/v1/carts/{cart_id}/checkout", json={}, headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())}
    )


class CheckoutLog(logging.Handler):
    """What the checkout logger said during a test (the app's logging setup does not propagate to
    pytest's capture, so the handler goes on the logger itself)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def said(self, text: str) -> bool:
        return any(text in m for m in self.messages)

    def no_fallback(self) -> None:
        """No transaction of several orders failed and was placed again (which would hide a wrong
        grant or a unique conflict behind correct answers)."""
        assert not self.said("placing each alone") and not self.said("trying once more"), self.messages


@pytest.fixture
def checkout_log() -> Iterator[CheckoutLog]:
    handler = CheckoutLog()
    logger = logging.getLogger("commerce.checkout")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.level = level


async def conservation(db_conn) -> None:
    """Every level's reserved units are its open holds, and its ledger sums to it."""
    assert (
        await db_conn.fetchval(
            "SELECT count(*) FROM inventory_levels il WHERE il.reserved <> coalesce((SELECT sum(quantity)"
            " FROM reservations r WHERE r.store_code = il.store_code AND r.sku = il.sku), 0)"
            " OR il.reserved <> coalesce((SELECT sum(reserved_delta) FROM inventory_ledger l"
            " WHERE l.store_code = il.store_code AND l.sku = il.sku), 0)"
        )
        == 0
    )


async def behind_a_blocked_checkout(
    client: httpx.AsyncClient,
    limited: httpx.AsyncClient,
    web: dict[str, str],
    db_conn,
    sku: str,
    queued: list[tuple[str, str | None]],
) -> tuple[httpx.Response, list[httpx.Response]]:
    """Hold the only transaction (a checkout of a new cart of `sku`, blocked on that cart, which
    another connection locked) while the checkouts `queued` ((cart, key) pairs) queue in this order,
    then let it go: the blocker's answer and theirs."""
    blocker = await cart_with(client, web, pickup(sku, 1))
    async with db_conn.transaction():
        await db_conn.execute("SELECT 1 FROM carts WHERE id = $1 FOR UPDATE", blocker)
        first = asyncio.ensure_future(buy(limited, web, blocker))
        await asyncio.sleep(0.2)
        waiting = []
        for cart, key in queued:
            waiting.append(asyncio.ensure_future(buy(limited, web, cart, key=key)))
            await asyncio.sleep(0.05)
    return await first, [await w for w in waiting]


async def test_concurrent_checkouts_share_transactions_and_all_complete(
    client: httpx.AsyncClient, api: Api, app, db_conn, settings: Settings, checkout_log: CheckoutLog
) -> None:
    await api.store("LOOP", pickup=True)
    await api.product("tee", ["TEE-1", "TEE-2"], price=2000)
    await stock(app, [("LOOP", "TEE-1", 100), ("LOOP", "TEE-2", 100)])
    web = await api.key("storefront")
    carts = [await cart_with(client, web, pickup(f"TEE-{1 + n % 2}", 2)) for n in range(40)]
    keys = [str(uuid.uuid4()) for _ in carts]
    async with app_client(one_at_a_time(settings)) as limited:
        responses = await asyncio.gather(*(buy(limited, web, c, key=k) for c, k in zip(carts, keys, strict=True)))
        # Retried with the same keys (as if the answers were lost), together again: the same bytes.
        retried = await asyncio.gather(*(buy(limited, web, c, key=k) for c, k in zip(carts, keys, strict=True)))
    assert [r.status_code for r in responses] == [201] * 40, [r.text for r in responses if r.status_code != 201]
    assert [r.content for r in retried] == [r.content for r in responses]
    assert all(r.headers.get("Idempotent-Replayed") == "true" for r in retried)
    checkout_log.no_fallback()
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 40
    assert await db_conn.fetchval("SELECT sum(reserved) FROM inventory_levels WHERE store_code = 'LOOP'") == 80
    # One transaction at a time, so the others queued and went together: orders of one transaction
    # share its time. Every order has its own number, reservation and event.
    transactions = await db_conn.fetchval("SELECT count(DISTINCT created_at) FROM orders")
    assert transactions < 40
    assert await db_conn.fetchval("SELECT count(DISTINCT number) FROM orders") == 40
    assert await db_conn.fetchval("SELECT count(*) FROM reservations") == 40
    assert await db_conn.fetchval("SELECT count(*) FROM events WHERE type = 'order.placed'") == 40
    # Each answer is its own order, as reading it back shows.
    first = responses[0].json()
    assert (await limited_get(settings, f"/v1/orders/{first['id']}", web)) == first
    await conservation(db_conn)


async def limited_get(settings: Settings, path: str, headers: dict[str, str]) -> object:
    async with app_client(settings) as other:
        return (await other.get(path, headers=headers)).json()


async def test_flash_sale_is_exact_with_checkouts_placed_together(
    client: httpx.AsyncClient, api: Api, app, db_conn, settings: Settings, checkout_log: CheckoutLog
) -> None:
    await api.store("LOOP", pickup=True)
    await api.product("drop", ["DROP-1"], price=5000)
    await stock(app, [("LOOP", "DROP-1", 7)])
    web = await api.key("storefront")
    carts = [await cart_with(client, web, pickup("DROP-1", 1)) for _ in range(120)]
    async with app_client(one_at_a_time(settings)) as limited:
        responses = await asyncio.gather(*(buy(limited, web, c) for c in carts))
    statuses = [r.status_code for r in responses]
    assert (statuses.count(201), statuses.count(409)) == (7, 113)
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"insufficient_stock"}
    checkout_log.no_fallback()
    row = await db_conn.fetchrow("SELECT on_hand, reserved FROM inventory_levels WHERE sku = 'DROP-1'")
    assert (row["on_hand"], row["reserved"]) == (7, 7)
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 7
    # The refused carts are still open: nothing of their orders was written.
    assert await db_conn.fetchval("SELECT count(*) FROM carts WHERE status = 'active'") == 113
    await conservation(db_conn)


async def test_one_short_order_in_a_shared_transaction_writes_nothing_and_the_others_are_placed(
    client: httpx.AsyncClient, api: Api, app, db_conn, settings: Settings, checkout_log: CheckoutLog
) -> None:
    """Granted in arrival order while all of an order's lines fit: a two-line order that fits one
    line but not the other reserves neither, and the orders around it are placed."""
    await api.store("LOOP", pickup=True)
    await api.store("WH", kind="warehouse")
    await api.product("kit", ["KIT-A", "KIT-B"], price=1000)
    await stock(app, [("LOOP", "KIT-A", 3), ("LOOP", "KIT-B", 1), ("WH", "KIT-A", 2)])
    web = await api.key("storefront")
    carts = [
        await cart_with(client, web, pickup("KIT-B", 1)),
        await cart_with(client, web, pickup("KIT-A", 1), pickup("KIT-B", 1)),  # KIT-B is gone by its turn
        await cart_with(client, web, pickup("KIT-A", 2)),
        await cart_with(client, web, ship("KIT-A", 2)),
    ]
    async with app_client(one_at_a_time(settings)) as limited:
        # The four queue behind the only transaction and go together, in this order.
        first, rest = await behind_a_blocked_checkout(
            client, limited, web, db_conn, "KIT-A", [(c, None) for c in carts]
        )
    responses = [first, *rest]
    assert [r.status_code for r in responses] == [201, 201, 409, 201, 201], [r.text for r in responses]
    checkout_log.no_fallback()
    assert responses[2].json()["lines"] == [{"sku": "KIT-B", "store": "LOOP", "requested": 1, "available": 0}]
    created = {r.json()["created_at"] for r in responses[1:] if r.status_code == 201}
    assert len(created) == 1  # the three placed after the blocker shared one transaction
    assert await level(db_conn, "LOOP", "KIT-A") == (3, 3)
    assert await level(db_conn, "LOOP", "KIT-B") == (1, 1)
    assert await level(db_conn, "WH", "KIT-A") == (2, 2)
    assert await db_conn.fetchval("SELECT status FROM carts WHERE id = $1", carts[1]) == "active"
    assert await db_conn.fetchval("SELECT count(*) FROM orders WHERE cart_id = $1", carts[1]) == 0
    await conservation(db_conn)


async def test_the_same_cart_or_key_twice_in_the_queue_goes_in_separate_transactions(
    client: httpx.AsyncClient, api: Api, app, db_conn, settings: Settings, checkout_log: CheckoutLog
) -> None:
    await api.store("LOOP", pickup=True)
    await api.product("tee", ["TEE-1"], price=2000)
    await stock(app, [("LOOP", "TEE-1", 10)])
    web = await api.key("storefront")
    cart = await cart_with(client, web, pickup("TEE-1", 1))
    other = await cart_with(client, web, pickup("TEE-1", 1))
    async with app_client(one_at_a_time(settings)) as limited:
        first, answers = await behind_a_blocked_checkout(
            client,
            limited,
            web,
            db_conn,
            "TEE-1",
            [(cart, "k-1"), (cart, "k-1"), (cart, "k-1"), (cart, "k-2"), (other, "k-3")],
        )
    assert first.status_code == 201
    checkout_log.no_fallback()
    replays, refused, third = answers[:3], answers[3], answers[4]
    # One order for the cart: the key's first request placed it, its repeats replay the same bytes,
    # and the other key finds the cart checked out.
    assert [r.status_code for r in replays] == [201, 201, 201], [r.text for r in replays]
    assert len({r.content for r in replays}) == 1
    assert sorted(str(r.headers.get("Idempotent-Replayed")) for r in replays) == ["None", "true", "true"]
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_state", refused.text
    assert third.status_code == 201
    assert await db_conn.fetchval("SELECT count(*) FROM orders WHERE cart_id = $1", cart) == 1
    await conservation(db_conn)


async def test_an_order_counting_a_limited_promotion_is_placed_alone_and_correctly(
    client: httpx.AsyncClient, api: Api, app, db_conn, settings: Settings
) -> None:
    await api.store("LOOP", pickup=True)
    await api.product("grinder", ["GRINDER"], price=10_000)
    await stock(app, [("LOOP", "GRINDER", 100)])
    r = await client.put(
        "/v1/promotions/first-3",
        json={
            "title": "First three",
            "kind": "percent_off",
            "value": 25,
            "total_limit": 3,
            "applies_to": {"skus": ["GRINDER"]},
        },
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    web = await api.key("storefront")
    carts = [await cart_with(client, web, pickup("GRINDER", 1)) for _ in range(12)]
    async with app_client(one_at_a_time(settings)) as limited:
        responses = await asyncio.gather(*(buy(limited, web, c) for c in carts))
    placed = [r.json() for r in responses if r.status_code == 201]
    refused = [r.json() for r in responses if r.status_code != 201]
    assert len([o for o in placed if o["lines"][0]["promotion_id"] == "first-3"]) == 3
    assert all(p["code"] == "promotion_limit_reached" for p in refused), refused
    assert await db_conn.fetchval("SELECT redemptions FROM promotions WHERE id = 'first-3'") == 3
    assert await db_conn.fetchval("SELECT count(*) FROM promotion_redemptions") == 3
    assert len(placed) + len(refused) == 12
    await conservation(db_conn)


async def test_a_checkout_that_waits_too_long_is_told_to_retry(
    client: httpx.AsyncClient, api: Api, app, db_conn, settings: Settings
) -> None:
    await api.store("LOOP", pickup=True)
    await api.product("tee", ["TEE-1"], price=2000)
    await stock(app, [("LOOP", "TEE-1", 5)])
    web = await api.key("storefront")
    blocker = await cart_with(client, web, pickup("TEE-1", 1))
    cart = await cart_with(client, web, pickup("TEE-1", 1))
    async with app_client(one_at_a_time(settings, wait=0.2)) as limited:
        # The only transaction in flight waits on a cart another connection locked, as a long one would.
        async with db_conn.transaction():
            await db_conn.execute("SELECT 1 FROM carts WHERE id = $1 FOR UPDATE", blocker)
            first = asyncio.ensure_future(buy(limited, web, blocker))
            await asyncio.sleep(0.1)
            refused = await buy(limited, web, cart)
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["code"] == "service_unavailable"
        assert (await first).status_code == 201
        assert await db_conn.fetchval("SELECT count(*) FROM orders WHERE cart_id = $1", cart) == 0
        # Nothing was changed, and the transaction is free again: the retry goes through.
        assert (await buy(limited, web, cart)).status_code == 201


@pytest.mark.parametrize(
    ("failure", "then"),
    [
        (ConnectionResetError("connection lost"), "trying once more"),  # tried again as it was
        (ValueError("a bug in one order"), "placing each alone"),  # each order alone, to isolate it
    ],
)
async def test_a_shared_transaction_that_fails_as_a_whole_is_placed_again(
    client: httpx.AsyncClient,
    api: Api,
    app,
    db_conn,
    settings: Settings,
    monkeypatch,
    checkout_log: CheckoutLog,
    failure,
    then,
) -> None:
    """A transaction of several orders that fails after writing them (its write raises once) is
    rolled back and placed again: as it was when the database lost it, order by order otherwise."""
    from commerce.orders import checkout as checkout_module

    await api.store("LOOP", pickup=True)
    await api.product("tee", ["TEE-1"], price=2000)
    await stock(app, [("LOOP", "TEE-1", 20)])
    web = await api.key("storefront")
    carts = [await cart_with(client, web, pickup("TEE-1", 1)) for _ in range(6)]
    write = checkout_module._write
    failed: list[int] = []

    async def fails_once_when_shared(db, granted, at):  # type: ignore[no-untyped-def]
        if len(granted) > 1 and not failed:
            await write(db, granted, at)  # written, then the transaction fails: all of it rolls back
            failed.append(len(granted))
            raise failure
        return await write(db, granted, at)

    monkeypatch.setattr(checkout_module, "_write", fails_once_when_shared)
    async with app_client(one_at_a_time(settings)) as limited:
        first, rest = await behind_a_blocked_checkout(
            client, limited, web, db_conn, "TEE-1", [(c, None) for c in carts]
        )
    responses = [first, *rest]
    assert failed and failed[0] > 1
    assert checkout_log.said(then), checkout_log.messages
    assert [r.status_code for r in responses] == [201] * 7, [r.text for r in responses]
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 7
    assert await level(db_conn, "LOOP", "TEE-1") == (20, 7)
    await conservation(db_conn)


async def test_a_checkout_stuck_on_a_lock_does_not_hold_up_the_others(
    client: httpx.AsyncClient, api: Api, app, db_conn, settings: Settings
) -> None:
    """One transaction runs at a time while transactions finish quickly; one that is still running
    after the stagger (here: waiting on a cart another connection locked) gets a second beside it."""
    await api.store("LOOP", pickup=True)
    await api.product("tee", ["TEE-1"], price=2000)
    await stock(app, [("LOOP", "TEE-1", 10)])
    web = await api.key("storefront")
    stuck = await cart_with(client, web, pickup("TEE-1", 1))
    others = [await cart_with(client, web, pickup("TEE-1", 1)) for _ in range(3)]
    two = msgspec.structs.replace(settings, db_admission_limit=2, db_admission_wait_seconds=60.0)
    async with app_client(two) as limited:
        async with db_conn.transaction():
            await db_conn.execute("SELECT 1 FROM carts WHERE id = $1 FOR UPDATE", stuck)
            first = asyncio.ensure_future(buy(limited, web, stuck))
            await asyncio.sleep(0.2)
            # The stuck one holds its transaction; these go in the second, and are answered before it.
            answers = await asyncio.wait_for(asyncio.gather(*(buy(limited, web, c) for c in others)), 10)
            assert [r.status_code for r in answers] == [201] * 3, [r.text for r in answers]
            assert not first.done()
        assert (await first).status_code == 201
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 4
    await conservation(db_conn)


async def test_two_orders_counting_the_last_redemption_together_get_it_once(
    client: httpx.AsyncClient, api: Api, app, db_conn, settings: Settings
) -> None:
    """Orders counting a limited promotion are placed each in a transaction of its own, even when they
    queued together: with one redemption left and one unit, one order gets both, the other neither."""
    await api.store("LOOP", pickup=True)
    await api.product("grinder", ["GRINDER"], price=10_000)
    await stock(app, [("LOOP", "GRINDER", 1)])
    r = await client.put(
        "/v1/promotions/only-one",
        json={"title": "Only one", "kind": "percent_off", "value": 25, "total_limit": 1},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    web = await api.key("storefront")
    carts = [await cart_with(client, web, pickup("GRINDER", 1)) for _ in range(2)]
    async with app_client(one_at_a_time(settings)) as limited:
        first, answers = await behind_a_blocked_checkout(
            client, limited, web, db_conn, "GRINDER", [(c, None) for c in carts]
        )
    # The blocker itself counted the promotion and took the unit; the two behind it get neither.
    assert first.status_code == 201, first.text
    assert [r.status_code for r in answers] == [409, 409], [r.text for r in answers]
    assert await db_conn.fetchval("SELECT redemptions FROM promotions WHERE id = 'only-one'") == 1
    assert await db_conn.fetchval("SELECT count(*) FROM promotion_redemptions") == 1
    assert await db_conn.fetchval("SELECT count(*) FROM orders") == 1
    await conservation(db_conn)


async def test_a_ship_line_emptied_by_an_order_ahead_is_routed_afresh(
    client: httpx.AsyncClient, api: Api, app, db_conn, settings: Settings, checkout_log: CheckoutLog
) -> None:
    """Two ship orders of 3 queued together, both routed to the warehouse with most (5): the second,
    short there after the first, is placed again alone and leaves from the other warehouse (3)."""
    await api.store("LOOP", pickup=True)
    await api.store("W1", kind="warehouse")
    await api.store("W2", kind="warehouse")
    await api.product("kit", ["KIT-A"], price=1000)
    await stock(app, [("LOOP", "KIT-A", 1), ("W1", "KIT-A", 3), ("W2", "KIT-A", 5)])
    web = await api.key("storefront")
    carts = [await cart_with(client, web, ship("KIT-A", 3)) for _ in range(2)]
    async with app_client(one_at_a_time(settings)) as limited:
        first, answers = await behind_a_blocked_checkout(
            client, limited, web, db_conn, "KIT-A", [(c, None) for c in carts]
        )
    assert first.status_code == 201, first.text
    assert [r.status_code for r in answers] == [201, 201], [r.text for r in answers]
    assert sorted(r.json()["lines"][0]["location"] for r in answers) == ["W1", "W2"]
    assert await level(db_conn, "W1", "KIT-A") == (3, 3)
    assert await level(db_conn, "W2", "KIT-A") == (5, 3)
    await conservation(db_conn)
